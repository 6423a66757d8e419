//! A run, in two phases that each read the database's state once: before the lock (is anything
//! to be done? what would be?), and holding it (what is still to be done, checked, then applied).

use std::time::Instant;

use super::apply::Strategy;
use super::{AppliedUpgrade, Engine, RunOptions, RunPreview, RunReport, Status};
use crate::context::Interaction;
use crate::error::Error;
use crate::events::Traced;
use crate::history::RunKind;
use crate::upgrade::Phase;

impl Engine {
    /// Applies every pending upgrade, holding the run lock.
    ///
    /// In order: the pre-run checks and every pending upgrade's `pre_upgrade` (all of them; if any
    /// fails nothing is applied), then each upgrade with its history row in one transaction
    /// (MySQL/MariaDB: with a start mark, see the README), then every applied upgrade's
    /// `post_upgrade` and the post-run checks. When nothing is pending, returns at once without
    /// taking the lock.
    ///
    /// Until the first upgrade starts (the status, the checks, the wait for the run lock), no
    /// statement waits longer for a lock than the options' lock timeout, when it is shorter than
    /// the wait timeout.
    pub fn run(&mut self, ui: &mut dyn Interaction, options: &RunOptions) -> Result<RunReport, Error> {
        let ui = &mut Traced(ui);
        self.bounded(options, |engine| {
            let status = engine.status()?;
            engine.run_from(&status, ui, options)
        })
    }

    /// What [`Engine::run`] would apply, read the way `run` reads it: the database's state and the
    /// pending upgrades' estimates (those that fail are said through `ui`, as in
    /// [`Engine::estimates`]), no statement waiting for a lock longer than the options' lock
    /// timeout. For showing the plan before a run: [`RunPreview::refusal`] says whether the run
    /// would refuse to start, and [`Engine::run_previewed`] runs it without reading the state
    /// again before the lock.
    pub fn preview_run(
        &mut self,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<RunPreview, Error> {
        let ui = &mut Traced(ui);
        self.bounded(options, |engine| engine.preview_of(ui))
    }

    /// [`Engine::run`] after [`Engine::preview_run`]: the preview is the run's look before the
    /// lock, so the state is read again only holding the lock. (Nothing to do, or nothing but
    /// upgrades a runner is applying: returns without taking the lock, as `run` does.)
    pub fn run_previewed(
        &mut self,
        preview: RunPreview,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<RunReport, Error> {
        let ui = &mut Traced(ui);
        self.bounded(options, |engine| engine.run_from(&preview.status, ui, options))
    }

    fn preview_of(&mut self, ui: &mut dyn Interaction) -> Result<RunPreview, Error> {
        let status = self.status()?;
        let estimates = self.estimates_of(&status.pending, ui);
        Ok(RunPreview { status, estimates })
    }

    /// Runs `f` with no statement waiting for a lock longer than the options' lock timeout (when
    /// shorter than the wait timeout), then gives the session the engine's own timeouts again.
    fn bounded<T>(
        &mut self,
        options: &RunOptions,
        f: impl FnOnce(&mut Engine) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.session_timeouts(self.timeouts.bounded(options.lock_timeout))?;
        let result = f(self);
        // The upgrades set the engine's own timeouts back; after an early return, this does.
        let restored = self.session_timeouts(self.timeouts);
        let value = result?;
        restored?;
        Ok(value)
    }

    /// The run, from the state read before the lock (`before`).
    fn run_from(
        &mut self,
        before: &Status,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<RunReport, Error> {
        // Nothing to do: return without queueing for the lock. Anything else (even a start mark,
        // which may be a live runner's) is looked at again holding the lock.
        if before.pending.is_empty() && before.interrupted.is_empty() && before.running.is_empty() {
            return Ok(RunReport::default());
        }
        self.with_lock(ui, options.lock_timeout, |engine, ui| {
            engine.journaled(|engine| engine.run_locked(ui))
        })
    }

    fn run_locked(&mut self, ui: &mut dyn Interaction) -> Result<RunReport, Error> {
        // Another runner may have applied everything while this one waited.
        let status = self.status()?;
        if let Some(refusal) = status.refusal() {
            return Err(refusal);
        }
        let pending = status.pending;
        let mut report = RunReport::default();
        if pending.is_empty() {
            return Ok(report);
        }
        tracing::info!(target: "upgrader", pending = pending.len(), "plan: {} upgrade(s) to apply", pending.len());
        let failures = self.run_checks(Phase::PreRun, &pending, ui);
        if !failures.is_empty() {
            tracing::error!(target: "upgrader", failed = failures.len(), "pre-run checks failed, nothing applied");
            return Err(Error::PreChecksFailed { failures });
        }
        // After the checks: a database that refuses writes is reported by them, not by this.
        // From here on the run is in the journal, failures included.
        self.set_up_history(RunKind::Run, None)?;
        // The first upgrade starts: the waits are the engine's own again.
        self.session_timeouts(self.timeouts)?;
        let strategy = Strategy::of(self.backend());
        let total = pending.len();
        for (index, upgrade) in pending.iter().enumerate() {
            ui.upgrade_started(upgrade.id, index, total);
            let started = Instant::now();
            let outcome = self.apply(strategy, upgrade, ui);
            ui.upgrade_finished(upgrade.id, outcome.is_ok(), started.elapsed());
            match outcome {
                Ok(duration) => report.applied.push(AppliedUpgrade {
                    id: upgrade.id.to_owned(),
                    duration,
                }),
                Err(failure) => return Err(failure.into_error(upgrade, report)),
            }
        }
        let failures = self.run_checks(Phase::PostRun, &pending, ui);
        if !failures.is_empty() {
            return Err(Error::PostChecksFailed {
                failures,
                report: Box::new(report),
            });
        }
        Ok(report)
    }
}
