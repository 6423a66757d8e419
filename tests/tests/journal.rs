//! The run journal through the real `upgrader-fixtures` binary on each backend: a row for every
//! command that changes the history (run, populate, mark, resolve, accept, adoption), failures
//! and killed runs included; `show history`, the run in `show applied` and `explain`; `accept`
//! and its refusals, which change nothing.

use std::process::{Command, Output, Stdio};

use serde_json::Value;
use upgrader_core::Backend;
use upgrader_tests::{SlowRun, TestDb, output_text as text, wait_for_the_server_to_drop_the_lock};

const FLAKY: &str = "fixtures_2024_01_02_flaky";
const SLOW: &str = "fixtures_2024_01_01_slow";
const LEAF: &str = "accounts_2024_06_01_add_last_login";
const RECORDS: &str = "records_2024_01_15_initial";
const FIRST: &str = "accounts_2024_01_10_initial";
/// 8 example upgrades + 2 fixtures.
const ALL: usize = 10;

upgrader_tests::on_every_backend!(
    a_run_is_recorded_with_who_ran_it_and_what_it_applied,
    a_failed_upgrade_is_recorded_with_its_error_and_whether_it_rolled_back,
    a_killed_run_is_running_then_did_not_finish_never_succeeded,
    show_history_limit_gives_the_newest_runs,
    a_database_without_a_journal_says_so_and_gets_one_at_its_next_write,
    adopting_a_seed_table_is_recorded,
    accept_records_the_new_checksum_and_the_reason,
    accept_refuses_what_it_cannot_accept_and_changes_nothing,
    each_history_table_has_its_own_journal,
    a_journal_that_cannot_be_read_is_an_error_not_empty,
);

fn fixtures(db: &TestDb) -> Command {
    upgrader_tests::fixtures_command(
        env!("CARGO_BIN_EXE_upgrader-fixtures"),
        &std::env::temp_dir(),
        Some(&db.url),
    )
}

#[track_caller]
fn ok(db: &TestDb, args: &[&str]) -> Output {
    let out = fixtures(db).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    out
}

/// `show history --json [extra]`, after checking that it changed nothing.
#[track_caller]
fn history(db: &TestDb, extra: &[&str]) -> Value {
    let before = db.snapshot();
    let mut args = vec!["show", "history", "--json"];
    args.extend(extra);
    let out = ok(db, &args);
    assert_eq!(db.snapshot(), before, "show history changed the database");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", text(&out)))
}

