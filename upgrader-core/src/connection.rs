//! The database an upgrade runs against: SQLite, PostgreSQL or MySQL/MariaDB, chosen by URL.

use std::fmt;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;

use crate::timeouts::Timeouts;

/// A PostgreSQL connection (pure Rust: tokio-postgres behind diesel's synchronous API).
pub type PgConnection = AsyncConnectionWrapper<diesel_async::AsyncPgConnection>;
/// A MySQL/MariaDB connection (pure Rust: mysql_async behind diesel's synchronous API).
pub type MysqlConnection = AsyncConnectionWrapper<diesel_async::AsyncMysqlConnection>;
/// An SQLite connection (SQLite is bundled: nothing to install).
pub type SqliteConnection = diesel::SqliteConnection;

/// Which kind of database a URL points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
    /// A MySQL or MariaDB server.
    Mysql,
}

impl Backend {
    /// Whether DDL (`CREATE`, `ALTER`) rolls back with its transaction. MySQL/MariaDB commit DDL
    /// implicitly, so the engine records there that an upgrade started before it runs it.
    pub fn has_transactional_ddl(self) -> bool {
        !matches!(self, Backend::Mysql)
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Mysql => "MySQL/MariaDB",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Milliseconds, as the backends take them (at most [`Timeouts::MAX_SECS`] seconds' worth).
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .min(Timeouts::MAX_SECS * 1000)
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An open connection to one of the three backends.
///
/// Upgrades reach it through [`crate::Context::connection`]; for diesel's typed queries, match on
/// it (each arm gets the backend's own diesel connection), or use the portable helpers on
/// [`crate::Context`] for plain SQL.
// One connection per engine: the size difference costs nothing, and boxing the variants would make
// every diesel call in an upgrade's match arm go through `&mut **conn`.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum AnyConnection {
    /// SQLite.
    Sqlite(SqliteConnection),
    /// PostgreSQL.
    Postgres(PgConnection),
    /// MySQL or MariaDB.
    Mysql(MysqlConnection),
}

impl fmt::Debug for AnyConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnyConnection({})", self.backend())
    }
}

/// Runs the same code on whichever diesel connection is inside an [`AnyConnection`]; each arm is
/// compiled for its own backend.
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::connection::AnyConnection::Sqlite($c) => $body,
            $crate::connection::AnyConnection::Postgres($c) => $body,
            $crate::connection::AnyConnection::Mysql($c) => $body,
        }
    };
}
pub(crate) use with_conn;

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    value: Option<String>,
}

#[derive(QueryableByName)]
struct Scalar {
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    value: Option<i64>,
}

