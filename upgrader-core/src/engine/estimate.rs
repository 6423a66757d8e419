//! How long each pending upgrade is expected to take: its own estimate, the seed system's default
//! when it gives none, or the duration measured on another database that ran it (timings).

use std::collections::BTreeMap;
use std::time::Duration;

/// What an upgrade that gives no estimate (or whose estimate failed) counts for: one second, as
/// in the seed system.
pub const DEFAULT_ESTIMATE: Duration = Duration::from_secs(1);

/// How long upgrades took where they were measured (a staging copy, a rehearsal), by id: the
/// durations another database's history recorded. Ids this binary does not know are simply never
/// asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timings(BTreeMap<String, Duration>);

impl Timings {
    /// No measurements.
    pub fn new() -> Timings {
        Timings::default()
    }

    /// Records that `id` took `duration` (a later measurement of the same id replaces it).
    pub fn insert(&mut self, id: impl Into<String>, duration: Duration) {
        self.0.insert(id.into(), duration);
    }

    /// How long `id` took, when it was measured.
    pub fn get(&self, id: &str) -> Option<Duration> {
        self.0.get(id).copied()
    }

    /// How many upgrades were measured.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was measured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, Duration)> for Timings {
    fn from_iter<I: IntoIterator<Item = (String, Duration)>>(iter: I) -> Timings {
        Timings(iter.into_iter().collect())
    }
}

/// One pending upgrade's expected duration, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Estimate {
    /// The upgrade.
    pub id: String,
    /// What its estimate function said; `None` when it has none, or it failed.
    pub own: Option<Duration>,
    /// How long it took where it was measured ([`Timings`]), when it was.
    pub measured: Option<Duration>,
}

impl Estimate {
    /// An upgrade's estimate: its own (`None`: it gives none) and the measured one.
    pub fn new(id: impl Into<String>, own: Option<Duration>, measured: Option<Duration>) -> Estimate {
        Estimate {
            id: id.into(),
            own,
            measured,
        }
    }

    /// The estimates of upgrades from their own estimates, in the same order (as
    /// [`Engine::estimates`](crate::Engine::estimates) returns them), with `timings` beside.
    pub fn list(own: &[(String, Option<Duration>)], timings: &Timings) -> Vec<Estimate> {
        own.iter()
            .map(|(id, own)| Estimate::new(id.clone(), *own, timings.get(id)))
            .collect()
    }

    /// What a run counts on: the measured duration where there is one, else the upgrade's own
    /// estimate, else [`DEFAULT_ESTIMATE`].
    pub fn expected(&self) -> Duration {
        self.measured.or(self.own).unwrap_or(DEFAULT_ESTIMATE)
    }

    /// The upgrade's own estimate, or [`DEFAULT_ESTIMATE`] when it gives none.
    pub fn own_or_default(&self) -> Duration {
        self.own.unwrap_or(DEFAULT_ESTIMATE)
    }

    /// Whether the upgrade gives no estimate (or it failed), so that it counts for
    /// [`DEFAULT_ESTIMATE`] unless it was measured.
    pub fn is_default(&self) -> bool {
        self.own.is_none()
    }

    /// The sum of what a run counts on ([`Estimate::expected`]).
    pub fn total(estimates: &[Estimate]) -> Duration {
        estimates.iter().map(Estimate::expected).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_beats_own_beats_the_default() {
        let timings: Timings = [("b".to_owned(), Duration::from_secs(90))].into_iter().collect();
        let own = vec![
            ("a".to_owned(), None),
            ("b".to_owned(), Some(Duration::from_secs(5))),
            ("c".to_owned(), Some(Duration::from_millis(300))),
        ];
        let list = Estimate::list(&own, &timings);
        let expected: Vec<_> = list.iter().map(Estimate::expected).collect();
        assert_eq!(
            expected,
            [
                DEFAULT_ESTIMATE,
                Duration::from_secs(90),
                Duration::from_millis(300)
            ]
        );
        assert_eq!(
            list.iter().map(Estimate::is_default).collect::<Vec<_>>(),
            [true, false, false]
        );
        assert_eq!(Estimate::total(&list), Duration::from_millis(91_300));
        assert_eq!(Estimate::total(&[]), Duration::ZERO);
    }
}
