//! What a run tells the people and the programs that follow it: one line per upgrade without a
//! terminal, live progress on one, NDJSON with `--json`, and the log file.

use predicates::prelude::*;
use serde_json::Value;
use upgrader_core::Backend;

use crate::EXAMPLE_ORDER;
use crate::support::{self, Demo};

const LAST: &str = "accounts_2024_06_01_add_last_login";

/// Each line of a `--json` run's stdout, parsed; every object has `event` and a `ts` in RFC 3339
/// UTC.
fn events(stdout: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(stdout).unwrap();
    text.lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(event["event"].is_string(), "{line}");
            let ts = event["ts"].as_str().unwrap_or_else(|| panic!("no ts: {line}"));
            assert!(ts.ends_with('Z'), "{ts}");
            chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("{e}: {ts}"));
            event
        })
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event"].as_str().unwrap()).collect()
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// A database whose users predate the display name, one of them without a name before the `@`
/// of their email: the display-name upgrade warns about that one.
fn with_a_nameless_user(demo: &Demo) {
    demo.cmd(&["mark", "accounts_2024_01_10_initial", "--applied", "--yes-i-know"])
        .assert()
        .success();
    let mut conn = demo.connect();
    conn.execute("CREATE TABLE users (id BIGINT NOT NULL PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, created_at TIMESTAMP NULL)")
        .unwrap();
    conn.execute("INSERT INTO users (id, email) VALUES (1, 'ada@example.com'), (2, '@example.com')")
        .unwrap();
}

/// Every upgrade recorded by `populate`, the last one marked pending again: it alters a table
/// that was never created, so it fails.
fn with_a_failing_upgrade(demo: &Demo) {
    demo.cmd(&["populate", "--yes-i-know"]).assert().success();
    demo.cmd(&["mark", LAST, "--pending", "--yes-i-know"])
        .assert()
        .success();
}

#[test]
fn without_a_terminal_a_run_writes_one_line_per_upgrade_started_and_finished() {
    let demo = Demo::sqlite();
    with_a_nameless_user(&demo);
    let output = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        !stderr.contains('\u{1b}'),
        "no escape codes without a terminal:\n{stderr}"
    );
    assert!(!output.stdout.contains(&0x1b));
    let ran = &EXAMPLE_ORDER[1..];
    for (i, id) in ran.iter().enumerate() {
        let position = format!("[{}/{}] {id} ", i + 1, ran.len());
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&position)).collect();
        assert_eq!(lines.len(), 2, "{position}:\n{stderr}");
        assert!(
            lines[0].ends_with(" started (no estimate)") || lines[0].ends_with(" started (estimated 1s)"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains(" finished in "), "{}", lines[1]);
        let left = if i + 1 == ran.len() {
            " elapsed, nothing left"
        } else {
            " elapsed, about "
        };
        assert!(
            lines[1].contains("; run: ") && lines[1].contains(left),
            "{}",
            lines[1]
        );
    }
    assert!(
        stderr.contains(
            "  warning: 1 user(s) have no name before the `@` of their email and were named `anonymous`\n"
        ),
        "{stderr}"
    );
    // The summary counts the warnings and repeats them.
    assert!(
        stderr.contains(" upgrade(s) applied in ")
            && stderr.contains(
                ", 1 warning:\n  warning: accounts_2024_02_01_add_display_name: 1 user(s) have no name"
            ),
        "{stderr}"
    );
    // stdout: data only, one line per upgrade applied.
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), ran.len(), "{stdout}");
    assert!(stdout.lines().all(|l| l.starts_with("applied ")), "{stdout}");
}

