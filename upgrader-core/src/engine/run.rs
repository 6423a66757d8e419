//! A run, in two phases that each read the database's state once: before the lock (is anything
//! to be done? what would be?), and holding it (what is still to be done, checked, then applied).

use std::collections::HashMap;
use std::time::Instant;

use super::apply::{Failure, Strategy};
use super::estimate::Estimate;
use super::window;
use super::{AppliedUpgrade, Engine, RunOptions, RunPreview, RunReport, Status};
use crate::context::Interaction;
use crate::error::Error;
use crate::events::{Collected, Traced};
use crate::run_events::PlannedUpgrade;
use crate::upgrade::{Phase, Upgrade};

impl Engine {
    /// Applies every pending upgrade (or those the options' target selects, see
    /// [`RunTarget`](super::RunTarget)), holding the run lock; in one transaction when the
    /// options' mode says so (see [`RunMode`](super::RunMode), refused on MySQL/MariaDB).
    ///
    /// In order: the pre-run checks and every pending upgrade's `pre_upgrade` (all of them; if any
    /// fails nothing is applied), then each upgrade with its history row in one transaction
    /// (MySQL/MariaDB: with a start mark, see the README), then every applied upgrade's
    /// `post_upgrade` and the post-run checks. When nothing is pending, returns at once without
    /// taking the lock. Refused, changing nothing, while an upgrade is interrupted or an applied
    /// upgrade was edited since ([`Status::refusal`]). (To run the checks before asking someone
    /// whether to go ahead, see [`Engine::preview_run`].)
    ///
    /// Until the first upgrade starts (the status, the checks, the wait for the run lock), no
    /// statement waits longer for a lock than the options' lock timeout, when it is shorter than
    /// the wait timeout.
    ///
    /// With a window ([`RunOptions::max_duration`], counted from this call: the wait for the
    /// lock and the checks count), each upgrade starts only if the time passed plus its estimate
    /// (measured in [`RunOptions::timings`] where it was) fits in the window; else the run stops
    /// before it and returns what it applied with [`RunReport::stopped`] saying what remains.
    /// Nothing is half done. A stopped run runs the `post_upgrade`s of the upgrades it applied,
    /// but not the post-run checks, which look at the database a whole run leaves (they run at
    /// the end of the run that finishes the plan). An upgrade whose estimate alone is longer than
    /// the window never starts: a window too short for the first upgrade applies nothing.
    ///
    /// Tells `ui` the plan before the checks ([`Interaction::run_planned`], without estimates:
    /// [`Engine::run_previewed`] has them), each check's outcome, and the run's end
    /// ([`Interaction::run_finished`]); the report (also the partial one a failed run's error
    /// carries) keeps the warnings upgrades gave.
    pub fn run(&mut self, ui: &mut dyn Interaction, options: &RunOptions) -> Result<RunReport, Error> {
        self.run_reported(None, ui, options)
    }

