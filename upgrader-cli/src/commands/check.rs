//! `check`: can a run go ahead?

use std::process::ExitCode;

use anyhow::bail;
use serde_json::json;
use upgrader_core::{EditedUpgrade, Estimate};

use crate::Host;
use crate::commands::{checkpoint_json, ghost, how};
use crate::estimates;
use crate::hints::edited_hint;
use crate::output::{self, data_line, note};
use crate::refused::Refused;
use crate::settings::{Settings, inspect};
use crate::ui::TerminalUi;

pub(crate) fn check(settings: &Settings, json: bool, host: &Host) -> anyhow::Result<ExitCode> {
    // Before the database: a timings file that cannot be read is refused at once.
    let timings = settings.timings()?;
    let mut engine = inspect(settings)?;
    let mut ui = TerminalUi::new(true);
    let report = engine.check(&mut ui)?;
    let status = &report.status;
    let expected = report.expected(&timings);
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
        let pending: Vec<_> = expected
            .iter()
            .map(|e| {
                let transaction = engine.registry().get(&e.id).is_none_or(|u| u.transactional());
                let mut row = json!({"upgrade": e.id, "transaction": transaction, "checkpoint": status.checkpoint(&e.id).map(checkpoint_json)});
                for (key, value) in estimates::json_fields(e) {
                    row[key] = value;
                }
                row
            })
            .collect();
        output::json(&json!({
            "ok": errors.is_empty(),
            "errors": errors,
            "warnings": warnings,
            "pending": pending,
            "total_estimate_secs": Estimate::total(&expected).as_secs_f64(),
        }))?;
    } else {
        data_line(&format!("graph: {} upgrades, ok", engine.plan().upgrades().len()))?;
        data_line(&format!("applied: {}", status.applied.len()))?;
        data_line(&format!(
            "pending: {} upgrade(s), estimated {}",
            status.pending.len(),
            estimates::total(&expected)
        ))?;
        // Each with its estimate, and the measured duration when there is a timings file.
        let width = expected.iter().map(|e| e.id.chars().count()).max().unwrap_or(0);
        for e in &expected {
            let mut line = format!("  {:<width$}  {}", e.id, estimates::own(e));
            if settings.timings.is_some() {
                match e.measured {
                    Some(_) => line.push_str(&format!(", measured {}", estimates::measured(e))),
                    None => line.push_str(", not measured"),
                }
            }
            if let Some(how) = engine.registry().get(&e.id).and_then(|u| how(u, status)) {
                line.push_str(&format!(" ({how})"));
            }
            data_line(&line)?;
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
