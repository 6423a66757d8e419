//! A run with a window ([`RunOptions::max_duration`](super::RunOptions::max_duration)): before
//! each upgrade, whether it can still finish inside the window by its estimate. When it cannot,
//! the run stops cleanly before it: nothing half done, what was applied stays recorded.

use std::time::{Duration, Instant};

use super::RunPreview;
use super::estimate::Estimate;

/// A run that stopped before an upgrade its window had no room for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoppedAtWindow {
    /// The window the run was given.
    pub window: Duration,
    /// How long the run had taken when it stopped (from when it started, the wait for the lock
    /// and the checks included).
    pub elapsed: Duration,
    /// The upgrades it did not apply, in run order, with their estimates; the first is the one
    /// that did not fit.
    pub remaining: Vec<Estimate>,
}

impl StoppedAtWindow {
    /// The upgrade that did not fit.
    pub fn next(&self) -> Option<&Estimate> {
        self.remaining.first()
    }

    /// How long what remains is expected to take.
    pub fn remaining_estimate(&self) -> Duration {
        Estimate::total(&self.remaining)
    }
}

/// Whether an upgrade expected to take `expected` can start `elapsed` into a run and still finish
/// inside `window` (finishing exactly at its end fits).
pub(super) fn fits(elapsed: Duration, expected: Duration, window: Duration) -> bool {
    elapsed.saturating_add(expected) <= window
}

/// Whether a run given `window` (if any), started at `started`, stops before the `index`-th of
/// the upgrades `expected` lists (in run order): when the time passed plus its estimate would pass
/// the window. What remains then is that upgrade and those after it.
pub(super) fn stop_before(
    window: Option<Duration>,
    started: Instant,
    expected: &[Estimate],
    index: usize,
) -> Option<StoppedAtWindow> {
    let window = window?;
    let next = expected.get(index)?;
    let elapsed = started.elapsed();
    (!fits(elapsed, next.expected(), window)).then(|| StoppedAtWindow {
        window,
        elapsed,
        remaining: expected[index..].to_vec(),
    })
}

impl RunPreview {
    /// How many of the pending upgrades, in run order, `window` has room for if each takes what
    /// it is expected to ([`Estimate::expected`]), from the start of the run: a forecast (the run
    /// decides with the time that really passed). 0: the first does not fit, and a run with this
    /// window applies nothing.
    pub fn fitting(&self, window: Duration) -> usize {
        let mut elapsed = Duration::ZERO;
        for (index, estimate) in self.expected.iter().enumerate() {
            if !fits(elapsed, estimate.expected(), window) {
                return index;
            }
            elapsed += estimate.expected();
        }
        self.expected.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_fits_when_it_ends_inside_the_window_or_at_its_end() {
        let s = Duration::from_secs;
        assert!(fits(s(0), s(30), s(30)));
        assert!(fits(s(10), s(20), s(30)));
        assert!(!fits(s(10), s(21), s(30)));
        assert!(!fits(s(0), s(31), s(30)));
        assert!(!fits(Duration::MAX, s(1), s(30)), "no overflow");
    }

    #[test]
    fn the_forecast_counts_the_upgrades_the_window_has_room_for() {
        let s = Duration::from_secs;
        let preview = RunPreview {
            expected: vec![
                Estimate::new("a", Some(s(10)), None),
                Estimate::new("b", None, Some(s(15))),
                Estimate::new("c", None, None),
            ],
            ..RunPreview::default()
        };
        assert_eq!(preview.fitting(s(9)), 0);
        assert_eq!(preview.fitting(s(10)), 1);
        assert_eq!(preview.fitting(s(25)), 2);
        assert_eq!(preview.fitting(s(26)), 3);
        assert_eq!(preview.fitting(s(3600)), 3);
    }
}
