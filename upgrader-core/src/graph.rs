//! The registry of linked upgrades and the plan: a checked, deterministically ordered graph.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use crate::error::Error;
use crate::upgrade::{RunCheck, Upgrade};

mod explain;
mod heads;
mod render;
mod state;
mod view;

pub use explain::{Explanation, Related};
pub use state::{States, UpgradeState};
pub use view::{GraphEdge, GraphNode, GraphView};

/// Every upgrade (and run check) known to this binary.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    upgrades: Vec<Upgrade>,
    /// Each id's place in `upgrades` (a fast hash: looked up for every dependency and every
    /// history row at every start).
    index: foldhash::HashMap<&'static str, usize>,
    checks: Vec<RunCheck>,
}

impl Registry {
    /// Everything registered with `#[upgrade]` and [`crate::run_check!`] in the crates linked into
    /// this binary.
    pub fn linked() -> Self {
        // Sorted by reference, then copied once: an `Upgrade` is large to move about.
        let mut upgrades: Vec<&'static Upgrade> = inventory::iter::<crate::__private::Registration>
            .into_iter()
            .map(|registration| &registration.upgrade)
            .collect();
        upgrades.sort_by(|a, b| by_id(a, b));
        let checks = inventory::iter::<crate::__private::CheckRegistration>
            .into_iter()
            .map(|registration| registration.0);
        Registry::sorted(upgrades.into_iter().copied().collect(), checks)
    }

    /// A registry of the given upgrades and checks (for tests, or upgrades built by hand).
    pub fn new(
        upgrades: impl IntoIterator<Item = Upgrade>,
        checks: impl IntoIterator<Item = RunCheck>,
    ) -> Self {
        let mut upgrades: Vec<Upgrade> = upgrades.into_iter().collect();
        upgrades.sort_by(by_id);
        Registry::sorted(upgrades, checks)
    }

    /// The registry of `upgrades`, sorted already ([`by_id`]).
    fn sorted(upgrades: Vec<Upgrade>, checks: impl IntoIterator<Item = RunCheck>) -> Self {
        let mut checks: Vec<RunCheck> = checks.into_iter().collect();
        checks.sort_by(|a, b| a.name.cmp(b.name));
        let index = upgrades.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
        Registry {
            upgrades,
            index,
            checks,
        }
    }

    /// Every upgrade, sorted by id.
    pub fn upgrades(&self) -> &[Upgrade] {
        &self.upgrades
    }

    /// The run checks, sorted by name.
    pub fn checks(&self) -> &[RunCheck] {
        &self.checks
    }

    /// The upgrade with this id.
    pub fn get(&self, id: &str) -> Option<&Upgrade> {
        self.index.get(id).map(|&i| &self.upgrades[i])
    }

    /// The modules (packages) that have upgrades.
    pub fn modules(&self) -> BTreeSet<&'static str> {
        self.upgrades.iter().map(|u| u.module()).collect()
    }

    /// Checks the graph and orders it. `packages`, when given, are the active modules: only their
    /// upgrades take part. Every problem found is reported, not just the first.
    pub fn plan(&self, packages: Option<&[String]>) -> Result<Plan, Error> {
        let mut problems = Vec::new();
        // Sorted by id: the same id twice is two neighbours.
        let mut previous: Option<&Upgrade> = None;
        for upgrade in &self.upgrades {
            if let Err(reason) = upgrader_naming::parse_id(upgrade.id) {
                problems.push(Error::InvalidId {
                    id: upgrade.id.to_owned(),
                    reason,
                });
            }
            if let Some(first) = previous.replace(upgrade).filter(|p| p.id == upgrade.id) {
                problems.push(Error::DuplicateId {
                    id: upgrade.id.to_owned(),
                    first: location(first),
                    second: location(upgrade),
                });
            }
        }
        if let Some(packages) = packages {
            let modules = self.modules();
            for package in packages {
                if !modules.contains(package.as_str()) {
                    problems.push(Error::UnknownPackage {
                        package: package.clone(),
                    });
                }
            }
        }
        let active = |u: &Upgrade| packages.is_none_or(|p| p.iter().any(|m| m == u.module()));
        // The active upgrades (the nodes), each once, in id order; each dependency as an edge
        // between places in the registry, turned into one between nodes once all are placed.
        let mut nodes: Vec<&Upgrade> = Vec::with_capacity(self.upgrades.len());
        let mut node_of = vec![usize::MAX; self.upgrades.len()];
        let mut edges: Vec<(usize, usize)> = Vec::with_capacity(self.upgrades.len());
        for (at, upgrade) in self.upgrades.iter().enumerate() {
            if !active(upgrade) || nodes.last().is_some_and(|last| last.id == upgrade.id) {
                continue; // inactive, or a duplicate, reported above
            }
            for &dependency in upgrade.depends_on {
                let Some(&dep_at) = self.index.get(dependency) else {
                    problems.push(Error::UnknownDependency {
                        upgrade: upgrade.id.to_owned(),
                        dependency: dependency.to_owned(),
                    });
                    continue;
                };
                let dep = &self.upgrades[dep_at];
                if !active(dep) {
                    problems.push(Error::InactiveDependency {
                        upgrade: upgrade.id.to_owned(),
                        dependency: dependency.to_owned(),
                        package: dep.module().to_owned(),
                    });
                }
                edges.push((dep_at, at));
            }
            node_of[at] = nodes.len();
            nodes.push(upgrade);
        }
        if !problems.is_empty() {
            return Err(Error::graph(problems));
        }
        // No problem: every dependency is an active upgrade, and each id has one place, its node's.
        let edges = edges
            .into_iter()
            .map(|(dep, at)| (node_of[dep], node_of[at]))
            .collect();
        let plan = Plan::order(nodes, edges, self.checks.clone())?;
        Ok(plan)
    }
}

