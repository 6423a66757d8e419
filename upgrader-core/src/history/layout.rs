//! What is in the place of the history: nothing, the seed system's table, the engine's own, or a
//! table the engine must not touch. Decided from the catalog (the table's kind and columns),
//! never from a query that failed.

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::sql::{bind_query, in_english};
use crate::connection::{AnyConnection, Backend, with_conn};
use crate::error::Error;

/// The columns of the seed system's history.
const SEED: [&str; 2] = ["upgrade", "applied"];
/// The columns the engine adds to it.
const ADDED: [&str; 3] = ["duration_ms", "checksum", "method"];
/// The columns of the table of started upgrades.
const IN_PROGRESS: [&str; 4] = ["upgrade", "started", "runner", "error"];

/// A table (or view) as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relation {
    /// `true` for a table, `false` for a view or anything else that is not one.
    pub(crate) is_table: bool,
    /// What the catalog calls it (`table`, `view`, `BASE TABLE`, `r`, ...).
    pub(crate) kind: String,
    /// Its columns, in order, with their types as the catalog names them.
    pub(crate) columns: Vec<(String, String)>,
}

impl Relation {
    fn names(&self) -> Vec<String> {
        self.columns.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Names compare as the backend compares them: [`relation`] gives them in lowercase where
    /// the backend ignores case (SQLite, MySQL), as they are where it does not (PostgreSQL).
    fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|(name, _)| name == column)
    }

    /// A column's type, in lowercase (SQLite: the declared type, PostgreSQL: the base type of a
    /// domain, MySQL: `DATA_TYPE`).
    pub(crate) fn type_of(&self, column: &str) -> String {
        self.columns
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, ty)| ty.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// Columns that are none of `known`.
    fn others(&self, known: &[&str]) -> Vec<String> {
        self.columns
            .iter()
            .filter(|(name, _)| !known.contains(&name.as_str()))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// What the history table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// No such table: a database without a history yet.
    Absent,
    /// The seed system's table (`upgrade`, `applied`), not adopted yet; `applied` has this type.
    Seed { applied_type: String },
    /// The engine's own table; `applied` has this type (the seed's, when it was adopted).
    /// `started` is false while its table of started upgrades is not made yet (a runner is
    /// setting the history up): no upgrade can have started then.
    Engine { applied_type: String, started: bool },
}

impl Layout {
    pub(crate) fn applied_type(&self) -> &str {
        match self {
            Layout::Absent => "",
            Layout::Seed { applied_type } | Layout::Engine { applied_type, .. } => applied_type,
        }
    }
}

/// Reads the catalog for the history table `table` and its table of started upgrades
/// `in_progress`; `setup` is the version the engine's migrations record once they made both. A
/// table in their place that is not one the engine can read as a history is
/// [`Error::ForeignHistoryTable`]; a catalog that cannot be read is
/// [`Error::HistoryUnreadable`].
pub(crate) fn layout(
    conn: &mut AnyConnection,
    table: &str,
    in_progress: &str,
    setup: &str,
) -> Result<Layout, Error> {
    // The table of started upgrades first: the engine's setup makes it after the history, so on
    // MySQL (DDL committed statement by statement, no snapshot to read in) a setup happening
    // meanwhile cannot show it without its history. The history's own error comes first.
    let started = relation(conn, in_progress);
    let history = relation(conn, table)?;
    let started = started?;
    let layout = match &history {
        None => Layout::Absent,
        Some(history) => classify(conn.backend(), table, history)?,
    };
    let started = match (&layout, started) {
        (Layout::Engine { applied_type, .. }, None) => {
            // The setup makes the history, then this table, then records its version: until it
            // has recorded it, no upgrade can have started.
            if !setup_recorded(conn, setup)? {
                return Ok(Layout::Engine {
                    applied_type: applied_type.clone(),
                    started: false,
                });
            }
            // Recorded, so made: unless it was made since it was looked for, it is missing.
            match relation(conn, in_progress)? {
                Some(started) => Some(started),
                None => {
                    return Err(Error::HistoryUnreadable {
                        table: in_progress.to_owned(),
                        cause: "the history has the engine's layout but this table, which goes with it, does not exist"
                            .into(),
                    });
                }
            }
        }
        (_, started) => started,
    };
    match (&layout, started) {
        (Layout::Engine { .. }, Some(started)) => {
            if !started.is_table {
                return Err(foreign(
                    in_progress,
                    &started,
                    format!("it is a {}, not a table", started.kind),
                ));
            }
            let missing: Vec<&str> = IN_PROGRESS.iter().copied().filter(|c| !started.has(c)).collect();
            let others = started.others(&IN_PROGRESS);
            if !missing.is_empty() || !others.is_empty() {
                return Err(foreign(
                    in_progress,
                    &started,
                    describe(&missing, &others, "the engine's table of started upgrades"),
                ));
            }
            Ok(layout)
        }
        (_, Some(started)) => Err(foreign(
            in_progress,
            &started,
            format!("the engine did not make it: there is no history `{table}` that goes with it"),
        )),
        (_, None) => Ok(layout),
    }
}

