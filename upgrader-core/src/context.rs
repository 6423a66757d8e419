//! What an upgrade gets to work with, and how the engine talks to the operator.

use std::fmt;

use crate::connection::{AnyConnection, Backend};
use crate::engine::RunReport;
use crate::error::Error;
use crate::run_events::PlannedUpgrade;
use crate::upgrade::Phase;

mod batches;

pub use batches::{Batch, Batches};

/// The engine's window on the operator: the CLI implements it with a terminal, tests with a script.
///
/// The core never prints; everything the operator sees goes through here.
pub trait Interaction {
    /// Asks a free-form question; returns the answer, or `default` when there is nobody to ask.
    fn ask(&mut self, question: &str, default: &str) -> String;
    /// Asks a yes/no question; returns the answer, or `default` when there is nobody to ask.
    fn confirm(&mut self, question: &str, default: bool) -> bool;
    /// A line an upgrade logs while it runs.
    fn log(&mut self, upgrade: &str, message: &str);
    /// How far an upgrade is: `done` of `total` units.
    fn progress(&mut self, upgrade: &str, done: u64, total: u64);
    /// The engine is about to run `upgrade` (the `index`-th of `total`).
    fn upgrade_started(&mut self, _upgrade: &str, _index: usize, _total: usize) {}
    /// The engine finished `upgrade`, successfully or not.
    fn upgrade_finished(&mut self, _upgrade: &str, _ok: bool, _elapsed: std::time::Duration) {}
    /// The engine waits for another runner's lock.
    fn waiting_for_lock(&mut self, _holder: Option<&str>) {}
    /// A run is about to check, then apply, these upgrades (in run order): told by
    /// [`Engine::preview_run`](crate::Engine::preview_run) before its checks, and again holding
    /// the lock only when there was no preview or the plan changed since.
    fn run_planned(&mut self, _plan: &[PlannedUpgrade]) {}
    /// A check finished: a pre-run or post-run check (by its name), or an upgrade's
    /// `pre_upgrade` or `post_upgrade` (by the upgrade's id); `error` is `None` when it passed.
    fn check_finished(&mut self, _phase: Phase, _check: &str, _error: Option<&str>) {}
    /// An upgrade (or a check) warned ([`Context::warn`]).
    fn warning(&mut self, _upgrade: &str, _message: &str) {}
    /// A run ended: what it applied and the warnings given (for a failed run, what it did before
    /// failing), and its error when it failed. Called once per [`crate::Engine::run`] or
    /// [`crate::Engine::run_previewed`], after the lock is released, also when nothing was to do.
    fn run_finished(&mut self, _report: &RunReport, _error: Option<&Error>) {}
}

/// An [`Interaction`] for unattended runs: every question gets its default, logs and warnings are
/// kept in memory (`lines`), progress is dropped.
#[derive(Debug, Default, Clone)]
pub struct Unattended {
    /// Every line logged, as `upgrade: message`, every warning, as `upgrade: warning: message`,
    /// and every question asked with the answer given.
    pub lines: Vec<String>,
}

impl Interaction for Unattended {
    fn ask(&mut self, question: &str, default: &str) -> String {
        self.lines.push(format!("? {question} -> {default}"));
        default.to_owned()
    }

    fn confirm(&mut self, question: &str, default: bool) -> bool {
        self.lines
            .push(format!("? {question} -> {}", if default { "yes" } else { "no" }));
        default
    }

    fn log(&mut self, upgrade: &str, message: &str) {
        self.lines.push(format!("{upgrade}: {message}"));
    }

    fn progress(&mut self, _upgrade: &str, _done: u64, _total: u64) {}

    fn warning(&mut self, upgrade: &str, message: &str) {
        self.lines.push(format!("{upgrade}: warning: {message}"));
    }
}

