//! The engine: reads the history, works out what is pending, runs it, records it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::blocked;
use crate::connection::{AnyConnection, Backend};
use crate::context::{Context, Interaction};
use crate::error::{CheckFailure, Error};
use crate::events::Traced;
use crate::graph::{Plan, Registry};
use crate::history::{self, AppliedRecord, HistoryTable, InProgress, Method};
use crate::lock::{self, RunLock};
use crate::timeouts::Timeouts;
use crate::upgrade::{CheckFn, Phase, Upgrade};
use crate::url::DatabaseUrl;

/// How `run` behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// How long to wait for another runner's lock.
    pub lock_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            lock_timeout: Duration::from_secs(300),
        }
    }
}

impl RunOptions {
    /// Options with this lock timeout.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }
}

/// An upgrade a run applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedUpgrade {
    /// Its id.
    pub id: String,
    /// How long it took.
    pub duration: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// The upgrades applied, in order.
    pub applied: Vec<AppliedUpgrade>,
}

impl RunReport {
    /// The ids applied, in order.
    pub fn applied_ids(&self) -> Vec<&str> {
        self.applied.iter().map(|a| a.id.as_str()).collect()
    }
}

/// An upgrade the history does not have, but counts as applied because a later upgrade that
/// depends on it is recorded (an old database may predate the history of some upgrades).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implied {
    /// The upgrade missing from the history.
    pub id: String,
    /// A recorded upgrade that depends on it.
    pub by: String,
}

/// An applied upgrade whose code changed since it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The upgrade.
    pub id: String,
    /// The fingerprint recorded when it was applied.
    pub recorded: String,
    /// The fingerprint of the code linked now.
    pub current: String,
}

/// The state of a database against the linked upgrades.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Status {
    /// The history (see [`Engine::applied`] for its order).
    pub applied: Vec<AppliedRecord>,
    /// Upgrades to run, in run order.
    pub pending: Vec<Upgrade>,
    /// Upgrades counted as applied through a recorded dependent (gaps in the history).
    pub implied: Vec<Implied>,
    /// History rows no linked upgrade has.
    pub ghosts: Vec<AppliedRecord>,
    /// Applied upgrades edited since.
    pub edited: Vec<Edited>,
    /// Upgrades that started and never finished.
    pub interrupted: Vec<InProgress>,
    /// Upgrades another runner is applying right now (it holds the lock), with who it is.
    pub running: Vec<(InProgress, String)>,
}

/// What `check` found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CheckReport {
    /// The database's state.
    pub status: Status,
    /// Each pending upgrade's estimate (`None` when it has none), in run order.
    pub estimates: Vec<(String, Option<Duration>)>,
    /// Pre-run checks and `pre_upgrade`s that failed.
    pub failures: Vec<CheckFailure>,
}

impl CheckReport {
    /// The sum of the pending upgrades' estimates.
    pub fn total_estimate(&self) -> Duration {
        total_estimate(&self.estimates)
    }

    /// Whether anything is wrong (warnings aside): a failed check or an interrupted upgrade.
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty() && self.status.interrupted.is_empty()
    }
}

/// What a run would apply: [`Engine::preview_run`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunPreview {
    /// The database's state.
    pub status: Status,
    /// Each pending upgrade's estimate (`None` when it has none, or it failed), in run order.
    pub estimates: Vec<(String, Option<Duration>)>,
}

