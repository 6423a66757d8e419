//! The `upgrader` command line, as a library so an application builds its own binary with its
//! own module crates linked in:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! // Name every crate that holds upgrades, or the linker drops their registrations.
//! // use my_accounts_module as _;
//!
//! fn main() -> ExitCode {
//!     upgrader_cli::main()
//! }
//! ```
#![warn(missing_docs)]

mod cli;
mod config;
mod create;
mod output;
mod refused;
mod ui;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::json;
use upgrader_core::{DatabaseUrl, Engine, HistoryTable, Registry, RunOptions, Timeouts};

pub use crate::cli::Cli;
use crate::cli::{Command, Confirmation, Create, Show};
use crate::config::{Config, ConfigError};
use crate::output::{StdoutFailed, data, data_line, duration, first_line, note, table};
use crate::refused::Refused;
use crate::ui::TerminalUi;

/// The SQLite file used when no database is configured.
pub const DEFAULT_DATABASE: &str = "upgrader.db";

/// The configuration file read when `--config` is not given (and it exists).
const DEFAULT_CONFIG: &str = "upgrader.toml";

/// Who runs the command set: the name usage lines, `-V` and hints give the command (`app`, or
/// `myapp upgrader` when mounted as a subcommand), and the version `-V` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    name: String,
    version: String,
}

impl Host {
    /// The command as the operator types it, and the version to show.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Host {
        Host {
            name: name.into(),
            version: version.into(),
        }
    }

    /// The running program's file name (`app` for `/usr/bin/app`), with this library's version.
    pub fn from_program() -> Host {
        let name = std::env::args_os()
            .next()
            .as_deref()
            .map(Path::new)
            .and_then(Path::file_stem)
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "upgrader".to_owned());
        Host::new(name, env!("CARGO_PKG_VERSION"))
    }
}

/// How hints name the command: set once by [`run_with`] or [`execute`].
static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Runs the command line with the process's arguments, named after the program (see
/// [`Host::from_program`]); prints errors and returns the exit code.
pub fn main() -> ExitCode {
    run_with(Host::from_program(), std::env::args_os())
}

/// Like [`main`], with the application's own name and version:
/// `upgrader_cli::main_with(Host::new("app", env!("CARGO_PKG_VERSION")))`.
pub fn main_with(host: Host) -> ExitCode {
    run_with(host, std::env::args_os())
}

/// Runs the command line with these arguments (the first is the program name).
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    run_with(Host::from_program(), args)
}

/// Runs the command line with these arguments (the first is the program name), as `host`.
pub fn run_with(host: Host, args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let command = Cli::command()
        .name(host.name.clone())
        .bin_name(host.name.clone())
        .version(host.version.clone());
    let parsed = command
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    execute(cli, &host)
}

