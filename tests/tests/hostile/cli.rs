//! What the operator asked for is what happens, or an error says why: configuration files,
//! `mark` on upgrades whose state it cannot change alone, interrupted upgrades, refusals that must
//! not create a database, and stdout that is closed, full or handed terminal escapes.

use std::io::Read as _;
use std::process::Stdio;

use upgrader_core::Backend;
use upgrader_tests::TestDb;

use crate::support::{EVERY_COMMAND, assert_refused, output, text, upgrader};

/// A fresh database with every upgrade applied, and a working directory.
fn applied(backend: Backend) -> Option<(TestDb, tempfile::TempDir)> {
    let db = TestDb::new(backend)?;
    let dir = tempfile::tempdir().unwrap();
    let out = output(upgrader(dir.path(), Some(&db.url)).args(["run", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    Some((db, dir))
}

fn pending_ids(db: &TestDb, dir: &std::path::Path) -> Vec<String> {
    let out = output(upgrader(dir, Some(&db.url)).args(["show", "pending", "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    value["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["upgrade"].as_str().unwrap().to_owned())
        .collect()
}

/// Writes a start mark as a runner killed in the middle of `id` leaves it (on MySQL/MariaDB the
/// engine writes these; any backend reads them).
fn interrupt(db: &TestDb, id: &str) {
    db.connect()
        .execute(&format!(
            "INSERT INTO upgrade_in_progress (upgrade, started, runner) VALUES ('{id}', CURRENT_TIMESTAMP, 'pid 1 on elsewhere')"
        ))
        .unwrap();
}

const LEAF: &str = "accounts_2024_06_01_add_last_login";

// ---- configuration -------------------------------------------------------------------------

// `--config FILE` naming a missing file was ignored, and the run went to ./upgrader.db.
#[test]
fn a_missing_config_file_is_an_error_on_every_command_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for missing in [
        "missing.toml",
        "sub/dir/upgrader.toml",
        "/nonexistent/upgrader.toml",
    ] {
        for command in EVERY_COMMAND {
            let out = output(
                upgrader(dir.path(), None)
                    .args(["--config", missing])
                    .args(command),
            );
            let stderr = assert_refused(&out, 1, "does not exist");
            assert!(stderr.contains(missing), "{stderr}");
            assert!(stderr.contains("hint: "), "{stderr}");
        }
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no database was created"
    );
}

#[test]
fn an_empty_packages_list_is_an_error_not_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    for spelled in ["packages = []", "packages = [ ]\n", "# none\npackages = [\n]\n"] {
        std::fs::write(dir.path().join("upgrader.toml"), spelled).unwrap();
        for command in EVERY_COMMAND {
            let out = output(upgrader(dir.path(), None).args(command));
            assert_refused(&out, 1, "`packages` is empty");
        }
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["upgrader.toml"], "no database was created");
}

// TOML errors carried no line number.
#[test]
fn a_malformed_config_names_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    for (toml, at) in [
        (
            "database_url = \"x.db\"\nlock_timeout_secs = \"soon\"\n",
            "upgrader.toml:2:21",
        ),
        (
            "database_url = \"x.db\"\n\ndatabse_url = \"y.db\"\n",
            "upgrader.toml:3:1",
        ),
        ("packages = [\"accounts\"\n", "upgrader.toml:1:"),
        ("database_url = x.db\n", "upgrader.toml:1:16"),
    ] {
        std::fs::write(dir.path().join("upgrader.toml"), toml).unwrap();
        let out = output(upgrader(dir.path(), None).args(["show", "pending"]));
        assert_refused(&out, 1, at);
    }
    assert!(!dir.path().join("x.db").exists());
}

// Errors repeated their cause: "Is a directory (os error 21): Is a directory (os error 21)".
#[test]
fn an_error_states_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    let out = output(upgrader(dir.path(), None).args(["--config", "conf.d", "check"]));
    let stderr = assert_refused(&out, 1, "conf.d");
    let line = stderr.lines().next().unwrap();
    assert_eq!(line.matches("os error 21").count(), 1, "{line}");
}

// ---- refusals without a terminal create nothing ----------------------------------------------

// `populate`, `mark` and `resolve` created the SQLite file before refusing for lack of a terminal.
#[test]
fn commands_that_ask_refuse_without_a_terminal_before_creating_the_database() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        &["populate"][..],
        &["mark", LEAF, "--applied"],
        &["mark", LEAF, "--pending"],
        &["resolve", LEAF, "--retry"],
        &["run"],
    ] {
        let out = output(upgrader(dir.path(), None).args(command));
        assert_refused(&out, 1, "no terminal");
        assert!(
            !dir.path().join("upgrader.db").exists(),
            "{command:?} created the database"
        );
    }
}

