//! The history is read truly, or it is an error: histories the engine cannot read, seed tables
//! whose `applied` holds anything, tables in the history's place that are not one, a history
//! table of the operator's choosing, and read-only commands that must leave a database as it is.

mod custom_table;
mod foreign;
mod read_only;
mod seed;
mod unreadable;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::SystemTime;

use upgrader_core::Backend;
use upgrader_tests::TestDb;

use crate::support::{EVERY_COMMAND, assert_refused, output, text, upgrader};

/// The upgrades the fixtures binary links, in run order.
const ALL: [&str; 10] = [
    "accounts_2024_01_10_initial",
    "accounts_2024_02_01_add_display_name",
    "fixtures_2024_01_01_slow",
    "fixtures_2024_01_02_flaky",
    "records_2024_01_15_initial",
    "records_2024_03_05_add_version_id",
    "search_2024_04_01_initial",
    "search_2024_05_10_rebuild_index",
    "examples_release_1_0_0",
    "accounts_2024_06_01_add_last_login",
];

/// Runs SQL statements (separated by `;`) on the test database, as its owner.
fn sql(db: &TestDb, statements: &str) {
    db.connect()
        .batch_execute(statements)
        .unwrap_or_else(|e| panic!("{e}: {statements}"));
}

/// The fixtures binary in a fresh working directory (no `upgrader.toml`) against `url`.
fn command(url: &str, args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    output(upgrader(cwd.path(), Some(url)).args(args))
}

/// Asserts exit 0; returns stdout.
#[track_caller]
fn assert_ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `show applied --json` as (upgrade, applied, method) rows, in the order printed.
#[track_caller]
fn applied_json(url: &str, extra: &[&str]) -> Vec<(String, Option<String>, String)> {
    let mut args = extra.to_vec();
    args.extend(["show", "applied", "--json"]);
    let stdout = assert_ok(&command(url, &args));
    let rows: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    rows.as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            (
                r["upgrade"].as_str().unwrap().to_owned(),
                r["applied"].as_str().map(str::to_owned),
                r["method"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every file of a directory: name, bytes and modification time. What "unchanged" means for an
/// SQLite database: not a byte written, no file (`-wal`, `-shm`, `.lock`, `-journal`) added.
fn files(dir: &Path) -> BTreeMap<String, (Vec<u8>, Option<SystemTime>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let path = entry.path();
            let modified = entry.metadata().ok().and_then(|m| m.modified().ok());
            let bytes = if path.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            (
                entry.file_name().to_string_lossy().into_owned(),
                (bytes, modified),
            )
        })
        .collect()
}

/// The directory of an SQLite test database.
fn sqlite_dir(db: &TestDb) -> PathBuf {
    Path::new(&db.url).parent().unwrap().to_owned()
}

/// The state a refused command must leave as it found: for SQLite every byte of the database's
/// directory; for a server the tables, columns and rows.
#[derive(Debug, PartialEq, Eq)]
enum State {
    Files(BTreeMap<String, (Vec<u8>, Option<SystemTime>)>),
    Snapshot(String),
}

fn state(db: &TestDb) -> State {
    match db.backend() {
        Backend::Sqlite => State::Files(files(&sqlite_dir(db))),
        _ => State::Snapshot(db.snapshot()),
    }
}

/// Runs every command against `url` and asserts each is refused with exit 1 and an `error:`
/// line containing `error`, and leaves `db` as it was. Returns the last stderr.
#[track_caller]
fn refused_by_every_command(db: &TestDb, url: &str, error: &str) -> String {
    refused_by_every_command_with(db, url, &[], error)
}

/// Like [`refused_by_every_command`], with arguments before the command (`--history-table x`).
#[track_caller]
fn refused_by_every_command_with(db: &TestDb, url: &str, before: &[&str], error: &str) -> String {
    let state_before = state(db);
    let mut stderr = String::new();
    for args in EVERY_COMMAND {
        let mut all = before.to_vec();
        all.extend(args);
        let out = command(url, &all);
        stderr = assert_refused(&out, 1, error);
        assert!(
            stderr.lines().count() <= 2 && stderr.lines().nth(1).is_none_or(|l| l.starts_with("hint: ")),
            "one `error:` line and at most a `hint:` line, for {all:?}: {stderr}"
        );
        assert_eq!(state(db), state_before, "{all:?} changed the database");
    }
    stderr
}

/// The URL of the test database for another user (PostgreSQL role, MySQL account), without a
/// password (the test servers trust local connections).
fn url_as(db: &TestDb, user: &str) -> String {
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host_and_db}")
}

/// The test database's name (servers).
fn db_name(db: &TestDb) -> &str {
    db.url.rsplit('/').next().unwrap()
}
