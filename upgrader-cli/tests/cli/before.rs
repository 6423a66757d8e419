//! Before a run: the checks come first, and estimates (a default of one second, totals in words,
//! durations measured on another database), through the real binary; `run --max-duration` is in
//! `window.rs`, with these helpers.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use upgrader_core::Backend;

use crate::support::{Demo, example_binary};

pub(crate) const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];
/// The example upgrade with its own estimate and a `pre_upgrade`.
pub(crate) const VERSIONED: &str = "records_2024_03_05_add_version_id";

pub(crate) use upgrader_tests::output_text as text;

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {}", text(out)))
}

pub(crate) fn applied_count(demo: &Demo) -> usize {
    let out = demo.cmd(&["show", "applied", "--json"]).output().unwrap();
    json_of(&out).as_array().unwrap().len()
}

/// A timings file in the demo's directory: each `(id, milliseconds)`, as `show applied --json`
/// prints rows.
pub(crate) fn timings_file(demo: &Demo, name: &str, rows: &[(&str, Option<u64>)]) {
    let rows: Vec<Value> = rows
        .iter()
        .map(|(id, ms)| json!({"upgrade": id, "applied": "2025-01-01 00:00:00", "duration_ms": ms, "checksum": null, "method": "run"}))
        .collect();
    std::fs::write(
        demo.dir.path().join(name),
        serde_json::to_string_pretty(&rows).unwrap(),
    )
    .unwrap();
}

#[test]
fn estimates_without_one_count_a_second_and_totals_read_in_words() {
    let demo = Demo::sqlite();
    let out = demo.cmd(&["show", "pending"]).output().unwrap();
    assert!(
        stderr(&out).contains("8 pending, estimated a few seconds (8s; 7 without an estimate count 1s each)"),
        "{}",
        text(&out)
    );
    for command in [&["show", "pending", "--json"][..], &["check", "--json"]] {
        let value = json_of(&demo.cmd(command).output().unwrap());
        assert_eq!(value["total_estimate_secs"], 8.0, "{command:?}: {value}");
        let rows = value["pending"].as_array().unwrap();
        assert_eq!(rows.len(), 8);
        for row in rows {
            let own = row["upgrade"] == VERSIONED;
            assert_eq!(row["estimate_secs"], 1.0, "{row}");
            assert_eq!(row["estimate_default"], !own, "{row}");
            assert_eq!(row["measured_secs"], Value::Null, "{row}");
            assert_eq!(row["expected_secs"], 1.0, "{row}");
        }
    }
    demo.cmd(&["check"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "pending: 8 upgrade(s), estimated a few seconds (8s; 7 without an estimate count 1s each)\n",
        ));
}

#[test]
fn a_timings_file_lends_the_durations_measured_on_another_database() {
    for backend in BACKENDS {
        let Some(staging) = Demo::new(backend) else {
            continue;
        };
        staging.cmd(&["run", "--yes-i-know"]).assert().success();
        // Staging's history as `show applied --json` prints it, with durations made known: each
        // took a second, the first 2m 30s, the versioning 1h 30m; the release's is unknown.
        let out = staging.cmd(&["show", "applied", "--json"]).output().unwrap();
        let mut rows = json_of(&out);
        for row in rows.as_array_mut().unwrap() {
            row["duration_ms"] = match row["upgrade"].as_str().unwrap() {
                "accounts_2024_01_10_initial" => json!(150_000),
                VERSIONED => json!(5_400_000),
                "examples_release_1_0_0" => Value::Null,
                _ => json!(1_000),
            };
        }
        // A row of an upgrade this binary does not know is ignored.
        rows.as_array_mut().unwrap().push(json!({"upgrade": "billing_2031_01_01_initial", "applied": null, "duration_ms": 99_999_999, "checksum": null, "method": "run"}));
        let demo = Demo::new(backend).unwrap();
        let conf = demo.dir.path().join("conf");
        std::fs::create_dir(&conf).unwrap();
        std::fs::write(conf.join("staging.json"), rows.to_string()).unwrap();
        let total = "estimated about 2 hours (1h 32m; 7 measured; 1 without an estimate count 1s each)";

        let flag = ["--timings", "conf/staging.json"];
        let out = demo.cmd(&flag).args(["show", "pending"]).output().unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out));
        let table = String::from_utf8(out.stdout.clone()).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("UPGRADE") && lines[0].contains("ESTIMATE      MEASURED  WHAT IT DOES"),
            "{table}"
        );
        let row = |id: &str| -> Vec<String> {
            let line = lines.iter().find(|l| l.starts_with(id)).unwrap();
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            row("accounts_2024_01_10_initial")[1..3],
            ["1s (default)", "2m 30s"]
        );
        assert_eq!(row(VERSIONED)[1..3], ["1s", "1h 30m"]);
        assert_eq!(row("examples_release_1_0_0")[1..3], ["1s (default)", "-"]);
        assert!(
            stderr(&out).contains(&format!("8 pending, {total}")),
            "{backend}: {}",
            text(&out)
        );

        // The same file named in upgrader.toml, relative to the file's own directory.
        std::fs::write(conf.join("upgrader.toml"), "timings = \"staging.json\"\n").unwrap();
        for command in [&["show", "pending", "--json"][..], &["check", "--json"]] {
            let value = json_of(
                &demo
                    .cmd(&["--config", "conf/upgrader.toml"])
                    .args(command)
                    .output()
                    .unwrap(),
            );
            assert_eq!(
                value["total_estimate_secs"], 5556.0,
                "{backend} {command:?}: {value}"
            );
            let rows = value["pending"].as_array().unwrap();
            let of = |id: &str| rows.iter().find(|r| r["upgrade"] == id).unwrap().clone();
            assert_eq!(of(VERSIONED)["measured_secs"], 5400.0);
            assert_eq!(of(VERSIONED)["expected_secs"], 5400.0);
            assert_eq!(of(VERSIONED)["estimate_secs"], 1.0);
            assert_eq!(of("examples_release_1_0_0")["measured_secs"], Value::Null);
            assert_eq!(of("examples_release_1_0_0")["expected_secs"], 1.0);
        }
        let out = demo
            .cmd(&["--config", "conf/upgrader.toml", "check"])
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        assert!(
            stdout.contains(&format!("pending: 8 upgrade(s), {total}")),
            "{backend}: {}",
            text(&out)
        );
        assert!(stdout.contains("1s (default), not measured"), "{stdout}");

        // run's plan shows them too (no window: everything is applied).
        let out = demo.cmd(&flag).args(["run", "--yes-i-know"]).output().unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains("8 upgrade(s) to apply to ") && err.contains(total),
            "{err}"
        );
        assert!(err.contains("ESTIMATE      MEASURED"), "{err}");
        assert_eq!(applied_count(&demo), 8);
    }
}

