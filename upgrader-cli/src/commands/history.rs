//! `show history`: the run journal, newest first.

use std::process::ExitCode;

use serde_json::json;
use upgrader_core::{Journal, RunEntry, RunOutcome};

use crate::cli::History;
use crate::commands::timestamp;
use crate::output::{self, data, duration, note, table};
use crate::settings::{Settings, inspect};

pub(crate) fn show_history(settings: &Settings, args: &History) -> anyhow::Result<ExitCode> {
    let mut engine = inspect(settings)?;
    let limit = args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let journal = engine.runs(limit)?;
    let (runs, kept, history) = match &journal {
        Journal::Kept { runs } => (runs.as_slice(), true, true),
        Journal::Absent { history } => (&[][..], false, *history),
        // A state a newer engine adds: not "no runs".
        _ => anyhow::bail!("the run journal is in a state this program does not know"),
    };
    if args.json {
        let runs: Vec<_> = runs.iter().map(run_json).collect();
        output::json(&json!({"journal": kept, "history": history, "runs": runs}))?;
    } else if runs.is_empty() {
        match (kept, history) {
            (true, _) => note("no run is recorded in the journal"),
            (false, true) => note(
                "no journal: this database's history was written by a version of the engine that kept none, so the runs before it were not recorded; the next command that changes the history starts it",
            ),
            (false, false) => note("no run has been recorded: the database has no history yet"),
        }
    } else {
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|run| {
                vec![
                    run.id.to_string(),
                    run.kind.clone(),
                    timestamp(&run.started),
                    took(run),
                    by(run),
                    outcome(run),
                ]
            })
            .collect();
        data(&table(
            &["RUN", "KIND", "STARTED (UTC)", "TOOK", "BY", "OUTCOME"],
            &rows,
        ))?;
    }
    if !kept && history && args.json {
        note("no journal: the runs before this version of the engine were not recorded");
    }
    Ok(ExitCode::SUCCESS)
}

fn took(run: &RunEntry) -> String {
    match run.finished {
        Some(finished) => duration((finished - run.started).to_std().unwrap_or_default()),
        None => "-".into(),
    }
}

/// `user@host, pid N, program version`.
pub(crate) fn by(run: &RunEntry) -> String {
    let who = match (&run.user, &run.host) {
        (Some(user), Some(host)) => format!("{user}@{host}"),
        (Some(user), None) => user.clone(),
        (None, Some(host)) => format!("?@{host}"),
        (None, None) => "?".into(),
    };
    let pid = run.pid.map_or_else(String::new, |pid| format!(" pid {pid}"));
    let program = match (&run.program, &run.program_version) {
        (Some(program), Some(version)) => format!(" ({program} {version})"),
        (Some(program), None) => format!(" ({program})"),
        _ => String::new(),
    };
    format!("{who}{pid}{program}")
}

/// What it did, as `applied 3: a, b, c`, one group per kind of action, in order.
fn what_it_did(run: &RunEntry) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for u in &run.upgrades {
        match groups.iter_mut().find(|(action, _)| *action == u.action) {
            Some((_, ids)) => ids.push(&u.upgrade),
            None => groups.push((&u.action, vec![&u.upgrade])),
        }
    }
    let groups: Vec<String> = groups
        .into_iter()
        .map(|(action, ids)| {
            let shown: Vec<&str> = ids.iter().copied().take(3).collect();
            let more = match ids.len() {
                0..=3 => String::new(),
                n => format!(" and {} more", n - 3),
            };
            format!("{action} {}: {}{more}", ids.len(), shown.join(", "))
        })
        .collect();
    groups.join("; ")
}

fn outcome(run: &RunEntry) -> String {
    let did = what_it_did(run);
    let mut text = match &run.outcome {
        RunOutcome::Succeeded if did.is_empty() => "succeeded".to_owned(),
        RunOutcome::Succeeded => format!("succeeded, {did}"),
        RunOutcome::Failed => {
            let error = run.error.as_deref().unwrap_or("(no error recorded)");
            let failed = match (&run.failed_upgrade, run.rolled_back) {
                (Some(id), Some(true)) => format!("failed: `{id}` failed, rolled back: {error}"),
                (Some(id), _) => format!("failed: `{id}` failed, left interrupted: {error}"),
                (None, _) => format!("failed: {error}"),
            };
            if did.is_empty() {
                failed
            } else {
                format!("{failed} (before it: {did})")
            }
        }
        RunOutcome::DidNotFinish => {
            let ended = "did not finish: the process was killed or lost its connection";
            if did.is_empty() {
                ended.to_owned()
            } else {
                format!("{ended} (before it: {did})")
            }
        }
        RunOutcome::Running(holder) => format!("running now ({holder})"),
        _ => "an outcome this program does not know".to_owned(),
    };
    if let Some(reason) = &run.reason {
        text.push_str(&format!("; reason: {reason}"));
    }
    if let Some(detail) = run.upgrades.iter().find_map(|u| u.detail.as_deref()) {
        text.push_str(&format!(" ({detail})"));
    }
    text
}

/// The JSON shape (README, "The run journal").
fn run_json(run: &RunEntry) -> serde_json::Value {
    let running_by = match &run.outcome {
        RunOutcome::Running(holder) => Some(holder.as_str()),
        _ => None,
    };
    json!({
        "run_id": run.id,
        "kind": run.kind,
        "started": timestamp(&run.started),
        "finished": run.finished.as_ref().map(timestamp),
        "duration_ms": run.finished.map(|f| (f - run.started).num_milliseconds()),
        "outcome": run.outcome.as_str(),
        "running_by": running_by,
        "user": run.user,
        "host": run.host,
        "pid": run.pid,
        "program": run.program,
        "program_version": run.program_version,
        "applied": run.applied().collect::<Vec<_>>(),
        "upgrades": run.upgrades.iter().map(|u| json!({"upgrade": u.upgrade, "action": u.action, "detail": u.detail})).collect::<Vec<_>>(),
        "failed_upgrade": run.failed_upgrade,
        "error": run.error,
        "rolled_back": run.rolled_back,
        "warnings": run.warnings,
        "reason": run.reason,
    })
}
