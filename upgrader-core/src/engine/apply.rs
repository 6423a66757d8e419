//! Applying one upgrade and recording it, in one of two ways chosen once per run: in one
//! transaction with its history row where DDL is transactional, else behind a start mark.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::{Engine, RunReport, flatten};
use crate::blocked;
use crate::connection::Backend;
use crate::context::{Context, Interaction};
use crate::error::Error;
use crate::history;
use crate::lock;
use crate::upgrade::Upgrade;

mod outside;

/// How an upgrade and its history row are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strategy {
    /// The upgrade and its row commit in one transaction (PostgreSQL, SQLite): a failure, or a
    /// runner killed half-way, leaves neither.
    Transaction,
    /// DDL commits on its own (MySQL/MariaDB): a start mark is committed before the upgrade runs,
    /// and replaced by its row after, so an upgrade cut off half-way is left interrupted.
    StartMark,
}

impl Strategy {
    /// The strategy `backend` allows.
    pub(super) fn of(backend: Backend) -> Strategy {
        if backend.has_transactional_ddl() {
            Strategy::Transaction
        } else {
            Strategy::StartMark
        }
    }
}

/// Why an upgrade was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    /// Its error or panic message (or the history's, when it could not be recorded), with who
    /// held the lock when it gave up waiting for one.
    reason: String,
    /// Whether its changes were rolled back (or it never started), so that running it again is
    /// safe; else it is left interrupted for the operator to settle.
    rolled_back: bool,
    /// Whether it gave up waiting for a lock another session holds (what `retries` tries again).
    lock_wait: bool,
}

impl Failure {
    /// The run's error: `upgrade` failed after the upgrades `report` holds.
    pub(super) fn into_error(self, upgrade: &Upgrade, report: RunReport) -> Error {
        Error::UpgradeFailed {
            id: upgrade.id.to_owned(),
            reason: self.reason,
            rolled_back: self.rolled_back,
            report: Box::new(report),
        }
    }

    /// Why it failed, for a run in one transaction, where everything is rolled back anyway.
    pub(super) fn into_reason(self) -> String {
        self.reason
    }
}

impl Engine {
    /// Runs one upgrade and records it, the way `strategy` says; how long it ran. An upgrade
    /// that gave up waiting for a lock is tried again up to its `retries`, after a pause that
    /// doubles each time ([`Upgrade::retry_delay`]), each retry said through `ui`.
    pub(super) fn apply(
        &mut self,
        strategy: Strategy,
        upgrade: &Upgrade,
        ui: &mut dyn Interaction,
    ) -> Result<Duration, Failure> {
        // `transaction = false`: outside any transaction, whatever the backend.
        if !upgrade.transactional() {
            return self.apply_outside_transaction(upgrade, ui);
        }
        let mut retry = 0;
        loop {
            let outcome = match strategy {
                Strategy::Transaction => self.apply_in_transaction(upgrade, ui),
                // A retry keeps the start mark of the first attempt (it is cleared on success).
                Strategy::StartMark => self.apply_with_start_mark(upgrade, ui, retry > 0),
            };
            match outcome {
                Err(failure) if failure.lock_wait && retry < upgrade.retries => {
                    retry += 1;
                    let delay = Upgrade::retry_delay(retry);
                    let message = format!(
                        "{}; trying again in {} (retry {retry} of {})",
                        failure.reason,
                        crate::timeouts::seconds(delay),
                        upgrade.retries
                    );
                    tracing::warn!(target: "upgrader", upgrade = upgrade.id, retry, "{message}");
                    ui.log(upgrade.id, &message);
                    std::thread::sleep(delay);
                }
                outcome => return outcome,
            }
        }
    }

    /// How long the upgrade's statements wait for a lock, when not the session's wait: its own
    /// `lock_timeout`, else the engine's default for upgrades.
    pub(super) fn lock_timeout_of(&self, upgrade: &Upgrade) -> Option<Duration> {
        upgrade.lock_timeout.or(self.timeouts.upgrade_lock)
    }

