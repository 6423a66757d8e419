//! What a run tells its [`Interaction`](crate::Interaction) beyond questions, logs and progress:
//! the plan it is about to apply, and the warnings upgrades give (kept in the
//! [`RunReport`](crate::RunReport)).

use std::time::Duration;

/// One upgrade of the plan a run is about to apply ([`Interaction::run_planned`](crate::Interaction::run_planned)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlannedUpgrade {
    /// Its id.
    pub id: String,
    /// Its estimate, as computed before the run ([`Engine::preview_run`](crate::Engine::preview_run)):
    /// `None` when it has none, when it failed, or when the run computed no estimates
    /// ([`Engine::run`](crate::Engine::run) does not).
    pub estimate: Option<Duration>,
}

impl PlannedUpgrade {
    /// The upgrade `id` with `estimate`.
    pub fn new(id: impl Into<String>, estimate: Option<Duration>) -> Self {
        PlannedUpgrade {
            id: id.into(),
            estimate,
        }
    }
}

/// A warning an upgrade (or a check) gave with [`Context::warn`](crate::Context::warn): something
/// the operator should know that did not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The upgrade (or check) that warned.
    pub upgrade: String,
    /// What it said.
    pub message: String,
}
