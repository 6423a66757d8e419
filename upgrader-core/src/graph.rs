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
    checks: Vec<RunCheck>,
}

impl Registry {
    /// Everything registered with `#[upgrade]` and [`crate::run_check!`] in the crates linked into
    /// this binary.
    pub fn linked() -> Self {
        let upgrades = inventory::iter::<crate::__private::Registration>
            .into_iter()
            .map(|registration| registration.upgrade);
        let checks = inventory::iter::<crate::__private::CheckRegistration>
            .into_iter()
            .map(|registration| registration.0);
        Registry::new(upgrades, checks)
    }

    /// A registry of the given upgrades and checks (for tests, or upgrades built by hand).
    pub fn new(
        upgrades: impl IntoIterator<Item = Upgrade>,
        checks: impl IntoIterator<Item = RunCheck>,
    ) -> Self {
        let mut upgrades: Vec<Upgrade> = upgrades.into_iter().collect();
        // `inventory` has no order: sort so every later step is deterministic.
        upgrades.sort_by(|a, b| a.id.cmp(b.id).then_with(|| location(a).cmp(&location(b))));
        let mut checks: Vec<RunCheck> = checks.into_iter().collect();
        checks.sort_by(|a, b| a.name.cmp(b.name));
        Registry { upgrades, checks }
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
        self.upgrades
            .binary_search_by(|u| u.id.cmp(id))
            .ok()
            .map(|i| &self.upgrades[i])
    }

    /// The modules (packages) that have upgrades.
    pub fn modules(&self) -> BTreeSet<&'static str> {
        self.upgrades.iter().map(|u| u.module()).collect()
    }

    /// Checks the graph and orders it. `packages`, when given, are the active modules: only their
    /// upgrades take part. Every problem found is reported, not just the first.
    pub fn plan(&self, packages: Option<&[String]>) -> Result<Plan, Error> {
        let mut problems = Vec::new();
        let mut seen: HashMap<&str, &Upgrade> = HashMap::new();
        for upgrade in &self.upgrades {
            if let Err(reason) = upgrader_naming::parse_id(upgrade.id) {
                problems.push(Error::InvalidId {
                    id: upgrade.id.to_owned(),
                    reason,
                });
            }
            if let Some(first) = seen.insert(upgrade.id, upgrade) {
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
        let mut nodes: Vec<Upgrade> = Vec::new();
        for upgrade in self.upgrades.iter().filter(|u| active(u)) {
            if nodes.last().is_some_and(|last| last.id == upgrade.id) {
                continue; // a duplicate, reported above
            }
            for &dependency in upgrade.depends_on {
                match seen.get(dependency) {
                    None => problems.push(Error::UnknownDependency {
                        upgrade: upgrade.id.to_owned(),
                        dependency: dependency.to_owned(),
                    }),
                    Some(dep) if !active(dep) => problems.push(Error::InactiveDependency {
                        upgrade: upgrade.id.to_owned(),
                        dependency: dependency.to_owned(),
                        package: dep.module().to_owned(),
                    }),
                    Some(_) => {}
                }
            }
            nodes.push(*upgrade);
        }
        if !problems.is_empty() {
            return Err(Error::graph(problems));
        }
        let plan = Plan::order(nodes, self.checks.clone())?;
        Ok(plan)
    }
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
    index: HashMap<&'static str, usize>,
    checks: Vec<RunCheck>,
}

impl Plan {
    fn order(nodes: Vec<Upgrade>, checks: Vec<RunCheck>) -> Result<Plan, Error> {
        let by_id: BTreeMap<&'static str, &Upgrade> = nodes.iter().map(|u| (u.id, u)).collect();
        let mut waiting_on: HashMap<&str, usize> = HashMap::new();
        let mut dependents: HashMap<&str, Vec<&'static str>> = HashMap::new();
        for upgrade in &nodes {
            let deps: BTreeSet<&str> = upgrade.depends_on.iter().copied().collect();
            waiting_on.insert(upgrade.id, deps.len());
            for dep in deps {
                dependents.entry(dep).or_default().push(upgrade.id);
            }
        }
        let mut ready: BinaryHeap<Reverse<&'static str>> = nodes
            .iter()
            .filter(|u| waiting_on[u.id] == 0)
            .map(|u| Reverse(u.id))
            .collect();
        let mut order = Vec::with_capacity(nodes.len());
        while let Some(Reverse(id)) = ready.pop() {
            order.push(*by_id[id]);
            for &dependent in dependents.get(id).into_iter().flatten() {
                let count = waiting_on.get_mut(dependent).expect("every dependent is a node");
                *count -= 1;
                if *count == 0 {
                    ready.push(Reverse(dependent));
                }
            }
        }
        if order.len() < nodes.len() {
            let placed: HashSet<&str> = order.iter().map(|u| u.id).collect();
            let left: BTreeMap<&str, &Upgrade> =
                by_id.into_iter().filter(|(id, _)| !placed.contains(id)).collect();
            return Err(Error::graph(find_cycles(&left)));
        }
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
