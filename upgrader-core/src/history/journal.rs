//! The run journal: one row per command that changed the history (`<history>_run`), and what
//! each did to each upgrade (`<history>_run_upgrade`), made by the history's third migration.
//!
//! A command's row is committed before its first write to the history and completed after its
//! last, outside the upgrades' transactions: an upgrade that fails and is rolled back leaves its
//! trace, and a runner killed half-way leaves a row that never finished. What a command did to an
//! upgrade is written in the same transaction as the history row it speaks of.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};

use super::catalog::relation;
use super::sql::{bind_query, quoted};
use super::{AppliedRecord, HistoryTable, now};
use crate::connection::{AnyConnection, with_conn};
use crate::error::Error;

/// Who runs the engine: the application's program and version, which only the application knows
/// ([`crate::Engine::with_actor`]). The journal adds the operating system's user, the host and
/// the process id when it records a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    program: String,
    version: Option<String>,
}

impl Actor {
    /// The program (as the operator types it, `my-app` or `my-app upgrader`) and its version.
    pub fn new(program: impl Into<String>, version: impl Into<String>) -> Actor {
        Actor {
            program: program.into(),
            version: Some(version.into()),
        }
    }

    /// The program's name.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Its version, when the application gave one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

impl Default for Actor {
    /// The running executable's file name, without a version (the application did not say).
    fn default() -> Actor {
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        Actor {
            program,
            version: None,
        }
    }
}

/// What kind of command a journal row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunKind {
    /// [`crate::Engine::run`].
    Run,
    /// [`crate::Engine::populate`].
    Populate,
    /// [`crate::Engine::mark_applied`] or [`crate::Engine::mark_pending`].
    Mark,
    /// [`crate::Engine::resolve`].
    Resolve,
    /// [`crate::Engine::accept`].
    Accept,
    /// The adoption of the seed system's history table, by the first command that wrote to it.
    Adopt,
}

impl RunKind {
    /// `run`, `populate`, `mark`, `resolve`, `accept` or `adopt`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Populate => "populate",
            RunKind::Mark => "mark",
            RunKind::Resolve => "resolve",
            RunKind::Accept => "accept",
            RunKind::Adopt => "adopt",
        }
    }
}

/// What a command did to one upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Ran it and recorded it.
    Applied,
    /// Recorded it as applied without running it.
    Recorded,
    /// Removed it from the history (pending again).
    Forgotten,
    /// Cleared its start mark.
    Cleared,
    /// Recorded its new checksum.
    Accepted,
    /// Found it in the seed system's table it adopted.
    Adopted,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Applied => "applied",
            Action::Recorded => "recorded",
            Action::Forgotten => "forgotten",
            Action::Cleared => "cleared",
            Action::Accepted => "accepted",
            Action::Adopted => "adopted",
        }
    }
}

/// How a journal row ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunOutcome {
    /// It finished and succeeded.
    Succeeded,
    /// It finished with an error (see [`RunEntry::error`]).
    Failed,
    /// It has no end: the process was killed, or lost its connection, before it could write one.
    DidNotFinish,
    /// It has no end yet: the runner holding the lock (named) is running it now.
    Running(String),
}

impl RunOutcome {
    /// `succeeded`, `failed`, `did_not_finish` or `running`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::DidNotFinish => "did_not_finish",
            RunOutcome::Running(_) => "running",
        }
    }
}

/// What a command did to one upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunUpgrade {
    /// The upgrade's id.
    pub upgrade: String,
    /// `applied`, `recorded`, `forgotten`, `cleared`, `accepted` or `adopted`.
    pub action: String,
    /// More, where there is more to say (an accepted upgrade's checksums).
    pub detail: Option<String>,
}

/// One row of the journal: a command that changed the history.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunEntry {
    /// The run id: 1 for the first, then counting up.
    pub id: i64,
    /// `run`, `populate`, `mark`, `resolve`, `accept` or `adopt` (see [`RunKind`]).
    pub kind: String,
    /// When it started (UTC).
    pub started: NaiveDateTime,
    /// When it finished (UTC), `None` when it did not (or not yet).
    pub finished: Option<NaiveDateTime>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The operating system's user that ran it.
    pub user: Option<String>,
    /// The host it ran on.
    pub host: Option<String>,
    /// Its process id.
    pub pid: Option<i64>,
    /// The program that ran it (see [`Actor`]).
    pub program: Option<String>,
    /// The program's version.
    pub program_version: Option<String>,
    /// What it did, in order.
    pub upgrades: Vec<RunUpgrade>,
    /// The upgrade that failed, when one did.
    pub failed_upgrade: Option<String>,
    /// Its error, when it failed.
    pub error: Option<String>,
    /// When an upgrade failed: whether its changes were rolled back (`false`: left interrupted).
    pub rolled_back: Option<bool>,
    /// How many warnings the upgrades gave.
    pub warnings: i64,
    /// The reason the operator gave (`accept`).
    pub reason: Option<String>,
}

