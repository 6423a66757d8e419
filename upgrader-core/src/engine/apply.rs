//! Applying one upgrade and recording it, in one of two ways chosen once per run: in one
//! transaction with its history row where DDL is transactional, else behind a start mark.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::{Engine, RunReport, flatten};
use crate::connection::Backend;
use crate::context::{Context, Interaction};
use crate::error::Error;
use crate::history::{self, Action, Method};
use crate::lock;
use crate::upgrade::Upgrade;

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
}

impl Engine {
    /// Runs one upgrade and records it, the way `strategy` says; how long it ran.
    pub(super) fn apply(
        &mut self,
        strategy: Strategy,
        upgrade: &Upgrade,
        ui: &mut dyn Interaction,
    ) -> Result<Duration, Failure> {
        match strategy {
            Strategy::Transaction => self.apply_in_transaction(upgrade, ui),
            Strategy::StartMark => self.apply_with_start_mark(upgrade, ui),
        }
    }

    /// The upgrade and its history row in one transaction: on failure nothing of either stays.
    fn apply_in_transaction(
        &mut self,
        upgrade: &Upgrade,
        ui: &mut dyn Interaction,
    ) -> Result<Duration, Failure> {
        let ran = self.run_open(upgrade, ui).and_then(|duration| {
            self.record_run(upgrade, duration)
                .map_err(|e| Ran::Failed(e.to_string()))?;
            self.commit()?;
            Ok(duration)
        });
        let reason = match ran {
            Ok(duration) => return Ok(duration),
            Err(Ran::NotStarted(reason)) => reason,
            Err(Ran::Failed(reason)) => {
                let _ = self.conn.rollback();
                self.describe(reason)
            }
        };
        Err(Failure {
            reason,
            rolled_back: true,
        })
    }

    /// The upgrade behind a start mark: marked (committed), run and committed, then recorded with
    /// the mark removed in one transaction. A failure after the mark leaves the upgrade
    /// interrupted: its DDL may have been committed.
    fn apply_with_start_mark(
        &mut self,
        upgrade: &Upgrade,
        ui: &mut dyn Interaction,
    ) -> Result<Duration, Failure> {
        if let Err(e) = history::mark_started(&mut self.conn, &self.history, upgrade.id, &lock::runner()) {
            return Err(Failure {
                reason: self.explain(e).to_string(),
                rolled_back: true,
            });
        }
        let ran = self.run_open(upgrade, ui).and_then(|duration| {
            self.commit()?;
            Ok(duration)
        });
        let duration = match ran {
            Ok(duration) => duration,
            // Nothing ran: the transaction did not even start.
            Err(Ran::NotStarted(reason)) => {
                return Err(Failure {
                    reason,
                    rolled_back: true,
                });
            }
            Err(Ran::Failed(reason)) => {
                let _ = self.conn.rollback();
                let reason = self.describe(reason);
                // Keep the mark, with the reason, so the operator decides (`resolve`).
                let _ = history::mark_failed(&mut self.conn, &self.history, upgrade.id, &reason);
                return Err(Failure {
                    reason,
                    rolled_back: false,
                });
            }
        };
        let millis = millis(duration);
        let recorded = self.in_transaction(|engine| {
            history::record(
                &mut engine.conn,
                &engine.history,
                upgrade.id,
                Some(millis),
                upgrade.checksum,
                Method::Run,
            )?;
            engine.note_run(upgrade.id, Action::Applied, None)?;
            history::clear_started(&mut engine.conn, &engine.history, upgrade.id)
        });
        recorded.map(|()| duration).map_err(|e| Failure {
            reason: self.explain(e).to_string(),
            rolled_back: false,
        })
    }

    /// Opens a transaction and runs the upgrade in it, leaving it open; how long it ran (from
    /// before the transaction began).
    fn run_open(&mut self, upgrade: &Upgrade, ui: &mut dyn Interaction) -> Result<Duration, Ran> {
        let started = Instant::now();
        if let Err(e) = self.conn.begin() {
            return Err(Ran::NotStarted(self.describe(e.to_string())));
        }
        let mut ctx = Context::new(upgrade.id, &mut self.conn, ui);
        let result = flatten(catch_unwind(AssertUnwindSafe(|| (upgrade.run)(&mut ctx))));
        let duration = started.elapsed();
        result.map(|()| duration).map_err(Ran::Failed)
    }

    /// Records a run upgrade as applied, with how long it ran.
    fn record_run(&mut self, upgrade: &Upgrade, duration: Duration) -> Result<(), Error> {
        let millis = millis(duration);
        history::record(
            &mut self.conn,
            &self.history,
            upgrade.id,
            Some(millis),
            upgrade.checksum,
            Method::Run,
        )?;
        self.note_run(upgrade.id, Action::Applied, None)
    }

    fn commit(&mut self) -> Result<(), Ran> {
        self.conn
            .commit()
            .map_err(|e| Ran::Failed(format!("cannot commit: {e}")))
    }
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
