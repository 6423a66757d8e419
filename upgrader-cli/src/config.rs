//! `upgrader.toml`: the command line's settings in a file (the engine knows nothing of it).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use upgrader_core::{HistoryTable, Timeouts};

/// The configuration file cannot be used: it cannot be read, or what it says is invalid.
#[derive(Debug)]
pub(crate) enum ConfigError {
    /// The file exists and cannot be read.
    Unreadable { path: String, source: std::io::Error },
    /// What it says is not a valid configuration.
    Invalid { path: String, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { path, .. } => write!(f, "cannot read {path}"),
            ConfigError::Invalid { path, reason } => write!(f, "invalid configuration {path}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Unreadable { source, .. } => Some(source),
            ConfigError::Invalid { .. } => None,
        }
    }
}

impl ConfigError {
    /// What to do about it.
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            ConfigError::Unreadable { .. } => "check the path and its permissions",
            ConfigError::Invalid { .. } => "see the README's configuration section",
        }
    }
}

/// The optional configuration file, `upgrader.toml` in the working directory.
///
/// ```toml
/// database_url = "postgres://app@db.internal/app"
/// packages = ["accounts", "records"]   # only these modules take part
/// lock_timeout_secs = 600
/// connect_timeout_secs = 10
/// wait_timeout_secs = 60        # how long a statement waits for another session's lock
/// statement_timeout_secs = 0    # how long a statement may run; 0: no limit
/// history_table = "upgrade"            # the table that holds the history
/// timings = "staging-timings.json"     # durations measured elsewhere, relative to this file
/// max_duration = "30m"                 # `run`'s window
/// log_file = "logs/upgrader.log"       # or false: no log
/// upgrade_lock_timeout = "5s"   # how long an upgrade waits for a lock, unless it says
///
/// [fleet]                              # `--fleet`: many databases (see the README)
/// targets = ["postgres://app@db1/tenant_a", "tenants/b.db"]
/// targets_file = "tenants.txt"         # one URL per line, relative to this file
/// targets_query = "SELECT url FROM tenants WHERE active"   # on database_url
/// schemas = "tenant_*"                 # schemas of database_url (PostgreSQL)
/// jobs = 8
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The database, when neither `--database-url` nor `UPGRADER_DATABASE_URL` is given.
    pub(crate) database_url: Option<String>,
    /// The active packages (modules); all when absent.
    pub(crate) packages: Option<Vec<String>>,
    /// How long `run` waits for another runner's lock, in seconds.
    pub(crate) lock_timeout_secs: Option<u64>,
    /// How long connecting to a server may take, in seconds (at least 1).
    pub(crate) connect_timeout_secs: Option<u64>,
    /// How long one statement waits for a lock another session holds, in seconds (1 or more).
    pub(crate) wait_timeout_secs: Option<u64>,
    /// How long one statement may run, in seconds; 0 for no limit.
    pub(crate) statement_timeout_secs: Option<u64>,
    /// The table that holds the history (default `upgrade`), checked when the file is read.
    pub(crate) history_table: Option<HistoryTable>,
    /// The timings file, relative to the configuration file's directory.
    pub(crate) timings: Option<PathBuf>,
    /// `run`'s window, as `--max-duration` takes it (checked when the file is read).
    pub(crate) max_duration: Option<String>,
    /// The log file of the commands that change the database: a path, or `false` for none.
    pub(crate) log_file: Option<LogFileSetting>,
    /// How long an upgrade's statements wait for a lock, for upgrades that set no `lock_timeout`
    /// of their own (`"5s"`); checked when the file is read.
    pub(crate) upgrade_lock_timeout: Option<String>,
    /// Where a fleet's targets come from, and how many run at once (`--fleet`).
    #[serde(default)]
    pub(crate) fleet: FleetConfig,
}

/// `[fleet]` in the configuration: the sources of the fleet's targets (all of those given, in
/// this order), used when no source is given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FleetConfig {
    /// Database URLs; a relative SQLite path is relative to the configuration file.
    pub(crate) targets: Option<Vec<String>>,
    /// A file of URLs, one per line, relative to the configuration file.
    pub(crate) targets_file: Option<PathBuf>,
    /// A query on the database (`database_url`) returning a column `url` or `schema`.
    pub(crate) targets_query: Option<String>,
    /// A pattern of schemas of the database (`database_url`, PostgreSQL): `tenant_*`.
    pub(crate) schemas: Option<String>,
    /// How many targets at a time (at least 1).
    pub(crate) jobs: Option<u16>,
}

/// `log_file` in the configuration: a path (relative to the working directory; `""` keeps no
/// log), or `false` to keep none (`true` is the default file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum LogFileSetting {
    /// `log_file = "logs/upgrader.log"`.
    Path(std::path::PathBuf),
    /// `log_file = false`.
    Enabled(bool),
}

