//! The real `upgrader` binary (with the example modules linked in), run as a user would.

#[path = "cli/before.rs"]
mod before;
#[path = "cli/edited.rs"]
mod edited;
#[path = "cli/fleet.rs"]
mod fleet;
#[path = "cli/lock_timeout.rs"]
mod lock_timeout;
#[path = "cli/run_events.rs"]
mod run_events;
#[path = "cli/status.rs"]
mod status;
mod support;
#[path = "cli/window.rs"]
mod window;

use predicates::prelude::*;
use support::{Demo, upgrader};
use upgrader_core::Backend;

const EXAMPLE_ORDER: [&str; 8] = [
    "accounts_2024_01_10_initial",
    "accounts_2024_02_01_add_display_name",
    "records_2024_01_15_initial",
    "records_2024_03_05_add_version_id",
    "search_2024_04_01_initial",
    "search_2024_05_10_rebuild_index",
    "examples_release_1_0_0",
    "accounts_2024_06_01_add_last_login",
];

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let output = upgrader().arg("--help").output().unwrap();
    assert!(output.status.success());
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
}

#[test]
fn usage_error_exits_2() {
    upgrader()
        .arg("frobnicate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unrecognized subcommand"));
}

#[test]
fn show_pending_lists_the_examples_in_run_order_with_estimates() {
    let demo = Demo::sqlite();
    let output = demo.cmd(&["show", "pending"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("8 pending, estimated a few seconds (8s; 7 without an estimate count 1s each)"),
        "{stderr}"
    );
}

#[test]
fn show_pending_json_is_data_only() {
    let demo = Demo::sqlite();
    let output = demo.cmd(&["show", "pending", "--json"]).output().unwrap();
    assert!(output.status.success());
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let ids: Vec<&str> = value["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["upgrade"].as_str().unwrap())
        .collect();
    assert_eq!(ids, EXAMPLE_ORDER);
}

#[test]
fn run_without_a_terminal_refuses_at_once() {
    let demo = Demo::sqlite();
    demo.cmd(&["run"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("error: ").and(predicate::str::contains("pass --yes-i-know")));
    demo.cmd(&["show", "applied"]).assert().success().stdout("");
}

#[test]
fn run_applies_everything_then_nothing() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(demo) = Demo::new(backend) else { continue };
        let output = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
        assert!(output.status.success(), "{backend}: {output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let applied: Vec<&str> = stdout
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(applied, EXAMPLE_ORDER, "{backend}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains(
                "Display name for users whose email has no name part? [anonymous] -> anonymous (default)"
            ),
            "{stderr}"
        );

        demo.cmd(&["run", "--yes-i-know"])
            .assert()
            .success()
            .stdout("")
            .stderr(predicate::str::contains("nothing to do"));
        let output = demo.cmd(&["show", "applied"]).output().unwrap();
        let table = String::from_utf8(output.stdout).unwrap();
        assert_eq!(table.lines().count(), 9, "{backend}: {table}");
        assert!(table.starts_with("UPGRADE"));
        demo.cmd(&["show", "pending"])
            .assert()
            .success()
            .stdout("")
            .stderr(predicate::str::contains("up to date"));
        demo.cmd(&["check"])
            .assert()
            .success()
            .stdout(predicate::str::contains("pending: 0"));
    }
}

#[test]
fn show_applied_table() {
    let demo = Demo::sqlite();
    demo.cmd(&["run", "--yes-i-know"]).assert().success();
    let output = demo.cmd(&["show", "applied"]).output().unwrap();
    insta::with_settings!({filters => vec![
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[TIMESTAMP]"),
        (r"\d+ms", "[TOOK]"),
        (r"  +", "  "),
    ]}, {
        insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
    });
}

#[test]
fn check_on_a_fresh_database_lists_the_plan() {
    let demo = Demo::sqlite();
    let output = demo.cmd(&["check"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
}

#[test]
fn check_warns_about_ghosts_and_fails_on_unreachable_database() {
    let demo = Demo::sqlite();
    demo.cmd(&["run", "--yes-i-know"]).assert().success();
    let mut conn = upgrader_core::DatabaseUrl::parse(&demo.url)
        .unwrap()
        .connect()
        .unwrap();
    conn.execute("INSERT INTO upgrade (upgrade, applied, method) VALUES ('old_2019_01_01_removed', '2019-01-01 00:00:00', 'run')").unwrap();
    demo.cmd(&["check"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: `old_2019_01_01_removed` is in the history but no linked upgrade has that id",
        ));

    upgrader()
        .args(["--database-url", "postgres://nobody@127.0.0.1:1/none", "check"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::starts_with(
                "error: cannot connect to PostgreSQL database postgres://nobody@127.0.0.1:1/none",
            )
            .and(predicate::str::contains(
                "\nhint: check that the server is running",
            )),
        );
}

#[test]
fn bad_url_and_bad_config_are_one_line_errors_with_a_hint() {
    upgrader()
        .args(["--database-url", "oracle://x/y", "show", "pending"])
        .assert()
        .code(1)
        .stderr("error: invalid database URL `oracle://x/y`: unknown scheme `oracle` (use postgres://, mysql:// or sqlite://)\nhint: use postgres://user@host/db, mysql://user@host/db, sqlite://path or a plain file path\n");
    let demo = Demo::sqlite();
    std::fs::write(
        demo.dir.path().join("upgrader.toml"),
        "packages = [\"accounts\"]\ncolour = 3\n",
    )
    .unwrap();
    demo.cmd(&["show", "pending"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: invalid configuration upgrader.toml:2:1: unknown field `colour`",
        ));
}

#[test]
fn config_file_names_the_database_and_the_active_packages() {
    let demo = Demo::sqlite();
    std::fs::write(
        demo.dir.path().join("upgrader.toml"),
        "database_url = \"sqlite://configured.db\"\npackages = [\"accounts\"]\n",
    )
    .unwrap();
    // `accounts_2024_06_01_add_last_login` depends on the release, which is not in `accounts`.
    upgrader()
        .current_dir(demo.dir.path())
        .args(["show", "pending"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: upgrade `accounts_2024_06_01_add_last_login` depends on `examples_release_1_0_0`, whose package `examples` is not active",
        ));
    std::fs::write(demo.dir.path().join("upgrader.toml"), "database_url = \"sqlite://configured.db\"\npackages = [\"accounts\", \"records\", \"search\", \"examples\"]\n").unwrap();
    upgrader()
        .current_dir(demo.dir.path())
        .args(["run", "--yes-i-know"])
        .assert()
        .success();
    assert!(demo.dir.path().join("configured.db").exists());
    // The flag wins over the file.
    upgrader()
        .current_dir(demo.dir.path())
        .args(["--database-url", "other.db", "show", "applied"])
        .assert()
        .success()
        .stdout("");
}

#[test]
fn populate_records_without_running_and_mark_repairs_by_hand() {
    let demo = Demo::sqlite();
    demo.cmd(&["populate"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--yes-i-know"));
    demo.cmd(&[
        "mark",
        "records_2024_03_05_add_version_id",
        "--applied",
        "--yes-i-know",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains(
        "depends on pending upgrade(s): accounts_2024_01_10_initial, records_2024_01_15_initial",
    ));
    demo.cmd(&["mark", "nope_2024_01_01_x", "--pending", "--yes-i-know"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: `nope_2024_01_01_x` is not a known upgrade",
        ));
    demo.cmd(&["populate", "--yes-i-know"])
        .assert()
        .success()
        .stdout(predicate::str::contains("recorded examples_release_1_0_0"));
    demo.cmd(&["show", "pending"]).assert().success().stdout("");
    demo.cmd(&[
        "mark",
        "accounts_2024_06_01_add_last_login",
        "--pending",
        "--yes-i-know",
    ])
    .assert()
    .success()
    .stdout("marked accounts_2024_06_01_add_last_login pending\n");
    // populate ran nothing, so the table the last upgrade alters does not exist: it fails, cleanly.
    demo.cmd(&["run", "--yes-i-know"]).assert().code(1).stderr(
        predicate::str::contains("error: upgrade `accounts_2024_06_01_add_last_login` failed: ")
            .and(predicate::str::contains("hint: fix the cause and run again")),
    );
}

#[test]
fn mark_refusals_change_nothing() {
    let demo = Demo::sqlite();
    let applied = || {
        let output = demo.cmd(&["show", "applied", "--json"]).output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let last = "accounts_2024_06_01_add_last_login";
    // No terminal to confirm on, and no --yes-i-know.
    for state in ["--applied", "--pending"] {
        demo.cmd(&["mark", last, state])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("--yes-i-know"));
    }
    // Unknown ids, even beside a known one.
    demo.cmd(&["mark", last, "nope_2024_01_01_x", "--applied", "--force", "--yes-i-know"])
        .assert()
        .code(1)
        .stderr("error: `nope_2024_01_01_x` is not a known upgrade\nhint: `upgrader show pending` and `upgrader show applied` list the known ids\n");
    // Pending dependencies, without --force.
    demo.cmd(&["mark", last, "--applied", "--yes-i-know"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!(
                "`{last}` depends on pending upgrade(s): accounts_2024_01_10_initial, "
            ))
            .and(predicate::str::contains(
                "hint: mark those applied too, or pass --force",
            )),
        );
    // Usage: a state is required, and --force only goes with --applied.
    demo.cmd(&["mark", last, "--yes-i-know"]).assert().code(2);
    demo.cmd(&["mark", last, "--pending", "--force", "--yes-i-know"])
        .assert()
        .code(2);
    assert_eq!(applied(), serde_json::json!([]), "nothing was recorded");
    // With --force it is recorded, and its ancestors count as applied.
    demo.cmd(&["mark", last, "--applied", "--force", "--yes-i-know"])
        .assert()
        .success()
        .stdout(format!("marked {last} applied\n"));
    demo.cmd(&["show", "pending"]).assert().success().stdout("");
    assert_eq!(applied()[0]["method"], "mark");
}

#[test]
fn check_and_run_refuse_a_read_only_database() {
    // The example application's pre-run check; PostgreSQL can make a database read-only.
    let Some(demo) = Demo::new(Backend::Postgres) else {
        return;
    };
    let name = demo.url.rsplit('/').next().unwrap();
    let mut conn = upgrader_core::DatabaseUrl::parse(&demo.url)
        .unwrap()
        .connect()
        .unwrap();
    conn.execute(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = on"
    ))
    .unwrap();
    demo.cmd(&["check"])
        .assert()
        .code(1)
        .stderr(
            "error: check failed: the database accepts writes: the database is read-only; point the upgrader at the primary\n\
             error: 1 problem(s) found\n",
        );
    demo.cmd(&["run", "--yes-i-know"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "error: 1 pre-run check(s) failed, nothing was applied: the database accepts writes: the database is read-only",
        ));
}

#[test]
fn a_server_that_never_answers_is_an_error_after_the_connect_timeout() {
    // Something accepts connections on the port and never speaks: the drivers would wait for the
    // operating system's TCP timeouts.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    for (scheme, backend) in [("postgres", "PostgreSQL"), ("mysql", "MySQL/MariaDB")] {
        let url = format!("{scheme}://app@127.0.0.1:{port}/app");
        upgrader()
            .args(["--database-url", &url, "--connect-timeout", "1", "check"])
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .code(1)
            .stderr(format!(
                "error: cannot connect to {backend} database {url}: no answer within 1s\n\
                 hint: check that the server is running, and the host, port, user and database in the URL\n"
            ));
    }
    drop(silent);
}

/// `upgrader run` in a real terminal (a pty), as an operator types.
fn run_in_a_terminal(demo: &Demo) -> rexpect::session::PtySession {
    let mut cmd = std::process::Command::new(support::example_binary("upgrader"));
    cmd.current_dir(demo.dir.path())
        .env_remove("UPGRADER_DATABASE_URL")
        .arg("run");
    rexpect::session::spawn_command(cmd, Some(30_000)).expect("a pty")
}

#[test]
fn run_in_a_terminal_asks_first_and_passes_questions_to_the_operator() {
    let demo = Demo::sqlite();
    // A database whose users predate the display name, one without a name before the `@`.
    demo.cmd(&["mark", "accounts_2024_01_10_initial", "--applied", "--yes-i-know"])
        .assert()
        .success();
    let mut conn = upgrader_core::DatabaseUrl::parse(&demo.url)
        .unwrap()
        .connect()
        .unwrap();
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, created_at TIMESTAMP NULL)")
        .unwrap();
    conn.execute("INSERT INTO users (email) VALUES ('ada@example.com'), ('@example.com')")
        .unwrap();

    let mut term = run_in_a_terminal(&demo);
    term.exp_string("7 upgrade(s) to apply").unwrap();
    term.exp_string("Apply these upgrades? [y/N]").unwrap();
    term.send("y").unwrap();
    term.flush().unwrap();
    term.exp_string("Display name for users whose email has no name part? [anonymous]")
        .unwrap();
    term.send_line("nobody").unwrap();
    term.exp_string("7 upgrade(s) applied").unwrap();
    term.exp_eof().unwrap();

    let mut names = |email: &str| {
        conn.query_text(&format!(
            "SELECT display_name AS value FROM users WHERE email = '{email}'"
        ))
        .unwrap()
        .unwrap()
    };
    assert_eq!(names("ada@example.com"), "ada");
    assert_eq!(names("@example.com"), "nobody", "the operator's answer was used");
}

#[test]
fn run_in_a_terminal_applies_nothing_when_the_operator_says_no() {
    let demo = Demo::sqlite();
    let mut term = run_in_a_terminal(&demo);
    term.exp_string("Apply these upgrades? [y/N]").unwrap();
    term.send_line("").unwrap(); // the default is no
    term.exp_string("error: cancelled; nothing was applied").unwrap();
    term.exp_eof().unwrap();
    demo.cmd(&["show", "applied"]).assert().success().stdout("");
}

#[test]
fn looking_at_a_missing_sqlite_file_does_not_create_it() {
    // A mistyped path used to leave an empty database file behind.
    let demo = Demo::sqlite();
    let db = demo.dir.path().join("upgrader.db");
    demo.cmd(&["show", "pending"])
        .assert()
        .success()
        .stderr(predicate::str::contains("8 pending"));
    demo.cmd(&["show", "applied"]).assert().success().stdout("");
    demo.cmd(&["check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pending: 8"));
    assert!(!db.exists(), "a command that only looks created {}", db.display());
    demo.cmd(&["run", "--yes-i-know"]).assert().success();
    assert!(db.exists());
}

// ---- the command set in an application's own binary ------------------------------------------

// `app -V` printed `upgrader 0.1.0` and hints said `upgrader ...` although the binary is `app`.
#[test]
fn a_binary_of_another_name_speaks_of_itself() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join(format!("app{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(support::example_binary("upgrader"), &app).unwrap();
    let version = std::process::Command::new(&app).arg("-V").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("app {}\n", env!("CARGO_PKG_VERSION"))
    );
    let help = std::process::Command::new(&app)
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: app run [OPTIONS]"));
    let unknown = std::process::Command::new(&app)
        .current_dir(dir.path())
        .env_remove("UPGRADER_DATABASE_URL")
        .args(["mark", "nope_2024_01_01_gone", "--applied", "--yes-i-know"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("hint: `app show pending` and `app show applied` list the known ids"),
        "{stderr}"
    );
    assert!(!stderr.contains("upgrader "), "{stderr}");
}

/// `examples/myapp.rs`: an application that mounts the command set under its own command line.
fn myapp() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(support::example_binary("myapp"));
    cmd.env_remove("UPGRADER_DATABASE_URL");
    cmd
}

#[test]
fn an_application_mounts_the_command_set_as_a_subcommand() {
    let demo = Demo::sqlite();
    myapp().arg("-V").assert().success().stdout("myapp 2.3.4\n");
    myapp()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "upgrader  Brings the application's database up to date",
        ));
    myapp()
        .args(["upgrader", "run", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Usage: myapp upgrader run [OPTIONS]"));
    myapp().arg("serve").assert().success().stdout("serving\n");
    // The mounted commands work as the standalone ones, on the application's modules.
    myapp()
        .current_dir(demo.dir.path())
        .args(["upgrader", "run", "--yes-i-know"])
        .assert()
        .success()
        .stderr(predicate::str::contains("8 upgrade(s) applied"));
    myapp()
        .current_dir(demo.dir.path())
        .args(["upgrader", "--database-url", &demo.url, "show", "pending"])
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing is pending"));
    // Hints name the command as the operator types it.
    myapp()
        .current_dir(demo.dir.path())
        .args([
            "upgrader",
            "mark",
            "nope_2024_01_01_gone",
            "--applied",
            "--yes-i-know",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "hint: `myapp upgrader show pending` and `myapp upgrader show applied` list the known ids",
        ));
    // Usage errors are the application's: exit 2.
    myapp().args(["upgrader", "frobnicate"]).assert().code(2);
}

#[test]
fn the_run_journal_names_the_application_and_its_version() {
    let demo = Demo::sqlite();
    myapp()
        .current_dir(demo.dir.path())
        .args(["upgrader", "run", "--yes-i-know"])
        .assert()
        .success();
    let output = myapp()
        .current_dir(demo.dir.path())
        .args(["upgrader", "show", "history", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let run = &value["runs"][0];
    assert_eq!(run["program"], "myapp upgrader", "{value}");
    assert_eq!(run["program_version"], "2.3.4", "{value}");
    assert_eq!(run["kind"], "run");
    let output = myapp()
        .current_dir(demo.dir.path())
        .args(["upgrader", "show", "history"])
        .output()
        .unwrap();
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.contains(" (myapp upgrader 2.3.4)  succeeded, applied 8: "),
        "{table}"
    );
}

// Hints said `upgrader resolve …` (a text replace made them `myapp upgrader …` only where the
// words happened to match) although the operator typed `myapp upgrader`.
#[test]
fn hints_name_the_mounted_command_as_the_operator_types_it() {
    const LEAF: &str = "accounts_2024_06_01_add_last_login";
    let demo = Demo::sqlite();
    let mounted = |args: &[&str]| {
        myapp()
            .current_dir(demo.dir.path())
            .arg("upgrader")
            .args(args)
            .output()
            .unwrap()
    };
    let failed = |args: &[&str]| {
        let out = mounted(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            stderr.lines().count(),
            2,
            "an error line and a hint line: {stderr}"
        );
        assert!(!stderr.contains("`upgrader "), "{stderr}");
        stderr
    };
    assert!(mounted(&["run", "--yes-i-know"]).status.success());
    assert!(
        mounted(&["mark", LEAF, "--pending", "--yes-i-know"])
            .status
            .success()
    );
    // A runner killed in the middle of the leaf leaves its start mark.
    upgrader_core::DatabaseUrl::parse(&demo.url)
        .and_then(|url| url.connect())
        .unwrap()
        .execute(&format!(
            "INSERT INTO upgrade_in_progress (upgrade, started, runner) VALUES ('{LEAF}', CURRENT_TIMESTAMP, 'pid 1 on elsewhere')"
        ))
        .unwrap();

    let stderr = failed(&["run", "--yes-i-know"]);
    assert!(
        stderr.contains(&format!(
            "\nhint: inspect the database, then `myapp upgrader resolve {LEAF} --retry` (run it again) \
             or `myapp upgrader resolve {LEAF} --mark-applied` (it did finish)\n"
        )),
        "{stderr}"
    );

    assert!(
        mounted(&["resolve", LEAF, "--retry", "--yes-i-know"])
            .status
            .success()
    );
    let stderr = failed(&["resolve", LEAF, "--retry", "--yes-i-know"]);
    assert_eq!(
        stderr,
        format!(
            "error: cannot resolve {LEAF}: `{LEAF}` is not an interrupted upgrade\n\
             hint: `myapp upgrader check` lists the interrupted upgrades\n"
        )
    );

    let stderr = failed(&["mark", "nope_2024_01_01_gone", "--pending", "--yes-i-know"]);
    assert_eq!(
        stderr,
        "error: `nope_2024_01_01_gone` is not a known upgrade\n\
         hint: `myapp upgrader show pending` and `myapp upgrader show applied` list the known ids\n"
    );

    // Hints that name no command are the same as the standalone binary's.
    let stderr = failed(&[
        "mark",
        "records_2024_03_05_add_version_id",
        "--pending",
        "--yes-i-know",
    ]);
    assert!(
        stderr.ends_with(
            "\nhint: take those back too (--with-dependents: they run again at the next run), or leave it applied\n"
        ),
        "{stderr}"
    );
}
