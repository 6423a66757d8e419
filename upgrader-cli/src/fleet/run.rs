//! `run --fleet`: the plan applied to every target, `--jobs` at a time, in a canary and waves;
//! a failure stops only its target (unless told otherwise); the summary lists every failure, and
//! the exit code says whether the fleet is done ([`exit::FLEET_FAILED`], [`exit::FLEET_STOPPED`]).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;
use upgrader_core::{FleetOptions, FleetReport, FleetStop, TargetOutcome};

use super::progress::{FleetProgress, error_text, outcome_name, outcome_text};
use crate::Host;
use crate::cli::Run;
use crate::commands::{chosen, confirm, ensure_confirmable};
use crate::events::{LogFile, count};
use crate::exit;
use crate::output::{data, duration, note, table};
use crate::settings::{Settings, checked_graph, open_at, run_options};
use crate::ui::TerminalUi;

/// How many targets at least are asked at a time what database they are, before the run.
const IDENTITY_JOBS: usize = 8;

pub(crate) fn run_fleet(settings: &Settings, args: &Run, host: &Host) -> anyhow::Result<ExitCode> {
    let confirmation = &args.confirmation;
    // What runs, and how, is refused before anything is opened; so is a timings file that cannot
    // be read.
    let (target, mode) = chosen(settings, &args.choice)?;
    let options = run_options(settings, confirmation)
        .with_timings(settings.timings()?)
        .with_target(target)
        .with_mode(mode);
    let mut prompts = TerminalUi::new(confirmation.yes_i_know);
    ensure_confirmable(&prompts, confirmation)?;
    let jobs = super::jobs(settings, &args.fleet);
    let mut fleet_options = FleetOptions::default()
        .with_jobs(jobs)
        .with_lock_timeout(options.lock_timeout);
    if let Some(k) = args.rollout.canary {
        fleet_options = fleet_options.with_canary(usize::try_from(k).unwrap_or(usize::MAX));
    }
    if let Some(w) = args.rollout.wave_size {
        fleet_options = fleet_options.with_wave_size(usize::try_from(w).unwrap_or(usize::MAX));
    }
    if args.rollout.fail_fast {
        fleet_options = fleet_options.with_fail_fast();
    }
    // The graph's problems first, as for one database; then checked once for every target.
    let graph = checked_graph(settings)?;
    // Before anything runs: the targets (a source that cannot be read, none, one listed twice,
    // one database under two names are refused).
    let fleet = super::fleet(settings, &args.fleet)?;
    // A server target is asked over a short connection of its own, which is mostly waiting: at
    // least eight at a time, so that `--jobs 1` does not pay for them one after the other.
    fleet.check_distinct(jobs.max(IDENTITY_JOBS))?;
    // Before anything is changed: a log file that cannot be written changes nothing.
    let mut log = match &settings.log_file {
        Some((path, explicit)) => LogFile::open(path, *explicit)?,
        None => None,
    };
    if let Some(log) = &mut log {
        log.activate();
        log.line(&format!("command: {}", crate::events::who(host)));
    }
    let how = rollout_text(&fleet_options);
    if !confirmation.yes_i_know {
        note(&format!(
            "{} in the fleet, {jobs} at a time{how}; each target's upgrades run as `run` runs them, every question an upgrade asks gets its default",
            count(fleet.targets().len(), "target"),
        ));
        if !confirm(
            &mut prompts,
            confirmation,
            "Apply the pending upgrades to every target?",
        )? {
            anyhow::bail!("cancelled; nothing was applied");
        }
    }
    let progress = FleetProgress::new(
        fleet.targets().len(),
        args.json,
        std::io::stderr().is_terminal(),
        log,
    );
    progress.emit(
        "fleet",
        json!({
            "targets": fleet.targets().len(),
            "jobs": jobs,
            "canary": fleet_options.canary,
            "wave_size": fleet_options.wave_size,
            "fail_fast": fleet_options.fail_fast,
        }),
    );
    let started = Instant::now();
    let report = fleet.run(
        &|url| open_at(settings, &graph, url),
        &options,
        &fleet_options,
        &progress,
    );
    let code = exit_code(&report);
    progress.emit(
        "fleet_done",
        json!({
            "targets": report.targets.len(),
            "done": report.targets.iter().filter(|t| matches!(t.outcome, TargetOutcome::Done(_))).count(),
            "failed": report.failed().count(),
            "not_started": not_started(&report),
            "stopped": report.stopped.map(stop_name),
            "exit_code": code,
            "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
    );
    let (stdout, log) = progress.finish();
    if !args.json {
        summary(&report, started.elapsed())?;
    }
    if let Some(e) = log {
        note(&format!("warning: {e}; the fleet went on"));
    }
    if let Some(e) = stdout.filter(|e| !e.is_closed_pipe()) {
        return Err(e.into());
    }
    Ok(ExitCode::from(code))
}

/// `, a canary of 2, then waves of 10, stopping at the first failure`.
fn rollout_text(options: &FleetOptions) -> String {
    let mut text = String::new();
    if options.canary > 0 {
        text.push_str(&format!(", a canary of {} first", options.canary));
    }
    if let Some(size) = options.wave_size {
        text.push_str(&format!(", in waves of {size}"));
    }
    if options.fail_fast {
        text.push_str(", stopping at the first failure");
    }
    text
}

fn not_started(report: &FleetReport) -> usize {
    report
        .targets
        .iter()
        .filter(|t| matches!(t.outcome, TargetOutcome::NotStarted))
        .count()
}

fn stop_name(stop: FleetStop) -> &'static str {
    match stop {
        FleetStop::Canary => "canary",
        FleetStop::Wave(_) => "wave",
        FleetStop::FailFast => "fail_fast",
        _ => "stopped",
    }
}

/// 0 when every target is done; [`exit::FLEET_STOPPED`] when targets were left unstarted;
/// [`exit::FLEET_FAILED`] when some failed.
fn exit_code(report: &FleetReport) -> u8 {
    if report.stopped.is_some() || not_started(report) > 0 {
        exit::FLEET_STOPPED
    } else if report.failed().next().is_some() {
        exit::FLEET_FAILED
    } else {
        exit::UP_TO_DATE
    }
}

/// Every target's outcome on stdout (a table), then on stderr the count and every failure with
/// why, and what stopped the fleet.
fn summary(report: &FleetReport, elapsed: std::time::Duration) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = report
        .targets
        .iter()
        .map(|t| {
            vec![
                t.target.name(),
                outcome_name(&t.outcome).to_owned(),
                match &t.outcome {
                    TargetOutcome::Failed(_) => "see below".to_owned(),
                    _ => outcome_text(t),
                },
                duration(t.duration),
            ]
        })
        .collect();
    data(&table(&["TARGET", "OUTCOME", "WHAT", "TIME"], &rows))?;
    let failed: Vec<_> = report.failed().collect();
    let applied: usize = report
        .targets
        .iter()
        .map(|t| match &t.outcome {
            TargetOutcome::Done(r) => r.applied.len(),
            TargetOutcome::Failed(e) => e.report().map_or(0, |r| r.applied.len()),
            _ => 0,
        })
        .sum();
    let left = not_started(report);
    note(&format!(
        "fleet: {} in {}: {} done, {} failed{}; {} applied",
        count(report.targets.len(), "target"),
        duration(elapsed),
        report.targets.len() - failed.len() - left,
        failed.len(),
        if left > 0 {
            format!(", {left} not started")
        } else {
            String::new()
        },
        count(applied, "upgrade"),
    ));
    if !failed.is_empty() {
        note(&format!("failed ({}):", failed.len()));
        for t in &failed {
            if let TargetOutcome::Failed(e) = &t.outcome {
                note(&format!(
                    "  {} ({}): {}",
                    t.target.name(),
                    t.target.origin,
                    error_text(e)
                ));
            }
        }
    }
    match report.stopped {
        Some(FleetStop::Canary) => note(&format!(
            "stopped: a canary target failed, so the other {left} target(s) were not started"
        )),
        Some(FleetStop::Wave(n)) => note(&format!(
            "stopped: wave {n} had a failure, so the {left} target(s) after it were not started"
        )),
        Some(FleetStop::FailFast) => note(&format!(
            "stopped at the first failure (--fail-fast): {left} target(s) were not started"
        )),
        _ => {}
    }
    if !failed.is_empty() || left > 0 {
        note(
            "hint: fix what failed and run the fleet again: each target picks up where it stands, and those up to date are left alone",
        );
    }
    Ok(())
}
