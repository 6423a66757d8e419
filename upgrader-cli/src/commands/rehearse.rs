//! `run --rehearse`: what the rehearsal did before it rolled back, and the durations it measured
//! (`--save-timings FILE`).

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use upgrader_core::{AppliedUpgrade, Error, RunReport, Upgrade};

use crate::output::{data_line, duration, note};
use crate::refused::Refused;

/// Prints each rehearsed upgrade with its measured duration, then says how the rehearsal ended;
/// saves the durations to `save` when it went through (a rehearsal that failed writes no file).
pub(crate) fn finish(
    result: Result<RunReport, Error>,
    planned: &[Upgrade],
    save: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (rehearsed, failed): (&[AppliedUpgrade], Option<&str>) = match &result {
        Ok(report) => (&report.applied, None),
        Err(Error::RolledBack { report, upgrade, .. }) => (&report.applied, upgrade.as_deref()),
        Err(_) => (&[], None),
    };
    let done = rehearsed.len() + usize::from(failed.is_some());
    let mut written = Ok(());
    for upgrade in rehearsed {
        if written.is_ok() {
            written = data_line(&format!(
                "rehearsed {} ({})",
                upgrade.id,
                duration(upgrade.duration)
            ));
        }
    }
    if let Some(id) = failed
        && written.is_ok()
    {
        written = data_line(&format!("failed {id}"));
    }
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            let rest: Vec<&str> = planned.iter().skip(done).map(|u| u.id()).collect();
            if !rest.is_empty() && matches!(error, Error::RolledBack { .. }) {
                note(&format!("not reached: {}", rest.join(", ")));
            }
            return Err(error.into());
        }
    };
    written?;
    if let Some(path) = save {
        save_timings(path, &report.applied, planned)?;
        note(&format!("timings written to {}", path.display()));
    }
    if report.applied.is_empty() {
        note("nothing was rehearsed: another runner applied everything");
    } else {
        note(&format!(
            "{} upgrade(s) rehearsed in one transaction, then rolled back: the database is as it was",
            report.applied.len()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The measured durations, as `show applied --json` lists applied upgrades (`applied` is null:
/// nothing was applied; `method` is `rehearse`).
fn save_timings(path: &Path, rehearsed: &[AppliedUpgrade], planned: &[Upgrade]) -> anyhow::Result<()> {
    let rows: Vec<_> = rehearsed
        .iter()
        .map(|r| {
            let checksum = planned
                .iter()
                .find(|u| u.id() == r.id)
                .and_then(Upgrade::checksum);
            json!({
                "upgrade": r.id,
                "applied": null,
                "duration_ms": u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
                "checksum": checksum,
                "method": "rehearse",
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&rows)?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| {
        Refused::new(
            format!("cannot write the timings to {}: {e}", path.display()),
            "check the path and its permissions; the rehearsal changed nothing, run it again",
        )
    })?;
    Ok(())
}
