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
/// in the module file. With `overwrite`, an existing regular file is replaced (and an existing
/// declaration kept); without, it is refused.
pub(super) fn write_upgrade(
    id: &str,
    dir: &Path,
    dependencies: &[&Upgrade],
    doc: &str,
    body: &[&str],
    overwrite: bool,
) -> anyhow::Result<Created> {
    let file = dir.join(format!("{id}.rs"));
    let exists = file.exists() || file.is_symlink();
    if exists && !overwrite {
        Err(Refused::new(
            format!("{} already exists", display(&file)),
            "choose another name (-n) or version, or rename the earlier upgrade; --overwrite replaces it if the database has not applied it",
        ))?;
    }
    // What is replaced must be a file of its own: never write through a link.
    let old = if exists {
        let regular = fs::symlink_metadata(&file).is_ok_and(|m| m.is_file());
        let text = regular.then(|| fs::read_to_string(&file).ok()).flatten();
        Some(text.ok_or_else(|| {
            Refused::new(
                format!(
                    "{} is not a regular file that can be read, so it is not replaced",
                    display(&file)
                ),
                "remove it by hand, or choose another name (-n) or version",
            )
        })?)
    } else {
        None
    };
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
    let module_text = match declaration(id, dir, &module_file, module_file_exists) {
        // The file replaced is declared already: keep its declaration.
        Err(_) if old.is_some() && declares(&module_file, id) => None,
        declared => Some(declared?),
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
    // The old contents back, or the new file removed.
    let undo_file = || match &old {
        Some(text) => {
            let _ = fs::write(&file, text);
        }
        None => {
            let _ = fs::remove_file(&file);
        }
    };
    let written = match &old {
        Some(_) => fs::write(&file, &contents),
        None => write_new(&file, &contents),
    };
    if let Err(e) = written {
        undo_file();
        undo_dir();
        Err(not_writable(&file, e))?;
    }
    let declared = match &module_text {
        None => Ok(()),
        Some(text) if module_file_exists => fs::OpenOptions::new()
            .append(true)
            .open(&module_file)
            .and_then(|mut f| f.write_all(text.as_bytes())),
        Some(text) => write_new(&module_file, text),
    };
    if let Err(e) = declared {
        undo_file();
        undo_dir();
        Err(not_writable(&module_file, e))?;
    }
    Ok(Created {
        id: id.to_owned(),
        file,
        module_file,
        module_file_created: !module_file_exists,
        module_file_declared: module_text.is_none(),
        depends_on: dependencies.iter().map(|u| u.id()).collect(),
        overwritten: old.is_some(),
        warnings: Vec::new(),
    })
}

/// Whether the module file declares `mod <id>;` (and re-exports it, as `create` writes it).
fn declares(module_file: &Path, id: &str) -> bool {
    let wanted = format!("mod {id};");
    let export = format!("use {id}::*;");
    fs::read_to_string(module_file).is_ok_and(|text| {
        let lines: Vec<&str> = text
            .lines()
            .map(|l| l.trim().trim_start_matches("pub "))
            .collect();
        lines.contains(&wanted.as_str()) && lines.contains(&export.as_str())
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
