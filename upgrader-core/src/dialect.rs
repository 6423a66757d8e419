//! What differs per backend, in one place: session setup, timeouts, the run lock, how a lock
//! holder is found, the catalog, the history's migrations and SQL, and whether DDL is
//! transactional.
//!
//! Each backend is one implementation of [`Dialect`] (`dialect/sqlite.rs`, `dialect/postgres.rs`,
//! `dialect/mysql.rs`); the rest of the engine asks [`Backend::dialect`] and never matches on the
//! connection. The dialects only write SQL and run it through [`AnyConnection`]'s portable
//! calls, so all three are compiled whatever backends the build has (they need no driver): a
//! backend's dialect is there even when its driver is not, and connecting to it is what fails
//! ([`crate::Error::BackendNotCompiled`]).

pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::fmt;
use std::path::Path;

use diesel::QueryResult;
use diesel::query_builder::SqlQuery;

use crate::connection::{AnyConnection, Backend};
use crate::error::Error;
use crate::history::catalog::Relation;
use crate::lock::LockId;
use crate::timeouts::Timeouts;
use crate::url::DatabaseUrl;

pub(crate) use mysql::Mysql;
pub(crate) use postgres::Postgres;
pub(crate) use sqlite::Sqlite;

/// Every dialect, for what is recognised whatever the backend (a driver's error message).
pub(crate) const ALL: [&dyn Dialect; 3] = [&Sqlite, &Postgres, &Mysql];

/// One backend's SQL and behaviour, as the engine needs them. The engine holds a `&'static dyn
/// Dialect` ([`Backend::dialect`]); every method that runs SQL takes the connection it runs on.
pub(crate) trait Dialect: Sync + fmt::Debug {
    /// Whether DDL (`CREATE`, `ALTER`) rolls back with its transaction. Without it (MySQL/MariaDB
    /// commit DDL implicitly) the engine records that an upgrade started before it runs it.
    fn transactional_ddl(&self) -> bool;

    // --- The session ---

    /// Sets a new session up. `writes` is false for a connection that only reads (an SQLite
    /// file opened read-only), which must leave the database as it is.
    fn configure(&self, conn: &mut AnyConnection, writes: bool) -> QueryResult<()>;

    /// Makes `schema` (a PostgreSQL URL's `?schema=`) the session's only schema, where
    /// unqualified names are read and created, when it exists and the user may use it; says
    /// which when not. Only a PostgreSQL URL names a schema: the other backends never get here.
    fn use_schema(&self, _conn: &mut AnyConnection, schema: &str) -> QueryResult<SchemaAccess> {
        Err(diesel::result::Error::QueryBuilderError(
            format!("this backend has no schemas (asked for `{schema}`)").into(),
        ))
    }

    /// Sets how long each statement waits for a lock another session holds, and how long it may
    /// run (see [`Timeouts`]). Called outside a transaction: PostgreSQL undoes a `SET` with the
    /// transaction that made it.
    fn set_timeouts(&self, conn: &mut AnyConnection, timeouts: &Timeouts) -> QueryResult<()>;

    /// Sets how long the statements of an upgrade wait for a lock another session holds (its
    /// `lock_timeout`), called right after the upgrade's transaction began. Returns whether the
    /// setting outlives the transaction, so that the engine sets the session's own timeouts back
    /// after it ([`Dialect::set_timeouts`]).
    fn set_upgrade_lock_timeout(
        &self,
        conn: &mut AnyConnection,
        wait: std::time::Duration,
    ) -> QueryResult<bool>;

    /// The statements that set the session's time zone to UTC and set it back, where times
    /// convert with it (`None`: nothing converts).
    fn utc_session(&self) -> Option<(&'static str, &'static str)>;

    /// The statements that switch the server's messages to English and back, where the engine
    /// reads a message to tell errors apart (`None`: the messages are read as they are).
    fn english_session(&self) -> Option<(&'static str, &'static str)>;

    /// How the history is read in one view of the database.
    fn read_view(&self) -> ReadView;

    // --- SQL ---

    /// `sql` with its `?` bind parameters in the backend's own form.
    fn bind_query(&self, sql: &str) -> SqlQuery {
        diesel::sql_query(sql)
    }