fn classify(backend: Backend, table: &str, history: &Relation) -> Result<Layout, Error> {
    if !history.is_table {
        return Err(foreign(
            table,
            history,
            format!("it is a {}, not a table", history.kind),
        ));
    }
    let missing: Vec<&str> = SEED.iter().copied().filter(|c| !history.has(c)).collect();
    let mut known = SEED.to_vec();
    known.extend(ADDED);
    let others = history.others(&known);
    if !missing.is_empty() || !others.is_empty() {
        return Err(foreign(table, history, describe(&missing, &others, "a history")));
    }
    // The engine writes ids as text, and times in a form the column's type takes.
    let upgrade_type = history.type_of("upgrade");
    if !is_text(backend, &upgrade_type) {
        return Err(foreign(
            table,
            history,
            format!("its `upgrade` column is of type `{upgrade_type}`, not text"),
        ));
    }
    let applied_type = history.type_of("applied");
    if !is_time_text_or_number(backend, &applied_type) {
        return Err(foreign(
            table,
            history,
            format!("its `applied` column is of type `{applied_type}`: neither a time, a text nor a number"),
        ));
    }
    // All of the engine's columns: its own layout. Some of them: an adoption that stopped half-way
    // (MySQL commits each `ALTER` at once); its rows are still the seed's.
    Ok(if ADDED.iter().all(|c| history.has(c)) {
        Layout::Engine {
            applied_type,
            started: true,
        }
    } else {
        Layout::Seed { applied_type }
    })
}

/// Whether a column of this type holds text (SQLite: any column does).
fn is_text(backend: Backend, ty: &str) -> bool {
    match backend {
        Backend::Sqlite => true,
        Backend::Postgres => ["text", "character varying", "character", "citext", "name"].contains(&ty),
        Backend::Mysql => ["varchar", "char", "tinytext", "text", "mediumtext", "longtext"].contains(&ty),
    }
}

/// Whether the engine can read a time from a column of this type, and write one into it.
fn is_time_text_or_number(backend: Backend, ty: &str) -> bool {
    is_text(backend, ty)
        || match backend {
            Backend::Sqlite => true,
            Backend::Postgres => [
                "timestamp without time zone",
                "timestamp with time zone",
                "date",
                "smallint",
                "integer",
                "bigint",
                "numeric",
                "real",
                "double precision",
            ]
            .contains(&ty),
            Backend::Mysql => [
                "datetime",
                "timestamp",
                "date",
                "tinyint",
                "smallint",
                "mediumint",
                "int",
                "bigint",
                "decimal",
                "float",
                "double",
            ]
            .contains(&ty),
        }
}