impl RunEntry {
    /// The upgrades it applied or recorded as applied, in order.
    pub fn applied(&self) -> impl Iterator<Item = &str> {
        self.upgrades
            .iter()
            .filter(|u| u.action == Action::Applied.as_str() || u.action == Action::Recorded.as_str())
            .map(|u| u.upgrade.as_str())
    }
}

/// What the journal says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Journal {
    /// There is no journal: the history was set up by a version of the engine that kept none
    /// (`history` is true: the commands that wrote it were not recorded), or there is no history
    /// yet (`history` false: nothing was written). The next command that writes starts it.
    Absent {
        /// Whether the database has a history table.
        history: bool,
    },
    /// The journal, newest first.
    Kept {
        /// Its rows, newest first (as many as asked for).
        runs: Vec<RunEntry>,
    },
}

/// The journal row a command has open, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Open {
    /// No command is being recorded.
    #[default]
    Idle,
    /// A command is under way and has not written yet: its row is written before its first write.
    Armed,
    /// Its row is written: `id`, and the number of upgrades recorded so far.
    Started { id: i64, seq: i64 },
}

/// How a command ended, to complete its row.
#[derive(Debug, Clone, Default)]
pub(crate) struct Finish {
    pub(crate) failed_upgrade: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) rolled_back: Option<bool>,
    pub(crate) warnings: i64,
}

impl Finish {
    /// The end of a command that returned `result`.
    pub(crate) fn of<T>(result: &Result<T, Error>) -> Finish {
        let Err(error) = result else {
            return Finish::default();
        };
        match error {
            Error::UpgradeFailed {
                id,
                reason,
                rolled_back,
                ..
            } => Finish {
                failed_upgrade: Some(id.clone()),
                error: Some(reason.clone()),
                rolled_back: Some(*rolled_back),
                warnings: 0,
            },
            other => Finish {
                error: Some(chain(other)),
                ..Finish::default()
            },
        }
    }
}

/// An error with its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    crate::connection::one_line(&text)
}

