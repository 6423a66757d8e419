//! The dependency graph of the active upgrades with each one's state: what `show graph` draws.
//! Plain data built from a [`Plan`] and a [`Status`]; [`GraphView::to_dot`] and
//! [`GraphView::to_mermaid`] render it.

use std::collections::{BTreeSet, HashMap};

use super::Plan;
use super::state::{States, UpgradeState};
use crate::engine::Status;

/// The graph of the active upgrades, grouped by module, each upgrade with its state; and the
/// history rows no linked upgrade has, marked [`UpgradeState::NotLinked`].
///
/// Nodes come in the plan's order (history rows no linked upgrade has after them, oldest first),
/// edges in the order of the upgrades that depend: the same inputs give the same view.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphView {
    /// The modules drawn as groups, in the order their first upgrade runs.
    pub modules: Vec<String>,
    /// The upgrades. A node whose module is not one of `modules` is drawn outside every group:
    /// the other end of an edge that enters or leaves the modules [`GraphView::only`] kept.
    pub nodes: Vec<GraphNode>,
    /// The dependencies.
    pub edges: Vec<GraphEdge>,
}

/// An upgrade in a [`GraphView`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphNode {
    /// The upgrade's id (for a history row no linked upgrade has: the row's id, as it is).
    pub id: String,
    /// The module it belongs to: the part of its id before the date or `_release_`; `None` for a
    /// history row whose id is not an upgrade id.
    pub module: Option<String>,
    /// Whether it is a release marker (`<repository>_release_<x>_<y>_<z>`).
    pub release: bool,
    /// Where it stands in the database's history.
    pub state: UpgradeState,
    /// The first line of its doc comment (empty for a history row no linked upgrade has).
    pub summary: String,
}

/// A dependency in a [`GraphView`]: `to` depends on `from`, so `from` runs first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphEdge {
    /// The upgrade depended on.
    pub from: String,
    /// The upgrade that depends on it.
    pub to: String,
}

