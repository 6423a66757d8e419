//! Where a fleet's targets come from: URLs listed, a file of URLs, a query against a control
//! database, or a pattern of PostgreSQL schemas. Each source gives its targets in order with
//! where each was found (for messages); a source that cannot be read is an error, never an empty
//! fleet.

use std::path::{Path, PathBuf};

use crate::connection::{AnyConnection, Backend};
use crate::error::Error;
use crate::url::DatabaseUrl;

/// One source of targets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TargetSource {
    /// URLs, as listed; a relative SQLite path is relative to `base` (the directory of the file
    /// that lists them), when given.
    Urls {
        /// The URLs.
        urls: Vec<String>,
        /// What lists them, for messages (`targets in upgrader.toml`).
        listed_in: String,
        /// The directory relative SQLite paths start from.
        base: Option<PathBuf>,
    },
    /// A file of URLs, one per line; blank lines and lines starting with `#` are skipped; a
    /// relative SQLite path is relative to the file's directory.
    File(PathBuf),
    /// A query against the control database returning one column named `url` (a URL per row)
    /// or `schema` (a PostgreSQL schema of the control database per row).
    Query {
        /// The control database.
        control: DatabaseUrl,
        /// The query.
        sql: String,
    },
    /// The schemas of the control database (PostgreSQL) whose names match `pattern`, where `*`
    /// is any run of characters and `?` any one character (`tenant_*`), in name order.
    Schemas {
        /// The database that holds the schemas.
        control: DatabaseUrl,
        /// The pattern.
        pattern: String,
    },
}

impl TargetSource {
    /// The targets, with where each was found (`tenants.txt:12`, `schema tenant_7`).
    pub fn targets(&self) -> Result<Vec<(DatabaseUrl, String)>, Error> {
        match self {
            TargetSource::Urls {
                urls,
                listed_in,
                base,
            } => urls
                .iter()
                .enumerate()
                .map(|(i, url)| {
                    let origin = format!("{listed_in}[{i}]");
                    Ok((read_url(url, base.as_deref(), &origin)?, origin))
                })
                .collect(),
            TargetSource::File(path) => file(path),
            TargetSource::Query { control, sql } => query(control, sql),
            TargetSource::Schemas { control, pattern } => schemas(control, pattern),
        }
    }

    /// What this source is, for messages: `tenants.txt`, `the query`, `schemas tenant_*`.
    pub fn describe(&self) -> String {
        match self {
            TargetSource::Urls { listed_in, .. } => listed_in.clone(),
            TargetSource::File(path) => format!("targets file {}", path.display()),
            TargetSource::Query { control, .. } => format!("the targets query on {}", control.redacted()),
            TargetSource::Schemas { control, pattern } => {
                format!("schemas matching `{pattern}` in {}", control.redacted())
            }
        }
    }
}

/// `url`, with a relative SQLite path taken from `base`.
fn read_url(url: &str, base: Option<&Path>, origin: &str) -> Result<DatabaseUrl, Error> {
    let parsed = DatabaseUrl::parse(url).map_err(|e| Error::InvalidTarget {
        origin: origin.to_owned(),
        reason: e.to_string(),
    })?;
    match (parsed.sqlite_path(), base) {
        (Some(path), Some(base)) if path.is_relative() && !base.as_os_str().is_empty() => {
            let path = base.join(path);
            DatabaseUrl::parse(&format!("sqlite:{}", path.display())).map_err(|e| Error::InvalidTarget {
                origin: origin.to_owned(),
                reason: e.to_string(),
            })
        }
        _ => Ok(parsed),
    }
}

fn file(path: &Path) -> Result<Vec<(DatabaseUrl, String)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        doing: "cannot read the targets file",
        path: path.display().to_string(),
        source,
    })?;
    let base = path.parent();
    let mut targets = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = format!("{}:{}", path.display(), number + 1);
        targets.push((read_url(line, base, &origin)?, origin));
    }
    Ok(targets)
}

