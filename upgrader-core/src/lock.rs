//! One runner at a time: a lock held while `run` applies, exactly one per database and scope.
//!
//! The scope is the history table's name (`upgrade`): runners on two histories in one database do
//! not wait for each other. PostgreSQL: a session advisory lock (advisory locks belong to the
//! database they are taken in). MySQL/MariaDB: `GET_LOCK`, under a name that fits its 64
//! characters and is unique per database. SQLite: an exclusive `flock` on a file beside the
//! database file, named after its canonical path, so that one file under two names (a symlink,
//! a relative and an absolute path) is one lock. All three end with the process or its
//! connection, so a runner killed with `kill -9` never leaves the lock held.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::connection::{AnyConnection, Backend};
use crate::context::Interaction;
use crate::error::Error;
use crate::url::DatabaseUrl;

/// The scope of the engine's history table, `upgrade`: the lock every runner takes.
pub const DEFAULT_SCOPE: &str = "upgrade";

/// The advisory lock key on PostgreSQL for the default scope: two int4 halves, "upgr" and "ader".
const PG_KEY: (i32, i32) = (0x7570_6772, 0x6164_6572);
const POLL: Duration = Duration::from_millis(100);

/// Which lock serialises the runners of one database and scope, as its backend names it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockId {
    /// The session advisory lock `pg_advisory_lock(key.0, key.1)`, in the target database:
    /// `(1970300786, 1633969522)` for the default scope; for another scope the second half is a
    /// hash of the scope.
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

impl LockId {
    /// The lock of `url`'s database for `scope` ([`DEFAULT_SCOPE`] for the engine's history). For
    /// SQLite the database file's directory must exist (the file need not).
    pub fn of(url: &DatabaseUrl, scope: &str) -> Result<LockId, Error> {
        Ok(match url.backend() {
            Backend::Postgres => LockId::Postgres {
                key: postgres_key(scope),
            },
            Backend::Mysql => LockId::Mysql {
                name_sql: mysql_name_sql(scope),
            },
            Backend::Sqlite => LockId::Sqlite {
                file: sqlite_lock_file(url.sqlite_path().unwrap_or(Path::new("")), scope)?,
            },
        })
    }

    fn try_sql(&self) -> String {
        match self {
            LockId::Postgres { key } => format!(
                "SELECT pg_try_advisory_lock({}, {})::int::bigint AS value",
                key.0, key.1
            ),
            LockId::Mysql { name_sql } => format!("SELECT GET_LOCK({name_sql}, 0) AS value"),
            LockId::Sqlite { .. } => unreachable!("SQLite locks a file"),
        }
    }

    fn release_sql(&self) -> String {
        match self {
            LockId::Postgres { key } => format!(
                "SELECT pg_advisory_unlock({}, {})::int::bigint AS value",
                key.0, key.1
            ),
            LockId::Mysql { name_sql } => format!("SELECT RELEASE_LOCK({name_sql}) AS value"),
            LockId::Sqlite { .. } => unreachable!("SQLite locks a file"),
        }
    }
}

fn postgres_key(scope: &str) -> (i32, i32) {
    if scope == DEFAULT_SCOPE {
        return PG_KEY;
    }
    // FNV-1a: stable across versions and platforms, unlike std's hasher.
    let hash = fnv1a(scope.as_bytes()) as u32;
    let half = i32::from_ne_bytes(hash.to_ne_bytes());
    (PG_KEY.0, if half == PG_KEY.1 { half ^ 1 } else { half })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn mysql_name_sql(scope: &str) -> String {
    // A quoted literal when plain, else a hex literal: no escaping that depends on sql_mode.
    let scope = if scope.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("'{scope}'")
    } else {
        let hex: String = scope.bytes().map(|b| format!("{b:02x}")).collect();
        format!("X'{hex}'")
    };
    format!("CONCAT('upgrader.', LEFT(DATABASE(), 22), '.', MD5(CONCAT(DATABASE(), '/', {scope})))")
}

