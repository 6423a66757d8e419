//! Upgrades for large, live databases, on real databases and real processes: upgrades that run
//! outside a transaction (`CREATE INDEX CONCURRENTLY`), killed or failing, and both ways out of
//! the interrupted state; batched backfills over a million rows, killed half-way or failing, that
//! resume at their checkpoint. The `upgrader-large` binary is the CLI with three upgrades: a table
//! of `$UPGRADER_TEST_ROWS` rows, an index outside a transaction, a batched backfill.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use upgrader_core::{Backend, Context, Engine, Registry, RunOptions, Unattended, Upgrade};
use upgrader_tests::{SlowRun, TestDb, wait_for_the_server_to_drop_the_lock};

const INDEX: &str = "large_2024_01_02_index";
const FILL: &str = "large_2024_01_03_fill_doubled";

fn large(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_upgrader-large"));
    cmd.env("UPGRADER_DATABASE_URL", &db.url)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null());
    for var in [
        "UPGRADER_TEST_ROWS",
        "UPGRADER_TEST_SLEEP_MS",
        "UPGRADER_TEST_FAIL",
        "UPGRADER_TEST_BATCH",
        "UPGRADER_TEST_PAUSE_MS",
        "UPGRADER_TEST_FAIL_AFTER",
        "UPGRADER_TEST_BATCH_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("the upgrader-large binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeds(cmd: &mut Command) -> Output {
    let out = output(cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// `check`'s line for a pending upgrade: `  <id>  <estimate> (<how it runs>)`.
fn check_line(stdout: &str, id: &str) -> String {
    let start = format!("  {id} ");
    stdout
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no line for {id}:\n{stdout}"))
        .to_owned()
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.connect().query_i64(sql).unwrap().unwrap_or(0)
}

fn applied(db: &TestDb) -> Vec<(String, String)> {
    let out = succeeds(large(db).args(["show", "applied", "--json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .map(|r| {
            (
                r["upgrade"].as_str().unwrap().to_owned(),
                r["method"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pending_json(db: &TestDb) -> serde_json::Value {
    let out = succeeds(large(db).args(["show", "pending", "--json"]));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether `items_n` exists, asked the catalog's way on each backend.
fn index_exists(db: &TestDb) -> bool {
    let sql = match db.backend() {
        Backend::Postgres => "SELECT COUNT(*) AS value FROM pg_indexes WHERE indexname = 'items_n'",
        Backend::Mysql => {
            "SELECT COUNT(*) AS value FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME = 'items_n'"
        }
        _ => "SELECT COUNT(*) AS value FROM sqlite_master WHERE type = 'index' AND name = 'items_n'",
    };
    count(db, sql) > 0
}

fn drop_index(db: &TestDb) {
    let sql = match db.backend() {
        Backend::Mysql => "DROP INDEX items_n ON items",
        _ => "DROP INDEX items_n",
    };
    db.connect().execute(sql).unwrap();
}

upgrader_tests::on_every_backend!(
    killed_outside_a_transaction_is_interrupted_and_retry_gets_it_done,
    killed_outside_a_transaction_is_interrupted_and_mark_applied_records_it,
    failing_outside_a_transaction_is_not_reported_rolled_back,
    pending_upgrades_outside_a_transaction_are_named_by_show_pending_and_check,
    batched_backfill_killed_half_way_resumes_and_redoes_at_most_one_batch,
    failed_batch_resumes_at_its_checkpoint,
    mark_pending_clears_the_checkpoint,
    batches_refused_inside_the_engines_transaction,
    one_transaction_modes_refuse_upgrades_outside_a_transaction,
);

/// Kills a run while `large_2024_01_02_index` sleeps after creating its index, and checks it is
/// reported interrupted everywhere, and that `run` refuses it without changing anything.
fn kill_in_the_index_upgrade(db: &TestDb) {
    let mut run = SlowRun::start(large(db), 60_000);
    run.child.kill().unwrap(); // SIGKILL
    run.finish();
    wait_for_the_server_to_drop_the_lock(db);
    assert!(index_exists(db), "created outside a transaction, the index stays");
    assert_eq!(
        applied(db),
        [("large_2024_01_01_items".to_owned(), "run".to_owned())]
    );
    let pending = output(large(db).args(["show", "pending"]));
    assert!(
        text(&pending.stderr).contains(&format!("interrupted: `{INDEX}` started at ")),
        "{}",
        text(&pending.stderr)
    );
    let json = pending_json(db);
    assert_eq!(json["interrupted"][0]["upgrade"], INDEX, "{json}");
    assert_eq!(json["interrupted"][0]["error"], serde_json::Value::Null, "{json}");
    let check = output(large(db).arg("check"));
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stderr).contains(&format!("error: interrupted: `{INDEX}` started at")),
        "{}",
        text(&check.stderr)
    );
    let status = output(large(db).arg("status"));
    assert_eq!(status.status.code(), Some(4), "{}", text(&status.stdout));
    let before = db.snapshot();
    let refused = output(large(db).args(["run", "--yes-i-know"]));
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains(&format!(
            "error: 1 upgrade(s) were interrupted and need a decision: `{INDEX}` started at"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: inspect the database, then `upgrader-large resolve {INDEX} --retry`"
        )),
        "{stderr}"
    );
    assert_eq!(db.snapshot(), before, "the refused run changed nothing");
}

fn killed_outside_a_transaction_is_interrupted_and_retry_gets_it_done(db: &TestDb) {
    kill_in_the_index_upgrade(db);
    // It did not finish: the operator undoes what it did, and has it run again.
    drop_index(db);
    succeeds(large(db).args(["resolve", INDEX, "--retry", "--yes-i-know"]));
    assert_eq!(pending_json(db)["interrupted"], serde_json::json!([]));
    succeeds(large(db).args(["run", "--yes-i-know"]));
    assert!(index_exists(db));
    let methods: Vec<String> = applied(db).into_iter().map(|(_, m)| m).collect();
    assert_eq!(methods, ["run", "run", "run"]);
    assert_eq!(count(db, "SELECT COUNT(*) AS value FROM upgrade_in_progress"), 0);
}

fn killed_outside_a_transaction_is_interrupted_and_mark_applied_records_it(db: &TestDb) {
    kill_in_the_index_upgrade(db);
    // It did finish (the index is there): the operator records it.
    succeeds(large(db).args(["resolve", INDEX, "--mark-applied", "--yes-i-know"]));
    succeeds(large(db).args(["run", "--yes-i-know"]));
    let applied = applied(db);
    assert!(
        applied.contains(&(INDEX.to_owned(), "resolve".to_owned())),
        "{applied:?}"
    );
    assert!(
        applied.contains(&(FILL.to_owned(), "run".to_owned())),
        "{applied:?}"
    );
    assert_eq!(count(db, "SELECT COUNT(*) AS value FROM upgrade_in_progress"), 0);
}

fn failing_outside_a_transaction_is_not_reported_rolled_back(db: &TestDb) {
    let out = output(
        large(db)
            .args(["run", "--yes-i-know"])
            .env("UPGRADER_TEST_FAIL", "1"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let error = stderr.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert_eq!(
        error,
        format!(
            "error: upgrade `{INDEX}` failed: the index fixture was told to fail; it ran outside a transaction, so what it did before failing stays (1 applied before it)"
        )
    );
    assert!(!stderr.contains("rolled back"), "{stderr}");
    assert!(
        stderr.contains("(outside a transaction) Index `items.n`"),
        "the plan says so: {stderr}"
    );
    assert!(stderr.contains(&format!("resolve {INDEX} --retry")), "{stderr}");
    assert!(index_exists(db), "not rolled back");
    let json = pending_json(db);
    assert_eq!(json["interrupted"][0]["upgrade"], INDEX, "{json}");
    assert_eq!(
        json["interrupted"][0]["error"], "the index fixture was told to fail",
        "{json}"
    );
}

fn pending_upgrades_outside_a_transaction_are_named_by_show_pending_and_check(db: &TestDb) {
    let before = db.snapshot();
    let out = succeeds(large(db).args(["show", "pending"]));
    let stdout = text(&out.stdout);
    let line = |id: &str| stdout.lines().find(|l| l.starts_with(id)).unwrap().to_owned();
    assert!(
        !line("large_2024_01_01_items").contains("outside a transaction"),
        "{stdout}"
    );
    assert!(
        line(INDEX).contains("(outside a transaction) Index `items.n`"),
        "{stdout}"
    );
    assert!(line(FILL).contains("(outside a transaction) Fill"), "{stdout}");
    let json = pending_json(db);
    let flags: Vec<bool> = json["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["transaction"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [true, false, false], "{json}");
    let out = succeeds(large(db).arg("check"));
    let stdout = text(&out.stdout);
    assert!(
        !check_line(&stdout, "large_2024_01_01_items").contains("outside"),
        "{stdout}"
    );
    assert!(
        check_line(&stdout, INDEX).ends_with(" (outside a transaction)"),
        "{stdout}"
    );
    let out = succeeds(large(db).args(["check", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["pending"][1]["transaction"], false, "{json}");
    assert_eq!(json["pending"][0]["transaction"], true, "{json}");
    assert_eq!(db.snapshot(), before, "looking changed nothing");
}

/// `--atomic` and `--rehearse` cannot hold an upgrade that runs outside a transaction: refused,
/// naming it, before anything is asked or changed (on MySQL/MariaDB both modes are refused anyway,
/// for its DDL); a subset without such an upgrade goes ahead.
fn one_transaction_modes_refuse_upgrades_outside_a_transaction(db: &TestDb) {
    if db.backend() != Backend::Mysql {
        // Only the first upgrade, which runs in a transaction: all or nothing is fine.
        succeeds(large(db).args([
            "run",
            "--yes-i-know",
            "--log-file=",
            "--atomic",
            "--to",
            "large_2024_01_01_items",
        ]));
        assert_eq!(applied(db).len(), 1);
    }
    let before = db.snapshot();
    for mode in ["--atomic", "--rehearse"] {
        for target in [None, Some(INDEX), Some(FILL)] {
            let mut cmd = large(db);
            cmd.args(["run", "--yes-i-know", "--log-file=", mode]);
            if let Some(id) = target {
                cmd.args(["--to", id]);
            }
            let out = output(&mut cmd);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{mode} {target:?}: {stderr}");
            assert_eq!(db.snapshot(), before, "{mode} {target:?} changed nothing");
            if db.backend() == Backend::Mysql {
                assert!(stderr.contains("commits each DDL statement"), "{stderr}");
                continue;
            }
            assert!(stderr.contains("outside one"), "{mode} {target:?}: {stderr}");
            assert!(stderr.contains(&format!("`{INDEX}`")), "{stderr}");
            assert_eq!(
                stderr.contains(&format!("`{FILL}`")),
                target != Some(INDEX),
                "{stderr}"
            );
            assert!(
                stderr.contains("hint: run without --atomic/--rehearse"),
                "{stderr}"
            );
            assert_eq!(db.snapshot(), before, "{mode} {target:?} changed nothing");
        }
    }
    if db.backend() != Backend::Mysql {
        // Only the first upgrade, which runs in a transaction: all or nothing is fine.
        succeeds(large(db).args([
            "run",
            "--yes-i-know",
            "--log-file=",
            "--atomic",
            "--to",
            "large_2024_01_01_items",
        ]));
        assert_eq!(applied(db).len(), 1);
    }
}

/// Where the backfill's checkpoint is (rows done), or `None` while it has none.
fn rows_done(db: &TestDb) -> Option<i64> {
    db.connect()
        .query_i64(&format!(
            "SELECT rows_done AS value FROM upgrade_checkpoint WHERE upgrade = '{FILL}'"
        ))
        .ok()
        .flatten()
}

/// The cursors the batches started after, in order, as the fixture logged them.
fn batch_log(path: &std::path::Path) -> Vec<i64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

fn batched_backfill_killed_half_way_resumes_and_redoes_at_most_one_batch(db: &TestDb) {
    const ROWS: i64 = 1_000_000;
    const BATCH: i64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("batches.log");
    let run = |cmd: &mut Command| {
        cmd.args(["run", "--yes-i-know"])
            .env("UPGRADER_TEST_ROWS", ROWS.to_string())
            .env("UPGRADER_TEST_BATCH", BATCH.to_string())
            .env("UPGRADER_TEST_PAUSE_MS", "30")
            .env("UPGRADER_TEST_BATCH_LOG", &log)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    let mut first = large(db);
    run(&mut first);
    let mut child = first.spawn().unwrap();
    // Kill it at about half way, as the checkpoint says.
    loop {
        if rows_done(db).is_some_and(|done| done >= ROWS / 2) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended before half way: {status}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    wait_for_the_server_to_drop_the_lock(db);
    let done = rows_done(db).unwrap();
    assert!((ROWS / 2..ROWS).contains(&done), "killed part-way: {done}");
    assert_eq!(done % BATCH, 0, "a checkpoint is at a batch's end");
    assert_eq!(
        count(db, "SELECT COUNT(*) AS value FROM items WHERE touched = 1"),
        done,
        "the checkpoint commits with its batch: exactly the rows it counts are done"
    );

    // Not interrupted: it resumes, and says where.
    let json = pending_json(db);
    assert_eq!(json["interrupted"], serde_json::json!([]), "{json}");
    assert_eq!(json["pending"][0]["upgrade"], FILL, "{json}");
    assert_eq!(json["pending"][0]["checkpoint"]["rows_done"], done, "{json}");
    assert_eq!(json["pending"][0]["checkpoint"]["rows_total"], ROWS, "{json}");
    let thousands = |n: i64| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let resumes = format!("resumes at {} of 1,000,000 rows", thousands(done));
    let out = succeeds(large(db).args(["show", "pending"]));
    assert!(
        text(&out.stdout).contains(&format!("({resumes}) Fill")),
        "{}",
        text(&out.stdout)
    );
    let out = succeeds(large(db).arg("check"));
    assert!(
        check_line(&text(&out.stdout), FILL).ends_with(&format!(" ({resumes})")),
        "{}",
        text(&out.stdout)
    );
    let status = output(large(db).arg("status"));
    assert_eq!(status.status.code(), Some(3), "pending, not interrupted");

    let batches_before = batch_log(&log).len();
    let mut again = large(db);
    run(&mut again);
    let out = again.stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Correct data, every row done exactly once by a committed batch.
    assert_eq!(count(db, "SELECT COUNT(*) AS value FROM items"), ROWS);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) AS value FROM items WHERE doubled = 2 * n AND touched = 1"
        ),
        ROWS
    );
    assert!(applied(db).contains(&(FILL.to_owned(), "run".to_owned())));
    assert_eq!(count(db, "SELECT COUNT(*) AS value FROM upgrade_checkpoint"), 0);
    assert_eq!(count(db, "SELECT COUNT(*) AS value FROM upgrade_in_progress"), 0);
    // Every batch attempted, rolled back or not: at most the one in flight at the kill twice.
    let cursors = batch_log(&log);
    let mut distinct = cursors.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len() as i64, ROWS / BATCH, "every batch ran");
    assert!(
        cursors.len() - distinct.len() <= 1,
        "at most one batch redone: {} attempts of {} batches",
        cursors.len(),
        distinct.len()
    );
    assert_eq!(
        cursors[batches_before], done,
        "the second run started after the checkpoint"
    );
}

fn small_failed_backfill(db: &TestDb) -> std::path::PathBuf {
    let log = std::env::temp_dir().join(format!("{}.log", upgrader_tests::unique_name()));
    let out = output(
        large(db)
            .args(["run", "--yes-i-know"])
            .env("UPGRADER_TEST_FAIL_AFTER", "500")
            .env("UPGRADER_TEST_BATCH_LOG", &log),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("error: upgrade `{FILL}` failed: the batch after 500 was told to fail; the batch in flight was rolled back, the 500 of 1,000 rows of the batches before it stay committed and the next run resumes after them")),
        "{stderr}"
    );
    assert!(stderr.contains("hint: fix the cause and run again"), "{stderr}");
    log
}

fn failed_batch_resumes_at_its_checkpoint(db: &TestDb) {
    let log = small_failed_backfill(db);
    assert_eq!(rows_done(db), Some(500));
    assert_eq!(
        count(db, "SELECT COUNT(*) AS value FROM items WHERE touched = 1"),
        500
    );
    let json = pending_json(db);
    assert_eq!(json["interrupted"], serde_json::json!([]), "{json}");
    let out = succeeds(large(db).arg("check"));
    assert!(
        check_line(&text(&out.stdout), FILL).ends_with(" (resumes at 500 of 1,000 rows)"),
        "{}",
        text(&out.stdout)
    );
    let out = succeeds(
        large(db)
            .args(["run", "--yes-i-know"])
            .env("UPGRADER_TEST_BATCH_LOG", &log),
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("(resumes at 500 of 1,000 rows) Fill"),
        "the plan says so: {stderr}"
    );
    assert!(
        stderr.contains("  resuming at 500 of 1,000 rows, after 500\n"),
        "{stderr}"
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) AS value FROM items WHERE doubled = 2 * n AND touched = 1"
        ),
        1000
    );
    let cursors = batch_log(&log);
    assert_eq!(
        cursors,
        [0, 100, 200, 300, 400, 500, 500, 600, 700, 800, 900],
        "only the failed batch ran twice"
    );
    let _ = std::fs::remove_file(log);
}

fn mark_pending_clears_the_checkpoint(db: &TestDb) {
    let log = small_failed_backfill(db);
    let _ = std::fs::remove_file(log);
    succeeds(large(db).args(["mark", FILL, "--pending", "--yes-i-know"]));
    assert_eq!(rows_done(db), None);
    assert_eq!(count(db, "SELECT COUNT(*) AS value FROM upgrade_in_progress"), 0);
    assert_eq!(
        pending_json(db)["pending"][0]["checkpoint"],
        serde_json::Value::Null
    );
    // It starts again from the first batch.
    succeeds(large(db).args(["run", "--yes-i-know"]));
    assert_eq!(
        count(db, "SELECT COUNT(*) AS value FROM items WHERE touched = 2"),
        500
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) AS value FROM items WHERE touched = 1"),
        500
    );
}

fn batched_inside(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.batches(upgrader_core::Batches::after(0), |_, _| {
        Ok(upgrader_core::Batch::Last { rows: 0 })
    })?;
    Ok(())
}

fn batches_refused_inside_the_engines_transaction(db: &TestDb) {
    let registry = Registry::new(
        [Upgrade::new(
            "batch_2024_01_01_inside",
            "Batches without `transaction = false`.",
            batched_inside,
        )],
        [],
    );
    let mut engine = Engine::open(&db.database_url(), registry, None).unwrap();
    let err = engine
        .run(&mut Unattended::default(), &RunOptions::default())
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "batched work commits batch by batch: declare the upgrade `#[upgrade(..., transaction = false)]`"
        ),
        "{err}"
    );
    assert!(engine.applied().unwrap().is_empty());
}

fn create_items(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, n BIGINT NOT NULL)")?;
    ctx.execute("INSERT INTO items (id, n) VALUES (1, 1), (2, 2), (3, 3)")?;
    Ok(())
}

fn index_concurrently(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("CREATE INDEX CONCURRENTLY items_n ON items (n)")?;
    Ok(())
}

// The symptom: "CREATE INDEX CONCURRENTLY cannot run inside a transaction block".
#[test]
fn postgres_create_index_concurrently_runs_only_outside_a_transaction() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    const ITEMS: Upgrade = Upgrade::new("items_2024_01_01_create", "Create `items`.", create_items);
    let index = Upgrade::new("items_2024_01_02_index", "Index `items.n`.", index_concurrently)
        .with_depends_on(&["items_2024_01_01_create"]);
    let run = |index: Upgrade| {
        let mut engine = Engine::open(&db.database_url(), Registry::new([ITEMS, index], []), None).unwrap();
        engine.run(&mut Unattended::default(), &RunOptions::default())
    };
    let err = run(index).unwrap_err();
    assert_eq!(
        err.to_string(),
        "upgrade `items_2024_01_02_index` failed: CREATE INDEX CONCURRENTLY cannot run inside a transaction block (1 applied before it, its own changes were rolled back)"
    );
    assert!(index.transactional(), "the default");
    let report = run(index.with_transaction(false)).unwrap();
    assert_eq!(report.applied_ids(), ["items_2024_01_02_index"]);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS value FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'items_n' AND i.indisvalid"
        ),
        1,
        "a valid index"
    );
}
