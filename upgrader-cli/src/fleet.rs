//! `--fleet`: one plan over many databases. Where the targets come from (the flags, else
//! `[fleet]` in upgrader.toml), and the commands that work on them: `run --fleet`
//! ([`run::run_fleet`]), `status --fleet` and `show pending --fleet` ([`look`]).

mod look;
mod progress;
mod run;

use std::path::Path;

use upgrader_core::fleet::TargetSource;
use upgrader_core::{Fleet, FleetOptions};

use crate::cli;
use crate::refused::Refused;
use crate::settings::Settings;

pub(crate) use look::{show_pending, status};
pub(crate) use run::run_fleet;

/// How many targets at a time: `--jobs`, else `jobs` under `[fleet]`, else
/// [`FleetOptions::DEFAULT_JOBS`].
fn jobs(settings: &Settings, args: &cli::Fleet) -> usize {
    args.jobs
        .or(settings.fleet.jobs)
        .map_or(FleetOptions::DEFAULT_JOBS, usize::from)
}

/// The sources of the targets: those given as flags, else those of `[fleet]` in the
/// configuration; none is a refusal.
fn sources(settings: &Settings, args: &cli::Fleet) -> anyhow::Result<Vec<TargetSource>> {
    let flags = args.targets.is_some() || args.schemas.is_some() || args.targets_query.is_some();
    let config = &settings.fleet;
    let dir = &settings.config_dir;
    let mut sources = Vec::new();
    let (file, query, schemas) = if flags {
        (args.targets.clone(), &args.targets_query, &args.schemas)
    } else {
        if let Some(urls) = &config.targets {
            sources.push(TargetSource::Urls {
                urls: urls.clone(),
                listed_in: "fleet.targets".into(),
                base: Some(dir.clone()),
            });
        }
        let file = config.targets_file.as_ref().map(|file| relative_to(dir, file));
        (file, &config.targets_query, &config.schemas)
    };
    sources.extend(file.map(TargetSource::File));
    sources.extend(query.iter().map(|sql| TargetSource::Query {
        control: settings.url.clone(),
        sql: sql.clone(),
    }));
    sources.extend(schemas.iter().map(|pattern| TargetSource::Schemas {
        control: settings.url.clone(),
        pattern: pattern.clone(),
    }));
    if sources.is_empty() {
        return Err(Refused::new(
            "--fleet names no targets",
            "give --targets FILE, --schemas PATTERN or --targets-query SQL, or list them under [fleet] in upgrader.toml (targets, targets_file, targets_query, schemas)",
        )
        .into());
    }
    Ok(sources)
}

fn relative_to(dir: &Path, path: &Path) -> std::path::PathBuf {
    if path.is_relative() {
        dir.join(path)
    } else {
        path.to_path_buf()
    }
}

/// The fleet the command line names: every source read (a source that cannot be read is an
/// error, never "no targets"), each target given the connect timeout; refused when empty or
/// when a target is listed twice.
pub(crate) fn fleet(settings: &Settings, args: &cli::Fleet) -> anyhow::Result<Fleet> {
    let sources = sources(settings, args)?;
    let mut targets = Vec::new();
    for source in &sources {
        for (url, origin) in source.targets()? {
            targets.push((url.with_connect_timeout(settings.connect_timeout), origin));
        }
    }
    let from: Vec<String> = sources.iter().map(TargetSource::describe).collect();
    Ok(Fleet::new(targets, &from.join(" and "))?)
}
