//! Reading the journal: its rows, newest first, and which run recorded each history row. A table
//! in the journal's place that is not the engine's is refused, never read as no runs.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};

use super::{Action, Journal, RunEntry, RunOutcome, RunUpgrade};
use crate::connection::{AnyConnection, with_conn};
use crate::error::Error;
use crate::history::catalog::relation;
use crate::history::sql::quoted;
use crate::history::{AppliedRecord, HistoryTable};

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
    crate::history::consistently(conn, |conn| {
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
pub(crate) fn attribute(
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
