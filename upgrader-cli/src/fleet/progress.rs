//! What `run --fleet` shows while it goes: on a terminal, a live line (targets done, running and
//! failed, and the time left for the fleet); without one, a line per target done; with `--json`,
//! the fleet's events and each target's run events, tagged with the target, on stdout. The log
//! file gets a line per target done.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use upgrader_core::{FleetEvents, FleetTarget, Interaction, TargetOutcome, TargetResult};

pub(super) use crate::events::error_text;
use crate::events::{Display, JsonEvents, LogFile, RunUi, count};
use crate::output::{StdoutFailed, duration, json_line, note};
use crate::ui::TerminalUi;

/// How the fleet is shown.
pub(super) struct FleetProgress {
    total: usize,
    json: bool,
    bar: Option<ProgressBar>,
    state: Mutex<Counts>,
    log: Mutex<Option<LogFile>>,
}

/// One target's run: its events to the fleet's `--json` stream ([`RunUi`], tagged with the
/// target); each question an upgrade asks gets its default, and the fleet says it once.
struct TargetUi<'a> {
    run: RunUi,
    fleet: &'a FleetProgress,
}

impl Interaction for TargetUi<'_> {
    fn ask(&mut self, question: &str, default: &str) -> String {
        let answer = self.run.ask(question, default);
        self.fleet.answered(question, &answer);
        answer
    }

    fn confirm(&mut self, question: &str, default: bool) -> bool {
        let answer = self.run.confirm(question, default);
        self.fleet.answered(question, if answer { "yes" } else { "no" });
        answer
    }

    fn log(&mut self, upgrade: &str, message: &str) {
        self.run.log(upgrade, message);
    }

    fn progress(&mut self, upgrade: &str, done: u64, total: u64) {
        self.run.progress(upgrade, done, total);
    }

    fn upgrade_started(&mut self, upgrade: &str, index: usize, total: usize) {
        self.run.upgrade_started(upgrade, index, total);
    }

    fn upgrade_finished(&mut self, upgrade: &str, ok: bool, elapsed: Duration) {
        self.run.upgrade_finished(upgrade, ok, elapsed);
    }

    fn waiting_for_lock(&mut self, holder: Option<&str>) {
        self.run.waiting_for_lock(holder);
    }

    fn run_planned(&mut self, plan: &[upgrader_core::PlannedUpgrade]) {
        self.run.run_planned(plan);
    }

    fn check_finished(&mut self, phase: upgrader_core::Phase, check: &str, error: Option<&str>) {
        self.run.check_finished(phase, check, error);
    }

    fn warning(&mut self, upgrade: &str, message: &str) {
        self.run.warning(upgrade, message);
    }

    fn run_finished(&mut self, report: &upgrader_core::RunReport, error: Option<&upgrader_core::Error>) {
        self.run.run_finished(report, error);
    }
}

#[derive(Default)]
struct Counts {
    done: usize,
    failed: usize,
    running: usize,
    /// The targets set aside because another runner holds their lock, by position.
    held: std::collections::HashSet<usize>,
    /// The first write to stdout that failed (`--json`): nothing more is written.
    stdout: Option<StdoutFailed>,
    /// The questions said so far, with their answers.
    questions: std::collections::HashSet<(String, String)>,
}

impl FleetProgress {
    pub(super) fn new(total: usize, json: bool, terminal: bool, log: Option<LogFile>) -> FleetProgress {
        let bar = (terminal && !json).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "fleet [{bar:20}] {pos}/{len} targets done, {msg}, {elapsed}, about {eta} left",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message("0 running, 0 failed");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        FleetProgress {
            total,
            json,
            bar,
            state: Mutex::new(Counts::default()),
            log: Mutex::new(log),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fleet event on stdout (`--json`), tagged with `event` and `ts`.
    pub(super) fn emit(&self, event: &str, mut fields: serde_json::Value) {
        if !self.json {
            return;
        }
        let mut counts = self.counts();
        if counts.stdout.is_some() {
            return;
        }
        if let Some(map) = fields.as_object_mut() {
            map.insert("event".into(), event.into());
            map.insert("ts".into(), crate::events::timestamp().into());
        }
        if let Err(e) = json_line(&fields) {
            counts.stdout = Some(e);
        }
    }

    /// A line for the operator: above the live line on a terminal, else on stderr; not with
    /// `--json`, where the stream says it.
    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| note(line)),
            None if !self.json => note(line),
            None => {}
        }
    }

    fn redraw(&self, counts: &Counts) {
        if let Some(bar) = &self.bar {
            bar.set_position(counts.done as u64);
            let mut message = format!("{} running, {} failed", counts.running, counts.failed);
            if !counts.held.is_empty() {
                message.push_str(&format!(", {} held by other runners", counts.held.len()));
            }
            bar.set_message(message);
        }
    }

    /// An upgrade's question got its default: said the first time it is given for any target.
    fn answered(&self, question: &str, answer: &str) {
        let first = self
            .counts()
            .questions
            .insert((question.to_owned(), answer.to_owned()));
        if first {
            let line = format!("  {question} -> {answer} (the default, for every target)");
            self.say(&line);
            self.log(&line);
        }
    }

    fn log(&self, line: &str) {
        if let Some(log) = self.log.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            log.line(line);
        }
    }

    /// The display gone, the log file's and stdout's errors, when writing them failed.
    pub(super) fn finish(self) -> (Option<StdoutFailed>, Option<crate::events::LogFileError>) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let log = self
            .log
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .and_then(LogFile::into_error);
        let stdout = self.state.into_inner().unwrap_or_else(|e| e.into_inner()).stdout;
        (stdout, log)
    }
}

