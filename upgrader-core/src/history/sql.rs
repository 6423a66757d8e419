//! The SQL the history needs at run time, its table name being the operator's choice.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId, SqlQuery};
use diesel::query_dsl::RunQueryDsl;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

use crate::connection::{AnyConnection, Backend};

/// A query whose bind parameters are written `?`, in the backend's own form (`$1`, `$2`, … on
/// PostgreSQL). The engine's history queries have no `?` anywhere else.
pub(crate) fn bind_query(backend: Backend, sql: &str) -> SqlQuery {
    backend.dialect().bind_query(sql)
}

/// An identifier quoted for every backend (MySQL/MariaDB run with `ANSI_QUOTES`). Table names are
/// checked identifiers ([`super::HistoryTable`]): they hold no quote.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// Runs `f` with the session's time zone set to UTC, and sets it back: a `TIMESTAMP` (MySQL) or
/// `TIMESTAMP WITH TIME ZONE` (PostgreSQL) column, which a seed table may have, converts what is
/// written to it and read from it with the session's time zone, and the history is in UTC.
pub(crate) fn in_utc<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    match conn.dialect().utc_session() {
        Some((set, reset)) => with_session(conn, set, reset, f),
        None => f(conn),
    }
}

/// Runs `f` with the server's messages in English, where the engine reads them to tell errors
/// apart (MySQL/MariaDB, whose error codes the driver does not pass on).
pub(crate) fn in_english<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    match conn.dialect().english_session() {
        Some((set, reset)) => with_session(conn, set, reset, f),
        None => f(conn),
    }
}

fn with_session<T>(
    conn: &mut AnyConnection,
    set: &str,
    reset: &str,
    f: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    conn.batch_execute(set)?;
    let result = f(conn);
    // After a failed statement PostgreSQL refuses everything until the transaction ends, and the
    // transaction's end undoes the `SET` anyway: the first error is the one to report.
    let reset = conn.batch_execute(reset);
    let value = result?;
    reset?;
    Ok(value)
}

#[cfg(all(test, feature = "postgres", feature = "sqlite"))]
mod tests {
    use super::*;

    #[test]
    fn numbers_the_parameters_on_postgres() {
        let sql = "SELECT a FROM \"t\" WHERE b = ? AND c = ?";
        assert_eq!(
            diesel::debug_query::<diesel::pg::Pg, _>(&bind_query(Backend::Postgres, sql)).to_string(),
            "SELECT a FROM \"t\" WHERE b = $1 AND c = $2 -- binds: []"
        );
        assert_eq!(
            diesel::debug_query::<diesel::sqlite::Sqlite, _>(&bind_query(Backend::Sqlite, sql)).to_string(),
            format!("{sql} -- binds: []")
        );
    }
}

/// A statement a run repeats for every upgrade (the history's row, the journal's note), with
/// its `?` bind parameters: prepared once per connection and kept in diesel's statement cache
/// (by its text), where [`bind_query`]'s `sql_query` is prepared again each time (on SQLite
/// parsed again, on PostgreSQL one more round trip). Each `?` is written in the backend's own
/// form (`$1`, … on PostgreSQL) by diesel.
pub(crate) struct Repeated<'a, B> {
    sql: &'a str,
    binds: B,
}

impl<'a, B: BindCount> Repeated<'a, B> {
    /// `sql`, whose `?` are `binds` in order (a tuple of [`Bind`]s).
    pub(crate) fn new(sql: &'a str, binds: B) -> Self {
        debug_assert_eq!(sql.matches('?').count(), B::COUNT, "{sql}");
        Repeated { sql, binds }
    }
}

/// A value bound as SQL type `ST`.
pub(crate) struct Bind<ST, V>(pub(crate) V, PhantomData<ST>);

/// `value`, bound as SQL type `ST`.
pub(crate) fn bind<ST, V>(value: V) -> Bind<ST, V> {
    Bind(value, PhantomData)
}

/// How many values a tuple of [`Bind`]s holds.
pub(crate) trait BindCount {
    const COUNT: usize;
}

/// A tuple of [`Bind`]s, pushed one at a time where the statement's `?` are.
pub(crate) trait Binds<DB: diesel::backend::Backend>: BindCount {
    /// Pushes the `index`-th value.
    fn push<'b>(&'b self, index: usize, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>;
}

macro_rules! binds {
    ($count:literal: $($name:ident $index:tt),+) => {
        impl<$($name),+> BindCount for ($($name,)+) {
            const COUNT: usize = $count;
        }

        impl<DB: diesel::backend::Backend, $($name: PushBind<DB>),+> Binds<DB> for ($($name,)+) {
            fn push<'b>(&'b self, index: usize, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
                match index {
                    $($index => self.$index.push_bind(out),)+
                    _ => Err(diesel::result::Error::QueryBuilderError(
                        format!("a statement with more `?` than its {} values", $count).into(),
                    )),
                }
            }
        }
    };
}

binds!(5: A 0, B 1, C 2, D 3, E 4);
binds!(10: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);

/// One bound value, pushed as a bind parameter.
pub(crate) trait PushBind<DB: diesel::backend::Backend> {
    fn push_bind<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>;
}

impl<DB, ST, V> PushBind<DB> for Bind<ST, V>
where
    DB: diesel::backend::Backend + HasSqlType<ST>,
    V: ToSql<ST, DB>,
{
    fn push_bind<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_bind_param::<ST, V>(&self.0)
    }
}

impl<DB, B> QueryFragment<DB> for Repeated<'_, B>
where
    DB: diesel::backend::Backend,
    B: Binds<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut pieces = self.sql.split('?');
        if let Some(first) = pieces.next() {
            out.push_sql(first);
        }
        for (index, piece) in pieces.enumerate() {
            self.binds.push(index, &mut out)?;
            out.push_sql(piece);
        }
        Ok(())
    }
}

impl<B> QueryId for Repeated<'_, B> {
    type QueryId = ();
    // The text is the cache's key: no static id.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<B> Query for Repeated<'_, B> {
    type SqlType = Untyped;
}

impl<B, Conn> RunQueryDsl<Conn> for Repeated<'_, B> {}
