//! What the operator can do next about an engine error, in the command line's terms: its flags,
//! `upgrader.toml`, and its commands as the operator types them (`myapp upgrader resolve …` when
//! an application mounts the command set, `upgrader resolve …` for the demo). The engine's errors
//! carry the facts (ids, the backend, which limit a statement ran into); the words are here.

use upgrader_core::{Backend, Blocked, Error, Limit};

use crate::Host;

/// The `hint:` line for `err`, when there is something useful to say.
pub(crate) fn hint(err: &Error, host: &Host) -> Option<String> {
    let command = |args: &str| format!("`{} {args}`", host.name);
    Some(match err {
        // URL forms are the engine's knowledge: it says which would be read.
        Error::InvalidUrl { hint, .. } => hint.clone(),
        Error::Connect {
            backend: Backend::Sqlite,
            ..
        } => "check that the path names the application's SQLite database file, and its permissions".into(),
        Error::BackendNotCompiled { backend, .. } => format!(
            "build the program with the Cargo feature `{}` of `upgrader-cli` or `upgrader-core` (`upgrader-cli` turns on all three by default)",
            backend.feature()
        ),
        Error::Connect { .. } => {
            "check that the server is running, and the host, port, user and database in the URL".into()
        }
        Error::UnusableSchema {
            schema, missing: true, ..
        } => format!(
            "create the schema first (CREATE SCHEMA \"{}\"), or name an existing one in the URL's `schema=`",
            schema.replace('"', "\"\"")
        ),
        Error::EmptyFleet { .. } => {
            "list the fleet's databases there (one URL per line in a targets file), or check the query or the schema pattern".into()
        }
        Error::DuplicateTarget { .. } => "list each database once".into(),
        Error::SameDatabase { .. } => {
            "list each database once, under one name: runs under two names would each apply its upgrades".into()
        }
        Error::InvalidTarget { .. } => {
            "write one database URL per line (postgres://…, mysql://…, sqlite://path or a file path); blank lines and # comments are skipped".into()
        }
        Error::TargetsQuery { .. } => {
            "run the query by hand on the control database (--database-url): it must return a column named `url` (database URLs) or `schema` (schemas of that PostgreSQL database)".into()
        }
        Error::UnusableSchema { .. } => {
            "grant the user USAGE on the schema (and CREATE, for the history's tables), or name another one in the URL's `schema=`".into()
        }
        Error::UnknownDependency { .. } => {
            "link the crate that provides it, or fix the name in `depends_on`".into()
        }
        Error::InactiveDependency { package, .. } => {
            format!("add `{package}` to `packages` in upgrader.toml, or deactivate the dependent package too")
        }
        Error::UnknownPackage { .. } => {
            "fix `packages` in upgrader.toml, or link the crate that provides it".into()
        }
        Error::Cycle { .. } => "remove one of these dependencies".into(),
        Error::DuplicateId { .. } => "rename one of them; ids are unique across all modules".into(),
        Error::NothingLinked => {
            "name every crate that holds upgrades in the binary (`use my_module as _;`), or the linker drops their registrations"
                .into()
        }
        Error::UnknownUpgrade { .. } => format!(
            "{} and {} list the known ids",
            command("show pending"),
            command("show applied")
        ),
        Error::HistoryUnreadable { .. } => {
            "check that the database user may read that table, and what it holds".into()
        }
        Error::ForeignHistoryTable { .. } => {
            "the engine leaves that table alone: choose another name for its history (the `history_table` setting)".into()
        }
        Error::InvalidHistoryTable { .. } => format!(
            "use lowercase letters, digits and `_`, not starting with a digit, at most {} characters",
            upgrader_core::HistoryTable::MAX_LEN
        ),
        Error::PreChecksFailed { .. } => "fix what the checks report and run again".into(),
        Error::UpgradeFailed {
            rolled_back: true, ..
        } => "fix the cause and run again: the run resumes at the failed upgrade".into(),
        Error::UpgradeFailed { id, .. } => format!(
            "its DDL may be partly applied: inspect the database, then {} or `--mark-applied`",
            command(&format!("resolve {id} --retry"))
        ),
        Error::PostChecksFailed { .. } => {
            "the upgrades are recorded as applied; inspect what the checks report".into()
        }
        Error::Blocked { blocked, .. } => blocked_hint(blocked),
        Error::LockTimeout { .. } => "wait for the other runner to finish, or raise --lock-timeout".into(),
        Error::LockHeld { .. } => {
            "the run did not wait for it (--lock-timeout 0): run again when the other runner is done, or give --lock-timeout".into()
        }
        Error::Interrupted { interrupted } => {
            let id = interrupted.first().map_or("<id>", |i| i.upgrade.as_str());
            format!(
                "inspect the database, then {} (run it again) or {} (it did finish)",
                command(&format!("resolve {id} --retry")),
                command(&format!("resolve {id} --mark-applied"))
            )
        }
        Error::Edited { edited } => edited_hint(edited.first().map_or("<id>", |e| e.id.as_str()), host),
        Error::PendingDependencies { .. } => {
            "mark those applied too, or pass --force if the database really has them".into()
        }
        Error::RecordedDependents { .. } => {
            "take those back too (--with-dependents: they run again at the next run), or leave it applied".into()
        }
        Error::NotInterrupted { .. } => format!("{} lists the interrupted upgrades", command("check")),
        Error::NotApplied { .. } | Error::NotEdited { .. } => format!(
            "accept is for an applied upgrade whose code changed since: {} lists them",
            command("status")
        ),
        Error::EmptyReason => "say why the edit is harmless, e.g. --reason \"typo in a log message\"".into(),
        Error::Graph { problems } => return problems.iter().find_map(|p| hint(p, host)),
        Error::Io { .. } => "check the path and its permissions".into(),
        Error::UnknownModule { known, .. } => format!("the active modules are: {}", known.join(", ")),
        Error::NeedsTransactionalDdl { .. } => {
            "run without --atomic/--rehearse (each upgrade commits with its history row), or preview with --dry-run".into()
        }
        Error::OutsideTransaction { upgrades, .. } => format!(
            "run without --atomic/--rehearse; or apply them and what they need first ({}), then the rest in one transaction",
            command(&format!("run --to {}", upgrades.last().map_or("<id>", String::as_str)))
        ),
        Error::RolledBack { rehearsal: true, .. } => {
            "fix the cause and rehearse again; the database is as it was".into()
        }
        Error::RolledBack { .. } => {
            "fix the cause and run again: the run starts over from the first of these upgrades".into()
        }
        _ => return None,
    })
}

