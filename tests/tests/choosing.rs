//! Choosing and previewing what `run` does, through the real `upgrader-fixtures` binary on each
//! backend: `--to`, `-p`, `--dry-run`, `--atomic`, `--rehearse`; the modes that must change
//! nothing are checked by comparing the database before and after.

use std::process::{Command, Output};

use upgrader_core::Backend;
use upgrader_tests::{TestDb, last_run_outcome, without_journal};

const FLAKY: &str = "fixtures_2024_01_02_flaky";

fn fixtures(db: &TestDb) -> Command {
    upgrader_tests::fixtures_command(
        env!("CARGO_BIN_EXE_upgrader-fixtures"),
        &std::env::temp_dir(),
        Some(&db.url),
    )
}

fn output(db: &TestDb, args: &[&str]) -> Output {
    fixtures(db)
        .args(args)
        .output()
        .expect("the fixtures binary runs")
}

use upgrader_tests::output_text as text;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn ok(db: &TestDb, args: &[&str]) -> Output {
    let out = output(db, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    out
}

fn applied_ids(db: &TestDb) -> Vec<String> {
    let out = ok(db, &["show", "applied", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| r["upgrade"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

/// The ids a `run` printed as `<verb> <id> (…)` on stdout, in order.
fn listed(out: &Output, verb: &str) -> Vec<String> {
    stdout(out)
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{verb} ")))
        .map(|rest| rest.split(' ').next().unwrap().to_owned())
        .collect()
}

/// A database with some history and some data: the first upgrade applied, a user in it.
fn partly_applied(db: &TestDb) {
    ok(
        db,
        &["run", "--yes-i-know", "--to", "accounts_2024_01_10_initial"],
    );
    db.connect()
        .execute("INSERT INTO users (id, email) VALUES (1, 'ada@example.com')")
        .unwrap();
}

/// Runs `args`, expecting `code`, and checks the database is exactly as before.
#[track_caller]
fn unchanged(db: &TestDb, args: &[&str], env: &[(&str, &str)], code: i32) -> Output {
    let before = db.snapshot();
    let out = fixtures(db)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
    assert_eq!(
        db.snapshot(),
        before,
        "{args:?} changed the database: {}",
        text(&out)
    );
    out
}

/// A run in one transaction that failed: exit 1, and the database as it was but for the journal,
/// which says it failed.
fn unchanged_but_journal(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    let before = without_journal(&db.snapshot());
    let out = fixtures(db)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
    assert_eq!(
        without_journal(&db.snapshot()),
        before,
        "{args:?}: {}",
        text(&out)
    );
    assert_eq!(last_run_outcome(db).as_deref(), Some("failed"), "{args:?}");
    out
}

upgrader_tests::on_every_backend!(
    to_applies_the_upgrade_and_exactly_what_it_needs,
    package_applies_the_modules_upgrades_and_what_they_need,
    dry_run_prints_the_plan_and_changes_nothing,
    bad_choices_are_refused_and_change_nothing,
    atomic_run_whose_third_upgrade_fails_changes_nothing,
    atomic_run_applies_and_records_everything,
    rehearsal_changes_nothing_and_measures_each_upgrade,
    failing_rehearsal_says_where_and_changes_nothing,
);

fn to_applies_the_upgrade_and_exactly_what_it_needs(db: &TestDb) {
    let out = ok(
        db,
        &["run", "--yes-i-know", "--to", "records_2024_03_05_add_version_id"],
    );
    let expected = [
        "accounts_2024_01_10_initial",
        "records_2024_01_15_initial",
        "records_2024_03_05_add_version_id",
    ];
    assert_eq!(listed(&out, "applied"), expected, "in plan order: {}", text(&out));
    assert_eq!(applied_ids(db), sorted(&expected));
    // The plan shown before confirmation is the subset.
    let plan = stderr(&out);
    assert!(plan.contains("3 upgrade(s) to apply"), "{plan}");
    assert!(!plan.contains("search_2024_04_01_initial"), "{plan}");
    // Already applied: nothing to do, a success, nothing changed.
    let out = unchanged(
        db,
        &["run", "--yes-i-know", "--to", "records_2024_01_15_initial"],
        &[],
        0,
    );
    assert!(
        stderr(&out).contains("nothing to do: `records_2024_01_15_initial` is already applied"),
        "{}",
        text(&out)
    );
    // A target further on takes only what is still pending.
    let out = ok(db, &["run", "--yes-i-know", "--to", FLAKY]);
    assert_eq!(
        listed(&out, "applied"),
        ["fixtures_2024_01_01_slow", FLAKY],
        "{}",
        text(&out)
    );
}

fn package_applies_the_modules_upgrades_and_what_they_need(db: &TestDb) {
    // `search` needs `records` (and `records` needs `accounts`' first upgrade): other modules'
    // upgrades come along, nothing else does.
    let out = ok(db, &["run", "--yes-i-know", "-p", "search"]);
    let expected = [
        "accounts_2024_01_10_initial",
        "records_2024_01_15_initial",
        "records_2024_03_05_add_version_id",
        "search_2024_04_01_initial",
        "search_2024_05_10_rebuild_index",
    ];
    assert_eq!(listed(&out, "applied"), expected, "{}", text(&out));
    assert_eq!(applied_ids(db), sorted(&expected));
    // Nothing left in it: a success that changes nothing.
    let out = unchanged(
        db,
        &["run", "--yes-i-know", "--package", "search", "-p", "records"],
        &[],
        0,
    );
    assert!(
        stderr(&out).contains("nothing to do: nothing of `search`, `records` is pending"),
        "{}",
        text(&out)
    );
    // Two modules at once.
    let out = ok(db, &["run", "--yes-i-know", "-p", "fixtures", "-p", "accounts"]);
    let applied = listed(&out, "applied");
    assert!(applied.contains(&FLAKY.to_owned()), "{applied:?}");
    assert!(
        applied.contains(&"accounts_2024_06_01_add_last_login".to_owned()),
        "{applied:?}"
    );
    assert_eq!(applied_ids(db).len(), 10, "everything, through the release");
}

fn dry_run_prints_the_plan_and_changes_nothing(db: &TestDb) {
    // On a database that does not exist yet (SQLite: the file is not created) and on one with a
    // history and data.
    for round in 0..2 {
        if round == 1 {
            partly_applied(db);
        }
        let out = unchanged(db, &["run", "--dry-run"], &[], 0);
        let plan = stdout(&out);
        let ids: Vec<&str> = plan
            .lines()
            .filter_map(|l| l.strip_prefix("  "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|id| *id != "UPGRADE")
            .collect();
        let expected = 10 - round;
        assert_eq!(ids.len(), expected, "{plan}");
        assert!(
            plan.contains(&format!("would apply {expected} upgrade(s)")),
            "{plan}"
        );
        assert!(plan.contains("checks before the first upgrade: the database accepts writes, pre_upgrade of records_2024_03_05_add_version_id"), "{plan}");
        assert!(
            stderr(&out).contains("dry run: nothing was changed"),
            "{}",
            text(&out)
        );
        // The same subset `--to` and `-p` would run, in the same order.
        let out = unchanged(db, &["run", "--dry-run", "--to", FLAKY], &[], 0);
        let plan = stdout(&out);
        assert!(
            plan.contains(&format!("would apply {} upgrade(s)", 3 - round)),
            "{plan}"
        );
        assert!(!plan.contains("records_"), "{plan}");
    }
    // No terminal and no --yes-i-know: a dry run asks nothing, so it does not need either.
    let out = unchanged(db, &["run", "--dry-run", "-p", "search"], &[], 0);
    assert!(
        stdout(&out).contains("search_2024_05_10_rebuild_index"),
        "{}",
        text(&out)
    );
    // Whatever the mode, a dry run changes nothing; --atomic is said in the plan (refused on
    // MySQL/MariaDB, as the run would be).
    let code = if db.backend() == Backend::Mysql { 1 } else { 0 };
    let out = unchanged(db, &["run", "--dry-run", "--atomic"], &[], code);
    if code == 0 {
        assert!(stdout(&out).contains("all in one transaction"), "{}", text(&out));
    }
}

fn bad_choices_are_refused_and_change_nothing(db: &TestDb) {
    for round in 0..2 {
        if round == 1 {
            partly_applied(db);
        }
        let refusals: [(&[&str], i32, &str); 13] = [
            (
                &["run", "--yes-i-know", "--to", "accounts_2024_01_10_inital"],
                1,
                "error: `accounts_2024_01_10_inital` is not a known upgrade\nhint: ",
            ),
            (
                &["run", "--yes-i-know", "--to", "nonsense"],
                1,
                "error: `nonsense` is not a known upgrade\nhint: ",
            ),
            (
                &["run", "--dry-run", "--to", "billing_2024_01_01_initial"],
                1,
                "error: `billing_2024_01_01_initial` is not a known upgrade\nhint: ",
            ),
            (
                &["run", "--yes-i-know", "-p", "billing"],
                1,
                "error: no linked upgrade belongs to the module `billing`\nhint: the modules linked into this binary are: accounts, examples, fixtures, records, search\n",
            ),
            (
                &["run", "--yes-i-know", "-p", "search", "-p", "Search"],
                1,
                "error: no linked upgrade belongs to the module `Search`\nhint: ",
            ),
            (
                &["run", "--yes-i-know", "--to", FLAKY, "-p", "search"],
                2,
                "error: the argument '--to <ID>' cannot be used with '--package <MODULE>'",
            ),
            (
                &["run", "--yes-i-know", "--dry-run", "--rehearse"],
                2,
                "error: the argument '--dry-run' cannot be used with '--rehearse'",
            ),
            (
                &["run", "--yes-i-know", "--atomic", "--rehearse"],
                2,
                "error: the argument '--atomic' cannot be used with '--rehearse'",
            ),
            (
                &["run", "--yes-i-know", "--save-timings", "t.json"],
                2,
                "error: the following required arguments were not provided:\n  --rehearse",
            ),
            (
                &["run", "--yes-i-know", "--atomic", "--max-duration", "1h"],
                2,
                "error: the argument '--atomic' cannot be used with '--max-duration <DURATION>'",
            ),
            (
                &["run", "--yes-i-know", "--rehearse", "--max-duration", "30s"],
                2,
                "error: the argument '--rehearse' cannot be used with '--max-duration <DURATION>'",
            ),
            (
                &["run", "--yes-i-know", "--json", "--dry-run"],
                2,
                "error: the argument '--json' cannot be used with '--dry-run'",
            ),
            (
                &["run", "--yes-i-know", "--json", "--rehearse"],
                2,
                "error: the argument '--json' cannot be used with '--rehearse'",
            ),
        ];
        for (args, code, start) in refusals {
            let out = unchanged(db, args, &[], code);
            assert!(stderr(&out).starts_with(start), "{args:?}: {}", text(&out));
        }
    }
}

/// `--atomic` and `--rehearse` on MySQL/MariaDB: refused with the reason, nothing read or changed.
fn refused_on_mysql(db: &TestDb, args: &[&str]) {
    let out = unchanged(db, args, &[], 1);
    let err = stderr(&out);
    assert!(
        err.contains("needs DDL that rolls back with its transaction, and MySQL/MariaDB commits each DDL statement (CREATE, ALTER, DROP) on its own\nhint: "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
}

fn atomic_run_whose_third_upgrade_fails_changes_nothing(db: &TestDb) {
    let fail = [("UPGRADER_TEST_FAIL", "1")];
    if db.backend() == Backend::Mysql {
        refused_on_mysql(db, &["run", "--yes-i-know", "--atomic"]);
        partly_applied(db);
        return refused_on_mysql(db, &["run", "--yes-i-know", "--atomic", "--to", FLAKY]);
    }
    // From nothing: `--to` the flaky fixture is three upgrades, the third fails. (A run opens an
    // SQLite file for writing, so it creates a missing one: empty, no table, no history.)
    let before = db.snapshot();
    let out = fixtures(db)
        .args(["run", "--yes-i-know", "--atomic", "--to", FLAKY])
        .envs(fail)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Nothing applied or recorded; the run is in the journal, failed (its row, and the engine's
    // tables, are written before the run's transaction, so that the failure leaves a trace).
    assert!(applied_ids(db).is_empty(), "{}", text(&out));
    assert_eq!(last_run_outcome(db).as_deref(), Some("failed"));
    if !before.is_empty() && before != "<no database file>" {
        assert_eq!(without_journal(&db.snapshot()), without_journal(&before));
    }
    assert!(stderr(&out).contains(&format!("error: upgrade `{FLAKY}` failed: the flaky fixture was told to fail; the whole run was rolled back, nothing was applied\nhint: ")), "{}", text(&out));
    assert!(listed(&out, "applied").is_empty(), "{}", text(&out));
    // With a history and data: the whole run, whose third upgrade fails.
    partly_applied(db);
    let out = unchanged_but_journal(db, &["run", "--yes-i-know", "--atomic"], &fail);
    assert!(
        stderr(&out).contains("[3/9] fixtures_2024_01_02_flaky"),
        "{}",
        text(&out)
    );
    // A panic too.
    unchanged_but_journal(
        db,
        &["run", "--yes-i-know", "--atomic"],
        &[("UPGRADER_TEST_PANIC", "1")],
    );
    // Then it goes through, as a whole.
    let out = ok(db, &["run", "--yes-i-know", "--atomic"]);
    assert_eq!(listed(&out, "applied").len(), 9, "{}", text(&out));
}

fn atomic_run_applies_and_records_everything(db: &TestDb) {
    if db.backend() == Backend::Mysql {
        return refused_on_mysql(db, &["run", "--yes-i-know", "--atomic", "-p", "search"]);
    }
    let out = ok(db, &["run", "--yes-i-know", "--atomic", "-p", "records"]);
    assert_eq!(listed(&out, "applied").len(), 3, "{}", text(&out));
    assert!(
        stderr(&out).contains("3 upgrade(s) applied in ")
            && stderr(&out).contains("all of them in one transaction"),
        "{}",
        text(&out)
    );
    let out = ok(db, &["run", "--yes-i-know", "--atomic"]);
    assert_eq!(listed(&out, "applied").len(), 7, "{}", text(&out));
    assert_eq!(applied_ids(db).len(), 10);
    // Each recorded as a run, with its checksum: `status` says up to date.
    let out = output(db, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn rehearsal_changes_nothing_and_measures_each_upgrade(db: &TestDb) {
    if db.backend() == Backend::Mysql {
        refused_on_mysql(db, &["run", "--yes-i-know", "--rehearse"]);
        partly_applied(db);
        return refused_on_mysql(
            db,
            &["run", "--yes-i-know", "--rehearse", "--save-timings", "t.json"],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let timings = dir.path().join("timings.json");
    for round in 0..2 {
        if round == 1 {
            partly_applied(db);
        }
        let out = unchanged(
            db,
            &[
                "run",
                "--yes-i-know",
                "--rehearse",
                "--save-timings",
                timings.to_str().unwrap(),
            ],
            &[],
            0,
        );
        let rehearsed = listed(&out, "rehearsed");
        assert_eq!(rehearsed.len(), 10 - round, "{}", text(&out));
        assert!(
            stderr(&out).contains("rehearsed in one transaction, then rolled back"),
            "{}",
            text(&out)
        );
        // The timings file: `show applied --json`'s shape, one row per rehearsed upgrade.
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&timings).unwrap()).unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r["upgrade"].as_str().unwrap()).collect();
        assert_eq!(ids, rehearsed);
        for row in &rows {
            assert!(row["duration_ms"].is_u64(), "{row}");
            assert_eq!(row["method"], "rehearse");
        }
    }
    // The rehearsal left nothing behind: the real run applies all of it.
    let out = ok(db, &["run", "--yes-i-know"]);
    assert_eq!(listed(&out, "applied").len(), 9, "{}", text(&out));
}

fn failing_rehearsal_says_where_and_changes_nothing(db: &TestDb) {
    if db.backend() == Backend::Mysql {
        return refused_on_mysql(db, &["run", "--yes-i-know", "--rehearse", "--to", FLAKY]);
    }
    let dir = tempfile::tempdir().unwrap();
    let timings = dir.path().join("timings.json");
    for round in 0..2 {
        if round == 1 {
            partly_applied(db);
        }
        let out = unchanged(
            db,
            &[
                "run",
                "--yes-i-know",
                "--rehearse",
                "--save-timings",
                timings.to_str().unwrap(),
            ],
            &[("UPGRADER_TEST_FAIL", "1")],
            1,
        );
        assert_eq!(listed(&out, "failed"), [FLAKY], "{}", text(&out));
        assert_eq!(listed(&out, "rehearsed").len(), 3 - round, "{}", text(&out));
        let err = stderr(&out);
        assert!(err.contains("not reached: records_2024_01_15_initial, "), "{err}");
        assert!(err.contains(&format!("error: upgrade `{FLAKY}` failed: the flaky fixture was told to fail; the rehearsal was rolled back\nhint: ")), "{err}");
        assert!(!timings.exists(), "a failed rehearsal writes no timings");
    }
}

/// A rehearsal on an SQLite file that does not exist rehearses on the empty database it would be,
/// and creates no file.
#[test]
fn rehearsal_on_a_missing_sqlite_file_creates_none() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let out = unchanged(&db, &["run", "--yes-i-know", "--rehearse"], &[], 0);
    assert_eq!(listed(&out, "rehearsed").len(), 10, "{}", text(&out));
    assert_eq!(db.snapshot(), "<no database file>");
}
