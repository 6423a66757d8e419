//! Where the next upgrade attaches: a module's heads, the releases that cover them, and what a new
//! release gathers. The plan answers these for an author's tooling; running never asks them.

use std::collections::{BTreeSet, HashSet};

use upgrader_naming::{ParsedId, parse_id};

use super::Plan;
use crate::upgrade::Upgrade;

impl Plan {
    /// The module's heads: its upgrades that are not an ancestor of another of its upgrades, even
    /// through other modules (a release, say). Where the next upgrade of the module attaches.
    /// Sorted by id.
    pub fn endpoints(&self, module: &str) -> Vec<&'static str> {
        let members: Vec<&'static str> = self
            .order
            .iter()
            .filter(|u| u.module() == module)
            .map(|u| u.id)
            .collect();
        let behind: HashSet<&str> = members.iter().flat_map(|id| self.ancestors(id)).collect();
        let mut ends: Vec<&'static str> = members.into_iter().filter(|id| !behind.contains(id)).collect();
        ends.sort_unstable();
        ends
    }

    /// What the next upgrade of `module` depends on: its endpoints, each replaced by the newest
    /// release that covers it (so later upgrades depend on the release, as the rules ask), minus
    /// any that another one already implies. Sorted by id.
    pub fn attach_points(&self, module: &str) -> Vec<&'static str> {
        let releases: Vec<(&'static str, BTreeSet<&'static str>)> = self
            .order
            .iter()
            .filter(|u| u.is_release())
            .map(|u| (u.id, self.ancestors(u.id)))
            .collect();
        let mut points: BTreeSet<&'static str> = BTreeSet::new();
        for end in self.endpoints(module) {
            let covering: Vec<&(&'static str, BTreeSet<&'static str>)> = releases
                .iter()
                .filter(|(_, behind)| behind.contains(end))
                .collect();
            // The newest covering release: the one no other covering release depends on.
            let newest = covering
                .iter()
                .find(|(id, _)| !covering.iter().any(|(_, behind)| behind.contains(id)))
                .map(|(id, _)| *id);
            points.insert(newest.unwrap_or(end));
        }
        let implied: HashSet<&str> = points.iter().flat_map(|p| self.ancestors(p)).collect();
        points.into_iter().filter(|p| !implied.contains(p)).collect()
    }

    /// The releases of `repository` (`<repository>_release_<x>_<y>_<z>`), oldest first, each with
    /// its version `(x, y, z)`. Versions compare as numbers: 1.10.0 comes after 1.9.0.
    pub fn releases(&self, repository: &str) -> Vec<(&Upgrade, (u64, u64, u64))> {
        let mut releases: Vec<(&Upgrade, (u64, u64, u64))> = self
            .order
            .iter()
            .filter_map(|u| match parse_id(u.id) {
                Ok(ParsedId::Release {
                    repository: r,
                    version,
                }) if r == repository => Some((u, version)),
                _ => None,
            })
            .collect();
        releases.sort_by_key(|(_, version)| *version);
        releases
    }

    /// The latest release of `repository` with its version, or `None` when it has none.
    pub fn latest_release(&self, repository: &str) -> Option<(&Upgrade, (u64, u64, u64))> {
        self.releases(repository).pop()
    }

    /// What a new release of `repository` gathering `modules` depends on: every endpoint of the
    /// modules that is not already behind the repository's latest release, plus that release
    /// unless one of those endpoints already depends on it. Without an earlier release, every
    /// endpoint of the modules. Sorted by id, without repeats.
    pub fn release_depends_on<'m>(
        &self,
        repository: &str,
        modules: impl IntoIterator<Item = &'m str>,
    ) -> Vec<&'static str> {
        let mut depends_on: Vec<&'static str> = modules.into_iter().flat_map(|m| self.endpoints(m)).collect();
        depends_on.sort_unstable();
        depends_on.dedup();
        if let Some((previous, _)) = self.latest_release(repository) {
            let behind = self.ancestors(previous.id);
            depends_on.retain(|id| *id != previous.id && !behind.contains(id));
            if !depends_on
                .iter()
                .any(|id| self.ancestors(id).contains(previous.id))
            {
                depends_on.push(previous.id);
                depends_on.sort_unstable();
            }
        }
        depends_on
    }
}

#[cfg(test)]
mod tests {
    use crate::context::Context;
    use crate::graph::Registry;
    use crate::upgrade::Upgrade;

    fn noop(_: &mut Context<'_>) -> crate::Result<()> {
        Ok(())
    }

