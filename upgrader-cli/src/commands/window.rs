//! `run --max-duration`: what the plan says about the window, and what a run that stopped at it
//! says (exit 7).

use std::process::ExitCode;
use std::time::Duration;

use upgrader_core::{Estimate, RunPreview, RunReport, StoppedAtWindow};

use crate::estimates;
use crate::exit;
use crate::output::{duration, note, table};

/// The plan's line about the window. When the window has no room even for the first upgrade,
/// says so and returns the exit code: the run would apply nothing, so nobody is asked.
pub(crate) fn plan_window(preview: &RunPreview, window: Duration) -> Option<ExitCode> {
    let total = preview.expected.len();
    let fit = preview.fitting(window);
    if fit == total {
        note(&format!(
            "window {}: the estimates fit all {total} upgrade(s)",
            duration(window)
        ));
        return None;
    }
    let rest = &preview.expected[fit..];
    if fit == 0 {
        let first = &rest[0];
        note(&format!(
            "stopped at the window: `{}` alone is expected to take {}, longer than the whole window ({}); nothing was applied",
            first.id,
            expected(first),
            duration(window)
        ));
        remaining(rest);
        note(&format!(
            "hint: give the run a window of at least {} (--max-duration), or run it without one",
            duration(first.expected())
        ));
        return Some(ExitCode::from(exit::STOPPED_AT_WINDOW));
    }
    note(&format!(
        "window {}: if each upgrade takes as long as expected, the run stops before `{}` (after {fit} of {total}), leaving {} for a later run",
        duration(window),
        rest[0].id,
        estimates::total(rest)
    ));
    None
}

/// What a run that stopped at its window says, on stderr (stdout has had the applied upgrades),
/// and its exit code.
pub(crate) fn stopped(report: &RunReport, stop: &StoppedAtWindow) -> ExitCode {
    let Some(next) = stop.next() else {
        return ExitCode::from(exit::STOPPED_AT_WINDOW);
    };
    if report.applied.is_empty() {
        note(&format!(
            "stopped at the window ({}) after {}: `{}` is expected to take {}, more than the time left; nothing was applied",
            duration(stop.window),
            duration(stop.elapsed),
            next.id,
            expected(next)
        ));
    } else {
        note(&format!(
            "stopped at the window ({}) after {}: {} upgrade(s) applied and recorded; `{}` is expected to take {}, more than the time left",
            duration(stop.window),
            duration(stop.elapsed),
            report.applied.len(),
            next.id,
            expected(next)
        ));
        note("the post-run checks did not run: they run at the end of the run that applies the rest");
    }
    remaining(&stop.remaining);
    note(&format!(
        "hint: run again in the next window: it continues with `{}`",
        next.id
    ));
    ExitCode::from(exit::STOPPED_AT_WINDOW)
}

/// What remains, with what each is expected to take.
fn remaining(rest: &[Estimate]) {
    note(&format!(
        "remaining: {} upgrade(s), expected {}:",
        rest.len(),
        estimates::total(rest)
    ));
    let rows: Vec<Vec<String>> = rest
        .iter()
        .map(|e| vec![format!("  {}", e.id), expected(e)])
        .collect();
    note(table(&["  UPGRADE", "EXPECTED"], &rows).trim_end());
}

/// What an upgrade is expected to take, and where the figure comes from.
fn expected(estimate: &Estimate) -> String {
    let from = if estimate.measured.is_some() {
        "measured"
    } else if estimate.is_default() {
        "default"
    } else {
        "its estimate"
    };
    format!("{} ({from})", duration(estimate.expected()))
}
