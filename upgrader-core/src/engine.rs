//! The engine: reads the history, works out what is pending, runs it, records it.

use std::sync::Arc;
use std::time::Duration;

use crate::blocked;
use crate::connection::{AnyConnection, Backend};
use crate::context::Interaction;
use crate::error::Error;
use crate::graph::{Plan, Registry};
use crate::history::{Actor, HistoryTable, Open};
use crate::lock::RunLock;
use crate::timeouts::Timeouts;
use crate::url::DatabaseUrl;

mod accept;
mod apply;
mod checks;
mod estimate;
mod journal;
mod mode;
mod readiness;
mod repair;
mod report;
mod run;
mod status;
mod target;
mod whole;
mod window;

pub use estimate::{DEFAULT_ESTIMATE, Estimate, Timings};
pub use mode::RunMode;
pub use readiness::{EditedUpgrade, Readiness, ReadinessState, Rollback, UnknownUpgrade};
pub use report::{
    AppliedUpgrade, CheckReport, Edited, Implied, RunOptions, RunPreview, RunReport, Status, total_estimate,
};
pub use target::RunTarget;
pub use window::StoppedAtWindow;

/// The engine on one database.
#[derive(Debug)]
pub struct Engine {
    url: DatabaseUrl,
    conn: AnyConnection,
    registry: Arc<Registry>,
    plan: Arc<Plan>,
    /// Whether this engine holds the run lock (then no other runner can be applying anything).
    locked: bool,
    /// How long statements wait (see [`Engine::set_timeouts`]).
    timeouts: Timeouts,
    /// What the session has now: `timeouts`, or shorter waits before a run's first upgrade.
    session: Timeouts,
    history: HistoryTable,
    /// Who runs it, for the journal (see [`Engine::with_actor`]).
    actor: Actor,
    /// The journal row of the command under way.
    journal: Open,
    /// How rows are written into the history, read once while the run lock is held (see
    /// [`Engine::record_applied`]).
    recorder: Option<crate::history::Recorder>,
}

/// The linked upgrades, their graph checked and ordered once ([`Registry::plan`]), to open many
/// databases with: the engines of a fleet share it instead of checking the graph again each.
#[derive(Debug, Clone)]
pub struct CheckedGraph {
    registry: Arc<Registry>,
    plan: Arc<Plan>,
}

impl CheckedGraph {
    /// Checks the graph of `registry` (only `packages` when given).
    pub fn new(registry: Registry, packages: Option<&[String]>) -> Result<CheckedGraph, Error> {
        if registry.upgrades().is_empty() {
            return Err(Error::NothingLinked);
        }
        let plan = registry.plan(packages)?;
        Ok(CheckedGraph {
            registry: Arc::new(registry),
            plan: Arc::new(plan),
        })
    }
}

impl Engine {
    /// Checks the graph of `registry` (only `packages` when given), then connects to the database.
    pub fn open(url: &DatabaseUrl, registry: Registry, packages: Option<&[String]>) -> Result<Engine, Error> {
        Engine::open_checked(url, &CheckedGraph::new(registry, packages)?)
    }

    /// Like [`Engine::open`], for looking only (`show`, `check`): an SQLite file that does not
    /// exist is not created, but read as the empty database it would be; one that exists is
    /// opened read-only ([`DatabaseUrl::connect_read_only`]).
    pub fn inspect(
        url: &DatabaseUrl,
        registry: Registry,
        packages: Option<&[String]>,
    ) -> Result<Engine, Error> {
        Engine::inspect_checked(url, &CheckedGraph::new(registry, packages)?)
    }

    /// [`Engine::open`] with a graph checked already.
    pub fn open_checked(url: &DatabaseUrl, graph: &CheckedGraph) -> Result<Engine, Error> {
        Engine::open_with(url, graph, DatabaseUrl::connect)
    }

    /// [`Engine::inspect`] with a graph checked already.
    pub fn inspect_checked(url: &DatabaseUrl, graph: &CheckedGraph) -> Result<Engine, Error> {
        Engine::open_with(url, graph, |url| match url.sqlite_path() {
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

    /// The graph is checked first, so its problems are reported even when the database is down.
    fn open_with(
        url: &DatabaseUrl,
        graph: &CheckedGraph,
        connect: impl FnOnce(&DatabaseUrl) -> Result<AnyConnection, Error>,
    ) -> Result<Engine, Error> {
        let mut conn = connect(url)?;
        let timeouts = Timeouts::default();
        conn.set_timeouts(&timeouts)
            .map_err(Error::db("setting the session's timeouts"))?;
        Ok(Engine {
            url: url.clone(),
            conn,
            registry: Arc::clone(&graph.registry),
            plan: Arc::clone(&graph.plan),
            locked: false,
            timeouts,
            session: timeouts,
            history: HistoryTable::default(),
            actor: Actor::default(),
            journal: Open::Idle,
            recorder: None,
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

    /// Takes the run lock, runs `f`, and gives the lock back. Call it after reading the history
    /// (a history that cannot be read, or a table that is not one, is refused before anything is
    /// taken or written).
    fn with_lock<T>(
        &mut self,
        ui: &mut dyn Interaction,
        timeout: Duration,
        f: impl FnOnce(&mut Engine, &mut dyn Interaction) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let lock = RunLock::acquire(&self.url, self.history.name(), &mut self.conn, timeout, ui);
        let lock = self.explained(lock)?;
        self.locked = true;
        self.recorder = None;
        let result = f(self, ui);
        self.locked = false;
        self.recorder = None;
        let result = self.explained(result);
        let released = lock.release(&mut self.conn);
        let value = result?;
        released?;
        Ok(value)
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