impl Config {
    /// Reads the file; `None` when it does not exist.
    pub(crate) fn load(path: &Path) -> Result<Option<Config>, ConfigError> {
        let unreadable = |source| ConfigError::Unreadable {
            path: path.display().to_string(),
            source,
        };
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(unreadable(source)),
            // A FIFO or a device would be read for ever, or as nonsense.
            Ok(meta) if !meta.is_file() && !meta.is_dir() => {
                return Err(ConfigError::Invalid {
                    path: path.display().to_string(),
                    reason: "it is not a regular file".into(),
                });
            }
            Ok(_) => {}
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: match e.span() {
                Some(span) => format!("{}:{}", path.display(), line_and_column(&text, span.start)),
                None => path.display().to_string(),
            },
            reason: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
        })?;
        if config.connect_timeout_secs == Some(0) {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                reason: "`connect_timeout_secs` must be at least 1 (0 would give up before any server could answer)"
                    .into(),
            });
        }
        if config.packages.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                reason: "`packages` is empty, so no module would take part (leave the key out to activate every module)"
                    .into(),
            });
        }
        let invalid = |key: &'static str| {
            move |reason: String| ConfigError::Invalid {
                path: path.display().to_string(),
                reason: format!("`{key}`: {reason}"),
            }
        };
        if config.fleet.jobs == Some(0) {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                reason: "`fleet.jobs` must be at least 1".into(),
            });
        }
        if config.fleet.targets.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                reason: "`fleet.targets` is empty, so the fleet would have no target (leave the key out, or list the databases)"
                    .into(),
            });
        }
        check_secs(config.wait_timeout_secs, None).map_err(invalid("wait_timeout_secs"))?;
        check_secs(None, config.statement_timeout_secs).map_err(invalid("statement_timeout_secs"))?;
        if let Some(window) = &config.max_duration {
            crate::cli::parse_window(window).map_err(invalid("max_duration"))?;
        }
        config
            .upgrade_lock_timeout()
            .map_err(invalid("upgrade_lock_timeout"))?;
        Ok(Some(config))
    }

    /// `upgrade_lock_timeout`, read as the attribute's `lock_timeout` is: more than zero, at
    /// most [`Timeouts::MAX_SECS`].
    pub(crate) fn upgrade_lock_timeout(&self) -> Result<Option<Duration>, String> {
        let Some(text) = &self.upgrade_lock_timeout else {
            return Ok(None);
        };
        let wait = upgrader_core::parse_duration(text)?;
        if wait.is_zero() || wait > Duration::from_secs(Timeouts::MAX_SECS) {
            return Err(format!(
                "it must be more than zero and at most {}s, not `{text}` (leave the key out for the wait timeout)",
                Timeouts::MAX_SECS
            ));
        }
        Ok(Some(wait))
    }
}

/// Checks timeouts given in whole seconds, as the file gives them (the flags are checked by clap,
/// with the same ranges): a wait from 1 to [`Timeouts::MAX_SECS`] (a statement cannot wait for
/// nothing: every lock would fail it), a statement timeout from 0 (no limit) to
/// [`Timeouts::MAX_SECS`].
fn check_secs(wait: Option<u64>, statement: Option<u64>) -> Result<(), String> {
    if let Some(secs) = wait.filter(|s| !(1..=Timeouts::MAX_SECS).contains(s)) {
        return Err(format!(
            "the wait timeout must be from 1 to {} seconds, not {secs}",
            Timeouts::MAX_SECS
        ));
    }
    if let Some(secs) = statement.filter(|s| *s > Timeouts::MAX_SECS) {
        return Err(format!(
            "the statement timeout must be from 0 (no limit) to {} seconds, not {secs}",
            Timeouts::MAX_SECS
        ));
    }
    Ok(())
}

/// `line:column`, both from 1, of a byte offset in `text`.
fn line_and_column(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_lock_timeout_is_a_duration_more_than_zero() {
        let config = |text: &str| Config {
            upgrade_lock_timeout: Some(text.into()),
            ..Config::default()
        };
        assert_eq!(
            config("5s").upgrade_lock_timeout(),
            Ok(Some(Duration::from_secs(5)))
        );
        assert_eq!(
            config("1m30s").upgrade_lock_timeout(),
            Ok(Some(Duration::from_secs(90)))
        );
        assert_eq!(Config::default().upgrade_lock_timeout(), Ok(None));
        for bad in ["0s", "5", "five", "", "1000h"] {
            assert!(config(bad).upgrade_lock_timeout().is_err(), "{bad}");
        }
    }

    #[test]
    fn zero_wait_is_refused_and_zero_statement_is_no_limit() {
        assert!(check_secs(Some(0), None).unwrap_err().contains("not 0"));
        assert!(check_secs(None, Some(0)).is_ok());
        assert!(check_secs(Some(1), Some(Timeouts::MAX_SECS)).is_ok());
        assert!(check_secs(Some(Timeouts::MAX_SECS + 1), None).is_err());
        assert!(check_secs(None, Some(Timeouts::MAX_SECS + 1)).is_err());
    }
}
