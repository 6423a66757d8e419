//! `run`: the plan, the confirmation, the upgrades; the run's events to the display (stderr),
//! the NDJSON stream (`--json`, stdout) and the log file.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::bail;

use crate::Host;
use crate::cli;
use crate::commands::{confirm, ensure_confirmable, warn_ghosts};
use crate::events::{Display, JsonEvents, Lines, Live, LogFile, RunUi};
use crate::output::{data_line, duration, first_line, note, table};
use crate::settings::{Settings, open, run_options};
use crate::ui::TerminalUi;

pub(crate) fn run_upgrades(settings: &Settings, args: &cli::Run, host: &Host) -> anyhow::Result<ExitCode> {
    let prompts = TerminalUi::new(args.confirmation.yes_i_know);
    ensure_confirmable(&prompts, &args.confirmation)?;
    // Before anything is opened: a log file that cannot be written changes nothing.
    let mut log = match &settings.log_file {
        Some((path, explicit)) => LogFile::open(path, *explicit)?,
        None => None,
    };
    if let Some(log) = &mut log {
        log.line(&format!("command: {}", crate::events::who(host)));
    }
    let display = if args.json {
        Display::Quiet
    } else if std::io::stderr().is_terminal() {
        Display::Live(Live::new())
    } else {
        Display::Lines(Lines::default())
    };
    let mut ui = RunUi::new(prompts, display, args.json.then(JsonEvents::default), log);
    let result = run_with(settings, args, &mut ui);
    if let Err(e) = &result {
        ui.failed(e);
    }
    let (stdout, log) = ui.finish();
    if let Some(e) = log {
        note(&format!("warning: {e}; the run went on"));
    }
    // A failed run is the error to report, even when stdout went away too: a pipeline must not
    // read a closed pipe's quiet exit 0 for it.
    let code = result?;
    if let Some(e) = stdout {
        return Err(e.into());
    }
    Ok(code)
}

fn run_with(settings: &Settings, args: &cli::Run, ui: &mut RunUi) -> anyhow::Result<ExitCode> {
    let confirmation = &args.confirmation;
    let mut engine = open(settings)?;
    // The run reached the database: from now on it leaves a log.
    ui.activate_log();
    ui.target(&settings.url.to_string(), engine.backend());
    let options = run_options(settings, confirmation);
    // Bounded like the run itself: a foreign lock holds up the plan no longer than the run.
    let preview = engine.preview_run(ui, &options)?;
    warn_ghosts(preview.status.ghosts.iter().map(|g| g.upgrade.as_str()));
    if let Some(refusal) = preview.refusal() {
        return Err(refusal.into());
    }
    if preview.is_up_to_date() {
        note("nothing to do: the database is up to date");
        ui.nothing_to_do();
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        note(&format!(
            "{} upgrade(s) to apply to {} ({}), estimated {}:",
            preview.status.pending.len(),
            settings.url,
            engine.backend(),
            duration(preview.total_estimate())
        ));
        let plan: Vec<Vec<String>> = preview
            .status
            .pending
            .iter()
            .map(|u| vec![format!("  {}", u.id()), first_line(u.info()).to_owned()])
            .collect();
        note(table(&["  UPGRADE", "WHAT IT DOES"], &plan).trim_end());
    }
    if !confirm(ui.prompts(), confirmation, "Apply these upgrades?")? {
        bail!("cancelled; nothing was applied");
    }
    // The preview was the run's look before the lock: it reads the state again only holding it.
    let result = engine.run_previewed(preview, ui, &options);
    let report = match &result {
        Ok(report) => Some(report),
        Err(e) => e.report(),
    };
    // stdout: one line per upgrade applied (with `--json`, the stream has them).
    let mut written = Ok(());
    for applied in report.iter().flat_map(|r| &r.applied) {
        if written.is_ok() && !args.json {
            written = data_line(&format!(
                "applied {} ({})",
                applied.id,
                duration(applied.duration)
            ));
        }
    }
    let report = result?;
    written?;
    if report.applied.is_empty() {
        note("nothing to do: another runner applied everything");
    }
    Ok(ExitCode::SUCCESS)
}