#[test]
fn checks_run_before_the_plan_is_shown_and_a_failure_changes_nothing() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        let out = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out));
        let err = stderr(&out);
        let checks = err
            .find("checks passed (2): the database accepts writes; pre_upgrade of records_2024_03_05_add_version_id\n")
            .unwrap_or_else(|| panic!("{backend}: {err}"));
        let plan = err.find("8 upgrade(s) to apply").unwrap();
        let first = err.find("[1/8]").unwrap();
        assert!(
            plan < checks && checks < first,
            "{backend}: the plan says the checks passed: {err}"
        );

        // A record whose owner does not exist: the versioning's pre_upgrade refuses.
        demo.cmd(&[
            "mark",
            VERSIONED,
            "--pending",
            "--with-dependents",
            "--yes-i-know",
        ])
        .assert()
        .success();
        let mut conn = demo.connect();
        let off = match backend {
            Backend::Postgres => "SET session_replication_role = replica",
            Backend::Mysql => "SET FOREIGN_KEY_CHECKS = 0",
            _ => "PRAGMA foreign_keys = OFF",
        };
        conn.execute(off).unwrap();
        conn.execute("INSERT INTO records (owner_id, title, body) VALUES (4242, 'orphan', 'x')")
            .unwrap();
        drop(conn);
        let before = demo.snapshot();
        let out = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{backend}: {}", text(&out));
        assert_eq!(out.stdout, b"");
        let err = stderr(&out);
        assert!(
            err.contains("error: 1 pre-run check(s) failed, nothing was applied: records_2024_03_05_add_version_id: 1 record(s) have an owner that does not exist")
                && err.contains("\nhint: fix what the checks report and run again\n"),
            "{backend}: {err}"
        );
        assert!(
            !err.contains("to apply"),
            "{backend}: no plan is shown for a run that cannot go ahead: {err}"
        );
        assert_eq!(
            demo.snapshot(),
            before,
            "{backend}: the refused run changed the database"
        );
    }
}

/// `run` in a terminal (a pty), as an operator types it, on the demo's database.
fn run_in_a_terminal(demo: &Demo, args: &[&str]) -> rexpect::session::PtySession {
    let mut cmd = std::process::Command::new(example_binary("upgrader"));
    cmd.current_dir(demo.dir.path())
        .env_remove("UPGRADER_DATABASE_URL")
        .arg("run")
        .args(args);
    rexpect::session::spawn_command(cmd, Some(30_000)).expect("a pty")
}

#[test]
fn in_a_terminal_the_checks_pass_before_the_question_and_a_failure_asks_nothing() {
    let demo = Demo::sqlite();
    let mut term = run_in_a_terminal(&demo, &[]);
    let before = term.exp_string("Apply these upgrades? [y/N]").unwrap();
    assert!(before.contains("checks passed (2): "), "{before}");
    term.send_line("").unwrap();
    term.exp_string("error: cancelled; nothing was applied").unwrap();
    term.exp_eof().unwrap();

    // The versioning's pre_upgrade fails: the run stops before asking.
    demo.cmd(&[
        "mark",
        "records_2024_01_15_initial",
        "--applied",
        "--force",
        "--yes-i-know",
    ])
    .assert()
    .success();
    let mut conn = demo.connect();
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        .unwrap();
    conn.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, owner_id BIGINT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)")
        .unwrap();
    conn.execute("INSERT INTO records (owner_id, title, body) VALUES (7, 'orphan', 'x')")
        .unwrap();
    drop(conn);
    let before = demo.snapshot();
    let mut term = run_in_a_terminal(&demo, &[]);
    let shown = term.exp_eof().unwrap();
    assert!(
        shown.contains("error: 1 pre-run check(s) failed, nothing was applied: records_2024_03_05_add_version_id: 1 record(s) have an owner"),
        "{shown}"
    );
    assert!(
        !shown.contains("Apply these upgrades?"),
        "asked although the run cannot go ahead: {shown}"
    );
    assert_eq!(demo.snapshot(), before);
}

