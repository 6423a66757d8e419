//! How long the engine's session waits: for a lock another session holds, and for one statement.

use std::time::Duration;

/// How long one statement of the engine's session (its own queries, and the upgrades, their
/// estimates and checks) may wait. Set on the connection when the engine opens it; see
/// [`crate::Engine::set_timeouts`].
///
/// | backend | lock wait | statement |
/// | --- | --- | --- |
/// | PostgreSQL | `lock_timeout` | `statement_timeout` |
/// | MySQL/MariaDB | `lock_wait_timeout` (metadata locks), `innodb_lock_wait_timeout` (row locks) | MariaDB `max_statement_time`; MySQL `max_execution_time` (`SELECT` only) |
/// | SQLite | `busy_timeout` | none: SQLite has no statement timeout |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// How long one statement waits for a lock another session holds before it gives up.
    pub wait: Duration,
    /// How long one statement may run, lock waits included; `None` for no limit (upgrades may
    /// legitimately run for hours).
    pub statement: Option<Duration>,
    /// How long an upgrade's statements wait for a lock, for the upgrades that set no
    /// `lock_timeout` of their own; `None`: the lock wait above.
    pub upgrade_lock: Option<Duration>,
}

impl Timeouts {
    /// The default lock wait: long enough for a busy server's ordinary locks, short enough that a
    /// forgotten session is noticed.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

    /// The longest timeout, in seconds, that every backend accepts (PostgreSQL and SQLite take
    /// milliseconds in a 32-bit integer): about 24 days.
    pub const MAX_SECS: u64 = i32::MAX as u64 / 1000;

    /// The same, with this lock wait (at most [`Timeouts::MAX_SECS`] seconds; a wait under a
    /// millisecond gives up at once, or after a millisecond where the backend has no "at once").
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The same, with this statement timeout (`None`: no limit).
    pub fn with_statement(mut self, statement: Option<Duration>) -> Self {
        self.statement = statement;
        self
    }

    /// The same, with this lock timeout for the upgrades that set none of their own (`None`: they
    /// wait as every statement does).
    pub fn with_upgrade_lock(mut self, wait: Option<Duration>) -> Self {
        self.upgrade_lock = wait;
        self
    }

    /// The same, with the lock wait at most `bound` (the run's lock timeout, before the first
    /// upgrade).
    pub(crate) fn bounded(self, bound: Duration) -> Timeouts {
        Timeouts {
            wait: self.wait.min(bound),
            ..self
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            wait: Self::DEFAULT_WAIT,
            statement: None,
            upgrade_lock: None,
        }
    }
}

/// A duration as messages print it: `1s`, `90s`, `0.25s`.
pub(crate) fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_only_shortens_the_wait() {
        let t = Timeouts::default();
        assert_eq!(t.bounded(Duration::from_secs(1)).wait, Duration::from_secs(1));
        assert_eq!(t.bounded(Duration::from_secs(600)).wait, Timeouts::DEFAULT_WAIT);
    }

    #[test]
    fn seconds_print_short() {
        assert_eq!(seconds(Duration::from_secs(60)), "60s");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25s");
    }
}
