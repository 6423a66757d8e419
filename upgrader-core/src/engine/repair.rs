//! Repairing a history by hand: recording upgrades without running them (`populate`,
//! `mark_applied`), taking them back (`mark_pending`), settling an interrupted one (`resolve`).

use std::collections::{BTreeSet, HashSet};

use super::{Engine, RunOptions};
use crate::context::Interaction;
use crate::error::Error;
use crate::events::Traced;
use crate::history::{self, Method};
use crate::upgrade::Upgrade;

impl Engine {
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
                    return Err(Error::PendingDependencies {
                        id: id.clone(),
                        pending: missing.iter().map(|&a| a.to_owned()).collect(),
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
                    return Err(Error::RecordedDependents {
                        id: id.to_owned(),
                        dependents: dependents.iter().map(|&d| d.to_owned()).collect(),
                    });
                }
                for one in std::iter::once(id).chain(dependents) {
                    if (recorded.contains(one) || interrupted.contains(one))
                        && !changed.iter().any(|c| c == one)
                    {
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
                return Err(Error::NotInterrupted { id: id.to_owned() });
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
