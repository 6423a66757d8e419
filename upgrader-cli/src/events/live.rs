//! On a terminal: a live line for the whole run (which upgrade of how many, the elapsed time and
//! the time left from the estimates) and, for an upgrade that reports progress, a bar with its
//! rate and time left. Each upgrade that finishes leaves a line above them, as [`super::Lines`]
//! writes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use upgrader_core::PlannedUpgrade;

use super::clock::{RunClock, left_text};
use super::lines::{Shared, waiting_line};
use super::{RunEnd, Sink};
use crate::output::{duration, note, printable};

/// How often the live line is redrawn (its clock moves between events).
const TICK: Duration = Duration::from_millis(200);

/// The live display, on stderr.
pub(crate) struct Live {
    bars: MultiProgress,
    run: Option<ProgressBar>,
    upgrades: HashMap<String, ProgressBar>,
    state: Shared,
    /// What the live line's clock reads from its drawing thread.
    clock: Arc<Mutex<RunClock>>,
}

impl Live {
    pub(crate) fn new() -> Live {
        Live {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            run: None,
            upgrades: HashMap::new(),
            state: Shared::default(),
            clock: Arc::new(Mutex::new(RunClock::default())),
        }
    }

    /// Runs `f` (a prompt) with the bars out of its way.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bars.suspend(f)
    }

    /// Takes the bars off the screen.
    pub(crate) fn clear(self) {
        if let Some(run) = &self.run {
            run.finish_and_clear();
        }
        let _ = self.bars.clear();
    }

    /// A line above the bars (on stderr, like [`note`]).
    fn line(&self, text: &str) {
        if self.run.is_some() {
            let _ = self.bars.println(printable(text));
        } else {
            note(text);
        }
    }

    fn sync_clock(&self) {
        if let Ok(mut clock) = self.clock.lock() {
            *clock = self.state.clock.clone();
        }
    }
}

impl Sink for Live {
    fn plan(&mut self, plan: &[PlannedUpgrade]) {
        self.state.clock.plan(plan);
        self.sync_clock();
        let clock = Arc::clone(&self.clock);
        // Hidden until added: a bar draws on stderr by itself until then.
        let run = ProgressBar::with_draw_target(Some(plan.len() as u64), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{prefix} {msg}: {clock}") {
            run.set_style(
                style.with_key("clock", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    if let Ok(clock) = clock.lock() {
                        let _ = write!(w, "{} elapsed", duration(clock.elapsed()));
                        if let Some(left) = clock.remaining() {
                            let _ = write!(w, ", {}", left_text(left));
                        }
                    }
                }),
            );
        }
        run.set_prefix(format!("[0/{}]", plan.len()));
        run.set_message("checking");
        let run = self.bars.add(run);
        run.enable_steady_tick(TICK);
        self.run = Some(run);
    }

    fn started(&mut self, upgrade: &str, index: usize, total: usize) {
        self.state.started(index, total);
        self.sync_clock();
        if let Some(run) = &self.run {
            // The message first: the position redraws the line.
            run.set_message(printable(upgrade).into_owned());
            run.set_prefix(self.state.position.clone());
            run.set_position(index as u64);
        }
    }

    fn progress(&mut self, upgrade: &str, done: u64, total: u64) {
        let text = self.state.progress(upgrade, done, total).describe();
        let bars = &self.bars;
        let bar = self.upgrades.entry(upgrade.to_owned()).or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template("  [{bar:30}] {msg}") {
                bar.set_style(style.progress_chars("=> "));
            }
            bars.add(bar)
        });
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(text);
    }

    fn log(&mut self, _upgrade: &str, message: &str) {
        self.line(&format!("  {message}"));
    }

    fn warning(&mut self, _upgrade: &str, message: &str) {
        self.line(&format!("  warning: {message}"));
    }

    fn finished(&mut self, upgrade: &str, ok: bool, elapsed: Duration) {
        if let Some(bar) = self.upgrades.remove(upgrade) {
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
        let line = self.state.finished_line(upgrade, ok, elapsed);
        self.line(&line);
    }

    fn waiting(&mut self, holder: Option<&str>) {
        self.line(&waiting_line(holder));
    }

    fn end(&mut self, end: &RunEnd<'_>) {
        if let Some(run) = self.run.take() {
            run.finish_and_clear();
            self.bars.remove(&run);
        }
        for line in self.state.summary(end) {
            note(&line);
        }
    }
}