fn runs(value: &Value) -> &Vec<Value> {
    value["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("runs: {value}"))
}

fn strings(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// `show applied --json`: each upgrade with the run that recorded it.
fn applied_runs(db: &TestDb) -> Vec<(String, Value)> {
    let out = ok(db, &["show", "applied", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .map(|r| (r["upgrade"].as_str().unwrap().to_owned(), r["run_id"].clone()))
        .collect()
}

fn version_of_the_binary(db: &TestDb) -> String {
    let out = ok(db, &["-V"]);
    let line = String::from_utf8(out.stdout).unwrap();
    line.trim()
        .strip_prefix("upgrader-fixtures ")
        .unwrap_or_else(|| panic!("-V: {line}"))
        .to_owned()
}

fn a_run_is_recorded_with_who_ran_it_and_what_it_applied(db: &TestDb) {
    let child = fixtures(db)
        .args(["run", "--yes-i-know"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let value = history(db, &[]);
    assert_eq!(value["journal"], true, "{value}");
    let [run] = runs(&value).as_slice() else {
        panic!("one run: {value}")
    };
    assert_eq!(run["run_id"], 1);
    assert_eq!(run["kind"], "run");
    assert_eq!(run["outcome"], "succeeded");
    assert_eq!(run["pid"], pid);
    assert_eq!(run["program"], "upgrader-fixtures");
    assert_eq!(run["program_version"], version_of_the_binary(db));
    assert!(!run["user"].as_str().unwrap().is_empty(), "{run}");
    assert!(!run["host"].as_str().unwrap().is_empty(), "{run}");
    assert!(
        run["finished"].is_string() && run["duration_ms"].is_i64(),
        "{run}"
    );
    assert_eq!(run["error"], Value::Null);
    assert_eq!(run["warnings"], 0);
    let applied = applied_runs(db);
    let mut recorded: Vec<&str> = applied.iter().map(|(id, _)| id.as_str()).collect();
    let mut said = strings(&run["applied"]);
    assert_eq!(
        said[..2],
        [FIRST, "accounts_2024_02_01_add_display_name"],
        "in run order: {said:?}"
    );
    recorded.sort_unstable();
    said.sort_unstable();
    assert_eq!(said, recorded);
    assert_eq!(applied.len(), ALL);
    assert!(applied.iter().all(|(_, run)| run == 1), "{applied:?}");
    // The table says the same, and `explain` says which run.
    let out = ok(db, &["show", "history"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("RUN  KIND  STARTED (UTC)"), "{table}");
    assert!(
        table.contains(&format!(" pid {pid} (upgrader-fixtures ")),
        "{table}"
    );
    assert!(table.contains("succeeded, applied 10: "), "{table}");
    let out = ok(db, &["explain", RECORDS]);
    let explained = String::from_utf8(out.stdout).unwrap();
    assert!(
        explained.contains("\nrun:          1: a run started "),
        "{explained}"
    );
    let out = ok(db, &["explain", RECORDS, "--json"]);
    let explained: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(explained["applied"]["run_id"], 1, "{explained}");
    // Nothing to do: no lock taken, nothing written, no row.
    ok(db, &["run", "--yes-i-know"]);
    assert_eq!(runs(&history(db, &[])).len(), 1);
}

fn a_failed_upgrade_is_recorded_with_its_error_and_whether_it_rolled_back(db: &TestDb) {
    let out = fixtures(db)
        .args(["run", "--yes-i-know"])
        .env("UPGRADER_TEST_FAIL", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let value = history(db, &[]);
    let [run] = runs(&value).as_slice() else {
        panic!("one run: {value}")
    };
    let transactional = db.backend().has_transactional_ddl();
    assert_eq!(run["outcome"], "failed", "{run}");
    assert_eq!(run["failed_upgrade"], FLAKY);
    assert_eq!(run["error"], "the flaky fixture was told to fail");
    assert_eq!(run["rolled_back"], transactional, "{run}");
    assert_eq!(
        strings(&run["applied"]),
        [FIRST, "accounts_2024_02_01_add_display_name", SLOW],
        "what it applied before the failure"
    );
    assert!(run["finished"].is_string(), "{run}");
    let out = ok(db, &["show", "history"]);
    let table = String::from_utf8(out.stdout).unwrap();
    let state = if transactional {
        "rolled back"
    } else {
        "left interrupted"
    };
    assert!(
        table.contains(&format!(
            "failed: `{FLAKY}` failed, {state}: the flaky fixture was told to fail (before it: applied 3: "
        )),
        "{table}"
    );
    if !transactional {
        ok(db, &["resolve", FLAKY, "--retry", "--yes-i-know"]);
    }
    ok(db, &["run", "--yes-i-know"]);
    let value = history(db, &[]);
    let runs = runs(&value);
    let last = &runs[0];
    assert_eq!(last["outcome"], "succeeded");
    assert_eq!(strings(&last["applied"]).first(), Some(&FLAKY), "{last}");
    if !transactional {
        assert_eq!(runs[1]["kind"], "resolve");
        assert_eq!(runs[1]["upgrades"][0]["action"], "cleared", "{}", runs[1]);
    }
    // Each upgrade names the run that applied it.
    let last_id = last["run_id"].clone();
    for (id, run) in applied_runs(db) {
        let expected = if [FIRST, "accounts_2024_02_01_add_display_name", SLOW].contains(&id.as_str()) {
            Value::from(1)
        } else {
            last_id.clone()
        };
        assert_eq!(run, expected, "{id}");
    }
}

fn a_killed_run_is_running_then_did_not_finish_never_succeeded(db: &TestDb) {
    let mut run = SlowRun::start(fixtures(db), 60_000);
    let pid = run.child.id();
    let value = history(db, &[]);
    let [row] = runs(&value).as_slice() else {
        panic!("one run: {value}")
    };
    assert_eq!(row["outcome"], "running", "the runner holds the lock: {row}");
    assert_eq!(row["pid"], pid);
    assert!(row["running_by"].is_string(), "{row}");
    run.child.kill().unwrap(); // SIGKILL
    run.finish();
    wait_for_the_server_to_drop_the_lock(db);
    let value = history(db, &[]);
    let [row] = runs(&value).as_slice() else {
        panic!("one run: {value}")
    };
    assert_eq!(row["outcome"], "did_not_finish", "{row}");
    assert_eq!(row["finished"], Value::Null);
    assert_eq!(row["error"], Value::Null);
    assert_eq!(
        strings(&row["applied"]),
        [FIRST, "accounts_2024_02_01_add_display_name"],
        "committed before it was killed"
    );
    let out = ok(db, &["show", "history"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("did not finish: the process was killed or lost its connection"),
        "{table}"
    );
    assert!(!table.contains("succeeded"), "{table}");
}

fn show_history_limit_gives_the_newest_runs(db: &TestDb) {
    ok(db, &["populate", "--yes-i-know"]);
    ok(db, &["mark", FLAKY, "--pending", "--yes-i-know"]);
    ok(db, &["mark", FLAKY, "--applied", "--yes-i-know"]);
    let ids = |value: &Value| -> Vec<i64> {
        runs(value)
            .iter()
            .map(|r| r["run_id"].as_i64().unwrap())
            .collect()
    };
    let all = history(db, &[]);
    assert_eq!(ids(&all), [3, 2, 1]);
    let kinds: Vec<&str> = runs(&all).iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["mark", "mark", "populate"]);
    assert_eq!(
        strings(&runs(&all)[2]["applied"]).len(),
        ALL,
        "populate recorded them all"
    );
    assert_eq!(runs(&all)[2]["upgrades"][0]["action"], "recorded");
    assert_eq!(runs(&all)[1]["upgrades"][0]["action"], "forgotten");
    assert_eq!(ids(&history(db, &["--limit", "2"])), [3, 2]);
    assert_eq!(ids(&history(db, &["--limit", "1"])), [3]);
    assert_eq!(ids(&history(db, &["--limit", "50"])), [3, 2, 1]);
    let out = ok(db, &["show", "history", "--limit", "1"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        2,
        "header and one run"
    );
    // The upgrade marked applied again names the mark; the others, populate.
    for (id, run) in applied_runs(db) {
        assert_eq!(run, if id == FLAKY { 3 } else { 1 }, "{id}");
    }
    for bad in ["0", "-1", "two", ""] {
        let out = fixtures(db)
            .args(["show", "history", "--limit", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--limit {bad:?}: {}", text(&out));
    }
}

fn drop_the_journal(db: &TestDb) {
    // What an engine from before the journal leaves: its first two migrations, no journal.
    let mut conn = db.connect();
    conn.batch_execute("DROP TABLE upgrade_run_upgrade; DROP TABLE upgrade_run")
        .unwrap();
    conn.execute("DELETE FROM __diesel_schema_migrations WHERE version = '20261127000000'")
        .unwrap();
}

fn a_database_without_a_journal_says_so_and_gets_one_at_its_next_write(db: &TestDb) {
    // No history at all: nothing was ever written.
    let value = history(db, &[]);
    assert_eq!(
        (value["journal"].clone(), value["history"].clone()),
        (false.into(), false.into())
    );
    let out = ok(db, &["show", "history"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no run has been recorded: the database has no history yet"),
        "{}",
        text(&out)
    );
    ok(db, &["run", "--yes-i-know"]);
    drop_the_journal(db);
    // A history without a journal: the runs before were not recorded, which is not "no runs".
    let value = history(db, &[]);
    assert_eq!(
        (value["journal"].clone(), value["history"].clone()),
        (false.into(), true.into())
    );
    assert_eq!(runs(&value).len(), 0);
    let out = ok(db, &["show", "history"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "no journal: this database's history was written by a version of the engine that kept none"
        ),
        "{}",
        text(&out)
    );
    assert!(applied_runs(db).iter().all(|(_, run)| run.is_null()));
    let out = ok(db, &["explain", RECORDS]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("run:          - (recorded before the database had a run journal"),
        "{}",
        text(&out)
    );
    // The next command that writes sets the journal up and is its first row.
    ok(db, &["mark", LEAF, "--pending", "--yes-i-know"]);
    let value = history(db, &[]);
    assert_eq!(value["journal"], true);
    let [row] = runs(&value).as_slice() else {
        panic!("one run: {value}")
    };
    assert_eq!(
        (row["run_id"].clone(), row["kind"].clone()),
        (1.into(), "mark".into())
    );
}

fn adopting_a_seed_table_is_recorded(db: &TestDb) {
    let ty = match db.backend() {
        Backend::Mysql => "DATETIME",
        _ => "TIMESTAMP",
    };
    db.connect()
        .batch_execute(&format!(
            "CREATE TABLE upgrade (upgrade VARCHAR(255) NOT NULL PRIMARY KEY, applied {ty} NOT NULL); \
             INSERT INTO upgrade (upgrade, applied) VALUES ('{LEAF}', '2019-04-01 10:00:00')"
        ))
        .unwrap();
    // Read as it is: the seed system's table is a history, with no journal.
    let value = history(db, &[]);
    assert_eq!(
        (value["journal"].clone(), value["history"].clone()),
        (false.into(), true.into())
    );
    ok(db, &["run", "--yes-i-know"]);
    let value = history(db, &[]);
    let kinds: Vec<&str> = runs(&value).iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["run", "adopt"], "{value}");
    let adopt = &runs(&value)[1];
    assert_eq!(adopt["outcome"], "succeeded");
    assert_eq!(
        adopt["upgrades"],
        serde_json::json!([{"upgrade": LEAF, "action": "adopted", "detail": null}])
    );
    assert_eq!(
        strings(&adopt["applied"]),
        Vec::<&str>::new(),
        "adopting applies nothing"
    );
    // The seed has the last example: every example counts as applied, the fixtures run.
    assert_eq!(strings(&runs(&value)[0]["applied"]), [SLOW, FLAKY]);
    for (id, run) in applied_runs(db) {
        // An adopted row is from before the journal.
        assert_eq!(run, if id == LEAF { Value::Null } else { 2.into() }, "{id}");
    }
}

/// The recorded checksum of `records_2024_01_15_initial` made different from its code's.
fn edit(db: &TestDb) {
    db.connect()
        .execute(&format!(
            "UPDATE upgrade SET checksum = '0123456789abcdef' WHERE upgrade = '{RECORDS}'"
        ))
        .unwrap();
}

fn status_code(db: &TestDb) -> i32 {
    fixtures(db)
        .arg("status")
        .output()
        .unwrap()
        .status
        .code()
        .unwrap()
}

fn accept_records_the_new_checksum_and_the_reason(db: &TestDb) {
    ok(db, &["run", "--yes-i-know"]);
    edit(db);
    assert_eq!(status_code(db), 6, "edited");
    let out = ok(
        db,
        &[
            "accept",
            RECORDS,
            "--reason",
            "typo in a log message",
            "--yes-i-know",
        ],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with(&format!("accepted {RECORDS}: checksum 0123456789abcdef -> ")),
        "{stdout}"
    );
    let current = stdout.trim().rsplit(' ').next().unwrap().to_owned();
    assert_eq!(status_code(db), 0, "up to date again");
    let out = ok(db, &["explain", RECORDS, "--json"]);
    let explained: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(explained["applied"]["checksum"], current.as_str());
    assert_eq!(explained["checksum"], current.as_str());
    assert_eq!(explained["applied"]["run_id"], 1, "still applied by the run");
    let value = history(db, &[]);
    let accept = &runs(&value)[0];
    assert_eq!(accept["kind"], "accept");
    assert_eq!(accept["outcome"], "succeeded");
    assert_eq!(accept["reason"], "typo in a log message");
    assert!(!accept["user"].as_str().unwrap().is_empty());
    assert_eq!(
        accept["upgrades"],
        serde_json::json!([{
            "upgrade": RECORDS,
            "action": "accepted",
            "detail": format!("checksum 0123456789abcdef -> {current}"),
        }])
    );
    let out = ok(db, &["show", "history", "--limit", "1"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("; reason: typo in a log message"), "{table}");
}

#[track_caller]
fn refused(db: &TestDb, args: &[&str], error: &str, hint: Option<&str>) {
    let before = db.snapshot();
    let out = fixtures(db).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
    assert_eq!(db.snapshot(), before, "{args:?} changed the database");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("error: {error}")), "{args:?}: {stderr}");
    match hint {
        Some(hint) => assert!(stderr.contains(&format!("hint: {hint}")), "{args:?}: {stderr}"),
        None => assert!(!stderr.contains("hint: "), "{args:?}: {stderr}"),
    }
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}");
}

fn accept_refuses_what_it_cannot_accept_and_changes_nothing(db: &TestDb) {
    ok(db, &["run", "--yes-i-know"]);
    ok(db, &["mark", LEAF, "--pending", "--yes-i-know"]);
    edit(db);
    let yes = "--yes-i-know";
    refused(
        db,
        &["accept", RECORDS, "--reason", "", yes],
        "accepting an edited upgrade needs a reason, and the one given is empty",
        Some("say why the edit is harmless"),
    );
    refused(
        db,
        &["accept", RECORDS, "--reason", "  \t ", yes],
        "accepting an edited upgrade needs a reason",
        Some("say why the edit is harmless"),
    );
    refused(
        db,
        &["accept", "records_2024_01_15_initail", "--reason", "typo", yes],
        "`records_2024_01_15_initail` is not a known upgrade",
        Some("`upgrader-fixtures show pending` and `upgrader-fixtures show applied` list the known ids"),
    );
    refused(
        db,
        &["accept", LEAF, "--reason", "typo", yes],
        &format!("`{LEAF}` is not recorded as applied"),
        Some(
            "accept is for an applied upgrade whose code changed since: `upgrader-fixtures status` lists them",
        ),
    );
    refused(
        db,
        &["accept", FIRST, "--reason", "typo", yes],
        &format!("`{FIRST}` is not edited: its code has the checksum recorded when it was applied"),
        Some("accept is for an applied upgrade"),
    );
    // Nobody to confirm: refused at once.
    refused(
        db,
        &["accept", RECORDS, "--reason", "typo"],
        "this command asks for confirmation and there is no terminal; pass --yes-i-know",
        None,
    );
    // No reason at all is a usage error.
    let before = db.snapshot();
    let out = fixtures(db).args(["accept", RECORDS, yes]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(db.snapshot(), before);
    // Still edited, and the journal has no accept.
    assert_eq!(status_code(db), 6);
    let value = history(db, &[]);
    assert!(runs(&value).iter().all(|r| r["kind"] != "accept"), "{value}");
    // Accepted once, there is nothing left to accept.
    ok(db, &["accept", RECORDS, "--reason", "typo", yes]);
    refused(
        db,
        &["accept", RECORDS, "--reason", "typo", yes],
        &format!("`{RECORDS}` is not edited"),
        Some("accept is for an applied upgrade"),
    );
}

fn each_history_table_has_its_own_journal(db: &TestDb) {
    ok(db, &["--history-table", "tenant_a", "run", "--yes-i-know"]);
    let value = history(db, &["--history-table", "tenant_a"]);
    assert_eq!(runs(&value).len(), 1);
    let mut conn = db.connect();
    assert!(conn.table_exists("tenant_a_run").unwrap());
    assert!(conn.table_exists("tenant_a_run_upgrade").unwrap());
    assert!(!conn.table_exists("upgrade_run").unwrap());
    let value = history(db, &[]);
    assert_eq!(
        (value["journal"].clone(), value["history"].clone()),
        (false.into(), false.into())
    );
}

fn a_journal_that_cannot_be_read_is_an_error_not_empty(db: &TestDb) {
    ok(db, &["run", "--yes-i-know"]);
    let unreadable = |what: &str, error: &str| {
        for args in [
            &["show", "history"][..],
            &["show", "history", "--json"],
            &["show", "applied"],
        ] {
            let before = db.snapshot();
            let out = fixtures(db).args(args).output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{what}: {args:?}: {}", text(&out));
            assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{what}: {args:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(error), "{what}: {args:?}: {stderr}");
            assert!(stderr.contains("hint: "), "{what}: {args:?}: {stderr}");
            assert_eq!(db.snapshot(), before, "{what}: {args:?}");
        }
    };
    // Half a journal.
    db.connect().execute("DROP TABLE upgrade_run_upgrade").unwrap();
    unreadable(
        "half a journal",
        "error: cannot read the history table `upgrade_run`: the run journal is `upgrade_run` and `upgrade_run_upgrade`, and only one of them exists",
    );
    // A journal without the columns the engine reads.
    db.connect()
        .batch_execute(
            "CREATE TABLE upgrade_run_upgrade (run_id BIGINT NOT NULL); DROP TABLE upgrade_run; \
             CREATE TABLE upgrade_run (id BIGINT NOT NULL)",
        )
        .unwrap();
    unreadable(
        "a foreign journal",
        "error: table `upgrade_run` is not an upgrade history: it has no column `kind`, `started`, ",
    );
}
