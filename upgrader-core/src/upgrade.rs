//! One upgrade: plain data and the functions it runs.

use std::fmt;
use std::time::Duration;

use crate::context::Context;

/// The error an upgrade (or one of its checks) returns: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an upgrade function and its checks return.
pub type Result<T = (), E = BoxError> = std::result::Result<T, E>;

/// The work of an upgrade.
pub type UpgradeFn = fn(&mut Context<'_>) -> Result<()>;
/// A `pre_upgrade` or `post_upgrade` check, or a global run check.
pub type CheckFn = fn(&mut Context<'_>) -> Result<()>;
/// An upgrade's `estimate`: how long it expects to take on this database.
pub type EstimateFn = fn(&mut Context<'_>) -> Result<Duration>;

/// Where an upgrade was written, as the compiler saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// `file!()` at the upgrade: relative to the directory cargo was run from.
    pub file: &'static str,
    /// `line!()` at the upgrade.
    pub line: u32,
    /// The crate that holds the upgrade (`CARGO_PKG_NAME`).
    pub crate_name: &'static str,
    /// That crate's version (`CARGO_PKG_VERSION`).
    pub crate_version: &'static str,
    /// That crate's manifest directory (`CARGO_MANIFEST_DIR`).
    pub manifest_dir: &'static str,
}

impl Source {
    /// The upgrade's source file as an absolute path, when it can be found on this machine.
    pub fn path(&self) -> Option<std::path::PathBuf> {
        let file = std::path::Path::new(self.file);
        if file.is_absolute() {
            return file.exists().then(|| file.to_path_buf());
        }
        // `file!()` is relative to where cargo ran: the workspace root or the crate itself.
        std::path::Path::new(self.manifest_dir)
            .ancestors()
            .map(|dir| dir.join(file))
            .find(|candidate| candidate.exists())
    }
}

/// One upgrade: its id, its place in the graph and what it runs.
///
/// The `#[upgrade]` attribute builds these; [`Upgrade::new`] and its `with_*` methods build one by
/// hand (for tests, or for upgrades registered without the attribute).
#[derive(Clone, Copy)]
pub struct Upgrade {
    pub(crate) id: &'static str,
    pub(crate) depends_on: &'static [&'static str],
    pub(crate) info: &'static str,
    pub(crate) run: UpgradeFn,
    pub(crate) estimate: Option<EstimateFn>,
    pub(crate) pre_upgrade: Option<CheckFn>,
    pub(crate) post_upgrade: Option<CheckFn>,
    pub(crate) source: Option<Source>,
    pub(crate) checksum: Option<&'static str>,
    /// Whether the engine runs it inside a transaction (see [`Upgrade::transactional`]).
    pub(crate) transactional: bool,
    pub(crate) lock_timeout: Option<Duration>,
    pub(crate) retries: u32,
}

impl Upgrade {
    /// An upgrade with no dependencies, checks or estimate.
    pub const fn new(id: &'static str, info: &'static str, run: UpgradeFn) -> Self {
        Upgrade {
            id,
            depends_on: &[],
            info,
            run,
            estimate: None,
            pre_upgrade: None,
            post_upgrade: None,
            source: None,
            checksum: None,
            transactional: true,
            lock_timeout: None,
            retries: 0,
        }
    }

    /// The ids of the upgrades this one needs applied first.
    pub const fn with_depends_on(mut self, depends_on: &'static [&'static str]) -> Self {
        self.depends_on = depends_on;
        self
    }

    /// How long the upgrade expects to take.
    pub const fn with_estimate(mut self, estimate: EstimateFn) -> Self {
        self.estimate = Some(estimate);
        self
    }

    /// A check that must pass before anything of the run is applied.
    pub const fn with_pre_upgrade(mut self, check: CheckFn) -> Self {
        self.pre_upgrade = Some(check);
        self
    }

    /// A check run after the last upgrade of the run is applied.
    pub const fn with_post_upgrade(mut self, check: CheckFn) -> Self {
        self.post_upgrade = Some(check);
        self
    }

    /// Where the upgrade was written.
    pub const fn with_source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// A fingerprint of the upgrade's code, recorded when it is applied, so edits are detected.
    pub const fn with_checksum(mut self, checksum: &'static str) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// `false`: the upgrade runs outside a transaction (`#[upgrade(transaction = false)]`), for
    /// statements that refuse to run in one (`CREATE INDEX CONCURRENTLY`, `VACUUM`) and for
    /// batched work ([`Context::batches`](crate::Context::batches)) that commits as it goes. The
    /// engine then commits a start mark before it and records it after it, on every backend.
    pub const fn with_transaction(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// How long each of the upgrade's statements may wait for a lock another session holds
    /// before the upgrade fails (instead of the engine's default wait): PostgreSQL's
    /// `lock_timeout` (`SET LOCAL`), MySQL/MariaDB's `lock_wait_timeout` and
    /// `innodb_lock_wait_timeout`, SQLite's busy timeout.
    pub const fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// How many times the upgrade is tried again when it gave up waiting for a lock, after a
    /// pause that doubles each time (see [`Upgrade::retry_delay`]), before the run fails.
    pub const fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The upgrade's own lock timeout, when it has one ([`Upgrade::with_lock_timeout`]).
    pub fn lock_timeout(&self) -> Option<Duration> {
        self.lock_timeout
    }

    /// How many times it is tried again after giving up waiting for a lock.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The pause before retry `retry` (1 for the first): 1s, 2s, 4s, … doubling, at most 60s.
    pub fn retry_delay(retry: u32) -> Duration {
        let secs = 1u64 << retry.saturating_sub(1).min(6);
        Duration::from_secs(secs.min(60))
    }

    /// The upgrade's id: its function's name.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The graph the upgrade belongs to: the part of the id before the date (or before `_release_`).
    pub fn module(&self) -> &'static str {
        upgrader_naming::parse_id(self.id).map_or(self.id, |parsed| parsed.module())
    }

    /// Whether this is a `<repository>_release_<x>_<y>_<z>` marker.
    pub fn is_release(&self) -> bool {
        matches!(
            upgrader_naming::parse_id(self.id),
            Ok(upgrader_naming::ParsedId::Release { .. })
        )
    }

    /// The ids of the upgrades this one depends on.
    pub fn depends_on(&self) -> &'static [&'static str] {
        self.depends_on
    }

    /// What the upgrade does: its doc comment.
    pub fn info(&self) -> &'static str {
        self.info
    }

    /// Where the upgrade was written, when known.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// The fingerprint of the upgrade's code, when known.
    pub fn checksum(&self) -> Option<&'static str> {
        self.checksum
    }

    /// Whether the engine runs the upgrade inside a transaction with its history row (the
    /// default); `false` for `#[upgrade(transaction = false)]`. A mode that needs the whole run
    /// in one transaction cannot include an upgrade for which this is `false`.
    pub fn transactional(&self) -> bool {
        self.transactional
    }

    /// Whether the upgrade has an estimate.
    pub fn has_estimate(&self) -> bool {
        self.estimate.is_some()
    }
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("id", &self.id)
            .field("depends_on", &self.depends_on)
            .field("info", &self.info)
            .field("source", &self.source)
            .field("checksum", &self.checksum)
            .field("transactional", &self.transactional)
            .field("lock_timeout", &self.lock_timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// A check the application runs once per run, before (or after) all upgrades:
/// "background workers are stopped", say. Register one with [`crate::run_check!`].
#[derive(Clone, Copy)]
pub struct RunCheck {
    pub(crate) phase: Phase,
    pub(crate) name: &'static str,
    pub(crate) check: CheckFn,
}

/// When a [`RunCheck`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Before anything is applied, with every pending upgrade's `pre_upgrade`.
    PreRun,
    /// After the last upgrade, with every applied upgrade's `post_upgrade`.
    PostRun,
}

impl RunCheck {
    /// A check with a name that says what it verifies.
    pub const fn new(phase: Phase, name: &'static str, check: CheckFn) -> Self {
        RunCheck { phase, name, check }
    }

    /// What the check verifies.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// When it runs.
    pub fn phase(&self) -> Phase {
        self.phase
    }
}

impl fmt::Debug for RunCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunCheck")
            .field("phase", &self.phase)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_a_doubling_pause_of_at_most_a_minute() {
        let pauses: Vec<u64> = (1..=10).map(|r| Upgrade::retry_delay(r).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    }
}
