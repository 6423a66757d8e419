//! What the engine's calls return, and how `run` is asked to behave.

use std::time::Duration;

use super::estimate::{DEFAULT_ESTIMATE, Estimate, Timings};
use super::window::StoppedAtWindow;
use super::{RunMode, RunTarget};
use crate::error::{CheckFailure, Error};
use crate::history::{AppliedRecord, Checkpoint, InProgress};
use crate::run_events::Warning;
use crate::upgrade::Upgrade;

/// How `run` behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// How long to wait for another runner's lock.
    pub lock_timeout: Duration,
    /// Which of the pending upgrades the run applies (default: all).
    pub target: RunTarget,
    /// How the run commits (default: upgrade by upgrade).
    pub mode: RunMode,
    /// The run's window: before each upgrade, if the time since the run started plus the
    /// upgrade's estimate would pass it, the run stops before that upgrade
    /// ([`RunReport::stopped`]). `None`: no limit.
    pub max_duration: Option<Duration>,
    /// Durations measured on another database, which the estimates use where they have one.
    pub timings: Timings,
    /// Whether the run waits for another runner's lock (up to `lock_timeout`), or returns
    /// [`Error::LockHeld`] at once, changing nothing (see [`RunOptions::without_lock_wait`]).
    pub wait_for_lock: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            lock_timeout: Duration::from_secs(300),
            target: RunTarget::default(),
            mode: RunMode::default(),
            max_duration: None,
            timings: Timings::default(),
            wait_for_lock: true,
        }
    }
}

impl RunOptions {
    /// Options with this lock timeout.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Options that do not wait for another runner's lock: when another runner holds it, the run
    /// returns [`Error::LockHeld`] at once, having changed nothing, so the caller can do
    /// something else and come back (a fleet does). The lock timeout still bounds how long the
    /// run's statements wait for locks before its first upgrade.
    pub fn without_lock_wait(mut self) -> Self {
        self.wait_for_lock = false;
        self
    }

    /// Options with this target: which of the pending upgrades the run applies.
    pub fn with_target(mut self, target: RunTarget) -> Self {
        self.target = target;
        self
    }

    /// Options with this mode: how the run commits.
    pub fn with_mode(mut self, mode: RunMode) -> Self {
        self.mode = mode;
        self
    }

    /// Options with this window (see [`RunOptions::max_duration`]).
    pub fn with_max_duration(mut self, window: Duration) -> Self {
        self.max_duration = Some(window);
        self
    }

    /// Options with these measured durations (see [`RunOptions::timings`]).
    pub fn with_timings(mut self, timings: Timings) -> Self {
        self.timings = timings;
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
    /// Set when the run stopped at its window ([`RunOptions::max_duration`]) before applying
    /// everything: what remains. What was applied stays recorded.
    pub stopped: Option<StoppedAtWindow>,
    /// The warnings upgrades and checks gave during the run ([`crate::Context::warn`]), in order.
    pub warnings: Vec<Warning>,
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
    /// Pending batched upgrades that committed batches: the next run resumes each after its
    /// checkpoint (they are not interrupted).
    pub checkpoints: Vec<Checkpoint>,
}

impl Status {
    /// The checkpoint a pending batched upgrade resumes at, if it has one.
    pub fn checkpoint(&self, id: &str) -> Option<&Checkpoint> {
        self.checkpoints.iter().find(|c| c.upgrade == id)
    }
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
    /// The sum of the pending upgrades' estimates (those without one count
    /// [`DEFAULT_ESTIMATE`]).
    pub fn total_estimate(&self) -> Duration {
        total_estimate(&self.estimates)
    }

    /// The pending upgrades' estimates with the durations `timings` measured beside them.
    pub fn expected(&self, timings: &Timings) -> Vec<Estimate> {
        Estimate::list(&self.estimates, timings)
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
    /// The database's state; its `pending` holds only the upgrades the options' target selects
    /// ([`RunTarget::select`]).
    pub status: Status,
    /// Each pending upgrade's estimate (`None` when it has none, or it failed), in run order.
    pub estimates: Vec<(String, Option<Duration>)>,
    /// The same with the options' measured durations beside them: what the run counts on.
    pub expected: Vec<Estimate>,
    /// Whether the pre-run checks and the pending upgrades' `pre_upgrade`s ran (there is
    /// something to apply, and nothing interrupted).
    pub checked: bool,
    /// The checks that ran, by name (a pre-run check's name, or the upgrade whose `pre_upgrade`
    /// it is), in the order they ran.
    pub checks: Vec<String>,
    /// The checks that failed: the run would apply nothing.
    pub check_failures: Vec<CheckFailure>,
    /// The warnings the checks gave ([`crate::Context::warn`]); the run's report starts with them.
    pub warnings: Vec<Warning>,
}

impl RunPreview {
    /// Why the run would refuse to start: upgrades are interrupted ([`Status::refusal`]), or
    /// checks failed ([`Error::PreChecksFailed`]). Do not ask to apply it.
    pub fn refusal(&self) -> Option<Error> {
        self.status.refusal().or_else(|| {
            (!self.check_failures.is_empty()).then(|| Error::PreChecksFailed {
                failures: self.check_failures.clone(),
            })
        })
    }

    /// Whether the run has nothing to apply.
    pub fn is_up_to_date(&self) -> bool {
        self.status.pending.is_empty()
    }

    /// What the run is expected to take: the measured durations where there are some, else the
    /// estimates ([`Estimate::expected`]).
    pub fn total_estimate(&self) -> Duration {
        Estimate::total(&self.expected)
    }
}

/// The sum of the estimates [`Engine::estimates`](super::Engine::estimates) returns (those without
/// one, or whose estimate failed, count [`DEFAULT_ESTIMATE`], as in the seed system).
pub fn total_estimate(estimates: &[(String, Option<Duration>)]) -> Duration {
    estimates.iter().map(|(_, e)| e.unwrap_or(DEFAULT_ESTIMATE)).sum()
}