/// Runs `sql` on the control database: its column `url` or `schema`, as text, row by row.
fn query(control: &DatabaseUrl, sql: &str) -> Result<Vec<(DatabaseUrl, String)>, Error> {
    let mut conn = control.connect_read_only()?;
    let sql = sql.trim().trim_end_matches(';');
    let failed = |reason: String| Error::TargetsQuery {
        database: control.redacted(),
        reason: control.scrub(&reason),
    };
    let column = |conn: &mut AnyConnection, name: &str| {
        let text = conn.backend().dialect().text_type();
        conn.query_texts(&format!(
            "SELECT CAST(fleet_targets.\"{name}\" AS {text}) AS value FROM ({sql}) AS fleet_targets"
        ))
    };
    let (kind, rows) = match column(&mut conn, "url") {
        Ok(rows) => ("url", rows),
        Err(by_url) => match column(&mut conn, "schema") {
            Ok(rows) => ("schema", rows),
            Err(_) => {
                // The query itself, or only its column's name?
                return Err(
                    match conn.query_i64(&format!("SELECT COUNT(*) AS value FROM ({sql}) AS fleet_targets")) {
                        Ok(_) => failed("it returns no column named `url` or `schema`".into()),
                        Err(_) => failed(crate::connection::one_line(&by_url.to_string())),
                    },
                );
            }
        },
    };
    rows.into_iter()
        .enumerate()
        .map(|(i, value)| {
            let origin = format!("targets query row {}", i + 1);
            let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
                return Err(failed(format!("row {} has no {kind} (NULL or empty)", i + 1)));
            };
            let url = match kind {
                "url" => read_url(&value, None, &origin)?,
                _ => schema_target(control, value.trim(), &origin)?,
            };
            Ok((url, origin))
        })
        .collect()
}

/// The control database with `schema` as the target (PostgreSQL).
fn schema_target(control: &DatabaseUrl, schema: &str, origin: &str) -> Result<DatabaseUrl, Error> {
    control.with_schema(schema).map_err(|e| Error::InvalidTarget {
        origin: origin.to_owned(),
        reason: e.to_string(),
    })
}

/// The schemas of `control` matching `pattern`, as targets.
fn schemas(control: &DatabaseUrl, pattern: &str) -> Result<Vec<(DatabaseUrl, String)>, Error> {
    if control.backend() != Backend::Postgres {
        return Err(Error::TargetsQuery {
            database: control.redacted(),
            reason: format!(
                "a schema pattern needs PostgreSQL, and this is {} (list the databases instead)",
                control.backend()
            ),
        });
    }
    if pattern.trim().is_empty() {
        return Err(Error::TargetsQuery {
            database: control.redacted(),
            reason: "the schema pattern is empty".into(),
        });
    }
    let mut conn = control.connect_read_only()?;
    // The system's own schemas are never tenants.
    let sql = format!(
        "SELECT CAST(nspname AS TEXT) AS value FROM pg_namespace \
         WHERE nspname LIKE '{}' ESCAPE '\\' AND nspname NOT LIKE 'pg\\_%' ESCAPE '\\' \
         AND nspname <> 'information_schema' ORDER BY nspname",
        like(pattern)
    );
    let names = conn.query_texts(&sql).map_err(|e| Error::TargetsQuery {
        database: control.redacted(),
        reason: control.scrub(&crate::connection::one_line(&e.to_string())),
    })?;
    names
        .into_iter()
        .flatten()
        .map(|name| {
            let origin = format!("schema {name}");
            Ok((schema_target(control, &name, &origin)?, origin))
        })
        .collect()
}

/// A glob (`*`, `?`) as a `LIKE` pattern with `\` as its escape, inside a quoted SQL string.
fn like(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.trim().chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\'' => out.push_str("''"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_becomes_an_escaped_like_pattern() {
        assert_eq!(like("tenant_*"), "tenant\\_%");
        assert_eq!(like("t?n*"), "t_n%");
        assert_eq!(like("50%_it's"), "50\\%\\_it''s");
        assert_eq!(like(" a\\b "), "a\\\\b");
    }
}
