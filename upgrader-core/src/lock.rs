//! One runner at a time: a lock held while `run` applies, exactly one per database (PostgreSQL:
//! and schema) and scope.
//!
//! The scope is the history table's name (`upgrade`): runners on two histories in one database do
//! not wait for each other, nor do runners on two schemas of one PostgreSQL database. Two kinds of lock, each in its own module: SQLite's is an exclusive
//! `flock` on a file beside the database file ([`file`]); a server's is a lock of the session
//! ([`session`]: PostgreSQL's advisory lock, MySQL/MariaDB's `GET_LOCK`), whose SQL the dialect
//! writes. All of them end with the process or its connection, so a runner killed with `kill -9`
//! never leaves the lock held.

pub(crate) mod file;
pub(crate) mod session;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::connection::AnyConnection;
use crate::context::Interaction;
use crate::dialect;
use crate::error::Error;
use crate::url::DatabaseUrl;

/// The scope of the engine's history table, `upgrade`: the lock every runner takes.
pub const DEFAULT_SCOPE: &str = "upgrade";

const POLL: Duration = Duration::from_millis(100);

/// Which lock serialises the runners of one database (and schema) and scope, as its backend
/// names it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockId {
    /// The session advisory lock `pg_advisory_lock(key.0, key.1)`, in the target database:
    /// `(1970300786, 1633969522)` for the default scope; for another scope the second half is a
    /// hash of the scope. With a schema ([`DatabaseUrl::schema`]) other than `public`, the second
    /// half is a hash of `<schema>/<scope>`: each schema of a database has a lock of its own. A
    /// URL without a schema takes the database's lock whatever its `search_path`, so runners on
    /// one schema take one lock when their URLs all name it, or all leave it out (`public` may
    /// be named or not).
    Postgres {
        /// The two halves of the key.
        key: (i32, i32),
    },
    /// `GET_LOCK(name)`: `upgrader.`, the first 22 characters of the database's name, `.`, and
    /// the MD5 of `<database>/<scope>` (at most 64 characters, unique per database and scope).
    Mysql {
        /// An SQL expression that evaluates to the name in the target database.
        name_sql: String,
    },
    /// An exclusive `flock` on this file: `<canonical database path>.lock`, or
    /// `<canonical database path>.lock-<scope>` for another scope than the default.
    Sqlite {
        /// The lock file.
        file: PathBuf,
    },
}

/// The SQL of a session lock (PostgreSQL, MySQL/MariaDB), each statement answering one row with
/// an integer column `value` (`holder`: a text one): what the engine runs, and what an operator
/// or a test runs to take the lock by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionLockSql {
    /// Takes the lock without waiting: 1 when taken, 0 when another session has it.
    pub try_take: String,
    /// Gives the lock back.
    pub release: String,
    /// How many sessions hold it (0 or 1).
    pub holders: String,
    /// How many sessions other than this one hold it (0 or 1).
    pub held_by_other: String,
    /// Who holds it, as a text `value` (no row when nobody does).
    pub holder: String,
}

impl LockId {
    /// The lock of `url`'s database (and schema) for `scope` ([`DEFAULT_SCOPE`] for the engine's
    /// history). For SQLite the database file's directory must exist (the file need not).
    pub fn of(url: &DatabaseUrl, scope: &str) -> Result<LockId, Error> {
        url.backend().dialect().lock_id(url, scope)
    }

    /// The SQL of this lock when it is a session lock; `None` for SQLite's lock file.
    pub fn session_sql(&self) -> Option<SessionLockSql> {
        match self.kind() {
            Kind::Session(sql) => Some(sql),
            Kind::File(_) => None,
        }
    }

    fn kind(&self) -> Kind {
        match self {
            LockId::Postgres { key } => Kind::Session(dialect::postgres::lock_sql(*key)),
            LockId::Mysql { name_sql } => Kind::Session(dialect::mysql::lock_sql(name_sql)),
            LockId::Sqlite { file } => Kind::File(file.clone()),
        }
    }
}

/// The two kinds of lock.
enum Kind {
    /// A lock file.
    File(PathBuf),
    /// A lock of the database session.
    Session(SessionLockSql),
}

/// FNV-1a: stable across versions and platforms, unlike std's hasher.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A held lock; give it back with [`RunLock::release`] (dropping it releases the file lock, and
/// closing the connection releases a session lock).
#[derive(Debug)]
pub(crate) enum RunLock {
    File(file::FileLock),
    Session(session::SessionLock),
}

/// Who this process is, for the lock and the history: `pid 1234 on host`.
pub(crate) fn runner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown host".into());
    format!("pid {} on {}", std::process::id(), host.trim())
}

/// A lock being waited for: taken without waiting, again and again.
trait Attempt {
    /// Takes the lock if it is free.
    fn try_take(&mut self) -> Result<bool, Error>;
    /// Who holds it, when that can be told.
    fn holder(&mut self) -> Option<String>;
}

