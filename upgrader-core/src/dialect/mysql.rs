//! MySQL/MariaDB: `GET_LOCK`; `lock_wait_timeout` and a statement timeout that differs between
//! MariaDB and MySQL; DDL commits implicitly; `ANSI_QUOTES`; the catalog in
//! `information_schema`, which shows a user only the tables it has a privilege on.

use std::path::Path;

use diesel::QueryResult;

use super::{Dialect, MigrationFiles, ReadView, migration, server_millis};
use crate::connection::AnyConnection;
use crate::error::Error;
use crate::history::catalog::{Relation, relation_again};
use crate::history::sql::in_english;
use crate::lock::{LockId, SessionLockSql};
use crate::timeouts::Timeouts;
use crate::url::DatabaseUrl;

/// The MySQL/MariaDB dialect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mysql;

const MIGRATIONS: [MigrationFiles; 4] = [
    migration!("mysql", "2026-11-25-000000_create_history"),
    migration!("mysql", "2026-11-26-000000_adopted_rows"),
    migration!("mysql", "2026-11-26-160000_batch_checkpoints"),
    migration!("mysql", "2026-11-27-000000_run_journal"),
];

/// The SQL expression of the `GET_LOCK` name of `scope` in the target database: `upgrader.`,
/// the first 22 characters of the database's name, `.`, and the MD5 of `<database>/<scope>`
/// (at most 64 characters, unique per database and scope).
pub(crate) fn lock_name_sql(scope: &str) -> String {
    // A quoted literal when plain, else a hex literal: no escaping that depends on sql_mode.
    let scope = if scope.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("'{scope}'")
    } else {
        let hex: String = scope.bytes().map(|b| format!("{b:02x}")).collect();
        format!("X'{hex}'")
    };
    format!("CONCAT('upgrader.', LEFT(DATABASE(), 22), '.', MD5(CONCAT(DATABASE(), '/', {scope})))")
}

/// The SQL of the lock named by the expression `name_sql`.
pub(crate) fn lock_sql(name_sql: &str) -> SessionLockSql {
    SessionLockSql {
        try_take: format!("SELECT GET_LOCK({name_sql}, 0) AS value"),
        release: format!("SELECT RELEASE_LOCK({name_sql}) AS value"),
        holders: format!(
            "SELECT COUNT(*) AS value FROM (SELECT IS_USED_LOCK({name_sql}) AS holder) h WHERE h.holder IS NOT NULL"
        ),
        held_by_other: format!(
            "SELECT COUNT(*) AS value FROM (SELECT IS_USED_LOCK({name_sql}) AS holder) h \
             WHERE h.holder IS NOT NULL AND h.holder <> CONNECTION_ID()"
        ),
        holder: format!(
            "SELECT CONCAT('connection ', p.ID, ' (', p.USER, '@', p.HOST, '), connected for ', p.TIME, 's') AS value \
             FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK({name_sql})"
        ),
    }
}

const INTEGER: [&str; 5] = ["tinyint", "smallint", "mediumint", "int", "bigint"];
const DECIMAL: [&str; 3] = ["decimal", "float", "double"];
const TEXT: [&str; 6] = ["varchar", "char", "tinytext", "text", "mediumtext", "longtext"];

impl Dialect for Mysql {
    fn transactional_ddl(&self) -> bool {
        false
    }

    fn configure(&self, conn: &mut AnyConnection, _writes: bool) -> QueryResult<()> {
        conn.batch_execute("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'ANSI_QUOTES')")
    }

    fn set_timeouts(&self, conn: &mut AnyConnection, timeouts: &Timeouts) -> QueryResult<()> {
        let (wait_ms, statement_ms) = server_millis(timeouts);
        // Metadata locks (DDL, LOCK TABLES) and InnoDB row locks have one timeout each, in whole
        // seconds.
        let secs = wait_ms.div_ceil(1000);
        conn.batch_execute(&format!(
            "SET SESSION lock_wait_timeout = {secs}, innodb_lock_wait_timeout = {secs}"
        ))?;
        let mariadb = conn
            .query_i64("SELECT CAST(VERSION() LIKE '%MariaDB%' AS SIGNED) AS value")?
            .unwrap_or(0)
            != 0;
        if mariadb {
            // Every statement, in seconds (0: no limit).
            conn.batch_execute(&format!(
                "SET SESSION max_statement_time = {}",
                statement_ms as f64 / 1000.0
            ))
        } else {
            // MySQL 5.7.8+: read-only `SELECT`s only, in milliseconds (0: no limit).
            conn.batch_execute(&format!("SET SESSION max_execution_time = {statement_ms}"))
        }
    }

    fn set_upgrade_lock_timeout(
        &self,
        conn: &mut AnyConnection,
        wait: std::time::Duration,
    ) -> QueryResult<bool> {
        // Whole seconds, at least one (the server's minimum); the session's, set back after.
        let secs = server_millis(&Timeouts::default().with_wait(wait))
            .0
            .div_ceil(1000);
        conn.batch_execute(&format!(
            "SET SESSION lock_wait_timeout = {secs}, innodb_lock_wait_timeout = {secs}"
        ))?;
        Ok(true)
    }

