//! Without a terminal (a CI log, a file): one line per upgrade started and finished, with its
//! duration and the run's elapsed and remaining time; what upgrades log and warn in between. No
//! bars, no escape codes.

use std::collections::HashMap;
use std::time::Duration;

use upgrader_core::PlannedUpgrade;

use super::clock::{Rate, RunClock, left_text};
use super::{RunEnd, Sink, count};
use crate::output::{duration, note};

/// The line-per-upgrade display, on stderr.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    state: Shared,
}

/// What the line display and the live one both keep, and the lines both print.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) clock: RunClock,
    /// The running upgrade's position: `[3/8]`.
    pub(super) position: String,
    pub(super) index: usize,
    pub(super) rates: HashMap<String, Rate>,
}

impl Shared {
    pub(super) fn started(&mut self, index: usize, total: usize) {
        self.clock.started(index);
        self.index = index;
        self.position = format!("[{}/{total}]", index + 1);
    }

    pub(super) fn progress(&mut self, upgrade: &str, done: u64, total: u64) -> &Rate {
        self.rates
            .entry(upgrade.to_owned())
            .and_modify(|r| r.update(done, total))
            .or_insert_with(|| Rate::new(done, total))
    }

    /// `[1/8] accounts_2024_01_10_initial started (estimated 1s)`.
    pub(super) fn started_line(&self, upgrade: &str) -> String {
        match self.clock.estimate(self.index, upgrade) {
            Some(estimate) => format!(
                "{} {upgrade} started (estimated {})",
                self.position,
                duration(estimate)
            ),
            None => format!("{} {upgrade} started (no estimate)", self.position),
        }
    }

    /// `[1/8] accounts_2024_01_10_initial finished in 12ms, 1200/1200 at 3400/s; run: 40ms
    /// elapsed, about 5s left`, or `… FAILED after 3ms`.
    pub(super) fn finished_line(&mut self, upgrade: &str, ok: bool, elapsed: Duration) -> String {
        let mut line = if ok {
            format!("{} {upgrade} finished in {}", self.position, duration(elapsed))
        } else {
            format!("{} {upgrade} FAILED after {}", self.position, duration(elapsed))
        };
        if let Some(rate) = self.rates.remove(upgrade).filter(|r| r.total > 0) {
            line.push_str(&format!(", {}", rate.describe()));
        }
        if ok {
            line.push_str(&format!(
                "; run: {} elapsed, {}",
                duration(self.clock.elapsed()),
                left_text(self.clock.remaining_after(self.index))
            ));
        }
        line
    }

    /// The run's summary: `8 upgrades applied in 1s, 2 warnings:` and each warning; nothing when
    /// nothing was applied or warned.
    pub(super) fn summary(&self, end: &RunEnd<'_>) -> Vec<String> {
        if end.applied.is_empty() && end.warnings.is_empty() {
            return Vec::new();
        }
        let applied = if end.error.is_some() {
            format!("{} upgrade(s) applied before the failure", end.applied.len())
        } else {
            format!(
                "{} upgrade(s) applied in {}",
                end.applied.len(),
                duration(self.clock.elapsed())
            )
        };
        if end.warnings.is_empty() {
            return vec![format!("{applied}, no warnings")];
        }
        let mut lines = vec![format!("{applied}, {}:", count(end.warnings.len(), "warning"))];
        for warning in end.warnings {
            lines.push(format!("  warning: {}: {}", warning.upgrade, warning.message));
        }
        lines
    }
}

impl Sink for Lines {
    fn plan(&mut self, plan: &[PlannedUpgrade]) {
        self.state.clock.plan(plan);
    }

    fn started(&mut self, upgrade: &str, index: usize, total: usize) {
        self.state.started(index, total);
        note(&self.state.started_line(upgrade));
    }

    fn progress(&mut self, upgrade: &str, done: u64, total: u64) {
        self.state.progress(upgrade, done, total);
    }

    fn log(&mut self, _upgrade: &str, message: &str) {
        note(&format!("  {message}"));
    }

    fn warning(&mut self, _upgrade: &str, message: &str) {
        note(&format!("  warning: {message}"));
    }

    fn finished(&mut self, upgrade: &str, ok: bool, elapsed: Duration) {
        note(&self.state.finished_line(upgrade, ok, elapsed));
    }

    fn waiting(&mut self, holder: Option<&str>) {
        note(&waiting_line(holder));
    }

    fn end(&mut self, end: &RunEnd<'_>) {
        for line in self.state.summary(end) {
            note(&line);
        }
    }
}

pub(super) fn waiting_line(holder: Option<&str>) -> String {
    match holder {
        Some(holder) => format!("waiting for another runner to finish ({holder})..."),
        None => "waiting for another runner to finish...".to_owned(),
    }
}
