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
mod commands;
mod config;
mod create;
mod estimates;
mod events;
pub mod exit;
mod fleet;
mod hints;
mod output;
mod refused;
mod settings;
mod timings;
mod ui;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

pub use crate::cli::Cli;
use crate::cli::{Command, Create, Show};
use crate::config::ConfigError;
use crate::output::{StdoutFailed, note};
use crate::refused::Refused;
use crate::settings::settings;

/// The SQLite file used when no database is configured.
pub const DEFAULT_DATABASE: &str = "upgrader.db";

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
                ExitCode::from(exit::USAGE)
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
    quiet_panics();
    match dispatch(cli, host) {
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
            report(&err, host);
            ExitCode::FAILURE
        }
    }
}

/// The error on one line, its causes joined with ": " (a driver's message can span lines: here,
/// where it is printed, is the one place it is flattened), then what to do next, in the host's
/// terms.
fn report(err: &anyhow::Error, host: &Host) {
    note(&one_line(&format!("error: {err:#}")));
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
                    .map(|err| hints::hint(err, host))
            }
        })
        .flatten();
    if let Some(hint) = hint {
        note(&one_line(&format!("hint: {hint}")));
    }
}

/// `text` on one line: each line break, with the blanks around it, becomes one space. (Other
/// characters a terminal could act on are escaped when the line is written.)
pub(crate) fn one_line(text: &str) -> String {
    text.lines()
        .map(|line| line.trim_matches(|c: char| c.is_ascii_whitespace()))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An upgrade that panics is caught by the engine and reported as its error, with the panic's
/// message; the default hook's lines would only repeat it. Keep where it happened, on one line.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| match info.location() {
        Some(location) => note(&format!("  panicked at {location}")),
        None => note("  panicked"),
    }));
}

fn dispatch(cli: Cli, host: &Host) -> anyhow::Result<ExitCode> {
    // Every command's settings name the program that runs it (the run journal records it).
    let settings = |cli: &Cli| settings(cli).map(|s| s.run_by(host));
    match &cli.command {
        Command::Show(Show::Applied(format)) => commands::show_applied(&settings(&cli)?, format.json),
        Command::Show(Show::Pending(args)) if args.fleet.fleet => {
            fleet::show_pending(&settings(&cli)?, args.json, &args.fleet)
        }
        Command::Show(Show::Pending(args)) => commands::show_pending(&settings(&cli)?, args.json),
        Command::Show(Show::Graph(args)) => commands::show_graph(&settings(&cli)?, args),
        Command::Show(Show::History(args)) => commands::show_history(&settings(&cli)?, args),
        Command::Explain(args) => commands::explain(&settings(&cli)?, args, host),
        Command::Check(args) => commands::check(&settings(&cli)?, args.json, host),
        Command::Status(args) if args.fleet.fleet => fleet::status(&settings(&cli)?, args.json, &args.fleet),
        Command::Status(args) => commands::status(&settings(&cli)?, args.json, host),
        Command::Run(args) if args.fleet.fleet => fleet::run_fleet(&settings(&cli)?, args, host),
        Command::Run(args) => commands::run_upgrades(&settings(&cli)?, args, host),
        Command::Populate(confirmation) => commands::logged(&settings(&cli)?, host, confirmation, |s| {
            commands::populate(s, confirmation)
        }),
        Command::Mark(args) => commands::logged(&settings(&cli)?, host, &args.confirmation, |s| {
            commands::mark(s, args)
        }),
        Command::Resolve(args) => commands::logged(&settings(&cli)?, host, &args.confirmation, |s| {
            commands::resolve(s, args)
        }),
        Command::Accept(args) => commands::logged(&settings(&cli)?, host, &args.confirmation, |s| {
            commands::accept(s, args)
        }),
        Command::Create(Create::Recipe(args)) => create::run_recipe(args, &|| settings(&cli), host),
        Command::Create(Create::Release(args)) => create::run_release(args, &|| settings(&cli)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A driver's message over several lines (PostgreSQL's DETAIL, MySQL's context) broke the
    // one-line `error:` promise.
    #[test]
    fn an_error_chain_prints_on_one_line() {
        let cause = std::io::Error::other("relation \"x\" does not exist\n  DETAIL: it never did\r\n");
        let err = anyhow::Error::new(cause).context("database error while reading the history");
        assert_eq!(
            one_line(&format!("error: {err:#}")),
            "error: database error while reading the history: relation \"x\" does not exist DETAIL: it never did"
        );
        assert_eq!(one_line("`a  b` stays\tas it is"), "`a  b` stays\tas it is");
    }
}
