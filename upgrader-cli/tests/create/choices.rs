//! `create recipe -d <id>` (dependencies chosen by the author, checked against the linked graph)
//! and `create recipe|release --overwrite` (a file replaced only when the configured database has
//! not applied its upgrade), through the real binary.

use std::fs;
use std::path::Path;

use predicates::prelude::*;
use upgrader_core::Backend;

use super::support::{Demo, upgrader};
use super::{refused, today};

/// Every file under `dir` with its contents: what a refusal must leave as it was.
fn contents(dir: &Path) -> Vec<(String, String)> {
    super::files(dir)
        .into_iter()
        .map(|f| {
            let text = fs::read_to_string(dir.join(&f)).unwrap_or_default();
            (f, text)
        })
        .collect()
}

#[test]
fn depends_on_replaces_the_computed_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    let out = upgrader()
        .current_dir(dir.path())
        .args([
            "create", "recipe", "-p", "accounts", "-n", "tags", "--output", "out",
        ])
        .args([
            "-d",
            "records_2024_03_05_add_version_id",
            "--depends-on",
            "accounts_2024_02_01_add_display_name",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains(
            "depends on: records_2024_03_05_add_version_id, accounts_2024_02_01_add_display_name\n"
        ),
        "{stdout}"
    );
    // The module's head is left out: said, not refused (the author may mean a second head).
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("warning: `accounts_2024_06_01_add_last_login`, a head of module `accounts`, is not among the new upgrade's dependencies"),
        "{stderr}"
    );
    let file = fs::read_to_string(dir.path().join(format!("out/accounts_{}_tags.rs", today()))).unwrap();
    assert!(file.contains("records_2024_03_05_add_version_id"), "{file}");
    assert!(file.contains("accounts_2024_02_01_add_display_name"), "{file}");
    assert!(!file.contains("last_login"), "{file}");

    // A release and the head: nothing left out, nothing to warn about.
    upgrader()
        .current_dir(dir.path())
        .args([
            "create", "recipe", "-p", "accounts", "-n", "more", "--output", "out",
        ])
        .args([
            "-d",
            "accounts_2024_06_01_add_last_login",
            "-d",
            "examples_release_1_0_0",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "depends on: accounts_2024_06_01_add_last_login, examples_release_1_0_0\n",
        ))
        .stderr(predicate::str::contains("warning").not());
}

#[test]
fn depends_on_an_id_that_is_not_a_linked_upgrade_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = [
        "create", "recipe", "-p", "accounts", "-n", "tags", "--output", "out",
    ];
    let with =
        |extra: &[&'static str]| -> Vec<&'static str> { recipe.iter().chain(extra).copied().collect() };
    refused(
        dir.path(),
        &with(&["-d", "accounts_2024_02_01_add_dispaly_name"]),
        "no linked upgrade has the id `accounts_2024_02_01_add_dispaly_name`",
    );
    upgrader()
        .current_dir(dir.path())
        .args(with(&["-d", "accounts_2024_02_01_add_dispaly_name"]))
        .assert()
        .stderr(predicate::str::contains(
            "hint: did you mean `accounts_2024_02_01_add_display_name`?",
        ));
    refused(
        dir.path(),
        &with(&["-d", "billing_2024_01_01_initial"]),
        "no linked upgrade has the id `billing_2024_01_01_initial`",
    );
    for malformed in [
        "add_display_name",
        "accounts_2024_13_01_x",
        "Accounts_2024_01_10_initial",
        "",
    ] {
        let args: Vec<&str> = recipe.iter().copied().chain(["-d", malformed]).collect();
        refused(
            dir.path(),
            &args,
            &format!("--depends-on `{malformed}` is not an upgrade id"),
        );
    }
    refused(
        dir.path(),
        &with(&[
            "-d",
            "accounts_2024_01_10_initial",
            "-d",
            "examples_release_1_0_0",
            "-d",
            "accounts_2024_01_10_initial",
        ]),
        "--depends-on `accounts_2024_01_10_initial` is given twice",
    );
}

/// `create recipe -p accounts -n tags --output out` in `demo`'s directory (and database), with
/// `extra` arguments.
fn recipe(demo: &Demo, extra: &[&str]) -> assert_cmd::assert::Assert {
    demo.cmd(&[
        "create", "recipe", "-p", "accounts", "-n", "tags", "--output", "out",
    ])
    .args(extra)
    .assert()
}

