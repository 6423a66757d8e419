//! Who blocks me: a statement that gave up waiting, for a lock another session holds or past the
//! statement timeout, says how long it waited and who holds the lock, where the database can tell.
//!
//! PostgreSQL: `pg_locks` and `pg_stat_activity`, the other sessions' granted locks on tables of
//! this database, strongest first. MySQL/MariaDB: the metadata locks when the server lists them
//! (the `METADATA_LOCK_INFO` plugin, or `performance_schema`), else the other connections to this
//! database and their transactions. SQLite keeps no such list; on Linux the kernel's
//! (`/proc/locks`) says which processes hold locks on the file.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::connection::AnyConnection;
use crate::error::Error;
use crate::timeouts::{Timeouts, seconds};

/// The limit a statement ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// It waited the whole wait timeout for a lock another session holds.
    Wait,
    /// Before the first upgrade of a run, it waited for a lock for the whole of the run's lock
    /// timeout (shorter than the wait timeout).
    Run,
    /// It ran (or waited) for the whole statement timeout and was cancelled.
    Statement,
}

/// A statement that gave up waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Blocked {
    /// Which limit it ran into.
    pub limit: Limit,
    /// How long it waited: the timeout that fired, when the engine knows it.
    pub after: Option<Duration>,
    /// For SQLite, the database file (SQLite locks the whole file).
    pub file: Option<String>,
    /// Who holds the lock, one session or process each (at most three), as the database tells.
    pub holders: Vec<String>,
    /// What the database cannot tell: why `holders` is empty, or may name sessions that do not
    /// hold the lock.
    pub note: Option<String>,
    /// What the database said.
    pub message: String,
    explained: bool,
}

/// The messages of a lock wait or statement timeout, as the drivers pass them on (the drivers
/// keep no SQLSTATE or error number, so the server's message is all there is: PostgreSQL and
/// MySQL servers set to another language for their messages are not recognised).
const LOCK_MESSAGES: [&str; 4] = [
    "canceling statement due to lock timeout", // PostgreSQL 55P03
    "lock wait timeout exceeded",              // MySQL/MariaDB 1205
    "database is locked",                      // SQLite SQLITE_BUSY
    "database table is locked",                // SQLite SQLITE_LOCKED
];
const STATEMENT_MESSAGES: [&str; 3] = [
    "canceling statement due to statement timeout", // PostgreSQL 57014
    "max_statement_time exceeded",                  // MariaDB 1969
    "maximum statement execution time exceeded",    // MySQL 3024
];

impl Blocked {
    /// The wait a database error message tells of, if it is one.
    pub(crate) fn from_message(message: &str) -> Option<Blocked> {
        let lower = message.to_lowercase();
        let limit = if LOCK_MESSAGES.iter().any(|m| lower.contains(m)) {
            Limit::Wait
        } else if STATEMENT_MESSAGES.iter().any(|m| lower.contains(m)) {
            Limit::Statement
        } else {
            return None;
        };
        Some(Blocked {
            limit,
            after: None,
            file: None,
            holders: Vec::new(),
            note: None,
            message: message.to_owned(),
            explained: false,
        })
    }

    /// Whether `message` is only what the database said (nothing an upgrade added around it).
    pub(crate) fn is_bare(message: &str) -> bool {
        let lower = message.trim().to_lowercase();
        let lower = lower.trim_end_matches("; try restarting transaction");
        LOCK_MESSAGES
            .iter()
            .chain(&STATEMENT_MESSAGES)
            .any(|m| lower == *m)
            || lower.starts_with("query execution was interrupted")
    }

