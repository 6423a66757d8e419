//! The history: which upgrades a database has, kept in the database itself.
//!
//! The tables are private to the engine and created by it through `diesel_migrations`: the
//! history (`upgrade` unless the operator chose another name, see [`HistoryTable`]: the seed
//! system's layout, `upgrade` + `applied`, plus `duration_ms`, `checksum` and `method`) and
//! `<history>_in_progress` (upgrades started and not finished, on backends without transactional
//! DDL), and the run journal, `<history>_run` and `<history>_run_upgrade` (see [`Journal`]).
//!
//! "There is no history yet" and "there is a history the engine cannot read" are different
//! answers: the first is an empty history, the second an error. What is in the history's place is
//! decided from the catalog (the table's kind and columns): nothing, the seed system's table
//! (read as it is, its rows shown as `adopted`), the engine's own, or something else, which the
//! engine refuses to read or touch.

pub(crate) mod catalog;
pub(crate) mod checkpoint;
mod journal;
mod layout;
mod migrations;
pub(crate) mod sql;
mod table;
mod timestamp;
mod write;

use std::fmt;

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel_migrations::MigrationHarness;

pub use self::checkpoint::Checkpoint;
pub(crate) use self::journal::{Action, Finish, Open};
pub use self::journal::{Actor, Journal, RunEntry, RunKind, RunOutcome, RunUpgrade};
use self::layout::Layout;
use self::migrations::HistoryMigrations;
use self::sql::{in_utc, quoted};
pub use self::table::HistoryTable;
pub(crate) use self::write::{
    Record, Recorder, clear_started, forget, mark_failed, mark_started, record_all, set_checksum,
};
use crate::connection::{AnyConnection, with_conn};
use crate::dialect::ReadView;
use crate::error::Error;

/// How an upgrade came to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// A run applied it ([`crate::Engine::run`]).
    Run,
    /// [`crate::Engine::populate`] recorded it without running it (a database created at the
    /// latest schema).
    Populate,
    /// [`crate::Engine::mark_applied`] recorded it by hand.
    Mark,
    /// [`crate::Engine::resolve`] recorded an interrupted upgrade as finished.
    Resolve,
    /// The seed system recorded it: a row of the seed's history table, which the engine adopted
    /// (or will adopt at its first run).
    Adopted,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Run => "run",
            Method::Populate => "populate",
            Method::Mark => "mark",
            Method::Resolve => "resolve",
            Method::Adopted => "adopted",
        }
    }
}

/// One row of the history: an applied upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRecord {
    /// The upgrade's id.
    pub upgrade: String,
    /// When it was recorded (UTC); `None` when the history holds a value the engine cannot read
    /// as a time (the row still means the upgrade is applied).
    pub applied: Option<NaiveDateTime>,
    /// How long it ran, in milliseconds (`None` when it was not run).
    pub duration_ms: Option<i64>,
    /// The fingerprint of its code when it was applied.
    pub checksum: Option<String>,
    /// `run`, `populate`, `mark`, `resolve` or `adopted`.
    pub method: String,
    /// The journal's run that recorded it ([`RunEntry::id`]); `None` for a row written before the
    /// database had a journal (or by an engine that kept none), and for adopted rows. Read by
    /// [`crate::Engine::applied`] only: `None` in a [`crate::Status`].
    pub run: Option<i64>,
}

/// An upgrade that started and did not finish, or failed where its changes could not be rolled back.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct InProgress {
    /// The upgrade's id.
    #[diesel(sql_type = Text)]
    pub upgrade: String,
    /// When it started (UTC).
    #[diesel(sql_type = Timestamp)]
    pub started: NaiveDateTime,
    /// Which process ran it (`pid@host`).
    #[diesel(sql_type = Text)]
    pub runner: String,
    /// Its error, when it failed rather than being cut off.
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

impl fmt::Display for InProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(error) => write!(
                f,
                "`{}` failed after starting at {} UTC ({}): {error}",
                self.upgrade,
                self.started.format("%Y-%m-%d %H:%M:%S"),
                self.runner
            ),
            None => write!(
                f,
                "`{}` started at {} UTC ({}) and never finished",
                self.upgrade,
                self.started.format("%Y-%m-%d %H:%M:%S"),
                self.runner
            ),
        }
    }
}

