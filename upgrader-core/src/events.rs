//! The engine's events as `tracing` events (target `upgrader`), so an application that embeds the
//! engine routes them into its own logging: the plan's upgrades starting and finishing, what
//! upgrades log, the questions asked and the answers taken, waiting for another runner.
//!
//! Every engine call that talks to the operator wraps its [`Interaction`] in [`Traced`], which
//! emits the event and then passes the call on unchanged: the CLI still prints what it printed,
//! and an application without a terminal gets the same story in its logs.

use std::time::Duration;

use crate::context::Interaction;

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
}
