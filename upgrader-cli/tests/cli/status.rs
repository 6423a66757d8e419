//! `status`: one exit code per answer, on every backend, and nothing changed.

use serde_json::Value;
use upgrader_core::Backend;

use crate::EXAMPLE_ORDER;
use crate::support::{Demo, example_binary, upgrader};

const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];
const LEAF: &str = "accounts_2024_06_01_add_last_login";
const GHOST: &str = "billing_2031_01_01_initial";

/// `status --json` on the demo's database: the exit code and the parsed object, after checking
/// that the object says the same code, that stdout is only the object, and that the database is
/// as it was.
#[track_caller]
fn status_json(demo: &Demo) -> (i32, Value) {
    let before = demo.snapshot();
    let out = demo.cmd(&["status", "--json"]).output().unwrap();
    assert_eq!(demo.snapshot(), before, "status changed the database");
    let code = out.status.code().expect("an exit code");
    let value: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is JSON ({e}): {}", text(&out)));
    assert_eq!(value["exit_code"], code, "{value}");
    (code, value)
}

/// `status` as text: the exit code, stdout and stderr, after checking the database is as it was.
#[track_caller]
fn status_text(demo: &Demo) -> (i32, String, String) {
    let before = demo.snapshot();
    let out = demo.cmd(&["status"]).output().unwrap();
    assert_eq!(demo.snapshot(), before, "status changed the database");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

use upgrader_tests::output_text as text;

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|item| item["upgrade"].as_str().unwrap())
        .collect()
}

fn run(demo: &Demo) {
    let out = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// A history row of an upgrade this binary does not link, as a newer release leaves it.
fn add_ghost(demo: &Demo) {
    demo.connect()
        .execute(&format!(
            "INSERT INTO upgrade (upgrade, applied, method) VALUES ('{GHOST}', '2031-01-01 00:00:00', 'run')"
        ))
        .unwrap();
}

/// The recorded checksum of `records_2024_01_15_initial` made different from its code's.
fn edit(demo: &Demo) {
    demo.connect()
        .execute(
            "UPDATE upgrade SET checksum = '0123456789abcdef' WHERE upgrade = 'records_2024_01_15_initial'",
        )
        .unwrap();
}

/// Takes the leaf back out of the history (its column stays), so that running it again fails.
fn mark_leaf_pending(demo: &Demo) {
    let out = demo
        .cmd(&["mark", LEAF, "--pending", "--yes-i-know"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn status_is_0_when_up_to_date_and_3_when_upgrades_are_pending() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        let (code, value) = status_json(&demo);
        assert_eq!(code, 3, "{backend}: {value}");
        assert_eq!(value["state"], "pending", "{backend}");
        assert_eq!(value["states"], serde_json::json!(["pending"]), "{backend}");
        assert_eq!(ids(&value["pending"]), EXAMPLE_ORDER, "{backend}");
        assert_eq!(value["applied"], 0, "{backend}");
        assert_eq!(value["rollback_to_this_binary"], "safe", "{backend}");
        let (code, stdout, stderr) = status_text(&demo);
        assert_eq!(code, 3, "{backend}: {stdout}{stderr}");
        assert!(
            stdout.starts_with("status: pending (exit 3)\n"),
            "{backend}: {stdout}"
        );
        assert!(stdout.contains(&format!("\n  {LEAF}\n")), "{backend}: {stdout}");
        assert!(
            stderr.contains("`upgrader run` applies them"),
            "{backend}: {stderr}"
        );

        run(&demo);
        let (code, value) = status_json(&demo);
        assert_eq!(code, 0, "{backend}: {value}");
        assert_eq!(value["state"], "up_to_date", "{backend}");
        assert_eq!(value["applied"], EXAMPLE_ORDER.len(), "{backend}");
        for finding in ["pending", "interrupted", "running", "ahead", "edited", "implied"] {
            assert_eq!(value[finding], serde_json::json!([]), "{backend}: {finding}");
        }
        let (code, stdout, stderr) = status_text(&demo);
        assert_eq!(code, 0, "{backend}");
        assert_eq!(stdout, "status: up to date (exit 0)\napplied: 8\n", "{backend}");
        assert_eq!(stderr, "", "{backend}");
    }
}

#[test]
fn status_is_5_when_the_history_has_upgrades_this_binary_does_not_know() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        run(&demo);
        add_ghost(&demo);
        let (code, value) = status_json(&demo);
        assert_eq!(code, 5, "{backend}: {value}");
        assert_eq!(value["state"], "ahead", "{backend}");
        assert_eq!(
            value["ahead"],
            serde_json::json!([{
                "upgrade": GHOST,
                "applied_at": "2031-01-01 00:00:00",
                "method": "run",
                "module": "billing",
                "module_linked": false,
            }]),
            "{backend}"
        );
        assert_eq!(
            value["rollback_to_this_binary"], "only_if_backward_compatible",
            "{backend}"
        );
        let (code, stdout, stderr) = status_text(&demo);
        assert_eq!(code, 5, "{backend}");
        assert!(
            stdout.contains(&format!(
                "ahead: 1\n  {GHOST}  applied 2031-01-01 00:00:00 by run, module billing, which this binary does not link\n"
            )),
            "{backend}: {stdout}"
        );
        assert!(
            stderr.contains(&format!(
                "1 upgrade(s) this binary does not know (`{GHOST}`): a newer release"
            )) && stderr.contains(
                "rolling back to this binary is safe only if those upgrades are backward compatible"
            ),
            "{backend}: {stderr}"
        );
    }
}

