//! `populate`, `mark` and `resolve`: repairing a history by hand.

use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::cli::{self, Confirmation};
use crate::commands::{confirm, ensure_confirmable};
use crate::output::{data_line, note};
use crate::settings::{Settings, open, run_options};
use crate::ui::TerminalUi;

pub(crate) fn populate(settings: &Settings, confirmation: &Confirmation) -> anyhow::Result<ExitCode> {
    let mut ui = TerminalUi::new(confirmation.yes_i_know);
    // Before opening: a refusal must not create a missing SQLite file.
    ensure_confirmable(&ui, confirmation)?;
    let mut engine = open(settings)?;
    let pending = engine.status()?.pending.len();
    let question = format!("Record all {pending} pending upgrade(s) as applied WITHOUT running them?");
    if !confirm(&mut ui, confirmation, &question)? {
        bail!("cancelled; nothing was recorded");
    }
    let recorded = engine.populate(&mut ui, &run_options(settings, confirmation))?;
    for id in &recorded {
        data_line(&format!("recorded {id}"))?;
    }
    note(&format!("{} upgrade(s) recorded as applied", recorded.len()));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn mark(settings: &Settings, args: &cli::Mark) -> anyhow::Result<ExitCode> {
    let mut ui = TerminalUi::new(args.confirmation.yes_i_know);
    ensure_confirmable(&ui, &args.confirmation)?;
    let mut engine = open(settings)?;
    let state = if args.applied { "applied" } else { "pending" };
    if !confirm(
        &mut ui,
        &args.confirmation,
        &format!("Mark {} as {state}?", args.ids.join(", ")),
    )? {
        bail!("cancelled; nothing was changed");
    }
    let options = run_options(settings, &args.confirmation);
    let changed = if args.applied {
        engine.mark_applied(&args.ids, args.force, &mut ui, &options)?
    } else {
        engine.mark_pending(&args.ids, args.with_dependents, &mut ui, &options)?
    };
    for id in &changed {
        let dependent = if args.ids.contains(id) {
            ""
        } else {
            " (a dependent)"
        };
        data_line(&format!("marked {id} {state}{dependent}"))?;
    }
    for id in args.ids.iter().filter(|id| !changed.contains(id)) {
        note(&format!("{id} was already {state}"));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn resolve(settings: &Settings, args: &cli::Resolve) -> anyhow::Result<ExitCode> {
    let mut ui = TerminalUi::new(args.confirmation.yes_i_know);
    ensure_confirmable(&ui, &args.confirmation)?;
    let mut engine = open(settings)?;
    let what = if args.retry {
        "run again at the next `run`"
    } else {
        "recorded as applied"
    };
    if !confirm(
        &mut ui,
        &args.confirmation,
        &format!("Mark interrupted {} to be {what}?", args.id),
    )? {
        bail!("cancelled; nothing was changed");
    }
    engine
        .resolve(
            &args.id,
            args.retry,
            &mut ui,
            &run_options(settings, &args.confirmation),
        )
        .with_context(|| format!("cannot resolve {}", args.id))?;
    data_line(&format!("{}: {what}", args.id))?;
    Ok(ExitCode::SUCCESS)
}