// ---- mark --pending on an upgrade that counts as applied through its dependents ----------------

upgrader_tests::on_every_backend!(
    mark_pending_on_an_ancestor_of_recorded_upgrades_is_refused_and_changes_nothing,
    mark_pending_with_dependents_takes_them_back_and_lists_them,
    mark_applied_settles_an_interrupted_upgrade,
    mark_pending_clears_an_interrupted_upgrade,
    populate_refuses_while_an_upgrade_is_interrupted,
);

// `mark <id> --pending` printed success on an upgrade a recorded upgrade depends on, and the next
// `run` did nothing.
fn mark_pending_on_an_ancestor_of_recorded_upgrades_is_refused_and_changes_nothing(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        output(upgrader(dir.path(), Some(&db.url)).args(["run", "--yes-i-know"]))
            .status
            .success()
    );
    let before = db.snapshot();
    for (id, dependent) in [
        // the module's first upgrade: its own module and others depend on it
        (
            "accounts_2024_01_10_initial",
            "accounts_2024_02_01_add_display_name",
        ),
        // depended on across modules and through the release
        ("records_2024_01_15_initial", "records_2024_03_05_add_version_id"),
        ("search_2024_05_10_rebuild_index", "examples_release_1_0_0"),
        // the release itself
        ("examples_release_1_0_0", LEAF),
    ] {
        let out = output(upgrader(dir.path(), Some(&db.url)).args(["mark", id, "--pending", "--yes-i-know"]));
        let stderr = assert_refused(&out, 1, "counts as applied");
        assert!(stderr.contains(id) && stderr.contains(dependent), "{stderr}");
        assert!(stderr.contains("--with-dependents"), "{stderr}");
        assert_eq!(db.snapshot(), before, "{id}: the refusal changed the database");
    }
    // An upgrade missing from the history but implied by a recorded dependent: the same.
    db.connect()
        .execute("DELETE FROM upgrade WHERE upgrade = 'records_2024_01_15_initial'")
        .unwrap();
    let before = db.snapshot();
    let out = output(upgrader(dir.path(), Some(&db.url)).args([
        "mark",
        "records_2024_01_15_initial",
        "--pending",
        "--yes-i-know",
    ]));
    assert_refused(&out, 1, "counts as applied");
    assert_eq!(db.snapshot(), before);
    assert!(pending_ids(db, dir.path()).is_empty());
}