/// Whether the engine's migrations recorded `version` (the history's tables are made).
fn setup_recorded(conn: &mut AnyConnection, version: &str) -> Result<bool, Error> {
    const MIGRATIONS: &str = "__diesel_schema_migrations";
    if relation(conn, MIGRATIONS)?.is_none() {
        return Ok(false);
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        value: i64,
    }
    let sql = format!("SELECT COUNT(*) AS value FROM {MIGRATIONS} WHERE version = ?");
    let backend = conn.backend();
    let counts: Vec<Count> = with_conn!(conn, c => bind_query(backend, &sql)
        .bind::<Text, _>(version)
        .load(c))
    .map_err(|cause| Error::HistoryUnreadable {
        table: MIGRATIONS.to_owned(),
        cause: Box::new(cause),
    })?;
    Ok(counts.first().is_some_and(|c| c.value > 0))
}

fn describe(missing: &[&str], others: &[String], what: &str) -> String {
    let list = |names: Vec<&str>| {
        let plural = if names.len() == 1 { "column" } else { "columns" };
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        format!("{plural} {}", names.join(", "))
    };
    let missing = (!missing.is_empty()).then(|| format!("no {}", list(missing.to_vec())));
    let others = (!others.is_empty()).then(|| {
        format!(
            "{} that {what} does not have",
            list(others.iter().map(String::as_str).collect())
        )
    });
    match (missing, others) {
        (Some(missing), Some(others)) => format!("it has {missing}, and {others}"),
        (Some(one), None) | (None, Some(one)) => format!("it has {one}"),
        (None, None) => String::new(),
    }
}

fn foreign(table: &str, relation: &Relation, reason: String) -> Error {
    Error::ForeignHistoryTable {
        table: table.to_owned(),
        columns: relation.names(),
        reason,
    }
}

#[derive(QueryableByName)]
struct Kind {
    #[diesel(sql_type = Text)]
    kind: String,
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
}

/// The table or view `name` in the database the connection uses (SQLite: the main database;
/// PostgreSQL: the one an unqualified name resolves to, through `search_path`; MySQL: the
/// current database), or `None` when there is none.
pub(crate) fn relation(conn: &mut AnyConnection, name: &str) -> Result<Option<Relation>, Error> {
    relation_seen(conn, name, false)
}

/// [`relation`]; `again` when MySQL's catalog is asked a second time (see [`mysql_absent`]).
fn relation_seen(conn: &mut AnyConnection, name: &str, again: bool) -> Result<Option<Relation>, Error> {
    let unreadable = |cause: diesel::result::Error| Error::HistoryUnreadable {
        table: name.to_owned(),
        cause: Box::new(cause),
    };
    let (kind_sql, columns_sql, bound) = match conn {
        AnyConnection::Sqlite(_) => (
            "SELECT type AS kind FROM sqlite_master WHERE type IN ('table', 'view') AND lower(name) = lower(?)",
            "SELECT name, CAST(type AS TEXT) AS ty FROM pragma_table_info(?) ORDER BY cid",
            name.to_owned(),
        ),
        // The catalog, which every role may read, rather than `information_schema`, which hides
        // the tables a role has no privilege on; the name resolved as an unqualified name is,
        // through the schemas of the search path, in the transaction's snapshot.
        AnyConnection::Postgres(_) => (
            "SELECT CAST(c.relkind AS TEXT) AS kind FROM pg_catalog.pg_class c WHERE c.oid = (SELECT c.oid \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = ? AND n.nspname = ANY(current_schemas(true)) \
             ORDER BY array_position(current_schemas(true), n.nspname) LIMIT 1)",
            "SELECT CAST(a.attname AS TEXT) AS name, \
             CAST(CAST(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END AS regtype) AS TEXT) AS ty \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = (SELECT c.oid \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = ? AND n.nspname = ANY(current_schemas(true)) \
             ORDER BY array_position(current_schemas(true), n.nspname) LIMIT 1) \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            name.to_owned(),
        ),
        AnyConnection::Mysql(_) => (
            "SELECT CAST(TABLE_TYPE AS CHAR) AS kind FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            "SELECT CAST(COLUMN_NAME AS CHAR) AS name, CAST(DATA_TYPE AS CHAR) AS ty \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            name.to_owned(),
        ),
    };
    let backend = conn.backend();
    let kinds: Vec<Kind> = with_conn!(conn, c => bind_query(backend, kind_sql)
        .bind::<Text, _>(&bound)
        .load(c))
    .map_err(unreadable)?;
    let Some(Kind { kind }) = kinds.into_iter().next() else {
        return match conn {
            AnyConnection::Sqlite(_) => Ok(None),
            AnyConnection::Postgres(_) => postgres_absent(conn, name),
            AnyConnection::Mysql(_) => mysql_absent(conn, name, again),
        };
    };
    let columns: Vec<Column> = with_conn!(conn, c => bind_query(backend, columns_sql)
        .bind::<Text, _>(&bound)
        .load(c))
    .map_err(unreadable)?;
    let is_table = match conn {
        AnyConnection::Sqlite(_) => kind == "table",
        // Ordinary and partitioned tables.
        AnyConnection::Postgres(_) => kind == "r" || kind == "p",
        _ => kind != "VIEW",
    };
    let kind = match (conn.backend(), kind.as_str()) {
        (Backend::Postgres, "v") => "view".to_owned(),
        (Backend::Postgres, "m") => "materialized view".to_owned(),
        (Backend::Postgres, "f") => "foreign table".to_owned(),
        (Backend::Postgres, other) => format!("relation of kind `{other}`"),
        _ => kind.to_lowercase(),
    };
    let case_blind = conn.backend() != Backend::Postgres;
    Ok(Some(Relation {
        is_table,
        kind,
        columns: columns
            .into_iter()
            .map(|c| match case_blind {
                true => (c.name.to_lowercase(), c.ty),
                false => (c.name, c.ty),
            })
            .collect(),
    }))
}

