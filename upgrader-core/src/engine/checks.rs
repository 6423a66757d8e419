//! Looking before a run: each pending upgrade's estimate, and the checks (the application's run
//! checks and the upgrades' own), which look and change nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use super::{CheckReport, Engine, flatten};
use crate::context::{Context, Interaction};
use crate::error::{CheckFailure, Error};
use crate::events::Traced;
use crate::upgrade::{CheckFn, Phase, Upgrade};

impl Engine {
    /// The estimates of `upgrades`, in order: `None` for those without one, and for those whose
    /// estimate failed (said through `ui`: a broken estimate must not block a run).
    pub fn estimates(
        &mut self,
        upgrades: &[Upgrade],
        ui: &mut dyn Interaction,
    ) -> Vec<(String, Option<Duration>)> {
        self.estimates_of(upgrades, &mut Traced(ui))
    }

    /// [`Engine::estimates`], for the engine's own calls (whose `ui` is already traced).
    pub(super) fn estimates_of(
        &mut self,
        upgrades: &[Upgrade],
        ui: &mut dyn Interaction,
    ) -> Vec<(String, Option<Duration>)> {
        let mut out = Vec::with_capacity(upgrades.len());
        for upgrade in upgrades {
            let Some(estimate) = upgrade.estimate else {
                out.push((upgrade.id.to_owned(), None));
                continue;
            };
            let mut ctx = Context::new(upgrade.id, &mut self.conn, ui);
            let estimate = match flatten(catch_unwind(AssertUnwindSafe(|| estimate(&mut ctx)))) {
                Ok(duration) => Some(duration),
                Err(reason) => {
                    let reason = self.describe(reason);
                    ui.log(upgrade.id, &format!("its estimate failed: {reason}"));
                    None
                }
            };
            out.push((upgrade.id.to_owned(), estimate));
        }
        out
    }

    /// Everything `run` would check, without applying anything: the database's state, the
    /// estimates, and the pre-run checks and pending upgrades' `pre_upgrade`s.
    pub fn check(&mut self, ui: &mut dyn Interaction) -> Result<CheckReport, Error> {
        let ui = &mut Traced(ui);
        let status = self.status()?;
        let estimates = self.estimates_of(&status.pending, ui);
        let failures = if status.pending.is_empty() {
            Vec::new()
        } else {
            self.run_checks(Phase::PreRun, &status.pending, ui)
        };
        Ok(CheckReport {
            status,
            estimates,
            failures,
        })
    }

    /// Runs the global checks of `phase` and the matching check of each of `upgrades`, all of
    /// them even when some fail, each in a transaction that is rolled back: checks look, they do
    /// not change anything.
    pub(super) fn run_checks(
        &mut self,
        phase: Phase,
        upgrades: &[Upgrade],
        ui: &mut dyn Interaction,
    ) -> Vec<CheckFailure> {
        self.run_checks_of(phase, self.checks_of(phase, upgrades, true), ui)
    }

    /// The names of the checks a run of `upgrades` runs in `phase`, in the order it runs them:
    /// the application's run checks, then each upgrade's own (named by the upgrade's id).
    pub fn check_names(&self, phase: Phase, upgrades: &[Upgrade]) -> Vec<&'static str> {
        self.checks_of(phase, upgrades, true)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// The checks [`Engine::run_checks`] runs, by name, in order; without the global checks
    /// when `globals` is false (a run stopped at its window runs only its upgrades' own
    /// `post_upgrade`s).
    pub(super) fn checks_of(
        &self,
        phase: Phase,
        upgrades: &[Upgrade],
        globals: bool,
    ) -> Vec<(&'static str, CheckFn)> {
        let globals = self
            .plan
            .checks()
            .iter()
            .filter(|c| globals && c.phase == phase)
            .map(|c| (c.name, c.check));
        let own = upgrades.iter().filter_map(|u| {
            let check = match phase {
                Phase::PreRun => u.pre_upgrade,
                Phase::PostRun => u.post_upgrade,
            };
            check.map(|check| (u.id, check))
        });
        globals.chain(own).collect()
    }

    /// Runs `checks` (see [`Engine::run_checks`]).
    pub(super) fn run_checks_of(
        &mut self,
        phase: Phase,
        checks: Vec<(&'static str, CheckFn)>,
        ui: &mut dyn Interaction,
    ) -> Vec<CheckFailure> {
        let mut failures = Vec::new();
        for (name, check) in checks {
            let outcome = self.run_check(name, check, ui);
            ui.check_finished(phase, name, outcome.as_ref().err().map(String::as_str));
            if let Err(reason) = outcome {
                failures.push(CheckFailure {
                    check: name.to_owned(),
                    reason,
                });
            }
        }
        failures
    }

    fn run_check(&mut self, name: &str, check: CheckFn, ui: &mut dyn Interaction) -> Result<(), String> {
        self.conn.begin().map_err(|e| e.to_string())?;
        let mut ctx = Context::new(name, &mut self.conn, ui);
        let result = flatten(catch_unwind(AssertUnwindSafe(|| check(&mut ctx))));
        let _ = self.conn.rollback();
        result.map_err(|reason| self.describe(reason))
    }
}
