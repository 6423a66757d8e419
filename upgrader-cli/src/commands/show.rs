//! `show applied` and `show pending`.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use crate::commands::{applied_at, timestamp, warn_ghosts};
use crate::output::{self, data, duration, first_line, note, table};
use crate::settings::{Settings, inspect};
use crate::ui::TerminalUi;

pub(crate) fn show_applied(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let mut engine = inspect(settings)?;
    let applied = engine.applied()?;
    warn_ghosts(
        applied
            .iter()
            .map(|r| r.upgrade.as_str())
            .filter(|id| engine.registry().get(id).is_none()),
    );
    if json {
        let rows: Vec<_> = applied
            .iter()
            .map(|r| json!({"upgrade": r.upgrade, "applied": r.applied.as_ref().map(timestamp), "duration_ms": r.duration_ms, "checksum": r.checksum, "method": r.method, "run_id": r.run}))
            .collect();
        output::json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if applied.is_empty() {
        note("no upgrade has been applied to this database");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = applied
        .iter()
        .map(|r| {
            vec![
                r.upgrade.clone(),
                applied_at(r.applied.as_ref()),
                r.duration_ms.map_or("-".into(), |ms| {
                    duration(Duration::from_millis(ms.unsigned_abs()))
                }),
                r.method.clone(),
                r.run.map_or("-".into(), |run| run.to_string()),
            ]
        })
        .collect();
    data(&table(&["UPGRADE", "APPLIED (UTC)", "TOOK", "HOW", "RUN"], &rows))?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn show_pending(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let mut engine = inspect(settings)?;
    let status = engine.status()?;
    warn_ghosts(status.ghosts.iter().map(|g| g.upgrade.as_str()));
    let mut ui = TerminalUi::new(true);
    let estimates = engine.estimates(&status.pending, &mut ui);
    if json {
        let rows: Vec<_> = status
            .pending
            .iter()
            .zip(&estimates)
            .map(|(u, (_, e))| json!({"upgrade": u.id(), "info": u.info(), "estimate_secs": e.map(|e| e.as_secs_f64()), "depends_on": u.depends_on()}))
            .collect();
        let interrupted: Vec<_> = status
            .interrupted
            .iter()
            .map(|i| json!({"upgrade": i.upgrade, "started": timestamp(&i.started), "runner": i.runner, "error": i.error}))
            .collect();
        output::json(&json!({"pending": rows, "interrupted": interrupted}))?;
        return Ok(ExitCode::SUCCESS);
    }
    for interrupted in &status.interrupted {
        note(&format!("interrupted: {interrupted}"));
    }
    for (running, holder) in &status.running {
        note(&format!("running now: `{}` ({holder})", running.upgrade));
    }
    if status.pending.is_empty() {
        note("nothing is pending: the database is up to date");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = status
        .pending
        .iter()
        .zip(&estimates)
        .map(|(u, (_, e))| {
            vec![
                u.id().to_owned(),
                e.map_or("-".into(), duration),
                first_line(u.info()).to_owned(),
            ]
        })
        .collect();
    data(&table(&["UPGRADE", "ESTIMATE", "WHAT IT DOES"], &rows))?;
    let total = upgrader_core::total_estimate(&estimates);
    note(&format!(
        "{} pending, estimated {}",
        status.pending.len(),
        duration(total)
    ));
    Ok(ExitCode::SUCCESS)
}
