//! `show` and `check` write nothing: an SQLite file is left byte for byte as it was, never
//! switched to WAL, and no file appears beside it, even in a directory they cannot write.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use upgrader_core::Backend;
use upgrader_tests::TestDb;

use super::{ALL, assert_ok, command, files, sql, sqlite_dir};
use crate::support::{output, upgrader};

/// Every read-only command, as a user would run them.
const READ_ONLY: [&[&str]; 6] = [
    &["show", "applied"],
    &["show", "applied", "--json"],
    &["show", "pending"],
    &["show", "pending", "--json"],
    &["check"],
    &["check", "--json"],
];

/// The SQLite journal mode a file is in, from its header: 1 rollback journal, 2 WAL.
fn journal_mode(path: &str) -> (u8, u8) {
    let bytes = std::fs::read(path).unwrap();
    (bytes[18], bytes[19])
}

/// A database with every upgrade applied, in WAL mode (the engine's writes switch it) or in
/// rollback-journal mode.
fn applied_database(wal: bool) -> TestDb {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    assert_ok(&command(&db.url, &["run", "--yes-i-know"]));
    if !wal {
        sql(&db, "PRAGMA journal_mode = DELETE");
    }
    assert_eq!(journal_mode(&db.url), if wal { (2, 2) } else { (1, 1) });
    db
}

#[test]
fn show_and_check_leave_an_sqlite_file_as_it_is() {
    // They switched the file to WAL, which leaves `-wal` and `-shm` files beside it.
    for wal in [true, false] {
        let db = applied_database(wal);
        let before = files(&sqlite_dir(&db));
        for args in READ_ONLY {
            let stdout = assert_ok(&command(&db.url, args));
            if args == ["check"] {
                assert!(stdout.contains(&format!("applied: {}\n", ALL.len())), "{stdout}");
            }
            assert_eq!(
                files(&sqlite_dir(&db)),
                before,
                "{args:?} (WAL: {wal}) changed the database or added a file beside it"
            );
        }
    }
}

#[test]
fn show_and_check_read_a_database_another_connection_is_writing() {
    // A runner has the file open (its `-wal` and `-shm` files exist) and has committed rows
    // that are only in the `-wal` file so far: they are read, and the database file is untouched.
    let db = applied_database(true);
    let mut writer = db.connect();
    writer
        .batch_execute("PRAGMA wal_autocheckpoint = 0; DELETE FROM upgrade WHERE upgrade = 'accounts_2024_06_01_add_last_login'")
        .unwrap();
    let names = |db: &TestDb| files(&sqlite_dir(db)).into_keys().collect::<Vec<_>>();
    let names_before = names(&db);
    assert!(
        names_before.iter().any(|n| n.ends_with("-wal")),
        "{names_before:?}"
    );
    let file_before = std::fs::read(&db.url).unwrap();
    for args in READ_ONLY {
        let stdout = assert_ok(&command(&db.url, args));
        if args == ["check"] {
            assert!(
                stdout.contains(&format!("applied: {}\npending: 1 ", ALL.len() - 1)),
                "the row deleted in the -wal file is gone: {stdout}"
            );
        }
        assert_eq!(names(&db), names_before, "{args:?}");
        assert_eq!(std::fs::read(&db.url).unwrap(), file_before, "{args:?}");
    }
    drop(writer);
}

/// Whether this process runs as root, whom file permissions do not stop.
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn show_and_check_work_in_a_directory_they_cannot_write() {
    // They failed in a directory they cannot write: switching to WAL needs to create files.
    for wal in [true, false] {
        let db = applied_database(wal);
        let dir = sqlite_dir(&db);
        let cwd = tempfile::tempdir().unwrap();
        let set_mode = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set_mode(cwd.path(), 0o755);
        set_mode(Path::new(&db.url), 0o444);
        set_mode(&dir, 0o555);
        let before = files(&dir);
        for args in READ_ONLY {
            let mut cmd = upgrader(cwd.path(), Some(&db.url));
            cmd.args(args);
            if is_root() {
                // As root the kernel would let the command write: run it as `nobody`.
                cmd.uid(65534).gid(65534);
            }
            let stdout = assert_ok(&output(&mut cmd));
            if args == ["show", "applied", "--json"] {
                let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(rows.as_array().unwrap().len(), ALL.len(), "{stdout}");
            }
            assert_eq!(files(&dir), before, "{args:?} (WAL: {wal})");
        }
        set_mode(&dir, 0o755);
        set_mode(Path::new(&db.url), 0o644);
    }
}