#[test]
fn run_json_streams_a_whole_run_as_one_object_per_line() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(demo) = Demo::new(backend) else { continue };
        with_a_nameless_user(&demo);
        let output = demo.cmd(&["run", "--yes-i-know", "--json"]).output().unwrap();
        assert!(output.status.success(), "{backend}: {output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            !stderr.contains("[1/7]"),
            "no progress lines on stderr with --json:\n{stderr}"
        );
        let events = events(&output.stdout);
        let kinds = kinds(&events);
        assert_eq!(kinds[0], "plan", "{backend}: {kinds:?}");
        assert_eq!(*kinds.last().unwrap(), "done", "{backend}: {kinds:?}");
        let plan = &events[0];
        let expected = match backend {
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
            _ => "sqlite",
        };
        assert_eq!(plan["backend"], expected);
        assert!(plan["database"].is_string());
        assert_eq!(plan["count"], 7);
        let planned: Vec<&str> = plan["upgrades"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["upgrade"].as_str().unwrap())
            .collect();
        assert_eq!(planned, EXAMPLE_ORDER[1..]);
        assert_eq!(
            plan["upgrades"][2]["estimate_ms"], 1000,
            "records_2024_03_05_add_version_id estimates 1s"
        );
        // No estimate: the default, one second, as the total counts it.
        assert_eq!(plan["upgrades"][0]["estimate_ms"], 1000);
        assert_eq!(plan["estimate_ms"], 1000 * planned.len());

        // Each pre-run check before the first upgrade, the post-run ones after the last.
        let checks = of(&events, "check");
        assert!(
            checks.iter().all(|c| c["ok"] == true && c["error"].is_null()),
            "{checks:?}"
        );
        assert!(
            checks
                .iter()
                .any(|c| c["phase"] == "pre_run" && c["check"] == "the database accepts writes")
        );
        assert!(
            checks
                .iter()
                .any(|c| c["phase"] == "post_run" && c["check"] == "accounts_2024_02_01_add_display_name")
        );
        let first_start = kinds.iter().position(|k| *k == "started").unwrap();
        assert!(kinds[1..first_start].iter().all(|k| *k == "check"), "{kinds:?}");

        // started and finished in pairs, in run order, with positions and durations.
        let started = of(&events, "started");
        let finished = of(&events, "finished");
        assert_eq!(started.len(), 7);
        assert_eq!(finished.len(), 7);
        for (i, (s, f)) in started.iter().zip(&finished).enumerate() {
            assert_eq!(s["upgrade"], EXAMPLE_ORDER[i + 1]);
            assert_eq!(s["index"], i + 1);
            assert_eq!(s["total"], 7);
            assert_eq!(f["upgrade"], EXAMPLE_ORDER[i + 1]);
            assert!(f["duration_ms"].is_u64(), "{f}");
        }
        let logs = of(&events, "log");
        assert!(
            logs.iter()
                .any(|l| l["upgrade"] == "accounts_2024_02_01_add_display_name"
                    && l["message"] == "filled the display name of 2 user(s)"),
            "{logs:?}"
        );
        let warnings = of(&events, "warning");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0]["upgrade"], "accounts_2024_02_01_add_display_name");
        assert_eq!(
            warnings[0]["message"],
            "1 user(s) have no name before the `@` of their email and were named `anonymous`"
        );
        let questions = of(&events, "question");
        assert_eq!(questions[0]["answer"], "anonymous");
        let progress = of(&events, "progress");
        assert!(
            !progress.is_empty()
                && progress
                    .iter()
                    .all(|p| p["upgrade"] == "search_2024_04_01_initial")
        );
        assert!(progress.iter().all(|p| p["done"].is_u64() && p["total"].is_u64()));
        let done = events.last().unwrap();
        assert_eq!(done["applied"], 7);
        assert_eq!(done["warnings"], 1);
        assert!(done["duration_ms"].is_u64());
        // The journal keeps the run's warnings too.
        let history = demo.cmd(&["show", "history", "--json"]).output().unwrap();
        assert!(history.status.success(), "{backend}: {history:?}");
        let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
        let run = &history["runs"][0];
        assert_eq!(run["kind"], "run", "{history}");
        assert_eq!(run["outcome"], "succeeded", "{history}");
        assert_eq!(run["warnings"], 1, "{history}");
        assert_eq!(run["applied"].as_array().map(Vec::len), Some(7), "{history}");
    }
}

