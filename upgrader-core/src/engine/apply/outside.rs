//! An upgrade declared `transaction = false`, on every backend: behind a start mark, as MySQL's
//! upgrades are, but with no transaction around it at all, so that statements that refuse to run
//! in one (`CREATE INDEX CONCURRENTLY`, `VACUUM`) can, and batched work commits as it goes.
//!
//! The mark is committed first; the upgrade runs; its history row is written, and the mark and
//! its checkpoint removed, in one transaction after it succeeds. A kill or a failure leaves the
//! mark: the upgrade is interrupted, for the operator to settle (`resolve`), unless it has a
//! checkpoint (batched work, [`crate::Context::batches`]): then it resumes there at the next run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::Failure;
use crate::context::{Context, Interaction};
use crate::engine::{Engine, flatten};
use crate::history::{self, checkpoint};
use crate::lock;
use crate::upgrade::Upgrade;

impl Engine {
    pub(super) fn apply_outside_transaction(
        &mut self,
        upgrade: &Upgrade,
        ui: &mut dyn Interaction,
    ) -> Result<Duration, Failure> {
        let history = &self.history;
        // A batched upgrade that resumes still has the mark of the run that was cut off.
        let marked = self.conn.transaction(|conn| {
            history::clear_started(conn, history, upgrade.id)?;
            history::mark_started(conn, history, upgrade.id, &lock::runner())
        });
        if let Err(e) = marked {
            return Err(Failure {
                reason: self.explain(e).to_string(),
                rolled_back: true,
                lock_wait: false,
            });
        }
        // Its lock timeout (or the default for upgrades) is the session's wait while it runs: with
        // no transaction around it, a `SET LOCAL` would not last.
        let wait = self.lock_timeout_of(upgrade);
        if let Some(wait) = wait
            && let Err(e) = self.session_timeouts(self.timeouts.with_wait(wait))
        {
            return Err(Failure {
                reason: format!("{e} (before it started: nothing of it ran)"),
                rolled_back: false,
                lock_wait: false,
            });
        }
        let started = Instant::now();
        let mut ctx = Context::new(upgrade.id, &mut self.conn, ui).outside_transaction(&self.history);
        let result = flatten(catch_unwind(AssertUnwindSafe(|| (upgrade.run)(&mut ctx))));
        let duration = started.elapsed();
        if let Err(reason) = result {
            // A batch (or a transaction of the upgrade's own) may have been left open.
            let _ = self.conn.rollback();
            // Who held the lock it gave up on, and the session's own wait back.
            let (reason, _) = self.failed(upgrade, reason, wait.is_some());
            let _ = history::mark_failed(&mut self.conn, &self.history, upgrade.id, &reason);
            return Err(
                match checkpoint::read(&mut self.conn, &self.history, upgrade.id) {
                    Ok(Some(saved)) => Failure {
                        reason: format!(
                            "{reason}; the batch in flight was rolled back, the {} rows of the batches before it stay committed and the next run resumes after them",
                            saved.progress()
                        ),
                        rolled_back: true,
                        lock_wait: false,
                    },
                    _ => Failure {
                        reason: format!(
                            "{reason}; it ran outside a transaction, so what it did before failing stays"
                        ),
                        rolled_back: false,
                        lock_wait: false,
                    },
                },
            );
        }
        if wait.is_some()
            && let Err(e) = self.session_timeouts(self.timeouts)
        {
            return Err(Failure {
                reason: format!("{e} (after it succeeded; it is not recorded yet)"),
                rolled_back: false,
                lock_wait: false,
            });
        }
        // The history row, the journal's note, the mark and the checkpoint go together.
        let recorded = self.in_transaction(|engine| {
            engine.record_run(upgrade, duration)?;
            history::clear_started(&mut engine.conn, &engine.history, upgrade.id)?;
            checkpoint::clear(&mut engine.conn, &engine.history, upgrade.id)
        });
        recorded.map(|()| duration).map_err(|e| Failure {
            reason: self.explain(e).to_string(),
            rolled_back: false,
            lock_wait: false,
        })
    }
}
