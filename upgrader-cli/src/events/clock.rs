//! The run's own clock: how long it has run, and how long the rest should take from the
//! estimates.

use std::sync::Arc;
use std::time::{Duration, Instant};

use upgrader_core::PlannedUpgrade;

/// An upgrade without an estimate counts as one second, as in the seed system.
const UNESTIMATED: Duration = Duration::from_secs(1);

/// Elapsed and remaining time for the whole run. Cheap to clone (the live display's drawing
/// thread reads a copy), and every question it answers costs the same whatever the plan's length.
#[derive(Debug, Clone)]
pub(crate) struct RunClock {
    started: Instant,
    plan: Arc<Plan>,
    /// The upgrade running now (its index in the plan) and when it started.
    current: Option<(usize, Instant)>,
}

/// The plan as the clock reads it, in run order.
#[derive(Debug, Default)]
struct Plan {
    ids: Vec<String>,
    /// Each upgrade's estimate (`None`: it has none).
    estimates: Vec<Option<Duration>>,
    /// `from[i]`: what the upgrades from the `i`-th on should take (one more entry, zero).
    from: Vec<Duration>,
}

impl Default for RunClock {
    fn default() -> Self {
        RunClock {
            started: Instant::now(),
            plan: Arc::default(),
            current: None,
        }
    }
}

impl RunClock {
    /// The run starts now, with this plan.
    pub(crate) fn plan(&mut self, plan: &[PlannedUpgrade]) {
        let estimates: Vec<_> = plan.iter().map(|p| p.estimate).collect();
        let mut from = vec![Duration::ZERO; plan.len() + 1];
        for (i, estimate) in estimates.iter().enumerate().rev() {
            from[i] = from[i + 1] + estimate.unwrap_or(UNESTIMATED);
        }
        self.plan = Arc::new(Plan {
            ids: plan.iter().map(|p| p.id.clone()).collect(),
            estimates,
            from,
        });
    }

    /// The `index`-th upgrade of the plan starts.
    pub(crate) fn started(&mut self, index: usize) {
        // The run's time counts from its first upgrade: not the question before it.
        if self.current.is_none() {
            self.started = Instant::now();
        }
        self.current = Some((index, Instant::now()));
    }

    /// How long the run has taken so far.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// How long the rest of the run should take: what is left of the running upgrade's estimate
    /// (nothing once it overran it), and the estimates of those after it. `None` before the plan.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        if self.plan.ids.is_empty() {
            return None;
        }
        let Some((index, since)) = self.current else {
            return Some(self.sum_from(0));
        };
        let current = self.plan.estimates.get(index).map_or(Duration::ZERO, |e| {
            e.unwrap_or(UNESTIMATED).saturating_sub(since.elapsed())
        });
        Some(current + self.sum_from(index + 1))
    }

    /// Once the `index`-th upgrade finished: what the rest should take.
    pub(crate) fn remaining_after(&self, index: usize) -> Duration {
        self.sum_from(index + 1)
    }

    /// The estimates from the `first`-th upgrade on, one second for each without one.
    fn sum_from(&self, first: usize) -> Duration {
        self.plan.from.get(first).copied().unwrap_or_default()
    }

    /// The estimate the `index`-th upgrade of the plan, `upgrade`, gave (`None` when it gave
    /// none, or is not there).
    pub(crate) fn estimate(&self, index: usize, upgrade: &str) -> Option<Duration> {
        let at = match self.plan.ids.get(index) {
            Some(id) if id == upgrade => index,
            _ => self.plan.ids.iter().position(|id| id == upgrade)?,
        };
        self.plan.estimates[at]
    }
}

/// How far an upgrade's own progress is: `done` of `total`, its rate and the time left.
#[derive(Debug, Clone)]
pub(crate) struct Rate {
    first: Instant,
    first_done: u64,
    pub(crate) done: u64,
    pub(crate) total: u64,
}

