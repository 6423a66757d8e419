//! Checkpoints of batched upgrades ([`crate::Context::batches`]): where each one that has not
//! finished stands, committed with each of its batches in `<history>_checkpoint`.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, SmallInt, Text, Timestamp};

use super::sql::{bind_query, quoted};
use super::{HistoryTable, now};
use crate::connection::{AnyConnection, with_conn};
use crate::error::Error;

/// Where a batched upgrade stands: the batches up to `resume_after` are committed.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Checkpoint {
    /// The upgrade's id.
    #[diesel(sql_type = Text)]
    pub upgrade: String,
    /// The cursor the next batch starts after.
    #[diesel(sql_type = BigInt)]
    pub resume_after: i64,
    /// How many rows (or units) the committed batches did.
    #[diesel(sql_type = BigInt)]
    pub rows_done: i64,
    /// How many there are in all, when the upgrade said.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub rows_total: Option<i64>,
    /// Whether the last batch is committed (the upgrade is then recorded as applied as soon as
    /// what follows its batches has run).
    #[diesel(sql_type = SmallInt)]
    finished: i16,
    /// When the last batch committed (UTC).
    #[diesel(sql_type = Timestamp)]
    pub updated: NaiveDateTime,
}

impl Checkpoint {
    /// A checkpoint of `upgrade`, now.
    pub(crate) fn new(
        upgrade: &str,
        resume_after: i64,
        rows_done: i64,
        rows_total: Option<i64>,
        finished: bool,
    ) -> Self {
        Checkpoint {
            upgrade: upgrade.to_owned(),
            resume_after,
            rows_done,
            rows_total,
            finished: i16::from(finished),
            updated: now(),
        }
    }

    /// Whether the last batch is committed.
    pub fn finished(&self) -> bool {
        self.finished != 0
    }

    /// `41,000,000 of 50,000,000` (or `41,000,000` when the total is not known): how far it is.
    pub fn progress(&self) -> String {
        match self.rows_total {
            Some(total) => format!("{} of {}", thousands(self.rows_done), thousands(total)),
            None => thousands(self.rows_done),
        }
    }
}

/// `41000000` as `41,000,000`.
pub(crate) fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

const COLUMNS: &str =
    "\"upgrade\", \"resume_after\", \"rows_done\", \"rows_total\", \"finished\", \"updated\"";

/// Every checkpoint, by upgrade. None when the table is not there: a history set up before
/// batched upgrades existed, where none can have run.
pub(crate) fn read_all(conn: &mut AnyConnection, table: &HistoryTable) -> Result<Vec<Checkpoint>, Error> {
    let name = table.checkpoint();
    match conn.table_exists(&name) {
        Ok(true) => {}
        Ok(false) => return Ok(Vec::new()),
        Err(cause) => return Err(Error::unreadable(name, cause)),
    }
    let sql = format!("SELECT {COLUMNS} FROM {} ORDER BY \"upgrade\"", quoted(&name));
    let rows: QueryResult<Vec<Checkpoint>> = with_conn!(conn, c => diesel::sql_query(&sql).load(c));
    rows.map_err(|cause| Error::unreadable(name, cause))
}

/// The checkpoint of `id`, if it has one. Call it after the history is set up.
pub(crate) fn read(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    id: &str,
) -> Result<Option<Checkpoint>, Error> {
    let name = table.checkpoint();
    let sql = format!("SELECT {COLUMNS} FROM {} WHERE \"upgrade\" = ?", quoted(&name));
    let query = bind_query(conn.backend(), &sql).bind::<Text, _>(id);
    let rows: QueryResult<Vec<Checkpoint>> = with_conn!(conn, c => query.load(c));
    rows.map(|rows| rows.into_iter().next())
        .map_err(|cause| Error::unreadable(name, cause))
}

/// Writes `checkpoint` in place of the upgrade's previous one.
pub(crate) fn save(
    conn: &mut AnyConnection,
    table: &HistoryTable,
    checkpoint: &Checkpoint,
) -> Result<(), Error> {
    clear(conn, table, &checkpoint.upgrade)?;
    let sql = format!(
        "INSERT INTO {} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        quoted(&table.checkpoint())
    );
    let query = bind_query(conn.backend(), &sql)
        .bind::<Text, _>(&checkpoint.upgrade)
        .bind::<BigInt, _>(checkpoint.resume_after)
        .bind::<BigInt, _>(checkpoint.rows_done)
        .bind::<Nullable<BigInt>, _>(checkpoint.rows_total)
        .bind::<SmallInt, _>(checkpoint.finished)
        .bind::<Timestamp, _>(checkpoint.updated);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map(|_| ()).map_err(Error::db(format!(
        "recording the checkpoint of `{}`",
        checkpoint.upgrade
    )))
}

/// Removes the checkpoint of `id` (there may be none).
pub(crate) fn clear(conn: &mut AnyConnection, table: &HistoryTable, id: &str) -> Result<(), Error> {
    let sql = format!(
        "DELETE FROM {} WHERE \"upgrade\" = ?",
        quoted(&table.checkpoint())
    );
    let query = bind_query(conn.backend(), &sql).bind::<Text, _>(id);
    let done: QueryResult<usize> = with_conn!(conn, c => query.execute(c));
    done.map(|_| ())
        .map_err(Error::db(format!("clearing the checkpoint of `{id}`")))
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(41_000_000), "41,000,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
    }
}
