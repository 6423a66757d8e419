//! Readiness: is the database exactly where this binary expects it? One answer for pipelines and
//! readiness probes, with every finding behind it.

use chrono::NaiveDateTime;

use super::{Engine, Implied, Status};
use crate::error::Error;
use crate::history::InProgress;
use crate::upgrade::Upgrade;

/// The answer of [`Engine::readiness`], from the best to the worst. When several findings hold,
/// the state is the worst of them (the order of this enum); [`Readiness`] lists all of them.
///
/// Not `#[non_exhaustive]` on purpose: a new state must be given its own answer (an exit code)
/// wherever states are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadinessState {
    /// Every linked upgrade is applied, and the history has nothing this binary does not know.
    UpToDate,
    /// Upgrades are pending (a run would apply them), and nothing worse.
    Pending,
    /// The history has upgrades this binary does not link: the database was upgraded by a newer
    /// release (or by a binary with more modules).
    Ahead,
    /// An applied upgrade's code changed since it was applied (its checksum differs).
    Edited,
    /// An upgrade started and never finished (MySQL/MariaDB, which cannot roll DDL back): someone
    /// must look at the database and settle it before anything else runs.
    Interrupted,
}

impl ReadinessState {
    /// The state's name, as `--json` and messages spell it: `up_to_date`, `pending`, `ahead`,
    /// `edited`, `interrupted`.
    pub fn name(self) -> &'static str {
        match self {
            ReadinessState::UpToDate => "up_to_date",
            ReadinessState::Pending => "pending",
            ReadinessState::Ahead => "ahead",
            ReadinessState::Edited => "edited",
            ReadinessState::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for ReadinessState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadinessState::UpToDate => "up to date",
            other => other.name(),
        })
    }
}

/// Whether a deployment can roll back to this binary with the database as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollback {
    /// This binary knows every applied upgrade: it can work with the database (after applying
    /// what is pending, if anything).
    Safe,
    /// The database is ahead: this binary can work with it only if the upgrades it does not know
    /// are backward compatible. It cannot tell, as it does not have their code.
    OnlyIfBackwardCompatible,
}

impl Rollback {
    /// The answer's name, as `--json` spells it: `safe`, `only_if_backward_compatible`.
    pub fn name(self) -> &'static str {
        match self {
            Rollback::Safe => "safe",
            Rollback::OnlyIfBackwardCompatible => "only_if_backward_compatible",
        }
    }
}

/// A history row no linked upgrade has: the database is ahead of this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownUpgrade {
    /// Its id, as the history holds it.
    pub id: String,
    /// When it was applied (UTC); `None` when the history holds something that is not a time.
    pub applied: Option<NaiveDateTime>,
    /// How it was recorded (`run`, `populate`, …).
    pub method: String,
    /// The module (or, for a release, the repository) its id names; `None` when the id is not an
    /// upgrade id at all.
    pub module: Option<String>,
    /// Whether this binary links upgrades of that module: `true` means a newer release of a module
    /// this binary has, `false` a module this binary does not link at all.
    pub module_linked: bool,
}

/// An applied upgrade whose code changed since it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedUpgrade {
    /// Its id.
    pub id: String,
    /// The checksum recorded when it was applied.
    pub recorded: String,
    /// The checksum of the code linked now.
    pub current: String,
    /// When it was applied (UTC); `None` when the history holds something that is not a time.
    pub applied: Option<NaiveDateTime>,
}

impl EditedUpgrade {
    /// The edited upgrades of `status`, each with when it was applied.
    pub fn all_of(status: &Status) -> Vec<EditedUpgrade> {
        status
            .edited
            .iter()
            .map(|e| EditedUpgrade {
                applied: status
                    .applied
                    .iter()
                    .find(|r| r.upgrade == e.id)
                    .and_then(|r| r.applied),
                id: e.id.clone(),
                recorded: e.recorded.clone(),
                current: e.current.clone(),
            })
            .collect()
    }
}

impl std::fmt::Display for EditedUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let applied = self.applied.map_or_else(
            || "at a time the history does not say".to_owned(),
            |t| format!("{} UTC", t.format("%Y-%m-%d %H:%M:%S")),
        );
        write!(
            f,
            "`{}` (applied {applied}; checksum recorded {}, linked now {})",
            self.id, self.recorded, self.current
        )
    }
}

