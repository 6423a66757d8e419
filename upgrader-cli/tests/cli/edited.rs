//! "Once committed, never edit", enforced: an applied upgrade whose code changed (its recorded
//! checksum differs from the linked code's) stops `run` and `populate` before anything is asked
//! or taken, changing nothing, and makes `check` fail; on every backend.

use upgrader_core::Backend;

use crate::support::{Demo, example_binary};

const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];
const LEAF: &str = "accounts_2024_06_01_add_last_login";

use upgrader_tests::output_text as text;

fn ok(demo: &Demo, args: &[&str]) {
    let out = demo.cmd(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
}

/// Records another checksum for `id`, as if its code had been edited since it was applied.
fn edit(demo: &Demo, id: &str, recorded: &str) {
    demo.connect()
        .execute(&format!(
            "UPDATE upgrade SET checksum = '{recorded}' WHERE upgrade = '{id}'"
        ))
        .unwrap();
}

/// The checksum of the code linked now, as `explain --json` gives it.
fn current_checksum(demo: &Demo, id: &str) -> String {
    let out = demo.cmd(&["explain", id, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    value["checksum"].as_str().unwrap().to_owned()
}

/// `args` fails with exit 1 and leaves the database as it was; its stderr.
#[track_caller]
fn refused(demo: &Demo, args: &[&str]) -> String {
    let before = demo.snapshot();
    let out = demo.cmd(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
    assert_eq!(demo.snapshot(), before, "{args:?} changed the database");
    String::from_utf8(out.stderr).unwrap()
}

/// The refusal names each edited upgrade, both checksums and when it was applied, and the hint
/// gives the three ways out.
#[track_caller]
fn assert_names_edits(stderr: &str, edits: &[(&str, &str, &str)], context: &str) {
    for (id, recorded, current) in edits {
        let named = format!("`{id}` (applied 20");
        assert!(stderr.contains(&named), "{context}: {named} in {stderr}");
        let sums = format!("checksum recorded {recorded}, linked now {current})");
        assert!(stderr.contains(&sums), "{context}: {sums} in {stderr}");
    }
    let first = edits[0].0;
    let hint = format!(
        "hint: put back the code the database ran and fix mistakes with a new upgrade; for an edit known to be harmless (a typo in a log message, say), `upgrader accept {first} --reason \"...\"` records the new checksum"
    );
    assert!(stderr.contains(&hint), "{context}: {stderr}");
}

#[test]
fn run_populate_and_check_refuse_an_applied_upgrade_that_was_edited() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        ok(&demo, &["run", "--yes-i-know"]);
        let id = "records_2024_01_15_initial";
        let current = current_checksum(&demo, id);
        edit(&demo, id, "0123456789abcdef");
        let edits = [(id, "0123456789abcdef", current.as_str())];

        // Nothing is pending: `run` refuses all the same (the database is not what this code made).
        let stderr = refused(&demo, &["run", "--yes-i-know"]);
        assert!(
            stderr.starts_with(
                "error: 1 applied upgrade(s) were edited after they were applied, so the database did not run the code linked now; nothing was applied: "
            ),
            "{backend}: {stderr}"
        );
        assert_names_edits(&stderr, &edits, &format!("{backend} run"));
        assert_names_edits(
            &refused(&demo, &["populate", "--yes-i-know"]),
            &edits,
            &format!("{backend} populate"),
        );

        let stderr = refused(&demo, &["check"]);
        assert!(
            stderr.contains(&format!("error: edited after it was applied: `{id}` (applied 20")),
            "{backend}: {stderr}"
        );
        assert!(
            !stderr.contains("warning: "),
            "{backend}: an edit is no warning: {stderr}"
        );
        assert!(
            stderr.contains("error: 1 problem(s) found"),
            "{backend}: {stderr}"
        );
        assert_names_edits(&stderr, &edits, &format!("{backend} check"));
        let before = demo.snapshot();
        let out = demo.cmd(&["check", "--json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{backend}: {}", text(&out));
        assert_eq!(demo.snapshot(), before, "{backend}");
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(value["ok"], false, "{backend}: {value}");
        assert_eq!(value["errors"].as_array().unwrap().len(), 1, "{backend}: {value}");
        assert_eq!(value["warnings"], serde_json::json!([]), "{backend}: {value}");

        // The code put back (the recorded checksum is the linked one again): the gate lifts.
        edit(&demo, id, &current);
        ok(&demo, &["check"]);
        ok(&demo, &["run", "--yes-i-know"]);
    }
}

#[test]
fn two_edits_in_different_modules_with_pending_upgrades_apply_nothing() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        ok(&demo, &["run", "--yes-i-know"]);
        ok(&demo, &["mark", LEAF, "--pending", "--yes-i-know"]);
        // Its change undone too, so that it can run again.
        demo.connect()
            .execute("ALTER TABLE users DROP COLUMN last_login_at")
            .unwrap();
        let accounts = "accounts_2024_01_10_initial";
        let search = "search_2024_04_01_initial";
        let (accounts_now, search_now) = (current_checksum(&demo, accounts), current_checksum(&demo, search));
        edit(&demo, accounts, "aaaaaaaaaaaaaaaa");
        edit(&demo, search, "bbbbbbbbbbbbbbbb");

        let stderr = refused(&demo, &["run", "--yes-i-know"]);
        assert!(
            stderr.starts_with("error: 2 applied upgrade(s) were edited"),
            "{backend}: {stderr}"
        );
        let edits = [
            (accounts, "aaaaaaaaaaaaaaaa", accounts_now.as_str()),
            (search, "bbbbbbbbbbbbbbbb", search_now.as_str()),
        ];
        assert_names_edits(&stderr, &edits, &format!("{backend} run"));
        // One line of error and one of hint: the plan is not shown, nothing is asked.
        assert_eq!(stderr.lines().count(), 2, "{backend}: {stderr}");
        let stderr = refused(&demo, &["check"]);
        assert!(
            stderr.contains("error: 2 problem(s) found"),
            "{backend}: {stderr}"
        );

        // One of them put back: still refused, naming only the other.
        edit(&demo, accounts, &accounts_now);
        let stderr = refused(&demo, &["run", "--yes-i-know"]);
        assert!(
            stderr.starts_with("error: 1 applied upgrade(s)"),
            "{backend}: {stderr}"
        );
        assert!(!stderr.contains(accounts), "{backend}: {stderr}");
        assert_names_edits(&stderr, &edits[1..], &format!("{backend} run"));

        edit(&demo, search, &search_now);
        let out = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{backend}: {stdout}");
        assert!(
            stdout.starts_with(&format!("applied {LEAF} (")),
            "{backend}: {stdout}"
        );
    }
}

// In a terminal, the refusal comes before the plan and the question: nothing to say yes to.
#[test]
fn run_in_a_terminal_refuses_an_edit_before_asking() {
    let demo = Demo::sqlite();
    demo.cmd(&["run", "--yes-i-know"]).assert().success();
    demo.cmd(&["mark", LEAF, "--pending", "--yes-i-know"])
        .assert()
        .success();
    edit(&demo, "records_2024_01_15_initial", "0123456789abcdef");
    let before = demo.snapshot();
    let mut cmd = std::process::Command::new(example_binary("upgrader"));
    cmd.current_dir(demo.dir.path())
        .env_remove("UPGRADER_DATABASE_URL")
        .arg("run");
    let mut term = rexpect::session::spawn_command(cmd, Some(30_000)).expect("a pty");
    let seen = term.exp_eof().unwrap();
    assert!(seen.contains("error: 1 applied upgrade(s) were edited"), "{seen}");
    assert!(!seen.contains("Apply these upgrades?"), "{seen}");
    assert!(!seen.contains("to apply to"), "{seen}");
    assert_eq!(demo.snapshot(), before);
}
