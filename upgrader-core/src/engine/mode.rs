//! How a run commits: upgrade by upgrade (the default), all or nothing in one transaction, or in
//! one transaction that is always rolled back (a rehearsal).

use std::fmt;

use crate::connection::Backend;
use crate::error::Error;
use crate::upgrade::Upgrade;

/// How a run commits what it applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunMode {
    /// Each upgrade commits with its history row; a failure leaves the upgrades before it applied.
    #[default]
    Normal,
    /// The whole run in one transaction (PostgreSQL, SQLite): every selected upgrade applied and
    /// recorded, or, when anything fails (an upgrade, a post-run check, the commit), none.
    Atomic,
    /// The whole run for real in one transaction (PostgreSQL, SQLite) — the pre-run checks, each
    /// upgrade and its history row, the post-run checks — then rolled back, whatever happened:
    /// what would have happened, with each upgrade's measured duration, and a database unchanged.
    Rehearse,
}

impl RunMode {
    /// Whether the run is one transaction.
    pub fn is_one_transaction(self) -> bool {
        matches!(self, RunMode::Atomic | RunMode::Rehearse)
    }

    /// Whether `backend` can run this way: one transaction needs DDL that rolls back with it
    /// ([`Backend::has_transactional_ddl`]); MySQL/MariaDB commit each DDL statement on their own
    /// ([`Error::NeedsTransactionalDdl`]). Needs no database, so a program can refuse before it
    /// connects.
    pub fn supported_by(self, backend: Backend) -> Result<(), Error> {
        if self.is_one_transaction() && !backend.has_transactional_ddl() {
            return Err(Error::NeedsTransactionalDdl { mode: self, backend });
        }
        Ok(())
    }

    /// Whether the selected upgrades can all run in one transaction. The one place that looks at
    /// the upgrades themselves: an upgrade that must run outside a transaction is refused here,
    /// naming it, before anything is checked or applied.
    pub(super) fn allows(self, upgrades: &[Upgrade]) -> Result<(), Error> {
        if !self.is_one_transaction() {
            return Ok(());
        }
        let outside: Vec<String> = upgrades
            .iter()
            .filter(|u| !u.transactional())
            .map(|u| u.id().to_owned())
            .collect();
        if outside.is_empty() {
            Ok(())
        } else {
            Err(Error::OutsideTransaction {
                mode: self,
                upgrades: outside,
            })
        }
    }
}

impl fmt::Display for RunMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunMode::Normal => "a run",
            RunMode::Atomic => "an all-or-nothing run",
            RunMode::Rehearse => "a rehearsal",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_transaction_is_refused_where_ddl_commits_on_its_own() {
        for mode in [RunMode::Atomic, RunMode::Rehearse] {
            let err = mode.supported_by(Backend::Mysql).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("MySQL/MariaDB commits each DDL statement"),
                "{text}"
            );
            // The core's words, not a command line's.
            assert!(!text.contains("--"), "{text}");
            assert!(mode.supported_by(Backend::Postgres).is_ok());
            assert!(mode.supported_by(Backend::Sqlite).is_ok());
        }
        assert!(RunMode::Normal.supported_by(Backend::Mysql).is_ok());
    }
}
