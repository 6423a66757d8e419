//! The engine's side of the run journal: who runs it, and one journal row per command that
//! writes to the history, from its first write to its end.

use super::{Engine, RunOptions, Status};
use crate::context::Interaction;
use crate::error::Error;
use crate::events::Traced;
use crate::history::{self, Action, Actor, Finish, Journal, Open, RunKind, RunOutcome};
use crate::lock;
use crate::upgrade::Upgrade;

impl Engine {
    /// The same engine, recording `actor` (the application's program and version) as who ran each
    /// command in the journal; without it the journal names the executable's file, with no
    /// version. The operating system's user, the host and the process id are added by the engine.
    pub fn with_actor(mut self, actor: Actor) -> Engine {
        self.actor = actor;
        self
    }

    /// Who runs the engine (see [`Engine::with_actor`]).
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The run journal, newest first, at most `limit` rows: every command that changed the
    /// history since the database has a journal, failures included. A row with no end is
    /// [`RunOutcome::Running`] when it is the newest and another runner holds the lock, else
    /// [`RunOutcome::DidNotFinish`]. An error when the journal cannot be read; [`Journal::Absent`]
    /// when there is none. Reads only.
    pub fn runs(&mut self, limit: Option<usize>) -> Result<Journal, Error> {
        let read = history::journal(&mut self.conn, &self.history, limit);
        let mut journal = self.explained(read)?;
        if let Journal::Kept { runs } = &mut journal
            && let Some(newest) = runs.first_mut()
            && newest.outcome == RunOutcome::DidNotFinish
            && !self.locked
            && let Some(holder) = lock::held_by_other(&self.url, self.history.name(), &mut self.conn)
        {
            newest.outcome = RunOutcome::Running(holder);
        }
        Ok(journal)
    }

    /// Runs `f`, a command that may write to the history, as one journal row: the row is written
    /// (and committed) by [`Engine::set_up_history`] before the command's first write, and
    /// completed when `f` returns, whatever it returns. A command that refuses before writing `warnings` counts the warnings given, for the row.
    /// leaves no row. Call it holding the run lock.
    pub(super) fn journaled<T>(
        &mut self,
        f: impl FnOnce(&mut Engine) -> Result<T, Error>,
        warnings: impl FnOnce(&Result<T, Error>) -> usize,
    ) -> Result<T, Error> {
        self.journal = Open::Armed;
        let result = f(self);
        let open = std::mem::take(&mut self.journal);
        let Open::Started { id, .. } = open else {
            return result;
        };
        let finish = Finish {
            warnings: i64::try_from(warnings(&result)).unwrap_or(i64::MAX),
            ..Finish::of(&result)
        };
        let finished = history::finish_run(&mut self.conn, &self.history, id, &finish);
        // The command's own error comes first; after a success, a row that cannot be completed
        // is an error too: the journal would say the command did not finish.
        let value = result?;
        finished?;
        Ok(value)
    }

    /// A command that writes the history by hand (`populate`, `mark`, `resolve`, `accept`):
    /// reads the history first (one that cannot be read is refused before anything is taken),
    /// takes the run lock, and runs `f` on the state read again holding it, as one journal row
    /// ([`Engine::journaled`]).
    pub(super) fn by_hand<T>(
        &mut self,
        ui: &mut dyn Interaction,
        options: &RunOptions,
        f: impl FnOnce(&mut Engine, Status) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let ui = &mut Traced(ui);
        let read = history::read(&mut self.conn, &self.history);
        self.explained(read)?;
        self.with_lock(ui, options.lock_timeout, |engine, _| {
            engine.journaled(
                |engine| {
                    let status = engine.status()?;
                    f(engine, status)
                },
                |_| 0,
            )
        })
    }

    /// Sets the history's tables up (adopting a seed system's table, which the journal records)
    /// and writes the journal row of the command under way, as `kind`, before its first write.
    pub(super) fn set_up_history(&mut self, kind: RunKind, reason: Option<&str>) -> Result<(), Error> {
        // The setup may change the history's columns: read them again at the next record.
        self.recorder = None;
        history::setup(&mut self.conn, &self.history, &self.actor)?;
        if self.journal == Open::Armed {
            let id = history::start_run(&mut self.conn, &self.history, kind, &self.actor, reason)?;
            self.journal = Open::Started { id, seq: 0 };
        }
        Ok(())
    }

    /// [`Engine::set_up_history`] for a run whose first upgrade is `first`: the run's first write
    /// waits for a lock no longer than that upgrade's lock timeout (where it has one, or the
    /// default for upgrades), and is tried again as the upgrade would be (its `retries`, the same
    /// pauses), each retry said through `ui`. On SQLite, where a session that writes holds the
    /// whole file, the lock that would hold the upgrade up holds this write up first.
    pub(super) fn start_run(&mut self, first: &Upgrade, ui: &mut dyn Interaction) -> Result<(), Error> {
        let Some(wait) = self.lock_timeout_of(first) else {
            return self.set_up_history(RunKind::Run, None);
        };
        self.session_timeouts(self.timeouts.bounded(wait))?;
        let mut retry = 0;
        let started = loop {
            match self.set_up_history(RunKind::Run, None) {
                Err(error @ Error::Blocked { .. }) if retry < first.retries() => {
                    retry += 1;
                    let delay = Upgrade::retry_delay(retry);
                    let message = format!(
                        "{error} (within the upgrade's lock timeout ({})); trying again in {} (retry {retry} of {})",
                        crate::timeouts::seconds(wait),
                        crate::timeouts::seconds(delay),
                        first.retries()
                    );
                    tracing::warn!(target: "upgrader", upgrade = first.id, retry, "{message}");
                    ui.log(first.id, &message);
                    std::thread::sleep(delay);
                }
                other => break other,
            }
        };
        let restored = self.session_timeouts(self.timeouts);
        match started {
            // The lock that holds this write up would hold the upgrade up: it fails as the
            // upgrade would have, having changed nothing.
            Err(error @ Error::Blocked { .. }) => {
                let whose = match self.url.sqlite_path() {
                    Some(file) => format!(" on the SQLite file {}", file.display()),
                    None => String::new(),
                };
                Err(Error::UpgradeFailed {
                    id: first.id.to_owned(),
                    reason: format!(
                        "did not obtain a lock{whose} within the upgrade's lock timeout ({}) to record the start of the run: {error}",
                        crate::timeouts::seconds(wait)
                    ),
                    rolled_back: true,
                    report: Box::default(),
                })
            }
            started => {
                started?;
                restored
            }
        }
    }

    /// Runs `f` in a transaction on the engine's connection (so that it can write the history and
    /// the journal together): committed when it returns `Ok`, rolled back otherwise.
    pub(super) fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Engine) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.conn.begin().map_err(Error::db("starting a transaction"))?;
        match f(self) {
            Ok(value) => {
                self.conn.commit().map_err(Error::db("committing the history"))?;
                Ok(value)
            }
            Err(error) => {
                // The transaction is gone either way; the first error is the one that matters.
                let _ = self.conn.rollback();
                Err(error)
            }
        }
    }

    /// Records in the journal what the command under way did to `upgrade`. Call it in the
    /// transaction that writes the history row it speaks of.
    pub(super) fn note_run(
        &mut self,
        upgrade: &str,
        action: Action,
        detail: Option<&str>,
    ) -> Result<(), Error> {
        history::note_run(
            &mut self.conn,
            &self.history,
            &mut self.journal,
            upgrade,
            action,
            detail,
        )
    }
}
