//! Repairing a history by hand: recording upgrades without running them (`populate`,
//! `mark_applied`), taking them back (`mark_pending`), settling an interrupted one (`resolve`).
//!
//! Each is a decision on the database's state, read holding the run lock: the history rows to
//! write (or a refusal, which changes nothing). [`Engine::repair`] does the rest the same way for
//! all of them.

use std::collections::{BTreeSet, HashSet};

use super::{Engine, RunOptions, Status};
use crate::context::Interaction;
use crate::error::Error;
use crate::history::{self, Action, Method, Record, RunKind, checkpoint};
use crate::upgrade::Upgrade;

/// What a repair writes to the history, in one transaction.
struct Edits<'a> {
    /// Upgrades to record as applied, without running them.
    record: Vec<Record<'a>>,
    /// How they came to be recorded.
    method: Method,
    /// Upgrades to remove from the history.
    forget: Vec<String>,
    /// Upgrades whose start mark to clear.
    clear: Vec<String>,
    /// Batched upgrades whose checkpoint (and start mark) to clear.
    checkpoints: Vec<String>,
}

impl<'a> Edits<'a> {
    fn new(method: Method) -> Edits<'a> {
        Edits {
            record: Vec::new(),
            method,
            forget: Vec::new(),
            clear: Vec::new(),
            checkpoints: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.record.is_empty()
            && self.forget.is_empty()
            && self.clear.is_empty()
            && self.checkpoints.is_empty()
    }

    /// The journal's name for the command that makes these edits.
    fn kind(&self) -> RunKind {
        match self.method {
            Method::Populate => RunKind::Populate,
            Method::Resolve => RunKind::Resolve,
            _ => RunKind::Mark,
        }
    }
}

impl Engine {
    /// Records every active upgrade as applied without running it: for a database just created
    /// at the latest schema. Returns the ids recorded (those not already in the history).
    pub fn populate(&mut self, ui: &mut dyn Interaction, options: &RunOptions) -> Result<Vec<String>, Error> {
        self.repair(ui, options, |engine, status| {
            // An interrupted upgrade's changes are unknown: the operator settles it first.
            if let Some(refusal) = status.refusal() {
                return Err(refusal);
            }
            let recorded: BTreeSet<&str> = status.applied.iter().map(|r| r.upgrade.as_str()).collect();
            let mut edits = Edits::new(Method::Populate);
            let missing = engine.plan.upgrades().iter().filter(|u| !recorded.contains(u.id));
            edits.record = missing.map(unrun).collect();
            // A batched upgrade part-way is recorded as the others: its checkpoint goes.
            edits.checkpoints = status.checkpoints.iter().map(|c| c.upgrade.clone()).collect();
            let ids = edits.record.iter().map(|r| r.id.to_owned()).collect();
            Ok((edits, ids))
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
        self.repair(ui, options, |engine, status| {
            let pending: HashSet<&str> = status.pending.iter().map(|u| u.id).collect();
            let mut edits = Edits::new(Method::Mark);
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
                    return Err(Error::PendingDependencies {
                        id: id.clone(),
                        pending: missing.iter().map(|&a| a.to_owned()).collect(),
                    });
                }
                edits.record.push(unrun(&upgrade));
                // An interrupted upgrade marked applied is settled, as `resolve` settles it.
                if status.interrupted.iter().any(|i| i.upgrade == upgrade.id) {
                    edits.clear.push(upgrade.id.to_owned());
                }
                if status.checkpoint(upgrade.id).is_some() {
                    edits.checkpoints.push(upgrade.id.to_owned());
                }
            }
            let ids = edits.record.iter().map(|r| r.id.to_owned()).collect();
            Ok((edits, ids))
        })
    }

    /// Makes upgrades pending again: removes them from the history (and clears the start mark of
    /// an interrupted one, and the checkpoint of a batched one part-way), so the next `run` applies them. An upgrade that a recorded upgrade
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
        self.repair(ui, options, |engine, status| {
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
                    return Err(Error::RecordedDependents {
                        id: id.to_owned(),
                        dependents: dependents.iter().map(|&d| d.to_owned()).collect(),
                    });
                }
                for one in std::iter::once(id).chain(dependents) {
                    if (recorded.contains(one)
                        || interrupted.contains(one)
                        || status.checkpoint(one).is_some())
                        && !changed.iter().any(|c| c == one)
                    {
                        changed.push(one.to_owned());
                    }
                }
            }
            let mut edits = Edits::new(Method::Mark);
            let of = |set: &HashSet<&str>| {
                changed
                    .iter()
                    .filter(|id| set.contains(id.as_str()))
                    .cloned()
                    .collect()
            };
            edits.forget = of(&recorded);
            edits.clear = of(&interrupted);
            // A batched upgrade part-way starts again from its first batch.
            edits.checkpoints = changed
                .iter()
                .filter(|id| status.checkpoint(id).is_some())
                .cloned()
                .collect();
            Ok((edits, changed))
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
        self.repair(ui, options, |engine, status| {
            if !status.interrupted.iter().any(|i| i.upgrade == id) {
                return Err(Error::NotInterrupted { id: id.to_owned() });
            }
            let mut edits = Edits::new(Method::Resolve);
            if !retry {
                edits.record.push(Record {
                    id,
                    duration_ms: None,
                    checksum: engine.registry.get(id).and_then(|u| u.checksum),
                });
            }
            edits.clear.push(id.to_owned());
            Ok((edits, ()))
        })
    }

    /// A repair: reads the history (refusing one that cannot be read before taking anything),
    /// takes the run lock, reads the state again holding it, lets `decide` say what to write (or
    /// refuse), and writes it in one transaction, setting the history's tables up (adopting a
    /// seed table) only when there is something to write.
    fn repair<'a, T>(
        &mut self,
        ui: &mut dyn Interaction,
        options: &RunOptions,
        decide: impl FnOnce(&Engine, &Status) -> Result<(Edits<'a>, T), Error>,
    ) -> Result<T, Error> {
        self.by_hand(ui, options, |engine, status| {
            let (edits, value) = decide(engine, &status)?;
            if edits.is_empty() {
                return Ok(value);
            }
            engine.set_up_history(edits.kind(), None)?;
            engine.in_transaction(|engine| {
                let (conn, history) = (&mut engine.conn, &engine.history);
                history::record_all(conn, history, &edits.record, edits.method)?;
                for record in &edits.record {
                    engine.note_run(record.id, Action::Recorded, None)?;
                }
                for id in &edits.forget {
                    history::forget(&mut engine.conn, &engine.history, id)?;
                    engine.note_run(id, Action::Forgotten, None)?;
                }
                for id in &edits.clear {
                    history::clear_started(&mut engine.conn, &engine.history, id)?;
                    engine.note_run(id, Action::Cleared, None)?;
                }
                // A batched upgrade's checkpoint (and its start mark) go with it.
                for id in &edits.checkpoints {
                    history::clear_started(&mut engine.conn, &engine.history, id)?;
                    checkpoint::clear(&mut engine.conn, &engine.history, id)?;
                    engine.note_run(id, Action::Cleared, Some("checkpoint"))?;
                }
                Ok(())
            })?;
            Ok(value)
        })
    }

    fn known(&self, id: &str) -> Result<&Upgrade, Error> {
        self.plan
            .get(id)
            .ok_or_else(|| Error::UnknownUpgrade { id: id.to_owned() })
    }
}

/// An upgrade recorded without running it.
fn unrun(upgrade: &Upgrade) -> Record<'static> {
    Record {
        id: upgrade.id,
        duration_ms: None,
        checksum: upgrade.checksum,
    }
}
