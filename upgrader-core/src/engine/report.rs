//! What the engine's calls return, and how `run` is asked to behave.

use std::time::Duration;

use crate::error::{CheckFailure, Error};
use crate::history::{AppliedRecord, InProgress};
use crate::upgrade::Upgrade;

/// How `run` behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// How long to wait for another runner's lock.
    pub lock_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            lock_timeout: Duration::from_secs(300),
        }
    }
}

impl RunOptions {
    /// Options with this lock timeout.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }
}

/// An upgrade a run applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedUpgrade {
    /// Its id.
    pub id: String,
    /// How long it took.
    pub duration: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// The upgrades applied, in order.
    pub applied: Vec<AppliedUpgrade>,
}

impl RunReport {
    /// The ids applied, in order.
    pub fn applied_ids(&self) -> Vec<&str> {
        self.applied.iter().map(|a| a.id.as_str()).collect()
    }
}

/// An upgrade the history does not have, but counts as applied because a later upgrade that
/// depends on it is recorded (an old database may predate the history of some upgrades).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implied {
    /// The upgrade missing from the history.
    pub id: String,
    /// A recorded upgrade that depends on it.
    pub by: String,
}

/// An applied upgrade whose code changed since it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The upgrade.
    pub id: String,
    /// The fingerprint recorded when it was applied.
    pub recorded: String,
    /// The fingerprint of the code linked now.
    pub current: String,
}

/// The state of a database against the linked upgrades.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Status {
    /// The history (see [`Engine::applied`](super::Engine::applied) for its order).
    pub applied: Vec<AppliedRecord>,
    /// Upgrades to run, in run order.
    pub pending: Vec<Upgrade>,
    /// Upgrades counted as applied through a recorded dependent (gaps in the history).
    pub implied: Vec<Implied>,
    /// History rows no linked upgrade has.
    pub ghosts: Vec<AppliedRecord>,
    /// Applied upgrades edited since.
    pub edited: Vec<Edited>,
    /// Upgrades that started and never finished.
    pub interrupted: Vec<InProgress>,
    /// Upgrades another runner is applying right now (it holds the lock), with who it is.
    pub running: Vec<(InProgress, String)>,
}

impl Status {
    /// Why a run (or `populate`) must not start on this state: upgrades that were interrupted,
    /// whose changes nobody knows until the operator settles them ([`Error::Interrupted`]); else
    /// applied upgrades whose code changed since, so the database did not run the code linked
    /// now ([`Error::Edited`]).
    pub fn refusal(&self) -> Option<Error> {
        if !self.interrupted.is_empty() {
            return Some(Error::Interrupted {
                interrupted: self.interrupted.clone(),
            });
        }
        (!self.edited.is_empty()).then(|| Error::Edited {
            edited: super::EditedUpgrade::all_of(self),
        })
    }
}

/// What `check` found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CheckReport {
    /// The database's state.
    pub status: Status,
    /// Each pending upgrade's estimate (`None` when it has none), in run order.
    pub estimates: Vec<(String, Option<Duration>)>,
    /// Pre-run checks and `pre_upgrade`s that failed.
    pub failures: Vec<CheckFailure>,
}

impl CheckReport {
    /// The sum of the pending upgrades' estimates.
    pub fn total_estimate(&self) -> Duration {
        total_estimate(&self.estimates)
    }

    /// Whether anything is wrong (warnings aside): a failed check, an interrupted upgrade, or an
    /// applied upgrade edited since (a run would refuse: [`Status::refusal`]).
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty() && self.status.refusal().is_none()
    }
}

/// What a run would apply: [`Engine::preview_run`](super::Engine::preview_run), which
/// [`Engine::run_previewed`](super::Engine::run_previewed) then runs.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunPreview {
    /// The database's state.
    pub status: Status,
    /// Each pending upgrade's estimate (`None` when it has none, or it failed), in run order.
    pub estimates: Vec<(String, Option<Duration>)>,
}

impl RunPreview {
    /// Why the run would refuse to start ([`Status::refusal`]): show the plan, but do not ask
    /// to apply it.
    pub fn refusal(&self) -> Option<Error> {
        self.status.refusal()
    }

    /// Whether the run has nothing to apply.
    pub fn is_up_to_date(&self) -> bool {
        self.status.pending.is_empty()
    }

    /// The sum of the pending upgrades' estimates.
    pub fn total_estimate(&self) -> Duration {
        total_estimate(&self.estimates)
    }
}

/// The sum of the estimates [`Engine::estimates`](super::Engine::estimates) returns (those without one count as nothing).
pub fn total_estimate(estimates: &[(String, Option<Duration>)]) -> Duration {
    estimates.iter().filter_map(|(_, e)| *e).sum()
}
