//! An upgrade engine for modular applications.
//!
//! Each module of an application ships *upgrades*: functions that bring a deployed database (and
//! anything else: files, indexes) from one release to the next. The `#[upgrade]` attribute
//! registers them; the engine finds every upgrade linked into the binary, orders them by their
//! dependencies, runs the ones the database's history does not have, and records each one.
//!
//! ```
//! use upgrader_core::{Context, Result, upgrade};
//!
//! /// Create the `users` table.
//! #[upgrade(depends_on = [])]
//! pub fn accounts_2024_01_10_initial(ctx: &mut Context) -> Result<()> {
//!     ctx.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL)")?;
//!     Ok(())
//! }
//!
//! /// Add the `name` column to `users`.
//! #[upgrade(depends_on = [accounts_2024_01_10_initial])]
//! pub fn accounts_2024_03_05_add_name(ctx: &mut Context) -> Result<()> {
//!     ctx.execute("ALTER TABLE users ADD COLUMN name VARCHAR(255)")?;
//!     Ok(())
//! }
//!
//! # fn main() -> std::result::Result<(), upgrader_core::Error> {
//! # #[cfg(feature = "sqlite")] {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("app.db");
//! let url = upgrader_core::DatabaseUrl::parse(path.to_str().unwrap())?;
//! let mut engine = upgrader_core::Engine::open(&url, upgrader_core::Registry::linked(), None)?;
//! let report = engine.run(&mut upgrader_core::Unattended::default(), &Default::default())?;
//! assert_eq!(report.applied_ids(), ["accounts_2024_01_10_initial", "accounts_2024_03_05_add_name"]);
//! # }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
// A build without any backend (a module crate's) compiles the engine with no connection to run
// it on: the code that talks to a database is there without its diesel calls.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(unused_imports, unused_variables, unused_mut, dead_code, unreachable_code)
)]
#![recursion_limit = "256"]

mod blocked;
mod connection;
mod context;
mod dialect;
mod engine;
mod error;
mod events;
pub mod fleet;
mod graph;
pub mod history;
mod lock;
mod run_events;
mod secret;
mod timeouts;
mod upgrade;
mod url;

pub use blocked::{Blocked, Limit};
#[cfg(feature = "mysql")]
pub use connection::MysqlConnection;
#[cfg(feature = "postgres")]
pub use connection::PgConnection;
#[cfg(feature = "sqlite")]
pub use connection::SqliteConnection;
pub use connection::{AnyConnection, Backend};
pub use context::{Batch, Batches, Context, Interaction, Unattended};
pub use engine::{
    AppliedUpgrade, CheckReport, Edited, EditedUpgrade, Engine, Implied, Readiness, ReadinessState, Rollback,
    RunOptions, RunPreview, RunReport, Status, UnknownUpgrade, total_estimate,
};
pub use engine::{CheckedGraph, RunMode, RunTarget};
pub use engine::{DEFAULT_ESTIMATE, Estimate, StoppedAtWindow, Timings};
pub use error::{CheckFailure, Error};
pub use fleet::{
    Fleet, FleetEvents, FleetOptions, FleetReport, FleetStop, FleetTarget, TargetOutcome, TargetResult,
};
pub use graph::{
    Explanation, GraphEdge, GraphNode, GraphView, Plan, Registry, Related, States, UpgradeState,
};
pub use history::{Actor, Checkpoint, HistoryTable, Journal, RunEntry, RunKind, RunOutcome, RunUpgrade};
pub use lock::{DEFAULT_SCOPE, LockId, SessionLockSql};
pub use run_events::{PlannedUpgrade, Warning};
pub use timeouts::Timeouts;
pub use upgrade::{BoxError, CheckFn, EstimateFn, Phase, Result, RunCheck, Source, Upgrade, UpgradeFn};
pub use upgrader_macros::upgrade;
pub use upgrader_naming::{ParsedId, parse_duration, parse_id};
pub use url::{DEFAULT_CONNECT_TIMEOUT, DatabaseUrl};

/// Re-exported so applications and upgrades use the same diesel as the engine.
pub use diesel;