/// The registry's order. `inventory` has none: sorted so that every later step is deterministic
/// (by id; the same id twice, a mistake reported later, by where each was written).
fn by_id(a: &Upgrade, b: &Upgrade) -> std::cmp::Ordering {
    a.id.cmp(b.id).then_with(|| location(a).cmp(&location(b)))
}

fn location(upgrade: &Upgrade) -> String {
    match &upgrade.source {
        Some(source) => format!("{}:{} in crate {}", source.file, source.line, source.crate_name),
        None => "registered by hand".to_owned(),
    }
}

/// The active upgrades in run order: dependencies first, ties broken by id (so within a module the
/// date order holds). The same registry always gives the same plan.
#[derive(Debug, Clone)]
pub struct Plan {
    order: Vec<Upgrade>,
    /// Each upgrade's place in `order` (looked up for every history row at every start: a fast
    /// hash, as the keys are the binary's own ids, not input from outside).
    index: foldhash::HashMap<&'static str, usize>,
    checks: Vec<RunCheck>,
}

impl Plan {
    /// `nodes` sorted by id, each once (as [`Registry::plan`] gives them), and `edges`, each a
    /// dependency as (the node depended on, the node that depends on it): a node's index stands
    /// for its id, and the smaller index for the smaller id, so the order is found on numbers.
    fn order(
        nodes: Vec<&Upgrade>,
        mut edges: Vec<(usize, usize)>,
        checks: Vec<RunCheck>,
    ) -> Result<Plan, Error> {
        debug_assert!(
            nodes.windows(2).all(|w| w[0].id < w[1].id),
            "sorted by id, each once"
        );
        let mut waiting_on = vec![0usize; nodes.len()];
        // Each edge once (a dependency listed twice counts once).
        edges.sort_unstable();
        edges.dedup();
        // The dependents of node `d`: `edges[first[d]..first[d + 1]]`.
        let mut first = vec![0usize; nodes.len() + 1];
        for &(d, i) in &edges {
            first[d + 1] += 1;
            waiting_on[i] += 1;
        }
        for d in 0..nodes.len() {
            first[d + 1] += first[d];
        }
        let mut ready: BinaryHeap<Reverse<usize>> = (0..nodes.len())
            .filter(|&i| waiting_on[i] == 0)
            .map(Reverse)
            .collect();
        let mut sequence = Vec::with_capacity(nodes.len());
        while let Some(Reverse(d)) = ready.pop() {
            sequence.push(d);
            for &(_, dependent) in &edges[first[d]..first[d + 1]] {
                waiting_on[dependent] -= 1;
                if waiting_on[dependent] == 0 {
                    ready.push(Reverse(dependent));
                }
            }
        }
        if sequence.len() < nodes.len() {
            let mut placed = vec![false; nodes.len()];
            for &i in &sequence {
                placed[i] = true;
            }
            let left: BTreeMap<&str, &Upgrade> = nodes
                .iter()
                .zip(&placed)
                .filter(|(_, placed)| !**placed)
                .map(|(u, _)| (u.id, *u))
                .collect();
            return Err(Error::graph(find_cycles(&left)));
        }
        let order: Vec<Upgrade> = sequence.iter().map(|&i| *nodes[i]).collect();
        let index = order.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
        Ok(Plan { order, index, checks })
    }

