//! The history: which upgrades a database has, kept in the database itself.
//!
//! The tables are private to the engine and created by it through `diesel_migrations`: `upgrade`
//! (the seed system's layout, `upgrade` + `applied`, plus `duration_ms`, `checksum` and `method`)
//! and `upgrade_in_progress` (upgrades started and not finished, on backends without
//! transactional DDL).

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::{AnyConnection, with_conn};
use crate::error::Error;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

mod schema {
    diesel::table! {
        upgrade (id) {
            #[sql_name = "upgrade"]
            id -> Varchar,
            applied -> Timestamp,
            duration_ms -> Nullable<BigInt>,
            checksum -> Nullable<Varchar>,
            method -> Varchar,
        }
    }

    diesel::table! {
        upgrade_in_progress (id) {
            #[sql_name = "upgrade"]
            id -> Varchar,
            started -> Timestamp,
            runner -> Varchar,
            error -> Nullable<Text>,
        }
    }

    diesel::table! {
        __diesel_schema_migrations (version) {
            version -> Varchar,
        }
    }
}

use schema::{upgrade, upgrade_in_progress};

/// How an upgrade came to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `run` applied it.
    Run,
    /// `populate` recorded it without running it (a database created at the latest schema).
    Populate,
    /// `mark --applied` recorded it by hand.
    Mark,
    /// `resolve --mark-applied` recorded an interrupted upgrade as finished.
    Resolve,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Run => "run",
            Method::Populate => "populate",
            Method::Mark => "mark",
            Method::Resolve => "resolve",
        }
    }
}

/// One row of the history: an applied upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = upgrade)]
pub struct AppliedRecord {
    /// The upgrade's id.
    #[diesel(column_name = id)]
    pub upgrade: String,
    /// When it was recorded (UTC).
    pub applied: NaiveDateTime,
    /// How long it ran, in milliseconds (`None` when it was not run).
    pub duration_ms: Option<i64>,
    /// The fingerprint of its code when it was applied.
    pub checksum: Option<String>,
    /// `run`, `populate`, `mark` or `resolve`.
    pub method: String,
}

