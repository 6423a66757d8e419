//! Rust paths and directories: where a new upgrade file goes, and the path its `depends_on`
//! names each dependency by.

use std::fs;
use std::path::{Path, PathBuf};

use upgrader_core::{Plan, Upgrade};

use super::names::is_identifier;
use crate::refused::Refused;

/// The directory of the upgrade's source file, when it is on this machine.
pub(super) fn directory_of(upgrade: &Upgrade) -> Option<PathBuf> {
    let path = upgrade.source()?.path()?;
    Some(resolve(path.parent()?))
}

/// The directory of the newest of `upgrades` (the last to run).
pub(super) fn directory_of_newest(plan: &Plan, upgrades: &[&Upgrade]) -> Result<PathBuf, Refused> {
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
pub(super) fn resolve(path: &Path) -> PathBuf {
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
pub(super) fn package_of(dir: &Path) -> Option<&Path> {
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
pub(super) fn dependency_path(
    dependency: &Upgrade,
    dir: &Path,
    package: Option<&Path>,
) -> Result<String, Refused> {
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
pub(super) fn module_file(dir: &Path) -> (PathBuf, bool) {
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

/// A path as the user reads it: relative to the working directory when under it.
pub(super) fn display(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .map(|cwd| resolve(&cwd))
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// ` (<file>:<line>)`, where the upgrade is written, when known.
pub(super) fn where_is(upgrade: &Upgrade) -> String {
    upgrade
        .source()
        .map(|s| format!(" ({}:{})", s.file, s.line))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