/// Runs a command set an application parsed as part of its own command line, where it mounted
/// [`Cli`] as a subcommand; `host.name` is how the operator types it (`myapp upgrader`).
///
/// ```no_run
/// #[derive(clap::Parser)]
/// #[command(name = "myapp", version)]
/// struct App {
///     #[command(subcommand)]
///     command: AppCommand,
/// }
///
/// #[derive(clap::Subcommand)]
/// enum AppCommand {
///     /// Brings the database up to date.
///     Upgrader(upgrader_cli::Cli),
/// }
///
/// fn main() -> std::process::ExitCode {
///     let app = <App as clap::Parser>::parse();
///     match app.command {
///         AppCommand::Upgrader(cli) => {
///             upgrader_cli::execute(cli, &upgrader_cli::Host::new("myapp upgrader", env!("CARGO_PKG_VERSION")))
///         }
///     }
/// }
/// ```
pub fn execute(cli: Cli, host: &Host) -> ExitCode {
    let _ = HOST.set(host.name.clone());
    quiet_panics();
    match dispatch(cli) {
        Ok(code) => code,
        // The reader went away (`| head`): stop quietly, as ripgrep does.
        Err(err)
            if err
                .downcast_ref::<StdoutFailed>()
                .is_some_and(StdoutFailed::is_closed_pipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

/// A message in the host's terms: the commands it quotes are typed as the host is
/// (`` `myapp upgrader resolve …` `` rather than `` `upgrader resolve …` ``).
fn in_host_terms(text: &str) -> String {
    match HOST.get() {
        Some(host) if host != "upgrader" => text.replace("`upgrader ", &format!("`{host} ")),
        _ => text.to_owned(),
    }
}

fn report(err: &anyhow::Error) {
    note(&in_host_terms(&format!("error: {err:#}")));
    // The first typed error in the chain says what to do next, if anything.
    let hint = err
        .chain()
        .find_map(|cause| {
            if let Some(refused) = cause.downcast_ref::<Refused>() {
                Some(Some(refused.hint().to_owned()))
            } else if let Some(config) = cause.downcast_ref::<ConfigError>() {
                Some(Some(config.hint().to_owned()))
            } else if cause.is::<StdoutFailed>() {
                Some(Some(
                    "nothing is lost: whatever the command changed in the database is recorded (`show applied`)"
                        .to_owned(),
                ))
            } else {
                cause
                    .downcast_ref::<upgrader_core::Error>()
                    .map(upgrader_core::Error::hint)
            }
        })
        .flatten();
    if let Some(hint) = hint {
        note(&in_host_terms(&format!("hint: {hint}")));
    }
}

/// An upgrade that panics is caught by the engine and reported as its error, with the panic's
/// message; the default hook's lines would only repeat it. Keep where it happened, on one line.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| match info.location() {
        Some(location) => note(&format!("  panicked at {location}")),
        None => note("  panicked"),
    }));
}

struct Settings {
    url: DatabaseUrl,
    packages: Option<Vec<String>>,
    lock_timeout: Option<u64>,
    timeouts: Timeouts,
    history_table: HistoryTable,
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
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
    })
}

/// The engine, for the commands that write.
fn open(settings: &Settings) -> anyhow::Result<Engine> {
    let mut engine = Engine::open(&settings.url, Registry::linked(), settings.packages.as_deref())?
        .with_history_table(settings.history_table.clone());
    engine.set_timeouts(settings.timeouts)?;
    Ok(engine)
}

/// The engine, for the commands that only look: a missing SQLite file is not created.
fn inspect(settings: &Settings) -> anyhow::Result<Engine> {
    let mut engine = Engine::inspect(&settings.url, Registry::linked(), settings.packages.as_deref())?
        .with_history_table(settings.history_table.clone());
    engine.set_timeouts(settings.timeouts)?;
    Ok(engine)
}

fn run_options(settings: &Settings, confirmation: &Confirmation) -> RunOptions {
    let secs = confirmation.lock_timeout.or(settings.lock_timeout);
    let options = RunOptions::default();
    match secs {
        Some(secs) => options.with_lock_timeout(Duration::from_secs(secs)),
        None => options,
    }
}

/// Refuses at once when a confirmation is needed and nobody can give it: never hang on a prompt.
fn ensure_confirmable(ui: &TerminalUi, confirmation: &Confirmation) -> anyhow::Result<()> {
    if !confirmation.yes_i_know && !ui.can_ask() {
        bail!(
            "this command asks for confirmation and there is no terminal; pass --yes-i-know to run unattended"
        );
    }
    Ok(())
}