/// Everything the history says.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    /// Every applied upgrade: those whose time is unknown first, then oldest first; ties by id.
    pub(crate) applied: Vec<AppliedRecord>,
    /// Every upgrade that started and did not finish, by id.
    pub(crate) in_progress: Vec<InProgress>,
    /// Every batched upgrade's checkpoint, by id.
    pub(crate) checkpoints: Vec<Checkpoint>,
}

pub(crate) fn now() -> NaiveDateTime {
    use chrono::Timelike;
    // Whole microseconds: what all three backends store, so a row reads back as it was written.
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
}

fn layout(conn: &mut AnyConnection, table: &HistoryTable) -> Result<Layout, Error> {
    let setup = HistoryMigrations::new(conn.backend(), table).setup_version();
    layout::layout(conn, table.name(), &table.in_progress(), &setup)
}

/// Runs `f` on one view of the database: in one read transaction on SQLite, one repeatable-read
/// snapshot on PostgreSQL, so that a runner setting the history up at the same moment is seen
/// before or after, never half-way. (MySQL's DDL commits statement by statement: [`layout`]
/// takes the states its setup goes through into account.) Call it outside a transaction.
fn consistently<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    let snapshot = match conn.dialect().read_view() {
        ReadView::Unprotected => return f(conn),
        ReadView::Transaction => None,
        ReadView::Snapshot(sql) => Some(sql),
    };
    conn.begin().map_err(Error::db("starting to read the history"))?;
    if let Some(sql) = snapshot
        && let Err(e) = conn.batch_execute(sql)
    {
        let _ = conn.rollback();
        return Err(Error::db("starting to read the history")(e));
    }
    let result = f(conn);
    // It only read: ending it either way is the same.
    let ended = conn.rollback().map_err(Error::db("reading the history"));
    let value = result?;
    ended?;
    Ok(value)
}

/// The whole history. Reads only: safe without the lock.
pub(crate) fn read(conn: &mut AnyConnection, table: &HistoryTable) -> Result<History, Error> {
    consistently(conn, |conn| {
        let layout = layout(conn, table)?;
        Ok(History {
            applied: read_applied(conn, table, &layout)?,
            in_progress: read_in_progress(conn, table, &layout)?,
            checkpoints: match layout {
                Layout::Engine { started: true, .. } => checkpoint::read_all(conn, table)?,
                _ => Vec::new(),
            },
        })
    })
}

/// Every applied upgrade (see [`History::applied`]); empty when there is no history yet. A table
/// the seed system left (only `upgrade` and `applied`) is read as it is, until `setup` adopts it.
/// Each row names the journal's run that recorded it ([`AppliedRecord::run`]), read in the same
/// view (the run path's reads of the history, [`read`], leave it out).
pub(crate) fn applied(conn: &mut AnyConnection, table: &HistoryTable) -> Result<Vec<AppliedRecord>, Error> {
    consistently(conn, |conn| {
        let layout = layout(conn, table)?;
        let mut applied = read_applied(conn, table, &layout)?;
        journal::attribute(conn, table, &mut applied)?;
        Ok(applied)
    })
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    upgrade: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    applied: Option<String>,
}

#[derive(QueryableByName)]
struct EngineRow {
    #[diesel(sql_type = Nullable<Text>)]
    upgrade: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    applied: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    duration_ms: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    checksum: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    method: Option<String>,
}