/// Is the database exactly where this binary expects it? See [`Engine::readiness`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Readiness {
    /// How many upgrades the history holds.
    pub applied: usize,
    /// Upgrades a run would apply, in run order (interrupted ones included: they are not applied).
    pub pending: Vec<Upgrade>,
    /// Upgrades that started and never finished, with no runner alive to finish them.
    pub interrupted: Vec<InProgress>,
    /// Upgrades another runner is applying right now (it holds the lock), with who it is. They
    /// are pending, not interrupted.
    pub running: Vec<(InProgress, String)>,
    /// History rows no linked upgrade has (the database is ahead), in the history's order.
    pub ahead: Vec<UnknownUpgrade>,
    /// Applied upgrades whose code changed since.
    pub edited: Vec<EditedUpgrade>,
    /// Upgrades missing from the history that count as applied through a recorded dependent:
    /// not a finding, said for completeness.
    pub implied: Vec<Implied>,
}

impl Readiness {
    /// The readiness of a database in this `status`, for a binary that links upgrades of `modules`.
    fn of(status: Status, modules: &std::collections::BTreeSet<&str>) -> Readiness {
        let ahead = status
            .ghosts
            .iter()
            .map(|g| {
                let module = crate::parse_id(&g.upgrade).ok().map(|p| p.module().to_owned());
                UnknownUpgrade {
                    id: g.upgrade.clone(),
                    applied: g.applied,
                    method: g.method.clone(),
                    module_linked: module.as_deref().is_some_and(|m| modules.contains(m)),
                    module,
                }
            })
            .collect();
        let edited = EditedUpgrade::all_of(&status);
        Readiness {
            applied: status.applied.len(),
            pending: status.pending,
            interrupted: status.interrupted,
            running: status.running,
            ahead,
            edited,
            implied: status.implied,
        }
    }

    /// Every state that holds, the worst first; `[UpToDate]` when none does.
    pub fn states(&self) -> Vec<ReadinessState> {
        let mut states: Vec<ReadinessState> = [
            (ReadinessState::Interrupted, !self.interrupted.is_empty()),
            (ReadinessState::Edited, !self.edited.is_empty()),
            (ReadinessState::Ahead, !self.ahead.is_empty()),
            (ReadinessState::Pending, !self.pending.is_empty()),
        ]
        .into_iter()
        .filter_map(|(state, holds)| holds.then_some(state))
        .collect();
        if states.is_empty() {
            states.push(ReadinessState::UpToDate);
        }
        states
    }

    /// The answer: the worst state that holds.
    pub fn state(&self) -> ReadinessState {
        self.states()
            .into_iter()
            .max()
            .unwrap_or(ReadinessState::UpToDate)
    }

    /// Whether a deployment can roll back to this binary: only with a database that is not
    /// ahead of it, or whose unknown upgrades are backward compatible (which it cannot tell).
    pub fn rollback(&self) -> Rollback {
        if self.ahead.is_empty() {
            Rollback::Safe
        } else {
            Rollback::OnlyIfBackwardCompatible
        }
    }
}

impl Engine {
    /// Is the database exactly where this binary expects it? Reads the history (and nothing
    /// else: no upgrade's code runs) and lists every finding: pending, interrupted, ahead (rows
    /// this binary does not know), edited (checksums that differ).
    ///
    /// "Cannot tell" is the error: a database that cannot be reached, or a history that cannot be
    /// read or is not one, is an [`Error`], never an answer.
    pub fn readiness(&mut self) -> Result<Readiness, Error> {
        let status = self.status()?;
        Ok(Readiness::of(status, &self.registry.modules()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(id: &str) -> UnknownUpgrade {
        UnknownUpgrade {
            id: id.to_owned(),
            applied: None,
            method: "run".to_owned(),
            module: None,
            module_linked: false,
        }
    }

    #[test]
    fn the_state_is_the_worst_finding_and_every_finding_is_listed() {
        let mut readiness = Readiness::default();
        assert_eq!(readiness.states(), [ReadinessState::UpToDate]);
        assert_eq!(readiness.rollback(), Rollback::Safe);
        readiness.ahead.push(unknown("a_2030_01_01_x"));
        assert_eq!(readiness.state(), ReadinessState::Ahead);
        assert_eq!(readiness.rollback(), Rollback::OnlyIfBackwardCompatible);
        readiness.edited.push(EditedUpgrade {
            id: "b_2024_01_01_y".to_owned(),
            recorded: "1".to_owned(),
            current: "2".to_owned(),
            applied: None,
        });
        assert_eq!(readiness.state(), ReadinessState::Edited);
        readiness.interrupted.push(InProgress {
            upgrade: "b_2024_02_01_z".to_owned(),
            started: NaiveDateTime::default(),
            runner: "pid 1 on h".to_owned(),
            error: None,
        });
        assert_eq!(
            readiness.states(),
            [
                ReadinessState::Interrupted,
                ReadinessState::Edited,
                ReadinessState::Ahead
            ]
        );
        assert_eq!(readiness.state(), ReadinessState::Interrupted);
        assert_eq!(ReadinessState::UpToDate.to_string(), "up to date");
        assert_eq!(ReadinessState::Interrupted.name(), "interrupted");
    }
}
