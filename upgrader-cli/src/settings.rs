//! Where the command line's settings come from: the flags, `$UPGRADER_DATABASE_URL`,
//! `upgrader.toml`, the defaults; and the engine opened with them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use upgrader_core::{Actor, CheckedGraph, DatabaseUrl, Engine, HistoryTable, Registry, RunOptions, Timeouts};

use crate::cli::{Cli, Confirmation, Run};
use crate::config::{Config, LogFileSetting};
use crate::refused::Refused;
use crate::{DEFAULT_DATABASE, Host};

/// The configuration file read when `--config` is not given (and it exists).
const DEFAULT_CONFIG: &str = "upgrader.toml";

/// The log file of the commands that change the database, unless told otherwise.
pub(crate) const DEFAULT_LOG_FILE: &str = "upgrader.log";

pub(crate) struct Settings {
    pub(crate) url: DatabaseUrl,
    pub(crate) packages: Option<Vec<String>>,
    pub(crate) lock_timeout: Option<u64>,
    pub(crate) timeouts: Timeouts,
    pub(crate) history_table: HistoryTable,
    /// The timings file (`--timings`, else `timings` in the configuration file, relative to its
    /// directory), read by the commands that show estimates ([`Settings::timings`]).
    pub(crate) timings: Option<PathBuf>,
    /// `max_duration` in the configuration file (`run --max-duration` wins).
    pub(crate) max_duration: Option<Duration>,
    /// Where the commands that change the database log (`None` keeps no log), and whether it
    /// was asked for (the flag or the configuration) rather than the default.
    pub(crate) log_file: Option<(PathBuf, bool)>,
    /// Who runs the commands, for the run journal.
    pub(crate) actor: Actor,
    /// How long connecting to a server may take (every target of a fleet gets it too).
    pub(crate) connect_timeout: Duration,
    /// `[fleet]` in the configuration file.
    pub(crate) fleet: crate::config::FleetConfig,
    /// The directory of the configuration file, which its relative paths start from.
    pub(crate) config_dir: PathBuf,
}

impl Settings {
    /// The settings of a command run by `host` (the journal records its name and version).
    pub(crate) fn run_by(mut self, host: &Host) -> Settings {
        self.actor = Actor::new(host.name.clone(), host.version.clone());
        self
    }

    /// The measured durations of the timings file, if one is named; a file that cannot be read
    /// or is not a timings file is an error (never "no timings").
    pub(crate) fn timings(&self) -> anyhow::Result<upgrader_core::Timings> {
        Ok(match &self.timings {
            Some(path) => crate::timings::load(path)?,
            None => upgrader_core::Timings::default(),
        })
    }
}

pub(crate) fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let config_path = cli.config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG));
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
    // Checked when the file was read.
    let upgrade_lock = config.upgrade_lock_timeout().unwrap_or_default();
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
    timeouts = timeouts.with_upgrade_lock(upgrade_lock);

    // A path in the file is relative to the file's directory; on the command line, to the
    // working directory.
    let timings = cli.timings.clone().or_else(|| {
        let dir = config_path.parent().unwrap_or(Path::new(""));
        config.timings.as_ref().map(|path| dir.join(path))
    });
    // Checked when the file was read.
    let max_duration = config
        .max_duration
        .as_deref()
        .and_then(|window| crate::cli::parse_window(window).ok());
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
        timings,
        max_duration,
        log_file: log_file(cli.log_file.as_deref().map(Path::new), config.log_file),
        actor: Actor::default(),
        connect_timeout,
        fleet: config.fleet,
        config_dir: config_path.parent().unwrap_or(Path::new("")).to_path_buf(),
    })
}

/// `--log-file`, else `log_file` in the configuration, else [`DEFAULT_LOG_FILE`]; an empty path
/// (or `log_file = false`) keeps no log. With whether the path was asked for.
fn log_file(flag: Option<&Path>, config: Option<LogFileSetting>) -> Option<(PathBuf, bool)> {
    let (path, explicit) = match (flag, config) {
        (Some(path), _) => (path.to_path_buf(), true),
        (None, Some(LogFileSetting::Path(path))) => (path, true),
        (None, Some(LogFileSetting::Enabled(false))) => return None,
        (None, Some(LogFileSetting::Enabled(true)) | None) => (PathBuf::from(DEFAULT_LOG_FILE), false),
    };
    (!path.as_os_str().is_empty()).then_some((path, explicit))
}

/// The engine, for the commands that write.
pub(crate) fn open(settings: &Settings) -> anyhow::Result<Engine> {
    Ok(open_at(settings, &checked_graph(settings)?, &settings.url)?)
}

/// The linked upgrades' graph (only the active packages), checked once for the engines of many
/// databases (a fleet).
pub(crate) fn checked_graph(settings: &Settings) -> Result<CheckedGraph, upgrader_core::Error> {
    CheckedGraph::new(Registry::linked(), settings.packages.as_deref())
}

/// The engine on `url` (a fleet's target), set up as [`open`] sets it up.
pub(crate) fn open_at(
    settings: &Settings,
    graph: &CheckedGraph,
    url: &DatabaseUrl,
) -> Result<Engine, upgrader_core::Error> {
    let mut engine = Engine::open_checked(url, graph)?
        .with_history_table(settings.history_table.clone())
        .with_actor(settings.actor.clone());
    engine.set_timeouts(settings.timeouts)?;
    Ok(engine)
}

/// The engine, for the commands that only look: a missing SQLite file is not created.
pub(crate) fn inspect(settings: &Settings) -> anyhow::Result<Engine> {
    Ok(inspect_at(settings, &checked_graph(settings)?, &settings.url)?)
}

/// The engine on `url` (a fleet's target), for looking, as [`inspect`] opens it.
pub(crate) fn inspect_at(
    settings: &Settings,
    graph: &CheckedGraph,
    url: &DatabaseUrl,
) -> Result<Engine, upgrader_core::Error> {
    let mut engine = Engine::inspect_checked(url, graph)?.with_history_table(settings.history_table.clone());
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

/// `run`'s options: [`run_options`], with the window (`--max-duration`, else `max_duration` in
/// the configuration file) and the measured durations (read here: a bad timings file is refused
/// before anything is opened).
pub(crate) fn run_options_with_window(settings: &Settings, run: &Run) -> anyhow::Result<RunOptions> {
    let mut options = run_options(settings, &run.confirmation).with_timings(settings.timings()?);
    // All or nothing has no window: `--max-duration` conflicts with those flags, and the
    // configuration's window does not apply to them.
    let whole = run.choice.atomic || run.choice.rehearse;
    if let Some(window) = run.max_duration.or(settings.max_duration).filter(|_| !whole) {
        options = options.with_max_duration(window);
    }
    Ok(options)
}
