//! Looking at a fleet: each target's readiness, read `jobs` at a time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Fleet, FleetTarget};
use crate::engine::{Engine, Readiness};
use crate::error::Error;
use crate::url::DatabaseUrl;

/// One target's readiness, or why it cannot be told (unreachable, an unreadable history).
#[derive(Debug)]
pub struct Looked {
    /// The target.
    pub target: FleetTarget,
    /// What it is, or why that cannot be told ("unknown" is never "up to date").
    pub readiness: Result<Readiness, Error>,
}

impl Fleet {
    /// Each target's readiness ([`Engine::readiness`]), opened with `open` (for looking: see
    /// [`Engine::inspect`]), `jobs` at a time; in the fleet's order.
    pub fn look(
        &self,
        open: &(dyn Fn(&DatabaseUrl) -> Result<Engine, Error> + Sync),
        jobs: usize,
    ) -> Vec<Looked> {
        let readiness = each(&self.targets, jobs, |target| open(&target.url)?.readiness());
        self.targets
            .iter()
            .cloned()
            .zip(readiness)
            .map(|(target, readiness)| Looked { target, readiness })
            .collect()
    }
}

/// `f` of each target, `jobs` threads at a time, in the targets' order.
pub(super) fn each<T: Send>(
    targets: &[FleetTarget],
    jobs: usize,
    f: impl Fn(&FleetTarget) -> T + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new(targets.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, targets.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(target) = targets.get(i) else { break };
                    let value = f(target);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(value);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|value| value.expect("every target was looked at"))
        .collect()
}
