//! Writing the history: records of applied upgrades and marks of started ones.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::sql::{bind_query, in_utc, quoted};
use super::{HistoryTable, Method, catalog, now};
use crate::connection::{AnyConnection, Backend, with_conn};
use crate::error::Error;

/// One upgrade to record.
pub(crate) struct Record<'a> {
    pub(crate) id: &'a str,
    pub(crate) duration_ms: Option<i64>,
    pub(crate) checksum: Option<&'a str>,
}

/// Records an upgrade as applied.
pub(crate) fn record(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    id: &str,
    duration_ms: Option<i64>,
    checksum: Option<&str>,
    method: Method,
) -> Result<(), Error> {
    let one = Record {
        id,
        duration_ms,
        checksum,
    };
    record_all(conn, table, &[one], method)
}

/// Records upgrades as applied, each with the time now.
pub(crate) fn record_all(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    records: &[Record<'_>],
    method: Method,
) -> Result<(), Error> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    let backend = conn.backend();
    // An adopted seed table keeps its own `applied` type: write the time in its form.
    let applied_type = catalog::relation(conn, table.name())?
        .map(|r| r.type_of("applied"))
        .unwrap_or_default();
    let sql = format!(
        "INSERT INTO {} (\"upgrade\", \"applied\", \"duration_ms\", \"checksum\", \"method\") \
         VALUES (?, {}, ?, ?, ?)",
        quoted(table.name()),
        applied_value(backend, &applied_type)
    );
    let query = bind_query(backend, &sql);
    in_utc(conn, |conn| {
        for r in records {
            let query = query
                .clone()
                .bind::<Text, _>(r.id)
                .bind::<Timestamp, _>(now())
                .bind::<Nullable<BigInt>, _>(r.duration_ms)
                .bind::<Nullable<Text>, _>(r.checksum)
                .bind::<Text, _>(method.as_str());
            let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
            done?;
        }
        Ok(())
    })
    .map_err(Error::db(match records {
        [_] => format!("recording `{}` as applied", first.id),
        _ => format!("recording {} upgrades as applied", records.len()),
    }))
}

/// The expression that writes the bound time (a `TIMESTAMP`, UTC) into an `applied` column of
/// type `ty`: as is into a time, as Unix seconds into a number, as `YYYY-MM-DD HH:MM:SS.ffffff`
/// into text.
fn applied_value(backend: Backend, ty: &str) -> &'static str {
    backend.dialect().applied_value(ty)
}

/// Removes an upgrade from the history (it becomes pending again).
pub(crate) fn forget(conn: &mut AnyConnection, table: &HistoryTable, id: &str) -> Result<(), Error> {
    let sql = format!("DELETE FROM {} WHERE \"upgrade\" = ?", quoted(table.name()));
    let query = bind_query(conn.backend(), &sql).bind::<Text, _>(id);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map(|_| ())
        .map_err(Error::db(format!("removing `{id}` from the history")))
}

/// Records that an upgrade is starting (committed at once, before the upgrade runs).
pub(crate) fn mark_started(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    id: &str,
    runner: &str,
) -> Result<(), Error> {
    let sql = format!(
        "INSERT INTO {} (\"upgrade\", \"started\", \"runner\") VALUES (?, ?, ?)",
        quoted(&table.in_progress())
    );
    let query = bind_query(conn.backend(), &sql)
        .bind::<Text, _>(id)
        .bind::<Timestamp, _>(now())
        .bind::<Text, _>(runner);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map(|_| ())
        .map_err(Error::db(format!("recording that `{id}` started")))
}

/// Records why a started upgrade failed.
pub(crate) fn mark_failed(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    id: &str,
    error: &str,
) -> Result<(), Error> {
    let sql = format!(
        "UPDATE {} SET \"error\" = ? WHERE \"upgrade\" = ?",
        quoted(&table.in_progress())
    );
    let query = bind_query(conn.backend(), &sql)
        .bind::<Text, _>(error)
        .bind::<Text, _>(id);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map(|_| ())
        .map_err(Error::db(format!("recording that `{id}` failed")))
}

/// Forgets that an upgrade started (it finished, or the operator decided).
pub(crate) fn clear_started(conn: &mut AnyConnection, table: &HistoryTable, id: &str) -> Result<(), Error> {
    let sql = format!(
        "DELETE FROM {} WHERE \"upgrade\" = ?",
        quoted(&table.in_progress())
    );
    let query = bind_query(conn.backend(), &sql).bind::<Text, _>(id);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map(|_| ())
        .map_err(Error::db(format!("clearing the start mark of `{id}`")))
}

/// Records a new checksum for an applied upgrade (its edit was accepted).
pub(crate) fn set_checksum(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    id: &str,
    checksum: &str,
) -> Result<(), Error> {
    let sql = format!(
        "UPDATE {} SET \"checksum\" = ? WHERE \"upgrade\" = ?",
        quoted(table.name())
    );
    let query = bind_query(conn.backend(), &sql)
        .bind::<Text, _>(checksum)
        .bind::<Text, _>(id);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    match done.map_err(Error::db(format!("recording the new checksum of `{id}`")))? {
        1 => Ok(()),
        n => Err(Error::db(format!("recording the new checksum of `{id}`"))(
            diesel::result::Error::QueryBuilderError(format!("{n} history rows matched, not 1").into()),
        )),
    }
}