/// An unqualified name resolves only through the schemas of `search_path` the role may use: a
/// table of that name in one it may not use is a history nobody can tell is empty.
fn postgres_absent(conn: &mut AnyConnection, name: &str) -> Result<Option<Relation>, Error> {
    let sql = "SELECT CAST(n.nspname AS TEXT) AS kind FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = ? AND NOT has_schema_privilege(n.oid, 'USAGE') \
         AND n.nspname = ANY(string_to_array(replace(replace(replace(current_setting('search_path'), \
         '\"$user\"', current_user), '\"', ''), ' ', ''), ','))";
    let hidden: Vec<Kind> = with_conn!(conn, c => bind_query(Backend::Postgres, sql)
        .bind::<Text, _>(name)
        .load(c))
    .map_err(|cause| Error::HistoryUnreadable {
        table: name.to_owned(),
        cause: Box::new(cause),
    })?;
    match hidden.into_iter().next() {
        None => Ok(None),
        Some(Kind { kind: schema }) => Err(Error::HistoryUnreadable {
            table: name.to_owned(),
            cause: format!("it is in schema `{schema}`, which this user may not use").into(),
        }),
    }
}

/// `information_schema` shows a MySQL user only the tables it has some privilege on, so a table
/// missing from it may still exist. Selecting from it tells: "doesn't exist" (error 1146) when
/// the user could see it if it existed; "command denied" (1142) when the user cannot read such
/// a table at all, which the server answers whether it exists or not: then nobody can tell.
///
/// A table that answers was made between the two questions (a runner setting the history up):
/// the catalog is asked again, once.
fn mysql_absent(conn: &mut AnyConnection, name: &str, again: bool) -> Result<Option<Relation>, Error> {
    let probe = in_english(conn, |conn| {
        conn.execute(&format!("SELECT 1 FROM \"{name}\" WHERE 1 = 0"))
    });
    match probe {
        Err(e) if e.to_string().contains("doesn't exist") => Ok(None),
        Err(e) => Err(Error::HistoryUnreadable {
            table: name.to_owned(),
            cause: Box::new(e),
        }),
        Ok(_) if !again => relation_seen(conn, name, true),
        Ok(_) => Err(Error::HistoryUnreadable {
            table: name.to_owned(),
            cause: "the table answers queries but the catalog does not show it".into(),
        }),
    }
}
