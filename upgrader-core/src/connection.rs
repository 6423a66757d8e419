//! The database an upgrade runs against: SQLite, PostgreSQL or MySQL/MariaDB, chosen by URL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;

use crate::error::Error;

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

/// A parsed database URL: `postgres://…`, `mysql://…` (or `mariadb://…`), `sqlite://path` or a
/// plain path to an SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver is given: the URL for a server, the file path for SQLite.
    target: String,
    connect_timeout: Duration,
}

/// How long connecting to a server may take before it counts as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

impl DatabaseUrl {
    /// Reads a URL; anything without a known scheme is an SQLite path.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let url = url.trim();
        if url.is_empty() {
            return Err(Error::InvalidUrl {
                url: String::new(),
                reason: "the URL is empty".into(),
            });
        }
        let (backend, target) = match url.split_once("://") {
            Some(("postgres" | "postgresql", _)) => (Backend::Postgres, url.to_owned()),
            Some(("mysql", _)) => (Backend::Mysql, url.to_owned()),
            Some(("mariadb", rest)) => (Backend::Mysql, format!("mysql://{rest}")),
            Some(("sqlite", rest)) => (Backend::Sqlite, rest.to_owned()),
            Some((scheme, _)) if !scheme.contains(['/', '\\']) => {
                return Err(Error::InvalidUrl {
                    url: redact(url),
                    reason: format!("unknown scheme `{scheme}` (use postgres://, mysql:// or sqlite://)"),
                });
            }
            _ => (
                Backend::Sqlite,
                url.strip_prefix("sqlite:").unwrap_or(url).to_owned(),
            ),
        };
        if backend == Backend::Sqlite && target.is_empty() {
            return Err(Error::InvalidUrl {
                url: url.to_owned(),
                reason: "no file path after `sqlite://`".into(),
            });
        }
        Ok(DatabaseUrl {
            backend,
            target,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
    }

    /// The same URL, giving up on a server that has not answered within `timeout` (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]): a host that drops packets, or a port where something
    /// accepts connections and never speaks.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The backend the URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For SQLite, the database file.
    pub fn sqlite_path(&self) -> Option<&Path> {
        (self.backend == Backend::Sqlite).then(|| Path::new(&self.target))
    }

    /// The URL with any password replaced by `***`, for messages.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => self.target.clone(),
            _ => redact(&self.target),
        }
    }

    /// Opens a connection.
    pub fn connect(&self) -> Result<AnyConnection, Error> {
        let fail = |source: diesel::ConnectionError| Error::Connect {
            url: self.redacted(),
            backend: self.backend,
            reason: one_line(&source.to_string()),
        };
        let mut conn = match self.backend {
            Backend::Sqlite => {
                let dir = Path::new(&self.target)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty());
                if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                    return Err(Error::Connect {
                        url: self.redacted(),
                        backend: self.backend,
                        reason: format!("directory {} does not exist", dir.display()),
                    });
                }
                AnyConnection::Sqlite(SqliteConnection::establish(&self.target).map_err(fail)?)
            }
            Backend::Postgres => AnyConnection::Postgres(self.establish_within()?.map_err(fail)?),
            Backend::Mysql => AnyConnection::Mysql(self.establish_within()?.map_err(fail)?),
        };
        conn.configure().map_err(|e| Error::Connect {
            url: self.redacted(),
            backend: self.backend,
            reason: one_line(&e.to_string()),
        })?;
        Ok(conn)
    }

    /// Connects on a thread of its own, so that a server that never answers costs
    /// `connect_timeout` and not the operating system's TCP timeouts (the drivers have none of
    /// their own for the whole handshake). On timeout the thread is left to finish by itself.
    fn establish_within<C: Connection + Send + 'static>(&self) -> Result<diesel::ConnectionResult<C>, Error> {
        let (send, receive) = std::sync::mpsc::channel();
        let target = self.target.clone();
        std::thread::Builder::new()
            .name("upgrader-connect".into())
            .spawn(move || {
                let _ = send.send(C::establish(&target));
            })
            .map_err(|e| Error::Connect {
                url: self.redacted(),
                backend: self.backend,
                reason: format!("cannot start a thread to connect: {e}"),
            })?;
        receive
            .recv_timeout(self.connect_timeout)
            .map_err(|_| Error::Connect {
                url: self.redacted(),
                backend: self.backend,
                reason: format!("no answer within {}s", self.connect_timeout.as_secs_f64()),
            })
    }

    /// The lock file that serialises runners on an SQLite database.
    pub(crate) fn sqlite_lock_path(&self) -> Option<PathBuf> {
        self.sqlite_path().map(|path| {
            let mut name = path.as_os_str().to_owned();
            name.push(".lock");
            PathBuf::from(name)
        })
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("backend", &self.backend)
            .field("target", &self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
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

    fn configure(&mut self) -> QueryResult<()> {
        match self {
            // Wait for a writer instead of failing at once; WAL lets readers go on meanwhile.
            AnyConnection::Sqlite(c) => {
                c.batch_execute("PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;")?;
                // WAL lets readers go on while a run writes. It is a property of the file, set
                // once; switching needs the file to itself, and SQLite answers "database is
                // locked" at once (no busy wait) when runners start together. Such a connection
                // goes on without switching: another one switches, and the busy timeout covers
                // the rest.
                let _ = c.batch_execute("PRAGMA journal_mode = WAL;");
                Ok(())
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
