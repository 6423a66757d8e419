//! `upgrader create recipe` and `upgrader create release`: write a new upgrade file that compiles
//! as written, with its dependencies worked out from the linked graph, and declare it in its
//! directory's module file so the next build links it.
//!
//! Nothing here touches a database. Everything is checked before anything is written; then the
//! new file is written, then the module file, and a failure removes what was written.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use upgrader_core::{ParsedId, Plan, Registry, Upgrade, parse_id};

use crate::cli;
use crate::output::{StdoutFailed, data_line};

/// The name of a recipe created without `--name`; the author is told to rename it.
pub(crate) const PLACEHOLDER: &str = "rename_me";

pub(crate) use crate::refused::Refused;

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
    let valid_module = is_identifier(module)
        && matches!(parse_id(&format!("{module}_2000_01_01_x")), Ok(ParsedId::Recipe { module: m, .. }) if m == module);
    if !valid_module {
        Err(Refused::new(
            format!("`{module}` is not a valid module name"),
            "a module name is lowercase ascii letters, digits and single `_`, starting with a letter",
        ))?;
    }
    let id = format!("{module}_{}_{name}", today.format("%Y_%m_%d"));
    let valid_name = is_identifier(name)
        && matches!(parse_id(&id), Ok(ParsedId::Recipe { module: m, name: n, .. }) if m == module && n == name);
    if !valid_name {
        Err(Refused::new(
            format!("`{name}` is not a valid upgrade name (the id would be `{id}`)"),
            "use lowercase ascii letters, digits and single `_`, starting with a letter, like `add_tags`",
        ))?;
    }
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
    let depends_on: Vec<&'static str> = attach.iter().map(|u| u.id()).collect();
    let doc = "TODO: say what this upgrade does (the first line is what `upgrader show pending` prints).";
    let body = [
        "    // The work goes here: `ctx.execute(\"…\")?`, `ctx.query_i64(…)?`, `ctx.log(…)`; name the",
        "    // argument `ctx` once you use it. Keep it self-contained: write the SQL, or copy what you",
        "    // need into this file, never call application code that may change later. Once",
        "    // committed, never edit it: fix a mistake with a new upgrade.",
    ];
    write_upgrade(&id, &dir, &attach, doc, &body, depends_on)
}

/// Writes the release `<repository>_release_<x>_<y>_<z>`, which depends on every endpoint of
/// `modules` since the repository's previous release.
pub(crate) fn release(
    registry: &Registry,
    repository: &str,
    modules: &[String],
    version: Option<&str>,
    output: Option<&Path>,
) -> anyhow::Result<Created> {
    let known = registry.modules();
    if let Some(unknown) = modules.iter().find(|m| !known.contains(m.as_str())) {
        Err(Refused::new(
            format!("module `{unknown}` has no upgrades linked into this binary"),
            format!(
                "a release gathers upgrades that exist: create them first{}",
                known_modules(registry)
            ),
        ))?;
    }
    let plan = registry.plan(None)?;
    let mut endpoints: Vec<&Upgrade> = modules
        .iter()
        .flat_map(|m| plan.endpoints(m))
        .filter_map(|id| plan.get(id))
        .collect();
    endpoints.sort_by_key(|u| u.id());
    endpoints.dedup_by_key(|u| u.id());

    let (text, numbers) = match version {
        Some(text) => (
            text.to_owned(),
            parse_version(text).ok_or_else(|| bad_version(text, "--version"))?,
        ),
        None => {
            let mut versions: Vec<&str> = endpoints
                .iter()
                .filter_map(|u| u.source())
                .map(|s| s.crate_version)
                .collect();
            versions.sort_unstable();
            versions.dedup();
            match versions[..] {
                [one] => (
                    one.to_owned(),
                    parse_version(one).ok_or_else(|| bad_version(one, "the crate's version"))?,
                ),
                [] => Err(Refused::new(
                    "the crate version of these modules is unknown (their upgrades have no source location)",
                    "pass --version x.y.z",
                ))?,
                _ => Err(Refused::new(
                    format!(
                        "these modules are in crates of different versions ({})",
                        versions.join(", ")
                    ),
                    "pass --version x.y.z",
                ))?,
            }
        }
    };
    let (x, y, z) = numbers;
    let id = format!("{repository}_release_{x}_{y}_{z}");
    match parse_id(&id) {
        Ok(ParsedId::Release { repository: r, .. }) if r == repository && is_identifier(repository) => {}
        _ => Err(Refused::new(
            format!("`{repository}` is not a valid repository name (the id would be `{id}`)"),
            "a repository name is lowercase ascii letters, digits and single `_`, starting with a letter",
        ))?,
    }
    refuse_existing(
        registry,
        &id,
        "bump the version of the modules' crate, or pass a newer --version",
    )?;

    if let Some((latest, v)) = plan.latest_release(repository)
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
    let previous = plan.latest_release(repository).map(|(u, _)| u);
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
    let ids = depends_on.iter().map(|u| u.id()).collect();
    write_upgrade(&id, &dir, &depends_on, &doc, &body, ids)
}