    /// An upgrade's error after its transaction ended: who holds the lock when it gave up
    /// waiting for one, whether it did, and the session's own timeouts set back after an
    /// upgrade's lock timeout that outlives its transaction.
    fn failed(&mut self, upgrade: &Upgrade, reason: String, restore: bool) -> (String, bool) {
        let lock_wait = blocked::is_lock_wait(&reason);
        let reason = match self.lock_timeout_of(upgrade) {
            Some(wait) => {
                let file = self.url.sqlite_path();
                blocked::describe_upgrade(reason, &mut self.conn, file, wait, &self.timeouts)
            }
            None => self.describe(reason),
        };
        if restore {
            // The error is the upgrade's; the next statement's setting is retried then.
            let _ = self.session_timeouts(self.timeouts);
        }
        (reason, lock_wait)
    }

    /// The upgrade and its history row in one transaction: on failure nothing of either stays.
    fn apply_in_transaction(
        &mut self,
        upgrade: &Upgrade,
        ui: &mut dyn Interaction,
    ) -> Result<Duration, Failure> {
        let mut attempt = Attempt::default();
        let ran = self.run_open(upgrade, ui, &mut attempt).and_then(|duration| {
            self.record_run(upgrade, duration)
                .map_err(|e| Ran::Failed(e.to_string()))?;
            self.commit()?;
            Ok(duration)
        });
        let (reason, lock_wait) = match ran {
            Ok(duration) => {
                if attempt.restore {
                    self.restore_timeouts()?;
                }
                return Ok(duration);
            }
            Err(Ran::NotStarted(reason)) => (reason, false),
            Err(Ran::Failed(reason)) => {
                let _ = self.conn.rollback();
                self.failed(upgrade, reason, attempt.restore)
            }
        };
        Err(Failure {
            reason,
            rolled_back: true,
            lock_wait,
        })
    }

    /// The session's own timeouts again, after an upgrade's lock timeout that outlives its
    /// transaction. The upgrade is recorded: a failure here fails the run, not the upgrade.
    fn restore_timeouts(&mut self) -> Result<(), Failure> {
        self.session_timeouts(self.timeouts).map_err(|e| Failure {
            reason: format!("applied and recorded, but then {e}"),
            rolled_back: true,
            lock_wait: false,
        })
    }

    /// The upgrade behind a start mark: marked (committed), run and committed, then recorded with
    /// the mark removed in one transaction. A failure after the mark leaves the upgrade
    /// interrupted: its DDL may have been committed.
    fn apply_with_start_mark(
        &mut self,
        upgrade: &Upgrade,
        ui: &mut dyn Interaction,
        marked: bool,
    ) -> Result<Duration, Failure> {
        if !marked
            && let Err(e) = history::mark_started(&mut self.conn, &self.history, upgrade.id, &lock::runner())
        {
            return Err(Failure {
                reason: self.explain(e).to_string(),
                rolled_back: true,
                lock_wait: false,
            });
        }
        let mut attempt = Attempt::default();
        let ran = self.run_open(upgrade, ui, &mut attempt).and_then(|duration| {
            self.commit()?;
            Ok(duration)
        });
        let duration = match ran {
            Ok(duration) => duration,
            // Nothing ran: the transaction did not even start.
            Err(Ran::NotStarted(reason)) => {
                return Err(Failure {
                    reason,
                    // A retry's first attempt may have committed DDL: its mark stays.
                    rolled_back: !marked,
                    lock_wait: false,
                });
            }
            Err(Ran::Failed(reason)) => {
                let _ = self.conn.rollback();
                let (mut reason, mut lock_wait) = self.failed(upgrade, reason, attempt.restore);
                // DDL commits on its own: only an upgrade that gave up at its one statement that
                // changes anything changed nothing, and can run again.
                if lock_wait && attempt.writes > 1 {
                    lock_wait = false;
                    if upgrade.retries > 0 {
                        reason.push_str(
                            " (not tried again: statements it ran before that one may have been committed, as DDL commits on this backend)",
                        );
                    }
                }
                // Keep the mark, with the reason, so the operator decides (`resolve`).
                let _ = history::mark_failed(&mut self.conn, &self.history, upgrade.id, &reason);
                return Err(Failure {
                    reason,
                    rolled_back: false,
                    lock_wait,
                });
            }
        };
        if attempt.restore {
            // The upgrade's DDL is committed: a failure here leaves it interrupted.
            self.restore_timeouts().map_err(|f| Failure {
                rolled_back: false,
                ..f
            })?;
        }
        let recorded = self.in_transaction(|engine| {
            engine.record_run(upgrade, duration)?;
            history::clear_started(&mut engine.conn, &engine.history, upgrade.id)
        });
        recorded.map(|()| duration).map_err(|e| Failure {
            reason: self.explain(e).to_string(),
            rolled_back: false,
            lock_wait: false,
        })
    }

