//! `run`: the plan, the confirmation, the upgrades.

use std::process::ExitCode;

use anyhow::bail;

use upgrader_core::RunMode;

use crate::cli::{Choice, Confirmation};
use crate::commands::choose::{chosen, dry_run, nothing_to_do, open_for};
use crate::commands::{confirm, ensure_confirmable, rehearse, warn_ghosts};
use crate::output::{data_line, duration, first_line, note, table};
use crate::settings::{Settings, run_options};
use crate::ui::TerminalUi;

pub(crate) fn run_upgrades(
    settings: &Settings,
    confirmation: &Confirmation,
    choice: &Choice,
) -> anyhow::Result<ExitCode> {
    // What runs, and how, is refused before anything is opened.
    let (target, mode) = chosen(settings, choice)?;
    let options = run_options(settings, confirmation)
        .with_target(target)
        .with_mode(mode);
    if choice.dry_run {
        return dry_run(settings, &options);
    }
    let mut ui = TerminalUi::new(confirmation.yes_i_know);
    ensure_confirmable(&ui, confirmation)?;
    let mut engine = open_for(settings, mode)?;
    // Bounded like the run itself: a foreign lock holds up the plan no longer than the run.
    let preview = engine.preview_run(&mut ui, &options)?;
    warn_ghosts(preview.status.ghosts.iter().map(|g| g.upgrade.as_str()));
    if let Some(refusal) = preview.refusal() {
        return Err(refusal.into());
    }
    if preview.is_up_to_date() {
        note(&nothing_to_do(&options.target));
        return Ok(ExitCode::SUCCESS);
    }
    let (verb, how) = match mode {
        RunMode::Atomic => ("apply to", ", all in one transaction"),
        RunMode::Rehearse => ("rehearse on", ", then roll back"),
        _ => ("apply to", ""),
    };
    note(&format!(
        "{} upgrade(s) to {verb} {} ({}){how}, estimated {}:",
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
    let question = match mode {
        RunMode::Rehearse => "Rehearse these upgrades?",
        _ => "Apply these upgrades?",
    };
    if !confirm(&mut ui, confirmation, question)? {
        bail!("cancelled; nothing was applied");
    }
    if mode == RunMode::Rehearse {
        let planned = preview.status.pending.clone();
        let result = engine.run_previewed(preview, &mut ui, &options);
        return rehearse::finish(result, &planned, choice.save_timings.as_deref());
    }
    // The preview was the run's look before the lock: it reads the state again only holding it.
    let result = engine.run_previewed(preview, &mut ui, &options);
    let report = match &result {
        Ok(report) => Some(report),
        Err(e) => e.report(),
    };
    let mut written = Ok(());
    for applied in report.iter().flat_map(|r| &r.applied) {
        if written.is_ok() {
            written = data_line(&format!(
                "applied {} ({})",
                applied.id,
                duration(applied.duration)
            ));
        }
    }
    // A failed run is the error to report, even when stdout went away too: a pipeline must not
    // read a closed pipe's quiet exit 0 for it.
    let report = result?;
    written?;
    if report.applied.is_empty() {
        note("nothing to do: another runner applied everything");
    } else {
        let how = if mode == RunMode::Atomic {
            " in one transaction"
        } else {
            ""
        };
        note(&format!("{} upgrade(s) applied{how}", report.applied.len()));
    }
    Ok(ExitCode::SUCCESS)
}