    /// The type a value is cast to for text (`CAST(x AS TEXT)`).
    fn text_type(&self) -> &'static str {
        "TEXT"
    }

    /// A query giving `COUNT(*) AS value` of the tables called `table` (quoted already as a
    /// literal) in the current schema or database.
    fn table_exists_sql(&self, table: &str) -> String;

    // --- The catalog ---

    /// The queries of a relation's kind (one text column `kind`) and of its columns (`name`,
    /// `ty`), each with one bind parameter, the name.
    fn relation_sql(&self) -> (&'static str, &'static str);

    /// What the catalog's silence about `name` means: `Ok(None)` when there is no such table,
    /// an error when one may exist that the user cannot see. `again`: asked a second time.
    fn absent(&self, conn: &mut AnyConnection, name: &str, again: bool) -> Result<Option<Relation>, Error>;

    /// Whether a relation of this catalog kind is a table.
    fn is_table(&self, kind: &str) -> bool;

    /// A catalog kind as messages name it.
    fn kind_name(&self, kind: &str) -> String {
        kind.to_lowercase()
    }

    /// Whether the backend ignores the case of column names (they are then compared in
    /// lowercase).
    fn folds_case(&self) -> bool {
        true
    }

    /// Whether a column of this catalog type (lowercase) holds text.
    fn is_text_type(&self, ty: &str) -> bool;

    /// Whether a column of this catalog type (lowercase) holds a time or a number the engine
    /// reads a time from and writes one into (besides text).
    fn is_time_or_number_type(&self, ty: &str) -> bool;

    /// The expression reading the history's `applied` column, of catalog type `ty`, as text
    /// [`crate::history`] parses, independent of the session's date style and time zone.
    fn applied_as_text(&self, ty: &str) -> &'static str;

    /// The expression that writes the bound time (a `TIMESTAMP`, UTC) into an `applied` column
    /// of catalog type `ty`: as is into a time, Unix seconds into a number, text into text.
    fn applied_value(&self, ty: &str) -> &'static str;

    /// Whether what [`Dialect::applied_value`] writes into an `applied` column of catalog type
    /// `ty` depends on the session's time zone, so the history is written with the session in
    /// UTC ([`Dialect::utc_session`]). Only a type known not to convert says no: each switch of
    /// the time zone is a statement, two for every upgrade a run records.
    fn applied_written_in_session_zone(&self, _ty: &str) -> bool {
        self.utc_session().is_some()
    }

    /// Whether an `INSERT` can carry another in a `WITH` clause (PostgreSQL's data-modifying
    /// `WITH`): then an upgrade's history row and its journal note are one statement, one round
    /// trip, not two.
    fn inserts_within_with(&self) -> bool {
        false
    }

    /// Whether `applied`'s type converts with the session's time zone when read.
    fn applied_is_zoned(&self, _ty: &str) -> bool {
        false
    }

    // --- The history's migrations ---

    /// The history's migrations for this backend, oldest first.
    fn migrations(&self) -> &'static [MigrationFiles];

    // --- Which database ---

    /// A text that is the same for two URLs naming the same database (and schema), and differs
    /// otherwise, starting with the backend's name (see [`DatabaseUrl::identity`]).
    fn identity(&self, url: &DatabaseUrl) -> Result<String, Error>;

    // --- The run lock and lock waits ---

    /// The run lock of `url`'s database (and schema) for `scope`.
    fn lock_id(&self, url: &DatabaseUrl, scope: &str) -> Result<LockId, Error>;

    /// The other sessions that may hold the lock a statement gave up waiting for, and a note
    /// when the list is a guess. `file` is the SQLite file.
    fn lock_holders(&self, conn: &mut AnyConnection, file: Option<&Path>) -> (Vec<String>, Option<String>);

    /// The messages (lowercase) of a statement that waited for a lock the whole wait timeout.
    fn lock_messages(&self) -> &'static [&'static str];

    /// The messages (lowercase) of a statement cancelled by the statement timeout.
    fn statement_messages(&self) -> &'static [&'static str];

    // --- Looking at a whole database (tests) ---

    /// The query of the names of every table in the current schema or database (one text column
    /// `value`, one row per table).
    fn tables_sql(&self) -> String;

    /// The query of `table`'s columns in order: one text row each, `<name> <type>`, the type as
    /// declared (with its length or precision).
    fn columns_sql(&self, table: &str) -> String;

    /// An expression of `column`'s value as text that tells the values apart, NULL for NULL.
    fn value_as_text(&self, column: &str) -> String {
        format!("CAST(\"{column}\" AS {})", self.text_type())
    }
}