/// `<canonical path>.lock`: the path with symlinks and `..` resolved, made absolute (for a file
/// that does not exist yet, its directory's canonical path and its name).
fn sqlite_lock_file(database: &Path, scope: &str) -> Result<PathBuf, Error> {
    let canonical = match database.canonicalize() {
        Ok(path) => path,
        Err(_) => {
            let dir = match database.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let dir = dir.canonicalize().map_err(|source| Error::Io {
                doing: "cannot resolve the directory of",
                path: database.display().to_string(),
                source,
            })?;
            dir.join(database.file_name().unwrap_or_default())
        }
    };
    let mut name = canonical.into_os_string();
    name.push(".lock");
    if scope != DEFAULT_SCOPE {
        let plain: String = scope
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        name.push("-");
        name.push(&plain);
        if plain != scope {
            name.push(format!("-{:016x}", fnv1a(scope.as_bytes())));
        }
    }
    Ok(PathBuf::from(name))
}

/// A held lock; give it back with [`RunLock::release`] (dropping it releases the SQLite lock, and
/// closing the connection releases the others).
#[derive(Debug)]
pub(crate) enum RunLock {
    File(File),
    Session(LockId),
}

/// Who this process is, for the lock and the history: `pid 1234 on host`.
pub(crate) fn runner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown host".into());
    format!("pid {} on {}", std::process::id(), host.trim())
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
        let start = Instant::now();
        let mut told = false;
        let id = LockId::of(url, scope)?;
        let file = match &id {
            LockId::Sqlite { file: path } => Some(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(|source| Error::Io {
                        doing: "cannot open the lock file",
                        path: path.display().to_string(),
                        source,
                    })?,
            ),
            _ => None,
        };
        loop {
            let taken = match &file {
                Some(file) => match file.try_lock() {
                    Ok(()) => true,
                    Err(std::fs::TryLockError::WouldBlock) => false,
                    Err(std::fs::TryLockError::Error(source)) => {
                        let path = match &id {
                            LockId::Sqlite { file } => file.display().to_string(),
                            _ => String::new(),
                        };
                        return Err(Error::Io {
                            doing: "cannot lock",
                            path,
                            source,
                        });
                    }
                },
                None => try_session_lock(conn, &id)?,
            };
            if taken {
                return Ok(match file {
                    Some(mut file) => {
                        // Say who holds it, for the runners that wait.
                        let _ = file.set_len(0);
                        let _ = file.rewind();
                        let _ = writeln!(
                            file,
                            "{} since {} UTC",
                            runner(),
                            crate::history::now().format("%Y-%m-%d %H:%M:%S")
                        );
                        let _ = file.flush();
                        RunLock::File(file)
                    }
                    None => RunLock::Session(id),
                });
            }
            if !told {
                let holder = holder(conn, &id, file.as_ref());
                ui.waiting_for_lock(holder.as_deref());
                told = true;
            }
            if start.elapsed() >= timeout {
                return Err(Error::LockTimeout {
                    holder: holder(conn, &id, file.as_ref()),
                    waited: timeout,
                });
            }
            std::thread::sleep(POLL.min(timeout.saturating_sub(start.elapsed())));
        }
    }

    /// Gives the lock back.
    pub(crate) fn release(self, conn: &mut AnyConnection) -> Result<(), Error> {
        match self {
            RunLock::File(file) => {
                let _ = file.set_len(0);
                file.unlock().map_err(|source| Error::Io {
                    doing: "cannot unlock",
                    path: "the lock file".into(),
                    source,
                })
            }
            RunLock::Session(id) => conn
                .query_i64(&id.release_sql())
                .map(|_| ())
                .map_err(Error::db("releasing the upgrade lock")),
        }
    }
}

/// Who holds the lock of `url`'s database for `scope` right now, when another runner does.
/// Takes nothing.
pub(crate) fn held_by_other(url: &DatabaseUrl, scope: &str, conn: &mut AnyConnection) -> Option<String> {
    let id = LockId::of(url, scope).ok()?;
    let held = match &id {
        LockId::Sqlite { file: path } => {
            let file = OpenOptions::new().read(true).write(true).open(path).ok()?;
            match file.try_lock() {
                Ok(()) => {
                    let _ = file.unlock();
                    false
                }
                Err(_) => {
                    return holder(conn, &id, Some(&file)).or_else(|| Some("another runner".into()));
                }
            }
        }
        LockId::Postgres { key } => {
            let sql = format!(
                "SELECT COUNT(*) AS value FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND classid = {} AND objid = {} AND objsubid = 2 AND pid <> pg_backend_pid() \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                key.0, key.1
            );
            conn.query_i64(&sql).ok().flatten().unwrap_or(0) > 0
        }
        LockId::Mysql { name_sql } => {
            let sql = format!(
                "SELECT COUNT(*) AS value FROM (SELECT IS_USED_LOCK({name_sql}) AS holder) h \
                 WHERE h.holder IS NOT NULL AND h.holder <> CONNECTION_ID()"
            );
            conn.query_i64(&sql).ok().flatten().unwrap_or(0) > 0
        }
    };
    held.then(|| holder(conn, &id, None).unwrap_or_else(|| "another runner".into()))
}

