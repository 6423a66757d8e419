//! A history the engine cannot read is an error on every command, never an empty history: which
//! table, what failed, a hint, exit 1, and nothing changed.

use upgrader_core::{Backend, DatabaseUrl};
use upgrader_tests::TestDb;

use super::{ALL, assert_ok, command, db_name, refused_by_every_command, sql, url_as};

upgrader_tests::on_every_backend!(
    history_whose_table_of_started_upgrades_was_dropped_is_unreadable,
    history_a_runner_is_setting_up_is_read_as_it_is,
);

/// Drops something on the test server at the end of a test, even a failed one.
struct Cleanup {
    url: String,
    sql: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(mut conn) = DatabaseUrl::parse(&self.url).and_then(|u| u.connect()) {
            let _ = conn.batch_execute(&self.sql);
        }
    }
}

/// Not random, the same on every run: bytes that are no SQLite file.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn sqlite_file_that_is_not_a_database_is_refused_by_every_command() {
    // `show applied` on a file of random bytes printed an empty history and exited 0.
    let mut header_then_noise = b"SQLite format 3\0".to_vec();
    header_then_noise.extend(noise(4080));
    let variants: [(&str, Vec<u8>); 4] = [
        ("random bytes", noise(8192)),
        (
            "a text file",
            b"database_url = \"postgres://app@db/app\"\n".repeat(100),
        ),
        ("the SQLite header, then noise", header_then_noise),
        ("one byte", vec![b'x']),
    ];
    for (what, bytes) in variants {
        let db = TestDb::new(Backend::Sqlite).unwrap();
        std::fs::write(&db.url, &bytes).unwrap();
        let stderr = refused_by_every_command(&db, &db.url, "cannot connect to SQLite database");
        assert!(
            stderr.contains("file is not a database"),
            "{what}: SQLite's own words: {stderr}"
        );
        assert_eq!(
            std::fs::read(&db.url).unwrap(),
            bytes,
            "{what}: the file is as it was"
        );
    }
}

#[test]
fn sqlite_path_that_is_a_directory_is_refused_by_every_command() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    std::fs::create_dir(&db.url).unwrap();
    refused_by_every_command(
        &db,
        &db.url,
        &format!(
            "cannot connect to SQLite database {}: it is a directory, not a database file",
            db.url
        ),
    );
}

#[test]
fn sqlite_path_that_is_a_fifo_is_refused_by_every_command() {
    // Reading a FIFO nobody writes to waits for ever.
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&db.url)
        .status()
        .unwrap();
    assert!(made.success());
    refused_by_every_command(
        &db,
        &db.url,
        &format!(
            "cannot connect to SQLite database {}: it is not a regular file, not a database file",
            db.url
        ),
    );
}

#[test]
fn sqlite_file_the_user_may_not_read_is_refused_by_every_command() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let db = TestDb::new(Backend::Sqlite).unwrap();
    assert_ok(&command(&db.url, &["run", "--yes-i-know"]));
    let dir = super::sqlite_dir(&db);
    let cwd = tempfile::tempdir().unwrap();
    let mode = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(cwd.path(), 0o755);
    mode(&dir, 0o755);
    mode(std::path::Path::new(&db.url), 0o000);
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let before = super::files(&dir);
    for args in crate::support::EVERY_COMMAND {
        let mut cmd = crate::support::upgrader(cwd.path(), Some(&db.url));
        cmd.args(args);
        if root {
            // Permissions do not stop root: run it as `nobody`.
            cmd.uid(65534).gid(65534);
        }
        let out = crate::support::output(&mut cmd);
        let stderr = crate::support::assert_refused(&out, 1, "cannot connect to SQLite database");
        assert!(
            stderr.to_lowercase().contains("unable to open the database file"),
            "{args:?}: {stderr}"
        );
        assert_eq!(super::files(&dir), before, "{args:?}");
    }
    mode(std::path::Path::new(&db.url), 0o644);
}

#[test]
fn sqlite_database_cut_short_is_refused_by_every_command() {
    // A copy that stopped half-way: the schema is there, the history's pages are not.
    let db = TestDb::new(Backend::Sqlite).unwrap();
    assert_ok(&command(&db.url, &["run", "--yes-i-know"]));
    let bytes = std::fs::read(&db.url).unwrap();
    assert!(bytes.len() > 8192, "a database of several pages");
    std::fs::write(&db.url, &bytes[..4096]).unwrap();
    let stderr = refused_by_every_command(&db, &db.url, "error: ");
    assert!(
        stderr.contains("database disk image is malformed"),
        "SQLite's own words: {stderr}"
    );
}

