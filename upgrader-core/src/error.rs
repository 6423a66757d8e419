//! The engine's typed errors.

use std::fmt;
use std::time::Duration;

use crate::blocked::Blocked;
use crate::connection::Backend;
use crate::engine::RunReport;

/// Everything that can go wrong in the engine.
///
/// A message (`Display`) is one line of its own, and speaks of the engine, never of a program's
/// command line: what to do about an error is for the program to say, from the variant and its
/// fields (each variant's documentation says what they mean). Where a cause is another error
/// (what the database said), it is the error's [`source`](std::error::Error::source), not part of
/// the message: print the whole chain (`anyhow`'s `{:#}` joins it with ": "), and collapse its
/// whitespace, as a driver's message can span lines.
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
        /// What to write instead: the URL forms that would be read (in URL terms, for the
        /// operator).
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
    /// The schema a PostgreSQL URL names (`?schema=`) does not exist in its database
    /// (`missing`), or the user has no `USAGE` privilege on it: it is never read as an empty
    /// database.
    #[error(
        "cannot connect to PostgreSQL database {url}: schema `{schema}` {}",
        if *missing { format!("does not exist in database `{database}`") }
        else { format!("of database `{database}` may not be used by this user (no USAGE privilege)") }
    )]
    UnusableSchema {
        /// The URL, passwords redacted.
        url: String,
        /// The schema.
        schema: String,
        /// The database the URL names.
        database: String,
        /// Whether the schema does not exist (else the user may not use it).
        missing: bool,
    },
    /// A query of the engine's own failed; what the database said is the error's source.
    #[error("database error while {doing}")]
    Database {
        /// What the engine was doing.
        doing: String,
        /// What the database (or diesel) said.
        #[source]
        cause: diesel::result::Error,
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
    /// An id asked for is not a known upgrade (the plan and the history list the known ones).
    #[error("`{id}` is not a known upgrade")]
    UnknownUpgrade {
        /// The id.
        id: String,
    },
    /// The history's own tables could not be created or updated; what failed is the error's
    /// source.
    #[error("cannot set up the history tables")]
    Migration {
        /// What failed: a migration's error, as diesel's migration harness gives it.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
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
    /// Another runner holds the upgrade lock, and the run was told not to wait for it
    /// ([`RunOptions::without_lock_wait`](crate::RunOptions::without_lock_wait)): nothing was
    /// changed.
    #[error("another runner holds the upgrade lock{}", holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    LockHeld {
        /// Who holds it, when the backend can tell.
        holder: Option<String>,
    },
    /// A fleet has no targets: its source lists none.
    #[error("the fleet is empty: {from} names no target")]
    EmptyFleet {
        /// Where the targets were looked for.
        from: String,
    },
    /// A fleet lists one target twice.
    #[error("{target} is listed twice in the fleet ({first} and {second})")]
    DuplicateTarget {
        /// The target, passwords redacted.
        target: String,
        /// Where it was listed first.
        first: String,
        /// Where it was listed again.
        second: String,
    },
    /// Two targets of a fleet are one database under two names.
    #[error("{first} and {second} are the same database")]
    SameDatabase {
        /// The first name, with where it was listed.
        first: String,
        /// The second name, with where it was listed.
        second: String,
    },
    /// A target of a fleet cannot be read (a malformed URL in a targets file, a schema name a
    /// URL cannot carry).
    #[error("invalid target at {origin}: {reason}")]
    InvalidTarget {
        /// Where it was listed: `tenants.txt:12`, `targets[3]`, `targets query row 5`.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The query (or schema pattern) that lists a fleet's targets failed.
    #[error("cannot list the fleet's targets from {database}: {reason}")]
    TargetsQuery {
        /// The control database, passwords redacted.
        database: String,
        /// What went wrong, scrubbed of the URL's secrets.
        reason: String,
    },
    /// Upgrades started and never finished (MySQL/MariaDB, where DDL cannot be rolled back).
    #[error("{} upgrade(s) were interrupted and need a decision: {}", interrupted.len(), interrupted.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; "))]
    Interrupted {
        /// The interrupted upgrades.
        interrupted: Vec<crate::history::InProgress>,
    },
    /// Applied upgrades whose code changed since they were applied (their checksums differ): the
    /// database did not run the code linked now, so nothing runs until the code is restored, or
    /// the edit is accepted as harmless. Nothing was changed.
    #[error("{} applied upgrade(s) were edited after they were applied, so the database did not run the code linked now; nothing was applied: {}", edited.len(), edited.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Edited {
        /// The edited upgrades, in the history's order.
        edited: Vec<crate::engine::EditedUpgrade>,
    },
    /// [`Engine::mark_applied`](crate::Engine::mark_applied) without `force`, for an upgrade
    /// whose dependencies are pending: mark them applied too, or pass `force` when the database
    /// really has them. Nothing was recorded.
    #[error("`{id}` depends on pending upgrade(s): {}", pending.join(", "))]
    PendingDependencies {
        /// The upgrade asked for.
        id: String,
        /// Its pending dependencies, not among those asked for.
        pending: Vec<String>,
    },
    /// [`Engine::mark_pending`](crate::Engine::mark_pending) without `with_dependents`, for an
    /// upgrade that counts as applied through recorded upgrades that depend on it: take them back
    /// too (`with_dependents`: they run again at the next run), or leave it applied. Nothing was
    /// changed.
    #[error("`{id}` counts as applied because recorded upgrade(s) depend on it: {}; taking it back alone would change nothing", dependents.join(", "))]
    RecordedDependents {
        /// The upgrade asked for.
        id: String,
        /// The recorded upgrades that depend on it, not among those asked for.
        dependents: Vec<String>,
    },
    /// [`Engine::resolve`](crate::Engine::resolve) for an upgrade that is not interrupted:
    /// [`Status::interrupted`](crate::Status::interrupted) lists those that are. Nothing was
    /// changed.
    #[error("`{id}` is not an interrupted upgrade")]
    NotInterrupted {
        /// The upgrade asked for.
        id: String,
    },
    /// [`Engine::accept`](crate::Engine::accept) for an upgrade the history does not record as
    /// applied (pending, or counted as applied only through a later one). Nothing was changed.
    #[error("`{id}` is not recorded as applied: there is no recorded checksum to accept a new one for")]
    NotApplied {
        /// The upgrade asked for.
        id: String,
    },
    /// [`Engine::accept`](crate::Engine::accept) for an applied upgrade whose code did not change
    /// since it was applied ([`Status::edited`](crate::Status::edited) lists those that did), or
    /// whose recorded checksum is unknown. Nothing was changed.
    #[error("`{id}` is not edited: {why}")]
    NotEdited {
        /// The upgrade asked for.
        id: String,
        /// Why there is nothing to accept.
        why: String,
    },
    /// [`Engine::accept`](crate::Engine::accept) without a reason: the journal keeps why an edit
    /// was accepted. Nothing was changed.
    #[error("accepting an edited upgrade needs a reason, and the one given is empty")]
    EmptyReason,
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
    /// A module asked for has no active upgrade (`known` lists the modules that have).
    #[error("no active upgrade belongs to the module `{module}`")]
    UnknownModule {
        /// The module asked for.
        module: String,
        /// The modules of the active upgrades.
        known: Vec<String>,
    },
    /// A run in one transaction (all or nothing, or a rehearsal) asked of a backend whose DDL
    /// commits on its own (MySQL/MariaDB). Nothing was read or changed.
    #[error(
        "{mode} needs DDL that rolls back with its transaction, and {backend} commits each DDL statement (CREATE, ALTER, DROP) on its own"
    )]
    NeedsTransactionalDdl {
        /// The run asked for.
        mode: crate::engine::RunMode,
        /// The database's backend.
        backend: Backend,
    },
    /// A run in one transaction would include upgrades declared to run outside a transaction.
    #[error("{mode} runs in one transaction, and {} run(s) outside one: {}", upgrades.len(), upgrades.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "))]
    OutsideTransaction {
        /// The run asked for.
        mode: crate::engine::RunMode,
        /// The upgrades declared `transaction = false`, in run order.
        upgrades: Vec<String>,
    },
    /// A run in one transaction stopped at a failure and was rolled back as a whole: nothing it
    /// did stays (for a rehearsal, nothing would have stayed anyway).
    #[error("{what} failed: {reason}; {}", if *rehearsal { "the rehearsal was rolled back" } else { "the whole run was rolled back, nothing was applied" })]
    RolledBack {
        /// What failed: an upgrade, the post-run checks, the commit.
        what: String,
        /// The failed upgrade, when an upgrade failed.
        upgrade: Option<String>,
        /// Its error, its panic message, or the checks' failures.
        reason: String,
        /// The upgrades applied before the failure, with how long each took: all rolled back.
        report: Box<RunReport>,
        /// Whether the run was a rehearsal.
        rehearsal: bool,
    },
}