    /// The upgrades in run order.
    pub fn upgrades(&self) -> &[Upgrade] {
        &self.order
    }

    /// The global run checks.
    pub fn checks(&self) -> &[RunCheck] {
        &self.checks
    }

    /// The active upgrade with this id.
    pub fn get(&self, id: &str) -> Option<&Upgrade> {
        self.index.get(id).map(|&i| &self.order[i])
    }

    /// The place of the active upgrade `id` in the run order.
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Every upgrade `id` depends on, directly or not.
    pub fn ancestors(&self, id: &str) -> BTreeSet<&'static str> {
        let mut found = BTreeSet::new();
        let mut stack: Vec<&str> = self.get(id).map(|u| u.depends_on.to_vec()).unwrap_or_default();
        while let Some(next) = stack.pop() {
            if let Some(upgrade) = self.get(next)
                && found.insert(upgrade.id)
            {
                stack.extend(upgrade.depends_on.iter().copied());
            }
        }
        found
    }

    /// Every upgrade that depends on `id`, directly or not, in run order.
    pub fn descendants(&self, id: &str) -> Vec<&'static str> {
        let Some(&start) = self.index.get(id) else {
            return Vec::new();
        };
        // The run order puts every dependent after what it depends on: one pass forward.
        let mut found: HashSet<&str> = HashSet::from([self.order[start].id]);
        let mut out = Vec::new();
        for upgrade in &self.order[start + 1..] {
            if upgrade.depends_on.iter().any(|d| found.contains(d)) {
                found.insert(upgrade.id);
                out.push(upgrade.id);
            }
        }
        out
    }
}

