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

mod applied;
mod depends;
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
    /// Whether the module file declared it already (the file was replaced).
    pub(crate) module_file_declared: bool,
    /// The ids the new upgrade depends on.
    pub(crate) depends_on: Vec<&'static str>,
    /// Whether an existing file was replaced (`--overwrite`).
    pub(crate) overwritten: bool,
    /// What the author should know (on stderr).
    pub(crate) warnings: Vec<String>,
}

/// Whether `create` may replace the file of the id it writes, when it exists.
#[derive(Clone, Copy)]
pub(crate) enum Overwrite<'a> {
    /// No: an existing file (or a linked upgrade of that id) is refused.
    No,
    /// Yes, once this said the upgrade is not applied (it refuses when it is, or cannot tell).
    IfNotApplied(&'a dyn Fn(&str) -> anyhow::Result<()>),
}

/// The registry without `id`, which `--overwrite` replaces (so that its old version is not taken
/// for one of the module's heads), after `overwrite` said it may; or the registry, after refusing
/// a linked upgrade of that id.
fn without<'r>(
    registry: &'r Registry,
    id: &str,
    overwrite: Overwrite<'_>,
    hint: &str,
) -> anyhow::Result<std::borrow::Cow<'r, Registry>> {
    match overwrite {
        Overwrite::No => {
            refuse_existing(registry, id, hint)?;
            Ok(std::borrow::Cow::Borrowed(registry))
        }
        Overwrite::IfNotApplied(not_applied) => {
            not_applied(id)?;
            let dependents: Vec<&str> = registry
                .upgrades()
                .iter()
                .filter(|u| u.depends_on().contains(&id))
                .map(Upgrade::id)
                .collect();
            if !dependents.is_empty() {
                Err(Refused::new(
                    format!(
                        "`{id}` is a dependency of linked upgrade(s): {}; rewriting it would change what they build on",
                        dependents.join(", ")
                    ),
                    "fix it forward with a new upgrade (another name with -n, or another version)",
                ))?;
            }
            let others = registry.upgrades().iter().filter(|u| u.id() != id).copied();
            Ok(std::borrow::Cow::Owned(Registry::new(
                others,
                registry.checks().iter().copied(),
            )))
        }
    }
}

/// With `--overwrite`, an id that a linked upgrade already has may only be rewritten in that
/// upgrade's own file: never a second file of the same id (`dir` is where it would be written).
fn refuse_elsewhere(
    registry: &Registry,
    id: &str,
    dir: &Path,
    overwrite: Overwrite<'_>,
) -> Result<(), Refused> {
    let (Overwrite::IfNotApplied(_), Some(linked)) = (overwrite, registry.get(id)) else {
        return Ok(());
    };
    let target = dir.join(format!("{id}.rs"));
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    match linked.source().and_then(upgrader_core::Source::path) {
        Some(source) if same(&source, &target) => Ok(()),
        _ => Err(Refused::new(
            format!(
                "upgrade `{id}` is linked from another file{}: --overwrite rewrites a file in place, never a second file of the same id",
                paths::where_is(linked)
            ),
            "leave --output out (or name the directory that holds it), or choose another name or version",
        )),
    }
}

/// `--overwrite` (`asked`) as an [`Overwrite`], with `not_applied` checking the database.
fn overwrite_of(asked: bool, not_applied: &dyn Fn(&str) -> anyhow::Result<()>) -> Overwrite<'_> {
    if asked {
        Overwrite::IfNotApplied(not_applied)
    } else {
        Overwrite::No
    }
}