fn read_applied(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    layout: &Layout,
) -> Result<Vec<AppliedRecord>, Error> {
    let dialect = conn.dialect();
    let text = dialect.text_type();
    // The `applied` column as text the engine can interpret ([`timestamp::parse`]), whatever its
    // type, independent of the session's date style and time zone.
    let columns = format!(
        "CAST(\"upgrade\" AS {text}) AS \"upgrade\", {} AS \"applied\"",
        dialect.applied_as_text(layout.applied_type())
    );
    let from = quoted(table.name());
    let unreadable = |cause: diesel::result::Error| Error::unreadable(table.name().to_owned(), cause);
    let rows: Vec<EngineRow> = match layout {
        Layout::Absent => return Ok(Vec::new()),
        Layout::Seed { .. } => {
            let sql = format!("SELECT {columns} FROM {from}");
            let rows: Vec<Row> = in_utc_if_zoned(
                conn,
                layout,
                |conn| with_conn!(conn, c => diesel::sql_query(&sql).load(c)),
            )
            .map_err(unreadable)?;
            rows.into_iter()
                .map(|row| EngineRow {
                    upgrade: row.upgrade,
                    applied: row.applied,
                    duration_ms: None,
                    checksum: None,
                    method: Some(Method::Adopted.as_str().to_owned()),
                })
                .collect()
        }
        Layout::Engine { .. } => {
            let sql = format!(
                "SELECT {columns}, \"duration_ms\", CAST(\"checksum\" AS {text}) AS \"checksum\", \
                 CAST(\"method\" AS {text}) AS \"method\" FROM {from}"
            );
            in_utc_if_zoned(
                conn,
                layout,
                |conn| with_conn!(conn, c => diesel::sql_query(&sql).load(c)),
            )
            .map_err(unreadable)?
        }
    };
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(upgrade) = row.upgrade else {
            return Err(Error::HistoryUnreadable {
                table: table.name().to_owned(),
                cause: "a row has no upgrade id (NULL)".into(),
            });
        };
        records.push(AppliedRecord {
            upgrade,
            applied: timestamp::parse(row.applied.as_deref()),
            duration_ms: row.duration_ms,
            checksum: row.checksum,
            method: row.method.unwrap_or_else(|| "unknown".into()),
            run: None,
        });
    }
    // Deterministic whatever the column holds: unknown times first, then by time, then by id.
    records.sort_by(|a, b| (a.applied, &a.upgrade).cmp(&(b.applied, &b.upgrade)));
    Ok(records)
}

/// A column that converts to the session's time zone when read (MySQL's `TIMESTAMP`) is read in
/// UTC.
fn in_utc_if_zoned<T>(
    conn: &mut AnyConnection,
    layout: &Layout,
    f: impl FnOnce(&mut AnyConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    if conn.dialect().applied_is_zoned(layout.applied_type()) {
        in_utc(conn, f)
    } else {
        f(conn)
    }
}

fn read_in_progress(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    layout: &Layout,
) -> Result<Vec<InProgress>, Error> {
    // Only the engine's layout has the table (`layout` checked that it does, or that no
    // upgrade can have started yet).
    if !matches!(layout, Layout::Engine { started: true, .. }) {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT \"upgrade\", \"started\", \"runner\", \"error\" FROM {} ORDER BY \"upgrade\"",
        quoted(&table.in_progress())
    );
    let rows: QueryResult<Vec<InProgress>> = with_conn!(conn, c => diesel::sql_query(&sql).load(c));
    rows.map_err(|cause| Error::unreadable(table.in_progress(), cause))
}

/// Creates or updates the history tables, adopting a seed system's table, and records the
/// adoption in the journal as `actor`'s. Call it holding the run lock. Refuses a table that is
/// not a history before changing anything.
pub(crate) fn setup(conn: &mut AnyConnection, table: &HistoryTable, actor: &Actor) -> Result<(), Error> {
    let started = now();
    let seed = matches!(layout(conn, table)?, Layout::Seed { .. });
    let source = HistoryMigrations::new(conn.backend(), table);
    let result: diesel::migration::Result<()> =
        with_conn!(conn, c => c.run_pending_migrations(source).map(|_| ()));
    result.map_err(|cause| Error::Migration { cause })?;
    if seed {
        let adopted: Vec<String> = applied(conn, table)?
            .into_iter()
            .filter(|r| r.method == Method::Adopted.as_str())
            .map(|r| r.upgrade)
            .collect();
        journal::adopted(conn, table, actor, started, &adopted)?;
    }
    Ok(())
}

/// The run journal, newest first, at most `limit` rows (see [`Journal`]).
pub(crate) fn journal(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    limit: Option<usize>,
) -> Result<Journal, Error> {
    journal::read(conn, table, limit)
}

pub(crate) use self::journal::{finish as finish_run, note as note_run, start as start_run};