    /// Fills in how long it waited (`session`: the timeouts the session had, `configured`: the
    /// engine's own, longer when a run bounded the wait) and who holds the lock. Call it after the
    /// transaction the statement was in has ended (PostgreSQL answers nothing in a failed one).
    pub(crate) fn explain(
        &mut self,
        conn: &mut AnyConnection,
        sqlite_file: Option<&Path>,
        session: &Timeouts,
        configured: &Timeouts,
    ) {
        if self.explained {
            return;
        }
        self.explained = true;
        if self.limit == Limit::Statement {
            self.after = session.statement;
            return;
        }
        self.after = Some(session.wait);
        if session.wait < configured.wait {
            self.limit = Limit::Run;
        }
        if let Some(file) = sqlite_file {
            self.file = Some(file.display().to_string());
            self.holders = sqlite_holders(file);
            if self.holders.is_empty() {
                self.note = Some("SQLite cannot tell which process holds it".into());
            }
            return;
        }
        let (holders, note) = match conn {
            AnyConnection::Postgres(_) => (postgres_holders(conn), None),
            AnyConnection::Mysql(_) => mysql_holders(conn),
            AnyConnection::Sqlite(_) => (Vec::new(), None),
        };
        self.holders = holders;
        if self.holders.is_empty() {
            self.note = Some("the server does not say which session holds it".into());
        } else {
            self.note = note;
        }
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.explained {
            // All there is to say before the engine looks: what the database said.
            return f.write_str(&self.message);
        }
        let after = self.after.map_or_else(|| "its whole timeout".to_owned(), seconds);
        let bound = if self.limit == Limit::Run {
            " (the run's lock timeout)"
        } else {
            ""
        };
        match (&self.limit, &self.file) {
            (Limit::Statement, _) => {
                return write!(
                    f,
                    "the statement ran longer than the statement timeout ({after}) and was cancelled"
                );
            }
            (_, Some(file)) => write!(
                f,
                "waited {after}{bound} for the SQLite file {file}, which another connection has locked, and gave up"
            )?,
            (_, None) => write!(
                f,
                "waited {after}{bound} for a lock another session holds, and gave up"
            )?,
        }
        match (self.holders.is_empty(), &self.note) {
            (true, Some(note)) => write!(f, " ({note})"),
            (true, None) => Ok(()),
            (false, Some(note)) => write!(f, "; {note}: {}", self.holders.join("; ")),
            (false, None) => write!(f, ": {}", self.holders.join("; ")),
        }
    }
}

/// `error` with who holds the lock, when a statement gave up waiting for one (see
/// [`Blocked::explain`] for the arguments). Call it when no transaction is open.
pub(crate) fn explain(
    error: Error,
    conn: &mut AnyConnection,
    sqlite_file: Option<&Path>,
    session: &Timeouts,
    configured: &Timeouts,
) -> Error {
    let (doing, mut blocked) = match error {
        Error::Blocked { doing, blocked } => (doing, blocked),
        // The migrations' errors come boxed: their text tells.
        Error::Migration { cause } => {
            match Blocked::from_message(&crate::connection::one_line(&cause.to_string())) {
                Some(blocked) => ("setting up the history tables".to_owned(), Box::new(blocked)),
                None => return Error::Migration { cause },
            }
        }
        error => return error,
    };
    blocked.explain(conn, sqlite_file, session, configured);
    Error::Blocked { doing, blocked }
}

/// An upgrade's, estimate's or check's error (text), with who holds the lock when it gave up
/// waiting for one. Call it when no transaction is open.
pub(crate) fn describe(
    reason: String,
    conn: &mut AnyConnection,
    sqlite_file: Option<&Path>,
    session: &Timeouts,
    configured: &Timeouts,
) -> String {
    let Some(mut blocked) = Blocked::from_message(&reason) else {
        return reason;
    };
    blocked.explain(conn, sqlite_file, session, configured);
    if Blocked::is_bare(&reason) {
        blocked.to_string()
    } else {
        format!("{reason}: {blocked}")
    }
}

/// The other sessions holding locks on tables of this database, strongest lock first (an
/// `ACCESS EXCLUSIVE` blocks everything; an idle transaction's `ACCESS SHARE` blocks DDL), then
/// the oldest transaction.
fn postgres_holders(conn: &mut AnyConnection) -> Vec<String> {
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
    lines(conn.query_text(SQL).ok().flatten())
}

/// MySQL/MariaDB: the metadata locks when the server lists them, else the other connections to
/// this database (one of them holds it), with their open transactions.
fn mysql_holders(conn: &mut AnyConnection) -> (Vec<String>, Option<String>) {
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
        let holders = lines(conn.query_text(&sql).ok().flatten());
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
    let holders = lines(conn.query_text(sql).ok().flatten());
    if !holders.is_empty() {
        return (holders, None);
    }
    // Without either, the server does not say who holds a metadata lock: the other connections
    // to this database that are not themselves waiting, those in a transaction first.
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
    let holders = lines(conn.query_text(&sql).ok().flatten());
    let note = "the server does not say who holds it; other connections to this database";
    (holders, Some(note.into()))
}