/// Registers a check the application runs once per run: `pre_run` before anything is applied
/// (with every pending upgrade's `pre_upgrade`), `post_run` after the last upgrade.
///
/// ```
/// use upgrader_core::{Context, Result};
///
/// fn workers_stopped(ctx: &mut Context) -> Result<()> {
///     let busy = ctx.query_i64("SELECT 0 AS value")?.unwrap_or(0);
///     if busy > 0 { return Err("background workers are still running".into()); }
///     Ok(())
/// }
/// upgrader_core::run_check!(pre_run, "background workers are stopped", workers_stopped);
/// ```
#[macro_export]
macro_rules! run_check {
    (pre_run, $name:expr, $check:path) => {
        $crate::__private::inventory::submit! {
            $crate::__private::CheckRegistration(
                $crate::RunCheck::new($crate::Phase::PreRun, $name, $check)
            )
        }
    };
    (post_run, $name:expr, $check:path) => {
        $crate::__private::inventory::submit! {
            $crate::__private::CheckRegistration(
                $crate::RunCheck::new($crate::Phase::PostRun, $name, $check)
            )
        }
    };
}

/// Not public API: `upgrader_core::__private::dependency`, which the `#[upgrade]` attribute
/// imports under each upgrade's name. Expands to its input.
#[doc(hidden)]
#[macro_export]
macro_rules! __upgrader_dependency {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// Not public API. What the workspace's tests ask the dialects, so that they do not copy their
/// SQL.
#[doc(hidden)]
pub mod __test {
    pub use crate::dialect::{Columns, tables, value_as_text};
}

/// Not public API. Used by generated code.
#[doc(hidden)]
pub mod __private {
    pub use inventory;

    pub use crate::upgrade::{CheckFn, EstimateFn, Source, Upgrade, UpgradeFn};

    /// Expands to its input. The `#[upgrade]` attribute imports it under each upgrade's name, in
    /// the macro namespace, and reads a dependency `a::b::x` as `a::b::x! { .. }`: a path that
    /// does not name an upgrade fails there, naming what the user wrote. A `macro_rules!` macro
    /// rather than a procedural one: rustc expands it without a round trip to a proc-macro
    /// server, once per dependency of every upgrade.
    pub use crate::__upgrader_dependency as dependency;

    /// One more than the largest of `depths` (1 for none). The attribute writes `1` and `d + 1`
    /// itself for no and one dependency; this is for two or more.
    pub const fn depth(depths: &[usize]) -> usize {
        let mut max = 0;
        let mut i = 0;
        while i < depths.len() {
            if depths[i] > max {
                max = depths[i];
            }
            i += 1;
        }
        max + 1
    }

    /// Everything the attribute knows of an upgrade, in one struct literal, so that building the
    /// [`Upgrade`] is one `const fn` call ([`upgrade`]) rather than a chain of `with_*` calls,
    /// each interpreted on its own by const evaluation.
    #[derive(Debug, Clone, Copy)]
    pub struct Parts {
        pub id: &'static str,
        pub info: &'static str,
        pub run: UpgradeFn,
        pub depends_on: &'static [&'static str],
        pub source: Source,
        pub checksum: &'static str,
        pub options: Options,
    }

    /// The attribute's optional arguments: [`Options::DEFAULT`] when it has none, the common
    /// case, which then costs one path rather than a field each.
    #[derive(Debug, Clone, Copy)]
    pub struct Options {
        pub estimate: Option<EstimateFn>,
        pub pre_upgrade: Option<CheckFn>,
        pub post_upgrade: Option<CheckFn>,
        pub transactional: bool,
        pub lock_timeout: Option<std::time::Duration>,
        pub retries: u32,
    }

    impl Options {
        /// No hook, in a transaction, the engine's lock timeout, no retry.
        pub const DEFAULT: Options = Options {
            estimate: None,
            pre_upgrade: None,
            post_upgrade: None,
            transactional: true,
            lock_timeout: None,
            retries: 0,
        };
    }

    /// The upgrade `parts` describe.
    pub const fn upgrade(parts: Parts) -> Upgrade {
        let options = parts.options;
        Upgrade {
            id: parts.id,
            depends_on: parts.depends_on,
            info: parts.info,
            run: parts.run,
            estimate: options.estimate,
            pre_upgrade: options.pre_upgrade,
            post_upgrade: options.post_upgrade,
            source: Some(parts.source),
            checksum: Some(parts.checksum),
            transactional: options.transactional,
            lock_timeout: options.lock_timeout,
            retries: options.retries,
        }
    }

    /// An upgrade linked into the binary: the one item the attribute registers per upgrade.
    #[derive(Debug)]
    pub struct Registration {
        /// The upgrade.
        pub upgrade: Upgrade,
        /// Its depth constant. Reading it here makes rustc evaluate it (an unused `const` is
        /// never evaluated), so a dependency cycle is a const-evaluation cycle (E0391).
        pub depth: usize,
    }
    inventory::collect!(Registration);

    /// A run check linked into the binary.
    #[derive(Debug)]
    pub struct CheckRegistration(pub crate::upgrade::RunCheck);
    inventory::collect!(CheckRegistration);
}
