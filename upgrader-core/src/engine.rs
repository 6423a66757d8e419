//! The engine: reads the history, works out what is pending, runs it, records it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::blocked;
use crate::connection::{AnyConnection, Backend};
use crate::context::{Context, Interaction};
use crate::error::Error;
use crate::events::Traced;
use crate::graph::{Plan, Registry};
use crate::history::{self, HistoryTable, Method};
use crate::lock::{self, RunLock};
use crate::timeouts::Timeouts;
use crate::upgrade::{Phase, Upgrade};
use crate::url::DatabaseUrl;

mod checks;
mod readiness;
mod repair;
mod report;
mod status;

pub use readiness::{EditedUpgrade, Readiness, ReadinessState, Rollback, UnknownUpgrade};
pub use report::{
    AppliedUpgrade, CheckReport, Edited, Implied, RunOptions, RunPreview, RunReport, Status, total_estimate,
};

/// The engine on one database.
#[derive(Debug)]
pub struct Engine {
    url: DatabaseUrl,
    conn: AnyConnection,
    registry: Registry,
    plan: Plan,
    /// Whether this engine holds the run lock (then no other runner can be applying anything).
    locked: bool,
    /// How long statements wait (see [`Engine::set_timeouts`]).
    timeouts: Timeouts,
    /// What the session has now: `timeouts`, or shorter waits before a run's first upgrade.
    session: Timeouts,
    history: HistoryTable,
}

impl Engine {
    /// Checks the graph of `registry` (only `packages` when given), then connects to the database.
    pub fn open(url: &DatabaseUrl, registry: Registry, packages: Option<&[String]>) -> Result<Engine, Error> {
        Engine::open_with(url, registry, packages, DatabaseUrl::connect)
    }

    /// Like [`Engine::open`], for looking only (`show`, `check`): an SQLite file that does not
    /// exist is not created, but read as the empty database it would be; one that exists is
    /// opened read-only ([`DatabaseUrl::connect_read_only`]).
    pub fn inspect(
        url: &DatabaseUrl,
        registry: Registry,
        packages: Option<&[String]>,
    ) -> Result<Engine, Error> {
        Engine::open_with(url, registry, packages, |url| match url.sqlite_path() {
            // Only a file that is not there is the empty database it would be: a path that cannot
            // be looked at (a directory without permission, a symlink loop) is not "missing".
            Some(path) => match std::fs::symlink_metadata(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => url.connect_empty(),
                Err(e) => Err(Error::Connect {
                    url: url.redacted(),
                    backend: url.backend(),
                    reason: format!("cannot look at {}: {e}", path.display()),
                }),
                Ok(_) => url.connect_read_only(),
            },
            None => url.connect_read_only(),
        })
    }

    /// Checks the graph first, so its problems are reported even when the database is down.
    fn open_with(
        url: &DatabaseUrl,
        registry: Registry,
        packages: Option<&[String]>,
        connect: impl FnOnce(&DatabaseUrl) -> Result<AnyConnection, Error>,
    ) -> Result<Engine, Error> {
        if registry.upgrades().is_empty() {
            return Err(Error::NothingLinked);
        }
        let plan = registry.plan(packages)?;
        let mut conn = connect(url)?;
        let timeouts = Timeouts::default();
        conn.set_timeouts(&timeouts)
            .map_err(Error::db("setting the session's timeouts"))?;
        Ok(Engine {
            url: url.clone(),
            conn,
            registry,
            plan,
            locked: false,
            timeouts,
            session: timeouts,
            history: HistoryTable::default(),
        })
    }

