//! `check`: can a run go ahead?

use std::process::ExitCode;

use anyhow::bail;
use serde_json::json;

use crate::commands::{checkpoint_json, ghost, how};
use crate::output::{self, data_line, duration, note};
use crate::settings::{Settings, inspect};
use crate::ui::TerminalUi;

pub(crate) fn check(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
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
            .map(|(id, e)| {
                let transaction = engine.registry().get(id).is_none_or(|u| u.transactional());
                json!({"upgrade": id, "estimate_secs": e.map(|e| e.as_secs_f64()), "transaction": transaction, "checkpoint": status.checkpoint(id).map(checkpoint_json)})
            })
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
            match engine.registry().get(id).and_then(|u| how(u, status)) {
                Some(how) => data_line(&format!("  {id} ({how})"))?,
                None => data_line(&format!("  {id}"))?,
            }
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