fn lines(text: Option<String>) -> Vec<String> {
    text.unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The other processes holding locks on an SQLite file (or its WAL index), from the kernel's
/// list: writers first, then readers of the file (which hold up a commit in rollback-journal
/// mode). Linux only; elsewhere nobody can tell.
#[cfg(target_os = "linux")]
fn sqlite_holders(file: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;

    let mut shm = file.as_os_str().to_owned();
    shm.push("-shm");
    // The kernel prints `major:minor:inode`, the device numbers in hex.
    let id = |path: &Path| {
        std::fs::metadata(path).ok().map(|m| {
            let dev = m.dev();
            let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
            let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
            format!("{major:02x}:{minor:02x}:{}", m.ino())
        })
    };
    let database = id(file);
    let index = id(Path::new(&shm));
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let me = std::process::id().to_string();
    let mut writers: Vec<&str> = Vec::new();
    let mut readers: Vec<&str> = Vec::new();
    for line in locks.lines() {
        // `1: POSIX  ADVISORY  WRITE 26563 fe:00:10010759 1073741824 1073742335`; a waiter's
        // line has `->` after the number.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, kind, _, mode, pid, target, ..] = fields[..] else {
            continue;
        };
        if kind != "POSIX" || pid == me {
            continue;
        }
        let on_database = database.as_deref() == Some(target);
        let on_index = index.as_deref() == Some(target);
        let list = match mode {
            "WRITE" if on_database || on_index => &mut writers,
            // Every WAL connection holds read locks on the index while open: not a sign.
            "READ" if on_database => &mut readers,
            _ => continue,
        };
        if !list.contains(&pid) {
            list.push(pid);
        }
    }
    let name = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| format!(" ({})", c.trim()))
            .unwrap_or_default()
    };
    let readers: Vec<&str> = readers.into_iter().filter(|r| !writers.contains(r)).collect();
    writers
        .iter()
        .map(|pid| format!("process {pid}{} is writing it", name(pid)))
        .chain(
            readers
                .iter()
                .map(|pid| format!("process {pid}{} is reading it", name(pid))),
        )
        .take(3)
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn sqlite_holders(_file: &Path) -> Vec<String> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_s_timeout_message_is_recognised() {
        for (message, limit) in [
            ("canceling statement due to lock timeout", Limit::Wait),
            (
                "Lock wait timeout exceeded; try restarting transaction",
                Limit::Wait,
            ),
            ("database is locked", Limit::Wait),
            ("canceling statement due to statement timeout", Limit::Statement),
            (
                "Query execution was interrupted (max_statement_time exceeded)",
                Limit::Statement,
            ),
            (
                "Query execution was interrupted, maximum statement execution time exceeded",
                Limit::Statement,
            ),
        ] {
            assert_eq!(
                Blocked::from_message(message).map(|b| b.limit),
                Some(limit),
                "{message}"
            );
            assert!(Blocked::is_bare(message), "{message}");
        }
        assert!(Blocked::from_message("relation \"x\" does not exist").is_none());
        assert!(!Blocked::is_bare("cannot count the rows: database is locked"));
    }

    #[test]
    fn a_lock_wait_says_how_long_and_who() {
        let mut b = Blocked::from_message("canceling statement due to lock timeout").unwrap();
        assert_eq!(b.to_string(), "canceling statement due to lock timeout");
        b.explained = true;
        b.after = Some(Duration::from_secs(1));
        b.holders = vec!["PostgreSQL backend 42 (psql) holds AccessExclusiveLock on upgrade".into()];
        assert_eq!(
            b.to_string(),
            "waited 1s for a lock another session holds, and gave up: \
             PostgreSQL backend 42 (psql) holds AccessExclusiveLock on upgrade"
        );
        b.holders.clear();
        b.file = Some("/srv/app.db".into());
        b.note = Some("SQLite cannot tell which process holds it".into());
        assert_eq!(
            b.to_string(),
            "waited 1s for the SQLite file /srv/app.db, which another connection has locked, \
             and gave up (SQLite cannot tell which process holds it)"
        );
    }
}
