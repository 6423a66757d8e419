//! Everything the plan and a database's status say about one upgrade: what `explain` prints.

use std::collections::HashMap;

use super::Plan;
use super::state::{States, UpgradeState};
use crate::engine::{Edited, Status};
use crate::history::{AppliedRecord, InProgress};
use crate::upgrade::Upgrade;

/// One upgrade explained: where it stands, what it needs and what needs it. Its estimate is not
/// here: it runs against the database ([`Engine::estimates`](crate::Engine::estimates)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Explanation {
    /// The upgrade: its id, module, doc comment, source location and fingerprint.
    pub upgrade: Upgrade,
    /// Where it stands.
    pub state: UpgradeState,
    /// Its history row, when the history has one (applied or edited).
    pub record: Option<AppliedRecord>,
    /// When edited: the recorded fingerprint and the one linked now.
    pub edited: Option<Edited>,
    /// When implied: a recorded upgrade that depends on it.
    pub implied_by: Option<String>,
    /// When interrupted or running: its start mark.
    pub started: Option<InProgress>,
    /// When running: the runner that holds the lock.
    pub running_by: Option<String>,
    /// What it depends on directly, in run order.
    pub dependencies: Vec<Related>,
    /// Everything it depends on, directly or not, that is still to run, in run order.
    pub pending_dependencies: Vec<Related>,
    /// What depends on it directly, in run order.
    pub dependents: Vec<Related>,
    /// How many upgrades depend on it, directly or not.
    pub all_dependents: usize,
}

/// An upgrade related to the one explained, with its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Related {
    /// Its id.
    pub id: &'static str,
    /// Where it stands.
    pub state: UpgradeState,
}

impl Explanation {
    /// The upgrade `id` of `plan` in the database whose state is `status`; `None` when `id` is not
    /// one of the plan's upgrades.
    pub fn new(plan: &Plan, status: &Status, id: &str) -> Option<Explanation> {
        let upgrade = *plan.get(id)?;
        let states = States::new(status);
        let related = |id: &'static str| Related {
            id,
            state: states.of(id).unwrap_or(UpgradeState::Pending),
        };
        let position: HashMap<&str, usize> = plan
            .upgrades()
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id(), i))
            .collect();
        let in_run_order = |ids: &mut Vec<&'static str>| {
            ids.sort_by_key(|id| position.get(id).copied().unwrap_or(usize::MAX));
            ids.dedup();
        };
        let mut direct: Vec<&'static str> = upgrade.depends_on().to_vec();
        in_run_order(&mut direct);
        let mut ancestors: Vec<&'static str> = plan.ancestors(id).into_iter().collect();
        in_run_order(&mut ancestors);
        let descendants = plan.descendants(id);
        let dependents = plan
            .upgrades()
            .iter()
            .filter(|u| u.depends_on().contains(&upgrade.id()))
            .map(|u| related(u.id()))
            .collect();
        let state = states.of(id).unwrap_or(UpgradeState::Pending);
        Some(Explanation {
            upgrade,
            state,
            record: status.applied.iter().find(|r| r.upgrade == id).cloned(),
            edited: status.edited.iter().find(|e| e.id == id).cloned(),
            implied_by: status.implied.iter().find(|i| i.id == id).map(|i| i.by.clone()),
            started: status
                .interrupted
                .iter()
                .chain(status.running.iter().map(|(started, _)| started))
                .find(|s| s.upgrade == id)
                .cloned(),
            running_by: status
                .running
                .iter()
                .find(|(started, _)| started.upgrade == id)
                .map(|(_, holder)| holder.clone()),
            dependencies: direct.into_iter().map(related).collect(),
            pending_dependencies: ancestors
                .into_iter()
                .map(related)
                .filter(|r| r.state.is_pending())
                .collect(),
            dependents,
            all_dependents: descendants.len(),
        })
    }
}
