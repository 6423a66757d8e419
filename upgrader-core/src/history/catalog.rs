//! What the catalog says a table is: its kind and its columns, read so that a table the user
//! cannot see is not taken for one that does not exist.

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::sql::{bind_query, in_english};
use crate::connection::{AnyConnection, Backend, with_conn};
use crate::error::Error;

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
    pub(super) fn names(&self) -> Vec<String> {
        self.columns.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Names compare as the backend compares them: [`relation`] gives them in lowercase where
    /// the backend ignores case (SQLite, MySQL), as they are where it does not (PostgreSQL).
    pub(super) fn has(&self, column: &str) -> bool {
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
    pub(super) fn others(&self, known: &[&str]) -> Vec<String> {
        self.columns
            .iter()
            .filter(|(name, _)| !known.contains(&name.as_str()))
            .map(|(name, _)| name.clone())
            .collect()
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
    let unreadable = |cause: diesel::result::Error| Error::unreadable(name.to_owned(), cause);
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
    .map_err(|cause| Error::unreadable(name.to_owned(), cause))?;
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
        Err(e) => Err(Error::unreadable(name, e)),
        Ok(_) if !again => relation_seen(conn, name, true),
        Ok(_) => Err(Error::HistoryUnreadable {
            table: name.to_owned(),
            cause: "the table answers queries but the catalog does not show it".into(),
        }),
    }
}
