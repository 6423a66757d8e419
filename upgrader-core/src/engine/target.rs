//! Choosing what a run applies: everything pending, one upgrade and what it needs, or some
//! modules' upgrades and what they need. A step of its own, after the pending upgrades are known
//! and before anything is checked or applied, so that the plan shown and the run holding the lock
//! select the same way.

use std::collections::{BTreeSet, HashSet};

use crate::error::Error;
use crate::graph::Plan;
use crate::upgrade::Upgrade;

/// Which of the pending upgrades a run applies.
///
/// Distinct from the active modules an engine is opened with (`packages` in
/// [`Engine::open`](super::Engine::open)): those decide which upgrades exist for the engine at
/// all; a target picks, among the pending upgrades of those, the ones one run applies. An
/// upgrade of another module that a chosen one depends on is applied with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunTarget {
    /// Every pending upgrade (the default).
    #[default]
    All,
    /// This upgrade and the pending upgrades it depends on, directly or not: nothing else.
    To(String),
    /// The pending upgrades of these modules, and the pending upgrades they depend on, directly
    /// or not (possibly in other modules).
    Modules(Vec<String>),
}

impl RunTarget {
    /// Whether the target names only upgrades and modules `plan` has: an unknown id is
    /// [`Error::UnknownUpgrade`], an unknown module [`Error::UnknownModule`]. Needs no database,
    /// so a program can refuse before it opens one.
    pub fn validate(&self, plan: &Plan) -> Result<(), Error> {
        match self {
            RunTarget::All => Ok(()),
            RunTarget::To(id) => match plan.get(id) {
                Some(_) => Ok(()),
                None => Err(Error::UnknownUpgrade { id: id.clone() }),
            },
            RunTarget::Modules(modules) => {
                let known = modules_of(plan);
                for module in modules {
                    if !known.contains(module.as_str()) {
                        return Err(Error::UnknownModule {
                            module: module.clone(),
                            known: known.iter().map(|m| m.to_string()).collect(),
                        });
                    }
                }
                Ok(())
            }
        }
    }

    /// The upgrades of `pending` (in run order) this target applies, in the same order.
    pub fn select(&self, plan: &Plan, pending: Vec<Upgrade>) -> Result<Vec<Upgrade>, Error> {
        self.validate(plan)?;
        let roots: Vec<&str> = match self {
            RunTarget::All => return Ok(pending),
            RunTarget::To(id) => vec![id.as_str()],
            RunTarget::Modules(modules) => pending
                .iter()
                .filter(|u| modules.iter().any(|m| m == u.module()))
                .map(|u| u.id)
                .collect(),
        };
        let mut wanted: HashSet<&str> = HashSet::new();
        for root in roots {
            if wanted.insert(root) {
                wanted.extend(plan.ancestors(root));
            }
        }
        Ok(pending.into_iter().filter(|u| wanted.contains(u.id)).collect())
    }
}

/// The modules the active upgrades belong to.
fn modules_of(plan: &Plan) -> BTreeSet<&'static str> {
    plan.upgrades().iter().map(|u| u.module()).collect()
}
