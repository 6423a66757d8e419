//! The name of the history table, chosen by the operator (default `upgrade`).

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The table that holds a database's history, `upgrade` unless the operator chose another name
/// (to leave a table of that name alone, or to keep several histories in one database). The
/// upgrades that started and have not finished live in `<name>_in_progress`.
///
/// A name is lowercase ASCII letters, digits and `_`, does not start with a digit, and is at most
/// [`HistoryTable::MAX_LEN`] characters long, so that it needs no quoting rules of its own on any
/// backend, means the same table whether a backend folds case or not, and leaves room for the
/// `_in_progress` suffix within every backend's identifier limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct HistoryTable(String);

impl HistoryTable {
    /// The longest name accepted.
    pub const MAX_LEN: usize = 48;

    /// The default name, the seed system's: `upgrade`.
    pub const DEFAULT: &'static str = "upgrade";

    /// Checks a name.
    pub fn new(name: &str) -> Result<HistoryTable, Error> {
        let invalid = |reason: &str| {
            Err(Error::InvalidHistoryTable {
                name: name.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if name.is_empty() {
            return invalid("the name is empty");
        }
        if name.len() > Self::MAX_LEN {
            return invalid(&format!(
                "it is {} characters long, at most {} are allowed",
                name.chars().count(),
                Self::MAX_LEN
            ));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            return invalid(&format!(
                "`{}` is not a lowercase ASCII letter, a digit or `_`",
                c.escape_debug()
            ));
        }
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return invalid("it starts with a digit");
        }
        if name.starts_with("sqlite_") {
            return invalid("SQLite reserves names starting with `sqlite_`");
        }
        if name.starts_with("__diesel") {
            return invalid("names starting with `__diesel` belong to the migrations' own table");
        }
        Ok(HistoryTable(name.to_owned()))
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The table of the upgrades that started and have not finished: `<name>_in_progress`.
    pub fn in_progress(&self) -> String {
        format!("{}_in_progress", self.0)
    }

    /// The table of the checkpoints of batched upgrades that have not finished:
    /// `<name>_checkpoint`.
    pub fn checkpoint(&self) -> String {
        format!("{}_checkpoint", self.0)
    }

    /// The run journal: one row per command that changed the history, `<name>_run`.
    pub fn runs(&self) -> String {
        format!("{}_run", self.0)
    }

    /// What each run of the journal did to each upgrade: `<name>_run_upgrade`.
    pub fn run_upgrades(&self) -> String {
        format!("{}_run_upgrade", self.0)
    }
}

impl Default for HistoryTable {
    fn default() -> Self {
        HistoryTable(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for HistoryTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for HistoryTable {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        HistoryTable::new(name)
    }
}

impl TryFrom<String> for HistoryTable {
    type Error = Error;

    fn try_from(name: String) -> Result<Self, Error> {
        HistoryTable::new(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::HistoryTable;

    #[test]
    fn accepts_identifiers() {
        for name in ["upgrade", "tenant_42_history", "_private", &"a".repeat(48)] {
            assert_eq!(HistoryTable::new(name).unwrap().name(), name);
        }
        assert_eq!(HistoryTable::default().in_progress(), "upgrade_in_progress");
        assert_eq!(HistoryTable::default().runs(), "upgrade_run");
        assert_eq!(HistoryTable::default().run_upgrades(), "upgrade_run_upgrade");
    }

    #[test]
    fn refuses_what_is_not_a_plain_lowercase_identifier() {
        for (name, reason) in [
            ("", "the name is empty"),
            ("1st", "it starts with a digit"),
            ("History", "`H` is not a lowercase ASCII letter, a digit or `_`"),
            ("up-grade", "`-` is not a lowercase ASCII letter"),
            ("up grade", "` ` is not a lowercase ASCII letter"),
            (
                "upgrade\"; DROP TABLE x; --",
                "`\\\"` is not a lowercase ASCII letter",
            ),
            ("histoire_é", "`é` is not a lowercase ASCII letter"),
            ("sqlite_history", "SQLite reserves names"),
            ("__diesel_schema_migrations", "the migrations' own table"),
        ] {
            let err = HistoryTable::new(name).unwrap_err().to_string();
            assert!(err.contains(reason), "{name:?}: {err}");
        }
        let err = HistoryTable::new(&"a".repeat(49)).unwrap_err().to_string();
        assert!(
            err.contains("it is 49 characters long, at most 48 are allowed"),
            "{err}"
        );
    }
}
