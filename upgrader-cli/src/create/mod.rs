//! `upgrader create recipe` and `upgrader create release`: write a new upgrade file that compiles
//! as written, with its dependencies worked out from the linked graph, and declare it in its
//! directory's module file so the next build links it.
//!
//! Nothing here touches a database. Everything is checked before anything is written; then the
//! new file is written, then the module file, and a failure removes what was written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use upgrader_core::{Registry, Upgrade};

use crate::cli;
use crate::output::{StdoutFailed, data_line};
use crate::refused::Refused;

mod names;
mod paths;
mod write;

use names::{known_modules, recipe_id, refuse_existing, refuse_unknown_modules, release_id, release_version};
use paths::{directory_of, directory_of_newest, display, resolve};
use write::write_upgrade;

/// The name of a recipe created without `--name`; the author is told to rename it.
pub(crate) const PLACEHOLDER: &str = "rename_me";

/// What `create` wrote.
#[derive(Debug)]
pub(crate) struct Created {
    /// The new upgrade's id.
    pub(crate) id: String,
    /// The new file.
    pub(crate) file: PathBuf,
    /// The module file that declares it.
    pub(crate) module_file: PathBuf,
    /// Whether the module file was created (it did not exist).
    pub(crate) module_file_created: bool,
    /// The ids the new upgrade depends on.
    pub(crate) depends_on: Vec<&'static str>,
}

/// `upgrader create recipe`.
pub(crate) fn run_recipe(args: &cli::Recipe) -> anyhow::Result<ExitCode> {
    let today = chrono::Utc::now().date_naive();
    let created = recipe(
        &Registry::linked(),
        &args.module,
        &args.name,
        args.output.as_deref(),
        today,
    )?;
    print_created(&created)?;
    if args.name == PLACEHOLDER {
        crate::output::note(&format!(
            "hint: rename `{PLACEHOLDER}` to what the upgrade does: in the file name, the function name and both lines in {}",
            display(&created.module_file)
        ));
    }
    crate::output::note("hint: write the work in the function body and say what it does in its doc comment");
    Ok(ExitCode::SUCCESS)
}

/// `upgrader create release`.
pub(crate) fn run_release(args: &cli::Release) -> anyhow::Result<ExitCode> {
    let created = release(
        &Registry::linked(),
        &args.repository,
        &args.modules,
        args.version.as_deref(),
        args.output.as_deref(),
    )?;
    print_created(&created)?;
    crate::output::note(&format!(
        "hint: the modules' next upgrades depend on `{}`",
        created.id
    ));
    Ok(ExitCode::SUCCESS)
}

/// Prints (stdout) what was written and the dependencies chosen.
fn print_created(created: &Created) -> Result<(), StdoutFailed> {
    data_line(&format!("created {}", display(&created.file)))?;
    if created.module_file_created {
        data_line(&format!("created {} declaring it", display(&created.module_file)))?;
    } else {
        data_line(&format!("declared it in {}", display(&created.module_file)))?;
    }
    if created.depends_on.is_empty() {
        data_line("depends on: nothing (the module's first upgrade)")?;
    } else {
        data_line(&format!("depends on: {}", created.depends_on.join(", ")))?;
    }
    // A new module file below the crate root is linked once its parent declares it.
    let root = ["lib.rs", "main.rs"]
        .iter()
        .any(|name| created.module_file.ends_with(name));
    let module = created.module_file.parent().and_then(Path::file_name);
    if let Some(module) = module.filter(|_| created.module_file_created && !root) {
        crate::output::note(&format!(
            "hint: declare the new module in its parent's module file: `pub mod {};`",
            module.to_string_lossy()
        ));
    }
    Ok(())
}

