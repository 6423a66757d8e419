//! Writing files: the new upgrade file and its declaration in the module file, everything checked
//! first, and what was written removed again when a later write fails.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use upgrader_core::Upgrade;

use super::Created;
use super::paths::{dependency_path, display, module_file, package_of};
use crate::refused::Refused;

/// Checks everything, then writes `<id>.rs` into `dir`, depending on `dependencies`, and declares it
/// in the module file.
pub(super) fn write_upgrade(
    id: &str,
    dir: &Path,
    dependencies: &[&Upgrade],
    doc: &str,
    body: &[&str],
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
    let module_text = declaration(id, dir, &module_file, module_file_exists)?;
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
        depends_on: dependencies.iter().map(|u| u.id()).collect(),
    })
}

/// What to add to the module file to declare `<id>.rs`: the declaration, on a line of its own, or
/// a new module file holding it. Refuses a module file that already declares `id`.
fn declaration(id: &str, dir: &Path, module_file: &Path, exists: bool) -> Result<String, Refused> {
    let declaration = format!("mod {id};\npub use {id}::*;\n");
    if !exists {
        let module = dir
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        return Ok(format!("//! Upgrades of `{module}`.\n\n{declaration}"));
    }
    let existing = fs::read_to_string(module_file).map_err(|e| {
        Refused::new(
            format!("cannot read {}: {e}", display(module_file)),
            "make the module file readable, or pass --output <DIR>",
        )
    })?;
    let wanted = format!("mod {id};");
    if existing
        .lines()
        .any(|line| line.trim().trim_start_matches("pub ") == wanted)
    {
        return Err(Refused::new(
            format!("{} already declares `mod {id};`", display(module_file)),
            "remove the stale declaration, or choose another name",
        ));
    }
    let separator = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    Ok(format!("{separator}{declaration}"))
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
