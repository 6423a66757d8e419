//! `explain <id>`: one upgrade, with what the plan and the database's history say about it.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use upgrader_core::{Explanation, Journal, Registry, Related, RunEntry, UpgradeState};

use crate::Host;
use crate::cli::Explain;
use crate::commands::{applied_at, by, timestamp, warn_ghosts};
use crate::output::{self, data, duration};
use crate::refused::Refused;
use crate::settings::{Settings, inspect};
use crate::ui::TerminalUi;

/// Its estimate, when there is one to give.
enum Estimate {
    /// Applied already: nothing to estimate.
    NotNeeded,
    /// The upgrade has no estimate function.
    None,
    /// Its estimate function failed (said on stderr).
    Failed,
    /// What its estimate function says.
    Took(Duration),
}

pub(crate) fn explain(settings: &Settings, args: &Explain, host: &Host) -> anyhow::Result<ExitCode> {
    // An id that is not linked is refused before anything is opened; in a binary that links no
    // upgrade at all, that is the error, not the id.
    let registry = Registry::linked();
    if registry.upgrades().is_empty() {
        return Err(upgrader_core::Error::NothingLinked.into());
    }
    let Some(upgrade) = registry.get(&args.id).copied() else {
        return Err(unknown(&registry, &args.id, host).into());
    };
    if let Some(active) = settings.packages.as_deref()
        && !active.iter().any(|m| m == upgrade.module())
    {
        return Err(Refused::new(
            format!(
                "`{}` belongs to the module `{}`, which is not active: `packages` in the configuration leaves it out",
                upgrade.id(),
                upgrade.module()
            ),
            format!("the active modules are: {}", active.join(", ")),
        )
        .into());
    }
    let mut engine = inspect(settings)?;
    let status = engine.status()?;
    warn_ghosts(status.ghosts.iter().map(|g| g.upgrade.as_str()));
    let mut explanation = Explanation::new(engine.plan(), &status, upgrade.id())
        .ok_or_else(|| anyhow::anyhow!("`{}` is not in the plan", upgrade.id()))?;
    let estimate = if explanation.state.is_applied() {
        Estimate::NotNeeded
    } else if !upgrade.has_estimate() {
        Estimate::None
    } else {
        let mut ui = TerminalUi::new(true);
        match engine.estimates(&[upgrade], &mut ui).pop().and_then(|(_, e)| e) {
            Some(took) => Estimate::Took(took),
            None => Estimate::Failed,
        }
    };
    // The journal's run that recorded it (the status does not read it), and that run's row.
    if let Some(record) = &mut explanation.record {
        record.run = engine
            .applied()?
            .into_iter()
            .find(|r| r.upgrade == record.upgrade)
            .and_then(|r| r.run);
    }
    let run = match explanation.record.as_ref().and_then(|r| r.run) {
        Some(id) => match engine.runs(None)? {
            Journal::Kept { runs } => runs.into_iter().find(|r| r.id == id),
            _ => None,
        },
        None => None,
    };
    if args.json {
        output::json(&explanation_json(&explanation, &estimate))?;
    } else {
        data(&explanation_text(&explanation, &estimate, run.as_ref()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// An id no linked upgrade has, with the closest one when there is one.
pub(crate) fn unknown(registry: &Registry, id: &str, host: &Host) -> Refused {
    let closest = registry
        .upgrades()
        .iter()
        .map(|u| (edit_distance(id, u.id()), u.id()))
        .filter(|&(distance, _)| distance <= 3.max(id.chars().count() / 5))
        .min();
    let list = format!("`{} show graph --format json` lists every upgrade", host.name);
    let hint = match closest {
        Some((_, near)) => format!("did you mean `{near}`? {list}"),
        None => list,
    };
    Refused::new(format!("no linked upgrade has the id `{id}`"), hint)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

fn related_text(related: &[Related]) -> Vec<String> {
    related
        .iter()
        .map(|r| format!("{} ({})", r.id, r.state))
        .collect()
}

fn explanation_text(e: &Explanation, estimate: &Estimate, run: Option<&RunEntry>) -> String {
    let upgrade = &e.upgrade;
    let mut lines: Vec<(&str, Vec<String>)> = Vec::new();
    let kind = if upgrade.is_release() { " (a release)" } else { "" };
    lines.push(("upgrade", vec![format!("{}{kind}", upgrade.id())]));
    lines.push(("module", vec![upgrade.module().to_owned()]));
    let source = upgrade.source().map_or_else(
        || "unknown (registered by hand)".to_owned(),
        |s| {
            format!(
                "{}:{} (crate {} {})",
                s.file, s.line, s.crate_name, s.crate_version
            )
        },
    );
    lines.push(("source", vec![source]));
    lines.push(("state", vec![state_text(e)]));
    if let Some(record) = &e.record {
        let run = match (record.run, run) {
            (Some(id), Some(run)) => format!(
                "{id}: a {} started {} UTC by {}",
                run.kind,
                timestamp(&run.started),
                by(run)
            ),
            (Some(id), None) => id.to_string(),
            (None, _) => "- (recorded before the database had a run journal, or adopted)".to_owned(),
        };
        lines.push(("run", vec![run]));
    }
    let estimate = match estimate {
        Estimate::NotNeeded => "- (applied already)".to_owned(),
        Estimate::None => "- (it has no estimate)".to_owned(),
        Estimate::Failed => "- (its estimate failed)".to_owned(),
        Estimate::Took(took) => duration(*took),
    };
    lines.push(("estimate", vec![estimate]));
    let or_nothing = |list: Vec<String>| {
        if list.is_empty() {
            vec!["nothing".to_owned()]
        } else {
            list
        }
    };
    lines.push(("depends on", or_nothing(related_text(&e.dependencies))));
    lines.push(("to run first", or_nothing(related_text(&e.pending_dependencies))));
    lines.push(("needed by", or_nothing(related_text(&e.dependents))));
    lines.push((
        "dependents",
        vec![format!(
            "{} direct, {} in all",
            e.dependents.len(),
            e.all_dependents
        )],
    ));
    let width = lines.iter().map(|(key, _)| key.len()).max().unwrap_or(0) + 2;
    let mut out = String::new();
    for (key, values) in lines {
        for (i, value) in values.iter().enumerate() {
            let key = if i == 0 { format!("{key}:") } else { String::new() };
            let _ = writeln!(out, "{key:<width$}{value}");
        }
    }
    out.push('\n');
    for line in upgrade.info().lines() {
        let _ = writeln!(out, "{line}");
    }
    out
}

fn state_text(e: &Explanation) -> String {
    let recorded = |record: &upgrader_core::history::AppliedRecord| {
        let took = record.duration_ms.map_or_else(String::new, |ms| {
            format!(", took {}", duration(Duration::from_millis(ms.unsigned_abs())))
        });
        format!(
            "applied {}{took}, recorded by {}",
            match &record.applied {
                Some(at) => format!("{} UTC", timestamp(at)),
                None => format!("at an {} time", applied_at(None)),
            },
            record.method
        )
    };
    match e.state {
        UpgradeState::Applied => e.record.as_ref().map_or_else(|| "applied".to_owned(), recorded),
        UpgradeState::Edited => {
            let applied = e.record.as_ref().map_or_else(|| "applied".to_owned(), recorded);
            match &e.edited {
                Some(edited) => format!(
                    "edited: {applied}; its code changed since (checksum then {}, now {})",
                    edited.recorded, edited.current
                ),
                None => format!("edited: {applied}; its code changed since"),
            }
        }
        UpgradeState::Implied => match &e.implied_by {
            Some(by) => format!("implied: not in the history, counted as applied because `{by}` is recorded"),
            None => "implied: not in the history, counted as applied".to_owned(),
        },
        UpgradeState::Interrupted => match &e.started {
            Some(started) => format!("interrupted: {started}"),
            None => "interrupted".to_owned(),
        },
        UpgradeState::Running => format!(
            "running now{}",
            e.running_by
                .as_ref()
                .map_or_else(String::new, |holder| format!(" ({holder})"))
        ),
        other => other.to_string(),
    }
}

fn related_json(related: &[Related]) -> Vec<serde_json::Value> {
    related
        .iter()
        .map(|r| json!({"id": r.id, "state": r.state.as_str()}))
        .collect()
}

/// The JSON shape (README, "explain").
fn explanation_json(e: &Explanation, estimate: &Estimate) -> serde_json::Value {
    let upgrade = &e.upgrade;
    let source = upgrade.source().map(|s| {
        json!({
            "file": s.file,
            "line": s.line,
            "crate": s.crate_name,
            "crate_version": s.crate_version,
        })
    });
    let applied = e.record.as_ref().map(|r| {
        json!({
            "at": r.applied.as_ref().map(timestamp),
            "duration_ms": r.duration_ms,
            "method": r.method,
            "checksum": r.checksum,
            "run_id": r.run,
        })
    });
    let started = e.started.as_ref().map(|s| {
        json!({
            "at": timestamp(&s.started),
            "runner": s.runner,
            "error": s.error,
        })
    });
    let estimate_secs = match estimate {
        Estimate::Took(took) => Some(took.as_secs_f64()),
        _ => None,
    };
    json!({
        "upgrade": upgrade.id(),
        "module": upgrade.module(),
        "release": upgrade.is_release(),
        "info": upgrade.info(),
        "source": source,
        "checksum": upgrade.checksum(),
        "state": e.state.as_str(),
        "applied": applied,
        "edited": e.edited.as_ref().map(|d| json!({"recorded": d.recorded, "current": d.current})),
        "implied_by": e.implied_by,
        "started": started,
        "running_by": e.running_by,
        "has_estimate": upgrade.has_estimate(),
        "estimate_secs": estimate_secs,
        "depends_on": related_json(&e.dependencies),
        "pending_dependencies": related_json(&e.pending_dependencies),
        "dependents": related_json(&e.dependents),
        "all_dependents": e.all_dependents,
    })
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_characters() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("initail", "initial"), 2);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("é", "e"), 1);
    }
}
