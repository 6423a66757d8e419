//! `run`: the plan (its checks passed), the confirmation, the upgrades; the run's events to the
//! display (stderr), the NDJSON stream (`--json`, stdout) and the log file.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::bail;
use upgrader_core::{Backend, Engine, RunMode, RunOptions, RunPreview};

use crate::Host;
use crate::cli::Run;
use crate::commands::choose::{chosen, dry_run, nothing_to_do, open_for};
use crate::commands::window::{plan_window, stopped};
use crate::commands::{confirm, ensure_confirmable, rehearse, summary, warn_ghosts};
use crate::estimates;
use crate::events::{Display, JsonEvents, Lines, Live, LogFile, RunUi};
use crate::output::{data_line, duration, note, table};
use crate::settings::{Settings, run_options_with_window};
use crate::ui::TerminalUi;

pub(crate) fn run_upgrades(settings: &Settings, args: &Run, host: &Host) -> anyhow::Result<ExitCode> {
    let (confirmation, choice) = (&args.confirmation, &args.choice);
    // What runs, and how, is refused before anything is opened; so is a timings file that
    // cannot be read.
    let (target, mode) = chosen(settings, choice)?;
    let options = run_options_with_window(settings, args)?
        .with_target(target)
        .with_mode(mode);
    if choice.dry_run {
        return dry_run(settings, &options);
    }
    let prompts = TerminalUi::new(confirmation.yes_i_know);
    ensure_confirmable(&prompts, confirmation)?;
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
    let result =
        open_for(settings, mode).and_then(|engine| run_with(engine, settings, args, &options, &mut ui));
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

fn run_with(
    mut engine: Engine,
    settings: &Settings,
    args: &Run,
    options: &RunOptions,
    ui: &mut RunUi,
) -> anyhow::Result<ExitCode> {
    let (confirmation, choice) = (&args.confirmation, &args.choice);
    let mode = options.mode;
    if mode == RunMode::Rehearse {
        ui.rehearsal();
    }
    // The run reached the database: from now on it leaves a log.
    ui.activate_log();
    ui.target(&settings.url.to_string(), engine.backend());
    // Bounded like the run itself: a foreign lock holds up the plan no longer than the run.
    // Checks first: the preview runs the pre-run checks and the `pre_upgrade`s.
    let preview = engine.preview_run(ui, options)?;
    warn_ghosts(preview.status.ghosts.iter().map(|g| g.upgrade.as_str()));
    if let Some(refusal) = preview.refusal() {
        return Err(refusal.into());
    }
    if preview.is_up_to_date() {
        note(&nothing_to_do(&options.target));
        ui.nothing_to_do();
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        show_plan(settings, engine.backend(), &preview, options);
    }
    if let Some(window) = options.max_duration {
        // A window too short for the first upgrade: the run would apply nothing; do not ask.
        if let Some(code) = plan_window(&preview, window) {
            return Ok(code);
        }
    }
    let question = match mode {
        RunMode::Rehearse => "Rehearse these upgrades?",
        _ => "Apply these upgrades?",
    };
    if !confirm(ui.prompts(), confirmation, question)? {
        bail!("cancelled; nothing was applied");
    }
    if mode == RunMode::Rehearse {
        let planned = preview.status.pending.clone();
        let result = engine.run_previewed(preview, ui, options);
        return rehearse::finish(result, &planned, choice.save_timings.as_deref());
    }
    // The preview was the run's look before the lock: it reads the state again only holding it,
    // and runs the checks again only if the pending upgrades changed meanwhile.
    let result = engine.run_previewed(preview, ui, options);
    let report = match &result {
        Ok(report) => Some(report),
        Err(e) => e.report(),
    };
    let mut written = Ok(());
    for applied in report.iter().flat_map(|r| &r.applied) {
        // With `--json`, the stream has them.
        if written.is_ok() && !args.json {
            written = data_line(&format!(
                "applied {} ({})",
                applied.id,
                duration(applied.duration)
            ));
        }
    }
    // A run stopped at its window whose applied upgrades' post_upgrades then failed: say what
    // remains too; the failure is the exit code.
    if let Some((report, stop)) = report.and_then(|r| Some((r, r.stopped.as_ref()?)))
        && result.is_err()
    {
        stopped(report, stop);
    }
    // A failed run is the error to report, even when stdout went away too: a pipeline must not
    // read a closed pipe's quiet exit 0 for it.
    let report = result?;
    written?;
    if let Some(stop) = &report.stopped {
        return Ok(stopped(&report, stop));
    }
    if report.applied.is_empty() {
        note("nothing to do: another runner applied everything");
    } else if mode == RunMode::Atomic {
        note("all of them in one transaction");
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan on stderr, for a person: how many upgrades, where, how, the estimated total; each
/// upgrade with its estimate (and measured duration), what it does; the checks that passed.
fn show_plan(settings: &Settings, backend: Backend, preview: &RunPreview, options: &RunOptions) {
    let (verb, how) = match options.mode {
        RunMode::Atomic => ("apply to", ", all in one transaction"),
        RunMode::Rehearse => ("rehearse on", ", then roll back"),
        _ => ("apply to", ""),
    };
    note(&format!(
        "{} upgrade(s) to {verb} {} ({backend}){how}, estimated {}:",
        preview.status.pending.len(),
        settings.url,
        estimates::total(&preview.expected)
    ));
    let timings = !options.timings.is_empty();
    let plan: Vec<Vec<String>> = preview
        .status
        .pending
        .iter()
        .zip(&preview.expected)
        .map(|(u, estimate)| {
            let mut row = vec![format!("  {}", u.id()), estimates::own(estimate)];
            if timings {
                row.push(estimates::measured(estimate));
            }
            row.push(summary(u, &preview.status));
            row
        })
        .collect();
    let header: &[&str] = if timings {
        &["  UPGRADE", "ESTIMATE", "MEASURED", "WHAT IT DOES"]
    } else {
        &["  UPGRADE", "ESTIMATE", "WHAT IT DOES"]
    };
    note(table(header, &plan).trim_end());
    note(&checks_passed(preview));
}

/// The plan's line about the checks, which all passed (a failure is the run's error).
fn checks_passed(preview: &RunPreview) -> String {
    if preview.checks.is_empty() {
        return "checks: none to run".into();
    }
    let names: Vec<String> = preview
        .checks
        .iter()
        .map(|name| {
            if preview.status.pending.iter().any(|u| u.id() == name) {
                format!("pre_upgrade of {name}")
            } else {
                name.clone()
            }
        })
        .collect();
    format!("checks passed ({}): {}", names.len(), names.join("; "))
}