impl GraphView {
    /// The whole graph of `plan`, each upgrade in the state `status` gives it.
    pub fn new(plan: &Plan, status: &Status) -> GraphView {
        let states = States::new(status);
        let mut nodes: Vec<GraphNode> = plan
            .upgrades()
            .iter()
            .map(|u| GraphNode {
                id: u.id().to_owned(),
                module: Some(u.module().to_owned()),
                release: u.is_release(),
                // Every active upgrade has a state; one missing from the status is still to run.
                state: states.of(u.id()).unwrap_or(UpgradeState::Pending),
                summary: u.info().lines().next().unwrap_or("").trim().to_owned(),
            })
            .collect();
        nodes.extend(status.ghosts.iter().map(|record| {
            let parsed = upgrader_naming::parse_id(&record.upgrade).ok();
            GraphNode {
                id: record.upgrade.clone(),
                module: parsed.as_ref().map(|p| p.module().to_owned()),
                release: matches!(parsed, Some(upgrader_naming::ParsedId::Release { .. })),
                state: UpgradeState::NotLinked,
                summary: String::new(),
            }
        }));
        let index: HashMap<&str, usize> = plan
            .upgrades()
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id(), i))
            .collect();
        let mut edges = Vec::new();
        for upgrade in plan.upgrades() {
            let mut deps: Vec<&str> = upgrade.depends_on().to_vec();
            deps.sort_by_key(|d| index.get(d).copied().unwrap_or(usize::MAX));
            deps.dedup();
            edges.extend(deps.into_iter().map(|dep| GraphEdge {
                from: dep.to_owned(),
                to: upgrade.id().to_owned(),
            }));
        }
        let mut modules: Vec<String> = Vec::new();
        for module in nodes.iter().filter_map(|n| n.module.as_deref()) {
            if !modules.iter().any(|m| m == module) {
                modules.push(module.to_owned());
            }
        }
        GraphView {
            modules,
            nodes,
            edges,
        }
    }

    /// Only the upgrades of `modules` (in the view's order whatever the order given), and the
    /// edges that enter or leave them with the upgrade at their other end, which is drawn
    /// outside the groups. Modules the view does not have are ignored: check them first.
    pub fn only(self, modules: &[impl AsRef<str>]) -> GraphView {
        let kept: BTreeSet<&str> = modules.iter().map(AsRef::as_ref).collect();
        let inside = |node: &GraphNode| node.module.as_deref().is_some_and(|m| kept.contains(m));
        let ids_inside: BTreeSet<&str> = self
            .nodes
            .iter()
            .filter(|n| inside(n))
            .map(|n| n.id.as_str())
            .collect();
        let edges: Vec<GraphEdge> = self
            .edges
            .iter()
            .filter(|e| ids_inside.contains(e.from.as_str()) || ids_inside.contains(e.to.as_str()))
            .cloned()
            .collect();
        let ends: BTreeSet<&str> = edges
            .iter()
            .flat_map(|e| [e.from.as_str(), e.to.as_str()])
            .collect();
        let nodes = self
            .nodes
            .iter()
            .filter(|n| inside(n) || ends.contains(n.id.as_str()))
            .cloned()
            .collect();
        let modules = self
            .modules
            .iter()
            .filter(|m| kept.contains(m.as_str()))
            .cloned()
            .collect();
        GraphView {
            modules,
            nodes,
            edges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Registry;
    use crate::history::AppliedRecord;
    use crate::upgrade::Upgrade;

    fn noop(_: &mut crate::Context<'_>) -> crate::Result<()> {
        Ok(())
    }

    fn plan() -> Plan {
        Registry::new(
            [
                Upgrade::new("a_2024_01_01_first", "First.\n\nMore.", noop),
                Upgrade::new("a_2024_02_01_second", "Second.", noop).with_depends_on(&["a_2024_01_01_first"]),
                Upgrade::new("b_2024_01_01_first", "B.", noop).with_depends_on(&["a_2024_01_01_first"]),
                Upgrade::new("c_2024_01_01_first", "C.", noop).with_depends_on(&["b_2024_01_01_first"]),
                Upgrade::new("r_release_1_0_0", "Release.", noop)
                    .with_depends_on(&["c_2024_01_01_first", "a_2024_02_01_second"]),
            ],
            [],
        )
        .plan(None)
        .unwrap()
    }

    fn record(id: &str) -> AppliedRecord {
        AppliedRecord {
            upgrade: id.to_owned(),
            applied: None,
            duration_ms: None,
            checksum: None,
            method: "run".to_owned(),
            run: None,
        }
    }

    fn status(plan: &Plan, applied: &[&str], ghosts: &[&str]) -> Status {
        Status {
            applied: applied.iter().chain(ghosts).map(|id| record(id)).collect(),
            ghosts: ghosts.iter().map(|id| record(id)).collect(),
            pending: plan
                .upgrades()
                .iter()
                .filter(|u| !applied.contains(&u.id()))
                .copied()
                .collect(),
            ..Status::default()
        }
    }

    #[test]
    fn nodes_follow_the_plan_and_edges_their_dependents() {
        let plan = plan();
        let view = GraphView::new(
            &plan,
            &status(&plan, &["a_2024_01_01_first"], &["z_2019_01_01_gone"]),
        );
        let ids: Vec<_> = view.nodes.iter().map(|n| (n.id.as_str(), n.state)).collect();
        assert_eq!(
            ids,
            [
                ("a_2024_01_01_first", UpgradeState::Applied),
                ("a_2024_02_01_second", UpgradeState::Pending),
                ("b_2024_01_01_first", UpgradeState::Pending),
                ("c_2024_01_01_first", UpgradeState::Pending),
                ("r_release_1_0_0", UpgradeState::Pending),
                ("z_2019_01_01_gone", UpgradeState::NotLinked),
            ]
        );
        assert_eq!(view.modules, ["a", "b", "c", "r", "z"]);
        assert_eq!(view.nodes[0].summary, "First.");
        assert!(view.nodes[4].release && !view.nodes[3].release);
        let edges: Vec<_> = view
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str()))
            .collect();
        assert_eq!(
            edges,
            [
                ("a_2024_01_01_first", "a_2024_02_01_second"),
                ("a_2024_01_01_first", "b_2024_01_01_first"),
                ("b_2024_01_01_first", "c_2024_01_01_first"),
                ("a_2024_02_01_second", "r_release_1_0_0"),
                ("c_2024_01_01_first", "r_release_1_0_0"),
            ]
        );
    }

    #[test]
    fn one_module_keeps_the_edges_that_cross_its_border() {
        let plan = plan();
        let view = GraphView::new(&plan, &status(&plan, &[], &[])).only(&["b"]);
        assert_eq!(view.modules, ["b"]);
        let ids: Vec<_> = view.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            ["a_2024_01_01_first", "b_2024_01_01_first", "c_2024_01_01_first"]
        );
        let edges: Vec<_> = view
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str()))
            .collect();
        assert_eq!(
            edges,
            [
                ("a_2024_01_01_first", "b_2024_01_01_first"),
                ("b_2024_01_01_first", "c_2024_01_01_first"),
            ]
        );
    }
}
