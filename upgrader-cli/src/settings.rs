//! Where the command line's settings come from: the flags, `$UPGRADER_DATABASE_URL`,
//! `upgrader.toml`, the defaults; and the engine opened with them.

use std::path::Path;
use std::time::Duration;

use upgrader_core::{Actor, DatabaseUrl, Engine, HistoryTable, Registry, RunOptions, Timeouts};

use crate::cli::{Cli, Confirmation};
use crate::config::Config;
use crate::refused::Refused;
use crate::{DEFAULT_DATABASE, Host};

/// The configuration file read when `--config` is not given (and it exists).
const DEFAULT_CONFIG: &str = "upgrader.toml";

pub(crate) struct Settings {
    pub(crate) url: DatabaseUrl,
    pub(crate) packages: Option<Vec<String>>,
    pub(crate) lock_timeout: Option<u64>,
    pub(crate) timeouts: Timeouts,
    pub(crate) history_table: HistoryTable,
    /// Who runs the commands, for the run journal.
    pub(crate) actor: Actor,
}

impl Settings {
    /// The settings of a command run by `host` (the journal records its name and version).
    pub(crate) fn run_by(mut self, host: &Host) -> Settings {
        self.actor = Actor::new(host.name.clone(), host.version.clone());
        self
    }
}

pub(crate) fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let config = match &cli.config {
        // Named on the command line: it must be there.
        Some(path) => Config::load(path)?.ok_or_else(|| {
            Refused::new(
                format!("configuration file {} does not exist", path.display()),
                "check the path given to --config (without --config, upgrader.toml in the working directory is read when it exists)",
            )
        })?,
        None => Config::load(Path::new(DEFAULT_CONFIG))?.unwrap_or_default(),
    };
    let url = cli
        .database_url
        .clone()
        .or(config.database_url)
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let connect_timeout = cli
        .connect_timeout
        .or(config.connect_timeout_secs)
        .map_or(upgrader_core::DEFAULT_CONNECT_TIMEOUT, Duration::from_secs);
    // Both checked: the flags by clap, the file's keys by `Config::load`.
    let mut timeouts = Timeouts::default();
    if let Some(secs) = cli.wait_timeout.or(config.wait_timeout_secs) {
        timeouts = timeouts.with_wait(Duration::from_secs(secs));
    }
    if let Some(secs) = cli.statement_timeout.or(config.statement_timeout_secs) {
        timeouts = timeouts.with_statement((secs > 0).then(|| Duration::from_secs(secs)));
    }
    Ok(Settings {
        url: DatabaseUrl::parse(&url)?.with_connect_timeout(connect_timeout),
        packages: config.packages,
        lock_timeout: config.lock_timeout_secs,
        timeouts,
        history_table: cli
            .history_table
            .clone()
            .or(config.history_table)
            .unwrap_or_default(),
        actor: Actor::default(),
    })
}

/// The engine, for the commands that write.
pub(crate) fn open(settings: &Settings) -> anyhow::Result<Engine> {
    let mut engine = Engine::open(&settings.url, Registry::linked(), settings.packages.as_deref())?
        .with_history_table(settings.history_table.clone())
        .with_actor(settings.actor.clone());
    engine.set_timeouts(settings.timeouts)?;
    Ok(engine)
}

/// The engine, for the commands that only look: a missing SQLite file is not created.
pub(crate) fn inspect(settings: &Settings) -> anyhow::Result<Engine> {
    let mut engine = Engine::inspect(&settings.url, Registry::linked(), settings.packages.as_deref())?
        .with_history_table(settings.history_table.clone());
    engine.set_timeouts(settings.timeouts)?;
    Ok(engine)
}

pub(crate) fn run_options(settings: &Settings, confirmation: &Confirmation) -> RunOptions {
    let secs = confirmation.lock_timeout.or(settings.lock_timeout);
    let options = RunOptions::default();
    match secs {
        Some(secs) => options.with_lock_timeout(Duration::from_secs(secs)),
        None => options,
    }
}
