//! The engine's typed errors.

use std::fmt;
use std::time::Duration;

use crate::blocked::Blocked;
use crate::connection::Backend;
use crate::engine::RunReport;

/// Everything that can go wrong in the engine. Each message is one line; [`Error::hint`] says what
/// to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL cannot be read.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, passwords redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
        /// What to write instead.
        hint: String,
    },
    /// The database cannot be reached.
    #[error("cannot connect to {backend} database {url}: {reason}")]
    Connect {
        /// The URL, passwords redacted.
        url: String,
        /// The backend the URL names.
        backend: Backend,
        /// What the driver said, scrubbed of the URL's secrets.
        reason: String,
    },
    /// The URL names a backend this build of the engine does not include (its Cargo feature is
    /// off).
    #[error("cannot connect to {backend} database {url}: this program was built without {backend} support")]
    BackendNotCompiled {
        /// The URL, passwords redacted.
        url: String,
        /// The backend the URL names.
        backend: Backend,
    },
    /// A query of the engine's own failed.
    #[error("database error while {doing}: {reason}")]
    Database {
        /// What the engine was doing.
        doing: String,
        /// What the database said.
        reason: String,
    },
    /// An upgrade id does not follow the naming rules.
    #[error("invalid upgrade id: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two upgrades have the same id.
    #[error("upgrade `{id}` is registered twice ({first} and {second})")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where the first one is.
        first: String,
        /// Where the second one is.
        second: String,
    },
    /// An upgrade depends on an id no linked upgrade has.
    #[error("upgrade `{upgrade}` depends on `{dependency}`, which is not a known upgrade")]
    UnknownDependency {
        /// The upgrade that names the dependency.
        upgrade: String,
        /// The id nothing has.
        dependency: String,
    },
    /// An active upgrade depends on an upgrade of a package the configuration leaves out.
    #[error("upgrade `{upgrade}` depends on `{dependency}`, whose package `{package}` is not active")]
    InactiveDependency {
        /// The active upgrade.
        upgrade: String,
        /// The inactive dependency.
        dependency: String,
        /// The dependency's package (module).
        package: String,
    },
    /// The configuration names a package no linked upgrade belongs to.
    #[error("package `{package}` is listed as active but no linked upgrade belongs to it")]
    UnknownPackage {
        /// The package.
        package: String,
    },
    /// The upgrades depend on each other in a circle.
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// The upgrades on the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// Several problems in the upgrade graph.
    #[error("{} problems in the upgrade graph: {}", problems.len(), problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Graph {
        /// Each problem.
        problems: Vec<Error>,
    },
    /// The binary links no upgrade at all: its module crates were dropped by the linker, or never
    /// named. Every database answer would be wrong (everything recorded would look unknown).
    #[error("no upgrade is linked into this program, so it cannot tell what any database needs")]
    NothingLinked,
    /// A statement gave up waiting: for a lock another session holds, or past the statement
    /// timeout.
    #[error("{doing}: {blocked}")]
    Blocked {
        /// What the engine was doing.
        doing: String,
        /// How long it waited, and who holds the lock.
        blocked: Box<Blocked>,
    },
    /// An id given on the command line is not a known upgrade.
    #[error("`{id}` is not a known upgrade")]
    UnknownUpgrade {
        /// The id.
        id: String,
    },
    /// The history's own tables could not be created or updated.
    #[error("cannot set up the history tables: {reason}")]
    Migration {
        /// What failed.
        reason: String,
    },
    /// The history exists but cannot be read (a failed query, a row without an id): it is never
    /// read as empty.
    #[error("cannot read the history table `{table}`")]
    HistoryUnreadable {
        /// The table.
        table: String,
        /// What failed.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A table in the place of the history is not one the engine can read or adopt.
    #[error("table `{table}` is not an upgrade history: {reason} (its columns: {})", if columns.is_empty() { "none".to_owned() } else { columns.join(", ") })]
    ForeignHistoryTable {
        /// The table.
        table: String,
        /// Its columns, in order.
        columns: Vec<String>,
        /// What makes it not a history.
        reason: String,
    },
    /// The name chosen for the history table cannot be one.
    #[error("invalid history table name `{name}`: {reason}")]
    InvalidHistoryTable {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Some pre-run checks failed; nothing was applied.
    #[error("{} pre-run check(s) failed, nothing was applied: {}", failures.len(), CheckFailure::list(failures))]
    PreChecksFailed {
        /// Every failed check.
        failures: Vec<CheckFailure>,
    },
    /// An upgrade failed; the upgrades before it stay applied.
    #[error("upgrade `{id}` failed: {reason} ({} applied before it{})", report.applied.len(), if *rolled_back { ", its own changes were rolled back" } else { "" })]
    UpgradeFailed {
        /// The failed upgrade.
        id: String,
        /// Its error, or its panic message.
        reason: String,
        /// Whether its changes were rolled back (true where the backend has transactional DDL).
        rolled_back: bool,
        /// What the run did before the failure.
        report: Box<RunReport>,
    },
    /// Every upgrade was applied, but some post-run checks failed.
    #[error("all {} upgrade(s) applied, but {} post-run check(s) failed: {}", report.applied.len(), failures.len(), CheckFailure::list(failures))]
    PostChecksFailed {
        /// Every failed check.
        failures: Vec<CheckFailure>,
        /// What the run did.
        report: Box<RunReport>,
    },
    /// Another runner held the lock for longer than the timeout.
    #[error("another runner holds the upgrade lock{} and did not release it within {}s", holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default(), waited.as_secs())]
    LockTimeout {
        /// Who holds it, when the backend can tell.
        holder: Option<String>,
        /// How long this runner waited.
        waited: Duration,
    },
    /// Upgrades started and never finished (MySQL/MariaDB, where DDL cannot be rolled back).
    #[error("{} upgrade(s) were interrupted and need a decision: {}", interrupted.len(), interrupted.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; "))]
    Interrupted {
        /// The interrupted upgrades.
        interrupted: Vec<crate::history::InProgress>,
    },
    /// The operator asked for something the history does not allow.
    #[error("{reason}")]
    Refused {
        /// Why.
        reason: String,
        /// What to do instead.
        hint: String,
    },
    /// A file could not be read or written (the cause is the error's source).
    #[error("{doing} {path}")]
    Io {
        /// What the engine was doing.
        doing: &'static str,
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    /// What the operator can do next, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::InvalidUrl { hint, .. } => hint.clone(),
            Error::Connect {
                backend: Backend::Sqlite,
                ..
            } => "check that the path names the application's SQLite database file, and its permissions".into(),
            Error::BackendNotCompiled { backend, .. } => format!(
                "turn on the Cargo feature `{}` of `upgrader-core` (`upgrader-cli` turns on all three by default), and build again",
                backend.feature()
            ),
            Error::Connect { .. } => {
                "check that the server is running, and the host, port, user and database in the URL".into()
            }
            Error::UnknownDependency { .. } => {
                "link the crate that provides it, or fix the name in `depends_on`".into()
            }
            Error::InactiveDependency { package, .. } => {
                format!(
                    "add `{package}` to `packages` in upgrader.toml, or deactivate the dependent package too"
                )
            }
            Error::UnknownPackage { .. } => {
                "fix `packages` in upgrader.toml, or link the crate that provides it".into()
            }
            Error::Cycle { .. } => "remove one of these dependencies".into(),
            Error::DuplicateId { .. } => "rename one of them; ids are unique across all modules".into(),
            Error::NothingLinked => {
                "name every crate that holds upgrades in the binary (`use my_module as _;`), or the linker drops their registrations"
                    .into()
            }
            Error::UnknownUpgrade { .. } => {
                "`upgrader show pending` and `upgrader show applied` list the known ids".into()
            }
            Error::HistoryUnreadable { .. } => {
                "check that the database user may read that table, and what it holds".into()
            }
            Error::ForeignHistoryTable { .. } => {
                "the engine leaves that table alone: choose another name for its history (the `history_table` setting)".into()
            }
            Error::InvalidHistoryTable { .. } => format!(
                "use lowercase letters, digits and `_`, not starting with a digit, at most {} characters",
                crate::history::HistoryTable::MAX_LEN
            ),
            Error::PreChecksFailed { .. } => "fix what the checks report and run again".into(),
            Error::UpgradeFailed {
                rolled_back: true, ..
            } => "fix the cause and run again: the run resumes at the failed upgrade".into(),
            Error::UpgradeFailed { id, .. } => format!(
                "its DDL may be partly applied: inspect the database, then `upgrader resolve {id} --retry` or `--mark-applied`"
            ),
            Error::PostChecksFailed { .. } => {
                "the upgrades are recorded as applied; inspect what the checks report".into()
            }
            Error::Blocked { blocked, .. } => blocked.hint(),
            Error::LockTimeout { .. } => {
                "wait for the other runner to finish, or raise --lock-timeout".into()
            }
            Error::Interrupted { interrupted } => {
                let id = interrupted.first().map_or("<id>", |i| i.upgrade.as_str());
                format!(
                    "inspect the database, then `upgrader resolve {id} --retry` (run it again) or `upgrader resolve {id} --mark-applied` (it did finish)"
                )
            }
            Error::Refused { hint, .. } => hint.clone(),
            Error::Graph { problems } => return problems.iter().find_map(Error::hint),
            Error::Io { .. } => "check the path and its permissions".into(),
            _ => return None,
        })
    }

    /// For a failed run, what it did before failing.
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            Error::UpgradeFailed { report, .. } | Error::PostChecksFailed { report, .. } => Some(report),
            _ => None,
        }
    }

    /// A history table that could not be read: [`Error::Blocked`] when the read gave up waiting
    /// for a lock another session holds (so the holder can be named), else
    /// [`Error::HistoryUnreadable`].
    pub(crate) fn unreadable(table: impl Into<String>, cause: diesel::result::Error) -> Error {
        let table = table.into();
        match Blocked::from_message(&crate::connection::one_line(&cause.to_string())) {
            Some(blocked) => Error::Blocked {
                doing: format!("reading the history table `{table}`"),
                blocked: Box::new(blocked),
            },
            None => Error::HistoryUnreadable {
                table,
                cause: Box::new(cause),
            },
        }
    }

    pub(crate) fn db(doing: impl Into<String>) -> impl FnOnce(diesel::result::Error) -> Error {
        let doing = doing.into();
        move |e| {
            let reason = crate::connection::one_line(&e.to_string());
            match Blocked::from_message(&reason) {
                Some(blocked) => Error::Blocked {
                    doing,
                    blocked: Box::new(blocked),
                },
                None => Error::Database { doing, reason },
            }
        }
    }
}

/// A check that failed: a `pre_upgrade`/`post_upgrade` of an upgrade, or a global run check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// The upgrade the check belongs to, or the global check's name.
    pub check: String,
    /// What it said.
    pub reason: String,
}

impl CheckFailure {
    fn list(failures: &[CheckFailure]) -> String {
        failures
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.reason)
    }
}

impl Error {
    /// One problem as itself, several as [`Error::Graph`].
    pub(crate) fn graph(mut problems: Vec<Error>) -> Error {
        if problems.len() == 1 {
            problems.remove(0)
        } else {
            Error::Graph { problems }
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Error::db("writing the history")(e)
    }
}
