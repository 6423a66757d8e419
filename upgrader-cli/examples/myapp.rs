//! An application's own binary that mounts the command set under its own command line, beside
//! its other commands: `myapp upgrader run --yes-i-know`, `myapp serve`. Usage lines, `-V` and
//! hints speak of `myapp upgrader` and the application's version.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
// Name the module crates, or the linker drops their registrations.
use example_modules as _;

/// An application with upgrades of its own.
#[derive(Debug, Parser)]
#[command(name = "myapp", version = "2.3.4")]
struct App {
    #[command(subcommand)]
    command: AppCommand,
}

// Parsed once per process: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Brings the application's database up to date.
    Upgrader(upgrader_cli::Cli),
    /// Serves the application (in this example: says so).
    Serve,
}

fn main() -> ExitCode {
    match App::parse().command {
        AppCommand::Upgrader(cli) => {
            upgrader_cli::execute(cli, &upgrader_cli::Host::new("myapp upgrader", "2.3.4"))
        }
        AppCommand::Serve => {
            let _ = writeln!(std::io::stdout(), "serving");
            ExitCode::SUCCESS
        }
    }
}
