//! The SQL the history needs at run time, its table name being the operator's choice.

use diesel::query_builder::SqlQuery;

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