#[test]
fn status_is_6_when_an_applied_upgrade_was_edited() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        run(&demo);
        edit(&demo);
        let (code, value) = status_json(&demo);
        assert_eq!(code, 6, "{backend}: {value}");
        assert_eq!(value["state"], "edited", "{backend}");
        let edited = &value["edited"];
        assert_eq!(ids(edited), ["records_2024_01_15_initial"], "{backend}");
        assert_eq!(edited[0]["recorded_checksum"], "0123456789abcdef", "{backend}");
        let current = edited[0]["current_checksum"].as_str().unwrap();
        assert_eq!(current.len(), 16, "{backend}: {current}");
        assert_ne!(current, "0123456789abcdef", "{backend}");
        let applied_at = edited[0]["applied_at"].as_str().unwrap();
        assert!(
            chrono::NaiveDateTime::parse_from_str(applied_at, "%Y-%m-%d %H:%M:%S").is_ok(),
            "{backend}: {applied_at}"
        );
        assert_eq!(value["rollback_to_this_binary"], "safe", "{backend}");
        let (code, stdout, stderr) = status_text(&demo);
        assert_eq!(code, 6, "{backend}");
        assert!(
            stdout.contains(&format!("checksum 0123456789abcdef then, {current} now")),
            "{backend}: {stdout}"
        );
        assert!(
            stderr.contains("edited: `records_2024_01_15_initial` was changed after it was applied"),
            "{backend}: {stderr}"
        );
    }
}

// An upgrade that fails is left interrupted on MySQL/MariaDB (its DDL may be committed), and
// rolled back elsewhere: there it is simply pending again.
#[test]
fn status_is_4_after_a_failed_upgrade_on_mysql_and_3_where_it_rolled_back() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        run(&demo);
        mark_leaf_pending(&demo);
        // Its column is still there: adding it again fails.
        let out = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{backend}: {}", text(&out));
        let (code, value) = status_json(&demo);
        assert_eq!(ids(&value["pending"]), [LEAF], "{backend}: {value}");
        if backend == Backend::Mysql {
            assert_eq!(code, 4, "{value}");
            assert_eq!(value["state"], "interrupted");
            let interrupted = &value["interrupted"];
            assert_eq!(ids(interrupted), [LEAF], "{value}");
            assert!(
                interrupted[0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("last_login_at"),
                "{value}"
            );
            assert!(
                interrupted[0]["runner"].as_str().unwrap().starts_with("pid "),
                "{value}"
            );
            let (code, stdout, stderr) = status_text(&demo);
            assert_eq!(code, 4);
            assert!(
                stdout.starts_with("status: interrupted, pending (exit 4)\n"),
                "{stdout}"
            );
            assert!(
                stderr.contains(&format!(
                    "`upgrader resolve {LEAF} --retry` (it did not finish) or `--mark-applied` (it did)"
                )),
                "{stderr}"
            );
        } else {
            assert_eq!(code, 3, "{backend}: {value}");
            assert_eq!(value["interrupted"], serde_json::json!([]), "{backend}");
        }
    }
}

#[test]
fn status_lists_every_finding_and_exits_with_the_most_severe() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        run(&demo);
        mark_leaf_pending(&demo);
        add_ghost(&demo);
        let (code, value) = status_json(&demo);
        assert_eq!(
            (code, &value["states"]),
            (5, &serde_json::json!(["ahead", "pending"])),
            "{backend}"
        );
        edit(&demo);
        let (code, value) = status_json(&demo);
        assert_eq!(
            (code, &value["states"]),
            (6, &serde_json::json!(["edited", "ahead", "pending"])),
            "{backend}"
        );
        assert_eq!(ids(&value["pending"]), [LEAF], "{backend}");
        assert_eq!(ids(&value["ahead"]), [GHOST], "{backend}");
        assert_eq!(ids(&value["edited"]), ["records_2024_01_15_initial"], "{backend}");
        // A start mark with no runner alive, as a killed runner leaves it.
        demo.connect()
            .execute(&format!(
                "INSERT INTO upgrade_in_progress (upgrade, started, runner) VALUES ('{LEAF}', CURRENT_TIMESTAMP, 'pid 1 on elsewhere')"
            ))
            .unwrap();
        let (code, value) = status_json(&demo);
        assert_eq!(
            (code, &value["states"]),
            (
                4,
                &serde_json::json!(["interrupted", "edited", "ahead", "pending"])
            ),
            "{backend}"
        );
        assert_eq!(value["state"], "interrupted", "{backend}");
        let (code, stdout, _) = status_text(&demo);
        assert_eq!(code, 4, "{backend}");
        for section in ["interrupted: 1\n", "edited: 1\n", "ahead: 1\n", "pending: 1\n"] {
            assert!(stdout.contains(section), "{backend}: {section} in {stdout}");
        }
    }
}

