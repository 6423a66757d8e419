//! `upgrade_lock_timeout` in upgrader.toml: the lock timeout of the upgrades that set none, read
//! strictly, and applied by the real binary on every backend.

use predicates::prelude::*;
use upgrader_core::{AnyConnection, Backend};

use crate::support::Demo;

const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];
const LEAF: &str = "accounts_2024_06_01_add_last_login";

use upgrader_tests::output_text as text;

#[test]
fn a_malformed_upgrade_lock_timeout_is_refused_before_anything_is_opened() {
    for (value, why) in [
        ("\"0s\"", "it must be more than zero"),
        ("\"5\"", "has no unit"),
        ("\"soon\"", "is not a duration"),
        ("\"1000h\"", "at most 2147483s"),
        ("5", "invalid type: integer `5`, expected a string"),
    ] {
        let demo = Demo::sqlite();
        std::fs::write(
            demo.dir.path().join("upgrader.toml"),
            format!("upgrade_lock_timeout = {value}\n"),
        )
        .unwrap();
        demo.cmd(&["run", "--yes-i-know"])
            .assert()
            .code(1)
            .stdout("")
            .stderr(
                predicate::str::contains("error: invalid configuration upgrader.toml")
                    .and(predicate::str::contains(why)),
            );
        assert_eq!(demo.snapshot(), "<no database file>", "{value}");
    }
}

/// Another session holding a lock that keeps `ALTER TABLE users` waiting.
fn hold_users(demo: &Demo, backend: Backend) -> AnyConnection {
    let mut conn = demo.connect();
    match backend {
        Backend::Sqlite => conn.batch_execute("BEGIN IMMEDIATE").unwrap(),
        Backend::Postgres => conn
            .batch_execute("BEGIN; LOCK TABLE users IN ACCESS SHARE MODE")
            .unwrap(),
        _ => {
            conn.batch_execute("START TRANSACTION").unwrap();
            conn.query_i64("SELECT COUNT(*) AS value FROM users").unwrap();
        }
    }
    conn
}

// The statement wait is two minutes: only the configured second can end the wait in a passing
// test (a regression hangs, then fails on the message).
#[test]
fn the_configured_upgrade_lock_timeout_fails_an_upgrade_behind_a_lock() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        let out = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out));
        let out = demo
            .cmd(&["mark", LEAF, "--pending", "--yes-i-know"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out));
        demo.connect()
            .execute("ALTER TABLE users DROP COLUMN last_login_at")
            .unwrap();
        std::fs::write(
            demo.dir.path().join("upgrader.toml"),
            "upgrade_lock_timeout = \"1s\"\n",
        )
        .unwrap();

        let mut holder = hold_users(&demo, backend);
        let out = demo
            .cmd(&["--wait-timeout", "120", "run", "--yes-i-know"])
            .output()
            .unwrap();
        holder.batch_execute("ROLLBACK").unwrap();
        assert_eq!(out.status.code(), Some(1), "{backend}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("error: upgrade `{LEAF}` failed: "))
                && stderr.contains("within the upgrade's lock timeout (1s)"),
            "{backend}: {stderr}"
        );
        if backend == Backend::Postgres {
            assert!(stderr.contains("holds AccessShareLock on users"), "{stderr}");
        }
        // Not applied, not half-applied: the column is not there.
        assert!(
            demo.connect()
                .query_i64("SELECT COUNT(last_login_at) AS value FROM users")
                .is_err(),
            "{backend}"
        );
        if !backend.has_transactional_ddl() {
            let out = demo
                .cmd(&["resolve", LEAF, "--retry", "--yes-i-know"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{backend}: {}", text(&out));
        }
        // The lock gone, it applies.
        let out = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out));
    }
}
