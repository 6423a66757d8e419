//! Upgrade ids: `<module>_<yyyy>_<mm>_<dd>_<name>` or `<repository>_release_<x>_<y>_<z>`; and
//! durations as people write them ([`parse_duration`]).
//!
//! Shared by `upgrader-macros` (the compile-time check of `#[upgrade]`) and `upgrader-core` (the
//! run-time check of upgrades registered by hand, and `create`), so the two can never disagree.
//! Not meant to be used directly: `upgrader_core` re-exports what applications need.
#![warn(missing_docs)]

mod duration;

pub use duration::parse_duration;

/// What an upgrade id says about its upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedId<'a> {
    /// `<module>_<yyyy>_<mm>_<dd>_<name>`.
    Recipe {
        /// The module (graph) the upgrade belongs to.
        module: &'a str,
        /// The date as `(year, month, day)`.
        date: (u16, u8, u8),
        /// The free-form name after the date.
        name: &'a str,
    },
    /// `<repository>_release_<x>_<y>_<z>`.
    Release {
        /// The repository the release is cut from.
        repository: &'a str,
        /// The version as `(major, minor, patch)`.
        version: (u64, u64, u64),
    },
}

impl<'a> ParsedId<'a> {
    /// The graph the upgrade belongs to: the module of a recipe, the repository of a release.
    pub fn module(&self) -> &'a str {
        match self {
            ParsedId::Recipe { module, .. } => module,
            ParsedId::Release { repository, .. } => repository,
        }
    }
}

/// Parses an upgrade id, or says in one lowercase phrase what is wrong with it.
pub fn parse_id(id: &str) -> Result<ParsedId<'_>, String> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!(
            "upgrade name `{id}` must use only lowercase ascii letters, digits and `_`"
        ));
    }
    if id.len() > 255 {
        return Err(format!("upgrade name `{id}` is longer than 255 characters"));
    }
    let parts: Vec<&str> = id.split('_').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("upgrade name `{id}` has an empty part between `_`"));
    }
    // A release: `<repository>_release_<x>_<y>_<z>`, the repository being one or more parts.
    if parts.len() >= 5 && parts[parts.len() - 4] == "release" {
        let nums: Vec<Option<u64>> = parts[parts.len() - 3..].iter().map(|p| p.parse().ok()).collect();
        if let [Some(x), Some(y), Some(z)] = nums[..] {
            let repository_len = id.len()
                - parts[parts.len() - 4..]
                    .iter()
                    .map(|p| p.len() + 1)
                    .sum::<usize>();
            return Ok(ParsedId::Release {
                repository: &id[..repository_len],
                version: (x, y, z),
            });
        }
    }
    // A recipe: the first `_<yyyy>_<mm>_<dd>_` after at least one module part.
    for start in 1..parts.len() {
        if parts.len() < start + 4 {
            break;
        }
        let (y, m, d) = (parts[start], parts[start + 1], parts[start + 2]);
        let shaped = y.len() == 4 && m.len() == 2 && d.len() == 2;
        if !shaped || ![y, m, d].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let (year, month, day): (u16, u8, u8) = (
            y.parse().unwrap_or(0),
            m.parse().unwrap_or(0),
            d.parse().unwrap_or(0),
        );
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(format!("upgrade name `{id}` has an impossible date {y}-{m}-{d}"));
        }
        if parts[..start]
            .iter()
            .any(|p| p.starts_with(|c: char| c.is_ascii_digit()))
        {
            return Err(format!(
                "upgrade name `{id}` has a module that starts with a digit"
            ));
        }
        let module_len = parts[..start].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
        let name_start = module_len + "_yyyy_mm_dd_".len();
        return Ok(ParsedId::Recipe {
            module: &id[..module_len],
            date: (year, month, day),
            name: &id[name_start..],
        });
    }
    Err(format!(
        "upgrade name `{id}` must be `<module>_<yyyy>_<mm>_<dd>_<name>` or `<repository>_release_<x>_<y>_<z>`"
    ))
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_and_releases_parse() {
        assert_eq!(
            parse_id("records_2024_03_05_add_version_id"),
            Ok(ParsedId::Recipe {
                module: "records",
                date: (2024, 3, 5),
                name: "add_version_id"
            })
        );
        assert_eq!(
            parse_id("my_app_2024_02_29_leap"),
            Ok(ParsedId::Recipe {
                module: "my_app",
                date: (2024, 2, 29),
                name: "leap"
            })
        );
        assert_eq!(
            parse_id("invenio_release_1_10_0"),
            Ok(ParsedId::Release {
                repository: "invenio",
                version: (1, 10, 0)
            })
        );
    }

    #[test]
    fn bad_names_say_why() {
        for (id, why) in [
            ("records_2024_02_30_x", "impossible date"),
            ("2024_01_01_x", "must be"),
            ("records_initial", "must be"),
            ("Records_2024_01_01_x", "lowercase"),
            ("records_2024_01_01_", "empty part"),
            ("records_2024_13_01_x", "impossible date"),
            ("invenio_release_1_0", "must be"),
        ] {
            let err = parse_id(id).unwrap_err();
            assert!(err.contains(why), "{id}: {err}");
        }
    }
}
