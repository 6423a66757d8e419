//! `upgrader.toml`: the database URL and the active packages.

use std::path::Path;

use serde::Deserialize;

use crate::error::Error;

/// The optional configuration file, `upgrader.toml` in the working directory.
///
/// ```toml
/// database_url = "postgres://app@db.internal/app"
/// packages = ["accounts", "records"]   # only these modules take part
/// lock_timeout_secs = 600
/// connect_timeout_secs = 10
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
    /// How long connecting to a server may take, in seconds.
    pub connect_timeout_secs: Option<u64>,
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
        toml::from_str(&text).map(Some).map_err(|e| Error::Config {
            path: path.display().to_string(),
            reason: crate::connection::one_line(e.message()),
        })
    }
}
