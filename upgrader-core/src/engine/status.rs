//! What a database holds against the linked upgrades: the history, what is pending, and what
//! is not as it should be (gaps, rows no linked upgrade has, edits, interruptions).

use std::collections::{HashMap, HashSet};

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
        let recorded: HashSet<&str> = applied.iter().map(|r| r.upgrade.as_str()).collect();
        let checkpoints: Vec<_> = checkpoints
            .into_iter()
            .filter(|c| !recorded.contains(c.upgrade.as_str()))
            .collect();
        interrupted.retain(|i| !checkpoints.iter().any(|c| c.upgrade == i.upgrade));
        let mut status = self.status_of(applied, interrupted);
        status.running = running;
        status.checkpoints = checkpoints;
        Ok(status)
    }

    fn status_of(&self, applied: Vec<AppliedRecord>, interrupted: Vec<InProgress>) -> Status {
        let recorded: HashSet<&str> = applied.iter().map(|r| r.upgrade.as_str()).collect();
        // One pass against the run order: every dependency of a recorded (or implied) upgrade is
        // implied by the latest recorded upgrade that reaches it.
        let mut implied_by: HashMap<&str, &'static str> = HashMap::new();
        for upgrade in self.plan.upgrades().iter().rev() {
            let by = match recorded.get(upgrade.id) {
                Some(_) => Some(upgrade.id),
                None => implied_by.get(upgrade.id).copied(),
            };
            if let Some(by) = by {
                for &dep in upgrade.depends_on {
                    implied_by.entry(dep).or_insert(by);
                }
            }
        }
        let implied_ids: HashSet<&str> = implied_by
            .keys()
            .copied()
            .filter(|id| !recorded.contains(id))
            .collect();
        let implied = self
            .plan
            .upgrades()
            .iter()
            .filter(|u| implied_ids.contains(u.id))
            .map(|u| Implied {
                id: u.id.to_owned(),
                by: implied_by[u.id].to_owned(),
            })
            .collect();
        let pending = self
            .plan
            .upgrades()
            .iter()
            .filter(|u| !recorded.contains(u.id) && !implied_ids.contains(u.id))
            .copied()
            .collect();
        let ghosts = applied
            .iter()
            .filter(|r| self.registry.get(&r.upgrade).is_none())
            .cloned()
            .collect();
        let edited = applied
            .iter()
            .filter_map(|r| {
                let current = self.registry.get(&r.upgrade)?.checksum?;
                let recorded = r.checksum.as_deref()?;
                (recorded != current).then(|| Edited {
                    id: r.upgrade.clone(),
                    recorded: recorded.to_owned(),
                    current: current.to_owned(),
                })
            })
            .collect();
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