#[test]
fn run_json_of_a_failed_run_ends_with_failed_saying_whether_it_rolled_back() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(demo) = Demo::new(backend) else { continue };
        with_a_failing_upgrade(&demo);
        let output = demo.cmd(&["run", "--yes-i-know", "--json"]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{backend}: {output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.starts_with(&format!("error: upgrade `{LAST}` failed: ")),
            "{stderr}"
        );
        let events = events(&output.stdout);
        assert_eq!(kinds(&events).last(), Some(&"failed"), "{backend}: {events:?}");
        assert!(of(&events, "finished").is_empty());
        assert_eq!(of(&events, "started").len(), 1);
        let failed = events.last().unwrap();
        assert_eq!(failed["upgrade"], LAST);
        // Transactional DDL rolls the upgrade back; MySQL/MariaDB commits DDL as it goes.
        assert_eq!(
            failed["rolled_back"],
            backend != Backend::Mysql,
            "{backend}: {failed}"
        );
        assert!(
            failed["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("upgrade `{LAST}` failed: ")),
            "{failed}"
        );
        assert_eq!(failed["applied"], 0);
        assert_eq!(failed["warnings"], 0);
        assert!(failed["upgrade_duration_ms"].is_u64(), "{failed}");
    }
}

#[test]
fn run_json_of_a_run_refused_before_the_engine_ends_with_failed() {
    // An unreachable server: the stream still ends with `failed`, the error on stderr.
    let output = support::upgrader()
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "--log-file",
            "",
        ])
        .args(["run", "--yes-i-know", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let events = events(&output.stdout);
    assert_eq!(kinds(&events), ["failed"]);
    assert!(events[0]["upgrade"].is_null() && events[0]["rolled_back"].is_null());
    assert!(
        events[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot connect to PostgreSQL")
    );
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .starts_with("error: cannot connect")
    );
}

#[test]
fn run_json_needs_yes_i_know_and_changes_nothing_without_it() {
    let demo = Demo::sqlite();
    demo.cmd(&["run", "--json"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("--yes-i-know"));
    assert_eq!(demo.snapshot(), "<no database file>");
    assert!(!demo.dir.path().join("upgrader.log").exists());
}

#[test]
fn a_run_appends_to_its_log_file_with_timestamps() {
    let demo = Demo::sqlite();
    with_a_nameless_user(&demo);
    demo.cmd(&["run", "--yes-i-know"]).assert().success();
    let log = std::fs::read_to_string(demo.dir.path().join("upgrader.log")).expect("upgrader.log by default");
    for line in log.lines() {
        let (ts, _) = line.split_once(' ').unwrap();
        chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    // Who ran it, as the run journal says it (the system's account, not `$USER`).
    let user = upgrader_core::Actor::os_user().expect("this process's user");
    assert!(
        log.contains(&format!(" command: run --yes-i-know (user {user}, pid ")),
        "{log}"
    );
    for expected in [
        " command: run --yes-i-know (user ",
        " plan: 7 upgrades to apply\n",
        " plan: [3/7] records_2024_03_05_add_version_id (estimated 1s)\n",
        " pre-run check passed: the database accepts writes\n",
        " [1/7] accounts_2024_02_01_add_display_name started\n",
        " accounts_2024_02_01_add_display_name: filled the display name of 2 user(s)\n",
        " question: Display name for users whose email has no name part? -> anonymous\n",
        " accounts_2024_02_01_add_display_name: warning: 1 user(s) have no name",
        " [1/7] accounts_2024_02_01_add_display_name finished in ",
        " [7/7] accounts_2024_06_01_add_last_login finished in ",
        " done: 7 applied, 1 warning\n",
    ] {
        assert!(log.contains(expected), "`{expected}` not in:\n{log}");
    }

    // Appended, never truncated: a failed run's lines come after the first run's.
    // Marked pending, the last upgrade adds a column that exists: it fails.
    demo.cmd(&["mark", LAST, "--pending", "--yes-i-know"])
        .assert()
        .success();
    demo.cmd(&["run", "--yes-i-know"]).assert().code(1);
    let after = std::fs::read_to_string(demo.dir.path().join("upgrader.log")).unwrap();
    assert!(after.starts_with(&log), "the first run's lines stay as they were");
    let added = &after[log.len()..];
    for expected in [
        &format!(" [1/1] {LAST} FAILED after ")[..],
        &format!(" failed: 0 applied before the failure, 0 warnings: upgrade `{LAST}` failed: ")[..],
        &format!("({LAST}: its changes were rolled back)\n")[..],
    ] {
        assert!(added.contains(expected), "`{expected}` not in:\n{added}");
    }
}

#[test]
fn the_log_file_is_chosen_by_the_flag_or_the_configuration_and_can_be_turned_off() {
    // `--log-file ''`: no log.
    let demo = Demo::sqlite();
    demo.cmd(&["--log-file", "", "run", "--yes-i-know"])
        .assert()
        .success();
    assert!(!demo.dir.path().join("upgrader.log").exists());

    // The default file, when it cannot be written, is only warned about: the run goes on.
    let demo = Demo::sqlite();
    std::fs::create_dir(demo.dir.path().join("upgrader.log")).unwrap();
    demo.cmd(&["run", "--yes-i-know"])
        .assert()
        .success()
        .stderr(predicate::str::starts_with(
            "warning: cannot write the log file upgrader.log: Is a directory (os error 21); no log is kept",
        ));

    // A command that fails before it reaches the database changed nothing, and logs nothing.
    let demo = Demo::sqlite();
    demo.cmd(&[
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
        "run",
        "--yes-i-know",
    ])
    .assert()
    .code(1);
    demo.cmd(&[
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
        "populate",
        "--yes-i-know",
    ])
    .assert()
    .code(1);
    assert!(!demo.dir.path().join("upgrader.log").exists());

    // `log_file = false`: no log; `log_file = "…"`: that file; the flag wins over the file.
    let demo = Demo::sqlite();
    std::fs::write(demo.dir.path().join("upgrader.toml"), "log_file = false\n").unwrap();
    demo.cmd(&["run", "--yes-i-know"]).assert().success();
    assert!(!demo.dir.path().join("upgrader.log").exists());

    let demo = Demo::sqlite();
    std::fs::create_dir(demo.dir.path().join("logs")).unwrap();
    std::fs::write(
        demo.dir.path().join("upgrader.toml"),
        "log_file = \"logs/upgrades.log\"\n",
    )
    .unwrap();
    demo.cmd(&["populate", "--yes-i-know"]).assert().success();
    demo.cmd(&["mark", LAST, "--pending", "--yes-i-know"])
        .assert()
        .success();
    demo.cmd(&["--log-file", "other.log", "run", "--yes-i-know"])
        .assert()
        .code(1);
    assert!(!demo.dir.path().join("upgrader.log").exists());
    // populate and mark logged there too, the run with the flag did not.
    let configured = std::fs::read_to_string(demo.dir.path().join("logs/upgrades.log")).unwrap();
    assert!(
        configured.contains(" command: populate --yes-i-know (user "),
        "{configured}"
    );
    assert!(
        configured.contains(&format!(" command: mark {LAST} --pending --yes-i-know (user ")),
        "{configured}"
    );
    assert!(!configured.contains(" command: run"), "{configured}");
    let other = std::fs::read_to_string(demo.dir.path().join("other.log")).unwrap();
    assert!(other.contains(" failed: "), "{other}");
    demo.cmd(&["run", "--yes-i-know"]).assert().code(1);
    let configured = std::fs::read_to_string(demo.dir.path().join("logs/upgrades.log")).unwrap();
    assert!(
        configured.contains(" command: run --yes-i-know (user "),
        "{configured}"
    );
}

#[test]
fn a_log_file_that_cannot_be_written_is_refused_before_anything_is_applied() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(demo) = Demo::new(backend) else { continue };
        let before = demo.snapshot();
        let dir = demo.dir.path().to_string_lossy().into_owned();
        let missing_parent = demo.dir.path().join("no/such/dir/upgrader.log");
        let missing_parent = missing_parent.to_string_lossy().into_owned();
        for (path, cause) in [
            (dir.as_str(), "Is a directory"),
            (missing_parent.as_str(), "No such file or directory"),
        ] {
            demo.cmd(&["--log-file", path, "run", "--yes-i-know"])
                .assert()
                .code(1)
                .stdout("")
                .stderr(
                    predicate::str::starts_with(format!("error: cannot write the log file {path}: {cause}"))
                        .and(predicate::str::contains(
                            "\nhint: give a file that can be written with --log-file PATH",
                        )),
                );
            assert_eq!(demo.snapshot(), before, "{backend}: {path} changed the database");
        }
        // The other commands that change the database refuse it the same way.
        demo.cmd(&["--log-file", &dir, "populate", "--yes-i-know"])
            .assert()
            .code(1)
            .stderr(predicate::str::starts_with(format!(
                "error: cannot write the log file {dir}: Is a directory"
            )));
        assert_eq!(
            demo.snapshot(),
            before,
            "{backend}: populate changed the database"
        );
        // The same from the configuration file.
        std::fs::write(demo.dir.path().join("upgrader.toml"), "log_file = \".\"\n").unwrap();
        demo.cmd(&["run", "--yes-i-know"])
            .assert()
            .code(1)
            .stderr(predicate::str::starts_with(
                "error: cannot write the log file .: Is a directory",
            ));
        assert_eq!(demo.snapshot(), before, "{backend}");
    }
}

/// `upgrader run --yes-i-know` in a real terminal (a pty).
fn run_in_a_terminal(demo: &Demo) -> rexpect::session::PtySession {
    let mut cmd = std::process::Command::new(support::example_binary("upgrader"));
    cmd.current_dir(demo.dir.path())
        .env_remove("UPGRADER_DATABASE_URL")
        .args(["run", "--yes-i-know"]);
    rexpect::session::spawn_command(cmd, Some(30_000)).expect("a pty")
}

#[test]
fn in_a_terminal_a_run_shows_each_upgrade_of_how_many_the_time_left_and_the_rate() {
    let demo = Demo::sqlite();
    // Records to index: the search upgrade reports its progress over them.
    demo.cmd(&[
        "mark",
        "accounts_2024_01_10_initial",
        "records_2024_01_15_initial",
        "--applied",
        "--yes-i-know",
    ])
    .assert()
    .success();
    let mut conn = demo.connect();
    conn.batch_execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, created_at TIMESTAMP NULL);
         INSERT INTO users (id, email) VALUES (1, 'ada@example.com');
         CREATE TABLE records (id INTEGER PRIMARY KEY, owner_id BIGINT NOT NULL REFERENCES users (id), title VARCHAR(255) NOT NULL, body TEXT NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
         INSERT INTO records (id, owner_id, title, body) SELECT i, 1, 'title ' || i, 'body' FROM n;",
    )
    .unwrap();

    let mut term = run_in_a_terminal(&demo);
    term.exp_string("6 upgrade(s) to apply").unwrap();
    // Each upgrade that finishes leaves its line: its position, duration, and the run's clock.
    term.exp_string("[1/6] accounts_2024_02_01_add_display_name finished in ")
        .unwrap();
    term.exp_string("; run: ").unwrap();
    term.exp_string(" elapsed, about 5s left").unwrap();
    // The search upgrade's own progress: how many of how many, at what rate.
    let (_, line) = term
        .exp_regex(r"\[3/6\] search_2024_04_01_initial finished in [^\r\n]*")
        .unwrap();
    assert!(line.contains(", 500/500 at "), "{line}");
    assert!(line.contains("/s; run: "), "{line}");
    term.exp_string("[6/6] accounts_2024_06_01_add_last_login finished in ")
        .unwrap();
    term.exp_string("6 upgrade(s) applied in ").unwrap();
    term.exp_string(", no warnings").unwrap();
    term.exp_eof().unwrap();
}
