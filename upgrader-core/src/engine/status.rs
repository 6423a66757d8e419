//! What a database holds against the linked upgrades: the history, what is pending, and what
//! is not as it should be (gaps, rows no linked upgrade has, edits, interruptions).

use std::collections::HashSet;

use super::{Edited, Engine, Implied, Status};
use crate::error::Error;
use crate::history::{self, AppliedRecord, InProgress};
use crate::lock;

impl Engine {
    /// The history: the rows whose time the engine cannot read first, then oldest first (ties
    /// by id), each with the journal's run that recorded it. An error when the history (or the
    /// journal) cannot be read; empty only when there is none yet.
    pub fn applied(&mut self) -> Result<Vec<AppliedRecord>, Error> {
        let applied = history::applied(&mut self.conn, &self.history);
        self.explained(applied)
    }

    /// The database's state against the linked upgrades. Reads only.
    pub fn status(&mut self) -> Result<Status, Error> {
        let read = history::read(&mut self.conn, &self.history);
        let history::History {
            applied,
            in_progress: mut interrupted,
            checkpoints,
        } = self.explained(read)?;
        let mut running = Vec::new();
        // A start mark is an interruption only when no runner is alive to finish it.
        if !interrupted.is_empty()
            && !self.locked
            && let Some(holder) = lock::held_by_other(&self.url, self.history.name(), &mut self.conn)
        {
            running = interrupted.drain(..).map(|i| (i, holder.clone())).collect();
        }
        // A batched upgrade with a checkpoint is not interrupted: the next run resumes it.
        let checkpoints: Vec<_> = match checkpoints.is_empty() {
            true => checkpoints,
            false => {
                let recorded: HashSet<&str> = applied.iter().map(|r| r.upgrade.as_str()).collect();
                checkpoints
                    .into_iter()
                    .filter(|c| !recorded.contains(c.upgrade.as_str()))
                    .collect()
            }
        };
        interrupted.retain(|i| !checkpoints.iter().any(|c| c.upgrade == i.upgrade));
        let mut status = self.status_of(applied, interrupted);
        status.running = running;
        status.checkpoints = checkpoints;
        Ok(status)
    }

    fn status_of(&self, applied: Vec<AppliedRecord>, interrupted: Vec<InProgress>) -> Status {
        let order = self.plan.upgrades();
        // Each row against the linked upgrades: its place in the run order (else an inactive
        // module's upgrade, else none: a ghost), and whether its code changed since.
        let mut recorded = vec![false; order.len()];
        let mut ghosts = Vec::new();
        let mut edited = Vec::new();
        for r in &applied {
            let upgrade = match self.plan.position(&r.upgrade) {
                Some(i) => {
                    recorded[i] = true;
                    Some(&order[i])
                }
                None => self.registry.get(&r.upgrade),
            };
            let Some(upgrade) = upgrade else {
                ghosts.push(r.clone());
                continue;
            };
            if let (Some(current), Some(was)) = (upgrade.checksum, r.checksum.as_deref())
                && was != current
            {
                edited.push(Edited {
                    id: r.upgrade.clone(),
                    recorded: was.to_owned(),
                    current: current.to_owned(),
                });
            }
        }
        // One pass against the run order, backwards: every dependency of a recorded (or
        // implied) upgrade is implied by the latest recorded upgrade that reaches it.
        let mut implied_by: Vec<Option<usize>> = vec![None; order.len()];
        for (i, upgrade) in order.iter().enumerate().rev() {
            let Some(by) = (if recorded[i] { Some(i) } else { implied_by[i] }) else {
                continue;
            };
            for &dep in upgrade.depends_on {
                if let Some(d) = self.plan.position(dep) {
                    implied_by[d].get_or_insert(by);
                }
            }
        }
        // Sized exactly: an `Upgrade` is large, and a list grown by doubling holds up to twice
        // what it needs (at 10,000 pending, 3 MB for 2).
        let unrecorded = recorded.iter().filter(|r| !**r).count();
        let implied_count = (0..order.len())
            .filter(|&i| !recorded[i] && implied_by[i].is_some())
            .count();
        let mut implied = Vec::with_capacity(implied_count);
        let mut pending = Vec::with_capacity(unrecorded - implied_count);
        for (i, upgrade) in order.iter().enumerate() {
            match (recorded[i], implied_by[i]) {
                (true, _) => {}
                (false, Some(by)) => implied.push(Implied {
                    id: upgrade.id.to_owned(),
                    by: order[by].id.to_owned(),
                }),
                (false, None) => pending.push(*upgrade),
            }
        }
        Status {
            applied,
            pending,
            implied,
            ghosts,
            edited,
            interrupted,
            running: Vec::new(),
            checkpoints: Vec::new(),
        }
    }
}