/// Asks before a command that changes the database (`--yes-i-know` answers yes).
fn confirm(ui: &mut TerminalUi, confirmation: &Confirmation, question: &str) -> anyhow::Result<bool> {
    use upgrader_core::Interaction;
    ensure_confirmable(ui, confirmation)?;
    Ok(confirmation.yes_i_know || ui.confirm(question, false))
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Show(Show::Applied(format)) => show_applied(&settings(&cli)?, format.json),
        Command::Show(Show::Pending(format)) => show_pending(&settings(&cli)?, format.json),
        Command::Check(args) => check(&settings(&cli)?, args.json),
        Command::Run(args) => run_upgrades(&settings(&cli)?, &args.confirmation),
        Command::Populate(confirmation) => populate(&settings(&cli)?, confirmation),
        Command::Mark(args) => mark(&settings(&cli)?, args),
        Command::Resolve(args) => resolve(&settings(&cli)?, args),
        Command::Create(Create::Recipe(args)) => create::run_recipe(args),
        Command::Create(Create::Release(args)) => create::run_release(args),
    }
}

fn ghost(id: &str) -> String {
    format!("`{id}` is in the history but no linked upgrade has that id")
}

/// History rows no linked upgrade has (a module crate left out of this binary, or a database
/// upgraded by a newer release): every command that reads the history says so, on stderr.
fn warn_ghosts<'a>(ids: impl IntoIterator<Item = &'a str>) {
    for id in ids {
        note(&format!("warning: {}", ghost(id)));
    }
}

