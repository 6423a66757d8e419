//! The database an upgrade runs against: SQLite, PostgreSQL or MySQL/MariaDB, chosen by URL.

use std::fmt;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;

use crate::dialect::Dialect;
use crate::timeouts::Timeouts;

/// A PostgreSQL connection (pure Rust: tokio-postgres behind diesel's synchronous API).
#[cfg(feature = "postgres")]
pub type PgConnection = AsyncConnectionWrapper<diesel_async::AsyncPgConnection>;
/// A MySQL/MariaDB connection (pure Rust: mysql_async behind diesel's synchronous API).
#[cfg(feature = "mysql")]
pub type MysqlConnection = AsyncConnectionWrapper<diesel_async::AsyncMysqlConnection>;
/// An SQLite connection (SQLite is bundled: nothing to install).
#[cfg(feature = "sqlite")]
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
        self.dialect().transactional_ddl()
    }

    /// The Cargo feature of `upgrader-core` that compiles this backend in.
    pub fn feature(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    /// Whether this build can connect to this backend (its feature is on).
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Sqlite => cfg!(feature = "sqlite"),
            Backend::Postgres => cfg!(feature = "postgres"),
            Backend::Mysql => cfg!(feature = "mysql"),
        }
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

/// An error and its causes, `: `-separated, as `anyhow`'s `{:#}` prints them.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An open connection to one of the three backends.
///
/// Each variant is there when its backend's feature (`sqlite`, `postgres`, `mysql`) is on. Upgrades reach it through [`crate::Context::connection`]; for diesel's typed queries, match on
/// it (each arm gets the backend's own diesel connection), or use the portable helpers on
/// [`crate::Context`] for plain SQL.
// One connection per engine: the size difference costs nothing, and boxing the variants would make
// every diesel call in an upgrade's match arm go through `&mut **conn`.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum AnyConnection {
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteConnection),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(PgConnection),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(MysqlConnection),
}

impl fmt::Debug for AnyConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnyConnection({})", self.backend())
    }
}

/// Runs the same code on whichever diesel connection is inside an [`AnyConnection`]; each arm is
/// compiled for its own backend, and only when that backend is. In a build without any backend
/// there is no connection: the match has no arm to take.
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            #[cfg(feature = "sqlite")]
            $crate::connection::AnyConnection::Sqlite($c) => $body,
            #[cfg(feature = "postgres")]
            $crate::connection::AnyConnection::Postgres($c) => $body,
            #[cfg(feature = "mysql")]
            $crate::connection::AnyConnection::Mysql($c) => $body,
            #[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
            conn => match *conn {},
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
            #[cfg(feature = "sqlite")]
            AnyConnection::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            AnyConnection::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            AnyConnection::Mysql(_) => Backend::Mysql,
            #[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
            conn => match *conn {},
        }
    }

    /// This connection's dialect: what differs per backend.
    pub(crate) fn dialect(&self) -> &'static dyn Dialect {
        self.backend().dialect()
    }

    /// Sets the session up. `writes` is false for a connection that only reads (an SQLite file
    /// opened read-only), which must leave the file as it is.
    pub(crate) fn configure(&mut self, writes: bool) -> QueryResult<()> {
        self.dialect().configure(self, writes)
    }

    /// Sets how long each statement waits for a lock another session holds, and how long it may
    /// run (see [`Timeouts`]). Call it outside a transaction: PostgreSQL undoes a `SET` with the
    /// transaction that made it.
    pub(crate) fn set_timeouts(&mut self, timeouts: &Timeouts) -> QueryResult<()> {
        self.dialect().set_timeouts(self, timeouts)
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
        let rows: QueryResult<Vec<Scalar>> = with_conn!(self, c => diesel::sql_query(sql).load(c));
        let rows = rows?;
        Ok(rows.into_iter().next().and_then(|row| row.value))
    }

    /// Whether a table of this name exists (in the current schema or database). Unlike a probing
    /// `SELECT`, it never fails the surrounding transaction (PostgreSQL aborts a transaction on
    /// any error).
    pub fn table_exists(&mut self, table: &str) -> QueryResult<bool> {
        let sql = self.dialect().table_exists_sql(&table.replace('\'', "''"));
        Ok(self.query_i64(&sql)?.unwrap_or(0) > 0)
    }

    /// Like [`AnyConnection::query_i64`], for a text column named `value`.
    pub fn query_text(&mut self, sql: &str) -> QueryResult<Option<String>> {
        let rows: QueryResult<Vec<Text>> = with_conn!(self, c => diesel::sql_query(sql).load(c));
        let rows = rows?;
        Ok(rows.into_iter().next().and_then(|row| row.value))
    }

    /// Like [`AnyConnection::query_text`], for every row: the column `value` of each, in order.
    pub fn query_texts(&mut self, sql: &str) -> QueryResult<Vec<Option<String>>> {
        let rows: QueryResult<Vec<Text>> = with_conn!(self, c => diesel::sql_query(sql).load(c));
        let rows = rows?;
        Ok(rows.into_iter().map(|row| row.value).collect())
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