    /// Sets how long each statement waits for a lock another session holds, and how long it may
    /// run (default: [`Timeouts::default`]). A statement that gives up is an [`Error::Blocked`]
    /// saying who holds the lock, or a failed upgrade or check saying so.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) -> Result<(), Error> {
        self.timeouts = timeouts;
        self.session_timeouts(timeouts)
    }

    /// The engine's timeouts (see [`Engine::set_timeouts`]).
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Gives the session these timeouts (outside any transaction: PostgreSQL undoes a `SET`
    /// with its transaction).
    fn session_timeouts(&mut self, timeouts: Timeouts) -> Result<(), Error> {
        self.conn
            .set_timeouts(&timeouts)
            .map_err(Error::db("setting the session's timeouts"))?;
        self.session = timeouts;
        Ok(())
    }

    /// Says who holds the lock a statement gave up waiting for. Call it when no transaction is
    /// open.
    fn explain(&mut self, error: Error) -> Error {
        let file = self.url.sqlite_path();
        blocked::explain(error, &mut self.conn, file, &self.session, &self.timeouts)
    }

    fn explained<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|e| self.explain(e))
    }

    /// An upgrade's, estimate's or check's error, with who holds the lock when it gave up
    /// waiting for one. Call it when no transaction is open.
    fn describe(&mut self, reason: String) -> String {
        let file = self.url.sqlite_path();
        blocked::describe(reason, &mut self.conn, file, &self.session, &self.timeouts)
    }

    /// The same engine, keeping the database's history in `table` (default `upgrade`) and the
    /// upgrades that started in `<table>_in_progress`: another name leaves a table called
    /// `upgrade` that is not a history alone, and gives each of several applications (tenants)
    /// sharing one database a history of its own.
    pub fn with_history_table(mut self, table: HistoryTable) -> Engine {
        self.history = table;
        self
    }

    /// The table that holds the history.
    pub fn history_table(&self) -> &HistoryTable {
        &self.history
    }

    /// The backend of the database.
    pub fn backend(&self) -> Backend {
        self.conn.backend()
    }

    /// The checked, ordered graph.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Every linked upgrade, active or not.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The connection, for applications that do their own work around the engine.
    pub fn connection(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    /// Applies every pending upgrade, holding the run lock.
    ///
    /// In order: the pre-run checks and every pending upgrade's `pre_upgrade` (all of them; if any
    /// fails nothing is applied), then each upgrade with its history row in one transaction
    /// (MySQL/MariaDB: with a start mark, see the README), then every applied upgrade's
    /// `post_upgrade` and the post-run checks. When nothing is pending, returns at once without
    /// taking the lock.
    ///
    /// Until the first upgrade starts (the status, the checks, the wait for the run lock), no
    /// statement waits longer for a lock than the options' lock timeout, when it is shorter than
    /// the wait timeout.
    pub fn run(&mut self, ui: &mut dyn Interaction, options: &RunOptions) -> Result<RunReport, Error> {
        let ui = &mut Traced(ui);
        self.session_timeouts(self.timeouts.bounded(options.lock_timeout))?;
        let result = self.run_bounded(ui, options);
        // The upgrades set the engine's own timeouts back; after an early return, this does.
        let restored = self.session_timeouts(self.timeouts);
        let report = result?;
        restored?;
        Ok(report)
    }

    fn run_bounded(&mut self, ui: &mut dyn Interaction, options: &RunOptions) -> Result<RunReport, Error> {
        // Nothing to do: return without queueing for the lock. Anything else (even a start mark,
        // which may be a live runner's) is looked at again holding the lock.
        let status = self.status()?;
        if status.pending.is_empty() && status.interrupted.is_empty() && status.running.is_empty() {
            return Ok(RunReport::default());
        }
        self.with_lock(ui, options.lock_timeout, |engine, ui| engine.run_locked(ui))
    }

    /// What [`Engine::run`] would apply, read the way `run` reads it: the database's state and the
    /// pending upgrades' estimates (those that fail are said through `ui`, as in
    /// [`Engine::estimates`]), no statement waiting for a lock longer than the options' lock
    /// timeout. For showing the plan before a run.
    pub fn preview_run(
        &mut self,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<RunPreview, Error> {
        let ui = &mut Traced(ui);
        self.session_timeouts(self.timeouts.bounded(options.lock_timeout))?;
        let result = self.status().map(|status| {
            let estimates = self.estimates_of(&status.pending, ui);
            RunPreview { status, estimates }
        });
        let restored = self.session_timeouts(self.timeouts);
        let preview = result?;
        restored?;
        Ok(preview)
    }

    /// Takes the run lock, runs `f`, and gives the lock back.
    fn with_lock<T>(
        &mut self,
        ui: &mut dyn Interaction,
        timeout: Duration,
        f: impl FnOnce(&mut Engine, &mut dyn Interaction) -> Result<T, Error>,
    ) -> Result<T, Error> {
        // A history that cannot be read, or a table that is not one, is refused before anything
        // is taken or written.
        let read = history::read(&mut self.conn, &self.history);
        self.explained(read)?;
        let lock = RunLock::acquire(&self.url, self.history.name(), &mut self.conn, timeout, ui);
        let lock = self.explained(lock)?;
        self.locked = true;
        let result = f(self, ui);
        self.locked = false;
        let result = self.explained(result);
        let released = lock.release(&mut self.conn);
        let value = result?;
        released?;
        Ok(value)
    }

    fn run_locked(&mut self, ui: &mut dyn Interaction) -> Result<RunReport, Error> {
        // Another runner may have applied everything while this one waited.
        let status = self.status()?;
        if !status.interrupted.is_empty() {
            return Err(Error::Interrupted {
                interrupted: status.interrupted,
            });
        }
        let pending = status.pending;
        let mut report = RunReport::default();
        if pending.is_empty() {
            return Ok(report);
        }
        tracing::info!(target: "upgrader", pending = pending.len(), "plan: {} upgrade(s) to apply", pending.len());
        let failures = self.run_checks(Phase::PreRun, &pending, ui);
        if !failures.is_empty() {
            tracing::error!(target: "upgrader", failed = failures.len(), "pre-run checks failed, nothing applied");
            return Err(Error::PreChecksFailed { failures });
        }
        // After the checks: a database that refuses writes is reported by them, not by this.
        history::setup(&mut self.conn, &self.history)?;
        // The first upgrade starts: the waits are the engine's own again.
        self.session_timeouts(self.timeouts)?;
        let total = pending.len();
        for (index, upgrade) in pending.iter().enumerate() {
            ui.upgrade_started(upgrade.id, index, total);
            let started = Instant::now();
            let outcome = self.apply(upgrade, ui);
            ui.upgrade_finished(upgrade.id, outcome.is_ok(), started.elapsed());
            match outcome {
                Ok(duration) => report.applied.push(AppliedUpgrade {
                    id: upgrade.id.to_owned(),
                    duration,
                }),
                Err((reason, rolled_back)) => {
                    return Err(Error::UpgradeFailed {
                        id: upgrade.id.to_owned(),
                        reason,
                        rolled_back,
                        report: Box::new(report),
                    });
                }
            }
        }
        let failures = self.run_checks(Phase::PostRun, &pending, ui);
        if !failures.is_empty() {
            return Err(Error::PostChecksFailed {
                failures,
                report: Box::new(report),
            });
        }
        Ok(report)
    }

    /// Runs one upgrade and records it. On failure: its error, and whether its changes were
    /// rolled back.
    fn apply(&mut self, upgrade: &Upgrade, ui: &mut dyn Interaction) -> Result<Duration, (String, bool)> {
        let transactional = self.backend().has_transactional_ddl();
        if !transactional
            && let Err(e) = history::mark_started(&mut self.conn, &self.history, upgrade.id, &lock::runner())
        {
            return Err((self.explain(e).to_string(), true));
        }
        let started = Instant::now();
        if let Err(e) = self.conn.begin() {
            return Err((self.describe(e.to_string()), true));
        }
        let mut ctx = Context::new(upgrade.id, &mut self.conn, ui);
        let result = flatten(catch_unwind(AssertUnwindSafe(|| (upgrade.run)(&mut ctx))));
        let duration = started.elapsed();
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        let recorded = result.and_then(|()| {
            if transactional {
                history::record(
                    &mut self.conn,
                    &self.history,
                    upgrade.id,
                    Some(millis),
                    upgrade.checksum,
                    Method::Run,
                )
                .map_err(|e| e.to_string())?;
            }
            self.conn.commit().map_err(|e| format!("cannot commit: {e}"))
        });
        match recorded {
            Ok(()) if transactional => Ok(duration),
            Ok(()) => {
                let history = &self.history;
                let recorded = self.conn.transaction(|conn| {
                    history::record(
                        conn,
                        history,
                        upgrade.id,
                        Some(millis),
                        upgrade.checksum,
                        Method::Run,
                    )?;
                    history::clear_started(conn, history, upgrade.id)
                });
                recorded
                    .map(|()| duration)
                    .map_err(|e| (self.explain(e).to_string(), false))
            }
            Err(reason) => {
                let _ = self.conn.rollback();
                let reason = self.describe(reason);
                if !transactional {
                    // Its DDL may have been committed: keep the mark, with the reason, so the
                    // operator decides (`resolve`).
                    let _ = history::mark_failed(&mut self.conn, &self.history, upgrade.id, &reason);
                }
                Err((reason, transactional))
            }
        }
    }
}

/// An upgrade's result, or its panic, as one line.
fn flatten<T>(result: std::thread::Result<crate::upgrade::Result<T>>) -> Result<T, String> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(crate::connection::one_line(&error.to_string())),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(format!("panicked: {}", crate::connection::one_line(&message)))
        }
    }
}