/// Refused with exit `code`, an `error:` line and a `hint:` line, and the database unchanged.
#[track_caller]
pub(crate) fn assert_refused(demo: &Demo, args: &[&str], code: i32, error: &str) {
    let before = demo.snapshot();
    let out = demo.cmd(args).output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
    assert_eq!(out.stdout, b"", "{args:?}");
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.contains(error),
        "{args:?}: {error:?} in {err}"
    );
    assert!(err.contains("\nhint: "), "{args:?}: {err}");
    assert_eq!(demo.snapshot(), before, "{args:?} changed the database");
}
pub(crate) fn applied_count_unconfigured(demo: &Demo) -> usize {
    std::fs::remove_file(demo.dir.path().join("upgrader.toml")).unwrap();
    applied_count(demo)
}

#[test]
fn a_timings_file_that_cannot_be_used_is_refused_before_anything_is_applied() {
    let cases: [(&str, Option<&str>, &str); 6] = [
        (
            "missing.json",
            None,
            "timings file missing.json: it does not exist",
        ),
        (
            "not-json.json",
            Some("upgrade,duration_ms\n"),
            "timings file not-json.json: it is not JSON: ",
        ),
        (
            "object.json",
            Some("{\"pending\": []}"),
            "it is an object, not a list of applied upgrades",
        ),
        (
            "numbers.json",
            Some("[1, 2]"),
            "entry 1 of the list is a number, not an object",
        ),
        (
            "no-duration.json",
            Some("[{\"upgrade\": \"accounts_2024_01_10_initial\"}]"),
            "entry 1 of the list (`accounts_2024_01_10_initial`) has no `duration_ms`",
        ),
        (
            "negative.json",
            Some("[{\"upgrade\": \"x\", \"duration_ms\": -3}]"),
            "`duration_ms` is -3, not a whole number of milliseconds",
        ),
    ];
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        demo.cmd(&["mark", "accounts_2024_01_10_initial", "--applied", "--yes-i-know"])
            .assert()
            .success();
        std::fs::create_dir(demo.dir.path().join("a-directory")).unwrap();
        for (name, content, error) in cases {
            if let Some(content) = content {
                std::fs::write(demo.dir.path().join(name), content).unwrap();
            }
            let commands: &[&[&str]] = if backend == Backend::Sqlite {
                &[
                    &["run", "--yes-i-know"],
                    &["check"],
                    &["show", "pending", "--json"],
                ]
            } else {
                &[&["run", "--yes-i-know"]]
            };
            for command in commands {
                let mut args = vec!["--timings", name];
                args.extend_from_slice(command);
                assert_refused(&demo, &args, 1, error);
            }
        }
        assert_refused(
            &demo,
            &["--timings", "a-directory", "run", "--yes-i-know"],
            1,
            "timings file a-directory: it is a directory, not a file",
        );
        // Named in upgrader.toml: the same refusal.
        std::fs::write(
            demo.dir.path().join("upgrader.toml"),
            "timings = \"missing.json\"\n",
        )
        .unwrap();
        assert_refused(
            &demo,
            &["run", "--yes-i-know"],
            1,
            "timings file missing.json: it does not exist",
        );
        assert_eq!(applied_count_unconfigured(&demo), 1);
    }
}

#[test]
fn a_timings_file_the_user_may_not_read_is_refused() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let demo = Demo::sqlite();
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(demo.dir.path(), 0o755);
    let file = demo.dir.path().join("secret.json");
    std::fs::write(&file, "[]").unwrap();
    mode(&file, 0o000);
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    for command in [&["run", "--yes-i-know"][..], &["check"], &["show", "pending"]] {
        let mut cmd = std::process::Command::new(example_binary("upgrader"));
        cmd.current_dir(demo.dir.path())
            .env_remove("UPGRADER_DATABASE_URL")
            .args(["--timings", "secret.json"])
            .args(command);
        if root {
            // Permissions do not stop root: run it as `nobody`.
            cmd.uid(65534).gid(65534);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{command:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("error: timings file secret.json: cannot read it: Permission denied")
                && err.contains("\nhint: a timings file is what `show applied --json` prints"),
            "{command:?}: {err}"
        );
    }
    assert!(
        !demo.dir.path().join("upgrader.db").exists(),
        "nothing was created"
    );
}