    /// Opens a transaction and runs the upgrade in it, leaving it open; how long it ran (from
    /// before the transaction began). With a lock timeout of its own (or the default for
    /// upgrades), sets it first; `restore` says whether the session's timeouts must be set back
    /// once the transaction ended.
    fn run_open(
        &mut self,
        upgrade: &Upgrade,
        ui: &mut dyn Interaction,
        attempt: &mut Attempt,
    ) -> Result<Duration, Ran> {
        let started = Instant::now();
        if let Err(e) = self.conn.begin() {
            return Err(Ran::NotStarted(self.describe(e.to_string())));
        }
        if let Some(wait) = self.lock_timeout_of(upgrade) {
            let dialect = self.conn.dialect();
            match dialect.set_upgrade_lock_timeout(&mut self.conn, wait) {
                Ok(outlives) => attempt.restore = outlives,
                Err(e) => {
                    // Possibly half set: set back whatever it was.
                    attempt.restore = true;
                    return Err(Ran::Failed(format!("cannot set its lock timeout: {e}")));
                }
            }
        }
        let mut ctx = Context::new(upgrade.id, &mut self.conn, ui);
        let result = flatten(catch_unwind(AssertUnwindSafe(|| (upgrade.run)(&mut ctx))));
        attempt.writes = ctx.writes();
        let duration = started.elapsed();
        result.map(|()| duration).map_err(Ran::Failed)
    }

    /// Records a run upgrade as applied, with how long it ran, and notes it in the journal.
    /// Holding the run lock, the history's form is read once, at the first record, not for every
    /// upgrade.
    fn record_run(&mut self, upgrade: &Upgrade, duration: Duration) -> Result<(), Error> {
        let recorder = match &self.recorder {
            Some(recorder) => recorder.clone(),
            None => {
                let recorder = history::Recorder::new(&mut self.conn, &self.history)?;
                if self.locked {
                    self.recorder = Some(recorder.clone());
                }
                recorder
            }
        };
        recorder.record_run(
            &mut self.conn,
            &self.history,
            &mut self.journal,
            upgrade.id,
            Some(millis(duration)),
            upgrade.checksum,
        )
    }

    fn commit(&mut self) -> Result<(), Ran> {
        self.conn
            .commit()
            .map_err(|e| Ran::Failed(format!("cannot commit: {e}")))
    }
}

/// What one attempt at an upgrade left to do after its transaction.
#[derive(Default)]
struct Attempt {
    /// Its lock timeout outlives the transaction: set the session's own timeouts back.
    restore: bool,
    /// [`Context::writes`] when it returned.
    writes: u32,
}

/// How running an upgrade in its transaction went wrong.
enum Ran {
    /// The transaction could not begin (the reason already says who holds a lock).
    NotStarted(String),
    /// The upgrade (or its commit) failed; the transaction may be open.
    Failed(String),
}

/// Milliseconds, as the history keeps them.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
