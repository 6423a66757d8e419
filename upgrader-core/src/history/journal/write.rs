//! Writing the journal: a command's row, committed before its first write and completed after
//! its last; what it did to each upgrade, in the transaction of the history row it speaks of.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};

use super::{Action, Actor, Finish, Open, RunKind};
use crate::connection::{AnyConnection, with_conn};
use crate::error::Error;
use crate::history::sql::{Repeated, bind, bind_query, quoted};
use crate::history::{HistoryTable, now};

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
    let user = Actor::os_user().map(|u| clipped(&u, 255));
    let host = Actor::host().map(|h| clipped(&h, 255));
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
    let sql = note_sql(table);
    let query = Repeated::new(
        &sql,
        (
            bind::<BigInt, _>(*id),
            bind::<BigInt, _>(*seq + 1),
            bind::<Text, _>(upgrade),
            bind::<Text, _>(action.as_str()),
            bind::<Nullable<Text>, _>(detail),
        ),
    );
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map_err(Error::db(format!(
        "recording in `{}` that run {id} {} `{upgrade}`",
        table.run_upgrades(),
        action.as_str()
    )))?;
    *seq += 1;
    Ok(())
}

/// The insert of a note (`run_id`, `seq`, `upgrade`, `action`, `detail`, in that order).
pub(crate) fn note_sql(table: &HistoryTable) -> String {
    format!(
        "INSERT INTO {} (\"run_id\", \"seq\", \"upgrade\", \"action\", \"detail\") VALUES (?, ?, ?, ?, ?)",
        quoted(&table.run_upgrades())
    )
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
