//! Choosing what a run applies: everything pending, one upgrade and what it needs, or some
//! modules' upgrades and what they need. A step of its own, after the pending upgrades are known
//! and before anything is checked or applied, so that the plan shown and the run holding the lock
//! select the same way.

use std::collections::{BTreeSet, HashSet};

use crate::error::Error;
use crate::graph::{Plan, Registry};
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
        self.validate_against(|id| plan.get(id).is_some(), || modules_of(plan))
    }

    /// [`RunTarget::validate`] against the linked upgrades of the modules `packages` makes
    /// active (all when `None`), without ordering the graph first (opening an engine does that):
    /// for refusing before anything else is done.
    pub fn validate_linked(&self, registry: &Registry, packages: Option<&[String]>) -> Result<(), Error> {
        let active = |module: &str| packages.is_none_or(|p| p.iter().any(|m| m == module));
        self.validate_against(
            |id| registry.get(id).is_some_and(|u| active(u.module())),
            || registry.modules().into_iter().filter(|m| active(m)).collect(),
        )
    }

    fn validate_against(
        &self,
        has_upgrade: impl Fn(&str) -> bool,
        modules: impl FnOnce() -> BTreeSet<&'static str>,
    ) -> Result<(), Error> {
        match self {
            RunTarget::All => Ok(()),
            RunTarget::To(id) => match has_upgrade(id) {
                true => Ok(()),
                false => Err(Error::UnknownUpgrade { id: id.clone() }),
            },
            RunTarget::Modules(chosen) => {
                let known = modules();
                for module in chosen {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(_: &mut crate::Context<'_>) -> crate::Result<()> {
        Ok(())
    }

    /// Two modules: `b` builds on `a`'s first upgrade; `a` has a second one nobody needs.
    fn plan() -> Plan {
        Registry::new(
            [
                Upgrade::new("a_2024_01_01_one", "1", noop),
                Upgrade::new("a_2024_01_02_two", "2", noop).with_depends_on(&["a_2024_01_01_one"]),
                Upgrade::new("b_2024_01_03_one", "3", noop).with_depends_on(&["a_2024_01_01_one"]),
                Upgrade::new("b_2024_01_04_two", "4", noop).with_depends_on(&["b_2024_01_03_one"]),
            ],
            [],
        )
        .plan(None)
        .unwrap()
    }

    fn ids(upgrades: &[Upgrade]) -> Vec<&str> {
        upgrades.iter().map(|u| u.id).collect()
    }

    #[test]
    fn to_selects_the_upgrade_and_its_pending_dependencies_in_run_order() {
        let plan = plan();
        let all = plan.upgrades().to_vec();
        let chosen = RunTarget::To("b_2024_01_04_two".into())
            .select(&plan, all.clone())
            .unwrap();
        assert_eq!(
            ids(&chosen),
            ["a_2024_01_01_one", "b_2024_01_03_one", "b_2024_01_04_two"]
        );
        // A dependency that is not pending is not run again.
        let chosen = RunTarget::To("b_2024_01_04_two".into())
            .select(&plan, all[1..].to_vec())
            .unwrap();
        assert_eq!(ids(&chosen), ["b_2024_01_03_one", "b_2024_01_04_two"]);
        // Applied itself: nothing.
        let chosen = RunTarget::To("a_2024_01_01_one".into())
            .select(&plan, all[1..].to_vec())
            .unwrap();
        assert!(chosen.is_empty());
    }

    #[test]
    fn modules_select_their_upgrades_and_what_they_need_from_other_modules() {
        let plan = plan();
        let all = plan.upgrades().to_vec();
        let chosen = RunTarget::Modules(vec!["b".into()])
            .select(&plan, all.clone())
            .unwrap();
        assert_eq!(
            ids(&chosen),
            ["a_2024_01_01_one", "b_2024_01_03_one", "b_2024_01_04_two"]
        );
        let chosen = RunTarget::Modules(vec!["a".into()])
            .select(&plan, all.clone())
            .unwrap();
        assert_eq!(ids(&chosen), ["a_2024_01_01_one", "a_2024_01_02_two"]);
        let chosen = RunTarget::All.select(&plan, all.clone()).unwrap();
        assert_eq!(chosen.len(), 4);
    }

    #[test]
    fn unknown_ids_and_modules_are_errors() {
        let plan = plan();
        let err = RunTarget::To("a_2024_01_09_nine".into())
            .validate(&plan)
            .unwrap_err();
        assert!(
            matches!(err, Error::UnknownUpgrade { ref id } if id == "a_2024_01_09_nine"),
            "{err:?}"
        );
        let err = RunTarget::Modules(vec!["b".into(), "c".into()])
            .validate(&plan)
            .unwrap_err();
        assert!(
            matches!(err, Error::UnknownModule { ref module, ref known } if module == "c" && known == &["a", "b"]),
            "{err:?}"
        );
    }
}