/// At most `max` characters of `text` (the columns are `VARCHAR(255)` and `VARCHAR(64)`).
fn clipped(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Writes a command's row and commits it (call it holding the run lock, outside a transaction);
/// its id.
pub(crate) fn start(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    kind: RunKind,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<i64, Error> {
    start_at(conn, table, kind, actor, reason, now())
}

fn start_at(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    kind: RunKind,
    actor: &Actor,
    reason: Option<&str>,
    started: NaiveDateTime,
) -> Result<i64, Error> {
    let runs = quoted(&table.runs());
    let doing = || format!("recording the start of a {} in `{}`", kind.as_str(), table.runs());
    // The run lock is held: no other writer counts at the same time (and the key would refuse a
    // second row with the same id).
    let last = conn
        .query_i64(&format!("SELECT MAX(\"id\") AS value FROM {runs}"))
        .map_err(Error::db(doing()))?;
    let id = last.unwrap_or(0) + 1;
    let sql = format!(
        "INSERT INTO {runs} (\"id\", \"kind\", \"started\", \"os_user\", \"host\", \"pid\", \"program\", \
         \"program_version\", \"reason\") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    let user = whoami::username().ok().map(|u| clipped(&u, 255));
    let host = whoami::hostname().ok().map(|h| clipped(&h, 255));
    let query = bind_query(conn.backend(), &sql)
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(kind.as_str())
        .bind::<Timestamp, _>(started)
        .bind::<Nullable<Text>, _>(user)
        .bind::<Nullable<Text>, _>(host)
        .bind::<BigInt, _>(i64::from(std::process::id()))
        .bind::<Text, _>(clipped(actor.program(), 255))
        .bind::<Nullable<Text>, _>(actor.version().map(|v| clipped(v, 64)))
        .bind::<Nullable<Text>, _>(reason);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map_err(Error::db(doing()))?;
    Ok(id)
}

/// Completes a command's row.
pub(crate) fn finish(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    id: i64,
    end: &Finish,
) -> Result<(), Error> {
    let sql = format!(
        "UPDATE {} SET \"finished\" = ?, \"outcome\" = ?, \"failed_upgrade\" = ?, \"error\" = ?, \
         \"rolled_back\" = ?, \"warnings\" = ? WHERE \"id\" = ?",
        quoted(&table.runs())
    );
    let outcome = if end.error.is_some() {
        "failed"
    } else {
        "succeeded"
    };
    let query = bind_query(conn.backend(), &sql)
        .bind::<Timestamp, _>(now())
        .bind::<Text, _>(outcome)
        .bind::<Nullable<Text>, _>(end.failed_upgrade.clone())
        .bind::<Nullable<Text>, _>(end.error.clone())
        .bind::<Nullable<Bool>, _>(end.rolled_back)
        .bind::<BigInt, _>(end.warnings)
        .bind::<BigInt, _>(id);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map(|_| ()).map_err(Error::db(format!(
        "recording the end of run {id} in `{}`",
        table.runs()
    )))
}

/// Records what the open command did to `upgrade` (nothing when no command is recorded). Call it
/// in the transaction that writes the history row it speaks of.
pub(crate) fn note(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    open: &mut Open,
    upgrade: &str,
    action: Action,
    detail: Option<&str>,
) -> Result<(), Error> {
    let Open::Started { id, seq } = open else {
        return Ok(());
    };
    let sql = format!(
        "INSERT INTO {} (\"run_id\", \"seq\", \"upgrade\", \"action\", \"detail\") VALUES (?, ?, ?, ?, ?)",
        quoted(&table.run_upgrades())
    );
    let query = bind_query(conn.backend(), &sql)
        .bind::<BigInt, _>(*id)
        .bind::<BigInt, _>(*seq + 1)
        .bind::<Text, _>(upgrade)
        .bind::<Text, _>(action.as_str())
        .bind::<Nullable<Text>, _>(detail);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map_err(Error::db(format!(
        "recording in `{}` that run {id} {} `{upgrade}`",
        table.run_upgrades(),
        action.as_str()
    )))?;
    *seq += 1;
    Ok(())
}

/// Records the adoption of the seed system's table, which set the history up, as a finished
/// command of its own (the journal did not exist when it started).
pub(crate) fn adopted(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    actor: &Actor,
    started: NaiveDateTime,
    ids: &[String],
) -> Result<(), Error> {
    conn.transaction(|conn| {
        let id = start_at(conn, table, RunKind::Adopt, actor, None, started)?;
        let mut open = Open::Started { id, seq: 0 };
        for upgrade in ids {
            note(conn, table, &mut open, upgrade, Action::Adopted, None)?;
        }
        finish(conn, table, id, &Finish::default())
    })
}

/// The columns of the journal's tables, as its migration makes them.
const RUN_COLUMNS: [&str; 15] = [
    "id",
    "kind",
    "started",
    "finished",
    "outcome",
    "os_user",
    "host",
    "pid",
    "program",
    "program_version",
    "failed_upgrade",
    "error",
    "rolled_back",
    "warnings",
    "reason",
];
const RUN_UPGRADE_COLUMNS: [&str; 5] = ["run_id", "seq", "upgrade", "action", "detail"];

/// Whether the journal's tables are there: both, neither, or an error naming the missing one (or
/// a table in their place that is not the engine's: SQLite reads a quoted name it does not know
/// as a string, so a query alone would not tell).
fn present(conn: &mut AnyConnection, table: &HistoryTable) -> Result<bool, Error> {
    let runs = relation(conn, &table.runs())?;
    let upgrades = relation(conn, &table.run_upgrades())?;
    for (name, found, columns) in [
        (table.runs(), &runs, &RUN_COLUMNS[..]),
        (table.run_upgrades(), &upgrades, &RUN_UPGRADE_COLUMNS[..]),
    ] {
        let Some(found) = found else { continue };
        let missing: Vec<String> = columns
            .iter()
            .filter(|c| !found.has(c))
            .map(|c| format!("`{c}`"))
            .collect();
        if !found.is_table || !missing.is_empty() {
            let reason = if found.is_table {
                format!(
                    "it has no column {}, which the engine's run journal has",
                    missing.join(", ")
                )
            } else {
                format!(
                    "it is a {}, not a table as the engine's run journal is",
                    found.kind
                )
            };
            return Err(Error::ForeignHistoryTable {
                table: name,
                columns: found.names(),
                reason,
            });
        }
    }
    match (runs, upgrades) {
        (None, None) => Ok(false),
        (Some(_), Some(_)) => Ok(true),
        (Some(_), None) | (None, Some(_)) => Err(Error::HistoryUnreadable {
            table: table.runs(),
            cause: format!(
                "the run journal is `{}` and `{}`, and only one of them exists",
                table.runs(),
                table.run_upgrades()
            )
            .into(),
        }),
    }
}

#[derive(QueryableByName)]
struct RunRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Timestamp)]
    started: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    finished: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    outcome: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    os_user: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    host: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pid: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    program: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    program_version: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    failed_upgrade: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    rolled_back: Option<bool>,
    #[diesel(sql_type = BigInt)]
    warnings: i64,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
}