/// What a target's run did, in a few words: `3 upgrades applied`, `up to date`, the error.
pub(super) fn outcome_text(result: &TargetResult) -> String {
    match &result.outcome {
        TargetOutcome::Done(report) if report.applied.is_empty() => "up to date".into(),
        TargetOutcome::Done(report) => format!("{} applied", count(report.applied.len(), "upgrade")),
        TargetOutcome::Failed(error) => error_text(error),
        TargetOutcome::NotStarted => "not started".into(),
        _ => "unknown".into(),
    }
}

/// The outcome's name in `--json`: `done`, `failed`, `not_started`.
pub(super) fn outcome_name(outcome: &TargetOutcome) -> &'static str {
    match outcome {
        TargetOutcome::Done(_) => "done",
        TargetOutcome::Failed(_) => "failed",
        TargetOutcome::NotStarted => "not_started",
        _ => "unknown",
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl FleetEvents for FleetProgress {
    fn interaction(&self, target: &FleetTarget) -> Box<dyn Interaction + '_> {
        // Nobody answers an upgrade's question in a fleet: each gets its default (the fleet was
        // confirmed once, as a whole).
        let json = self.json.then(|| JsonEvents::for_target(target.name()));
        let mut ui = RunUi::new(TerminalUi::quiet(), Display::Quiet, json, None);
        ui.target(&target.name(), target.url.backend());
        Box::new(TargetUi { run: ui, fleet: self })
    }

    fn group_started(&self, wave: usize, canary: bool, targets: &[FleetTarget]) {
        let what = if canary {
            "canary".to_owned()
        } else {
            format!("wave {wave}")
        };
        self.emit(
            "group",
            json!({"group": if canary { "canary" } else { "wave" }, "wave": wave, "targets": targets.len()}),
        );
        if canary || wave > 1 || targets.len() < self.total {
            self.say(&format!("{what}: {}", count(targets.len(), "target")));
        }
        self.log(&format!("fleet {what}: {}", count(targets.len(), "target")));
    }

    fn target_started(&self, target: &FleetTarget) {
        self.emit(
            "target_started",
            json!({"target": target.name(), "origin": target.origin}),
        );
        let mut counts = self.counts();
        counts.held.remove(&target.index);
        counts.running += 1;
        self.redraw(&counts);
    }

    fn target_held(&self, target: &FleetTarget, holder: Option<&str>) {
        self.emit("target_held", json!({"target": target.name(), "holder": holder}));
        {
            let mut counts = self.counts();
            counts.running = counts.running.saturating_sub(1);
            counts.held.insert(target.index);
            self.redraw(&counts);
        }
        if self.bar.is_none() {
            self.say(&format!(
                "held: {} is being upgraded by another runner{}; trying it again after the others",
                target.name(),
                holder.map(|h| format!(" ({h})")).unwrap_or_default()
            ));
        }
    }

    fn target_finished(&self, result: &TargetResult) {
        let target = &result.target;
        let (applied, error) = match &result.outcome {
            TargetOutcome::Done(report) => (report.applied_ids(), None),
            TargetOutcome::Failed(error) => (
                error.report().map(|r| r.applied_ids()).unwrap_or_default(),
                Some(error_text(error)),
            ),
            _ => (Vec::new(), None),
        };
        self.emit(
            "target_finished",
            json!({
                "target": target.name(),
                "origin": target.origin,
                "outcome": outcome_name(&result.outcome),
                "applied": applied,
                "error": error,
                "duration_ms": ms(result.duration),
                "held": result.held,
            }),
        );
        let done = {
            let mut counts = self.counts();
            counts.running = counts.running.saturating_sub(1);
            counts.done += 1;
            if result.failed() {
                counts.failed += 1;
            }
            self.redraw(&counts);
            counts.done
        };
        let line = match &result.outcome {
            TargetOutcome::Failed(_) => format!(
                "[{done}/{}] FAILED {} ({}): {}",
                self.total,
                target.name(),
                target.origin,
                outcome_text(result)
            ),
            _ => format!(
                "[{done}/{}] {}: {} ({})",
                self.total,
                target.name(),
                outcome_text(result),
                duration(result.duration)
            ),
        };
        self.say(&line);
        self.log(&line);
    }
}