/// Writes a new upgrade of `module`, dated `today`, that depends on the module's endpoints (or
/// the release that covers them).
pub(crate) fn recipe(
    registry: &Registry,
    module: &str,
    name: &str,
    output: Option<&Path>,
    today: NaiveDate,
) -> anyhow::Result<Created> {
    let id = recipe_id(module, name, today)?;
    refuse_existing(registry, &id, "choose another name with -n")?;
    let plan = registry.plan(None)?;
    let endpoints: Vec<&Upgrade> = plan
        .endpoints(module)
        .into_iter()
        .filter_map(|id| plan.get(id))
        .collect();
    let dir = match output {
        Some(dir) => resolve(dir),
        None if endpoints.is_empty() => Err(Refused::new(
            format!("module `{module}` has no upgrades linked into this binary"),
            format!(
                "pass --output <DIR> to write its first upgrade there{}",
                known_modules(registry)
            ),
        ))?,
        None => directory_of_newest(&plan, &endpoints)?,
    };
    // Attach to the release that covers the module's heads, when there is one (rule 4).
    let attach: Vec<&Upgrade> = plan
        .attach_points(module)
        .into_iter()
        .filter_map(|id| plan.get(id))
        .collect();
    let doc = "TODO: say what this upgrade does (the first line is what `upgrader show pending` prints).";
    let body = [
        "    // The work goes here: `ctx.execute(\"…\")?`, `ctx.query_i64(…)?`, `ctx.log(…)`; name the",
        "    // argument `ctx` once you use it. Keep it self-contained: write the SQL, or copy what you",
        "    // need into this file, never call application code that may change later. Once",
        "    // committed, never edit it: fix a mistake with a new upgrade.",
    ];
    write_upgrade(&id, &dir, &attach, doc, &body)
}

/// Writes the release `<repository>_release_<x>_<y>_<z>`, which depends on every endpoint of
/// `modules` since the repository's previous release (see [`Plan::release_depends_on`]).
///
/// [`Plan::release_depends_on`]: upgrader_core::Plan::release_depends_on
pub(crate) fn release(
    registry: &Registry,
    repository: &str,
    modules: &[String],
    version: Option<&str>,
    output: Option<&Path>,
) -> anyhow::Result<Created> {
    refuse_unknown_modules(registry, modules)?;
    let plan = registry.plan(None)?;
    let mut endpoints: Vec<&Upgrade> = modules
        .iter()
        .flat_map(|m| plan.endpoints(m))
        .filter_map(|id| plan.get(id))
        .collect();
    endpoints.sort_by_key(|u| u.id());
    endpoints.dedup_by_key(|u| u.id());

    let (text, numbers) = release_version(version, &endpoints)?;
    let (x, y, z) = numbers;
    let id = release_id(repository, numbers)?;
    refuse_existing(
        registry,
        &id,
        "bump the version of the modules' crate, or pass a newer --version",
    )?;

    let latest = plan.latest_release(repository);
    if let Some((latest, v)) = latest
        && v > numbers
    {
        Err(Refused::new(
            format!(
                "release {text} is older than `{}`, the latest release of `{repository}`",
                latest.id()
            ),
            "pass a newer --version",
        ))?;
    }
    let previous = latest.map(|(u, _)| u);
    let depends_on: Vec<&Upgrade> = plan
        .release_depends_on(repository, modules.iter().map(String::as_str))
        .into_iter()
        .filter_map(|id| plan.get(id))
        .collect();

    let dir = match output {
        Some(dir) => resolve(dir),
        None => match previous.and_then(directory_of) {
            Some(dir) => dir,
            None => directory_of_newest(&plan, &depends_on)?,
        },
    };
    let mut named: Vec<&str> = Vec::new();
    for module in modules {
        if !named.contains(&module.as_str()) {
            named.push(module);
        }
    }
    let doc = format!(
        "Release {x}.{y}.{z} of {repository}: {} as shipped.",
        and_list(&named)
    );
    let body = [
        "    // A release does nothing itself: it gathers what the modules shipped in this release,",
        "    // so that later upgrades depend on it alone. Once committed, never edit it.",
    ];
    write_upgrade(&id, &dir, &depends_on, &doc, &body)
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;