#[derive(QueryableByName)]
struct UpgradeRow {
    #[diesel(sql_type = BigInt)]
    run_id: i64,
    #[diesel(sql_type = Text)]
    upgrade: String,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Nullable<Text>)]
    detail: Option<String>,
}

/// The journal, newest first, at most `limit` rows. An unfinished row is
/// [`RunOutcome::DidNotFinish`] here; the engine tells a live runner's apart.
pub(crate) fn read(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    limit: Option<usize>,
) -> Result<Journal, Error> {
    super::consistently(conn, |conn| {
        if !present(conn, table)? {
            let history = relation(conn, table.name())?.is_some();
            return Ok(Journal::Absent { history });
        }
        let limit = limit.map_or_else(String::new, |n| format!(" LIMIT {n}"));
        let sql = format!(
            "SELECT \"id\", \"kind\", \"started\", \"finished\", \"outcome\", \"os_user\", \"host\", \"pid\", \
             \"program\", \"program_version\", \"failed_upgrade\", \"error\", \"rolled_back\", \"warnings\", \
             \"reason\" FROM {} ORDER BY \"id\" DESC{limit}",
            quoted(&table.runs())
        );
        let rows: QueryResult<Vec<RunRow>> = with_conn!(conn, c => diesel::sql_query(&sql).load(c));
        let rows = rows.map_err(|cause| Error::unreadable(table.runs(), cause))?;
        let Some(oldest) = rows.last().map(|r| r.id) else {
            return Ok(Journal::Kept { runs: Vec::new() });
        };
        let sql = format!(
            "SELECT \"run_id\", \"upgrade\", \"action\", \"detail\" FROM {} WHERE \"run_id\" >= {oldest} \
             ORDER BY \"run_id\", \"seq\"",
            quoted(&table.run_upgrades())
        );
        let upgrades: QueryResult<Vec<UpgradeRow>> = with_conn!(conn, c => diesel::sql_query(&sql).load(c));
        let upgrades = upgrades.map_err(|cause| Error::unreadable(table.run_upgrades(), cause))?;
        let mut by_run: HashMap<i64, Vec<RunUpgrade>> = HashMap::new();
        for row in upgrades {
            by_run.entry(row.run_id).or_default().push(RunUpgrade {
                upgrade: row.upgrade,
                action: row.action,
                detail: row.detail,
            });
        }
        let runs = rows
            .into_iter()
            .map(|row| RunEntry {
                id: row.id,
                kind: row.kind,
                started: row.started,
                finished: row.finished,
                outcome: match (row.finished, row.outcome.as_deref()) {
                    (None, _) => RunOutcome::DidNotFinish,
                    (Some(_), Some("succeeded")) => RunOutcome::Succeeded,
                    (Some(_), _) => RunOutcome::Failed,
                },
                user: row.os_user,
                host: row.host,
                pid: row.pid,
                program: row.program,
                program_version: row.program_version,
                upgrades: by_run.remove(&row.id).unwrap_or_default(),
                failed_upgrade: row.failed_upgrade,
                error: row.error,
                rolled_back: row.rolled_back,
                warnings: row.warnings,
                reason: row.reason,
            })
            .collect();
        Ok(Journal::Kept { runs })
    })
}

#[derive(QueryableByName)]
struct Attribution {
    #[diesel(sql_type = BigInt)]
    run_id: i64,
    #[diesel(sql_type = Text)]
    upgrade: String,
    #[diesel(sql_type = Text)]
    action: String,
}

/// Sets each history row's [`AppliedRecord::run`]: the latest journal row that recorded it,
/// unless a later one took it back (then the row was written by an engine that kept no
/// journal). Rows the journal never recorded (from before it, adopted ones) keep `None`. Call
/// it in the view the history was read in.
pub(super) fn attribute(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    applied: &mut [AppliedRecord],
) -> Result<(), Error> {
    if applied.is_empty() || !present(conn, table)? {
        return Ok(());
    }
    let sql = format!(
        "SELECT \"run_id\", \"upgrade\", \"action\" FROM {} WHERE \"action\" IN ('applied', 'recorded', 'forgotten') \
         ORDER BY \"run_id\", \"seq\"",
        quoted(&table.run_upgrades())
    );
    let rows: QueryResult<Vec<Attribution>> = with_conn!(conn, c => diesel::sql_query(&sql).load(c));
    let rows = rows.map_err(|cause| Error::unreadable(table.run_upgrades(), cause))?;
    let mut latest: HashMap<String, Option<i64>> = HashMap::new();
    for row in rows {
        let run = (row.action != Action::Forgotten.as_str()).then_some(row.run_id);
        latest.insert(row.upgrade, run);
    }
    for record in applied {
        record.run = latest.get(&record.upgrade).copied().flatten();
    }
    Ok(())
}