impl Rate {
    pub(crate) fn new(done: u64, total: u64) -> Rate {
        Rate {
            first: Instant::now(),
            first_done: done,
            done,
            total,
        }
    }

    pub(crate) fn update(&mut self, done: u64, total: u64) {
        self.done = done;
        self.total = total;
    }

    /// Units per second since the first report, when any time has passed.
    pub(crate) fn per_sec(&self) -> Option<f64> {
        let secs = self.first.elapsed().as_secs_f64();
        (secs > 0.0).then(|| self.done.saturating_sub(self.first_done) as f64 / secs)
    }

    /// The time left at this rate (`None` while the rate is unknown or nothing moved).
    pub(crate) fn left(&self) -> Option<Duration> {
        let rate = self.per_sec().filter(|r| *r > 0.0)?;
        let left = self.total.saturating_sub(self.done) as f64 / rate;
        Duration::try_from_secs_f64(left).ok()
    }

    /// `1200/5000 at 3400/s, about 1s left` (the parts known so far).
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("{}/{}", self.done, self.total);
        if let Some(rate) = self.per_sec().filter(|_| self.done > self.first_done) {
            text.push_str(&format!(" at {}/s", human_rate(rate)));
        }
        if self.done < self.total
            && let Some(left) = self.left()
        {
            text.push_str(&format!(", {}", left_text(left)));
        }
        text
    }
}

/// The time left, in whole seconds rounded up: `about 3s left`, or `nothing left`.
pub(crate) fn left_text(left: Duration) -> String {
    if left.is_zero() {
        return "nothing left".to_owned();
    }
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    format!(
        "about {} left",
        crate::output::duration(Duration::from_secs(secs))
    )
}

/// A rate for people: whole units below 10 000, then thousands (`34k`), then millions (`34M`).
fn human_rate(rate: f64) -> String {
    if rate < 10_000.0 {
        format!("{rate:.0}")
    } else if rate < 10_000_000.0 {
        format!("{:.0}k", rate / 1000.0)
    } else {
        format!("{:.0}M", rate / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_what_is_left_of_the_plan_and_one_second_without_an_estimate() {
        let mut clock = RunClock::default();
        assert_eq!(clock.remaining(), None);
        clock.plan(&[
            PlannedUpgrade::new("a", Some(Duration::from_secs(60))),
            PlannedUpgrade::new("b", None),
            PlannedUpgrade::new("c", Some(Duration::from_secs(5))),
        ]);
        assert_eq!(clock.remaining(), Some(Duration::from_secs(66)));
        assert_eq!(clock.remaining_after(0), Duration::from_secs(6));
        assert_eq!(clock.remaining_after(2), Duration::ZERO);
        clock.started(1);
        let left = clock.remaining().unwrap();
        assert!(
            left <= Duration::from_secs(6) && left > Duration::from_secs(5),
            "{left:?}"
        );
        assert_eq!(clock.estimate(1, "b"), None);
        assert_eq!(clock.estimate(2, "c"), Some(Duration::from_secs(5)));
        // An index that is not the upgrade's: found by its id.
        assert_eq!(clock.estimate(0, "c"), Some(Duration::from_secs(5)));
        assert_eq!(clock.estimate(7, "z"), None);
    }

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(human_rate(12.4), "12");
        assert_eq!(human_rate(9999.0), "9999");
        assert_eq!(human_rate(34_000.0), "34k");
        assert_eq!(human_rate(3_400_000.0), "3400k");
        assert_eq!(human_rate(34_000_000.0), "34M");
        assert_eq!(left_text(Duration::ZERO), "nothing left");
        assert_eq!(left_text(Duration::from_millis(999)), "about 1s left");
        assert_eq!(left_text(Duration::from_millis(61_500)), "about 1m 02s left");
        let rate = Rate::new(0, 100);
        assert!(rate.describe().starts_with("0/100"));
    }
}
