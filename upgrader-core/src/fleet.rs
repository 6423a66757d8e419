//! A fleet: one plan over many databases (a database or a PostgreSQL schema per tenant), each
//! treated exactly as one database is: its own connection, history and run lock.
//!
//! There is no coordinator. Each target's run lock is the coordination: a runner that finds a
//! target's lock held by another runner does not wait in line, it goes on with the others and
//! comes back to it ([`FleetOptions::lock_timeout`] bounds how long). So several runners started
//! on the same fleet, on one machine or many, share it out among themselves and never run a target
//! twice at once.
//!
//! - [`targets`]: where the list comes from (URLs, a file of URLs, a query against a control
//!   database, a schema pattern), refused when empty or when a target is listed twice.
//! - [`Fleet::check_distinct`]: two names of one database (`localhost` and `127.0.0.1`, a path
//!   and a symlink to it) are refused before anything runs.
//! - [`Fleet::run`]: the targets, `jobs` at a time, in a canary and waves; failures isolated.
//! - [`Fleet::look`]: each target's readiness, read in parallel.

mod look;
mod schedule;
pub mod targets;

use std::time::Duration;

use crate::context::Interaction;
use crate::error::Error;
use crate::url::DatabaseUrl;

pub use look::Looked;
pub use schedule::{FleetReport, FleetStop, TargetOutcome, TargetResult};
pub use targets::TargetSource;

/// The targets of a fleet, in order, each named once.
#[derive(Debug, Clone)]
pub struct Fleet {
    targets: Vec<FleetTarget>,
}

/// One database of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetTarget {
    /// Its position in the fleet, from 0.
    pub index: usize,
    /// The database (and schema).
    pub url: DatabaseUrl,
    /// Where it was listed, for messages: `tenants.txt:12`, `targets[3]`, `schema tenant_7`.
    pub origin: String,
}

impl FleetTarget {
    /// How messages name it: the URL, passwords redacted.
    pub fn name(&self) -> String {
        self.url.redacted()
    }
}

/// How a fleet runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FleetOptions {
    /// How many targets run at once (at least 1; default [`FleetOptions::DEFAULT_JOBS`]).
    pub jobs: usize,
    /// How many targets run first, alone: if any of them fails, the fleet stops there (0: none).
    pub canary: usize,
    /// After the canary, the targets go in waves of this many, each finished before the next
    /// starts; the fleet stops after the first wave with a failure. `None`: one wave.
    pub wave_size: Option<usize>,
    /// Stop starting targets at the first failure (those running finish).
    pub fail_fast: bool,
    /// How long a target whose lock another runner holds is come back to before it counts as
    /// failed ([`Error::LockTimeout`]), counted from the first time it was found held.
    pub lock_timeout: Duration,
    /// How long a runner waits before trying a held target again, when it has nothing else to do.
    pub retry_pause: Duration,
}

impl FleetOptions {
    /// Four targets at a time: each run is mostly waiting on its database, and four keep a small
    /// machine busy without crowding a database server's connections.
    pub const DEFAULT_JOBS: usize = 4;

    /// Options with `jobs` targets at a time (at least 1).
    pub fn with_jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Options with a canary of `count` targets.
    pub fn with_canary(mut self, count: usize) -> Self {
        self.canary = count;
        self
    }

    /// Options with waves of `size` targets (at least 1).
    pub fn with_wave_size(mut self, size: usize) -> Self {
        self.wave_size = Some(size.max(1));
        self
    }

    /// Options that stop starting targets at the first failure.
    pub fn with_fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }

    /// Options that come back to a held target for this long.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            jobs: FleetOptions::DEFAULT_JOBS,
            canary: 0,
            wave_size: None,
            fail_fast: false,
            lock_timeout: Duration::from_secs(300),
            retry_pause: Duration::from_millis(200),
        }
    }
}

/// What a fleet tells its caller as it goes; called from the worker threads, so it is shared
/// (`Sync`), and each target's run gets an [`Interaction`] of its own.
pub trait FleetEvents: Sync {
    /// The interaction of one target's run (its prompts, progress and events), made on the worker
    /// thread that runs it.
    fn interaction(&self, target: &FleetTarget) -> Box<dyn Interaction + '_>;
    /// A group of targets starts: the canary (`canary` true), or a wave (from 1).
    fn group_started(&self, _wave: usize, _canary: bool, _targets: &[FleetTarget]) {}
    /// A target's run starts (again, after its lock was found held).
    fn target_started(&self, _target: &FleetTarget) {}
    /// Another runner holds the target's lock: it is left for now and tried again later.
    fn target_held(&self, _target: &FleetTarget, _holder: Option<&str>) {}
    /// A target is done with, one way or the other.
    fn target_finished(&self, _result: &TargetResult) {}
}

impl Fleet {
    /// The fleet of these targets: refused when there are none ([`Error::EmptyFleet`], with
    /// `from` saying where they were looked for) or when one is listed twice
    /// ([`Error::DuplicateTarget`]).
    pub fn new(targets: Vec<(DatabaseUrl, String)>, from: &str) -> Result<Fleet, Error> {
        if targets.is_empty() {
            return Err(Error::EmptyFleet {
                from: from.to_owned(),
            });
        }
        // By the name messages give it: two URLs that differ only in a password are one target.
        let mut seen: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
        for (url, origin) in &targets {
            if let Some(first) = seen.insert(url.redacted(), origin) {
                return Err(Error::DuplicateTarget {
                    target: url.redacted(),
                    first: first.to_owned(),
                    second: origin.clone(),
                });
            }
        }
        Ok(Fleet {
            targets: targets
                .into_iter()
                .enumerate()
                .map(|(index, (url, origin))| FleetTarget { index, url, origin })
                .collect(),
        })
    }

    /// The targets, in order.
    pub fn targets(&self) -> &[FleetTarget] {
        &self.targets
    }

    /// Refuses two targets that are one database under two names ([`Error::SameDatabase`]):
    /// asks each target what it is ([`DatabaseUrl::identity`]: an SQLite file's real path, a
    /// server's cluster, database and schema), `jobs` at a time. A target that cannot be asked
    /// (unreachable) is left out of the comparison: its run will fail on its own. Returns the
    /// targets that could not be asked, with why.
    pub fn check_distinct(&self, jobs: usize) -> Result<Vec<(usize, Error)>, Error> {
        let identities = look::each(&self.targets, jobs, |target| target.url.identity());
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut unknown = Vec::new();
        for (index, identity) in identities.into_iter().enumerate() {
            match identity {
                Ok(identity) => {
                    if let Some(first) = seen.insert(identity, index) {
                        let (a, b) = (&self.targets[first], &self.targets[index]);
                        return Err(Error::SameDatabase {
                            first: format!("{} ({})", a.name(), a.origin),
                            second: format!("{} ({})", b.name(), b.origin),
                        });
                    }
                }
                Err(error) => unknown.push((index, error)),
            }
        }
        Ok(unknown)
    }
}