/// Tries `lock` until it is taken or `timeout` has passed, telling `ui` once that it waits. A
/// zero timeout tries once: a lock held by another runner is [`Error::LockHeld`], not waited for.
fn wait(lock: &mut dyn Attempt, timeout: Duration, ui: &mut dyn Interaction) -> Result<(), Error> {
    let start = Instant::now();
    let mut told = false;
    loop {
        if lock.try_take()? {
            return Ok(());
        }
        if timeout.is_zero() {
            return Err(Error::LockHeld {
                holder: lock.holder(),
            });
        }
        if !told {
            let holder = lock.holder();
            ui.waiting_for_lock(holder.as_deref());
            told = true;
        }
        if start.elapsed() >= timeout {
            return Err(Error::LockTimeout {
                holder: lock.holder(),
                waited: timeout,
            });
        }
        std::thread::sleep(POLL.min(timeout.saturating_sub(start.elapsed())));
    }
}

impl RunLock {
    /// Takes the lock of `url`'s database for `scope`, waiting up to `timeout` for another runner
    /// to release it.
    pub(crate) fn acquire(
        url: &DatabaseUrl,
        scope: &str,
        conn: &mut AnyConnection,
        timeout: Duration,
        ui: &mut dyn Interaction,
    ) -> Result<RunLock, Error> {
        match LockId::of(url, scope)?.kind() {
            Kind::File(file) => file::FileLock::acquire(file, timeout, ui).map(RunLock::File),
            Kind::Session(sql) => session::SessionLock::acquire(sql, conn, timeout, ui).map(RunLock::Session),
        }
    }

    /// Gives the lock back.
    pub(crate) fn release(self, conn: &mut AnyConnection) -> Result<(), Error> {
        match self {
            RunLock::File(lock) => lock.release(),
            RunLock::Session(lock) => lock.release(conn),
        }
    }
}

/// Who holds the lock of `url`'s database for `scope` right now, when another runner does.
/// Takes nothing.
pub(crate) fn held_by_other(url: &DatabaseUrl, scope: &str, conn: &mut AnyConnection) -> Option<String> {
    match LockId::of(url, scope).ok()?.kind() {
        Kind::File(file) => file::held_by_other(&file),
        Kind::Session(sql) => session::held_by_other(&sql, conn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::{mysql, postgres};

    #[test]
    fn postgres_key_is_the_documented_one_for_the_default_scope() {
        assert_eq!(postgres::key(None, DEFAULT_SCOPE), (1970300786, 1633969522));
        let other = postgres::key(None, "upgrade_v2");
        assert_eq!(other.0, postgres::KEY.0);
        assert_ne!(other, postgres::KEY);
        assert_eq!(other, postgres::key(None, "upgrade_v2"), "stable");
    }

    #[test]
    fn each_postgres_schema_has_a_key_of_its_own() {
        let key = |url: &str, scope: &str| match LockId::of(&DatabaseUrl::parse(url).unwrap(), scope).unwrap()
        {
            LockId::Postgres { key } => key,
            other => panic!("{other:?}"),
        };
        let default = key("postgres://u@h/app", DEFAULT_SCOPE);
        assert_eq!(default, (1970300786, 1633969522));
        let one = key("postgres://u@h/app?schema=tenant_1", DEFAULT_SCOPE);
        let two = key("postgres://u@h/app?schema=tenant_2", DEFAULT_SCOPE);
        assert_ne!(one, two);
        assert_ne!(one, default);
        assert_eq!(one.0, postgres::KEY.0, "the first half is the engine's");
        // The same schema under another URL, and the schema of a history table of another name.
        assert_eq!(
            key(
                "postgresql://v:pw@localhost:5432/app?schema=tenant_1",
                DEFAULT_SCOPE
            ),
            one
        );
        assert_eq!(key("host=h dbname=app schema=tenant_1", DEFAULT_SCOPE), one);
        assert_eq!(one, postgres::key(Some("tenant_1"), DEFAULT_SCOPE), "stable");
        let scoped = key("postgres://u@h/app?schema=tenant_1", "upgrade_v2");
        assert_ne!(scoped, one);
        assert_ne!(scoped, key("postgres://u@h/app", "upgrade_v2"));
        // `public` is where a URL without a schema keeps its history, but for a `search_path`
        // set otherwise.
        assert_eq!(key("postgres://u@h/app?schema=public", DEFAULT_SCOPE), default);
        assert_eq!(
            key("postgres://u@h/app?schema=public", "upgrade_v2"),
            key("postgres://u@h/app", "upgrade_v2")
        );
    }

    #[test]
    fn mysql_name_takes_the_scope_in_the_hash() {
        assert_eq!(
            mysql::lock_name_sql(DEFAULT_SCOPE),
            "CONCAT('upgrader.', LEFT(DATABASE(), 22), '.', MD5(CONCAT(DATABASE(), '/', 'upgrade')))"
        );
        assert!(mysql::lock_name_sql("it's").contains("X'69742773'"));
    }

    #[test]
    fn only_a_server_lock_has_sql() {
        let pg = LockId::Postgres { key: postgres::KEY }.session_sql().unwrap();
        assert_eq!(
            pg.try_take,
            "SELECT pg_try_advisory_lock(1970300786, 1633969522)::int::bigint AS value"
        );
        let file = LockId::Sqlite {
            file: PathBuf::from("/srv/app.db.lock"),
        };
        assert_eq!(file.session_sql(), None);
    }
}
