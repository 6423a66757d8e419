//! `run --json`: the run as NDJSON on stdout, one object per event, each with `event` and `ts`
//! (RFC 3339, UTC, milliseconds). The field names are an interface: the README's table lists
//! them, and a field is never renamed or removed.
//!
//! `progress` is throttled: at most one per upgrade every [`PROGRESS_EVERY`], and always the
//! first, the last before the upgrade finishes, and one that reaches the total.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upgrader_core::{Backend, Phase, PlannedUpgrade};

use super::{RunEnd, Sink};
use crate::output::{StdoutFailed, json_line};

/// The shortest interval between two `progress` events of one upgrade.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// The NDJSON stream on stdout.
#[derive(Debug)]
pub(crate) struct JsonEvents {
    started: Instant,
    /// Per upgrade: when its last `progress` was written, and a value held back since.
    progress: HashMap<String, (Instant, Option<(u64, u64)>)>,
    /// The running upgrade: its position and total.
    position: (usize, usize),
    /// How long the failed upgrade ran, for the `failed` event.
    failed_after: Option<Duration>,
    /// The database and its backend, for the `plan` event.
    target: (String, String),
    /// The first write that failed (stdout closed or full): nothing more is written.
    error: Option<StdoutFailed>,
    /// In a fleet: the target every event is tagged with (`"target"`).
    tag: Option<String>,
}

impl Default for JsonEvents {
    fn default() -> Self {
        JsonEvents {
            started: Instant::now(),
            progress: HashMap::new(),
            position: (0, 0),
            failed_after: None,
            target: (String::new(), String::new()),
            error: None,
            tag: None,
        }
    }
}

/// Milliseconds, as every `*_ms` field gives them.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Now, as every `ts` field gives it: `2026-01-31T09:14:03.250Z`.
pub(crate) fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl JsonEvents {
    /// The stream of one target of a fleet: every event tagged with `"target": name`.
    pub(crate) fn for_target(name: String) -> JsonEvents {
        JsonEvents {
            tag: Some(name),
            ..JsonEvents::default()
        }
    }

    /// Writes one event: `fields` with `event` and `ts` added (and `target`, in a fleet).
    fn emit(&mut self, event: &str, mut fields: Value) {
        if self.error.is_some() {
            return;
        }
        if let Some(map) = fields.as_object_mut() {
            map.insert("event".into(), event.into());
            map.insert("ts".into(), timestamp().into());
            if let Some(tag) = &self.tag {
                map.insert("target".into(), tag.clone().into());
            }
        }
        if let Err(e) = json_line(&fields) {
            self.error = Some(e);
        }
    }

    fn write_progress(&mut self, upgrade: &str, done: u64, total: u64) {
        self.emit(
            "progress",
            json!({"upgrade": upgrade, "done": done, "total": total}),
        );
    }

    /// The first write that failed, if any.
    pub(crate) fn into_error(self) -> Option<StdoutFailed> {
        self.error
    }
}

impl Sink for JsonEvents {
    fn plan(&mut self, plan: &[PlannedUpgrade]) {
        let upgrades: Vec<Value> = plan
            .iter()
            .map(|p| json!({"upgrade": p.id, "estimate_ms": p.estimate.map(ms)}))
            .collect();
        let estimate: Duration = plan.iter().filter_map(|p| p.estimate).sum();
        let (database, backend) = &self.target;
        self.emit(
            "plan",
            json!({
                "database": database,
                "backend": backend,
                "upgrades": upgrades,
                "count": plan.len(),
                "estimate_ms": ms(estimate),
            }),
        );
    }

    fn target(&mut self, database: &str, backend: Backend) {
        let backend = match backend {
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
            _ => "sqlite",
        };
        self.target = (database.to_owned(), backend.to_owned());
    }

    fn check(&mut self, phase: Phase, check: &str, error: Option<&str>) {
        let phase = match phase {
            Phase::PostRun => "post_run",
            _ => "pre_run",
        };
        self.emit(
            "check",
            json!({"phase": phase, "check": check, "ok": error.is_none(), "error": error}),
        );
    }

    fn started(&mut self, upgrade: &str, index: usize, total: usize) {
        self.position = (index + 1, total);
        self.emit(
            "started",
            json!({"upgrade": upgrade, "index": index + 1, "total": total}),
        );
    }

    fn progress(&mut self, upgrade: &str, done: u64, total: u64) {
        let now = Instant::now();
        let due = match self.progress.get_mut(upgrade) {
            // The first, and one that reaches the total, always go out.
            None => true,
            Some(_) if done >= total => true,
            Some((last, held)) => {
                if now.duration_since(*last) >= PROGRESS_EVERY {
                    true
                } else {
                    *held = Some((done, total));
                    false
                }
            }
        };
        if due {
            self.progress.insert(upgrade.to_owned(), (now, None));
            self.write_progress(upgrade, done, total);
        }
    }

    fn log(&mut self, upgrade: &str, message: &str) {
        self.emit("log", json!({"upgrade": upgrade, "message": message}));
    }

    fn warning(&mut self, upgrade: &str, message: &str) {
        self.emit("warning", json!({"upgrade": upgrade, "message": message}));
    }

    fn finished(&mut self, upgrade: &str, ok: bool, elapsed: Duration) {
        // The last progress held back goes out before the upgrade's end.
        if let Some((_, Some((done, total)))) = self.progress.remove(upgrade) {
            self.write_progress(upgrade, done, total);
        }
        if !ok {
            self.failed_after = Some(elapsed);
            return;
        }
        let (index, total) = self.position;
        self.emit(
            "finished",
            json!({"upgrade": upgrade, "index": index, "total": total, "duration_ms": ms(elapsed)}),
        );
    }

    fn waiting(&mut self, holder: Option<&str>) {
        self.emit("waiting", json!({"holder": holder}));
    }

    fn answered(&mut self, question: &str, answer: &str) {
        self.emit("question", json!({"question": question, "answer": answer}));
    }

    fn end(&mut self, end: &RunEnd<'_>) {
        let applied = end.applied.len();
        let warnings = end.warnings.len();
        let duration_ms = ms(self.started.elapsed());
        let stopped = end.stopped.map(|stop| {
            json!({
                "remaining": stop.remaining.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
                "expected_ms": ms(upgrader_core::Estimate::total(&stop.remaining)),
            })
        });
        match &end.error {
            None => self.emit(
                "done",
                json!({"applied": applied, "warnings": warnings, "duration_ms": duration_ms, "stopped": stopped}),
            ),
            Some(error) => {
                let (upgrade, rolled_back) = match end.failed_upgrade {
                    Some((upgrade, rolled_back)) => (Some(upgrade), Some(rolled_back)),
                    None => (None, None),
                };
                self.emit(
                    "failed",
                    json!({
                        "error": error,
                        "upgrade": upgrade,
                        "rolled_back": rolled_back,
                        "upgrade_duration_ms": upgrade.and(self.failed_after).map(ms),
                        "applied": applied,
                        "warnings": warnings,
                        "duration_ms": duration_ms,
                    }),
                );
            }
        }
    }
}