fn mark_pending_with_dependents_takes_them_back_and_lists_them(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        output(upgrader(dir.path(), Some(&db.url)).args(["run", "--yes-i-know"]))
            .status
            .success()
    );
    let out = output(upgrader(dir.path(), Some(&db.url)).args([
        "mark",
        "search_2024_05_10_rebuild_index",
        "--pending",
        "--with-dependents",
        "--yes-i-know",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "marked search_2024_05_10_rebuild_index pending\n\
         marked examples_release_1_0_0 pending (a dependent)\n\
         marked accounts_2024_06_01_add_last_login pending (a dependent)\n"
    );
    assert_eq!(
        pending_ids(db, dir.path()),
        [
            "search_2024_05_10_rebuild_index",
            "examples_release_1_0_0",
            "accounts_2024_06_01_add_last_login",
        ],
        "what it said it took back is what is pending now"
    );
    // A leaf needs no flag.
    let out = output(upgrader(dir.path(), Some(&db.url)).args([
        "mark",
        "search_2024_04_01_initial",
        "--pending",
        "--yes-i-know",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "marked search_2024_04_01_initial pending\n");
}

// `mark <id> --applied` on an interrupted upgrade recorded it but left the start mark, after which
// `resolve` failed with a duplicate key.
fn mark_applied_settles_an_interrupted_upgrade(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        output(upgrader(dir.path(), Some(&db.url)).args(["run", "--yes-i-know"]))
            .status
            .success()
    );
    for id in ["fixtures_2024_01_02_flaky", LEAF] {
        let out = output(upgrader(dir.path(), Some(&db.url)).args(["mark", id, "--pending", "--yes-i-know"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        interrupt(db, id);
        let check = output(upgrader(dir.path(), Some(&db.url)).arg("check"));
        assert_eq!(
            check.status.code(),
            Some(1),
            "interrupted before: {}",
            text(&check.stderr)
        );
        let out = output(upgrader(dir.path(), Some(&db.url)).args(["mark", id, "--applied", "--yes-i-know"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("marked {id} applied\n"));
        let check = output(upgrader(dir.path(), Some(&db.url)).arg("check"));
        assert!(check.status.success(), "settled: {}", text(&check.stderr));
        let out =
            output(upgrader(dir.path(), Some(&db.url)).args(["resolve", id, "--retry", "--yes-i-know"]));
        assert_refused(&out, 1, "is not an interrupted upgrade");
    }
    assert!(pending_ids(db, dir.path()).is_empty());
}

fn mark_pending_clears_an_interrupted_upgrade(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        output(upgrader(dir.path(), Some(&db.url)).args(["run", "--yes-i-know"]))
            .status
            .success()
    );
    let out = output(upgrader(dir.path(), Some(&db.url)).args(["mark", LEAF, "--pending", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    interrupt(db, LEAF);
    let out = output(upgrader(dir.path(), Some(&db.url)).args(["mark", LEAF, "--pending", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("marked {LEAF} pending\n"),
        "the start mark was cleared"
    );
    let check = output(upgrader(dir.path(), Some(&db.url)).arg("check"));
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert_eq!(pending_ids(db, dir.path()), [LEAF]);
}

fn populate_refuses_while_an_upgrade_is_interrupted(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        output(upgrader(dir.path(), Some(&db.url)).args(["run", "--yes-i-know"]))
            .status
            .success()
    );
    let out = output(upgrader(dir.path(), Some(&db.url)).args(["mark", LEAF, "--pending", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    interrupt(db, LEAF);
    let before = db.snapshot();
    let out = output(upgrader(dir.path(), Some(&db.url)).args(["populate", "--yes-i-know"]));
    assert_refused(&out, 1, "interrupted");
    assert_eq!(db.snapshot(), before);
}

// ---- stdout closed or full --------------------------------------------------------------------

/// Runs with stdout a pipe whose reader is gone before the command writes.
fn with_closed_stdout(dir: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    let mut child = upgrader(dir, Some(url))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: stderr.into_bytes(),
    }
}

// `show pending --json | head -c 10` panicked about one time in three (exit 101).
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let Some((db, dir)) = applied(Backend::Sqlite) else {
        return;
    };
    // Something pending, so every command has data to write.
    let out = output(upgrader(dir.path(), Some(&db.url)).args(["mark", LEAF, "--pending", "--yes-i-know"]));
    assert!(out.status.success());
    for args in [
        &["show", "pending"][..],
        &["show", "pending", "--json"],
        &["show", "applied"],
        &["show", "applied", "--json"],
        &["check"],
        &["check", "--json"],
    ] {
        let out = with_closed_stdout(dir.path(), &db.url, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // A run whose stdout is gone still applies and records everything.
    let Some(fresh) = TestDb::new(Backend::Sqlite) else {
        return;
    };
    let out = with_closed_stdout(dir.path(), &fresh.url, &["run", "--yes-i-know"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        pending_ids(&fresh, dir.path()).is_empty(),
        "what was applied stays recorded"
    );
}

// `run > /dev/full` panicked after applying everything.
#[test]
fn a_full_stdout_is_an_error_and_what_was_applied_stays_recorded() {
    let Some(db) = TestDb::new(Backend::Sqlite) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    for args in [
        &["show", "pending"][..],
        &["show", "pending", "--json"],
        &["check"],
    ] {
        let out = output(upgrader(dir.path(), Some(&db.url)).args(args).stdout(full()));
        let stderr = assert_refused(&out, 1, "cannot write to stdout: No space left on device");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = output(
        upgrader(dir.path(), Some(&db.url))
            .args(["run", "--yes-i-know"])
            .stdout(full()),
    );
    let stderr = assert_refused(&out, 1, "cannot write to stdout");
    assert!(stderr.contains("hint: nothing is lost"), "{stderr}");
    assert!(
        pending_ids(&db, dir.path()).is_empty(),
        "everything stays applied"
    );
    let out = output(
        upgrader(dir.path(), Some(&db.url))
            .args(["show", "applied", "--json"])
            .stdout(full()),
    );
    assert_refused(&out, 1, "cannot write to stdout");
}

// ---- terminal escapes in ids read from the history -------------------------------------------

// History ids with terminal escape codes printed raw.
#[test]
fn ids_from_the_history_cannot_drive_the_terminal() {
    let Some((db, dir)) = applied(Backend::Sqlite) else {
        return;
    };
    let hostile = [
        (
            "ghost_\u{1b}[2J\u{1b}[31mred",
            "ghost_\\u{1b}[2J\\u{1b}[31mred",
            "ghost_\\u001b[2J\\u001b[31mred",
        ),
        ("ghost_\u{9b}31mcsi", "ghost_\\u{9b}31mcsi", "ghost_\\u009b31mcsi"),
        (
            "ghost_\u{202e}desrever",
            "ghost_\\u{202e}desrever",
            "ghost_\\u202edesrever",
        ),
        (
            "ghost_bell\u{7}\u{8}\u{8}",
            "ghost_bell\\u{7}\\u{8}\\u{8}",
            "ghost_bell\\u0007\\b\\b",
        ),
    ];
    let mut conn = db.connect();
    for (id, _, _) in hostile {
        conn.execute(&format!(
            "INSERT INTO upgrade (upgrade, applied, method) VALUES ('{id}', CURRENT_TIMESTAMP, 'run')"
        ))
        .unwrap();
    }
    for args in [&["show", "applied"][..], &["check"]] {
        let out = output(upgrader(dir.path(), Some(&db.url)).args(args));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for (raw, escaped, _) in hostile {
            assert!(!all.contains(raw), "{args:?} printed {raw:?} raw:\n{all}");
            assert!(all.contains(escaped), "{args:?} lacks {escaped}:\n{all}");
        }
    }
    let out = output(upgrader(dir.path(), Some(&db.url)).args(["show", "applied", "--json"]));
    assert!(out.status.success());
    let json = text(&out.stdout);
    let rows: serde_json::Value = serde_json::from_str(&json).expect("still valid JSON");
    for (raw, _, escaped) in hostile {
        assert!(!json.contains(raw), "JSON has {raw:?} raw");
        assert!(json.contains(escaped), "JSON lacks {escaped}: {json}");
        assert!(
            rows.as_array().unwrap().iter().any(|r| r["upgrade"] == raw),
            "the JSON still carries the id itself"
        );
    }
}

// ---- a binary that links no upgrade -----------------------------------------------------------

// Forgetting `use my_module as _;` gave `graph: 0 upgrades, ok` and exit 0, and against an
// existing database every row became a ghost warning, still with exit 0.
#[test]
fn a_binary_that_links_no_upgrade_is_an_error_on_every_command() {
    let Some((db, dir)) = applied(Backend::Sqlite) else {
        return;
    };
    let before = db.snapshot();
    let empty = tempfile::tempdir().unwrap();
    for command in EVERY_COMMAND {
        for url in [Some(db.url.as_str()), None] {
            let where_ = if url.is_some() { dir.path() } else { empty.path() };
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_upgrader-empty"));
            cmd.env_remove("UPGRADER_DATABASE_URL")
                .current_dir(where_)
                .stdin(Stdio::null())
                .args(command);
            if let Some(url) = url {
                cmd.env("UPGRADER_DATABASE_URL", url);
            }
            let out = output(&mut cmd);
            let stderr = assert_refused(&out, 1, "no upgrade is linked into this program");
            assert!(
                stderr.contains("hint: name every crate that holds upgrades"),
                "{stderr}"
            );
        }
    }
    assert_eq!(db.snapshot(), before);
    assert_eq!(
        std::fs::read_dir(empty.path()).unwrap().count(),
        0,
        "no database was created"
    );
}

// History rows that no linked upgrade has were shown by `check` only.
#[test]
fn every_command_that_reads_the_history_names_rows_no_linked_upgrade_has() {
    let Some((db, dir)) = applied(Backend::Sqlite) else {
        return;
    };
    db.connect()
        .execute("INSERT INTO upgrade (upgrade, applied, method) VALUES ('billing_2019_01_01_removed', '2019-01-01 00:00:00', 'run')")
        .unwrap();
    for args in [
        &["show", "applied"][..],
        &["show", "applied", "--json"],
        &["show", "pending"],
        &["check"],
        &["run", "--yes-i-know"],
    ] {
        let out = output(upgrader(dir.path(), Some(&db.url)).args(args));
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(
                "warning: `billing_2019_01_01_removed` is in the history but no linked upgrade has that id"
            ),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

// An `upgrader.toml` that is a FIFO was read for ever.
#[test]
fn a_config_file_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("upgrader.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = upgrader(dir.path(), None)
        .args(["show", "pending"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("`show pending` still reads the FIFO after 30s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_refused(
        &out,
        1,
        "invalid configuration upgrader.toml: it is not a regular file",
    );
}

// `show` read a path it could not look at (a symlink loop, a directory it may not search) as the
// empty database a missing file would be.
#[test]
fn a_database_path_that_cannot_be_looked_at_is_not_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let looped = dir.path().join("loop.db");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    for args in [&["show", "applied"][..], &["show", "pending"], &["check"]] {
        let out = output(upgrader(dir.path(), Some(looped.to_str().unwrap())).args(args));
        assert_refused(&out, 1, "cannot connect to SQLite database");
    }
}

// A run that failed while its stdout was a closed pipe ended quietly with exit 0.
#[test]
fn a_failed_run_with_a_closed_stdout_still_fails() {
    let Some(db) = TestDb::new(Backend::Sqlite) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut child = upgrader(dir.path(), Some(&db.url))
        .env("UPGRADER_TEST_FAIL", "1")
        .args(["run", "--yes-i-know"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: upgrade `fixtures_2024_01_02_flaky` failed"),
        "{stderr}"
    );
}