/// What to do about an applied upgrade whose code was edited (`id`, the first of them).
pub(crate) fn edited_hint(id: &str, host: &Host) -> String {
    format!(
        "put back the code the database ran and fix mistakes with a new upgrade; for an edit known to be harmless (a typo in a log message, say), `{} accept {id} --reason \"...\"` records the new checksum",
        host.name
    )
}

/// What to do about a statement that gave up waiting: which flag (and key of `upgrader.toml`)
/// sets the limit it ran into.
fn blocked_hint(blocked: &Blocked) -> String {
    match blocked.limit {
        Limit::Run => "end that session or let it finish, then try again; before its first upgrade, `run` waits for a lock at most --lock-timeout".into(),
        Limit::Statement => "--statement-timeout (`statement_timeout_secs`, 0 for no limit) sets how long one statement may run".into(),
        // A limit added later reads as the wait timeout's, the one every statement has.
        _ => "end that session or let it finish, then try again; --wait-timeout (`wait_timeout_secs`) sets how long a statement waits for a lock".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> Host {
        Host::new(name, "1.0.0")
    }

    #[test]
    fn a_backend_left_out_names_the_feature_to_turn_on() {
        for (backend, feature) in [
            (Backend::Sqlite, "`sqlite`"),
            (Backend::Postgres, "`postgres`"),
            (Backend::Mysql, "`mysql`"),
        ] {
            let error = Error::BackendNotCompiled {
                url: "db".into(),
                backend,
            };
            let hint = hint(&error, &host("upgrader")).unwrap();
            assert!(hint.contains(&format!("the Cargo feature {feature}")), "{hint}");
        }
    }

    #[test]
    fn commands_are_named_as_the_host_is_typed() {
        let unknown = Error::UnknownUpgrade {
            id: "accounts_2024_01_01_x".into(),
        };
        assert_eq!(
            hint(&unknown, &host("myapp upgrader")).unwrap(),
            "`myapp upgrader show pending` and `myapp upgrader show applied` list the known ids"
        );
        assert_eq!(
            hint(&unknown, &host("upgrader")).unwrap(),
            "`upgrader show pending` and `upgrader show applied` list the known ids"
        );
        let not_interrupted = Error::NotInterrupted {
            id: "accounts_2024_01_01_x".into(),
        };
        assert_eq!(
            hint(&not_interrupted, &host("app")).unwrap(),
            "`app check` lists the interrupted upgrades"
        );
    }

    #[test]
    fn a_graph_of_problems_takes_the_first_problem_with_a_hint() {
        let graph = Error::Graph {
            problems: vec![
                Error::InvalidId {
                    id: "x".into(),
                    reason: "no date".into(),
                },
                Error::Cycle {
                    cycle: vec!["a".into(), "b".into(), "a".into()],
                },
            ],
        };
        assert_eq!(
            hint(&graph, &host("upgrader")).as_deref(),
            Some("remove one of these dependencies")
        );
    }
}