#[test]
fn overwrite_replaces_a_file_the_database_has_not_applied() {
    let demo = Demo::sqlite();
    recipe(&demo, &[]).success();
    let file = demo.dir.path().join(format!("out/accounts_{}_tags.rs", today()));
    let module_file = fs::read_to_string(demo.dir.path().join("out/mod.rs")).unwrap();
    // Without --overwrite: refused, and the hint says it exists.
    recipe(&demo, &["-d", "records_2024_01_15_initial"])
        .code(1)
        .stderr(
            predicate::str::contains("already exists")
                .and(predicate::str::contains("--overwrite replaces it")),
        );

    let out = recipe(&demo, &["-d", "records_2024_01_15_initial", "--overwrite"]).success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.starts_with(&format!("overwrote out/accounts_{}_tags.rs\n", today())),
        "{stdout}"
    );
    assert!(stdout.contains("already declared in out/mod.rs\n"), "{stdout}");
    assert!(
        stdout.contains("depends on: records_2024_01_15_initial\n"),
        "{stdout}"
    );
    assert!(
        fs::read_to_string(&file)
            .unwrap()
            .contains("records_2024_01_15_initial")
    );
    // Declared once, as before.
    assert_eq!(
        fs::read_to_string(demo.dir.path().join("out/mod.rs")).unwrap(),
        module_file
    );
    // Looking at the (missing) default database did not create it.
    assert_eq!(demo.snapshot(), "<no database file>");

    // Written again the computed way.
    recipe(&demo, &["--overwrite"]).success();
    assert!(
        !fs::read_to_string(&file)
            .unwrap()
            .contains("records_2024_01_15_initial")
    );
}

#[test]
fn overwrite_refuses_an_upgrade_the_database_applied_or_cannot_tell() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(demo) = Demo::new(backend) else { continue };
        recipe(&demo, &[]).success();
        demo.cmd(&[
            "create",
            "release",
            "-r",
            "examples",
            "-p",
            "accounts",
            "--version",
            "9.0.0",
            "--output",
            "rel",
        ])
        .assert()
        .success();
        demo.cmd(&["run", "--yes-i-know"]).assert().success();
        let id = format!("accounts_{}_tags", today());
        // Applied by a binary that linked them (here: rows as it would have written them).
        let mut conn = demo.connect();
        for applied in [id.as_str(), "examples_release_9_0_0"] {
            conn.execute(&format!(
                "INSERT INTO upgrade (upgrade, applied, method) VALUES ('{applied}', '2025-01-01 00:00:00', 'run')"
            ))
            .unwrap();
        }
        let before = contents(demo.dir.path());
        let db_before = demo.snapshot();
        let refusal = |args: &[&str], message: &str| {
            demo.cmd(args)
                .assert()
                .code(1)
                .stdout("")
                .stderr(predicate::str::contains(message).and(predicate::str::contains(
                    "hint: fix it forward with a new upgrade",
                )));
            assert_eq!(contents(demo.dir.path()), before, "{backend}: {args:?}");
            assert_eq!(demo.snapshot(), db_before, "{backend}: {args:?}");
        };
        refusal(
            &[
                "create",
                "recipe",
                "-p",
                "accounts",
                "-n",
                "tags",
                "--output",
                "out",
                "--overwrite",
            ],
            &format!("error: `{id}` is applied in "),
        );
        refusal(
            &[
                "create",
                "release",
                "-r",
                "examples",
                "-p",
                "accounts",
                "--version",
                "9.0.0",
                "--output",
                "rel",
                "--overwrite",
            ],
            "error: `examples_release_9_0_0` is applied in ",
        );
        // A linked upgrade's file, applied: the same.
        refusal(
            &[
                "create",
                "release",
                "-r",
                "examples",
                "-p",
                "accounts",
                "--version",
                "1.0.0",
                "--overwrite",
            ],
            "error: `examples_release_1_0_0` is applied in ",
        );
    }
}

#[test]
fn overwrite_with_a_database_that_cannot_be_read_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "create", "recipe", "-p", "accounts", "-n", "tags", "--output", "out",
    ];
    upgrader().current_dir(dir.path()).args(args).assert().success();
    let before = contents(dir.path());
    upgrader()
        .current_dir(dir.path())
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/app",
            "--connect-timeout",
            "5",
        ])
        .args(args)
        .arg("--overwrite")
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with(format!(
                "error: cannot tell whether `accounts_{}_tags` was applied",
                today()
            ))
            .and(predicate::str::contains("hint: --overwrite replaces only")),
        );
    assert_eq!(contents(dir.path()), before);
}

// A linked upgrade that others build on is not rewritten, even where it is not applied.
#[test]
fn overwrite_refuses_an_upgrade_others_depend_on() {
    let dir = tempfile::tempdir().unwrap();
    refused(
        dir.path(),
        &[
            "create",
            "release",
            "-r",
            "examples",
            "-p",
            "accounts",
            "--version",
            "1.0.0",
            "--overwrite",
        ],
        "`examples_release_1_0_0` is a dependency of linked upgrade(s): accounts_2024_06_01_add_last_login",
    );
}