fn timestamp(t: &chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// When an upgrade was applied: `unknown` (table) or `null` (JSON) when the history holds a value
/// that is not a time.
fn applied_at(t: Option<&chrono::NaiveDateTime>) -> String {
    t.map_or_else(|| "unknown".to_owned(), timestamp)
}

fn show_applied(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let mut engine = inspect(settings)?;
    let applied = engine.applied()?;
    warn_ghosts(
        applied
            .iter()
            .map(|r| r.upgrade.as_str())
            .filter(|id| engine.registry().get(id).is_none()),
    );
    if json {
        let rows: Vec<_> = applied
            .iter()
            .map(|r| json!({"upgrade": r.upgrade, "applied": r.applied.as_ref().map(timestamp), "duration_ms": r.duration_ms, "checksum": r.checksum, "method": r.method}))
            .collect();
        output::json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if applied.is_empty() {
        note("no upgrade has been applied to this database");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = applied
        .iter()
        .map(|r| {
            vec![
                r.upgrade.clone(),
                applied_at(r.applied.as_ref()),
                r.duration_ms.map_or("-".into(), |ms| {
                    duration(Duration::from_millis(ms.unsigned_abs()))
                }),
                r.method.clone(),
            ]
        })
        .collect();
    data(&table(&["UPGRADE", "APPLIED (UTC)", "TOOK", "HOW"], &rows))?;
    Ok(ExitCode::SUCCESS)
}

fn show_pending(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let mut engine = inspect(settings)?;
    let status = engine.status()?;
    warn_ghosts(status.ghosts.iter().map(|g| g.upgrade.as_str()));
    let mut ui = TerminalUi::new(true);
    let estimates = engine.estimates(&status.pending, &mut ui);
    if json {
        let rows: Vec<_> = status
            .pending
            .iter()
            .zip(&estimates)
            .map(|(u, (_, e))| json!({"upgrade": u.id(), "info": u.info(), "estimate_secs": e.map(|e| e.as_secs_f64()), "depends_on": u.depends_on()}))
            .collect();
        let interrupted: Vec<_> = status
            .interrupted
            .iter()
            .map(|i| json!({"upgrade": i.upgrade, "started": timestamp(&i.started), "runner": i.runner, "error": i.error}))
            .collect();
        output::json(&json!({"pending": rows, "interrupted": interrupted}))?;
        return Ok(ExitCode::SUCCESS);
    }
    for interrupted in &status.interrupted {
        note(&format!("interrupted: {interrupted}"));
    }
    for (running, holder) in &status.running {
        note(&format!("running now: `{}` ({holder})", running.upgrade));
    }
    if status.pending.is_empty() {
        note("nothing is pending: the database is up to date");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = status
        .pending
        .iter()
        .zip(&estimates)
        .map(|(u, (_, e))| {
            vec![
                u.id().to_owned(),
                e.map_or("-".into(), duration),
                first_line(u.info()).to_owned(),
            ]
        })
        .collect();
    data(&table(&["UPGRADE", "ESTIMATE", "WHAT IT DOES"], &rows))?;
    let total = upgrader_core::total_estimate(&estimates);
    note(&format!(
        "{} pending, estimated {}",
        status.pending.len(),
        duration(total)
    ));
    Ok(ExitCode::SUCCESS)
}

fn check(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let mut engine = inspect(settings)?;
    let mut ui = TerminalUi::new(true);
    let report = engine.check(&mut ui)?;
    let status = &report.status;
    let mut errors: Vec<String> = report
        .failures
        .iter()
        .map(|f| format!("check failed: {f}"))
        .collect();
    errors.extend(status.interrupted.iter().map(|i| format!("interrupted: {i}")));
    let mut warnings: Vec<String> = Vec::new();
    warnings.extend(
        status
            .running
            .iter()
            .map(|(r, holder)| format!("another runner is applying `{}` right now ({holder})", r.upgrade)),
    );
    warnings.extend(status.ghosts.iter().map(|g| ghost(&g.upgrade)));
    warnings.extend(status.implied.iter().map(|i| {
        format!(
            "`{}` is not in the history but counts as applied: `{}` depends on it and is recorded",
            i.id, i.by
        )
    }));
    warnings.extend(status.edited.iter().map(|e| format!("`{}` was edited after it was applied (checksum {} then, {} now); fix mistakes with a new upgrade", e.id, e.recorded, e.current)));
    if json {
        let pending: Vec<_> = report
            .estimates
            .iter()
            .map(|(id, e)| json!({"upgrade": id, "estimate_secs": e.map(|e| e.as_secs_f64())}))
            .collect();
        output::json(&json!({
            "ok": errors.is_empty(),
            "errors": errors,
            "warnings": warnings,
            "pending": pending,
            "total_estimate_secs": report.total_estimate().as_secs_f64(),
        }))?;
    } else {
        data_line(&format!("graph: {} upgrades, ok", engine.plan().upgrades().len()))?;
        data_line(&format!("applied: {}", status.applied.len()))?;
        data_line(&format!(
            "pending: {} (estimated {})",
            status.pending.len(),
            duration(report.total_estimate())
        ))?;
        for (id, _) in &report.estimates {
            data_line(&format!("  {id}"))?;
        }
        // Warnings and problems are not data: stderr, so stdout stays the report.
        for warning in &warnings {
            note(&format!("warning: {warning}"));
        }
        for error in &errors {
            note(&format!("error: {error}"));
        }
    }
    if errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("{} problem(s) found", errors.len())
    }
}

fn run_upgrades(settings: &Settings, confirmation: &Confirmation) -> anyhow::Result<ExitCode> {
    let mut ui = TerminalUi::new(confirmation.yes_i_know);
    ensure_confirmable(&ui, confirmation)?;
    let mut engine = open(settings)?;
    let options = run_options(settings, confirmation);
    // Bounded like the run itself: a foreign lock holds up the plan no longer than the run.
    let upgrader_core::RunPreview {
        status, estimates, ..
    } = engine.preview_run(&mut ui, &options)?;
    warn_ghosts(status.ghosts.iter().map(|g| g.upgrade.as_str()));
    if !status.interrupted.is_empty() {
        Err(upgrader_core::Error::Interrupted {
            interrupted: status.interrupted,
        })?;
    }
    if status.pending.is_empty() {
        note("nothing to do: the database is up to date");
        return Ok(ExitCode::SUCCESS);
    }
    let total = upgrader_core::total_estimate(&estimates);
    note(&format!(
        "{} upgrade(s) to apply to {} ({}), estimated {}:",
        status.pending.len(),
        settings.url,
        engine.backend(),
        duration(total)
    ));
    let plan: Vec<Vec<String>> = status
        .pending
        .iter()
        .map(|u| vec![format!("  {}", u.id()), first_line(u.info()).to_owned()])
        .collect();
    note(table(&["  UPGRADE", "WHAT IT DOES"], &plan).trim_end());
    if !confirm(&mut ui, confirmation, "Apply these upgrades?")? {
        bail!("cancelled; nothing was applied");
    }
    let result = engine.run(&mut ui, &options);
    let report = match &result {
        Ok(report) => Some(report),
        Err(e) => e.report(),
    };
    if let Some(report) = report {
        for applied in &report.applied {
            data_line(&format!(
                "applied {} ({})",
                applied.id,
                duration(applied.duration)
            ))?;
        }
    }
    let report = result?;
    if report.applied.is_empty() {
        note("nothing to do: another runner applied everything");
    } else {
        note(&format!("{} upgrade(s) applied", report.applied.len()));
    }
    Ok(ExitCode::SUCCESS)
}

fn populate(settings: &Settings, confirmation: &Confirmation) -> anyhow::Result<ExitCode> {
    let mut ui = TerminalUi::new(confirmation.yes_i_know);
    // Before opening: a refusal must not create a missing SQLite file.
    ensure_confirmable(&ui, confirmation)?;
    let mut engine = open(settings)?;
    let pending = engine.status()?.pending.len();
    let question = format!("Record all {pending} pending upgrade(s) as applied WITHOUT running them?");
    if !confirm(&mut ui, confirmation, &question)? {
        bail!("cancelled; nothing was recorded");
    }
    let recorded = engine.populate(&mut ui, &run_options(settings, confirmation))?;
    for id in &recorded {
        data_line(&format!("recorded {id}"))?;
    }
    note(&format!("{} upgrade(s) recorded as applied", recorded.len()));
    Ok(ExitCode::SUCCESS)
}

fn mark(settings: &Settings, args: &cli::Mark) -> anyhow::Result<ExitCode> {
    let mut ui = TerminalUi::new(args.confirmation.yes_i_know);
    ensure_confirmable(&ui, &args.confirmation)?;
    let mut engine = open(settings)?;
    let state = if args.applied { "applied" } else { "pending" };
    if !confirm(
        &mut ui,
        &args.confirmation,
        &format!("Mark {} as {state}?", args.ids.join(", ")),
    )? {
        bail!("cancelled; nothing was changed");
    }
    let options = run_options(settings, &args.confirmation);
    let changed = if args.applied {
        engine.mark_applied(&args.ids, args.force, &mut ui, &options)?
    } else {
        engine.mark_pending(&args.ids, args.with_dependents, &mut ui, &options)?
    };
    for id in &changed {
        let dependent = if args.ids.contains(id) {
            ""
        } else {
            " (a dependent)"
        };
        data_line(&format!("marked {id} {state}{dependent}"))?;
    }
    for id in args.ids.iter().filter(|id| !changed.contains(id)) {
        note(&format!("{id} was already {state}"));
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve(settings: &Settings, args: &cli::Resolve) -> anyhow::Result<ExitCode> {
    let mut ui = TerminalUi::new(args.confirmation.yes_i_know);
    ensure_confirmable(&ui, &args.confirmation)?;
    let mut engine = open(settings)?;
    let what = if args.retry {
        "run again at the next `run`"
    } else {
        "recorded as applied"
    };
    if !confirm(
        &mut ui,
        &args.confirmation,
        &format!("Mark interrupted {} to be {what}?", args.id),
    )? {
        bail!("cancelled; nothing was changed");
    }
    engine
        .resolve(
            &args.id,
            args.retry,
            &mut ui,
            &run_options(settings, &args.confirmation),
        )
        .with_context(|| format!("cannot resolve {}", args.id))?;
    data_line(&format!("{}: {what}", args.id))?;
    Ok(ExitCode::SUCCESS)
}