    fn utc_session(&self) -> Option<(&'static str, &'static str)> {
        Some((
            "SET @upgrader_time_zone = @@session.time_zone; SET SESSION time_zone = '+00:00'",
            "SET SESSION time_zone = @upgrader_time_zone",
        ))
    }

    fn english_session(&self) -> Option<(&'static str, &'static str)> {
        // The driver does not pass the error codes on: the engine tells a missing table from a
        // denied one by the message.
        Some((
            "SET @upgrader_lc_messages = @@session.lc_messages; SET SESSION lc_messages = 'en_US'",
            "SET SESSION lc_messages = @upgrader_lc_messages",
        ))
    }

    fn read_view(&self) -> ReadView {
        ReadView::Unprotected
    }

    fn text_type(&self) -> &'static str {
        "CHAR"
    }

    fn table_exists_sql(&self, table: &str) -> String {
        format!(
            "SELECT COUNT(*) AS value FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = '{table}'"
        )
    }

    fn relation_sql(&self) -> (&'static str, &'static str) {
        (
            "SELECT CAST(TABLE_TYPE AS CHAR) AS kind FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            "SELECT CAST(COLUMN_NAME AS CHAR) AS name, CAST(DATA_TYPE AS CHAR) AS ty \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
        )
    }

    /// `information_schema` shows a MySQL user only the tables it has some privilege on, so a
    /// table missing from it may still exist. Selecting from it tells: "doesn't exist" (error
    /// 1146) when the user could see it if it existed; "command denied" (1142) when the user
    /// cannot read such a table at all, which the server answers whether it exists or not: then
    /// nobody can tell.
    ///
    /// A table that answers was made between the two questions (a runner setting the history
    /// up): the catalog is asked again, once.
    fn absent(&self, conn: &mut AnyConnection, name: &str, again: bool) -> Result<Option<Relation>, Error> {
        let probe = in_english(conn, |conn| {
            conn.execute(&format!("SELECT 1 FROM \"{name}\" WHERE 1 = 0"))
        });
        match probe {
            Err(e) if e.to_string().contains("doesn't exist") => Ok(None),
            Err(e) => Err(Error::unreadable(name, e)),
            Ok(_) if !again => relation_again(conn, name),
            Ok(_) => Err(Error::HistoryUnreadable {
                table: name.to_owned(),
                cause: "the table answers queries but the catalog does not show it".into(),
            }),
        }
    }

    fn is_table(&self, kind: &str) -> bool {
        kind != "VIEW"
    }

    fn is_text_type(&self, ty: &str) -> bool {
        TEXT.contains(&ty)
    }

    fn is_time_or_number_type(&self, ty: &str) -> bool {
        ["datetime", "timestamp", "date"].contains(&ty) || INTEGER.contains(&ty) || DECIMAL.contains(&ty)
    }

    fn applied_as_text(&self, _ty: &str) -> &'static str {
        // A `TIMESTAMP` reads in the session's time zone: see `applied_is_zoned`.
        "CAST(\"applied\" AS CHAR)"
    }

    fn applied_value(&self, ty: &str) -> &'static str {
        if INTEGER.contains(&ty) || DECIMAL.contains(&ty) {
            "UNIX_TIMESTAMP(?)"
        } else {
            "?"
        }
    }

    fn applied_is_zoned(&self, ty: &str) -> bool {
        ty == "timestamp"
    }

    fn applied_written_in_session_zone(&self, ty: &str) -> bool {
        // A `DATETIME`, a date, or text take the bound time as it is; a `TIMESTAMP` converts it,
        // and `UNIX_TIMESTAMP` (for a number) reads it in the session's zone.
        !([
            "datetime",
            "date",
            "varchar",
            "char",
            "text",
            "tinytext",
            "mediumtext",
            "longtext",
        ]
        .contains(&ty))
    }

    fn migrations(&self) -> &'static [MigrationFiles] {
        &MIGRATIONS
    }

    /// The server (`@@hostname`, `@@port`, `@@datadir`: MariaDB has no `@@server_uuid`) and the
    /// database, folded to lowercase where the server folds names (`lower_case_table_names`).
    /// Quoted (`QUOTE`), so that no two read alike.
    fn identity(&self, url: &DatabaseUrl) -> Result<String, Error> {
        let mut conn = url.connect_read_only()?;
        let doing = || format!("finding which database {} is", url.redacted());
        let sql = "SELECT CONCAT('mysql host ', QUOTE(@@hostname), ' port ', @@port, \
                   ' datadir ', QUOTE(@@datadir), ' database ', \
                   QUOTE(IF(@@lower_case_table_names = 0, DATABASE(), LOWER(DATABASE())))) AS value";
        conn.query_text(sql)
            .map_err(Error::db(doing()))?
            .ok_or_else(|| Error::Database {
                doing: doing(),
                cause: diesel::result::Error::NotFound,
            })
    }

    fn lock_id(&self, _url: &DatabaseUrl, scope: &str) -> Result<LockId, Error> {
        Ok(LockId::Mysql {
            name_sql: lock_name_sql(scope),
        })
    }

    /// The metadata locks when the server lists them, else the other connections to this
    /// database (one of them holds it), with their open transactions.
    fn lock_holders(&self, conn: &mut AnyConnection, _file: Option<&Path>) -> (Vec<String>, Option<String>) {
        let connection =
            "CONCAT('connection ', p.ID, ' (', p.USER, '@', p.HOST, ', ', p.COMMAND, ' for ', p.TIME, 's')";
        // MariaDB's METADATA_LOCK_INFO plugin.
        let plugin = conn
            .query_i64(
                "SELECT COUNT(*) AS value FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'METADATA_LOCK_INFO'",
            )
            .ok()
            .flatten()
            .unwrap_or(0)
            > 0;
        if plugin {
            let sql = format!(
                "SELECT GROUP_CONCAT(h SEPARATOR '\n') AS value FROM ( \
                   SELECT CONCAT({connection}, ') holds ', \
                     GROUP_CONCAT(DISTINCT CONCAT(m.LOCK_MODE, ' on ', m.TABLE_NAME) SEPARATOR ', ')) AS h \
                   FROM information_schema.METADATA_LOCK_INFO m \
                   JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID \
                   WHERE m.TABLE_SCHEMA = DATABASE() AND m.TABLE_NAME <> '' AND m.THREAD_ID <> CONNECTION_ID() \
                   GROUP BY p.ID, p.USER, p.HOST, p.COMMAND, p.TIME LIMIT 3) x"
            );
            let holders = super::lines(conn.query_text(&sql).ok().flatten());
            if !holders.is_empty() {
                return (holders, None);
            }
        }
        // MySQL 8 (and MariaDB with performance_schema on).
        let sql = "SELECT GROUP_CONCAT(h SEPARATOR '\n') AS value FROM ( \
               SELECT CONCAT('connection ', t.PROCESSLIST_ID, ' (', COALESCE(t.PROCESSLIST_USER, ''), '@', \
                 COALESCE(t.PROCESSLIST_HOST, ''), ', ', COALESCE(t.PROCESSLIST_COMMAND, ''), ' for ', \
                 COALESCE(t.PROCESSLIST_TIME, 0), 's) holds ', \
                 GROUP_CONCAT(DISTINCT CONCAT(m.LOCK_TYPE, ' on ', m.OBJECT_NAME) SEPARATOR ', ')) AS h \
               FROM performance_schema.metadata_locks m \
               JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID \
               WHERE m.OBJECT_SCHEMA = DATABASE() AND m.OBJECT_TYPE = 'TABLE' AND m.LOCK_STATUS = 'GRANTED' \
                 AND t.PROCESSLIST_ID <> CONNECTION_ID() \
               GROUP BY t.PROCESSLIST_ID, t.PROCESSLIST_USER, t.PROCESSLIST_HOST, t.PROCESSLIST_COMMAND, t.PROCESSLIST_TIME \
               LIMIT 3) x";
        let holders = super::lines(conn.query_text(sql).ok().flatten());
        if !holders.is_empty() {
            return (holders, None);
        }
        // Without either, the server does not say who holds a metadata lock: the other
        // connections to this database that are not themselves waiting, those in a transaction
        // first.
        let sql = format!(
            "SELECT GROUP_CONCAT(h ORDER BY o SEPARATOR '\n') AS value FROM ( \
               SELECT CONCAT({connection}, COALESCE(CONCAT(', in a transaction since ', t.trx_started), ''), ')') AS h, \
                 CONCAT(t.trx_started IS NULL, COALESCE(t.trx_started, ''), LPAD(1000000000 - p.TIME, 10, '0')) AS o \
               FROM information_schema.PROCESSLIST p \
               LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
               WHERE p.ID <> CONNECTION_ID() AND p.DB = DATABASE() \
                 AND COALESCE(p.STATE, '') NOT LIKE 'Waiting for%' \
               ORDER BY o LIMIT 3) x"
        );
        let holders = super::lines(conn.query_text(&sql).ok().flatten());
        let note = match holders.is_empty() {
            true => "the server does not say which session holds it",
            false => "the server does not say who holds it; other connections to this database",
        };
        (holders, Some(note.into()))
    }

    fn lock_messages(&self) -> &'static [&'static str] {
        &["lock wait timeout exceeded"] // 1205
    }

    fn statement_messages(&self) -> &'static [&'static str] {
        &[
            "max_statement_time exceeded",               // MariaDB 1969
            "maximum statement execution time exceeded", // MySQL 3024
        ]
    }

    fn tables_sql(&self) -> String {
        "SELECT CAST(table_name AS CHAR) AS value FROM information_schema.tables \
         WHERE table_schema = DATABASE() ORDER BY table_name"
            .into()
    }

    fn columns_sql(&self, table: &str) -> String {
        format!(
            "SELECT CAST(CONCAT(column_name, ' ', column_type) AS CHAR) AS value FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{table}' ORDER BY ordinal_position"
        )
    }
}
