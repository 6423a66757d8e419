//! The engine: reads the history, works out what is pending, runs it, records it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::connection::{AnyConnection, Backend};
use crate::context::{Context, Interaction};
use crate::error::{CheckFailure, Error};
use crate::graph::{Plan, Registry};
use crate::history::{self, AppliedRecord, HistoryTable, InProgress, Method};
use crate::lock::{self, RunLock};
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
            Some(path) if !path.exists() => DatabaseUrl::parse(":memory:")?.connect(),
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
        let plan = registry.plan(packages)?;
        let conn = connect(url)?;
        Ok(Engine {
            url: url.clone(),
            conn,
            registry,
            plan,
            history: HistoryTable::default(),
        })
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
        history::applied(&mut self.conn, &self.history)
    }

    /// The database's state against the linked upgrades. Reads only.
    pub fn status(&mut self) -> Result<Status, Error> {
        let history::History {
            applied,
            in_progress: mut interrupted,
        } = history::read(&mut self.conn, &self.history)?;
        let mut running = Vec::new();
        // A start mark is an interruption only when no runner is alive to finish it.
        if !interrupted.is_empty()
            && let Some(holder) = lock::held_by_other(&self.url, &mut self.conn)
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
        let mut out = Vec::with_capacity(upgrades.len());
        for upgrade in upgrades {
            let estimate = upgrade.estimate.and_then(|estimate| {
                let mut ctx = Context::new(upgrade.id, &mut self.conn, ui);
                match flatten(catch_unwind(AssertUnwindSafe(|| estimate(&mut ctx)))) {
                    Ok(duration) => Some(duration),
                    Err(reason) => {
                        ui.log(upgrade.id, &format!("its estimate failed: {reason}"));
                        None
                    }
                }
            });
            out.push((upgrade.id.to_owned(), estimate));
        }
        out
    }

    /// Everything `run` would check, without applying anything: the database's state, the
    /// estimates, and the pre-run checks and pending upgrades' `pre_upgrade`s.
    pub fn check(&mut self, ui: &mut dyn Interaction) -> Result<CheckReport, Error> {
        let status = self.status()?;
        let estimates = self.estimates(&status.pending, ui);
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
        result
    }

    /// Applies every pending upgrade, holding the run lock.
    ///
    /// In order: the pre-run checks and every pending upgrade's `pre_upgrade` (all of them; if any
    /// fails nothing is applied), then each upgrade with its history row in one transaction
    /// (MySQL/MariaDB: with a start mark, see the README), then every applied upgrade's
    /// `post_upgrade` and the post-run checks. When nothing is pending, returns at once without
    /// taking the lock.
    pub fn run(&mut self, ui: &mut dyn Interaction, options: &RunOptions) -> Result<RunReport, Error> {
        // Nothing to do: return without queueing for the lock. Anything else (even a start mark,
        // which may be a live runner's) is looked at again holding the lock.
        let status = self.status()?;
        if status.pending.is_empty() && status.interrupted.is_empty() && status.running.is_empty() {
            return Ok(RunReport::default());
        }
        self.with_lock(ui, options.lock_timeout, |engine, ui| engine.run_locked(ui))
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
        history::read(&mut self.conn, &self.history)?;
        let lock = RunLock::acquire(&self.url, &mut self.conn, timeout, ui)?;
        let result = f(self, ui);
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
        let failures = self.run_checks(Phase::PreRun, &pending, ui);
        if !failures.is_empty() {
            return Err(Error::PreChecksFailed { failures });
        }
        // After the checks: a database that refuses writes is reported by them, not by this.
        history::setup(&mut self.conn, &self.history)?;
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
        let fail = |e: Error| (e.to_string(), true);
        if !transactional {
            history::mark_started(&mut self.conn, &self.history, upgrade.id, &lock::runner())
                .map_err(fail)?;
        }
        let started = Instant::now();
        self.conn.begin().map_err(|e| (e.to_string(), true))?;
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
            Ok(()) => self
                .conn
                .transaction(|conn| {
                    history::record(
                        conn,
                        &self.history,
                        upgrade.id,
                        Some(millis),
                        upgrade.checksum,
                        Method::Run,
                    )?;
                    history::clear_started(conn, &self.history, upgrade.id)
                })
                .map(|()| duration)
                .map_err(|e| (e.to_string(), false)),
            Err(reason) => {
                let _ = self.conn.rollback();
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
        self.with_lock(ui, options.lock_timeout, |engine, _| {
            let status = engine.status()?;
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
            history::setup(&mut engine.conn, &engine.history)?;
            let records: Vec<history::Record<'_>> = marked.iter().map(unrun).collect();
            engine
                .conn
                .transaction(|conn| history::record_all(conn, &engine.history, &records, Method::Mark))?;
            Ok(marked.iter().map(|u| u.id.to_owned()).collect())
        })
    }

    /// Removes upgrades from the history so they run again. Returns the ids removed.
    pub fn mark_pending(
        &mut self,
        ids: &[String],
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<Vec<String>, Error> {
        for id in ids {
            if self.registry.get(id).is_none() && !self.applied()?.iter().any(|r| &r.upgrade == id) {
                return Err(Error::UnknownUpgrade { id: id.clone() });
            }
        }
        self.with_lock(ui, options.lock_timeout, |engine, _| {
            let recorded: HashSet<String> = engine.applied()?.into_iter().map(|r| r.upgrade).collect();
            let removed: Vec<String> = ids.iter().filter(|id| recorded.contains(*id)).cloned().collect();
            if removed.is_empty() {
                return Ok(removed);
            }
            history::setup(&mut engine.conn, &engine.history)?;
            engine.conn.transaction(|conn| {
                for id in &removed {
                    history::forget(conn, &engine.history, id)?;
                }
                Ok::<_, Error>(())
            })?;
            Ok(removed)
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