#[test]
fn sqlite_seed_row_without_an_id_is_refused_by_every_command() {
    // SQLite lets a seed table without `NOT NULL` hold a row with no id: it names no upgrade.
    let db = TestDb::new(Backend::Sqlite).unwrap();
    sql(
        &db,
        "CREATE TABLE upgrade (upgrade VARCHAR(255) PRIMARY KEY, applied DATETIME); \
         INSERT INTO upgrade VALUES ('accounts_2024_01_10_initial', '2019-05-01 10:00:00'); \
         INSERT INTO upgrade VALUES (NULL, '2019-05-02 10:00:00')",
    );
    let stderr = refused_by_every_command(
        &db,
        &db.url,
        "cannot read the history table `upgrade`: a row has no upgrade id (NULL)",
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}

fn history_whose_table_of_started_upgrades_was_dropped_is_unreadable(db: &TestDb) {
    // Without it the engine cannot know which upgrades were interrupted: not "none".
    assert_ok(&command(&db.url, &["run", "--yes-i-know"]));
    sql(db, "DROP TABLE upgrade_in_progress");
    refused_by_every_command(
        db,
        &db.url,
        "cannot read the history table `upgrade_in_progress`: the history has the engine's layout but this table",
    );
}

fn history_a_runner_is_setting_up_is_read_as_it_is(db: &TestDb) {
    // Eight runners at once: on MySQL, which commits each DDL statement, the others saw the
    // history made and its table of started upgrades not yet, and refused to go on.
    let ts = if db.backend() == Backend::Postgres {
        "TIMESTAMP"
    } else {
        "DATETIME"
    };
    sql(
        db,
        &format!(
            "CREATE TABLE upgrade (upgrade VARCHAR(255) NOT NULL PRIMARY KEY, applied {ts} NOT NULL, \
             duration_ms BIGINT, checksum VARCHAR(64), method VARCHAR(16) NOT NULL DEFAULT 'run')"
        ),
    );
    assert_eq!(super::applied_json(&db.url, &[]), []);
    let stdout = assert_ok(&command(&db.url, &["check"]));
    assert!(stdout.contains("applied: 0\npending: 10 "), "{stdout}");
}

#[test]
fn postgres_role_that_may_not_read_the_history_is_refused_by_every_command() {
    // `check` printed `applied: 0`, `pending: 8` and exited 0, although all were applied.
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    assert_ok(&command(&db.url, &["run", "--yes-i-know"]));
    let role = format!("{}_reader", db_name(&db));
    sql(&db, &format!("CREATE ROLE {role} LOGIN"));
    let _cleanup = Cleanup {
        url: db.url.clone(),
        sql: format!("DROP ROLE IF EXISTS {role}"),
    };
    let stderr = refused_by_every_command(
        &db,
        &url_as(&db, &role),
        "cannot read the history table `upgrade`: permission denied for table upgrade",
    );
    assert!(
        stderr.contains("hint: check that the database user may read that table"),
        "{stderr}"
    );
    // The owner still reads all of it.
    assert_eq!(super::applied_json(&db.url, &[]).len(), ALL.len());
}

#[test]
fn postgres_role_that_may_not_use_the_history_schema_is_refused_by_every_command() {
    // The schema is skipped in the role's search path: the table looked absent, the history empty.
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    assert_ok(&command(&db.url, &["run", "--yes-i-know"]));
    let role = format!("{}_outsider", db_name(&db));
    sql(
        &db,
        &format!("REVOKE ALL ON SCHEMA public FROM PUBLIC; CREATE ROLE {role} LOGIN"),
    );
    let _cleanup = Cleanup {
        url: db.url.clone(),
        sql: format!("DROP ROLE IF EXISTS {role}"),
    };
    refused_by_every_command(
        &db,
        &url_as(&db, &role),
        "cannot read the history table `upgrade`: it is in schema `public`, which this user may not use",
    );
}

#[test]
fn mysql_user_that_may_not_read_the_history_is_refused_by_every_command() {
    let Some(db) = TestDb::new(Backend::Mysql) else {
        return;
    };
    assert_ok(&command(&db.url, &["run", "--yes-i-know"]));
    let name = db_name(&db).to_owned();
    let suffix = name.trim_start_matches("upgrader_test_");
    // Privileges on the whole database but SELECT: `information_schema` shows the history table.
    let writer = format!("w{suffix}");
    // SELECT on one other table only: `information_schema` does not show the history table at
    // all, and the server answers "denied" whether it exists or not.
    let stranger = format!("s{suffix}");
    sql(
        &db,
        &format!(
            "CREATE USER '{writer}'@'%'; GRANT INSERT, UPDATE, DELETE, CREATE, ALTER, DROP ON {name}.* TO '{writer}'@'%'; \
             CREATE USER '{stranger}'@'%'; GRANT SELECT ON {name}.users TO '{stranger}'@'%'"
        ),
    );
    let _cleanup = Cleanup {
        url: db.url.clone(),
        sql: format!("DROP USER IF EXISTS '{writer}'@'%'; DROP USER IF EXISTS '{stranger}'@'%'"),
    };
    for user in [&writer, &stranger] {
        let stderr = refused_by_every_command(
            &db,
            &url_as(&db, user),
            "cannot read the history table `upgrade`: SELECT command denied",
        );
        assert!(stderr.contains("hint: "), "{stderr}");
    }
    assert_eq!(super::applied_json(&db.url, &[]).len(), ALL.len());
}
