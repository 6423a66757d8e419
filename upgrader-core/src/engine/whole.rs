//! A run in one transaction ([`RunMode::Atomic`], [`RunMode::Rehearse`]): the pre-run checks,
//! the history's setup, each upgrade with its history row (each in a savepoint, as a nested
//! transaction is), the post-run checks; then one commit, or one rollback.

use super::apply::Strategy;
use super::{Engine, RunMode, RunReport};
use crate::context::Interaction;
use crate::error::{CheckFailure, Error};
use crate::history;
use crate::upgrade::{Phase, Upgrade};

impl Engine {
    /// Runs `pending` in one transaction, holding the run lock: committed at the end for
    /// [`RunMode::Atomic`], rolled back for [`RunMode::Rehearse`] (then the report says what was
    /// applied before the rollback, and how long each took). Any failure rolls back everything.
    pub(super) fn run_whole(
        &mut self,
        mode: RunMode,
        pending: &[Upgrade],
        ui: &mut dyn Interaction,
    ) -> Result<RunReport, Error> {
        let rehearsal = mode == RunMode::Rehearse;
        // An all-or-nothing run is in the journal, failures included: its row (and the history's
        // tables) are written before its transaction, so that a run rolled back leaves a trace.
        // A rehearsal leaves none: it changes nothing, not even the journal.
        if !rehearsal {
            self.set_up_history(crate::history::RunKind::Run, None)?;
        }
        // Outside the transaction: PostgreSQL undoes a `SET` with the transaction that made it.
        self.session_timeouts(self.timeouts)?;
        self.conn
            .begin()
            .map_err(Error::db("starting the run's transaction"))?;
        let mut report = RunReport::default();
        let outcome = self.whole_in_transaction(pending, ui, &mut report);
        let outcome = match outcome {
            Ok(()) if rehearsal => self.end_whole(false),
            Ok(()) => self.end_whole(true),
            Err(failure) => {
                let _ = self.conn.rollback();
                Err(failure)
            }
        };
        match outcome {
            Ok(()) => Ok(report),
            // Nothing was applied yet: the error says so as it is.
            Err(Stop::Before(error)) => Err(error),
            Err(Stop::At {
                what,
                upgrade,
                reason,
            }) => Err(Error::RolledBack {
                what,
                upgrade,
                reason,
                report: Box::new(report),
                rehearsal,
            }),
        }
    }

    fn whole_in_transaction(
        &mut self,
        pending: &[Upgrade],
        ui: &mut dyn Interaction,
        report: &mut RunReport,
    ) -> Result<(), Stop> {
        let failures = self.run_checks(Phase::PreRun, pending, ui);
        if !failures.is_empty() {
            return Err(Stop::Before(Error::PreChecksFailed { failures }));
        }
        // A rehearsal on a database without the history's tables creates them in its transaction.
        self.recorder = None;
        history::setup(&mut self.conn, &self.history, &self.actor).map_err(Stop::Before)?;
        let strategy = Strategy::of(self.backend());
        let total = pending.len();
        for (index, upgrade) in pending.iter().enumerate() {
            if let Err(failure) = self.apply_told(strategy, upgrade, (index, total), ui, report) {
                return Err(Stop::At {
                    what: format!("upgrade `{}`", upgrade.id),
                    upgrade: Some(upgrade.id.to_owned()),
                    reason: failure.into_reason(),
                });
            }
        }
        let failures = self.run_checks(Phase::PostRun, pending, ui);
        if !failures.is_empty() {
            return Err(Stop::At {
                what: format!("{} post-run check(s)", failures.len()),
                upgrade: None,
                reason: failures
                    .iter()
                    .map(CheckFailure::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        Ok(())
    }

    /// Commits the run's transaction, or rolls it back.
    fn end_whole(&mut self, commit: bool) -> Result<(), Stop> {
        if commit {
            self.conn.commit().map_err(|e| {
                let _ = self.conn.rollback();
                Stop::At {
                    what: "the commit".into(),
                    upgrade: None,
                    reason: crate::connection::one_line(&e.to_string()),
                }
            })
        } else {
            self.conn
                .rollback()
                .map_err(|e| Stop::Before(Error::db("rolling the rehearsal back")(e)))
        }
    }
}

/// Why a run in one transaction stopped.
enum Stop {
    /// Before any upgrade ran (a pre-run check, the history's setup): the error as it is.
    Before(Error),
    /// At an upgrade, a post-run check or the commit: everything before it is rolled back.
    At {
        what: String,
        upgrade: Option<String>,
        reason: String,
    },
}
