//! The log file of `populate`, `mark`, `resolve` and `accept`: who ran which command line, and how it
//! ended (what it recorded is on stdout and in the history).

use std::process::ExitCode;

use crate::Host;
use crate::cli::Confirmation;
use crate::commands::ensure_confirmable;
use crate::events::{LogFile, who};
use crate::output::note;
use crate::settings::Settings;
use crate::ui::TerminalUi;

/// Runs `command` with its lines in the log file: checked before the command opens anything (a
/// log file that cannot be written is refused then, changing nothing), after the refusal for
/// lack of a terminal (which creates no file either); written once the command is over, unless
/// it failed before reaching the database.
pub(crate) fn logged(
    settings: &Settings,
    host: &Host,
    confirmation: &Confirmation,
    command: impl FnOnce(&Settings) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    ensure_confirmable(&TerminalUi::new(confirmation.yes_i_know), confirmation)?;
    let Some((path, explicit)) = &settings.log_file else {
        return command(settings);
    };
    let Some(mut log) = LogFile::open(path, *explicit)? else {
        return command(settings);
    };
    log.line(&format!("command: {}", who(host)));
    log.line(&format!("database: {}", settings.url));
    let result = command(settings);
    match &result {
        Ok(_) => log.line("done"),
        Err(e) => log.line(&format!("failed: {}", crate::one_line(&format!("{e:#}")))),
    }
    if reached_the_database(&result) {
        log.activate();
    }
    if let Some(e) = log.into_error() {
        note(&format!("warning: {e}"));
    }
    result
}

/// Whether the command got as far as the database: an error of the graph, the URL or the
/// connection means it changed nothing there, and leaves no log.
fn reached_the_database(result: &anyhow::Result<ExitCode>) -> bool {
    use upgrader_core::Error;
    let Err(err) = result else { return true };
    !err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<Error>(),
            Some(
                Error::InvalidUrl { .. }
                    | Error::Connect { .. }
                    | Error::UnusableSchema { .. }
                    | Error::BackendNotCompiled { .. }
                    | Error::InvalidId { .. }
                    | Error::DuplicateId { .. }
                    | Error::UnknownDependency { .. }
                    | Error::InactiveDependency { .. }
                    | Error::UnknownPackage { .. }
                    | Error::Cycle { .. }
                    | Error::Graph { .. }
                    | Error::NothingLinked
            )
        )
    })
}
