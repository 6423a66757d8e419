//! PostgreSQL: a session advisory lock; `lock_timeout` and `statement_timeout`; transactional
//! DDL; `$1` bind parameters; the catalog in `pg_catalog`.

use std::path::Path;

use diesel::QueryResult;
use diesel::prelude::*;
use diesel::query_builder::SqlQuery;
use diesel::sql_types::Text;

use super::{Dialect, MigrationFiles, ReadView, SchemaAccess, migration, server_millis};
use crate::connection::{AnyConnection, with_conn};
use crate::error::Error;
use crate::history::catalog::{Kind, Relation};
use crate::lock::{DEFAULT_SCOPE, LockId, SessionLockSql, fnv1a};
use crate::timeouts::Timeouts;
use crate::url::{DatabaseUrl, quoted_identifier};

/// The PostgreSQL dialect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Postgres;

const MIGRATIONS: [MigrationFiles; 4] = [
    migration!("postgres", "2026-11-25-000000_create_history"),
    migration!("postgres", "2026-11-26-000000_adopted_rows"),
    migration!("postgres", "2026-11-26-160000_batch_checkpoints"),
    migration!("postgres", "2026-11-27-000000_run_journal"),
];

/// The advisory lock key for the default scope: two int4 halves, "upgr" and "ader".
pub(crate) const KEY: (i32, i32) = (0x7570_6772, 0x6164_6572);

/// The schema whose lock is the database's own: a URL without `?schema=` uses the user's default
/// schema, `public` but for a `search_path` set otherwise, so `?schema=public` takes the same lock.
const DEFAULT_SCHEMA: &str = "public";

/// The advisory lock key of `scope` in `schema` (a URL's `?schema=`): [`KEY`] for the default
/// scope without a schema (or in `public`); otherwise the second half is a hash of the scope, or
/// of `<schema>/<scope>` in another schema, so that runners on two schemas of one database do not
/// wait for each other.
pub(crate) fn key(schema: Option<&str>, scope: &str) -> (i32, i32) {
    let named = match schema.filter(|s| *s != DEFAULT_SCHEMA) {
        Some(schema) => format!("{schema}/{scope}"),
        None if scope == DEFAULT_SCOPE => return KEY,
        // A history table's name has no `/`: no scope hashes like a schema's.
        None => scope.to_owned(),
    };
    // FNV-1a: stable across versions and platforms, unlike std's hasher.
    let hash = fnv1a(named.as_bytes()) as u32;
    let half = i32::from_ne_bytes(hash.to_ne_bytes());
    (KEY.0, if half == KEY.1 { half ^ 1 } else { half })
}

/// Which server: the cluster's `system_identifier` where the user may read it (every user may,
/// unless `EXECUTE` on `pg_control_system()` was revoked), else its port and the time it started
/// (which every user may read, and which do not depend on the address it was reached at, unlike
/// `inet_server_addr()`).
const SERVER_SQL: (&str, &str, &str) = (
    "SELECT CAST(CASE WHEN to_regprocedure('pg_catalog.pg_control_system()') IS NULL THEN 0 \
     WHEN has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE') THEN 1 ELSE 0 END AS BIGINT) AS value",
    "SELECT 'system ' || system_identifier AS value FROM pg_catalog.pg_control_system()",
    "SELECT 'port ' || current_setting('port') || ' started ' \
     || EXTRACT(EPOCH FROM pg_catalog.pg_postmaster_start_time()) AS value",
);

