//! `status --fleet` (a row per target, then a count per state) and `show pending --fleet` (the
//! targets grouped by the upgrades they have pending). Every target is read, `--jobs` at a time;
//! one that cannot be read is said to be so, never counted as up to date.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::json;
use upgrader_core::fleet::Looked;
use upgrader_core::{Error, Readiness, ReadinessState};

use super::progress::error_text;
use crate::cli;
use crate::commands::status_exit_code;
use crate::exit;
use crate::output::{self, StdoutFailed, data_line, note, table};
use crate::settings::{Settings, checked_graph, inspect_at};

/// A target's state as a fleet row names it: a readiness state, or why it cannot be told.
fn state_name(readiness: &Result<Readiness, Error>) -> &'static str {
    match readiness {
        Ok(readiness) => readiness.state().name(),
        Err(Error::Connect { .. } | Error::BackendNotCompiled { .. }) => "unreachable",
        Err(_) => "unknown",
    }
}

/// Reads every target of the fleet.
fn look(settings: &Settings, args: &cli::Fleet) -> anyhow::Result<Vec<Looked>> {
    // The graph's problems first, before any target is read; then checked once for all of them.
    let graph = checked_graph(settings)?;
    let fleet = super::fleet(settings, args)?;
    Ok(fleet.look(
        &|url| inspect_at(settings, &graph, url),
        super::jobs(settings, args),
    ))
}

/// The exit code of a fleet's status: 1 when a target cannot be told, else the most severe state.
fn fleet_exit_code(looked: &[Looked]) -> u8 {
    if looked.iter().any(|l| l.readiness.is_err()) {
        return exit::FAILURE;
    }
    looked
        .iter()
        .filter_map(|l| l.readiness.as_ref().ok())
        .map(Readiness::state)
        .max()
        .map_or(exit::UP_TO_DATE, status_exit_code)
}

pub(crate) fn status(settings: &Settings, json: bool, args: &cli::Fleet) -> anyhow::Result<ExitCode> {
    let looked = look(settings, args)?;
    let code = fleet_exit_code(&looked);
    let mut summary: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &looked {
        *summary.entry(state_name(&l.readiness)).or_default() += 1;
    }
    let printed = if json {
        let rows: Vec<_> = looked
            .iter()
            .map(|l| {
                let (pending, applied, states) = match &l.readiness {
                    Ok(r) => (
                        Some(r.pending.iter().map(|u| u.id()).collect::<Vec<_>>()),
                        Some(r.applied),
                        r.states().iter().map(|s| s.name()).collect::<Vec<_>>(),
                    ),
                    Err(_) => (None, None, Vec::new()),
                };
                json!({
                    "target": l.target.name(),
                    "origin": l.target.origin,
                    "state": state_name(&l.readiness),
                    "states": states,
                    "exit_code": l.readiness.as_ref().map_or(exit::FAILURE, |r| status_exit_code(r.state())),
                    "applied": applied,
                    "pending": pending,
                    "error": l.readiness.as_ref().err().map(error_text),
                })
            })
            .collect();
        output::json(&json!({"targets": rows, "summary": summary, "exit_code": code}))
    } else {
        print_status(&looked, &summary).map_err(anyhow::Error::from)
    };
    output::answer_stands(printed, code)
}

fn print_status(looked: &[Looked], summary: &BTreeMap<&str, usize>) -> Result<(), StdoutFailed> {
    let rows: Vec<Vec<String>> = looked
        .iter()
        .map(|l| {
            let detail = match &l.readiness {
                Ok(r) if r.state() == ReadinessState::UpToDate => format!("{} applied", r.applied),
                Ok(r) if r.states().len() > 1 => {
                    let states: Vec<String> = r.states().iter().map(ToString::to_string).collect();
                    format!(
                        "{} pending, {} applied ({})",
                        r.pending.len(),
                        r.applied,
                        states.join(", ")
                    )
                }
                Ok(r) => format!("{} pending, {} applied", r.pending.len(), r.applied),
                Err(e) => error_text(e),
            };
            vec![l.target.name(), state_name(&l.readiness).to_owned(), detail]
        })
        .collect();
    output::data(&table(&["TARGET", "STATE", "DETAIL"], &rows))?;
    let counts: Vec<String> = summary.iter().map(|(state, n)| format!("{state}: {n}")).collect();
    data_line(&format!("{} target(s): {}", looked.len(), counts.join(", ")))
}

pub(crate) fn show_pending(settings: &Settings, json: bool, args: &cli::Fleet) -> anyhow::Result<ExitCode> {
    let looked = look(settings, args)?;
    // Targets with the same pending upgrades, in the same order, together; the largest group
    // first.
    let mut groups: BTreeMap<Vec<&str>, Vec<&Looked>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for l in &looked {
        match &l.readiness {
            Ok(r) => groups
                .entry(r.pending.iter().map(|u| u.id()).collect())
                .or_default()
                .push(l),
            Err(e) => unknown.push((l, e)),
        }
    }
    let mut groups: Vec<(Vec<&str>, Vec<&Looked>)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    let code = if unknown.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    };
    if json {
        output::json(&json!({
            "groups": groups.iter().map(|(pending, targets)| json!({
                "pending": pending,
                "targets": targets.iter().map(|l| l.target.name()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "unknown": unknown.iter().map(|(l, e)| json!({
                "target": l.target.name(),
                "origin": l.target.origin,
                "state": state_name(&l.readiness),
                "error": error_text(e),
            })).collect::<Vec<_>>(),
        }))?;
        return Ok(code);
    }
    for (pending, targets) in &groups {
        let names: Vec<String> = targets.iter().map(|l| l.target.name()).collect();
        if pending.is_empty() {
            data_line(&format!(
                "{} target(s): up to date, nothing pending",
                targets.len()
            ))?;
        } else {
            data_line(&format!(
                "{} target(s): {} upgrade(s) pending",
                targets.len(),
                pending.len()
            ))?;
            for id in pending {
                data_line(&format!("  {id}"))?;
            }
        }
        data_line(&format!("  on: {}", shortened(&names, 10)))?;
    }
    for (l, e) in &unknown {
        data_line(&format!(
            "cannot tell: {} ({}): {}",
            l.target.name(),
            state_name(&l.readiness),
            error_text(e)
        ))?;
    }
    if !unknown.is_empty() {
        note(&format!(
            "{} of {} target(s) could not be read: what they have pending is unknown",
            unknown.len(),
            looked.len()
        ));
    }
    Ok(code)
}

/// The first `at_most` names, then how many more.
fn shortened(names: &[String], at_most: usize) -> String {
    if names.len() <= at_most {
        return names.join(", ");
    }
    format!(
        "{}, and {} more",
        names[..at_most].join(", "),
        names.len() - at_most
    )
}
