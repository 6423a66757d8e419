//! Writing the history: records of applied upgrades and marks of started ones.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::journal::{self, Action, Open};
use super::sql::{Repeated, bind, bind_query, in_utc, quoted};
use super::{HistoryTable, Method, catalog, now};
use crate::connection::{AnyConnection, with_conn};
use crate::error::Error;

/// One upgrade to record.
pub(crate) struct Record<'a> {
    pub(crate) id: &'a str,
    pub(crate) duration_ms: Option<i64>,
    pub(crate) checksum: Option<&'a str>,
}

/// Records upgrades as applied, each with the time now.
pub(crate) fn record_all(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    records: &[Record<'_>],
    method: Method,
) -> Result<(), Error> {
    if records.is_empty() {
        return Ok(());
    }
    Recorder::new(conn, table)?.record_all(conn, records, method)
}

/// How rows are written into a history: the insert, in the form its `applied` column takes.
/// Looking that up reads the catalog: a run reads it once, holding the run lock (under which
/// nothing else changes the history's columns), not for every upgrade.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    sql: String,
    /// The journal's note and the row in one statement, where the backend allows it
    /// ([`crate::dialect::Dialect::inserts_within_with`]): the note's five values, then the row's.
    noted_sql: Option<String>,
    /// The time is converted with the session's time zone on its way in (MySQL's `TIMESTAMP`,
    /// PostgreSQL's `timestamptz`, MySQL's `UNIX_TIMESTAMP`): written with the session in UTC.
    in_utc: bool,
}

impl Recorder {
    /// The recorder of `table` as it is now.
    pub(crate) fn new(conn: &mut AnyConnection, table: &HistoryTable) -> Result<Recorder, Error> {
        // An adopted seed table keeps its own `applied` type: write the time in its form.
        let applied_type = catalog::relation(conn, table.name())?
            .map(|r| r.type_of("applied"))
            .unwrap_or_default();
        let dialect = conn.dialect();
        let sql = format!(
            "INSERT INTO {} (\"upgrade\", \"applied\", \"duration_ms\", \"checksum\", \"method\") \
             VALUES (?, {}, ?, ?, ?)",
            quoted(table.name()),
            dialect.applied_value(&applied_type)
        );
        Ok(Recorder {
            noted_sql: dialect
                .inserts_within_with()
                .then(|| format!("WITH \"note\" AS ({}) {sql}", journal::note_sql(table))),
            sql,
            in_utc: dialect.applied_written_in_session_zone(&applied_type),
        })
    }

    /// Records an upgrade a run applied, and notes it in the journal's row `open` (once that row
    /// is written): in one statement where the backend allows it.
    pub(crate) fn record_run(
        &self,
        conn: &mut AnyConnection,
        table: &HistoryTable,
        open: &mut Open,
        id: &str,
        duration_ms: Option<i64>,
        checksum: Option<&str>,
    ) -> Result<(), Error> {
        let (Some(sql), Open::Started { id: run, seq }) = (&self.noted_sql, &mut *open) else {
            self.record(conn, id, duration_ms, checksum, Method::Run)?;
            return journal::note(conn, table, open, id, Action::Applied, None);
        };
        let query = Repeated::new(
            sql,
            (
                bind::<BigInt, _>(*run),
                bind::<BigInt, _>(*seq + 1),
                bind::<Text, _>(id),
                bind::<Text, _>(Action::Applied.as_str()),
                bind::<Nullable<Text>, _>(None::<&str>),
                bind::<Text, _>(id),
                bind::<Timestamp, _>(now()),
                bind::<Nullable<BigInt>, _>(duration_ms),
                bind::<Nullable<Text>, _>(checksum),
                bind::<Text, _>(Method::Run.as_str()),
            ),
        );
        let insert =
            |conn: &mut AnyConnection| -> QueryResult<usize> { with_conn!(conn, c => query.execute(c)) };
        let done = if self.in_utc {
            in_utc(conn, insert)
        } else {
            insert(conn)
        };
        done.map_err(Error::db(format!(
            "recording `{id}` as applied (and in `{}` that run {run} applied it)",
            table.run_upgrades()
        )))?;
        *seq += 1;
        Ok(())
    }

    /// Records one upgrade as applied.
    pub(crate) fn record(
        &self,
        conn: &mut AnyConnection,
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
        self.record_all(conn, &[one], method)
    }

    /// Records upgrades as applied, each with the time now.
    pub(crate) fn record_all(
        &self,
        conn: &mut AnyConnection,
        records: &[Record<'_>],
        method: Method,
    ) -> Result<(), Error> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        let insert = |conn: &mut AnyConnection| {
            for r in records {
                let query = Repeated::new(
                    &self.sql,
                    (
                        bind::<Text, _>(r.id),
                        bind::<Timestamp, _>(now()),
                        bind::<Nullable<BigInt>, _>(r.duration_ms),
                        bind::<Nullable<Text>, _>(r.checksum),
                        bind::<Text, _>(method.as_str()),
                    ),
                );
                let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
                done?;
            }
            Ok(())
        };
        let done = if self.in_utc {
            in_utc(conn, insert)
        } else {
            insert(conn)
        };
        done.map_err(Error::db(match records {
            [_] => format!("recording `{}` as applied", first.id),
            _ => format!("recording {} upgrades as applied", records.len()),
        }))
    }
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
