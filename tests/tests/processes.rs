//! Real processes of the `upgrader-fixtures` binary (the CLI with the example modules and two
//! fixture upgrades) on each backend: concurrent runners, `kill -9` in the middle of an upgrade,
//! a connection cut by the server.

use std::process::{Child, Command, Output, Stdio};

use upgrader_core::{Backend, DEFAULT_SCOPE, LockId};
use upgrader_tests::{SlowRun, TestDb, wait_for_the_server_to_drop_the_lock};

const FIXTURE_IDS: usize = 10; // 8 example upgrades + 2 fixtures

fn fixtures(db: &TestDb) -> Command {
    upgrader_tests::fixtures_command(
        env!("CARGO_BIN_EXE_upgrader-fixtures"),
        &std::env::temp_dir(),
        Some(&db.url),
    )
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("the fixtures binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.connect().query_i64(sql).unwrap().unwrap_or(0)
}

fn applied_ids(db: &TestDb) -> Vec<String> {
    let out = output(fixtures(db).args(["show", "applied", "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .map(|r| r["upgrade"].as_str().unwrap().to_owned())
        .collect()
}

/// Starts `run --yes-i-know` with the slow fixture sleeping, and returns once it sleeps.
fn start_slow_run(db: &TestDb, sleep_ms: u64) -> SlowRun {
    SlowRun::start(fixtures(db), sleep_ms)
}

upgrader_tests::on_every_backend!(
    eight_runners_at_once_apply_each_upgrade_exactly_once,
    second_runner_waits_and_names_the_holder,
    kill_9_in_the_middle_of_an_upgrade_leaves_a_true_history,
    failing_upgrade_exits_1_and_says_what_was_applied,
    panicking_upgrade_exits_1_with_its_message_on_one_line,
    up_to_date_runners_do_not_queue_for_the_lock,
);

fn eight_runners_at_once_apply_each_upgrade_exactly_once(db: &TestDb) {
    let children: Vec<Child> = (0..8)
        .map(|_| {
            fixtures(db)
                .args(["run", "--yes-i-know", "--lock-timeout", "120"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(out.status.success(), "a runner failed: {}", text(&out.stderr));
    }
    let applied_by_runners: usize = outputs
        .iter()
        .map(|o| {
            text(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("applied "))
                .count()
        })
        .sum();
    assert_eq!(
        applied_by_runners, FIXTURE_IDS,
        "each upgrade applied by exactly one runner"
    );
    let mut ids = applied_ids(db);
    assert_eq!(ids.len(), FIXTURE_IDS);
    ids.dedup();
    assert_eq!(ids.len(), FIXTURE_IDS);
    // The example upgrade that logs its own executions ran once.
    assert_eq!(count(db, "SELECT COUNT(*) AS value FROM search_rebuilds"), 1);
    assert_eq!(count(db, "SELECT COUNT(*) AS value FROM slow_marker"), 2);
}

fn second_runner_waits_and_names_the_holder(db: &TestDb) {
    let first = start_slow_run(db, 4000);
    let out = output(fixtures(db).args(["run", "--yes-i-know", "--lock-timeout", "1"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("waiting for another runner to finish ("),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: another runner holds the upgrade lock ("),
        "{stderr}"
    );
    assert!(stderr.contains("and did not release it within 1s\nhint: wait for the other runner to finish, or raise --lock-timeout"), "{stderr}");
    if db.backend() == Backend::Sqlite {
        assert!(
            stderr.contains(&format!("pid {} on ", first.child.id())),
            "the holder is named: {stderr}"
        );
    }
    // With time enough, the second runner waits for the first and finds nothing left to do.
    let out = output(fixtures(db).args(["run", "--yes-i-know", "--lock-timeout", "60"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "the first runner applied everything");
    assert_eq!(first.finish().0, Some(0));
}

fn kill_9_in_the_middle_of_an_upgrade_leaves_a_true_history(db: &TestDb) {
    let mut run = start_slow_run(db, 60_000);
    run.child.kill().unwrap(); // SIGKILL
    run.finish();
    wait_for_the_server_to_drop_the_lock(db);
    let ids = applied_ids(db);
    assert!(!ids.iter().any(|id| id.starts_with("fixtures_")), "{ids:?}");
    assert_eq!(
        ids,
        [
            "accounts_2024_01_10_initial",
            "accounts_2024_02_01_add_display_name"
        ],
        "what came before the slow one"
    );
    let fixed = || {
        fixtures(db)
            .args(["run", "--yes-i-know", "--lock-timeout", "30"])
            .output()
            .unwrap()
    };
    if db.backend().has_transactional_ddl() {
        // Neither the upgrade's table nor its history row: the transaction died with the process.
        assert!(
            db.connect()
                .query_i64("SELECT COUNT(*) AS value FROM slow_marker")
                .is_err(),
            "the slow upgrade's table was rolled back"
        );
        // And the lock died with it: the next run goes through.
        let out = fixed();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(applied_ids(db).len(), FIXTURE_IDS);
        return;
    }
    // MySQL/MariaDB: the CREATE TABLE was committed implicitly; the engine knows it started.
    let pending = output(fixtures(db).args(["show", "pending"]));
    assert!(
        text(&pending.stderr).contains("interrupted: `fixtures_2024_01_01_slow` started at "),
        "{}",
        text(&pending.stderr)
    );
    let check = output(fixtures(db).arg("check"));
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stderr).contains("error: interrupted: `fixtures_2024_01_01_slow` started at"),
        "{}",
        text(&check.stderr)
    );
    let refused = fixed();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains(
            "error: 1 upgrade(s) were interrupted and need a decision: `fixtures_2024_01_01_slow` started at"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint: inspect the database, then `upgrader-fixtures resolve fixtures_2024_01_01_slow --retry` (run it again) or `upgrader-fixtures resolve fixtures_2024_01_01_slow --mark-applied` (it did finish)"), "{stderr}");
    // Way out 1: it did not finish; the operator undoes its DDL and retries.
    db.connect().execute("DROP TABLE slow_marker").unwrap();
    let out = output(fixtures(db).args(["resolve", "fixtures_2024_01_01_slow", "--retry", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = fixed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(applied_ids(db).len(), FIXTURE_IDS);
    assert_eq!(count(db, "SELECT COUNT(*) AS value FROM slow_marker"), 2);

    // Way out 2, on a second database: it did finish; the operator records it.
    let Some(db) = TestDb::new(Backend::Mysql) else {
        return;
    };
    let mut run = start_slow_run(&db, 60_000);
    run.child.kill().unwrap();
    run.finish();
    wait_for_the_server_to_drop_the_lock(&db);
    let out = output(fixtures(&db).args([
        "resolve",
        "fixtures_2024_01_01_slow",
        "--mark-applied",
        "--yes-i-know",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = output(fixtures(&db).args(["run", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ids = applied_ids(&db);
    assert_eq!(ids.len(), FIXTURE_IDS);
    assert!(ids.contains(&"fixtures_2024_01_01_slow".to_owned()));
}

// SQLite has no server to cut the connection: these two are for the servers only.
#[test]
fn postgres_connection_cut_by_the_server_ends_the_run_with_a_clear_error() {
    if let Some(db) = TestDb::new(Backend::Postgres) {
        connection_cut_by_the_server_ends_the_run_with_a_clear_error(&db);
    }
}

#[test]
fn mysql_connection_cut_by_the_server_ends_the_run_with_a_clear_error() {
    if let Some(db) = TestDb::new(Backend::Mysql) {
        connection_cut_by_the_server_ends_the_run_with_a_clear_error(&db);
    }
}

fn connection_cut_by_the_server_ends_the_run_with_a_clear_error(db: &TestDb) {
    let run = start_slow_run(db, 3000);
    let mut admin = db.connect();
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    match db.backend() {
        Backend::Postgres => {
            let killed = admin
                .query_i64(&format!(
                    "SELECT COUNT(pg_terminate_backend(pid)) AS value FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ))
                .unwrap();
            assert_eq!(killed, Some(1));
        }
        _ => {
            let id = admin
                .query_i64(&format!("SELECT ID AS value FROM information_schema.PROCESSLIST WHERE DB = '{name}' AND ID <> CONNECTION_ID()"))
                .unwrap()
                .expect("the runner's connection");
            admin.execute(&format!("KILL {id}")).unwrap();
        }
    }
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(1));
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with("error: upgrade `fixtures_2024_01_01_slow` failed: "),
        "{stderr}"
    );
    let ids = applied_ids(db);
    assert!(
        !ids.iter().any(|id| id.starts_with("fixtures_")),
        "nothing of the cut upgrade is recorded: {ids:?}"
    );
    if db.backend() == Backend::Mysql {
        let pending = output(fixtures(db).args(["show", "pending"]));
        assert!(
            text(&pending.stderr).contains("interrupted: `fixtures_2024_01_01_slow`"),
            "{}",
            text(&pending.stderr)
        );
    } else {
        let out = output(fixtures(db).args(["run", "--yes-i-know"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(applied_ids(db).len(), FIXTURE_IDS);
    }
}

fn panicking_upgrade_exits_1_with_its_message_on_one_line(db: &TestDb) {
    let out = output(
        fixtures(db)
            .args(["run", "--yes-i-know"])
            .env("UPGRADER_TEST_PANIC", "1"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("\n  panicked at tests/src/bin/upgrader-fixtures.rs:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\nerror: upgrade `fixtures_2024_01_02_flaky` failed: panicked: the flaky fixture was told to panic (3 applied before it"),
        "{stderr}"
    );
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert_eq!(applied_ids(db).len(), 3);
}

fn failing_upgrade_exits_1_and_says_what_was_applied(db: &TestDb) {
    let out = output(
        fixtures(db)
            .args(["run", "--yes-i-know"])
            .env("UPGRADER_TEST_FAIL", "1"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 3, "applied before the failure: {stdout}");
    let stderr = text(&out.stderr);
    let error_line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert_eq!(
        error_line,
        if db.backend().has_transactional_ddl() {
            "error: upgrade `fixtures_2024_01_02_flaky` failed: the flaky fixture was told to fail (3 applied before it, its own changes were rolled back)"
        } else {
            "error: upgrade `fixtures_2024_01_02_flaky` failed: the flaky fixture was told to fail (3 applied before it)"
        }
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) AS value FROM slow_marker"),
        1,
        "the failed upgrade's insert was rolled back"
    );
    if !db.backend().has_transactional_ddl() {
        let out =
            output(fixtures(db).args(["resolve", "fixtures_2024_01_02_flaky", "--retry", "--yes-i-know"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = output(fixtures(db).args(["run", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        FIXTURE_IDS - 3,
        "resumed at the failed upgrade"
    );
}

/// Takes the run lock the way a runner does (the README documents each backend's lock), and
/// keeps it while the returned value lives.
enum HeldLock {
    File(#[allow(dead_code)] std::fs::File),
    Session(#[allow(dead_code)] Box<upgrader_core::AnyConnection>),
}

fn hold_the_lock(db: &TestDb) -> HeldLock {
    let id = LockId::of(&db.database_url(), DEFAULT_SCOPE).unwrap();
    if let LockId::Postgres { key } = &id {
        assert_eq!(*key, (1970300786, 1633969522), "the README's key");
    }
    match (id.session_sql(), id) {
        (Some(sql), _) => {
            let mut conn = db.connect();
            assert_eq!(
                conn.query_i64(&sql.try_take).unwrap(),
                Some(1),
                "the lock is free"
            );
            HeldLock::Session(Box::new(conn))
        }
        (None, LockId::Sqlite { file }) => {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(file)
                .unwrap();
            file.lock().unwrap();
            HeldLock::File(file)
        }
        (None, other) => panic!("a lock this test does not know: {other:?}"),
    }
}

fn up_to_date_runners_do_not_queue_for_the_lock(db: &TestDb) {
    let out = output(fixtures(db).args(["run", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let held = hold_the_lock(db);
    // Nothing pending: returns at once, though the lock is held.
    let out = output(fixtures(db).args(["run", "--yes-i-know", "--lock-timeout", "1"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("waiting"), "{}", text(&out.stderr));
    // Something pending: it waits, and says so.
    let out = output(fixtures(db).args([
        "mark",
        "fixtures_2024_01_02_flaky",
        "--pending",
        "--yes-i-know",
        "--lock-timeout",
        "1",
    ]));
    assert_eq!(out.status.code(), Some(1), "marking needs the lock too");
    assert!(
        text(&out.stderr).contains("error: another runner holds the upgrade lock"),
        "{}",
        text(&out.stderr)
    );
    drop(held);
}
