//! The SQL the history needs at run time, its table name being the operator's choice.

use diesel::query_builder::SqlQuery;

use crate::connection::{AnyConnection, Backend};

/// A query whose bind parameters are written `?`, in the backend's own form (`$1`, `$2`, … on
/// PostgreSQL). The engine's history queries have no `?` anywhere else.
pub(crate) fn bind_query(backend: Backend, sql: &str) -> SqlQuery {
    if backend != Backend::Postgres {
        return diesel::sql_query(sql);
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    diesel::sql_query(out)
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
    let (set, reset) = match conn.backend() {
        Backend::Sqlite => return f(conn),
        Backend::Postgres => (
            "SELECT set_config('upgrader.time_zone', current_setting('TimeZone'), false); SET TIME ZONE 'UTC'",
            "SELECT set_config('TimeZone', current_setting('upgrader.time_zone'), false)",
        ),
        Backend::Mysql => (
            "SET @upgrader_time_zone = @@session.time_zone; SET SESSION time_zone = '+00:00'",
            "SET SESSION time_zone = @upgrader_time_zone",
        ),
    };
    with_session(conn, set, reset, f)
}

/// Runs `f` with the server's messages in English (MySQL/MariaDB, whose error codes the driver
/// does not pass on: the engine tells a missing table from a denied one by the message).
pub(crate) fn in_english<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    if conn.backend() != Backend::Mysql {
        return f(conn);
    }
    with_session(
        conn,
        "SET @upgrader_lc_messages = @@session.lc_messages; SET SESSION lc_messages = 'en_US'",
        "SET SESSION lc_messages = @upgrader_lc_messages",
        f,
    )
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

#[cfg(test)]
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
