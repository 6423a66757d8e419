//! Names and versions: the id a new upgrade gets from what the author typed, and the refusals
//! when that is not a valid id, is taken, or names a module this binary does not link.

use chrono::NaiveDate;
use upgrader_core::{ParsedId, Registry, Upgrade, parse_id};

use super::paths::where_is;
use crate::refused::Refused;

/// The id `<module>_<yyyy>_<mm>_<dd>_<name>` of a new recipe, or why `module` or `name` cannot make
/// one.
pub(super) fn recipe_id(module: &str, name: &str, today: NaiveDate) -> Result<String, Refused> {
    let valid_module = is_identifier(module)
        && matches!(parse_id(&format!("{module}_2000_01_01_x")), Ok(ParsedId::Recipe { module: m, .. }) if m == module);
    if !valid_module {
        return Err(Refused::new(
            format!("`{module}` is not a valid module name"),
            "a module name is lowercase ascii letters, digits and single `_`, starting with a letter",
        ));
    }
    let id = format!("{module}_{}_{name}", today.format("%Y_%m_%d"));
    let valid_name = is_identifier(name)
        && matches!(parse_id(&id), Ok(ParsedId::Recipe { module: m, name: n, .. }) if m == module && n == name);
    if !valid_name {
        return Err(Refused::new(
            format!("`{name}` is not a valid upgrade name (the id would be `{id}`)"),
            "use lowercase ascii letters, digits and single `_`, starting with a letter, like `add_tags`",
        ));
    }
    Ok(id)
}

/// The id `<repository>_release_<x>_<y>_<z>` of a new release, or why `repository` cannot make one.
pub(super) fn release_id(repository: &str, (x, y, z): (u64, u64, u64)) -> Result<String, Refused> {
    let id = format!("{repository}_release_{x}_{y}_{z}");
    match parse_id(&id) {
        Ok(ParsedId::Release { repository: r, .. }) if r == repository && is_identifier(repository) => Ok(id),
        _ => Err(Refused::new(
            format!("`{repository}` is not a valid repository name (the id would be `{id}`)"),
            "a repository name is lowercase ascii letters, digits and single `_`, starting with a letter",
        )),
    }
}

/// The version of a new release as written and as numbers: `version` when given, else the one
/// crate version the upgrades `gathered` were compiled at.
pub(super) fn release_version(
    version: Option<&str>,
    gathered: &[&Upgrade],
) -> Result<(String, (u64, u64, u64)), Refused> {
    if let Some(text) = version {
        let numbers = parse_version(text).ok_or_else(|| bad_version(text, "--version"))?;
        return Ok((text.to_owned(), numbers));
    }
    let mut versions: Vec<&str> = gathered
        .iter()
        .filter_map(|u| u.source())
        .map(|s| s.crate_version)
        .collect();
    versions.sort_unstable();
    versions.dedup();
    match versions[..] {
        [one] => Ok((
            one.to_owned(),
            parse_version(one).ok_or_else(|| bad_version(one, "the crate's version"))?,
        )),
        [] => Err(Refused::new(
            "the crate version of these modules is unknown (their upgrades have no source location)",
            "pass --version x.y.z",
        )),
        _ => Err(Refused::new(
            format!(
                "these modules are in crates of different versions ({})",
                versions.join(", ")
            ),
            "pass --version x.y.z",
        )),
    }
}

/// Refuses a module of `modules` no linked upgrade belongs to.
pub(super) fn refuse_unknown_modules(registry: &Registry, modules: &[String]) -> Result<(), Refused> {
    let known = registry.modules();
    match modules.iter().find(|m| !known.contains(m.as_str())) {
        Some(unknown) => Err(Refused::new(
            format!("module `{unknown}` has no upgrades linked into this binary"),
            format!(
                "a release gathers upgrades that exist: create them first{}",
                known_modules(registry)
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses an id some linked upgrade already has.
pub(super) fn refuse_existing(registry: &Registry, id: &str, hint: &str) -> Result<(), Refused> {
    match registry.get(id) {
        Some(existing) => Err(Refused::new(
            format!("upgrade `{id}` already exists{}", where_is(existing)),
            hint,
        )),
        None => Ok(()),
    }
}

/// ` (known modules: a, b)`, or nothing when no module is linked.
pub(super) fn known_modules(registry: &Registry) -> String {
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

/// Whether `text` can be a Rust identifier (ASCII only).
pub(super) fn is_identifier(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_three_numbers() {
        assert_eq!(parse_version("1.10.0"), Some((1, 10, 0)));
        for bad in ["1.2", "1.2.3.4", "v1.2.3", "1.2.3-beta", "1..3", "1.2.x", ""] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }
}