/// Every cycle among `left` (the nodes a topological sort could not place), each named in full
/// with its first upgrade repeated at the end.
fn find_cycles(left: &BTreeMap<&str, &Upgrade>) -> Vec<Error> {
    let mut errors = Vec::new();
    let mut done: HashSet<&str> = HashSet::new();
    for &start in left.keys() {
        if done.contains(start) {
            continue;
        }
        // Walk dependencies (smallest id first) until a node repeats: that closes a cycle.
        let mut path: Vec<&str> = vec![start];
        let mut on_path: HashMap<&str, usize> = HashMap::from([(start, 0)]);
        let mut current = start;
        loop {
            let next = left[current]
                .depends_on
                .iter()
                .copied()
                .filter(|d| left.contains_key(d))
                .min();
            let Some(next) = next else { break };
            if let Some(&at) = on_path.get(next) {
                let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
                // Name it from its smallest id, in the direction of the dependencies.
                let smallest = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap_or(0);
                cycle.rotate_left(smallest);
                cycle.push(cycle[0].clone());
                if !cycle.iter().any(|id| done.contains(id.as_str())) {
                    errors.push(Error::Cycle { cycle });
                }
                break;
            }
            if done.contains(next) {
                break;
            }
            on_path.insert(next, path.len());
            path.push(next);
            current = next;
        }
        done.extend(path);
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    fn noop(_: &mut Context<'_>) -> crate::Result<()> {
        Ok(())
    }

    fn up(id: &'static str, deps: &'static [&'static str]) -> Upgrade {
        Upgrade::new(id, "test", noop).with_depends_on(deps)
    }

    fn order(registry: &Registry) -> Vec<&'static str> {
        registry
            .plan(None)
            .expect("a valid graph")
            .upgrades()
            .iter()
            .map(|u| u.id())
            .collect()
    }

    #[test]
    fn diamond_runs_each_upgrade_once_after_both_parents() {
        let registry = Registry::new(
            [
                up("m_2024_01_04_join", &["m_2024_01_02_left", "m_2024_01_03_right"]),
                up("m_2024_01_03_right", &["m_2024_01_01_base"]),
                up("m_2024_01_02_left", &["m_2024_01_01_base"]),
                up("m_2024_01_01_base", &[]),
            ],
            [],
        );
        assert_eq!(
            order(&registry),
            [
                "m_2024_01_01_base",
                "m_2024_01_02_left",
                "m_2024_01_03_right",
                "m_2024_01_04_join"
            ]
        );
    }

    #[test]
    fn independent_graphs_interleave_by_id() {
        let registry = Registry::new(
            [
                up("b_2024_01_01_first", &[]),
                up("a_2024_05_01_second", &["a_2024_01_01_first"]),
                up("a_2024_01_01_first", &[]),
                up("b_2024_02_01_second", &["b_2024_01_01_first"]),
            ],
            [],
        );
        assert_eq!(
            order(&registry),
            [
                "a_2024_01_01_first",
                "a_2024_05_01_second",
                "b_2024_01_01_first",
                "b_2024_02_01_second"
            ]
        );
    }

    #[test]
    fn cross_module_edge_orders_the_dependency_first() {
        // By id alone `a_…` would run first; its dependency on `z_…` must win.
        let registry = Registry::new(
            [
                up("a_2024_01_01_first", &["z_2024_01_01_first"]),
                up("z_2024_01_01_first", &[]),
            ],
            [],
        );
        assert_eq!(order(&registry), ["z_2024_01_01_first", "a_2024_01_01_first"]);
    }

    #[test]
    fn order_is_the_same_whatever_the_registration_order() {
        let ups = [
            up("m_2024_01_01_a", &[]),
            up("m_2024_01_02_b", &["m_2024_01_01_a"]),
            up("n_2024_01_01_a", &["m_2024_01_01_a"]),
            up("m_2024_01_03_c", &["m_2024_01_01_a"]),
            up("n_2024_01_02_b", &["n_2024_01_01_a", "m_2024_01_03_c"]),
        ];
        let expected = order(&Registry::new(ups, []));
        let mut reversed = ups;
        reversed.reverse();
        assert_eq!(order(&Registry::new(reversed, [])), expected);
        let mut rotated = ups;
        rotated.rotate_left(2);
        assert_eq!(order(&Registry::new(rotated, [])), expected);
    }

    #[test]
    fn cycle_names_every_upgrade_on_it() {
        let registry = Registry::new(
            [
                up("m_2024_01_01_base", &[]),
                up("m_2024_01_02_a", &["m_2024_01_01_base", "m_2024_01_04_c"]),
                up("m_2024_01_03_b", &["m_2024_01_02_a"]),
                up("m_2024_01_04_c", &["m_2024_01_03_b"]),
                up("m_2024_01_05_after", &["m_2024_01_04_c"]),
            ],
            [],
        );
        let err = registry.plan(None).unwrap_err();
        assert!(
            matches!(&err, Error::Cycle { cycle } if cycle == &["m_2024_01_02_a", "m_2024_01_04_c", "m_2024_01_03_b", "m_2024_01_02_a"]),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "dependency cycle: m_2024_01_02_a -> m_2024_01_04_c -> m_2024_01_03_b -> m_2024_01_02_a"
        );
    }

    #[test]
    fn unknown_dependency_is_named() {
        let registry = Registry::new([up("m_2024_01_01_a", &["m_2023_12_31_gone"])], []);
        let err = registry.plan(None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "upgrade `m_2024_01_01_a` depends on `m_2023_12_31_gone`, which is not a known upgrade"
        );
    }

    #[test]
    fn inactive_package_names_both_upgrades() {
        let registry = Registry::new(
            [
                up("a_2024_01_01_first", &[]),
                up("b_2024_01_01_first", &["a_2024_01_01_first"]),
            ],
            [],
        );
        let err = registry.plan(Some(&["b".to_owned()])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "upgrade `b_2024_01_01_first` depends on `a_2024_01_01_first`, whose package `a` is not active"
        );
        let only_a = registry
            .plan(Some(&["a".to_owned()]))
            .expect("`a` alone is complete");
        assert_eq!(
            only_a.upgrades().iter().map(|u| u.id()).collect::<Vec<_>>(),
            ["a_2024_01_01_first"]
        );
    }

    #[test]
    fn unknown_package_is_an_error() {
        let registry = Registry::new([up("a_2024_01_01_first", &[])], []);
        let err = registry.plan(Some(&["nope".to_owned()])).unwrap_err();
        assert!(matches!(err, Error::UnknownPackage { .. }), "{err}");
    }

    #[test]
    fn several_problems_are_reported_together() {
        let registry = Registry::new(
            [up("Bad-Name", &[]), up("m_2024_01_01_a", &["m_2024_01_01_gone"])],
            [],
        );
        let err = registry.plan(None).unwrap_err();
        let Error::Graph { problems } = &err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 2, "{err}");
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let registry = Registry::new([up("m_2024_01_01_a", &[]), up("m_2024_01_01_a", &[])], []);
        assert!(matches!(
            registry.plan(None).unwrap_err(),
            Error::DuplicateId { .. }
        ));
    }
}