impl AnyConnection {
    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            AnyConnection::Sqlite(_) => Backend::Sqlite,
            AnyConnection::Postgres(_) => Backend::Postgres,
            AnyConnection::Mysql(_) => Backend::Mysql,
        }
    }

    /// Sets the session up. `writes` is false for a connection that only reads (an SQLite file
    /// opened read-only), which must leave the file as it is.
    pub(crate) fn configure(&mut self, writes: bool) -> QueryResult<()> {
        match self {
            // Wait for a writer instead of failing at once; WAL lets readers go on meanwhile.
            AnyConnection::Sqlite(c) => {
                c.batch_execute("PRAGMA busy_timeout = 0; PRAGMA foreign_keys = ON;")?;
                // WAL lets readers go on while a run writes. It is a property of the file, set
                // once; switching needs the file to itself, and SQLite answers "database is
                // locked" when runners start together. Such a connection goes on without
                // switching: another one switches, and the busy timeout covers the rest. The
                // switch does not wait (busy timeout 0): a session holding the file would hold
                // up the connection for the whole busy timeout, before the engine's own is set.
                // A connection that only reads never switches: it changes nothing.
                if writes {
                    let _ = c.batch_execute("PRAGMA journal_mode = WAL;");
                }
                AnyConnection::set_sqlite_busy_timeout(c, Timeouts::DEFAULT_WAIT)
            }
            // Name the session, so a runner waiting for the lock can say who holds it.
            AnyConnection::Postgres(c) => c.batch_execute(&format!(
                "SET client_min_messages = WARNING; SET application_name = 'upgrader, {}'",
                crate::lock::runner().replace('\'', "''")
            )),
            AnyConnection::Mysql(c) => c.batch_execute(
                "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'ANSI_QUOTES')",
            ),
        }
    }

    /// Sets how long each statement waits for a lock another session holds, and how long it may
    /// run (see [`Timeouts`]). Call it outside a transaction: PostgreSQL undoes a `SET` with the
    /// transaction that made it.
    pub(crate) fn set_timeouts(&mut self, timeouts: &Timeouts) -> QueryResult<()> {
        // Never 0: PostgreSQL reads 0 as "no limit", MySQL's minimum is 1 second.
        let wait_ms = millis(timeouts.wait).max(1);
        let statement_ms = timeouts.statement.map_or(0, |d| millis(d).max(1));
        match self {
            // SQLite has no statement timeout.
            AnyConnection::Sqlite(c) => AnyConnection::set_sqlite_busy_timeout(c, timeouts.wait),
            AnyConnection::Postgres(c) => c.batch_execute(&format!(
                "SET lock_timeout = {wait_ms}; SET statement_timeout = {statement_ms}"
            )),
            AnyConnection::Mysql(_) => {
                // Metadata locks (DDL, LOCK TABLES) and InnoDB row locks have one timeout each,
                // in whole seconds.
                let secs = wait_ms.div_ceil(1000);
                self.batch_execute(&format!(
                    "SET SESSION lock_wait_timeout = {secs}, innodb_lock_wait_timeout = {secs}"
                ))?;
                let mariadb = self
                    .query_i64("SELECT CAST(VERSION() LIKE '%MariaDB%' AS SIGNED) AS value")?
                    .unwrap_or(0)
                    != 0;
                if mariadb {
                    // Every statement, in seconds (0: no limit).
                    self.batch_execute(&format!(
                        "SET SESSION max_statement_time = {}",
                        statement_ms as f64 / 1000.0
                    ))
                } else {
                    // MySQL 5.7.8+: read-only `SELECT`s only, in milliseconds (0: no limit).
                    self.batch_execute(&format!("SET SESSION max_execution_time = {statement_ms}"))
                }
            }
        }
    }

    fn set_sqlite_busy_timeout(c: &mut SqliteConnection, wait: std::time::Duration) -> QueryResult<()> {
        c.batch_execute(&format!("PRAGMA busy_timeout = {}", millis(wait)))
    }

    /// Runs one SQL statement and returns the number of rows it changed.
    pub fn execute(&mut self, sql: &str) -> QueryResult<usize> {
        with_conn!(self, c => diesel::sql_query(sql).execute(c))
    }

    /// Runs several SQL statements separated by `;`.
    pub fn batch_execute(&mut self, sql: &str) -> QueryResult<()> {
        with_conn!(self, c => c.batch_execute(sql))
    }

    /// Runs a query whose first row's first column is an integer (`SELECT COUNT(*) AS value …`);
    /// the column must be named `value`. `None` when there is no row or the value is NULL.
    pub fn query_i64(&mut self, sql: &str) -> QueryResult<Option<i64>> {
        let rows: Vec<Scalar> = with_conn!(self, c => diesel::sql_query(sql).load(c))?;
        Ok(rows.into_iter().next().and_then(|row| row.value))
    }

    /// Whether a table of this name exists (in the current schema or database). Unlike a probing
    /// `SELECT`, it never fails the surrounding transaction (PostgreSQL aborts a transaction on
    /// any error).
    pub fn table_exists(&mut self, table: &str) -> QueryResult<bool> {
        let table = table.replace('\'', "''");
        let sql = match self {
            AnyConnection::Sqlite(_) => {
                format!(
                    "SELECT COUNT(*) AS value FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
                )
            }
            AnyConnection::Postgres(_) => format!(
                "SELECT COUNT(*) AS value FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
            AnyConnection::Mysql(_) => format!(
                "SELECT COUNT(*) AS value FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = '{table}'"
            ),
        };
        Ok(self.query_i64(&sql)?.unwrap_or(0) > 0)
    }

    /// Like [`AnyConnection::query_i64`], for a text column named `value`.
    pub fn query_text(&mut self, sql: &str) -> QueryResult<Option<String>> {
        let rows: Vec<Text> = with_conn!(self, c => diesel::sql_query(sql).load(c))?;
        Ok(rows.into_iter().next().and_then(|row| row.value))
    }

    pub(crate) fn begin(&mut self) -> QueryResult<()> {
        with_conn!(self, c => tx::begin(c))
    }

    pub(crate) fn commit(&mut self) -> QueryResult<()> {
        with_conn!(self, c => tx::commit(c))
    }

    pub(crate) fn rollback(&mut self) -> QueryResult<()> {
        with_conn!(self, c => tx::rollback(c))
    }

    /// Runs `f` in a transaction: committed when it returns `Ok`, rolled back otherwise.
    pub fn transaction<T, E>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        self.begin()?;
        match f(self) {
            Ok(value) => {
                self.commit()?;
                Ok(value)
            }
            Err(error) => {
                // The transaction is gone either way; the caller's error is the one that matters.
                let _ = self.rollback();
                Err(error)
            }
        }
    }
}

mod tx {
    use diesel::QueryResult;
    use diesel::connection::{Connection, TransactionManager};

    pub(super) fn begin<C: Connection>(c: &mut C) -> QueryResult<()> {
        C::TransactionManager::begin_transaction(c)
    }

    pub(super) fn commit<C: Connection>(c: &mut C) -> QueryResult<()> {
        C::TransactionManager::commit_transaction(c)
    }

    pub(super) fn rollback<C: Connection>(c: &mut C) -> QueryResult<()> {
        C::TransactionManager::rollback_transaction(c)
    }
}