/// What [`Dialect::use_schema`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaAccess {
    /// The database the session is in (for messages).
    pub(crate) database: String,
    /// Whether the schema exists.
    pub(crate) exists: bool,
    /// Whether it exists and the user may use it: then it is the session's only schema.
    pub(crate) used: bool,
}

/// How a dialect reads several tables in one view of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadView {
    /// In a transaction, which is one view.
    Transaction,
    /// In a transaction that this statement, run first, makes a snapshot.
    Snapshot(&'static str),
    /// No view to read in (MySQL's DDL commits statement by statement): the reader takes the
    /// states a concurrent setup goes through into account.
    Unprotected,
}

/// One migration of the history: its directory name, `up.sql` and `down.sql`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MigrationFiles {
    pub(crate) name: &'static str,
    pub(crate) up: &'static str,
    pub(crate) down: &'static str,
}

/// `MigrationFiles` for the migration directory `$name` of backend `$backend`.
macro_rules! migration {
    ($backend:literal, $name:literal) => {
        $crate::dialect::MigrationFiles {
            name: $name,
            up: include_str!(concat!("../../migrations/", $backend, "/", $name, "/up.sql")),
            down: include_str!(concat!("../../migrations/", $backend, "/", $name, "/down.sql")),
        }
    };
}
use migration;

impl Backend {
    /// This backend's dialect.
    pub(crate) fn dialect(self) -> &'static dyn Dialect {
        match self {
            Backend::Sqlite => &Sqlite,
            Backend::Postgres => &Postgres,
            Backend::Mysql => &Mysql,
        }
    }
}

/// The lock wait of `timeouts` and its statement timeout (0: no limit) in milliseconds, for a
/// server: never 0 (PostgreSQL reads 0 as "no limit", MySQL's minimum is 1 second).
pub(crate) fn server_millis(timeouts: &Timeouts) -> (u64, u64) {
    let wait_ms = millis(timeouts.wait).max(1);
    let statement_ms = timeouts.statement.map_or(0, |d| millis(d).max(1));
    (wait_ms, statement_ms)
}

/// Milliseconds, as the backends take them (at most [`Timeouts::MAX_SECS`] seconds' worth).
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .min(Timeouts::MAX_SECS * 1000)
}

/// The lines of an aggregated text, trimmed, without empty ones.
pub(crate) fn lines(text: Option<String>) -> Vec<String> {
    text.unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A table's columns, `(name, declared type)`, in order.
#[doc(hidden)]
pub type Columns = Vec<(String, String)>;

/// Every table of the database the connection uses, by name, each with its columns in order,
/// `(name, declared type)` (`("amount", "decimal(16,3)")`): what a test compares before and
/// after a command that must change nothing. Column names are taken to have no space.
#[doc(hidden)]
pub fn tables(conn: &mut AnyConnection) -> QueryResult<Vec<(String, Columns)>> {
    let dialect = conn.backend().dialect();
    let mut names: Vec<String> = conn
        .query_texts(&dialect.tables_sql())?
        .into_iter()
        .flatten()
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|table| {
            let columns = conn.query_texts(&dialect.columns_sql(&table.replace('\'', "''")))?;
            let columns = columns
                .into_iter()
                .flatten()
                .map(|column| match column.split_once(' ') {
                    Some((name, ty)) => (name.to_owned(), ty.to_owned()),
                    None => (column, String::new()),
                })
                .collect();
            Ok((table, columns))
        })
        .collect()
}

/// An expression of `column`'s value as text that tells values apart on the connection's
/// backend (NULL for NULL): for comparing a table's contents.
#[doc(hidden)]
pub fn value_as_text(conn: &AnyConnection, column: &str) -> String {
    conn.backend().dialect().value_as_text(column)
}