/// The SQL of the advisory lock `key`.
pub(crate) fn lock_sql(key: (i32, i32)) -> SessionLockSql {
    let (a, b) = key;
    // A granted advisory lock on the two-int4 key (objsubid 2) in this database.
    let granted = format!(
        "l.locktype = 'advisory' AND l.granted AND l.classid = {a} AND l.objid = {b} AND l.objsubid = 2 \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    );
    SessionLockSql {
        try_take: format!("SELECT pg_try_advisory_lock({a}, {b})::int::bigint AS value"),
        release: format!("SELECT pg_advisory_unlock({a}, {b})::int::bigint AS value"),
        holders: format!("SELECT COUNT(*) AS value FROM pg_locks l WHERE {granted}"),
        held_by_other: format!(
            "SELECT COUNT(*) AS value FROM pg_locks l WHERE {granted} AND l.pid <> pg_backend_pid()"
        ),
        holder: format!(
            "SELECT CONCAT('PostgreSQL backend ', a.pid, ' (', COALESCE(NULLIF(a.application_name, ''), 'unnamed client'), \
             COALESCE(' from ' || host(a.client_addr), ''), ') since ', to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ' UTC') AS value \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE {granted}"
        ),
    }
}

const INTEGER: [&str; 3] = ["smallint", "integer", "bigint"];
const DECIMAL: [&str; 3] = ["numeric", "real", "double precision"];

impl Dialect for Postgres {
    fn transactional_ddl(&self) -> bool {
        true
    }

    fn configure(&self, conn: &mut AnyConnection, _writes: bool) -> QueryResult<()> {
        // Name the session, so a runner waiting for the lock can say who holds it.
        conn.batch_execute(&format!(
            "SET client_min_messages = WARNING; SET application_name = 'upgrader, {}'",
            crate::lock::runner().replace('\'', "''")
        ))
    }

    /// `SET search_path TO "schema"`: that schema alone, not `public` after it, so a history
    /// table in `public` is never read as this schema's (the catalog is read through
    /// `current_schemas(true)`).
    fn use_schema(&self, conn: &mut AnyConnection, schema: &str) -> QueryResult<SchemaAccess> {
        #[derive(QueryableByName)]
        struct Found {
            #[diesel(sql_type = Text)]
            database: String,
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
            #[diesel(sql_type = diesel::sql_types::Bool)]
            usable: bool,
        }
        let query = self
            .bind_query(
                "SELECT CAST(current_database() AS TEXT) AS database, n.oid IS NOT NULL AS exists, \
                 COALESCE(has_schema_privilege(n.oid, 'USAGE'), false) AS usable \
                 FROM (SELECT 1) one LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = ?",
            )
            .bind::<Text, _>(schema.to_owned());
        let found: QueryResult<Vec<Found>> = with_conn!(conn, c => query.load(c));
        let found = found?.into_iter().next().ok_or(diesel::result::Error::NotFound)?;
        if found.usable {
            conn.batch_execute(&format!("SET search_path TO {}", quoted_identifier(schema)))?;
        }
        Ok(SchemaAccess {
            database: found.database,
            exists: found.exists,
            used: found.usable,
        })
    }

    fn set_timeouts(&self, conn: &mut AnyConnection, timeouts: &Timeouts) -> QueryResult<()> {
        let (wait_ms, statement_ms) = server_millis(timeouts);
        conn.batch_execute(&format!(
            "SET lock_timeout = {wait_ms}; SET statement_timeout = {statement_ms}"
        ))
    }

    fn set_upgrade_lock_timeout(
        &self,
        conn: &mut AnyConnection,
        wait: std::time::Duration,
    ) -> QueryResult<bool> {
        // `SET LOCAL` ends with the transaction: nothing to set back.
        let wait_ms = server_millis(&Timeouts::default().with_wait(wait)).0;
        conn.batch_execute(&format!("SET LOCAL lock_timeout = {wait_ms}"))?;
        Ok(false)
    }

    fn utc_session(&self) -> Option<(&'static str, &'static str)> {
        Some((
            "SELECT set_config('upgrader.time_zone', current_setting('TimeZone'), false); SET TIME ZONE 'UTC'",
            "SELECT set_config('TimeZone', current_setting('upgrader.time_zone'), false)",
        ))
    }

    fn english_session(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    fn read_view(&self) -> ReadView {
        ReadView::Snapshot("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    }

    fn bind_query(&self, sql: &str) -> SqlQuery {
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

    fn table_exists_sql(&self, table: &str) -> String {
        format!(
            "SELECT COUNT(*) AS value FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        )
    }

    // The catalog, which every role may read, rather than `information_schema`, which hides the
    // tables a role has no privilege on; the name resolved as an unqualified name is, through the
    // schemas of the search path, in the transaction's snapshot.
    fn relation_sql(&self) -> (&'static str, &'static str) {
        (
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
        )
    }

    /// An unqualified name resolves only through the schemas of `search_path` the role may use:
    /// a table of that name in one it may not use is a history nobody can tell is empty. The
    /// setting is split as the server splits it: a quoted name (`"a, b"`, `"a""b"`) is one name,
    /// as it is written; an unquoted one is folded to lowercase; `$user` is the user.
    fn absent(&self, conn: &mut AnyConnection, name: &str, _again: bool) -> Result<Option<Relation>, Error> {
        // No `?` in it but the bind parameter's: `bind_query` numbers every one.
        let sql = "SELECT CAST(n.nspname AS TEXT) AS kind FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = ? AND NOT has_schema_privilege(n.oid, 'USAGE') \
             AND n.nspname = ANY(ARRAY( \
               SELECT CASE WHEN p = '$user' THEN CAST(current_user AS TEXT) ELSE p END FROM ( \
                 SELECT CASE WHEN m[1] LIKE '\"%' \
                   THEN replace(substr(m[1], 2, length(m[1]) - 2), '\"\"', '\"') \
                   ELSE lower(m[1]) END AS p \
                 FROM regexp_matches(current_setting('search_path'), \
                   '(\"([^\"]|\"\")*\"|[^[:space:],]+)', 'g') AS m) names))";
        let query = self.bind_query(sql).bind::<Text, _>(name.to_owned());
        let hidden: QueryResult<Vec<Kind>> = with_conn!(conn, c => query.load(c));
        let hidden = hidden.map_err(|cause| Error::unreadable(name.to_owned(), cause))?;
        match hidden.into_iter().next() {
            None => Ok(None),
            Some(Kind { kind: schema }) => Err(Error::HistoryUnreadable {
                table: name.to_owned(),
                cause: format!("it is in schema `{schema}`, which this user may not use").into(),
            }),
        }
    }

    fn is_table(&self, kind: &str) -> bool {
        // Ordinary and partitioned tables.
        kind == "r" || kind == "p"
    }

    fn kind_name(&self, kind: &str) -> String {
        match kind {
            "v" => "view".to_owned(),
            "m" => "materialized view".to_owned(),
            "f" => "foreign table".to_owned(),
            other => format!("relation of kind `{other}`"),
        }
    }

    fn folds_case(&self) -> bool {
        false
    }

    fn is_text_type(&self, ty: &str) -> bool {
        ["text", "character varying", "character", "citext", "name"].contains(&ty)
    }

    fn is_time_or_number_type(&self, ty: &str) -> bool {
        ["timestamp without time zone", "timestamp with time zone", "date"].contains(&ty)
            || INTEGER.contains(&ty)
            || DECIMAL.contains(&ty)
    }

    fn applied_as_text(&self, ty: &str) -> &'static str {
        match ty {
            "timestamp without time zone" => "to_char(\"applied\", 'YYYY-MM-DD HH24:MI:SS.US')",
            "timestamp with time zone" => {
                "to_char(\"applied\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
            }
            "date" => "to_char(\"applied\", 'YYYY-MM-DD')",
            _ => "CAST(\"applied\" AS TEXT)",
        }
    }

    fn applied_value(&self, ty: &str) -> &'static str {
        if INTEGER.contains(&ty) {
            "CAST(EXTRACT(EPOCH FROM CAST(? AS TIMESTAMP)) AS BIGINT)"
        } else if DECIMAL.contains(&ty) {
            "EXTRACT(EPOCH FROM CAST(? AS TIMESTAMP))"
        } else if ["text", "character varying", "character"].contains(&ty) {
            "to_char(CAST(? AS TIMESTAMP), 'YYYY-MM-DD HH24:MI:SS.US')"
        } else {
            "?"
        }
    }

    fn inserts_within_with(&self) -> bool {
        true
    }

    fn applied_written_in_session_zone(&self, ty: &str) -> bool {
        // A time without a zone, a date, and what `applied_value` computes from one (its epoch,
        // its text) are the same in every zone; a `timestamptz` (or a type not known here) is not.
        let plain = [
            "timestamp without time zone",
            "date",
            "text",
            "character varying",
            "character",
        ];
        !(plain.contains(&ty) || INTEGER.contains(&ty) || DECIMAL.contains(&ty))
    }

    fn migrations(&self) -> &'static [MigrationFiles] {
        &MIGRATIONS
    }

    /// The server (see [`SERVER_SQL`]), the database and the schema the session uses: the
    /// URL's, else the user's default (`current_schema()`, `(none)` when no schema of its
    /// `search_path` exists). Names are quoted where they need it (`quote_ident`), so that no two
    /// read alike.
    fn identity(&self, url: &DatabaseUrl) -> Result<String, Error> {
        let mut conn = url.connect_read_only()?;
        let doing = || format!("finding which database {} is", url.redacted());
        let (may_read, system, started) = SERVER_SQL;
        let server_sql = match conn.query_i64(may_read).map_err(Error::db(doing()))? {
            Some(1) => system,
            _ => started,
        };
        let server = conn.query_text(server_sql).map_err(Error::db(doing()))?;
        let place = conn
            .query_text(
                "SELECT 'database ' || quote_ident(current_database()) || ' schema ' \
                 || COALESCE(quote_ident(current_schema()), '(none)') AS value",
            )
            .map_err(Error::db(doing()))?;
        match (server, place) {
            (Some(server), Some(place)) => Ok(format!("postgres {server} {place}")),
            _ => Err(Error::Database {
                doing: doing(),
                cause: diesel::result::Error::NotFound,
            }),
        }
    }

    fn lock_id(&self, url: &DatabaseUrl, scope: &str) -> Result<LockId, Error> {
        Ok(LockId::Postgres {
            key: key(url.schema(), scope),
        })
    }

    /// The other sessions holding locks on tables of this database, strongest lock first (an
    /// `ACCESS EXCLUSIVE` blocks everything; an idle transaction's `ACCESS SHARE` blocks DDL),
    /// then the oldest transaction.
    fn lock_holders(&self, conn: &mut AnyConnection, _file: Option<&Path>) -> (Vec<String>, Option<String>) {
        const SQL: &str = "\
            SELECT string_agg(holder, '\n' ORDER BY strength DESC, since) AS value FROM ( \
              SELECT format('PostgreSQL backend %s (%s%s%s, %s) holds %s', \
                       a.pid, COALESCE(NULLIF(a.application_name, ''), 'unnamed client'), \
                       COALESCE(' as ' || a.usename, ''), COALESCE(' from ' || host(a.client_addr), ''), \
                       COALESCE(a.state || ' since ' \
                         || to_char(a.state_change AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', \
                         'state not visible to this user'), \
                       string_agg(l.mode || ' on ' || l.relation::regclass::text, ', ' ORDER BY l.relation::regclass::text)) AS holder, \
                     max(CASE l.mode WHEN 'AccessExclusiveLock' THEN 8 WHEN 'ExclusiveLock' THEN 7 \
                       WHEN 'ShareRowExclusiveLock' THEN 6 WHEN 'ShareLock' THEN 5 \
                       WHEN 'ShareUpdateExclusiveLock' THEN 4 WHEN 'RowExclusiveLock' THEN 3 \
                       WHEN 'RowShareLock' THEN 2 ELSE 1 END) AS strength, \
                     min(a.xact_start) AS since \
              FROM pg_locks l \
              JOIN pg_stat_activity a ON a.pid = l.pid \
              JOIN pg_class c ON c.oid = l.relation \
              WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid() \
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                AND c.relkind NOT IN ('i', 'I') \
                AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) \
              GROUP BY a.pid, a.application_name, a.usename, a.client_addr, a.state, a.state_change \
              ORDER BY strength DESC, since LIMIT 3) h";
        let holders = super::lines(conn.query_text(SQL).ok().flatten());
        let note = holders
            .is_empty()
            .then(|| "the server does not say which session holds it".to_owned());
        (holders, note)
    }

    fn lock_messages(&self) -> &'static [&'static str] {
        &["canceling statement due to lock timeout"] // 55P03
    }

    fn statement_messages(&self) -> &'static [&'static str] {
        &["canceling statement due to statement timeout"] // 57014
    }

    fn tables_sql(&self) -> String {
        "SELECT CAST(table_name AS TEXT) AS value FROM information_schema.tables \
         WHERE table_schema = current_schema() ORDER BY table_name"
            .into()
    }

    fn columns_sql(&self, table: &str) -> String {
        format!(
            "SELECT CAST(a.attname AS TEXT) || ' ' || format_type(a.atttypid, a.atttypmod) AS value \
             FROM pg_catalog.pg_attribute a WHERE a.attrelid = CAST('\"{table}\"' AS regclass) \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        )
    }
}
