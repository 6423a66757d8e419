//! `show applied` and `show pending`.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use upgrader_core::Estimate;

use crate::commands::{applied_at, checkpoint_json, summary, timestamp, warn_ghosts};
use crate::estimates;
use crate::output::{self, data, duration, note, table};
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
    // Before the database: a timings file that cannot be read is refused at once.
    let timings = settings.timings()?;
    let mut engine = inspect(settings)?;
    let status = engine.status()?;
    warn_ghosts(status.ghosts.iter().map(|g| g.upgrade.as_str()));
    let mut ui = TerminalUi::new(true);
    let estimates = Estimate::list(&engine.estimates(&status.pending, &mut ui), &timings);
    if json {
        let rows: Vec<_> = status
            .pending
            .iter()
            .zip(&estimates)
            .map(|(u, e)| {
                let mut row = json!({"upgrade": u.id(), "info": u.info(), "depends_on": u.depends_on(), "transaction": u.transactional(), "checkpoint": status.checkpoint(u.id()).map(checkpoint_json)});
                for (key, value) in estimates::json_fields(e) {
                    row[key] = value;
                }
                row
            })
            .collect();
        let interrupted: Vec<_> = status
            .interrupted
            .iter()
            .map(|i| json!({"upgrade": i.upgrade, "started": timestamp(&i.started), "runner": i.runner, "error": i.error}))
            .collect();
        output::json(&json!({
            "pending": rows,
            "interrupted": interrupted,
            "total_estimate_secs": Estimate::total(&estimates).as_secs_f64(),
        }))?;
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
    // The measured column only when there is a timings file.
    let measured = settings.timings.is_some();
    let rows: Vec<Vec<String>> = status
        .pending
        .iter()
        .zip(&estimates)
        .map(|(u, e)| {
            let mut row = vec![u.id().to_owned(), estimates::own(e)];
            if measured {
                row.push(estimates::measured(e));
            }
            row.push(summary(u, &status));
            row
        })
        .collect();
    let header: &[&str] = if measured {
        &["UPGRADE", "ESTIMATE", "MEASURED", "WHAT IT DOES"]
    } else {
        &["UPGRADE", "ESTIMATE", "WHAT IT DOES"]
    };
    data(&table(header, &rows))?;
    note(&format!(
        "{} pending, estimated {}",
        status.pending.len(),
        estimates::total(&estimates)
    ));
    Ok(ExitCode::SUCCESS)
}