impl Error {
    /// For a failed run, what it did before failing.
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            Error::UpgradeFailed { report, .. } | Error::PostChecksFailed { report, .. } => Some(report),
            _ => None,
        }
    }

    /// The partial report a failed run carries, to add to (the warnings given before the
    /// failure); unlike [`Error::report`], also the report of a run in one transaction that was
    /// rolled back.
    pub(crate) fn report_mut(&mut self) -> Option<&mut RunReport> {
        match self {
            Error::UpgradeFailed { report, .. }
            | Error::PostChecksFailed { report, .. }
            | Error::RolledBack { report, .. } => Some(report),
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
                None => Error::Database { doing, cause: e },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocked::Limit;

    /// The message and its causes, as a program prints them (`anyhow`'s `{:#}`).
    fn chain(err: &Error) -> String {
        crate::connection::with_causes(err)
    }

    fn in_progress(id: &str) -> crate::history::InProgress {
        crate::history::InProgress {
            upgrade: id.into(),
            started: chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .expect("a date"),
            runner: "42@host".into(),
            error: None,
        }
    }

    /// The core speaks in its own terms: a program's command names and flags are the program's
    /// to add (its hints), never part of an engine message.
    #[test]
    fn messages_name_no_command_line() {
        let id = || "accounts_2024_01_10_initial".to_owned();
        let errors = [
            Error::Connect {
                url: "postgres://app:***@db/app".into(),
                backend: Backend::Postgres,
                reason: "Connection refused".into(),
            },
            Error::UnusableSchema {
                url: "postgres://app:***@db/app?schema=tenant_9".into(),
                schema: "tenant_9".into(),
                database: "app".into(),
                missing: true,
            },
            Error::Database {
                doing: "taking the upgrade lock".into(),
                cause: diesel::result::Error::NotFound,
            },
            Error::Migration {
                cause: "table `upgrade` has no column `id`".into(),
            },
            Error::InactiveDependency {
                upgrade: id(),
                dependency: "records_2024_01_15_initial".into(),
                package: "records".into(),
            },
            Error::UnknownPackage {
                package: "billing".into(),
            },
            Error::NothingLinked,
            Error::Blocked {
                doing: "reading the history".into(),
                blocked: Box::new(Blocked::from_message("database is locked").expect("a lock wait")),
            },
            Error::UnknownUpgrade { id: id() },
            Error::ForeignHistoryTable {
                table: "upgrade".into(),
                columns: vec!["id".into()],
                reason: "it has no `upgrade` column".into(),
            },
            Error::PreChecksFailed {
                failures: vec![CheckFailure {
                    check: id(),
                    reason: "no".into(),
                }],
            },
            Error::PostChecksFailed {
                failures: Vec::new(),
                report: Box::default(),
            },
            Error::LockTimeout {
                holder: Some("connection 7".into()),
                waited: Duration::from_secs(300),
            },
            Error::LockHeld {
                holder: Some("connection 7".into()),
            },
            Error::EmptyFleet {
                from: "tenants.txt".into(),
            },
            Error::DuplicateTarget {
                target: "a.db".into(),
                first: "tenants.txt:1".into(),
                second: "tenants.txt:4".into(),
            },
            Error::SameDatabase {
                first: "a.db (tenants.txt:1)".into(),
                second: "./a.db (tenants.txt:4)".into(),
            },
            Error::InvalidTarget {
                origin: "tenants.txt:2".into(),
                reason: "unknown scheme".into(),
            },
            Error::TargetsQuery {
                database: "postgres://app@db/control".into(),
                reason: "relation \"tenants\" does not exist".into(),
            },
            Error::Interrupted {
                interrupted: vec![in_progress(&id())],
            },
            Error::PendingDependencies {
                id: id(),
                pending: vec!["records_2024_01_15_initial".into()],
            },
            Error::RecordedDependents {
                id: id(),
                dependents: vec!["accounts_2024_02_01_add_display_name".into()],
            },
            Error::NotInterrupted { id: id() },
            Error::Edited {
                edited: vec![crate::engine::EditedUpgrade {
                    id: id(),
                    recorded: "0123456789abcdef".into(),
                    current: "fedcba9876543210".into(),
                    applied: None,
                }],
            },
            Error::NotApplied { id: id() },
            Error::NotEdited {
                id: id(),
                why: "its code has the checksum recorded when it was applied".into(),
            },
            Error::EmptyReason,
        ];
        for err in &errors {
            let text = chain(err);
            for word in ["upgrader ", "--", "upgrader.toml", "`packages`"] {
                assert!(!text.contains(word), "{word:?} in {text:?}");
            }
            assert_eq!(text.lines().count(), 1, "{text:?}");
        }
    }

    // The cause was flattened into the message; it stays typed, as the error's source.
    #[test]
    fn database_and_migration_causes_are_sources() {
        let err = Error::db("reading the history")(diesel::result::Error::NotFound);
        assert_eq!(err.to_string(), "database error while reading the history");
        assert_eq!(
            chain(&err),
            "database error while reading the history: Record not found"
        );
        assert!(matches!(
            err,
            Error::Database {
                cause: diesel::result::Error::NotFound,
                ..
            }
        ));
        let err = Error::Migration {
            cause: "no such table".into(),
        };
        assert_eq!(chain(&err), "cannot set up the history tables: no such table");
    }

    // A lock wait is still recognised by what the database said, now that the cause stays typed.
    #[test]
    fn a_lock_wait_is_blocked_not_a_database_error() {
        let locked = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("database is locked".to_owned()),
        );
        let err = Error::db("writing the history")(locked);
        assert!(
            matches!(&err, Error::Blocked { blocked, .. } if blocked.limit == Limit::Wait),
            "{err:?}"
        );
    }
}