fn try_session_lock(conn: &mut AnyConnection, id: &LockId) -> Result<bool, Error> {
    match conn
        .query_i64(&id.try_sql())
        .map_err(Error::db("taking the upgrade lock"))?
    {
        Some(got) => Ok(got == 1),
        // GET_LOCK answers NULL on an error: that is not "someone else has it".
        None => Err(Error::Database {
            doing: "taking the upgrade lock".into(),
            cause: diesel::result::Error::DeserializationError(
                "the server answered NULL instead of whether the lock was taken".into(),
            ),
        }),
    }
}

/// Who holds the lock, when the backend can tell.
fn holder(conn: &mut AnyConnection, id: &LockId, file: Option<&File>) -> Option<String> {
    if let Some(mut file) = file {
        let mut text = String::new();
        file.rewind().ok()?;
        file.read_to_string(&mut text).ok()?;
        let text = text.trim();
        return (!text.is_empty()).then(|| text.to_owned());
    }
    let sql = match id {
        LockId::Postgres { key } => format!(
            "SELECT CONCAT('PostgreSQL backend ', a.pid, ' (', COALESCE(NULLIF(a.application_name, ''), 'unnamed client'), \
             COALESCE(' from ' || host(a.client_addr), ''), ') since ', to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ' UTC') AS value \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {} AND l.objid = {} AND l.objsubid = 2 \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            key.0, key.1
        ),
        LockId::Mysql { name_sql } => format!(
            "SELECT CONCAT('connection ', p.ID, ' (', p.USER, '@', p.HOST, '), connected for ', p.TIME, 's') AS value \
             FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK({name_sql})"
        ),
        LockId::Sqlite { .. } => return None,
    };
    conn.query_text(&sql).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_key_is_the_documented_one_for_the_default_scope() {
        assert_eq!(postgres_key(DEFAULT_SCOPE), (1970300786, 1633969522));
        let other = postgres_key("upgrade_v2");
        assert_eq!(other.0, PG_KEY.0);
        assert_ne!(other, PG_KEY);
        assert_eq!(other, postgres_key("upgrade_v2"), "stable");
    }

    #[test]
    fn mysql_name_takes_the_scope_in_the_hash() {
        assert_eq!(
            mysql_name_sql(DEFAULT_SCOPE),
            "CONCAT('upgrader.', LEFT(DATABASE(), 22), '.', MD5(CONCAT(DATABASE(), '/', 'upgrade')))"
        );
        assert!(mysql_name_sql("it's").contains("X'69742773'"));
    }

    #[test]
    fn one_sqlite_file_under_several_names_is_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.db");
        std::fs::write(&real, "").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let lock = sqlite_lock_file(&real, DEFAULT_SCOPE).unwrap();
        assert_eq!(lock.file_name().unwrap(), "real.db.lock");
        for name in [link, dir.path().join("sub/../real.db")] {
            assert_eq!(
                sqlite_lock_file(&name, DEFAULT_SCOPE).unwrap(),
                lock,
                "{}",
                name.display()
            );
        }
        // A file that does not exist yet: its directory's canonical path.
        let missing = dir.path().join("sub/../new.db");
        assert_eq!(
            sqlite_lock_file(&missing, DEFAULT_SCOPE).unwrap(),
            real.canonicalize().unwrap().with_file_name("new.db.lock")
        );
        let scoped = sqlite_lock_file(&real, "upgrade_v2").unwrap();
        assert_eq!(scoped.file_name().unwrap(), "real.db.lock-upgrade_v2");
        let odd = sqlite_lock_file(&real, "a/b").unwrap();
        assert!(odd.to_str().unwrap().contains(".lock-a_b-"), "{}", odd.display());
    }
}