/// What an upgrade function (and its checks and estimate) is given: the database connection, and
/// the operator.
pub struct Context<'a> {
    upgrade: &'a str,
    conn: &'a mut AnyConnection,
    ui: &'a mut dyn Interaction,
    /// Set when the engine runs the upgrade outside a transaction: batched work is allowed.
    batching: Option<batches::Batching>,
    /// How many statements that may change something it ran (`batch_execute` and `connection()`
    /// count as several: nobody knows).
    writes: u32,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("upgrade", &self.upgrade)
            .field("backend", &self.conn.backend())
            .finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    /// A context for `upgrade` (or a check's name) on `conn`, talking to `ui`.
    pub fn new(upgrade: &'a str, conn: &'a mut AnyConnection, ui: &'a mut dyn Interaction) -> Self {
        Context {
            upgrade,
            conn,
            ui,
            batching: None,
            writes: 0,
        }
    }

    /// How many statements that may change something it ran: 2 stands for "more than one, or
    /// unknown" (`batch_execute`, `connection()`). Where DDL commits on its own, an upgrade that
    /// failed at its only such statement changed nothing, and can be run again.
    pub(crate) fn writes(&self) -> u32 {
        self.writes
    }

    /// The id of the upgrade being run (or the name of the check).
    pub fn upgrade(&self) -> &str {
        self.upgrade
    }

    /// The database connection. For diesel's typed queries, match on it: each arm is that
    /// backend's own diesel connection. The engine has opened a transaction around the upgrade
    /// (unless it is declared `transaction = false`).
    /// A variant exists when its backend's feature is on: a crate that matches on them turns on
    /// the features it names (`upgrader-core = { version = "0.1", features = ["sqlite"] }`).
    ///
    /// ```
    /// use upgrader_core::diesel::{self, prelude::*};
    /// use upgrader_core::{AnyConnection, Context, Result};
    ///
    /// diesel::table! { users (id) { id -> BigInt, email -> Text } }
    ///
    /// # #[cfg(all(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    /// fn users_without_email(ctx: &mut Context) -> Result<i64> {
    ///     let query = users::table.filter(users::email.eq("")).count();
    ///     Ok(match ctx.connection() {
    ///         AnyConnection::Sqlite(c) => query.get_result(c)?,
    ///         AnyConnection::Postgres(c) => query.get_result(c)?,
    ///         AnyConnection::Mysql(c) => query.get_result(c)?,
    ///         _ => return Err("a backend this upgrade does not know".into()),
    ///     })
    /// }
    /// ```
    pub fn connection(&mut self) -> &mut AnyConnection {
        self.writes = 2;
        self.conn
    }

    /// Which backend the database is, for upgrades whose SQL differs between dialects.
    pub fn backend(&self) -> Backend {
        self.conn.backend()
    }

    /// Runs one SQL statement; returns the number of rows it changed.
    pub fn execute(&mut self, sql: &str) -> diesel::QueryResult<usize> {
        self.writes = self.writes.saturating_add(1).min(2);
        self.conn.execute(sql)
    }

    /// Runs several SQL statements separated by `;`.
    pub fn batch_execute(&mut self, sql: &str) -> diesel::QueryResult<()> {
        self.writes = 2;
        self.conn.batch_execute(sql)
    }

    /// Runs a query that returns one integer in a column named `value`
    /// (`SELECT COUNT(*) AS value FROM users`).
    pub fn query_i64(&mut self, sql: &str) -> diesel::QueryResult<Option<i64>> {
        self.conn.query_i64(sql)
    }

    /// Runs a query that returns one text value in a column named `value`.
    pub fn query_text(&mut self, sql: &str) -> diesel::QueryResult<Option<String>> {
        self.conn.query_text(sql)
    }

    /// Whether a table exists, without disturbing the upgrade's transaction.
    pub fn table_exists(&mut self, table: &str) -> diesel::QueryResult<bool> {
        self.conn.table_exists(table)
    }

    /// Asks the operator a question. With nobody to ask (an unattended run,
    /// [`crate::Unattended`]), returns `default` at once.
    pub fn ask(&mut self, question: &str, default: &str) -> String {
        self.ui.ask(question, default)
    }

    /// Asks the operator yes or no. With nobody to ask (an unattended run,
    /// [`crate::Unattended`]), returns `default` at once.
    pub fn confirm(&mut self, question: &str, default: bool) -> bool {
        self.ui.confirm(question, default)
    }

    /// Logs a line for the operator.
    pub fn log(&mut self, message: impl fmt::Display) {
        self.ui.log(self.upgrade, &message.to_string());
    }

    /// Warns the operator: something they should know that does not stop the run (rows skipped,
    /// a default taken). Warnings are counted and shown at the end of the run, and kept in its
    /// [`RunReport::warnings`].
    pub fn warn(&mut self, message: impl fmt::Display) {
        self.ui.warning(self.upgrade, &message.to_string());
    }

    /// Reports progress: `done` of `total` units (rows, files…).
    pub fn progress(&mut self, done: u64, total: u64) {
        self.ui.progress(self.upgrade, done, total);
    }
}
