//! The run journal: one row per command that changed the history (`<history>_run`), and what
//! each did to each upgrade (`<history>_run_upgrade`), made by the history's third migration.
//!
//! A command's row is committed before its first write to the history and completed after its
//! last, outside the upgrades' transactions: an upgrade that fails and is rolled back leaves its
//! trace, and a runner killed half-way leaves a row that never finished. What a command did to an
//! upgrade is written in the same transaction as the history row it speaks of.

mod read;
mod write;

use chrono::NaiveDateTime;

pub(crate) use self::read::{attribute, read};
pub(crate) use self::write::{adopted, finish, note, note_sql, start};
use crate::error::Error;

/// Who runs the engine: the application's program and version, which only the application knows
/// ([`crate::Engine::with_actor`]). The journal adds the operating system's user, the host and
/// the process id when it records a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    program: String,
    version: Option<String>,
}

impl Actor {
    /// The program (as the operator types it, `my-app` or `my-app upgrader`) and its version.
    pub fn new(program: impl Into<String>, version: impl Into<String>) -> Actor {
        Actor {
            program: program.into(),
            version: Some(version.into()),
        }
    }

    /// The program's name.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Its version, when the application gave one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The operating system's user this process runs as (from the system's account database,
    /// not `$USER`, which cron and service managers may leave unset), when it can be told.
    pub fn os_user() -> Option<String> {
        whoami::username().ok()
    }

    /// The name of the host this process runs on, when it can be told.
    pub fn host() -> Option<String> {
        whoami::hostname().ok()
    }
}

impl Default for Actor {
    /// The running executable's file name, without a version (the application did not say).
    fn default() -> Actor {
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        Actor {
            program,
            version: None,
        }
    }
}

/// What kind of command a journal row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunKind {
    /// [`crate::Engine::run`].
    Run,
    /// [`crate::Engine::populate`].
    Populate,
    /// [`crate::Engine::mark_applied`] or [`crate::Engine::mark_pending`].
    Mark,
    /// [`crate::Engine::resolve`].
    Resolve,
    /// [`crate::Engine::accept`].
    Accept,
    /// The adoption of the seed system's history table, by the first command that wrote to it.
    Adopt,
}

impl RunKind {
    /// `run`, `populate`, `mark`, `resolve`, `accept` or `adopt`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Populate => "populate",
            RunKind::Mark => "mark",
            RunKind::Resolve => "resolve",
            RunKind::Accept => "accept",
            RunKind::Adopt => "adopt",
        }
    }
}

/// What a command did to one upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Ran it and recorded it.
    Applied,
    /// Recorded it as applied without running it.
    Recorded,
    /// Removed it from the history (pending again).
    Forgotten,
    /// Cleared its start mark.
    Cleared,
    /// Recorded its new checksum.
    Accepted,
    /// Found it in the seed system's table it adopted.
    Adopted,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Applied => "applied",
            Action::Recorded => "recorded",
            Action::Forgotten => "forgotten",
            Action::Cleared => "cleared",
            Action::Accepted => "accepted",
            Action::Adopted => "adopted",
        }
    }
}

/// How a journal row ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunOutcome {
    /// It finished and succeeded.
    Succeeded,
    /// It finished with an error (see [`RunEntry::error`]).
    Failed,
    /// It has no end: the process was killed, or lost its connection, before it could write one.
    DidNotFinish,
    /// It has no end yet: the runner holding the lock (named) is running it now.
    Running(String),
}

impl RunOutcome {
    /// `succeeded`, `failed`, `did_not_finish` or `running`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::DidNotFinish => "did_not_finish",
            RunOutcome::Running(_) => "running",
        }
    }
}

/// What a command did to one upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunUpgrade {
    /// The upgrade's id.
    pub upgrade: String,
    /// `applied`, `recorded`, `forgotten`, `cleared`, `accepted` or `adopted`.
    pub action: String,
    /// More, where there is more to say (an accepted upgrade's checksums).
    pub detail: Option<String>,
}

/// One row of the journal: a command that changed the history.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunEntry {
    /// The run id: 1 for the first, then counting up.
    pub id: i64,
    /// `run`, `populate`, `mark`, `resolve`, `accept` or `adopt` (see [`RunKind`]).
    pub kind: String,
    /// When it started (UTC).
    pub started: NaiveDateTime,
    /// When it finished (UTC), `None` when it did not (or not yet).
    pub finished: Option<NaiveDateTime>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The operating system's user that ran it.
    pub user: Option<String>,
    /// The host it ran on.
    pub host: Option<String>,
    /// Its process id.
    pub pid: Option<i64>,
    /// The program that ran it (see [`Actor`]).
    pub program: Option<String>,
    /// The program's version.
    pub program_version: Option<String>,
    /// What it did, in order.
    pub upgrades: Vec<RunUpgrade>,
    /// The upgrade that failed, when one did.
    pub failed_upgrade: Option<String>,
    /// Its error, when it failed.
    pub error: Option<String>,
    /// When an upgrade failed: whether its changes were rolled back (`false`: left interrupted).
    pub rolled_back: Option<bool>,
    /// How many warnings the upgrades gave.
    pub warnings: i64,
    /// The reason the operator gave (`accept`).
    pub reason: Option<String>,
}

impl RunEntry {
    /// The upgrades it applied or recorded as applied, in order.
    pub fn applied(&self) -> impl Iterator<Item = &str> {
        self.upgrades
            .iter()
            .filter(|u| u.action == Action::Applied.as_str() || u.action == Action::Recorded.as_str())
            .map(|u| u.upgrade.as_str())
    }
}

/// What the journal says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Journal {
    /// There is no journal: the history was set up by a version of the engine that kept none
    /// (`history` is true: the commands that wrote it were not recorded), or there is no history
    /// yet (`history` false: nothing was written). The next command that writes starts it.
    Absent {
        /// Whether the database has a history table.
        history: bool,
    },
    /// The journal, newest first.
    Kept {
        /// Its rows, newest first (as many as asked for).
        runs: Vec<RunEntry>,
    },
}

/// The journal row a command has open, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Open {
    /// No command is being recorded.
    #[default]
    Idle,
    /// A command is under way and has not written yet: its row is written before its first write.
    Armed,
    /// Its row is written: `id`, and the number of upgrades recorded so far.
    Started { id: i64, seq: i64 },
}

/// How a command ended, to complete its row.
#[derive(Debug, Clone, Default)]
pub(crate) struct Finish {
    pub(crate) failed_upgrade: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) rolled_back: Option<bool>,
    pub(crate) warnings: i64,
}

impl Finish {
    /// The end of a command that returned `result`.
    pub(crate) fn of<T>(result: &Result<T, Error>) -> Finish {
        let Err(error) = result else {
            return Finish::default();
        };
        match error {
            Error::UpgradeFailed {
                id,
                reason,
                rolled_back,
                ..
            } => Finish {
                failed_upgrade: Some(id.clone()),
                error: Some(reason.clone()),
                rolled_back: Some(*rolled_back),
                warnings: 0,
            },
            other => Finish {
                error: Some(chain(other)),
                ..Finish::default()
            },
        }
    }
}

/// An error with its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    crate::connection::one_line(&crate::connection::with_causes(error))
}
