//! `upgrader.toml`: the database URL and the active packages.

use std::path::Path;

use serde::Deserialize;

use crate::error::Error;
use crate::timeouts::Timeouts;

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
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The database, when neither `--database-url` nor `UPGRADER_DATABASE_URL` is given.
    pub database_url: Option<String>,
    /// The active packages (modules); all when absent.
    pub packages: Option<Vec<String>>,
    /// How long `run` waits for another runner's lock, in seconds.
    pub lock_timeout_secs: Option<u64>,
    /// How long connecting to a server may take, in seconds (at least 1).
    pub connect_timeout_secs: Option<u64>,
    /// How long one statement waits for a lock another session holds, in seconds (1 or more).
    pub wait_timeout_secs: Option<u64>,
    /// How long one statement may run, in seconds; 0 for no limit.
    pub statement_timeout_secs: Option<u64>,
    /// The table that holds the history (default `upgrade`), checked when the file is read.
    pub history_table: Option<crate::history::HistoryTable>,
}

impl Config {
    /// Reads the file; `None` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Config>, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    doing: "cannot read",
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let config: Config = toml::from_str(&text).map_err(|e| Error::Config {
            path: match e.span() {
                Some(span) => format!("{}:{}", path.display(), line_and_column(&text, span.start)),
                None => path.display().to_string(),
            },
            reason: crate::connection::one_line(e.message()),
        })?;
        if config.connect_timeout_secs == Some(0) {
            return Err(Error::Config {
                path: path.display().to_string(),
                reason: "`connect_timeout_secs` must be at least 1 (0 would give up before any server could answer)"
                    .into(),
            });
        }
        if config.packages.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::Config {
                path: path.display().to_string(),
                reason: "`packages` is empty, so no module would take part (leave the key out to activate every module)"
                    .into(),
            });
        }
        let invalid = |key: &'static str| {
            move |reason: String| Error::Config {
                path: path.display().to_string(),
                reason: format!("`{key}`: {reason}"),
            }
        };
        Timeouts::check_secs(config.wait_timeout_secs, None).map_err(invalid("wait_timeout_secs"))?;
        Timeouts::check_secs(None, config.statement_timeout_secs)
            .map_err(invalid("statement_timeout_secs"))?;
        Ok(Some(config))
    }
}

/// `line:column`, both from 1, of a byte offset in `text`.
fn line_and_column(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}")
}
