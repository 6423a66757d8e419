//! `run`: the plan, the confirmation, the upgrades.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::Confirmation;
use crate::commands::{confirm, ensure_confirmable, summary, warn_ghosts};
use crate::output::{data_line, duration, note, table};
use crate::settings::{Settings, open, run_options};
use crate::ui::TerminalUi;

pub(crate) fn run_upgrades(settings: &Settings, confirmation: &Confirmation) -> anyhow::Result<ExitCode> {
    let mut ui = TerminalUi::new(confirmation.yes_i_know);
    ensure_confirmable(&ui, confirmation)?;
    let mut engine = open(settings)?;
    let options = run_options(settings, confirmation);
    // Bounded like the run itself: a foreign lock holds up the plan no longer than the run.
    let preview = engine.preview_run(&mut ui, &options)?;
    warn_ghosts(preview.status.ghosts.iter().map(|g| g.upgrade.as_str()));
    if let Some(refusal) = preview.refusal() {
        return Err(refusal.into());
    }
    if preview.is_up_to_date() {
        note("nothing to do: the database is up to date");
        return Ok(ExitCode::SUCCESS);
    }
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
        .map(|u| vec![format!("  {}", u.id()), summary(u, &preview.status)])
        .collect();
    note(table(&["  UPGRADE", "WHAT IT DOES"], &plan).trim_end());
    if !confirm(&mut ui, confirmation, "Apply these upgrades?")? {
        bail!("cancelled; nothing was applied");
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
        note(&format!("{} upgrade(s) applied", report.applied.len()));
    }
    Ok(ExitCode::SUCCESS)
}
