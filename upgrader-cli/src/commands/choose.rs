//! `run --to`, `run -p`, `run --atomic` and `run --rehearse`, checked before anything is opened;
//! and `run --dry-run`: what the run would do, read through a connection that only reads.

use std::process::ExitCode;

use upgrader_core::{Engine, Error, Phase, Registry, RunMode, RunOptions, RunTarget, Upgrade};

use crate::cli::Choice;
use crate::commands::graph::check_modules;
use crate::commands::warn_ghosts;
use crate::output::{data, data_line, duration, first_line, note, table};
use crate::refused::Refused;
use crate::settings::{Settings, inspect, open};
use crate::ui::TerminalUi;

/// The run's target and mode, refused before any database is opened (so a refusal creates no
/// SQLite file and changes nothing): an id or a module no active upgrade has, a mode the
/// backend cannot give.
pub(crate) fn chosen(settings: &Settings, choice: &Choice) -> anyhow::Result<(RunTarget, RunMode)> {
    let mode = if choice.rehearse {
        RunMode::Rehearse
    } else if choice.atomic {
        RunMode::Atomic
    } else {
        RunMode::Normal
    };
    let target = match &choice.to {
        Some(id) => RunTarget::To(id.clone()),
        None if choice.modules.is_empty() => RunTarget::All,
        None => RunTarget::Modules(choice.modules.clone()),
    };
    if target == RunTarget::All && mode == RunMode::Normal {
        return Ok((target, mode));
    }
    let registry = Registry::linked();
    if registry.upgrades().is_empty() {
        return Err(Error::NothingLinked.into());
    }
    if let RunTarget::Modules(modules) = &target {
        check_modules(modules, settings.packages.as_deref())?;
    }
    if let (RunTarget::To(id), Some(active)) = (&target, settings.packages.as_deref())
        && let Some(upgrade) = registry.get(id)
        && !active.iter().any(|m| m == upgrade.module())
    {
        return Err(Refused::new(
            format!(
                "the upgrade `{id}` is not active: `packages` in the configuration leaves its module `{}` out",
                upgrade.module()
            ),
            format!(
                "the active modules are: {}; add `{}` to `packages` to run it",
                active.join(", "),
                upgrade.module()
            ),
        )
        .into());
    }
    // Against the linked upgrades: the engine checks and orders the graph when it opens, before
    // it connects (ordering it twice would cost a large application's run twice as much).
    target.validate_linked(&registry, settings.packages.as_deref())?;
    mode.supported_by(settings.url.backend())?;
    Ok((target, mode))
}

/// The engine for a run in `mode`. A rehearsal on an SQLite file that does not exist rehearses
/// on the empty database the file would be, in memory: it creates no file, as it changes nothing.
pub(crate) fn open_for(settings: &Settings, mode: RunMode) -> anyhow::Result<Engine> {
    let missing = settings.url.sqlite_path().is_some_and(
        |path| matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound),
    );
    if mode == RunMode::Rehearse && missing {
        return inspect(settings);
    }
    open(settings)
}

/// Why a run with this target has nothing to do.
pub(crate) fn nothing_to_do(target: &RunTarget) -> String {
    match target {
        RunTarget::To(id) => format!("nothing to do: `{id}` is already applied"),
        RunTarget::Modules(modules) => format!(
            "nothing to do: nothing of {} is pending",
            modules
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "nothing to do: the database is up to date".into(),
    }
}

/// `run --dry-run`: the plan `run` would show, with each upgrade's estimate and the checks that
/// would run, on stdout; read without a write connection or the lock, so nothing is changed (a
/// missing SQLite file is not created). Runs no upgrade's code but its estimate, as `run` does
/// before it asks; the checks are named, not run (`check` runs them).
pub(crate) fn dry_run(settings: &Settings, options: &RunOptions) -> anyhow::Result<ExitCode> {
    let mut ui = TerminalUi::new(true);
    let mut engine = inspect(settings)?;
    let preview = engine.preview_run(&mut ui, options)?;
    warn_ghosts(preview.status.ghosts.iter().map(|g| g.upgrade.as_str()));
    if let Some(refusal) = preview.refusal() {
        return Err(refusal.into());
    }
    if preview.is_up_to_date() {
        data_line(&nothing_to_do(&options.target))?;
        return Ok(ExitCode::SUCCESS);
    }
    let pending = &preview.status.pending;
    let how = match options.mode {
        RunMode::Atomic => "all in one transaction, committed at the end",
        _ => "each committed with its history row",
    };
    let mut out = format!(
        "would apply {} upgrade(s) to {} ({}), {how}, estimated {}:\n",
        pending.len(),
        settings.url,
        engine.backend(),
        duration(preview.total_estimate())
    );
    let rows: Vec<Vec<String>> = pending
        .iter()
        .zip(&preview.estimates)
        .map(|(u, (_, estimate))| {
            vec![
                format!("  {}", u.id()),
                estimate.map_or_else(|| "-".to_owned(), duration),
                first_line(u.info()).to_owned(),
            ]
        })
        .collect();
    out.push_str(&table(&["  UPGRADE", "ESTIMATE", "WHAT IT DOES"], &rows));
    out.push_str(&checks_line(
        &engine,
        "checks before the first upgrade",
        Phase::PreRun,
        pending,
    ));
    out.push_str(&checks_line(
        &engine,
        "checks after the last upgrade",
        Phase::PostRun,
        pending,
    ));
    data(&out)?;
    note("dry run: nothing was changed");
    Ok(ExitCode::SUCCESS)
}

fn checks_line(engine: &Engine, label: &str, phase: Phase, pending: &[Upgrade]) -> String {
    let own = match phase {
        Phase::PreRun => "pre_upgrade",
        _ => "post_upgrade",
    };
    let names: Vec<String> = engine
        .check_names(phase, pending)
        .into_iter()
        .map(|name| match pending.iter().any(|u| u.id() == name) {
            true => format!("{own} of {name}"),
            false => name.to_owned(),
        })
        .collect();
    if names.is_empty() {
        format!("{label}: none\n")
    } else {
        format!("{label}: {}\n", names.join(", "))
    }
}
