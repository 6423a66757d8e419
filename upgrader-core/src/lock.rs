//! One runner at a time: a database-wide lock held while `run` applies.
//!
//! PostgreSQL: a session advisory lock. MySQL/MariaDB: `GET_LOCK`. SQLite: an exclusive `flock`
//! on `<database>.lock`. All three end with the process or its connection, so a runner killed
//! with `kill -9` never leaves the lock held.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::time::{Duration, Instant};

use crate::connection::AnyConnection;
use crate::context::Interaction;
use crate::error::Error;
use crate::url::DatabaseUrl;

/// The advisory lock key on PostgreSQL: two int4 halves, "upgr" and "ader".
const PG_KEY: (i32, i32) = (0x7570_6772, 0x6164_6572);
const MYSQL_NAME: &str = "LEFT(CONCAT('upgrader.', DATABASE()), 64)";
const POLL: Duration = Duration::from_millis(100);

/// A held lock; give it back with [`RunLock::release`] (dropping it releases the SQLite lock, and
/// closing the connection releases the others).
#[derive(Debug)]
pub(crate) enum RunLock {
    File(File),
    Session,
}

/// Who this process is, for the lock and the history: `pid 1234 on host`.
pub(crate) fn runner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown host".into());
    format!("pid {} on {}", std::process::id(), host.trim())
}

impl RunLock {
    /// Takes the lock, waiting up to `timeout` for another runner to release it.
    pub(crate) fn acquire(
        url: &DatabaseUrl,
        conn: &mut AnyConnection,
        timeout: Duration,
        ui: &mut dyn Interaction,
    ) -> Result<RunLock, Error> {
        let start = Instant::now();
        let mut told = false;
        let file = match url.sqlite_lock_path() {
            Some(path) => Some(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(|source| Error::Io {
                        doing: "cannot open the lock file",
                        path: path.display().to_string(),
                        source,
                    })?,
            ),
            None => None,
        };
        loop {
            let taken = match &file {
                Some(file) => match file.try_lock() {
                    Ok(()) => true,
                    Err(std::fs::TryLockError::WouldBlock) => false,
                    Err(std::fs::TryLockError::Error(source)) => {
                        return Err(Error::Io {
                            doing: "cannot lock",
                            path: url.sqlite_lock_path().unwrap_or_default().display().to_string(),
                            source,
                        });
                    }
                },
                None => try_session_lock(conn)?,
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
                    None => RunLock::Session,
                });
            }
            if !told {
                let holder = holder(conn, file.as_ref());
                ui.waiting_for_lock(holder.as_deref());
                told = true;
            }
            if start.elapsed() >= timeout {
                return Err(Error::LockTimeout {
                    holder: holder(conn, file.as_ref()),
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
            RunLock::Session => {
                let sql = match conn {
                    AnyConnection::Postgres(_) => format!(
                        "SELECT pg_advisory_unlock({}, {})::int::bigint AS value",
                        PG_KEY.0, PG_KEY.1
                    ),
                    _ => format!("SELECT RELEASE_LOCK({MYSQL_NAME}) AS value"),
                };
                conn.query_i64(&sql)
                    .map(|_| ())
                    .map_err(Error::db("releasing the upgrade lock"))
            }
        }
    }
}

/// Who holds the lock right now, when another runner does. Takes nothing.
pub(crate) fn held_by_other(url: &DatabaseUrl, conn: &mut AnyConnection) -> Option<String> {
    let held = match url.sqlite_lock_path() {
        Some(path) => {
            let file = OpenOptions::new().read(true).write(true).open(path).ok()?;
            match file.try_lock() {
                Ok(()) => {
                    let _ = file.unlock();
                    false
                }
                Err(_) => return holder(conn, Some(&file)).or_else(|| Some("another runner".into())),
            }
        }
        None => {
            let sql = match conn {
                AnyConnection::Postgres(_) => format!(
                    "SELECT COUNT(*) AS value FROM pg_locks WHERE locktype = 'advisory' AND granted \
                     AND classid = {} AND objid = {} AND objsubid = 2 AND pid <> pg_backend_pid() \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    PG_KEY.0, PG_KEY.1
                ),
                _ => format!(
                    "SELECT COUNT(*) AS value FROM (SELECT IS_USED_LOCK({MYSQL_NAME}) AS holder) h \
                     WHERE h.holder IS NOT NULL AND h.holder <> CONNECTION_ID()"
                ),
            };
            conn.query_i64(&sql).ok().flatten().unwrap_or(0) > 0
        }
    };
    held.then(|| holder(conn, None).unwrap_or_else(|| "another runner".into()))
}

fn try_session_lock(conn: &mut AnyConnection) -> Result<bool, Error> {
    let sql = match conn {
        AnyConnection::Postgres(_) => format!(
            "SELECT pg_try_advisory_lock({}, {})::int::bigint AS value",
            PG_KEY.0, PG_KEY.1
        ),
        AnyConnection::Mysql(_) => format!("SELECT GET_LOCK({MYSQL_NAME}, 0) AS value"),
        AnyConnection::Sqlite(_) => unreachable!("SQLite locks a file"),
    };
    let got = conn
        .query_i64(&sql)
        .map_err(Error::db("taking the upgrade lock"))?;
    Ok(got == Some(1))
}

/// Who holds the lock, when the backend can tell.
fn holder(conn: &mut AnyConnection, file: Option<&File>) -> Option<String> {
    if let Some(mut file) = file {
        let mut text = String::new();
        file.rewind().ok()?;
        file.read_to_string(&mut text).ok()?;
        let text = text.trim();
        return (!text.is_empty()).then(|| text.to_owned());
    }
    let sql = match conn {
        AnyConnection::Postgres(_) => format!(
            "SELECT CONCAT('PostgreSQL backend ', a.pid, ' (', COALESCE(NULLIF(a.application_name, ''), 'unnamed client'), \
             COALESCE(' from ' || host(a.client_addr), ''), ') since ', to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ' UTC') AS value \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {} AND l.objid = {} AND l.objsubid = 2 \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            PG_KEY.0, PG_KEY.1
        ),
        AnyConnection::Mysql(_) => format!(
            "SELECT CONCAT('connection ', p.ID, ' (', p.USER, '@', p.HOST, '), connected for ', p.TIME, 's') AS value \
             FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK({MYSQL_NAME})"
        ),
        AnyConnection::Sqlite(_) => return None,
    };
    conn.query_text(&sql).ok().flatten()
}