/// Refuses an id some linked upgrade already has.
fn refuse_existing(registry: &Registry, id: &str, hint: &str) -> Result<(), Refused> {
    match registry.get(id) {
        Some(existing) => Err(Refused::new(
            format!("upgrade `{id}` already exists{}", where_is(existing)),
            hint,
        )),
        None => Ok(()),
    }
}

fn where_is(upgrade: &Upgrade) -> String {
    upgrade
        .source()
        .map(|s| format!(" ({}:{})", s.file, s.line))
        .unwrap_or_default()
}

fn known_modules(registry: &Registry) -> String {
    let modules: Vec<&str> = registry.modules().into_iter().collect();
    if modules.is_empty() {
        String::new()
    } else {
        format!(" (known modules: {})", modules.join(", "))
    }
}

fn bad_version(text: &str, from: &str) -> Refused {
    Refused::new(
        format!("`{text}` ({from}) is not a version x.y.z"),
        "pass --version x.y.z, three numbers like 1.4.0",
    )
}

/// `x.y.z`, three plain numbers.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let parts: Vec<&str> = text.split('.').collect();
    let numbers: Vec<u64> = parts
        .iter()
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|p| p.parse().ok())
        .collect();
    match numbers[..] {
        [x, y, z] if parts.len() == 3 => Some((x, y, z)),
        _ => None,
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn is_identifier(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The directory of the upgrade's source file, when it is on this machine.
fn directory_of(upgrade: &Upgrade) -> Option<PathBuf> {
    let path = upgrade.source()?.path()?;
    Some(resolve(path.parent()?))
}

/// The directory of the newest of `upgrades` (the last to run).
fn directory_of_newest(plan: &Plan, upgrades: &[&Upgrade]) -> Result<PathBuf, Refused> {
    let position = |u: &&&Upgrade| plan.upgrades().iter().position(|p| p.id() == u.id());
    let newest = upgrades.iter().max_by_key(position).ok_or_else(|| {
        Refused::new(
            "there is no upgrade to place the new one beside",
            "pass --output <DIR>",
        )
    })?;
    directory_of(newest).ok_or_else(|| {
        Refused::new(
            format!(
                "the source file of `{}` is not on this machine{}",
                newest.id(),
                where_is(newest)
            ),
            "pass --output <DIR>: the directory that holds the module's upgrades",
        )
    })
}

/// `path` made absolute, with symbolic links resolved as far as it exists.
fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = existing.canonicalize() {
            return rest.iter().rev().fold(canonical, |path, part| path.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// The package (a directory with a `Cargo.toml` that has `[package]`) that holds `dir`.
fn package_of(dir: &Path) -> Option<&Path> {
    dir.ancestors().find(|candidate| {
        fs::read_to_string(candidate.join("Cargo.toml"))
            .is_ok_and(|manifest| manifest.lines().any(|line| line.trim() == "[package]"))
    })
}

/// The path `depends_on` names `dependency` by, from a new file in `dir` of the package `package`.
///
/// Best effort, from the dependency's source file: in the same directory `super::<id>`; in the same
/// package `crate::<directories under src>::<id>`; in another crate `<crate_name>::…::<id>` (the
/// package name with `-` as `_`). Upgrade files are expected to be re-exported by their
/// directory's module file (`pub use <id>::*;`); an upgrade written in another file is named
/// through that file's module. `#[path]` attributes and a library renamed in `[lib]` are not seen.
fn dependency_path(dependency: &Upgrade, dir: &Path, package: Option<&Path>) -> Result<String, Refused> {
    let id = dependency.id();
    let unplaceable = |why: String| {
        Refused::new(
            format!("cannot work out a `depends_on` path to `{id}`: {why}"),
            "write the new upgrade by hand, naming its dependencies by their paths",
        )
    };
    let source = dependency
        .source()
        .ok_or_else(|| unplaceable("it was registered without `#[upgrade]`".into()))?;
    let found = source.path().map(|path| resolve(&path));
    let file = found.clone().unwrap_or_else(|| PathBuf::from(source.file));
    // The module the function is written in, when it is not its directory's module.
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
    let inner = stem.filter(|s| ![id, "mod", "lib", "main"].contains(&s.as_str()));

    let mut parts: Vec<String> = Vec::new();
    let same_dir = found.as_deref().and_then(Path::parent) == Some(dir);
    if same_dir {
        parts.push("super".into());
    } else {
        let manifest_dir = resolve(Path::new(source.manifest_dir));
        let in_src = file.parent().and_then(|parent| {
            if found.is_some() {
                parent
                    .strip_prefix(manifest_dir.join("src"))
                    .ok()
                    .map(Path::to_path_buf)
            } else {
                // Not on this machine: what follows the last `src` of `file!()`.
                let parts: Vec<_> = parent.iter().collect();
                let src = parts.iter().rposition(|p| *p == "src")?;
                Some(parts[src + 1..].iter().collect())
            }
        });
        let in_src =
            in_src.ok_or_else(|| unplaceable(format!("{} is not under a `src` directory", source.file)))?;
        parts.push(if package == Some(manifest_dir.as_path()) {
            "crate".into()
        } else {
            source.crate_name.replace('-', "_")
        });
        parts.extend(in_src.iter().map(|p| p.to_string_lossy().into_owned()));
    }
    parts.extend(inner);
    parts.push(id.to_owned());
    if let Some(bad) = parts.iter().find(|p| !is_identifier(p)) {
        return Err(unplaceable(format!(
            "`{bad}` in {} is not a module name",
            source.file
        )));
    }
    Ok(parts.join("::"))
}

/// The module file that declares the modules of `dir`'s files, and whether it exists: `mod.rs`,
/// `<dir>.rs` beside the directory, or `lib.rs` / `main.rs` in `src`. Created as `mod.rs` (`lib.rs`
/// in `src`) when there is none.
fn module_file(dir: &Path) -> (PathBuf, bool) {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut candidates = vec![dir.join("mod.rs")];
    if let (Some(parent), Some(name)) = (dir.parent(), &name) {
        candidates.push(parent.join(format!("{name}.rs")));
    }
    if name.as_deref() == Some("src") {
        candidates.extend([dir.join("lib.rs"), dir.join("main.rs")]);
    }
    match candidates.iter().find(|c| c.is_file()) {
        Some(found) => (found.clone(), true),
        None if name.as_deref() == Some("src") => (dir.join("lib.rs"), false),
        None => (dir.join("mod.rs"), false),
    }
}

/// Checks everything, then writes `<id>.rs` into `dir` and declares it in the module file.
fn write_upgrade(
    id: &str,
    dir: &Path,
    dependencies: &[&Upgrade],
    doc: &str,
    body: &[&str],
    depends_on: Vec<&'static str>,
) -> anyhow::Result<Created> {
    let file = dir.join(format!("{id}.rs"));
    if file.exists() || file.is_symlink() {
        Err(Refused::new(
            format!("{} already exists", display(&file)),
            "choose another name (-n) or version, or rename the earlier upgrade",
        ))?;
    }
    if dir.exists() && !dir.is_dir() {
        Err(Refused::new(
            format!("{} is not a directory", display(dir)),
            "pass --output <DIR>: a directory",
        ))?;
    }
    let package = package_of(dir);
    let paths = dependencies
        .iter()
        .map(|dependency| dependency_path(dependency, dir, package))
        .collect::<Result<Vec<_>, _>>()?;
    let (module_file, module_file_exists) = module_file(dir);
    let declaration = format!("mod {id};\npub use {id}::*;\n");
    let module_text = if module_file_exists {
        let existing = fs::read_to_string(&module_file).map_err(|e| {
            Refused::new(
                format!("cannot read {}: {e}", display(&module_file)),
                "make the module file readable, or pass --output <DIR>",
            )
        })?;
        let wanted = format!("mod {id};");
        if existing
            .lines()
            .any(|line| line.trim().trim_start_matches("pub ") == wanted)
        {
            Err(Refused::new(
                format!("{} already declares `mod {id};`", display(&module_file)),
                "remove the stale declaration, or choose another name",
            ))?;
        }
        let separator = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        format!("{separator}{declaration}")
    } else {
        let module = dir
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        format!("//! Upgrades of `{module}`.\n\n{declaration}")
    };
    let contents = upgrade_file(id, doc, &paths, body);

    // Write: the directory if missing, the new file, then the module file; undo on failure.
    let first_missing = dir
        .ancestors()
        .filter(|a| !a.exists())
        .last()
        .map(Path::to_path_buf);
    let undo_dir = || {
        if let Some(created) = &first_missing {
            let _ = fs::remove_dir_all(created);
        }
    };
    let not_writable = |what: &Path, e: std::io::Error| {
        Refused::new(
            format!("cannot write {}: {e}", display(what)),
            "nothing was changed; pass --output <DIR>: a directory you can write to",
        )
    };
    if let Err(e) = fs::create_dir_all(dir) {
        undo_dir();
        Err(not_writable(dir, e))?;
    }
    if let Err(e) = write_new(&file, &contents) {
        undo_dir();
        Err(not_writable(&file, e))?;
    }
    let declared = if module_file_exists {
        fs::OpenOptions::new()
            .append(true)
            .open(&module_file)
            .and_then(|mut f| f.write_all(module_text.as_bytes()))
    } else {
        write_new(&module_file, &module_text)
    };
    if let Err(e) = declared {
        let _ = fs::remove_file(&file);
        undo_dir();
        Err(not_writable(&module_file, e))?;
    }
    Ok(Created {
        id: id.to_owned(),
        file,
        module_file,
        module_file_created: !module_file_exists,
        depends_on,
    })
}

/// Creates `path` with `contents`; fails if it exists, and leaves nothing behind on failure.
fn write_new(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(contents.as_bytes()).inspect_err(|_| {
        let _ = fs::remove_file(path);
    })
}

/// The text of an upgrade file.
fn upgrade_file(id: &str, doc: &str, depends_on: &[String], body: &[&str]) -> String {
    let inline = format!("#[upgrade(depends_on = [{}])]", depends_on.join(", "));
    let attribute = if inline.len() <= 100 && depends_on.len() <= 1 {
        inline
    } else {
        let lines: String = depends_on.iter().map(|p| format!("    {p},\n")).collect();
        format!("#[upgrade(depends_on = [\n{lines}])]")
    };
    let body: String = body.iter().map(|line| format!("{line}\n")).collect();
    format!(
        "use upgrader_core::{{Context, Result, upgrade}};\n\n/// {doc}\n{attribute}\npub fn {id}(_ctx: &mut Context) -> Result<()> {{\n{body}    Ok(())\n}}\n"
    )
}

/// A path as the user reads it: relative to the working directory when under it.
fn display(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .map(|cwd| resolve(&cwd))
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use upgrader_core::{Context, Source};

    fn noop(_: &mut Context<'_>) -> upgrader_core::Result<()> {
        Ok(())
    }

    /// An upgrade whose source file is `<root>/<crate>/src/<file>` of crate `crate_name`.
    fn at(id: &'static str, deps: &'static [&'static str], root: &Path, krate: &str, file: &str) -> Upgrade {
        let manifest_dir = root.join(krate);
        let path = manifest_dir.join("src").join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "").unwrap();
        fs::write(manifest_dir.join("Cargo.toml"), "[package]\n").unwrap();
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        Upgrade::new(id, "test", noop)
            .with_depends_on(deps)
            .with_source(Source {
                file: leak(path.to_string_lossy().into_owned()),
                line: 1,
                crate_name: leak(krate.to_owned()),
                crate_version: "1.2.3",
                manifest_dir: leak(manifest_dir.to_string_lossy().into_owned()),
            })
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 4).unwrap()
    }

    #[test]
    fn recipe_depends_on_every_head_and_names_them_by_where_they_are() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let registry = Registry::new(
            [
                at("m_2024_01_01_base", &[], root, "app", "m/m_2024_01_01_base.rs"),
                at(
                    "m_2024_02_01_left",
                    &["m_2024_01_01_base"],
                    root,
                    "app",
                    "m/m_2024_02_01_left.rs",
                ),
                at(
                    "m_2024_03_01_right",
                    &["m_2024_01_01_base"],
                    root,
                    "app",
                    "m/more/m_2024_03_01_right.rs",
                ),
                at(
                    "m_2024_03_02_inline",
                    &["m_2024_01_01_base"],
                    root,
                    "app",
                    "m/helpers.rs",
                ),
                at(
                    "m_2024_01_15_other",
                    &["m_2024_01_01_base"],
                    root,
                    "other-crate",
                    "m/m_2024_01_15_other.rs",
                ),
            ],
            [],
        );
        fs::write(root.join("app/src/m/mod.rs"), "//! M.\n\nmod m_2024_01_01_base;").unwrap();
        let created = recipe(&registry, "m", "next", None, day()).unwrap();
        assert_eq!(created.id, "m_2025_03_04_next");
        assert_eq!(
            created.file,
            resolve(&root.join("app/src/m/m_2025_03_04_next.rs"))
        );
        let text = fs::read_to_string(&created.file).unwrap();
        assert!(
            text.contains(
                "#[upgrade(depends_on = [\n    other_crate::m::m_2024_01_15_other,\n    super::m_2024_02_01_left,\n    crate::m::more::m_2024_03_01_right,\n    super::helpers::m_2024_03_02_inline,\n])]\npub fn m_2025_03_04_next(_ctx: &mut Context) -> Result<()> {"
            ),
            "{text}"
        );
        assert_eq!(
            fs::read_to_string(root.join("app/src/m/mod.rs")).unwrap(),
            "//! M.\n\nmod m_2024_01_01_base;\nmod m_2025_03_04_next;\npub use m_2025_03_04_next::*;\n"
        );
        assert!(!created.module_file_created);
    }

    #[test]
    fn a_new_module_gets_its_first_upgrade_and_a_module_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("app/src/billing");
        let registry = Registry::new([], []);
        let created = recipe(&registry, "billing", PLACEHOLDER, Some(&dir), day()).unwrap();
        assert!(created.depends_on.is_empty());
        assert!(created.module_file_created);
        let text = fs::read_to_string(&created.file).unwrap();
        assert!(
            text.contains("#[upgrade(depends_on = [])]\npub fn billing_2025_03_04_rename_me("),
            "{text}"
        );
        assert_eq!(
            fs::read_to_string(dir.join("mod.rs")).unwrap(),
            "//! Upgrades of `billing`.\n\nmod billing_2025_03_04_rename_me;\npub use billing_2025_03_04_rename_me::*;\n"
        );
    }

    #[test]
    fn module_file_is_mod_rs_or_beside_the_directory_or_the_crate_root() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("a")).unwrap();
        fs::create_dir_all(src.join("b")).unwrap();
        fs::write(src.join("a/mod.rs"), "").unwrap();
        fs::write(src.join("b.rs"), "").unwrap();
        fs::write(src.join("main.rs"), "").unwrap();
        assert_eq!(module_file(&src.join("a")), (src.join("a/mod.rs"), true));
        assert_eq!(module_file(&src.join("b")), (src.join("b.rs"), true));
        assert_eq!(module_file(&src), (src.join("main.rs"), true));
        assert_eq!(module_file(&src.join("c")), (src.join("c/mod.rs"), false));
    }

    #[test]
    fn release_depends_on_what_came_after_the_previous_release() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let registry = Registry::new(
            [
                at("a_2024_01_01_first", &[], root, "app", "a/a_2024_01_01_first.rs"),
                at("b_2024_01_01_first", &[], root, "app", "b/b_2024_01_01_first.rs"),
                at(
                    "app_release_1_0_0",
                    &["a_2024_01_01_first", "b_2024_01_01_first"],
                    root,
                    "app",
                    "releases/app_release_1_0_0.rs",
                ),
                at(
                    "a_2024_02_01_second",
                    &["a_2024_01_01_first"],
                    root,
                    "app",
                    "a/a_2024_02_01_second.rs",
                ),
            ],
            [],
        );
        let modules = ["a".to_owned(), "b".to_owned()];
        let created = release(&registry, "app", &modules, None, None).unwrap();
        assert_eq!(created.id, "app_release_1_2_3");
        // `b` has nothing new; `a_2024_02_01_second` does not depend on 1.0.0, so the release does.
        assert_eq!(created.depends_on, ["a_2024_02_01_second", "app_release_1_0_0"]);
        assert_eq!(
            created.file,
            resolve(&root.join("app/src/releases/app_release_1_2_3.rs"))
        );
        let text = fs::read_to_string(&created.file).unwrap();
        assert!(
            text.contains("/// Release 1.2.3 of app: a and b as shipped.\n"),
            "{text}"
        );
        assert!(
            text.contains("[\n    crate::a::a_2024_02_01_second,\n    super::app_release_1_0_0,\n]"),
            "{text}"
        );
        let older = release(&registry, "app", &modules, Some("0.9.0"), None).unwrap_err();
        assert!(
            older.to_string().contains("older than `app_release_1_0_0`"),
            "{older}"
        );
    }

    #[test]
    fn a_dependency_whose_source_is_elsewhere_is_named_from_its_recorded_path() {
        // A binary built on another machine: `file!()` is all there is.
        let registry = Registry::new(
            [Upgrade::new("m_2024_01_01_a", "test", noop).with_source(Source {
                file: "my-modules/src/m/m_2024_01_01_a.rs",
                line: 3,
                crate_name: "my-modules",
                crate_version: "1.0.0",
                manifest_dir: "/nonexistent/my-modules",
            })],
            [],
        );
        let tmp = tempfile::tempdir().unwrap();
        let err = recipe(&registry, "m", "b", None, day()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the source file of `m_2024_01_01_a` is not on this machine (my-modules/src/m/m_2024_01_01_a.rs:3)"
        );
        let created = recipe(&registry, "m", "b", Some(tmp.path()), day()).unwrap();
        let text = fs::read_to_string(created.file).unwrap();
        assert!(
            text.contains("#[upgrade(depends_on = [my_modules::m::m_2024_01_01_a])]"),
            "{text}"
        );
    }

    #[test]
    fn versions_are_three_numbers() {
        assert_eq!(parse_version("1.10.0"), Some((1, 10, 0)));
        for bad in ["1.2", "1.2.3.4", "v1.2.3", "1.2.3-beta", "1..3", "1.2.x", ""] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }
}