#[test]
fn status_cannot_tell_is_an_error_with_exit_1() {
    // Unreachable.
    let out = upgrader()
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "status",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: cannot connect to PostgreSQL database"),
        "{}",
        text(&out)
    );
    // A table in the history's place that is not a history.
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        demo.connect()
            .execute("CREATE TABLE upgrade (id INTEGER PRIMARY KEY, name VARCHAR(20))")
            .unwrap();
        for args in [&["status"][..], &["status", "--json"]] {
            let before = demo.snapshot();
            let out = demo.cmd(args).output().unwrap();
            assert_eq!(demo.snapshot(), before, "{backend}");
            assert_eq!(out.status.code(), Some(1), "{backend}: {}", text(&out));
            assert!(out.stdout.is_empty(), "{backend}: {}", text(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.starts_with("error: ") && stderr.contains("`upgrade`"),
                "{backend}: {stderr}"
            );
            assert!(stderr.contains("\nhint: "), "{backend}: {stderr}");
        }
    }
    // A file that is not a database.
    let demo = Demo::sqlite();
    std::fs::write(&demo.url, b"not a database, just bytes ".repeat(100)).unwrap();
    let out = demo.cmd(&["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

#[test]
fn status_on_a_missing_sqlite_file_creates_nothing() {
    let demo = Demo::sqlite();
    let (code, value) = status_json(&demo);
    assert_eq!((code, value["state"].as_str()), (3, Some("pending")));
    assert_eq!(
        std::fs::read_dir(demo.dir.path()).unwrap().count(),
        0,
        "nothing created"
    );
}

// `status | head -1` with pipefail: a closed stdout must not turn the answer into exit 0.
#[test]
fn status_keeps_its_answer_when_stdout_is_closed() {
    let demo = Demo::sqlite();
    for args in [&["status"][..], &["status", "--json"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let status = std::process::Command::new(example_binary("upgrader"))
            .env_remove("UPGRADER_DATABASE_URL")
            .current_dir(demo.dir.path())
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(3), "{args:?}");
    }
}

// A readiness probe during a live run on MySQL: the start mark is the runner's (it holds the
// lock), so the upgrade is pending and running, not interrupted.
#[test]
fn status_during_a_run_on_mysql_is_pending_not_interrupted() {
    let Some(demo) = Demo::new(Backend::Mysql) else {
        return;
    };
    run(&demo);
    mark_leaf_pending(&demo);
    let mut runner = demo.connect();
    runner
        .execute(&format!(
            "INSERT INTO upgrade_in_progress (upgrade, started, runner) VALUES ('{LEAF}', CURRENT_TIMESTAMP, 'pid 1 on elsewhere')"
        ))
        .unwrap();
    let url = upgrader_core::DatabaseUrl::parse(&demo.url).unwrap();
    let upgrader_core::LockId::Mysql { name_sql } =
        upgrader_core::LockId::of(&url, upgrader_core::DEFAULT_SCOPE).unwrap()
    else {
        panic!("a MySQL lock");
    };
    assert_eq!(
        runner
            .query_i64(&format!("SELECT GET_LOCK({name_sql}, 0) AS value"))
            .unwrap(),
        Some(1)
    );
    let (code, value) = status_json(&demo);
    assert_eq!(code, 3, "{value}");
    assert_eq!(value["interrupted"], serde_json::json!([]), "{value}");
    assert_eq!(ids(&value["running"]), [LEAF], "{value}");
    assert_eq!(ids(&value["pending"]), [LEAF], "{value}");
    // The runner lets go (as its session would end), its mark stays: now it is interrupted.
    assert_eq!(
        runner
            .query_i64(&format!("SELECT RELEASE_LOCK({name_sql}) AS value"))
            .unwrap(),
        Some(1)
    );
    let (code, value) = status_json(&demo);
    assert_eq!(code, 4, "{value}");
    assert_eq!(ids(&value["interrupted"]), [LEAF], "{value}");
}
