//! `--fleet`: one plan over many databases, run by the real binary on real databases: SQLite
//! files, PostgreSQL databases and schemas, MariaDB databases; several runners at once; failures
//! isolated; canaries and waves; bad input refused before anything runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use upgrader_core::{Backend, DatabaseUrl};
use upgrader_tests::{TestDb, output_text as text};

use crate::EXAMPLE_ORDER;
use crate::support::upgrader;

/// A working directory and a fleet of targets listed in `fleet.txt` in it.
struct Fleet {
    dir: tempfile::TempDir,
    urls: Vec<String>,
    _dbs: Vec<TestDb>,
}

impl Fleet {
    /// `n` SQLite files `t01.db`… in the working directory, not created yet.
    fn sqlite(n: usize) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let urls = (1..=n)
            .map(|i| {
                dir.path()
                    .join(format!("t{i:02}.db"))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        Fleet::listing(dir, urls, Vec::new())
    }

    /// `n` fresh databases on a server; `None` when it is not configured (outside CI).
    fn server(backend: Backend, n: usize) -> Option<Fleet> {
        let dbs: Vec<TestDb> = (0..n).map(|_| TestDb::new(backend)).collect::<Option<_>>()?;
        let urls = dbs.iter().map(|db| db.url.clone()).collect();
        Some(Fleet::listing(tempfile::tempdir().unwrap(), urls, dbs))
    }

    fn listing(dir: tempfile::TempDir, urls: Vec<String>, dbs: Vec<TestDb>) -> Fleet {
        let fleet = Fleet { dir, urls, _dbs: dbs };
        fleet.write_targets(&fleet.urls);
        fleet
    }

    fn write_targets(&self, urls: &[String]) {
        let mut text = String::from("# the fleet of this test\n\n");
        for url in urls {
            text.push_str(url);
            text.push('\n');
        }
        std::fs::write(self.path("fleet.txt"), text).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary in the working directory, with `--fleet --targets fleet.txt` after `args`.
    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = upgrader();
        cmd.current_dir(self.dir.path())
            .args(args)
            .args(["--fleet", "--targets", "fleet.txt"]);
        cmd
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["run", "--yes-i-know"];
        all.extend_from_slice(args);
        self.cmd(&all).output().unwrap()
    }
}

/// The upgrades recorded in a target's history, sorted; none for an SQLite file that does not
/// exist (which is not created).
fn applied(url: &str) -> Vec<String> {
    let url = DatabaseUrl::parse(url).unwrap();
    if url.sqlite_path().is_some_and(|p| !p.exists()) {
        return Vec::new();
    }
    let mut conn = url.connect_read_only().unwrap();
    if !conn.table_exists("upgrade").unwrap() {
        return Vec::new();
    }
    conn.query_texts("SELECT upgrade AS value FROM upgrade ORDER BY upgrade")
        .unwrap()
        .into_iter()
        .flatten()
        .collect()
}

fn all_applied() -> Vec<String> {
    let mut ids: Vec<String> = EXAMPLE_ORDER.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

/// The NDJSON stream of `run --fleet --json`.
fn events(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// Per target, the upgrades its `target_finished` events say were applied (several runners'
/// streams together: an upgrade applied twice would be listed twice).
fn applied_by_stream(streams: &[Vec<Value>]) -> BTreeMap<String, Vec<String>> {
    let mut by_target: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in streams
        .iter()
        .flatten()
        .filter(|e| e["event"] == "target_finished")
    {
        let ids = event["applied"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned());
        by_target
            .entry(event["target"].as_str().unwrap().to_owned())
            .or_default()
            .extend(ids);
    }
    by_target.values_mut().for_each(|ids| ids.sort());
    by_target
}

#[test]
fn a_fleet_of_50_sqlite_files_is_grouped_applied_and_seen() {
    let fleet = Fleet::sqlite(50);
    // Ten targets got two upgrades already, by hand (`records_2024_01_15_initial` and what it needs).
    for url in &fleet.urls[..10] {
        let out = upgrader()
            .current_dir(fleet.dir.path())
            .args([
                "run",
                "--yes-i-know",
                "--to",
                "records_2024_01_15_initial",
                "--database-url",
                url,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = fleet.cmd(&["show", "pending", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups: Vec<(usize, usize)> = value["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["targets"].as_array().unwrap().len(),
                g["pending"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(groups, [(40, 8), (10, 6)], "{value}");
    let out = fleet.cmd(&["show", "pending"]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("40 target(s): 8 upgrade(s) pending\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n10 target(s): 6 upgrade(s) pending\n"),
        "{stdout}"
    );
    assert!(stdout.contains(", and 30 more"), "{stdout}");

    let out = fleet.run(&["--jobs", "8", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let stream = events(&out);
    // Every event of a target's run is tagged with its target.
    for event in &stream {
        let kind = event["event"].as_str().unwrap();
        if !["fleet", "group", "fleet_done"].contains(&kind) {
            assert!(event["target"].is_string(), "{event}");
        }
    }
    let done = stream.last().unwrap();
    assert_eq!(done["event"], "fleet_done");
    assert_eq!(
        (
            done["done"].as_u64(),
            done["failed"].as_u64(),
            done["exit_code"].as_u64()
        ),
        (Some(50), Some(0), Some(0))
    );
    let by_target = applied_by_stream(&[stream]);
    assert_eq!(by_target.len(), 50);
    for url in &fleet.urls {
        assert_eq!(applied(url), all_applied(), "{url}");
    }
    for url in &fleet.urls[..10] {
        assert_eq!(by_target[url].len(), 6, "{url}");
    }

    let out = fleet.cmd(&["status", "--json", "--jobs", "8"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["summary"], serde_json::json!({"up_to_date": 50}));
    assert_eq!(value["targets"].as_array().unwrap().len(), 50);

    // Rerunning picks up where each target stands: nothing to do anywhere.
    let out = fleet.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.matches(" up to date ").count(), 50, "{stdout}");
}

/// Four runners started at once on one fleet share it out: each upgrade applied exactly once per
/// target, and every runner exits 0.
fn four_runners_at_once(fleet: &Fleet) {
    let runners: Vec<_> = (0..4)
        .map(|_| {
            let mut cmd = std::process::Command::new(crate::support::example_binary("upgrader"));
            cmd.env_remove("UPGRADER_DATABASE_URL")
                .current_dir(fleet.dir.path())
                .args(["run", "--yes-i-know", "--json", "--jobs", "4", "--log-file", ""])
                .args(["--fleet", "--targets", "fleet.txt"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    // Each runner's output read as it comes: a runner whose pipe filled up would block holding a
    // target's lock.
    let outputs: Vec<_> = runners
        .into_iter()
        .map(|r| std::thread::spawn(move || r.wait_with_output().unwrap()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    for out in &outputs {
        assert_eq!(out.status.code(), Some(0), "{}", text(out));
    }
    let streams: Vec<Vec<Value>> = outputs.iter().map(events).collect();
    let by_target = applied_by_stream(&streams);
    let names: Vec<String> = fleet
        .urls
        .iter()
        .map(|u| DatabaseUrl::parse(u).unwrap().redacted())
        .collect();
    assert_eq!(by_target.keys().cloned().collect::<Vec<_>>(), {
        let mut n = names.clone();
        n.sort();
        n
    });
    for (target, ids) in &by_target {
        assert_eq!(
            ids,
            &all_applied(),
            "{target}: each upgrade exactly once over the four runners"
        );
    }
    for url in &fleet.urls {
        assert_eq!(applied(url), all_applied(), "{url}");
    }
}

#[test]
fn four_runners_at_once_on_50_sqlite_files() {
    four_runners_at_once(&Fleet::sqlite(50));
}

#[test]
fn four_runners_at_once_on_20_postgres_databases() {
    if let Some(fleet) = Fleet::server(Backend::Postgres, 20) {
        four_runners_at_once(&fleet);
    }
}

/// A target whose first upgrade fails (its table is there already) and one that cannot be
/// reached: the others are applied; the summary and the exit code say which.
fn failing_and_unreachable(fleet: &Fleet, unreachable: &str) {
    let mut urls = fleet.urls.clone();
    urls.insert(2, unreachable.to_owned());
    fleet.write_targets(&urls);
    let failing = &fleet.urls[4];
    DatabaseUrl::parse(failing)
        .unwrap()
        .connect()
        .unwrap()
        .batch_execute("CREATE TABLE users (id INTEGER)")
        .unwrap();
    let out = fleet.run(&["--jobs", "3"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    let failing_name = DatabaseUrl::parse(failing).unwrap().redacted();
    let unreachable_name = DatabaseUrl::parse(unreachable).unwrap().redacted();
    assert!(stderr.contains("failed (2):"), "{stderr}");
    let summary = &stderr[stderr.find("failed (2):").unwrap()..];
    assert!(
        summary.contains(&format!("  {failing_name} (fleet.txt:")),
        "{summary}"
    );
    assert!(
        summary.contains("upgrade `accounts_2024_01_10_initial` failed"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("  {unreachable_name} (fleet.txt:5): cannot connect")),
        "{summary}"
    );
    for url in fleet.urls.iter().filter(|u| *u != failing) {
        assert_eq!(applied(url), all_applied(), "{url}");
    }
    assert_eq!(applied(failing), Vec::<String>::new());
    // With --json, the stream's last event says it too.
    let out = fleet.run(&["--json"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    let stream = events(&out);
    let done = stream.last().unwrap();
    assert_eq!(
        (done["failed"].as_u64(), done["exit_code"].as_u64()),
        (Some(2), Some(8)),
        "{done}"
    );
    let failed: Vec<&str> = stream
        .iter()
        .filter(|e| e["event"] == "target_finished" && e["outcome"] == "failed")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.contains(&failing_name.as_str()) && failed.contains(&unreachable_name.as_str()));
}

#[test]
fn a_failing_and_an_unreachable_sqlite_target_do_not_stop_the_others() {
    let fleet = Fleet::sqlite(8);
    let unreachable = fleet.path("no-such-dir/t.db");
    failing_and_unreachable(&fleet, &unreachable.to_string_lossy());
}

#[test]
fn a_failing_and_an_unreachable_postgres_target_do_not_stop_the_others() {
    if let Some(fleet) = Fleet::server(Backend::Postgres, 6) {
        failing_and_unreachable(&fleet, "postgres://postgres@127.0.0.1:1/nowhere");
    }
}

#[test]
fn a_failing_and_an_unreachable_mariadb_target_do_not_stop_the_others() {
    if let Some(fleet) = Fleet::server(Backend::Mysql, 6) {
        failing_and_unreachable(&fleet, "mysql://root@127.0.0.1:1/nowhere");
    }
}

/// Makes the target's first upgrade fail: its table is there already.
fn break_target(url: &str) {
    DatabaseUrl::parse(url)
        .unwrap()
        .connect()
        .unwrap()
        .batch_execute("CREATE TABLE users (id INTEGER)")
        .unwrap();
}

#[test]
fn a_failing_canary_stops_the_fleet_before_anything_else_is_touched() {
    let fleet = Fleet::sqlite(10);
    break_target(&fleet.urls[1]);
    let out = fleet.run(&["--canary", "3", "--jobs", "2"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        stderr.contains("stopped: a canary target failed, so the other 7 target(s) were not started"),
        "{stderr}"
    );
    assert_eq!(applied(&fleet.urls[0]), all_applied());
    assert_eq!(applied(&fleet.urls[2]), all_applied());
    for url in &fleet.urls[3..] {
        assert!(!Path::new(url).exists(), "{url} was touched");
    }
}

#[test]
fn a_failing_canary_on_postgres_leaves_the_other_databases_as_they_were() {
    let Some(fleet) = Fleet::server(Backend::Postgres, 5) else {
        return;
    };
    break_target(&fleet.urls[0]);
    let before: Vec<String> = fleet._dbs[1..].iter().map(TestDb::snapshot).collect();
    let out = fleet.run(&["--canary", "1"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    let after: Vec<String> = fleet._dbs[1..].iter().map(TestDb::snapshot).collect();
    assert_eq!(before, after);
}

#[test]
fn waves_stop_after_the_first_wave_with_a_failure() {
    let fleet = Fleet::sqlite(12);
    // Wave 1 is targets 1-4 (after a canary of 1: 2-5), wave 2 is 6-9; target 7 fails.
    break_target(&fleet.urls[6]);
    let out = fleet.run(&["--canary", "1", "--wave-size", "4", "--jobs", "2", "--json"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    let stream = events(&out);
    let groups: Vec<(String, u64)> = stream
        .iter()
        .filter(|e| e["event"] == "group")
        .map(|e| {
            (
                e["group"].as_str().unwrap().to_owned(),
                e["targets"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [("canary".into(), 1), ("wave".into(), 4), ("wave".into(), 4)]
    );
    for (i, url) in fleet.urls.iter().enumerate() {
        let expected = match i {
            6 => Vec::new(),
            0..=8 => all_applied(),
            _ => Vec::new(),
        };
        assert_eq!(applied(url), expected, "target {}", i + 1);
    }
    assert!(!Path::new(&fleet.urls[9]).exists());
    assert_eq!(stream.last().unwrap()["stopped"], "wave");
}

#[test]
fn fail_fast_starts_nothing_after_the_first_failure() {
    let fleet = Fleet::sqlite(6);
    break_target(&fleet.urls[2]);
    let out = fleet.run(&["--fail-fast", "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("stopped at the first failure (--fail-fast): 3 target(s) were not started")
    );
    assert_eq!(applied(&fleet.urls[1]), all_applied());
    for url in &fleet.urls[3..] {
        assert!(!Path::new(url).exists(), "{url} was touched");
    }
    // Without --fail-fast, the same fleet goes on past it.
    let out = fleet.run(&["--jobs", "1"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    assert_eq!(applied(&fleet.urls[5]), all_applied());
}

/// Holds the SQLite run lock of `url` (the engine's `flock` on `<file>.lock`) until dropped.
fn hold_lock(url: &str) -> std::fs::File {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(format!("{url}.lock"))
        .unwrap();
    file.lock().unwrap();
    file
}

#[test]
fn a_target_held_by_another_runner_is_done_after_the_others_or_given_up() {
    let fleet = Fleet::sqlite(4);
    // The target must have something pending to need the lock: an empty file that exists.
    let held = hold_lock(&fleet.urls[1]);
    let out = fleet.run(&["--lock-timeout", "1", "--json"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    let stream = events(&out);
    assert!(
        stream
            .iter()
            .any(|e| e["event"] == "target_held" && e["target"] == fleet.urls[1].as_str())
    );
    let failed: Vec<&Value> = stream.iter().filter(|e| e["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("did not release it within"),
        "{}",
        failed[0]
    );
    assert_eq!(applied(&fleet.urls[1]), Vec::<String>::new());
    for i in [0, 2, 3] {
        assert_eq!(applied(&fleet.urls[i]), all_applied());
    }
    // Released while the fleet comes back to it: done, and exit 0.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(held);
    });
    let out = fleet.run(&["--lock-timeout", "60", "--json"]);
    releaser.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stream = events(&out);
    assert!(stream.iter().any(|e| e["event"] == "target_held"));
    assert_eq!(applied(&fleet.urls[1]), all_applied());
}

#[test]
fn postgres_20_databases_then_20_schemas_of_one_database() {
    let Some(fleet) = Fleet::server(Backend::Postgres, 20) else {
        return;
    };
    // The password (any, under trust) is never printed.
    let with_password: Vec<String> = fleet
        .urls
        .iter()
        .map(|u| u.replacen("postgres@", "postgres:s3cr3t@", 1))
        .collect();
    fleet.write_targets(&with_password);
    let out = fleet.run(&["--jobs", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("s3cr3t"), "{}", text(&out));
    assert!(text(&out).contains("postgres:***@"), "{}", text(&out));
    for url in &fleet.urls {
        assert_eq!(applied(url), all_applied(), "{url}");
    }

    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let mut conn = db.connect();
    for i in 1..=20 {
        conn.batch_execute(&format!("CREATE SCHEMA tenant_{i:02}"))
            .unwrap();
    }
    conn.batch_execute("CREATE SCHEMA tenantx; CREATE SCHEMA other")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let schemas = |args: &[&str]| {
        upgrader()
            .current_dir(dir.path())
            .env("UPGRADER_DATABASE_URL", &db.url)
            .args(args)
            .args(["--fleet", "--schemas", "tenant_*"])
            .output()
            .unwrap()
    };
    let out = schemas(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    // `_` is a character, not LIKE's wildcard: `tenantx` is not a tenant.
    assert_eq!(value["summary"], serde_json::json!({"pending": 20}), "{value}");
    let out = schemas(&["run", "--yes-i-know", "--jobs", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    for i in 1..=20 {
        let url = format!("{}?schema=tenant_{i:02}", db.url);
        assert_eq!(applied(&url), all_applied(), "{url}");
        let users = conn
            .query_i64(&format!(
                "SELECT COUNT(*) AS value FROM pg_tables WHERE schemaname = 'tenant_{i:02}' AND tablename = 'users'"
            ))
            .unwrap();
        assert_eq!(users, Some(1));
    }
    for schema in ["public", "tenantx", "other"] {
        let tables = conn
            .query_i64(&format!(
                "SELECT COUNT(*) AS value FROM pg_tables WHERE schemaname = '{schema}'"
            ))
            .unwrap();
        assert_eq!(tables, Some(0), "{schema} was touched");
    }
    let out = schemas(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("20 target(s): up_to_date: 20"));
}

#[test]
fn mariadb_10_databases() {
    let Some(fleet) = Fleet::server(Backend::Mysql, 10) else {
        return;
    };
    let out = fleet.cmd(&["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = fleet.run(&["--jobs", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    for url in &fleet.urls {
        assert_eq!(applied(url), all_applied(), "{url}");
    }
    let out = fleet.cmd(&["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn status_says_which_targets_cannot_be_told() {
    let fleet = Fleet::sqlite(3);
    let mut urls = fleet.urls.clone();
    urls.push(fleet.path("missing/t.db").to_string_lossy().into_owned());
    urls.push("postgres://postgres@127.0.0.1:1/nowhere".into());
    fleet.write_targets(&urls);
    let out = fleet
        .cmd(&["status", "--json", "--connect-timeout", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    // A file in a directory that does not exist reads as the empty database it would be (as for
    // one database); the server that does not answer cannot be told.
    assert_eq!(
        value["summary"],
        serde_json::json!({"pending": 4, "unreachable": 1}),
        "{value}"
    );
    let row = &value["targets"][4];
    assert_eq!(row["state"], "unreachable");
    assert!(row["error"].as_str().unwrap().contains("cannot connect"), "{row}");
    assert!(row["pending"].is_null(), "unknown is not none: {row}");
    // Looking creates nothing.
    for url in &fleet.urls {
        assert!(!Path::new(url).exists());
    }
    let out = fleet.cmd(&["show", "pending"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cannot tell: "),
        "{}",
        text(&out)
    );
}

/// Bad input is refused before anything runs: exit 1, a message and a hint, no target touched.
#[test]
fn bad_fleets_are_refused_before_anything_runs() {
    let fleet = Fleet::sqlite(3);
    let refused = |file: &str, message: &str| {
        std::fs::write(fleet.path("fleet.txt"), file).unwrap();
        let out = fleet.run(&[]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", text(&out));
        let stderr = String::from_utf8(out.stderr.clone()).unwrap();
        assert!(stderr.contains(message), "{file}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("hint: ")).count(),
            1,
            "{stderr}"
        );
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error: ")).count(),
            1,
            "{stderr}"
        );
        for url in &fleet.urls {
            assert!(!Path::new(url).exists(), "{url} was touched");
        }
    };
    let t = |i: usize| fleet.urls[i].clone();
    refused(
        "# nothing yet\n\n",
        "error: the fleet is empty: targets file fleet.txt names no target",
    );
    refused(
        &format!("{}\nftp://host/db\n", t(0)),
        "error: invalid target at fleet.txt:2:",
    );
    refused(
        &format!("{}\n\n{}\n{}\n", t(0), t(1), t(0)),
        "is listed twice in the fleet (fleet.txt:1 and fleet.txt:4)",
    );
    refused(
        &format!("{}\n./t02.db\n{}\n", t(1), t(2)),
        "are the same database",
    );
    std::fs::create_dir(fleet.path("sub")).unwrap();
    refused(&format!("{}\nsub/../t01.db\n", t(0)), "are the same database");
    std::os::unix::fs::symlink(fleet.path("t03.db"), fleet.path("link.db")).unwrap();
    refused(&format!("{}\nlink.db\n", t(2)), "are the same database");

    let refused_args = |args: &[&str], message: &str, code: i32| {
        let out = upgrader()
            .current_dir(fleet.dir.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        for url in &fleet.urls {
            assert!(!Path::new(url).exists(), "{url} was touched");
        }
    };
    refused_args(
        &["run", "--yes-i-know", "--fleet"],
        "error: --fleet names no targets",
        1,
    );
    refused_args(
        &["run", "--yes-i-know", "--fleet", "--targets", "nope.txt"],
        "cannot read the targets file",
        1,
    );
    // A control database without the table the query reads.
    DatabaseUrl::parse(&fleet.path("control.db").to_string_lossy())
        .unwrap()
        .connect()
        .unwrap()
        .batch_execute("CREATE TABLE customers (url TEXT)")
        .unwrap();
    let control = fleet.path("control.db").to_string_lossy().into_owned();
    refused_args(
        &[
            "run",
            "--yes-i-know",
            "--fleet",
            "--targets-query",
            "SELECT url FROM tenants",
            "--database-url",
            &control,
        ],
        "error: cannot list the fleet's targets from",
        1,
    );
    refused_args(
        &[
            "run",
            "--yes-i-know",
            "--fleet",
            "--schemas",
            "tenant_*",
            "--database-url",
            "control.db",
        ],
        "a schema pattern needs PostgreSQL",
        1,
    );
    refused_args(
        &[
            "run",
            "--yes-i-know",
            "--dry-run",
            "--fleet",
            "--targets",
            "fleet.txt",
        ],
        "cannot be used with",
        2,
    );
    refused_args(&["run", "--yes-i-know", "--canary", "2"], "--fleet", 2);
    refused_args(
        &["run", "--fleet", "--targets", "fleet.txt"],
        "pass --yes-i-know to run unattended",
        1,
    );
}

#[test]
fn targets_from_a_query_and_from_the_configuration() {
    let fleet = Fleet::sqlite(4);
    // A control database listing the tenants.
    let control = fleet.path("control.db");
    let mut conn = DatabaseUrl::parse(&control.to_string_lossy())
        .unwrap()
        .connect()
        .unwrap();
    conn.batch_execute("CREATE TABLE tenants (name TEXT, url TEXT, active INTEGER)")
        .unwrap();
    for (i, url) in fleet.urls.iter().enumerate() {
        conn.execute(&format!(
            "INSERT INTO tenants VALUES ('t{i}', '{url}', {})",
            i32::from(i != 3)
        ))
        .unwrap();
    }
    drop(conn);
    let out = upgrader()
        .current_dir(fleet.dir.path())
        .args(["run", "--yes-i-know", "--fleet", "--database-url", "control.db"])
        .args([
            "--targets-query",
            "SELECT url FROM tenants WHERE active = 1 ORDER BY name",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for url in &fleet.urls[..3] {
        assert_eq!(applied(url), all_applied());
    }
    assert!(!Path::new(&fleet.urls[3]).exists());
    // A query without a `url` or `schema` column.
    let out = upgrader()
        .current_dir(fleet.dir.path())
        .args([
            "status",
            "--fleet",
            "--database-url",
            "control.db",
            "--targets-query",
            "SELECT name FROM tenants",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("it returns no column named `url` or `schema`"));

    // `[fleet]` in a configuration file elsewhere: its paths are relative to it.
    let config_dir = fleet.path("conf");
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("upgrader.toml"),
        "log_file = false\n[fleet]\ntargets = [\"../t04.db\"]\ntargets_file = \"more.txt\"\njobs = 2\n",
    )
    .unwrap();
    std::fs::write(config_dir.join("more.txt"), "../t05.db\n").unwrap();
    let out = upgrader()
        .current_dir(std::env::temp_dir())
        .args(["run", "--yes-i-know", "--fleet", "--config"])
        .arg(config_dir.join("upgrader.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(applied(&fleet.urls[3]), all_applied());
    assert_eq!(applied(&fleet.path("t05.db").to_string_lossy()), all_applied());
    std::fs::write(config_dir.join("upgrader.toml"), "[fleet]\ntargets = []\n").unwrap();
    let out = upgrader()
        .args(["status", "--fleet", "--config"])
        .arg(config_dir.join("upgrader.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`fleet.targets` is empty"));
}

#[test]
fn in_a_terminal_the_fleet_is_confirmed_once_and_shows_done_running_failed_and_time_left() {
    let fleet = Fleet::sqlite(12);
    break_target(&fleet.urls[5]);
    let mut cmd = std::process::Command::new(crate::support::example_binary("upgrader"));
    cmd.current_dir(fleet.dir.path())
        .env_remove("UPGRADER_DATABASE_URL")
        .args(["run", "--fleet", "--targets", "fleet.txt", "--jobs", "1"]);
    let mut term = rexpect::session::spawn_command(cmd, Some(30_000)).expect("a pty");
    term.exp_string("12 targets in the fleet, 1 at a time").unwrap();
    term.exp_string("every question an upgrade asks gets its default")
        .unwrap();
    term.exp_string("Apply the pending upgrades to every target? [y/N]")
        .unwrap();
    term.send("y").unwrap();
    term.flush().unwrap();
    // Said once for the whole fleet, not once per target.
    term.exp_string(
        "Display name for users whose email has no name part? -> anonymous (the default, for every target)",
    )
    .unwrap();
    term.exp_string("[1/12] ").unwrap();
    // The live line: done, running, failed, and the time left.
    let (_, line) = term
        .exp_regex(r"fleet \[[=> ]*\] \d+/12 targets done, [^\r\n]*left")
        .unwrap();
    assert!(
        line.contains(" running, ") && line.contains(" failed, "),
        "{line}"
    );
    term.exp_string("FAILED ").unwrap();
    term.exp_string("fleet: 12 targets in ").unwrap();
    term.exp_string("11 done, 1 failed").unwrap();
    term.exp_eof().unwrap();
    for (i, url) in fleet.urls.iter().enumerate() {
        assert_eq!(applied(url).len(), if i == 5 { 0 } else { 8 }, "{url}");
    }
}

#[test]
fn postgres_one_database_under_two_names_is_refused_and_a_query_can_list_schemas() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let fleet = Fleet::listing(
        tempfile::tempdir().unwrap(),
        vec![db.url.clone(), db.url.replacen("127.0.0.1", "localhost", 1)],
        Vec::new(),
    );
    let before = db.snapshot();
    let out = fleet.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("are the same database"),
        "{}",
        text(&out)
    );
    assert_eq!(db.snapshot(), before);
    // Two schemas of it are two targets; the query names them in a `schema` column.
    db.connect()
        .batch_execute("CREATE SCHEMA shop_a; CREATE SCHEMA shop_b")
        .unwrap();
    let out = upgrader()
        .current_dir(fleet.dir.path())
        .env("UPGRADER_DATABASE_URL", &db.url)
        .args(["run", "--yes-i-know", "--fleet", "--targets-query"])
        .arg("SELECT nspname AS schema FROM pg_namespace WHERE nspname LIKE 'shop%' ORDER BY 1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for schema in ["shop_a", "shop_b"] {
        assert_eq!(applied(&format!("{}?schema={schema}", db.url)), all_applied());
    }
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("?schema=shop_b"),
        "{}",
        text(&out)
    );
}
