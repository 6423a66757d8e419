//! The engine's events as `tracing` events (target `upgrader`), so an application that embeds the
//! engine routes them into its own logging: the plan's upgrades starting and finishing, what
//! upgrades log and warn, the questions asked and the answers taken, waiting for another runner,
//! the checks' outcomes, the plan and the run's end.
//!
//! Every engine call that talks to the operator wraps its [`Interaction`] in [`Traced`], which
//! emits the event and then passes the call on unchanged: the CLI still prints what it printed,
//! and an application without a terminal gets the same story in its logs.

use std::time::Duration;

use crate::context::Interaction;
use crate::engine::RunReport;
use crate::error::Error;
use crate::run_events::{PlannedUpgrade, Warning};
use crate::upgrade::Phase;

/// An [`Interaction`] that also emits every call as a `tracing` event.
pub(crate) struct Traced<'a>(pub(crate) &'a mut dyn Interaction);

impl Interaction for Traced<'_> {
    fn ask(&mut self, question: &str, default: &str) -> String {
        let answer = self.0.ask(question, default);
        tracing::info!(target: "upgrader", question, default, answer = answer.as_str(), "question answered");
        answer
    }

    fn confirm(&mut self, question: &str, default: bool) -> bool {
        let answer = self.0.confirm(question, default);
        tracing::info!(target: "upgrader", question, default, answer, "question answered");
        answer
    }

    fn log(&mut self, upgrade: &str, message: &str) {
        tracing::info!(target: "upgrader", upgrade, "{message}");
        self.0.log(upgrade, message);
    }

    fn progress(&mut self, upgrade: &str, done: u64, total: u64) {
        tracing::trace!(target: "upgrader", upgrade, done, total, "progress");
        self.0.progress(upgrade, done, total);
    }

    fn upgrade_started(&mut self, upgrade: &str, index: usize, total: usize) {
        tracing::info!(target: "upgrader", upgrade, number = index + 1, of = total, "upgrade started");
        self.0.upgrade_started(upgrade, index, total);
    }

    fn upgrade_finished(&mut self, upgrade: &str, ok: bool, elapsed: Duration) {
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        if ok {
            tracing::info!(target: "upgrader", upgrade, duration_ms = ms, "upgrade finished");
        } else {
            tracing::error!(target: "upgrader", upgrade, duration_ms = ms, "upgrade failed");
        }
        self.0.upgrade_finished(upgrade, ok, elapsed);
    }

    fn waiting_for_lock(&mut self, holder: Option<&str>) {
        tracing::warn!(target: "upgrader", holder, "waiting for another runner's lock");
        self.0.waiting_for_lock(holder);
    }

    fn run_planned(&mut self, plan: &[PlannedUpgrade]) {
        tracing::info!(target: "upgrader", upgrades = plan.len(), "run planned");
        self.0.run_planned(plan);
    }

    fn check_finished(&mut self, phase: Phase, check: &str, error: Option<&str>) {
        match error {
            None => tracing::info!(target: "upgrader", ?phase, check, "check passed"),
            Some(error) => tracing::error!(target: "upgrader", ?phase, check, error, "check failed"),
        }
        self.0.check_finished(phase, check, error);
    }

    fn warning(&mut self, upgrade: &str, message: &str) {
        tracing::warn!(target: "upgrader", upgrade, "{message}");
        self.0.warning(upgrade, message);
    }

    fn run_finished(&mut self, report: &RunReport, error: Option<&Error>) {
        let (applied, warnings) = (report.applied.len(), report.warnings.len());
        match error {
            None => tracing::info!(target: "upgrader", applied, warnings, "run finished"),
            Some(error) => tracing::error!(target: "upgrader", applied, warnings, %error, "run failed"),
        }
        self.0.run_finished(report, error);
    }
}

/// An [`Interaction`] that keeps every warning given through it (for the run's report), and
/// passes every call on unchanged.
pub(crate) struct Collected<'a> {
    pub(crate) inner: &'a mut dyn Interaction,
    pub(crate) warnings: Vec<Warning>,
}

impl<'a> Collected<'a> {
    pub(crate) fn new(inner: &'a mut dyn Interaction) -> Self {
        Collected {
            inner,
            warnings: Vec::new(),
        }
    }
}

impl Interaction for Collected<'_> {
    fn ask(&mut self, question: &str, default: &str) -> String {
        self.inner.ask(question, default)
    }

    fn confirm(&mut self, question: &str, default: bool) -> bool {
        self.inner.confirm(question, default)
    }

    fn log(&mut self, upgrade: &str, message: &str) {
        self.inner.log(upgrade, message);
    }

    fn progress(&mut self, upgrade: &str, done: u64, total: u64) {
        self.inner.progress(upgrade, done, total);
    }

    fn upgrade_started(&mut self, upgrade: &str, index: usize, total: usize) {
        self.inner.upgrade_started(upgrade, index, total);
    }

    fn upgrade_finished(&mut self, upgrade: &str, ok: bool, elapsed: Duration) {
        self.inner.upgrade_finished(upgrade, ok, elapsed);
    }

    fn waiting_for_lock(&mut self, holder: Option<&str>) {
        self.inner.waiting_for_lock(holder);
    }

    fn run_planned(&mut self, plan: &[PlannedUpgrade]) {
        self.inner.run_planned(plan);
    }

    fn check_finished(&mut self, phase: Phase, check: &str, error: Option<&str>) {
        self.inner.check_finished(phase, check, error);
    }

    fn warning(&mut self, upgrade: &str, message: &str) {
        self.warnings.push(Warning {
            upgrade: upgrade.to_owned(),
            message: message.to_owned(),
        });
        self.inner.warning(upgrade, message);
    }

    fn run_finished(&mut self, report: &RunReport, error: Option<&Error>) {
        self.inner.run_finished(report, error);
    }
}
