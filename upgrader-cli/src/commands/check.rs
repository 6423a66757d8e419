//! `check`: can a run go ahead?

use std::process::ExitCode;

use anyhow::bail;
use serde_json::json;
use upgrader_core::EditedUpgrade;

use crate::Host;
use crate::commands::ghost;
use crate::hints::edited_hint;
use crate::output::{self, data_line, duration, note};
use crate::refused::Refused;
use crate::settings::{Settings, inspect};
use crate::ui::TerminalUi;

pub(crate) fn check(settings: &Settings, json: bool, host: &Host) -> anyhow::Result<ExitCode> {
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
    // An edit is a gate, not a warning: `run` refuses while one exists.
    let edited = EditedUpgrade::all_of(status);
    errors.extend(edited.iter().map(|e| format!("edited after it was applied: {e}")));
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
    } else if let Some(first) = edited.first() {
        Err(Refused::new(
            format!("{} problem(s) found", errors.len()),
            edited_hint(&first.id, host),
        )
        .into())
    } else {
        bail!("{} problem(s) found", errors.len())
    }
}
