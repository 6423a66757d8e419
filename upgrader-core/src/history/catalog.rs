//! What the catalog says a table is: its kind and its columns, read so that a table the user
//! cannot see is not taken for one that does not exist.

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::connection::{AnyConnection, with_conn};
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
    pub(crate) fn names(&self) -> Vec<String> {
        self.columns.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Names compare as the backend compares them: [`relation`] gives them in lowercase where
    /// the backend ignores case (SQLite, MySQL), as they are where it does not (PostgreSQL).
    pub(crate) fn has(&self, column: &str) -> bool {
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

/// A row of one text column, `kind`.
#[derive(QueryableByName)]
pub(crate) struct Kind {
    #[diesel(sql_type = Text)]
    pub(crate) kind: String,
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

/// [`relation`], asked a second time because the dialect saw a table that the catalog did not
/// show (see `Dialect::absent`): a second silence is not taken for absence.
pub(crate) fn relation_again(conn: &mut AnyConnection, name: &str) -> Result<Option<Relation>, Error> {
    relation_seen(conn, name, true)
}

fn relation_seen(conn: &mut AnyConnection, name: &str, again: bool) -> Result<Option<Relation>, Error> {
    let unreadable = |cause: diesel::result::Error| Error::unreadable(name.to_owned(), cause);
    let dialect = conn.dialect();
    let (kind_sql, columns_sql) = dialect.relation_sql();
    let query = dialect.bind_query(kind_sql).bind::<Text, _>(name.to_owned());
    let kinds: QueryResult<Vec<Kind>> = with_conn!(conn, c => query.load(c));
    let kinds = kinds.map_err(unreadable)?;
    let Some(Kind { kind }) = kinds.into_iter().next() else {
        return dialect.absent(conn, name, again);
    };
    let query = dialect.bind_query(columns_sql).bind::<Text, _>(name.to_owned());
    let columns: QueryResult<Vec<Column>> = with_conn!(conn, c => query.load(c));
    let columns = columns.map_err(unreadable)?;
    let folds_case = dialect.folds_case();
    Ok(Some(Relation {
        is_table: dialect.is_table(&kind),
        kind: dialect.kind_name(&kind),
        columns: columns
            .into_iter()
            .map(|c| match folds_case {
                true => (c.name.to_lowercase(), c.ty),
                false => (c.name, c.ty),
            })
            .collect(),
    }))
}
