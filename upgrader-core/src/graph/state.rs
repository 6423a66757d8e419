//! Where each upgrade stands in a database's history, one word per upgrade: what `show graph`
//! marks and `explain` says.

use std::collections::HashMap;
use std::fmt;

use crate::engine::Status;

/// Where an upgrade stands in a database's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpgradeState {
    /// Recorded, with the code linked now (or without a recorded fingerprint to compare).
    Applied,
    /// Recorded, but its code changed since: the recorded fingerprint differs.
    Edited,
    /// Not recorded, but counted as applied because a recorded upgrade depends on it (a gap).
    Implied,
    /// To run.
    Pending,
    /// Started and never finished, or failed where its changes could not be rolled back.
    Interrupted,
    /// Being applied by another runner right now (it holds the lock).
    Running,
    /// A history row no linked upgrade has.
    NotLinked,
}

impl UpgradeState {
    /// The state as one word (`snake_case`), as the JSON outputs give it.
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeState::Applied => "applied",
            UpgradeState::Edited => "edited",
            UpgradeState::Implied => "implied",
            UpgradeState::Pending => "pending",
            UpgradeState::Interrupted => "interrupted",
            UpgradeState::Running => "running",
            UpgradeState::NotLinked => "not_linked",
        }
    }

    /// Whether the database counts the upgrade as applied (applied, edited or implied).
    pub fn is_applied(self) -> bool {
        matches!(
            self,
            UpgradeState::Applied | UpgradeState::Edited | UpgradeState::Implied
        )
    }

    /// Whether a run still has to apply it (pending, interrupted or running).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            UpgradeState::Pending | UpgradeState::Interrupted | UpgradeState::Running
        )
    }
}

impl fmt::Display for UpgradeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpgradeState::NotLinked => "not linked",
            other => other.as_str(),
        })
    }
}

/// Each upgrade's state, looked up from a [`Status`] ([`Engine::status`](crate::Engine::status)).
#[derive(Debug, Clone, Default)]
pub struct States {
    by_id: HashMap<String, UpgradeState>,
}

impl States {
    /// The states a database's status gives: every active upgrade, and every history row.
    pub fn new(status: &Status) -> States {
        let mut by_id = HashMap::new();
        for upgrade in &status.pending {
            by_id.insert(upgrade.id().to_owned(), UpgradeState::Pending);
        }
        for implied in &status.implied {
            by_id.insert(implied.id.clone(), UpgradeState::Implied);
        }
        for record in &status.applied {
            by_id.insert(record.upgrade.clone(), UpgradeState::Applied);
        }
        for edited in &status.edited {
            by_id.insert(edited.id.clone(), UpgradeState::Edited);
        }
        for ghost in &status.ghosts {
            by_id.insert(ghost.upgrade.clone(), UpgradeState::NotLinked);
        }
        // A start mark is not a history row: these upgrades are pending too, and say more.
        for interrupted in &status.interrupted {
            by_id.insert(interrupted.upgrade.clone(), UpgradeState::Interrupted);
        }
        for (running, _) in &status.running {
            by_id.insert(running.upgrade.clone(), UpgradeState::Running);
        }
        States { by_id }
    }

    /// The state of the upgrade `id`; `None` for an id that is neither active nor in the history.
    pub fn of(&self, id: &str) -> Option<UpgradeState> {
        self.by_id.get(id).copied()
    }
}
