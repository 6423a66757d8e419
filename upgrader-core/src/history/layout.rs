//! What is in the place of the history: nothing, the seed system's table, the engine's own, or a
//! table the engine must not touch. Decided from the catalog (the table's kind and columns),
//! never from a query that failed.

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::catalog::{Relation, relation};
use super::sql::bind_query;
use crate::connection::{AnyConnection, Backend, with_conn};
use crate::error::Error;

/// The columns of the seed system's history.
const SEED: [&str; 2] = ["upgrade", "applied"];
/// The columns the engine adds to it.
const ADDED: [&str; 3] = ["duration_ms", "checksum", "method"];
/// The columns of the table of started upgrades.
const IN_PROGRESS: [&str; 4] = ["upgrade", "started", "runner", "error"];

/// What the history table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// No such table: a database without a history yet.
    Absent,
    /// The seed system's table (`upgrade`, `applied`), not adopted yet; `applied` has this type.
    Seed { applied_type: String },
    /// The engine's own table; `applied` has this type (the seed's, when it was adopted).
    /// `started` is false while its table of started upgrades is not made yet (a runner is
    /// setting the history up): no upgrade can have started then.
    Engine { applied_type: String, started: bool },
}

impl Layout {
    pub(crate) fn applied_type(&self) -> &str {
        match self {
            Layout::Absent => "",
            Layout::Seed { applied_type } | Layout::Engine { applied_type, .. } => applied_type,
        }
    }
}

/// Reads the catalog for the history table `table` and its table of started upgrades
/// `in_progress`; `setup` is the version the engine's migrations record once they made both. A
/// table in their place that is not one the engine can read as a history is
/// [`Error::ForeignHistoryTable`]; a catalog that cannot be read is
/// [`Error::HistoryUnreadable`].
pub(crate) fn layout(
    conn: &mut AnyConnection,
    table: &str,
    in_progress: &str,
    setup: &str,
) -> Result<Layout, Error> {
    // The table of started upgrades first: the engine's setup makes it after the history, so on
    // MySQL (DDL committed statement by statement, no snapshot to read in) a setup happening
    // meanwhile cannot show it without its history. The history's own error comes first.
    let started = relation(conn, in_progress);
    let history = relation(conn, table)?;
    let started = started?;
    let layout = match &history {
        None => Layout::Absent,
        Some(history) => classify(conn.backend(), table, history)?,
    };
    let started = match (&layout, started) {
        (Layout::Engine { applied_type, .. }, None) => {
            // The setup makes the history, then this table, then records its version: until it
            // has recorded it, no upgrade can have started.
            if !setup_recorded(conn, setup)? {
                return Ok(Layout::Engine {
                    applied_type: applied_type.clone(),
                    started: false,
                });
            }
            // Recorded, so made: unless it was made since it was looked for, it is missing.
            match relation(conn, in_progress)? {
                Some(started) => Some(started),
                None => {
                    return Err(Error::HistoryUnreadable {
                        table: in_progress.to_owned(),
                        cause: "the history has the engine's layout but this table, which goes with it, does not exist"
                            .into(),
                    });
                }
            }
        }
        (_, started) => started,
    };
    match (&layout, started) {
        (Layout::Engine { .. }, Some(started)) => {
            if !started.is_table {
                return Err(foreign(
                    in_progress,
                    &started,
                    format!("it is a {}, not a table", started.kind),
                ));
            }
            let missing: Vec<&str> = IN_PROGRESS.iter().copied().filter(|c| !started.has(c)).collect();
            let others = started.others(&IN_PROGRESS);
            if !missing.is_empty() || !others.is_empty() {
                return Err(foreign(
                    in_progress,
                    &started,
                    describe(&missing, &others, "the engine's table of started upgrades"),
                ));
            }
            Ok(layout)
        }
        (_, Some(started)) => Err(foreign(
            in_progress,
            &started,
            format!("the engine did not make it: there is no history `{table}` that goes with it"),
        )),
        (_, None) => Ok(layout),
    }
}

fn classify(backend: Backend, table: &str, history: &Relation) -> Result<Layout, Error> {
    if !history.is_table {
        return Err(foreign(
            table,
            history,
            format!("it is a {}, not a table", history.kind),
        ));
    }
    let missing: Vec<&str> = SEED.iter().copied().filter(|c| !history.has(c)).collect();
    let mut known = SEED.to_vec();
    known.extend(ADDED);
    let others = history.others(&known);
    if !missing.is_empty() || !others.is_empty() {
        return Err(foreign(table, history, describe(&missing, &others, "a history")));
    }
    // The engine writes ids as text, and times in a form the column's type takes.
    let upgrade_type = history.type_of("upgrade");
    if !is_text(backend, &upgrade_type) {
        return Err(foreign(
            table,
            history,
            format!("its `upgrade` column is of type `{upgrade_type}`, not text"),
        ));
    }
    let applied_type = history.type_of("applied");
    if !is_time_text_or_number(backend, &applied_type) {
        return Err(foreign(
            table,
            history,
            format!("its `applied` column is of type `{applied_type}`: neither a time, a text nor a number"),
        ));
    }
    // All of the engine's columns: its own layout. Some of them: an adoption that stopped half-way
    // (MySQL commits each `ALTER` at once); its rows are still the seed's.
    Ok(if ADDED.iter().all(|c| history.has(c)) {
        Layout::Engine {
            applied_type,
            started: true,
        }
    } else {
        Layout::Seed { applied_type }
    })
}

/// Whether a column of this type holds text.
fn is_text(backend: Backend, ty: &str) -> bool {
    backend.dialect().is_text_type(ty)
}

/// Whether the engine can read a time from a column of this type, and write one into it.
fn is_time_text_or_number(backend: Backend, ty: &str) -> bool {
    is_text(backend, ty) || backend.dialect().is_time_or_number_type(ty)
}

/// Whether the engine's migrations recorded `version` (the history's tables are made).
fn setup_recorded(conn: &mut AnyConnection, version: &str) -> Result<bool, Error> {
    const MIGRATIONS: &str = "__diesel_schema_migrations";
    if relation(conn, MIGRATIONS)?.is_none() {
        return Ok(false);
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        value: i64,
    }
    let sql = format!("SELECT COUNT(*) AS value FROM {MIGRATIONS} WHERE version = ?");
    let backend = conn.backend();
    let query = bind_query(backend, &sql).bind::<Text, _>(version);
    let counts: QueryResult<Vec<Count>> = with_conn!(conn, c => query.load(c));
    let counts = counts.map_err(|cause| Error::unreadable(MIGRATIONS.to_owned(), cause))?;
    Ok(counts.first().is_some_and(|c| c.value > 0))
}

fn describe(missing: &[&str], others: &[String], what: &str) -> String {
    let list = |names: Vec<&str>| {
        let plural = if names.len() == 1 { "column" } else { "columns" };
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        format!("{plural} {}", names.join(", "))
    };
    let missing = (!missing.is_empty()).then(|| format!("no {}", list(missing.to_vec())));
    let others = (!others.is_empty()).then(|| {
        format!(
            "{} that {what} does not have",
            list(others.iter().map(String::as_str).collect())
        )
    });
    match (missing, others) {
        (Some(missing), Some(others)) => format!("it has {missing}, and {others}"),
        (Some(one), None) | (None, Some(one)) => format!("it has {one}"),
        (None, None) => String::new(),
    }
}

fn foreign(table: &str, relation: &Relation, reason: String) -> Error {
    Error::ForeignHistoryTable {
        table: table.to_owned(),
        columns: relation.names(),
        reason,
    }
}