/// An upgrade that started and did not finish, or failed where its changes could not be rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = upgrade_in_progress)]
pub struct InProgress {
    /// The upgrade's id.
    #[diesel(column_name = id)]
    pub upgrade: String,
    /// When it started (UTC).
    pub started: NaiveDateTime,
    /// Which process ran it (`pid@host`).
    pub runner: String,
    /// Its error, when it failed rather than being cut off.
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

fn migrations(conn: &AnyConnection) -> EmbeddedMigrations {
    match conn {
        AnyConnection::Sqlite(_) => SQLITE,
        AnyConnection::Postgres(_) => POSTGRES,
        AnyConnection::Mysql(_) => MYSQL,
    }
}

pub(crate) fn now() -> NaiveDateTime {
    use chrono::Timelike;
    // Whole microseconds: what all three backends store, so a row reads back as it was written.
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
}

/// Whether the history tables exist and are up to date. Reads only: safe without the lock.
pub(crate) fn is_ready(conn: &mut AnyConnection) -> bool {
    use diesel::migration::MigrationSource;
    // Every backend's migrations have the same versions; any backend type lists them.
    let wanted: Vec<String> = match MigrationSource::<diesel::sqlite::Sqlite>::migrations(&migrations(conn)) {
        Ok(list) => list.iter().map(|m| m.name().version().to_string()).collect(),
        Err(_) => return false,
    };
    let have: QueryResult<Vec<String>> = with_conn!(conn, c => schema::__diesel_schema_migrations::table
        .select(schema::__diesel_schema_migrations::version)
        .load(c));
    match have {
        Ok(have) => wanted.iter().all(|w| have.contains(w)),
        Err(_) => false,
    }
}

/// Creates or updates the history tables. Call it holding the run lock.
pub(crate) fn setup(conn: &mut AnyConnection) -> Result<(), Error> {
    let source = migrations(conn);
    let result = with_conn!(conn, c => c.run_pending_migrations(source).map(|_| ()));
    result.map_err(|e| Error::Migration {
        reason: crate::connection::one_line(&e.to_string()),
    })
}

/// Every applied upgrade, oldest first; empty when the history does not exist yet. A table the
/// seed system left (only `upgrade` and `applied`) is read as it is, until `setup` adopts it.
pub(crate) fn applied(conn: &mut AnyConnection) -> Result<Vec<AppliedRecord>, Error> {
    if !is_ready(conn) {
        let seed: QueryResult<Vec<(String, NaiveDateTime)>> = with_conn!(conn, c => upgrade::table
            .select((upgrade::id, upgrade::applied))
            .order((upgrade::applied.asc(), upgrade::id.asc()))
            .load(c));
        // A history another session holds locked is unknown, not empty.
        let seed = match seed {
            Err(e) if crate::blocked::Blocked::from_message(&e.to_string()).is_some() => {
                return Err(Error::db("reading the history")(e));
            }
            seed => seed,
        };
        let rows = seed
            .unwrap_or_default()
            .into_iter()
            .map(|(upgrade, applied)| AppliedRecord {
                upgrade,
                applied,
                duration_ms: None,
                checksum: None,
                method: Method::Run.as_str().to_owned(),
            });
        return Ok(rows.collect());
    }
    with_conn!(conn, c => upgrade::table
        .select(AppliedRecord::as_select())
        .order((upgrade::applied.asc(), upgrade::id.asc()))
        .load(c))
    .map_err(Error::db("reading the history"))
}

/// Every upgrade that started and did not finish.
pub(crate) fn in_progress(conn: &mut AnyConnection) -> Result<Vec<InProgress>, Error> {
    if !is_ready(conn) {
        return Ok(Vec::new());
    }
    with_conn!(conn, c => upgrade_in_progress::table
        .select(InProgress::as_select())
        .order(upgrade_in_progress::id.asc())
        .load(c))
    .map_err(Error::db("reading the interrupted upgrades"))
}

/// Records an upgrade as applied.
pub(crate) fn record(
    conn: &mut AnyConnection,
    id: &str,
    duration_ms: Option<i64>,
    checksum: Option<&str>,
    method: Method,
) -> Result<(), Error> {
    let row = (
        upgrade::id.eq(id),
        upgrade::applied.eq(now()),
        upgrade::duration_ms.eq(duration_ms),
        upgrade::checksum.eq(checksum),
        upgrade::method.eq(method.as_str()),
    );
    with_conn!(conn, c => diesel::insert_into(upgrade::table).values(row).execute(c))
        .map(|_| ())
        .map_err(Error::db(format!("recording `{id}` as applied")))
}

/// Removes an upgrade from the history (it becomes pending again).
pub(crate) fn forget(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    with_conn!(conn, c => diesel::delete(upgrade::table.filter(upgrade::id.eq(id))).execute(c))
        .map(|_| ())
        .map_err(Error::db(format!("removing `{id}` from the history")))
}

/// Records that an upgrade is starting (committed at once, before the upgrade runs).
pub(crate) fn mark_started(conn: &mut AnyConnection, id: &str, runner: &str) -> Result<(), Error> {
    let row = (
        upgrade_in_progress::id.eq(id),
        upgrade_in_progress::started.eq(now()),
        upgrade_in_progress::runner.eq(runner),
    );
    with_conn!(conn, c => diesel::insert_into(upgrade_in_progress::table).values(row).execute(c))
        .map(|_| ())
        .map_err(Error::db(format!("recording that `{id}` started")))
}

/// Records why a started upgrade failed.
pub(crate) fn mark_failed(conn: &mut AnyConnection, id: &str, error: &str) -> Result<(), Error> {
    with_conn!(conn, c => diesel::update(upgrade_in_progress::table.filter(upgrade_in_progress::id.eq(id)))
        .set(upgrade_in_progress::error.eq(error))
        .execute(c))
    .map(|_| ())
    .map_err(Error::db(format!("recording that `{id}` failed")))
}

/// Forgets that an upgrade started (it finished, or the operator decided).
pub(crate) fn clear_started(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    with_conn!(conn, c => diesel::delete(upgrade_in_progress::table.filter(upgrade_in_progress::id.eq(id))).execute(c))
        .map(|_| ())
        .map_err(Error::db(format!("clearing the start mark of `{id}`")))
}