/// `upgrader create recipe`.
pub(crate) fn run_recipe(
    args: &cli::Recipe,
    settings: &dyn Fn() -> anyhow::Result<crate::settings::Settings>,
    host: &crate::Host,
) -> anyhow::Result<ExitCode> {
    let today = chrono::Utc::now().date_naive();
    let registry = Registry::linked();
    let unknown = |id: &str| crate::commands::unknown(&registry, id, host);
    let not_applied = |id: &str| applied::refuse_if_applied(&settings()?, id);
    let created = recipe_with(
        &registry,
        &args.module,
        &args.name,
        args.output.as_deref(),
        today,
        &Chosen {
            depends_on: &args.depends_on,
            unknown: &unknown,
            overwrite: overwrite_of(args.overwrite, &not_applied),
        },
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
pub(crate) fn run_release(
    args: &cli::Release,
    settings: &dyn Fn() -> anyhow::Result<crate::settings::Settings>,
) -> anyhow::Result<ExitCode> {
    let not_applied = |id: &str| applied::refuse_if_applied(&settings()?, id);
    let created = release_with(
        &Registry::linked(),
        &args.repository,
        &args.modules,
        args.version.as_deref(),
        args.output.as_deref(),
        overwrite_of(args.overwrite, &not_applied),
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
    let verb = if created.overwritten {
        "overwrote"
    } else {
        "created"
    };
    data_line(&format!("{verb} {}", display(&created.file)))?;
    if created.module_file_created {
        data_line(&format!("created {} declaring it", display(&created.module_file)))?;
    } else if created.module_file_declared {
        data_line(&format!("already declared in {}", display(&created.module_file)))?;
    } else {
        data_line(&format!("declared it in {}", display(&created.module_file)))?;
    }
    if created.depends_on.is_empty() {
        data_line("depends on: nothing (the module's first upgrade)")?;
    } else {
        data_line(&format!("depends on: {}", created.depends_on.join(", ")))?;
    }
    for warning in &created.warnings {
        crate::output::note(&format!("warning: {warning}"));
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

/// What the author chose beyond the module and the name.
pub(crate) struct Chosen<'a> {
    /// `-d`: the dependencies, instead of the computed ones (empty: computed).
    pub(crate) depends_on: &'a [String],
    /// The refusal of an id no linked upgrade has.
    pub(crate) unknown: &'a dyn Fn(&str) -> Refused,
    /// `--overwrite`.
    pub(crate) overwrite: Overwrite<'a>,
}

/// Writes a new upgrade of `module`, dated `today`, that depends on the module's endpoints (or
/// the release that covers them).
#[cfg(test)]
pub(crate) fn recipe(
    registry: &Registry,
    module: &str,
    name: &str,
    output: Option<&Path>,
    today: NaiveDate,
) -> anyhow::Result<Created> {
    let unknown = |id: &str| Refused::new(format!("no linked upgrade has the id `{id}`"), "");
    let chosen = Chosen {
        depends_on: &[],
        unknown: &unknown,
        overwrite: Overwrite::No,
    };
    recipe_with(registry, module, name, output, today, &chosen)
}

/// [`recipe`], depending on `chosen.depends_on` when given (checked against the graph), and
/// replacing an existing file when `chosen.overwrite` allows it.
pub(crate) fn recipe_with(
    registry: &Registry,
    module: &str,
    name: &str,
    output: Option<&Path>,
    today: NaiveDate,
    chosen: &Chosen<'_>,
) -> anyhow::Result<Created> {
    let id = recipe_id(module, name, today)?;
    let original = registry;
    let registry = without(registry, &id, chosen.overwrite, "choose another name with -n")?;
    let registry = registry.as_ref();
    let plan = registry.plan(None)?;
    let picked = depends::chosen(&plan, module, &id, chosen.depends_on, chosen.unknown)?;
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
    // Attach to the release that covers the module's heads, when there is one (rule 4), unless
    // the author chose.
    let mut warnings = Vec::new();
    let attach: Vec<&Upgrade> = if picked.is_empty() {
        plan.attach_points(module)
            .into_iter()
            .filter_map(|id| plan.get(id))
            .collect()
    } else {
        for head in depends::heads_left_out(&plan, module, &picked) {
            warnings.push(format!(
                "`{head}`, a head of module `{module}`, is not among the new upgrade's dependencies (direct or not): the module will have two heads"
            ));
        }
        picked
    };
    let doc = "TODO: say what this upgrade does (the first line is what `upgrader show pending` prints).";
    let body = [
        "    // The work goes here: `ctx.execute(\"…\")?`, `ctx.query_i64(…)?`, `ctx.log(…)`; name the",
        "    // argument `ctx` once you use it. Keep it self-contained: write the SQL, or copy what you",
        "    // need into this file, never call application code that may change later. Once",
        "    // committed, never edit it: fix a mistake with a new upgrade.",
    ];
    refuse_elsewhere(original, &id, &dir, chosen.overwrite)?;
    let overwrite = matches!(chosen.overwrite, Overwrite::IfNotApplied(_));
    let mut created = write_upgrade(&id, &dir, &attach, doc, &body, overwrite)?;
    created.warnings = warnings;
    Ok(created)
}

/// Writes the release `<repository>_release_<x>_<y>_<z>`, which depends on every endpoint of
/// `modules` since the repository's previous release (see [`Plan::release_depends_on`]).
///
/// [`Plan::release_depends_on`]: upgrader_core::Plan::release_depends_on
#[cfg(test)]
pub(crate) fn release(
    registry: &Registry,
    repository: &str,
    modules: &[String],
    version: Option<&str>,
    output: Option<&Path>,
) -> anyhow::Result<Created> {
    release_with(registry, repository, modules, version, output, Overwrite::No)
}

/// [`release`], replacing an existing file when `overwrite` allows it.
pub(crate) fn release_with(
    registry: &Registry,
    repository: &str,
    modules: &[String],
    version: Option<&str>,
    output: Option<&Path>,
    overwrite: Overwrite<'_>,
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
    let original = registry;
    let registry = without(
        registry,
        &id,
        overwrite,
        "bump the version of the modules' crate, or pass a newer --version",
    )?;
    // Without the release replaced, which is no previous release of itself.
    let plan = registry.plan(None)?;

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
    refuse_elsewhere(original, &id, &dir, overwrite)?;
    let overwrite = matches!(overwrite, Overwrite::IfNotApplied(_));
    write_upgrade(&id, &dir, &depends_on, &doc, &body, overwrite)
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