    /// What [`Engine::run`] would apply, read the way `run` reads it, no statement waiting for a
    /// lock longer than the options' lock timeout: the database's state, the pending upgrades'
    /// estimates (those that fail are said through `ui`, as in [`Engine::estimates`]) with the
    /// options' measured durations beside them, and, when there is something to apply and
    /// nothing is interrupted, the pre-run checks and the pending upgrades' `pre_upgrade`s, all
    /// of them (checks first: the plan shown is one that can run). For showing the plan before a
    /// run: [`RunPreview::refusal`] says whether the run would refuse to start (interrupted
    /// upgrades, failed checks), and [`Engine::run_previewed`] runs it.
    pub fn preview_run(
        &mut self,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<RunPreview, Error> {
        options.mode.supported_by(self.backend())?;
        let traced = &mut Traced(ui);
        let ui = &mut Collected::new(traced);
        let mut preview = self.bounded(options, |engine| engine.preview_of(ui, options))?;
        preview.warnings = std::mem::take(&mut ui.warnings);
        Ok(preview)
    }

    /// [`Engine::run`] after [`Engine::preview_run`]: the preview is the run's look before the
    /// lock, so the state is read again only holding the lock. When the pending upgrades found
    /// then are the ones the preview checked, the checks are not run again; when they changed
    /// (another runner applied some meanwhile), they are. (Nothing to do, or nothing but
    /// upgrades a runner is applying: returns without taking the lock, as `run` does.) A window
    /// ([`RunOptions::max_duration`]) is counted from this call.
    pub fn run_previewed(
        &mut self,
        preview: RunPreview,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<RunReport, Error> {
        self.run_reported(Some(preview), ui, options)
    }

    /// The run, from the preview when there is one; keeps the warnings in the report and tells
    /// `ui` how it ended.
    fn run_reported(
        &mut self,
        preview: Option<RunPreview>,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<RunReport, Error> {
        options.mode.supported_by(self.backend())?;
        let ui = &mut Traced(ui);
        // The window counts from here: the wait for the lock and the checks count.
        let run_started = Instant::now();
        let mut result = self.bounded(options, |engine| match &preview {
            Some(preview) => engine.run_from(&preview.status, Some(preview), run_started, ui, options),
            None => {
                let status = engine.chosen_status(options)?;
                engine.run_from(&status, None, run_started, ui, options)
            }
        });
        // The preview's checks' warnings first: they were given before this run's (which the run
        // collects holding the lock: nothing runs an upgrade's code outside it).
        let mut warnings = preview.map(|p| p.warnings).unwrap_or_default();
        let mut unreported = RunReport::default();
        let report = match &mut result {
            Ok(report) => report,
            Err(error) => error.report_mut().unwrap_or(&mut unreported),
        };
        warnings.append(&mut report.warnings);
        report.warnings = warnings;
        let report = match &result {
            Ok(report) => report,
            Err(error) => error.report().unwrap_or(&unreported),
        };
        ui.run_finished(report, result.as_ref().err());
        result
    }

    fn preview_of(&mut self, ui: &mut dyn Interaction, options: &RunOptions) -> Result<RunPreview, Error> {
        let status = self.chosen_status(options)?;
        options.mode.allows(&status.pending)?;
        let estimates = self.estimates_of(&status.pending, ui);
        let expected = Estimate::list(&estimates, &options.timings);
        let mut preview = RunPreview {
            status,
            estimates,
            expected,
            ..RunPreview::default()
        };
        if !preview.status.pending.is_empty() && preview.status.refusal().is_none() {
            // The plan first, then the checks it needs.
            ui.run_planned(&planned(&preview.status.pending, Some(&preview.expected)));
            let checks = self.checks_of(Phase::PreRun, &preview.status.pending, true);
            preview.checks = checks.iter().map(|(name, _)| (*name).to_owned()).collect();
            preview.check_failures = self.run_checks_of(Phase::PreRun, checks, ui);
            preview.checked = true;
            if !preview.check_failures.is_empty() {
                tracing::error!(target: "upgrader", failed = preview.check_failures.len(), "pre-run checks failed, nothing applied");
            }
        }
        Ok(preview)
    }

    /// The database's state, its pending upgrades narrowed to those the options' target selects
    /// ([`RunTarget::select`](super::RunTarget::select)).
    fn chosen_status(&mut self, options: &RunOptions) -> Result<Status, Error> {
        let mut status = self.status()?;
        status.pending = options.target.select(&self.plan, status.pending)?;
        Ok(status)
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

    /// The run, from the state read before the lock (`before`, and the `preview` it came from,
    /// if any), started at `run_started` (where its window begins).
    fn run_from(
        &mut self,
        before: &Status,
        preview: Option<&RunPreview>,
        run_started: Instant,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<RunReport, Error> {
        // An applied upgrade edited since: refused before the lock, even with nothing pending (no
        // runner can settle it meanwhile; an interrupted upgrade is looked at holding the lock).
        if before.interrupted.is_empty()
            && let Some(refusal) = before.refusal()
        {
            return Err(refusal);
        }
        // Nothing to do: return without queueing for the lock. Anything else (even a start mark,
        // which may be a live runner's) is looked at again holding the lock.
        if before.pending.is_empty() && before.interrupted.is_empty() && before.running.is_empty() {
            return Ok(RunReport::default());
        }
        let lock_wait = match options.wait_for_lock {
            true => options.lock_timeout,
            false => std::time::Duration::ZERO,
        };
        self.with_lock(ui, lock_wait, |engine, ui| {
            // The journal counts the warnings given holding the lock (the preview's are the
            // run's too: see `run_reported`).
            let preview_warnings = preview.map_or(0, |p| p.warnings.len());
            engine.journaled(
                |engine| {
                    let ui = &mut Collected::new(ui);
                    let mut result = engine.run_locked(preview, run_started, ui, options);
                    let warnings = std::mem::take(&mut ui.warnings);
                    if let Some(report) = match &mut result {
                        Ok(report) => Some(report),
                        Err(error) => error.report_mut(),
                    } {
                        report.warnings = warnings;
                    }
                    result
                },
                |result| {
                    preview_warnings
                        + match result {
                            Ok(report) => report.warnings.len(),
                            Err(error) => error.report().map_or(0, |r| r.warnings.len()),
                        }
                },
            )
        })
    }

    fn run_locked(
        &mut self,
        preview: Option<&RunPreview>,
        run_started: Instant,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<RunReport, Error> {
        // Another runner may have applied everything while this one waited.
        let status = self.chosen_status(options)?;
        if let Some(refusal) = status.refusal() {
            return Err(refusal);
        }
        let pending = status.pending;
        let mut report = RunReport::default();
        if pending.is_empty() {
            return Ok(report);
        }
        tracing::info!(target: "upgrader", pending = pending.len(), "plan: {} upgrade(s) to apply", pending.len());
        // The plan, unless the preview told it already and it did not change.
        if !preview.is_some_and(|p| p.checked && same(&p.status.pending, &pending)) {
            ui.run_planned(&planned(&pending, preview.map(|p| p.expected.as_slice())));
        }
        options.mode.allows(&pending)?;
        if options.mode.is_one_transaction() {
            return self.run_whole(options.mode, &pending, ui);
        }
        // The preview's look, when it checked exactly these upgrades (and they all passed).
        let looked =
            preview.filter(|p| p.checked && p.check_failures.is_empty() && same(&p.status.pending, &pending));
        if looked.is_none() {
            let failures = self.run_checks(Phase::PreRun, &pending, ui);
            if !failures.is_empty() {
                tracing::error!(target: "upgrader", failed = failures.len(), "pre-run checks failed, nothing applied");
                return Err(Error::PreChecksFailed { failures });
            }
        }
        // What the window counts on, only when there is one (estimates run queries).
        let expected = match (options.max_duration, looked) {
            (None, _) => Vec::new(),
            (Some(_), Some(preview)) => preview.expected.clone(),
            (Some(_), None) => Estimate::list(&self.estimates_of(&pending, ui), &options.timings),
        };
        let strategy = Strategy::of(self.backend());
        let total = pending.len();
        for (index, upgrade) in pending.iter().enumerate() {
            if let Some(stop) = window::stop_before(options.max_duration, run_started, &expected, index) {
                tracing::warn!(target: "upgrader", upgrade = upgrade.id, remaining = total - index, "stopped at the window before `{}`", upgrade.id);
                report.stopped = Some(stop);
                break;
            }
            if index == 0 {
                // After the checks: a database that refuses writes is reported by them, not by
                // this. Not before a run that stops at once: that one changes nothing. From here
                // on the run is in the journal, failures included (its first write waits no longer
                // for a lock than the first upgrade would).
                self.start_run(upgrade, ui)?;
                // The first upgrade starts: the waits are the engine's own again.
                self.session_timeouts(self.timeouts)?;
            }
            if let Err(failure) = self.apply_told(strategy, upgrade, (index, total), ui, &mut report) {
                return Err(failure.into_error(upgrade, report));
            }
        }
        // A stopped run: the post_upgrades of what it applied, not the post-run checks (see
        // `Engine::run`).
        let applied = &pending[..report.applied.len()];
        let checks = self.checks_of(Phase::PostRun, applied, report.stopped.is_none());
        let failures = self.run_checks_of(Phase::PostRun, checks, ui);
        if !failures.is_empty() {
            return Err(Error::PostChecksFailed {
                failures,
                report: Box::new(report),
            });
        }
        Ok(report)
    }
}

impl Engine {
    /// Applies the `index`-th upgrade of `total` ([`Engine::apply`]), telling `ui` when it starts
    /// and ends; what it applied goes in `report`.
    pub(super) fn apply_told(
        &mut self,
        strategy: Strategy,
        upgrade: &Upgrade,
        (index, total): (usize, usize),
        ui: &mut dyn Interaction,
        report: &mut RunReport,
    ) -> Result<(), Failure> {
        ui.upgrade_started(upgrade.id, index, total);
        let started = Instant::now();
        let outcome = self.apply(strategy, upgrade, ui);
        ui.upgrade_finished(upgrade.id, outcome.is_ok(), started.elapsed());
        let duration = outcome?;
        report.applied.push(AppliedUpgrade {
            id: upgrade.id.to_owned(),
            duration,
        });
        Ok(())
    }
}

/// The plan as [`Interaction::run_planned`] tells it: each upgrade with what its estimate
/// counts on (measured, else its own, else the default), when the estimates were read.
fn planned(pending: &[Upgrade], expected: Option<&[Estimate]>) -> Vec<PlannedUpgrade> {
    let by_id: HashMap<&str, &Estimate> = expected
        .unwrap_or_default()
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    pending
        .iter()
        .map(|u| PlannedUpgrade::new(u.id, by_id.get(u.id).map(|e| e.expected())))
        .collect()
}

/// Whether two lists of pending upgrades are the same upgrades in the same order.
fn same(a: &[Upgrade], b: &[Upgrade]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.id == b.id)
}
