//! Who blocks me: a statement that gave up waiting, for a lock another session holds or past the
//! statement timeout, says how long it waited and who holds the lock, where the database can tell.
//!
//! Each dialect finds the holders its own way (`Dialect::lock_holders`). PostgreSQL: `pg_locks`
//! and `pg_stat_activity`, the other sessions' granted locks on tables of this database,
//! strongest first. MySQL/MariaDB: the metadata locks when the server lists them (the
//! `METADATA_LOCK_INFO` plugin, or `performance_schema`), else the other connections to this
//! database and their transactions. SQLite keeps no such list; on Linux the kernel's
//! (`/proc/locks`) says which processes hold locks on the file.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::connection::AnyConnection;
use crate::dialect;
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
    /// A statement of an upgrade waited for a lock for the whole of the upgrade's own lock
    /// timeout (its `lock_timeout`, or the default for upgrades).
    Upgrade,
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

/// The messages of a lock wait or statement timeout, as the drivers pass them on, each dialect's
/// (the drivers keep no SQLSTATE or error number, so the server's message is all there is:
/// PostgreSQL and MySQL servers set to another language for their messages are not recognised).
/// Every dialect's are recognised whatever the backend: a message is what it says.
fn lock_messages() -> impl Iterator<Item = &'static str> {
    dialect::ALL
        .into_iter()
        .flat_map(|d| d.lock_messages().iter().copied())
}

/// See [`lock_messages`].
fn statement_messages() -> impl Iterator<Item = &'static str> {
    dialect::ALL
        .into_iter()
        .flat_map(|d| d.statement_messages().iter().copied())
}

impl Blocked {
    /// The wait a database error message tells of, if it is one.
    pub(crate) fn from_message(message: &str) -> Option<Blocked> {
        let lower = message.to_lowercase();
        let limit = if lock_messages().any(|m| lower.contains(m)) {
            Limit::Wait
        } else if statement_messages().any(|m| lower.contains(m)) {
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
        lock_messages().chain(statement_messages()).any(|m| lower == m)
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
        self.file = sqlite_file.map(|file| file.display().to_string());
        (self.holders, self.note) = conn.dialect().lock_holders(conn, sqlite_file);
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
            (Limit::Upgrade, Some(file)) => write!(
                f,
                "did not obtain a lock on the SQLite file {file} within the upgrade's lock timeout ({after}): another connection holds it"
            )?,
            (Limit::Upgrade, None) => write!(
                f,
                "did not obtain a lock within the upgrade's lock timeout ({after}): another session holds it"
            )?,
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

/// An upgrade's error (text), with who holds the lock when it gave up waiting for one for the
/// whole of its own lock timeout `wait` (see [`describe`]). Call it when no transaction is open.
pub(crate) fn describe_upgrade(
    reason: String,
    conn: &mut AnyConnection,
    sqlite_file: Option<&Path>,
    wait: Duration,
    configured: &Timeouts,
) -> String {
    let Some(mut blocked) = Blocked::from_message(&reason) else {
        return reason;
    };
    if blocked.limit == Limit::Wait {
        let session = configured.with_wait(wait);
        blocked.explain(conn, sqlite_file, &session, &session);
        blocked.limit = Limit::Upgrade;
    } else {
        blocked.explain(conn, sqlite_file, configured, configured);
    }
    if Blocked::is_bare(&reason) {
        blocked.to_string()
    } else {
        format!("{reason}: {blocked}")
    }
}

/// Whether an upgrade's error (text, as the database said it) is a statement that gave up
/// waiting for a lock: what `retries` tries again.
pub(crate) fn is_lock_wait(reason: &str) -> bool {
    Blocked::from_message(reason).is_some_and(|b| b.limit == Limit::Wait)
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
        b.limit = Limit::Upgrade;
        assert_eq!(
            b.to_string(),
            "did not obtain a lock on the SQLite file /srv/app.db within the upgrade's lock \
             timeout (1s): another connection holds it (SQLite cannot tell which process holds it)"
        );
        b.file = None;
        b.note = None;
        b.holders = vec!["PostgreSQL backend 42 (psql) holds AccessExclusiveLock on t".into()];
        assert_eq!(
            b.to_string(),
            "did not obtain a lock within the upgrade's lock timeout (1s): another session holds \
             it: PostgreSQL backend 42 (psql) holds AccessExclusiveLock on t"
        );
    }
}