/// The sum of the estimates [`Engine::estimates`] returns (those without one count as nothing).
pub fn total_estimate(estimates: &[(String, Option<Duration>)]) -> Duration {
    estimates.iter().filter_map(|(_, e)| *e).sum()
}

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
            Some(path) if !path.exists() => url.connect_empty(),
            _ => url.connect_read_only(),
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

    /// The history: the rows whose time the engine cannot read first, then oldest first (ties
    /// by id). An error when the history cannot be read; empty only when there is none yet.
    pub fn applied(&mut self) -> Result<Vec<AppliedRecord>, Error> {
        let applied = history::applied(&mut self.conn, &self.history);
        self.explained(applied)
    }

    /// The database's state against the linked upgrades. Reads only.
    pub fn status(&mut self) -> Result<Status, Error> {
        let read = history::read(&mut self.conn, &self.history);
        let history::History {
            applied,
            in_progress: mut interrupted,
        } = self.explained(read)?;
        let mut running = Vec::new();
        // A start mark is an interruption only when no runner is alive to finish it.
        if !interrupted.is_empty()
            && !self.locked
            && let Some(holder) = lock::held_by_other(&self.url, self.history.name(), &mut self.conn)
        {
            running = interrupted.drain(..).map(|i| (i, holder.clone())).collect();
        }
        let mut status = self.status_of(applied, interrupted);
        status.running = running;
        Ok(status)
    }

    fn status_of(&self, applied: Vec<AppliedRecord>, interrupted: Vec<InProgress>) -> Status {
        let recorded: HashSet<&str> = applied.iter().map(|r| r.upgrade.as_str()).collect();
        // One pass against the run order: every dependency of a recorded (or implied) upgrade is
        // implied by the latest recorded upgrade that reaches it.
        let mut implied_by: HashMap<&str, &'static str> = HashMap::new();
        for upgrade in self.plan.upgrades().iter().rev() {
            let by = match recorded.get(upgrade.id) {
                Some(_) => Some(upgrade.id),
                None => implied_by.get(upgrade.id).copied(),
            };
            if let Some(by) = by {
                for &dep in upgrade.depends_on {
                    implied_by.entry(dep).or_insert(by);
                }
            }
        }
        let implied_ids: HashSet<&str> = implied_by
            .keys()
            .copied()
            .filter(|id| !recorded.contains(id))
            .collect();
        let implied = self
            .plan
            .upgrades()
            .iter()
            .filter(|u| implied_ids.contains(u.id))
            .map(|u| Implied {
                id: u.id.to_owned(),
                by: implied_by[u.id].to_owned(),
            })
            .collect();
        let pending = self
            .plan
            .upgrades()
            .iter()
            .filter(|u| !recorded.contains(u.id) && !implied_ids.contains(u.id))
            .copied()
            .collect();
        let ghosts = applied
            .iter()
            .filter(|r| self.registry.get(&r.upgrade).is_none())
            .cloned()
            .collect();
        let edited = applied
            .iter()
            .filter_map(|r| {
                let current = self.registry.get(&r.upgrade)?.checksum?;
                let recorded = r.checksum.as_deref()?;
                (recorded != current).then(|| Edited {
                    id: r.upgrade.clone(),
                    recorded: recorded.to_owned(),
                    current: current.to_owned(),
                })
            })
            .collect();
        Status {
            applied,
            pending,
            implied,
            ghosts,
            edited,
            interrupted,
            running: Vec::new(),
        }
    }

    /// The estimates of `upgrades`, in order: `None` for those without one, and for those whose
    /// estimate failed (said through `ui`: a broken estimate must not block a run).
    pub fn estimates(
        &mut self,
        upgrades: &[Upgrade],
        ui: &mut dyn Interaction,
    ) -> Vec<(String, Option<Duration>)> {
        self.estimates_of(upgrades, &mut Traced(ui))
    }

    /// [`Engine::estimates`], for the engine's own calls (whose `ui` is already traced).
    fn estimates_of(
        &mut self,
        upgrades: &[Upgrade],
        ui: &mut dyn Interaction,
    ) -> Vec<(String, Option<Duration>)> {
        let mut out = Vec::with_capacity(upgrades.len());
        for upgrade in upgrades {
            let Some(estimate) = upgrade.estimate else {
                out.push((upgrade.id.to_owned(), None));
                continue;
            };
            let mut ctx = Context::new(upgrade.id, &mut self.conn, ui);
            let estimate = match flatten(catch_unwind(AssertUnwindSafe(|| estimate(&mut ctx)))) {
                Ok(duration) => Some(duration),
                Err(reason) => {
                    let reason = self.describe(reason);
                    ui.log(upgrade.id, &format!("its estimate failed: {reason}"));
                    None
                }
            };
            out.push((upgrade.id.to_owned(), estimate));
        }
        out
    }

    /// Everything `run` would check, without applying anything: the database's state, the
    /// estimates, and the pre-run checks and pending upgrades' `pre_upgrade`s.
    pub fn check(&mut self, ui: &mut dyn Interaction) -> Result<CheckReport, Error> {
        let ui = &mut Traced(ui);
        let status = self.status()?;
        let estimates = self.estimates_of(&status.pending, ui);
        let failures = if status.pending.is_empty() {
            Vec::new()
        } else {
            self.run_checks(Phase::PreRun, &status.pending, ui)
        };
        Ok(CheckReport {
            status,
            estimates,
            failures,
        })
    }

    /// Runs the global checks of `phase` and the matching check of each of `upgrades`, all of
    /// them even when some fail, each in a transaction that is rolled back: checks look, they do
    /// not change anything.
    fn run_checks(
        &mut self,
        phase: Phase,
        upgrades: &[Upgrade],
        ui: &mut dyn Interaction,
    ) -> Vec<CheckFailure> {
        let globals = self
            .plan
            .checks()
            .iter()
            .filter(|c| c.phase == phase)
            .map(|c| (c.name, c.check));
        let own = upgrades.iter().filter_map(|u| {
            let check = match phase {
                Phase::PreRun => u.pre_upgrade,
                Phase::PostRun => u.post_upgrade,
            };
            check.map(|check| (u.id, check))
        });
        let mut failures = Vec::new();
        for (name, check) in globals.collect::<Vec<_>>().into_iter().chain(own) {
            if let Err(reason) = self.run_check(name, check, ui) {
                failures.push(CheckFailure {
                    check: name.to_owned(),
                    reason,
                });
            }
        }
        failures
    }

    fn run_check(&mut self, name: &str, check: CheckFn, ui: &mut dyn Interaction) -> Result<(), String> {
        self.conn.begin().map_err(|e| e.to_string())?;
        let mut ctx = Context::new(name, &mut self.conn, ui);
        let result = flatten(catch_unwind(AssertUnwindSafe(|| check(&mut ctx))));
        let _ = self.conn.rollback();
        result.map_err(|reason| self.describe(reason))
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

    /// Records every active upgrade as applied without running it: for a database just created
    /// at the latest schema. Returns the ids recorded (those not already in the history).
    pub fn populate(&mut self, ui: &mut dyn Interaction, options: &RunOptions) -> Result<Vec<String>, Error> {
        let ui = &mut Traced(ui);
        self.with_lock(ui, options.lock_timeout, |engine, _| {
            let status = engine.status()?;
            // An interrupted upgrade's changes are unknown: the operator settles it first.
            if !status.interrupted.is_empty() {
                return Err(Error::Interrupted {
                    interrupted: status.interrupted,
                });
            }
            let recorded: BTreeSet<&str> = status.applied.iter().map(|r| r.upgrade.as_str()).collect();
            let missing: Vec<Upgrade> = engine
                .plan
                .upgrades()
                .iter()
                .filter(|u| !recorded.contains(u.id))
                .copied()
                .collect();
            // The history tables are set up (a seed table adopted) only to write something.
            if missing.is_empty() {
                return Ok(Vec::new());
            }
            history::setup(&mut engine.conn, &engine.history)?;
            let records: Vec<history::Record<'_>> = missing.iter().map(unrun).collect();
            engine
                .conn
                .transaction(|conn| history::record_all(conn, &engine.history, &records, Method::Populate))?;
            Ok(missing.iter().map(|u| u.id.to_owned()).collect())
        })
    }

    /// Records upgrades as applied without running them. Refused for an upgrade whose
    /// dependencies are pending, unless `force`.
    pub fn mark_applied(
        &mut self,
        ids: &[String],
        force: bool,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<Vec<String>, Error> {
        let ui = &mut Traced(ui);
        self.with_lock(ui, options.lock_timeout, |engine, _| {
            let status = engine.status()?;
            let pending: HashSet<&str> = status.pending.iter().map(|u| u.id).collect();
            let mut marked = Vec::new();
            for id in ids {
                let upgrade = *engine.known(id)?;
                if !pending.contains(upgrade.id) {
                    continue; // already applied (or implied)
                }
                let missing: Vec<&str> = engine
                    .plan
                    .ancestors(upgrade.id)
                    .into_iter()
                    .filter(|a| pending.contains(a) && !ids.iter().any(|i| i == a))
                    .collect();
                if !missing.is_empty() && !force {
                    return Err(Error::Refused {
                        reason: format!("`{id}` depends on pending upgrade(s): {}", missing.join(", ")),
                        hint: "mark those applied too, or pass --force if the database really has them"
                            .into(),
                    });
                }
                marked.push(upgrade);
            }
            if marked.is_empty() {
                return Ok(Vec::new());
            }
            // Refusals above change nothing; from here on the history is written.
            history::setup(&mut engine.conn, &engine.history)?;
            let records: Vec<history::Record<'_>> = marked.iter().map(unrun).collect();
            // An interrupted upgrade marked applied is settled, as `resolve` settles it.
            let interrupted: HashSet<&str> = status.interrupted.iter().map(|i| i.upgrade.as_str()).collect();
            let history = &engine.history;
            engine.conn.transaction(|conn| {
                history::record_all(conn, history, &records, Method::Mark)?;
                for upgrade in &marked {
                    if interrupted.contains(upgrade.id) {
                        history::clear_started(conn, history, upgrade.id)?;
                    }
                }
                Ok::<_, Error>(())
            })?;
            Ok(marked.iter().map(|u| u.id.to_owned()).collect())
        })
    }

    /// Makes upgrades pending again: removes them from the history (and clears the start mark of
    /// an interrupted one), so the next `run` applies them. An upgrade that a recorded upgrade
    /// depends on counts as applied through it, so taking it back alone would change nothing:
    /// that is refused, naming the recorded dependents, unless `with_dependents`, which takes them
    /// back too. Returns every id whose state changed, dependents included.
    pub fn mark_pending(
        &mut self,
        ids: &[String],
        with_dependents: bool,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<Vec<String>, Error> {
        let ui = &mut Traced(ui);
        self.with_lock(ui, options.lock_timeout, |engine, _| {
            let status = engine.status()?;
            let recorded: HashSet<&str> = status.applied.iter().map(|r| r.upgrade.as_str()).collect();
            let interrupted: HashSet<&str> = status.interrupted.iter().map(|i| i.upgrade.as_str()).collect();
            let mut changed: Vec<String> = Vec::new();
            for id in ids {
                let id = id.as_str();
                if engine.registry.get(id).is_none() && !recorded.contains(id) && !interrupted.contains(id) {
                    return Err(Error::UnknownUpgrade { id: id.to_owned() });
                }
                let dependents: Vec<&str> = engine
                    .plan
                    .descendants(id)
                    .into_iter()
                    .filter(|d| recorded.contains(d) && !ids.iter().any(|i| i == d))
                    .collect();
                if !dependents.is_empty() && !with_dependents {
                    return Err(Error::Refused {
                        reason: format!(
                            "`{id}` counts as applied because recorded upgrade(s) depend on it: {}; taking it back alone would change nothing",
                            dependents.join(", ")
                        ),
                        hint: "take those back too (--with-dependents: they run again at the next run), or leave it applied"
                            .into(),
                    });
                }
                for one in std::iter::once(id).chain(dependents) {
                    if (recorded.contains(one) || interrupted.contains(one)) && !changed.iter().any(|c| c == one) {
                        changed.push(one.to_owned());
                    }
                }
            }
            if changed.is_empty() {
                return Ok(changed);
            }
            history::setup(&mut engine.conn, &engine.history)?;
            let history = &engine.history;
            engine.conn.transaction(|conn| {
                for id in &changed {
                    if recorded.contains(id.as_str()) {
                        history::forget(conn, history, id)?;
                    }
                    if interrupted.contains(id.as_str()) {
                        history::clear_started(conn, history, id)?;
                    }
                }
                Ok::<_, Error>(())
            })?;
            Ok(changed)
        })
    }

    /// Settles an interrupted upgrade: `retry` clears its start mark so the next `run` runs it
    /// again; otherwise it is recorded as applied.
    pub fn resolve(
        &mut self,
        id: &str,
        retry: bool,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<(), Error> {
        let ui = &mut Traced(ui);
        self.with_lock(ui, options.lock_timeout, |engine, _| {
            let interrupted = history::in_progress(&mut engine.conn, &engine.history)?;
            if !interrupted.iter().any(|i| i.upgrade == id) {
                return Err(Error::Refused {
                    reason: format!("`{id}` is not an interrupted upgrade"),
                    hint: "`upgrader check` lists the interrupted upgrades".into(),
                });
            }
            history::setup(&mut engine.conn, &engine.history)?;
            let checksum = engine.registry.get(id).and_then(|u| u.checksum);
            engine.conn.transaction(|conn| {
                if !retry {
                    history::record(conn, &engine.history, id, None, checksum, Method::Resolve)?;
                }
                history::clear_started(conn, &engine.history, id)
            })
        })
    }

    fn known(&self, id: &str) -> Result<&Upgrade, Error> {
        self.plan
            .get(id)
            .ok_or_else(|| Error::UnknownUpgrade { id: id.to_owned() })
    }
}

/// An upgrade recorded without running it.
fn unrun(upgrade: &Upgrade) -> history::Record<'static> {
    history::Record {
        id: upgrade.id,
        duration_ms: None,
        checksum: upgrade.checksum,
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
