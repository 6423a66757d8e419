//! Accepting an edit: an applied upgrade whose code changed since (another checksum) is declared
//! harmless by the operator, with a reason the journal keeps.

use super::{Edited, Engine, RunOptions};
use crate::context::Interaction;
use crate::error::Error;
use crate::history::{self, Action, RunKind};

impl Engine {
    /// Records the checksum of the code linked now for `id`, an applied upgrade whose code changed
    /// since it was applied ([`crate::Status::edited`]), and records in the journal that it was
    /// accepted, why (`reason`), by whom and when. Refused, changing nothing, for an empty
    /// reason, an unknown id, an upgrade the history does not record as applied, and one that is
    /// not edited. Holds the run lock. Returns the checksums: the one recorded before, the one
    /// recorded now.
    pub fn accept(
        &mut self,
        id: &str,
        reason: &str,
        ui: &mut dyn Interaction,
        options: &RunOptions,
    ) -> Result<Edited, Error> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::EmptyReason);
        }
        self.by_hand(ui, options, |engine, status| {
            let edited = engine.edited_one(&status, id)?;
            engine.set_up_history(RunKind::Accept, Some(reason))?;
            let detail = format!("checksum {} -> {}", edited.recorded, edited.current);
            engine.in_transaction(|engine| {
                history::set_checksum(&mut engine.conn, &engine.history, id, &edited.current)?;
                engine.note_run(id, Action::Accepted, Some(&detail))
            })?;
            Ok(edited)
        })
    }

    /// `id`'s edit, or why there is none to accept.
    fn edited_one(&self, status: &super::Status, id: &str) -> Result<Edited, Error> {
        let Some(upgrade) = self.registry.get(id) else {
            return Err(Error::UnknownUpgrade { id: id.to_owned() });
        };
        let Some(record) = status.applied.iter().find(|r| r.upgrade == id) else {
            return Err(Error::NotApplied { id: id.to_owned() });
        };
        if let Some(edited) = status.edited.iter().find(|e| e.id == id) {
            return Ok(edited.clone());
        }
        let why = match (record.checksum.as_deref(), upgrade.checksum) {
            (None, _) => {
                "the history holds no checksum for it (it was recorded without one), so no edit can be seen"
            }
            (_, None) => "it has no checksum (registered by hand), so no edit can be seen",
            (Some(_), Some(_)) => "its code has the checksum recorded when it was applied",
        };
        Err(Error::NotEdited {
            id: id.to_owned(),
            why: why.to_owned(),
        })
    }
}