    fn up(id: &'static str, deps: &'static [&'static str]) -> Upgrade {
        Upgrade::new(id, "test", noop).with_depends_on(deps)
    }

    #[test]
    fn endpoints_look_through_a_release() {
        // `m…_b` depends on `m…_a` only through the release: `m…_a` is not a head any more.
        let registry = Registry::new(
            [
                up("m_2024_01_01_a", &[]),
                up("app_release_1_0_0", &["m_2024_01_01_a"]),
                up("m_2024_02_01_b", &["app_release_1_0_0"]),
            ],
            [],
        );
        assert_eq!(registry.plan(None).unwrap().endpoints("m"), ["m_2024_02_01_b"]);
    }

    #[test]
    fn a_new_upgrade_attaches_to_the_release_that_covers_the_module() {
        let registry = Registry::new(
            [
                up("m_2024_01_01_a", &[]),
                up("n_2024_01_01_a", &[]),
                up("app_release_1_0_0", &["m_2024_01_01_a"]),
                up("app_release_1_1_0", &["app_release_1_0_0", "n_2024_01_01_a"]),
            ],
            [],
        );
        let plan = registry.plan(None).unwrap();
        assert_eq!(plan.attach_points("m"), ["app_release_1_1_0"]);
        assert_eq!(plan.attach_points("n"), ["app_release_1_1_0"]);
        assert!(plan.attach_points("nothing").is_empty());
    }

    #[test]
    fn endpoints_join_parallel_heads_and_ancestors_are_transitive() {
        let registry = Registry::new(
            [
                up("m_2024_01_01_base", &[]),
                up("m_2024_01_02_left", &["m_2024_01_01_base"]),
                up("m_2024_01_03_right", &["m_2024_01_01_base"]),
                up("n_2024_01_01_other", &["m_2024_01_03_right"]),
            ],
            [],
        );
        let plan = registry.plan(None).unwrap();
        assert_eq!(plan.endpoints("m"), ["m_2024_01_02_left", "m_2024_01_03_right"]);
        assert_eq!(plan.endpoints("n"), ["n_2024_01_01_other"]);
        assert_eq!(
            plan.ancestors("n_2024_01_01_other")
                .into_iter()
                .collect::<Vec<_>>(),
            ["m_2024_01_01_base", "m_2024_01_03_right"]
        );
    }

    #[test]
    fn releases_are_in_version_order_not_id_order_and_of_their_repository_only() {
        // By id `…_1_10_0` sorts before `…_1_9_0`; the latest must still be 1.10.0.
        let registry = Registry::new(
            [
                up("m_2024_01_01_a", &[]),
                up("app_release_1_9_0", &["m_2024_01_01_a"]),
                up("app_release_1_10_0", &["app_release_1_9_0"]),
                up("app_release_1_0_2", &["m_2024_01_01_a"]),
                up("my_app_release_9_0_0", &["m_2024_01_01_a"]),
                up("other_release_2_0_0", &["app_release_1_10_0"]),
            ],
            [],
        );
        let plan = registry.plan(None).unwrap();
        let releases: Vec<(&str, (u64, u64, u64))> = plan
            .releases("app")
            .into_iter()
            .map(|(u, version)| (u.id(), version))
            .collect();
        assert_eq!(
            releases,
            [
                ("app_release_1_0_2", (1, 0, 2)),
                ("app_release_1_9_0", (1, 9, 0)),
                ("app_release_1_10_0", (1, 10, 0)),
            ]
        );
        let (latest, version) = plan.latest_release("app").unwrap();
        assert_eq!((latest.id(), version), ("app_release_1_10_0", (1, 10, 0)));
        assert_eq!(
            plan.latest_release("my_app").unwrap().0.id(),
            "my_app_release_9_0_0"
        );
        assert!(plan.releases("m").is_empty());
        assert!(plan.latest_release("nothing").is_none());
    }

    #[test]
    fn a_release_depends_on_what_came_after_the_previous_release_and_on_it() {
        let registry = Registry::new(
            [
                up("a_2024_01_01_first", &[]),
                up("b_2024_01_01_first", &[]),
                up("app_release_1_0_0", &["a_2024_01_01_first", "b_2024_01_01_first"]),
                up("a_2024_02_01_second", &["a_2024_01_01_first"]),
            ],
            [],
        );
        let plan = registry.plan(None).unwrap();
        // `b` has nothing new; `a_2024_02_01_second` does not depend on 1.0.0, so the release does.
        assert_eq!(
            plan.release_depends_on("app", ["a", "b"]),
            ["a_2024_02_01_second", "app_release_1_0_0"]
        );
        // Nothing new at all: the new release follows the previous one alone.
        assert_eq!(plan.release_depends_on("app", ["b"]), ["app_release_1_0_0"]);
        // Another repository has no previous release: every endpoint, once each.
        assert_eq!(
            plan.release_depends_on("other", ["b", "a", "b"]),
            ["a_2024_02_01_second", "b_2024_01_01_first"]
        );
    }

    #[test]
    fn a_release_leaves_out_the_previous_release_when_an_endpoint_depends_on_it() {
        let registry = Registry::new(
            [
                up("a_2024_01_01_first", &[]),
                up("b_2024_01_01_first", &[]),
                up("app_release_1_0_0", &["a_2024_01_01_first", "b_2024_01_01_first"]),
                up("a_2024_02_01_second", &["app_release_1_0_0"]),
                up("b_2024_02_01_second", &["b_2024_01_01_first"]),
            ],
            [],
        );
        let plan = registry.plan(None).unwrap();
        assert_eq!(
            plan.release_depends_on("app", ["a", "b"]),
            ["a_2024_02_01_second", "b_2024_02_01_second"]
        );
    }
}
