//! URLs, secrets and locks: database URLs that name nothing to keep, connection strings that are
//! not file names, passwords in every form a user can write them, connection errors that must
//! keep their cause, and one file or database under two names.

use std::path::Path;
use std::process::Output;

use upgrader_core::{Backend, DEFAULT_SCOPE, LockId};
use upgrader_tests::{SlowRun, TestDb, unique_name};

use crate::support::{EVERY_COMMAND, assert_refused, output, text, upgrader};

/// The example upgrades and the two fixtures.
const FIXTURE_IDS: usize = 10;

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[track_caller]
fn assert_no_file_created(dir: &Path) {
    assert_eq!(files_in(dir), Vec::<String>::new(), "nothing is created");
}

/// Neither stdout nor stderr holds `secret`.
#[track_caller]
fn assert_never_printed(out: &Output, secret: &str) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains(secret), "`{secret}` printed:\n{all}");
}

fn applied_ids(dir: &Path, url: &str) -> Vec<String> {
    let out = output(upgrader(dir, Some(url)).args(["show", "applied", "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .map(|r| r["upgrade"].as_str().unwrap().to_owned())
        .collect()
}

/// Every upgrade is in the history exactly once.
#[track_caller]
fn assert_each_applied_once(dir: &Path, url: &str) {
    let mut ids = applied_ids(dir, url);
    assert_eq!(ids.len(), FIXTURE_IDS, "{ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), FIXTURE_IDS, "each once: {ids:?}");
}

// ---------------------------------------------------------------------------------------------
// SQLite forms that keep nothing, or that SQLite would read differently

/// `run` against `:memory:` "applied" every upgrade and kept nothing; `file::memory:` and
/// `mode=memory` did the same.
#[test]
fn in_memory_sqlite_is_refused_by_every_command() {
    for url in [
        ":memory:",
        " :memory: ",
        "sqlite::memory:",
        "sqlite://:memory:",
        "file::memory:",
        "file::memory:?cache=shared",
        "file:app.db?mode=memory",
        "file:app.db?cache=shared&mode=memory",
    ] {
        for command in EVERY_COMMAND {
            let dir = tempfile::tempdir().unwrap();
            let out = output(upgrader(dir.path(), Some(url)).args(command));
            let stderr = assert_refused(&out, 1, "an in-memory SQLite database keeps nothing");
            assert!(
                stderr.contains("\nhint: name a database file"),
                "{url} {command:?}: {stderr}"
            );
            assert_no_file_created(dir.path());
        }
    }
}

#[test]
fn sqlite_urls_that_name_no_file_are_refused_by_every_command() {
    for (url, error) in [
        ("", "the URL is empty"),
        ("   ", "the URL is empty"),
        ("sqlite://", "it names no file"),
        ("file:", "it names no file"),
        ("file://", "it names no file"),
    ] {
        for command in EVERY_COMMAND {
            let dir = tempfile::tempdir().unwrap();
            let out = output(
                upgrader(dir.path(), None)
                    .args(["--database-url", url])
                    .args(command),
            );
            let stderr = assert_refused(&out, 1, error);
            assert!(stderr.contains("\nhint: "), "{url:?}: {stderr}");
            assert_no_file_created(dir.path());
        }
    }
}

#[test]
fn sqlite_uri_parameters_are_refused_by_name() {
    for (url, error) in [
        (
            "file:app.db?mode=ro&cache=shared",
            "SQLite URI parameters are not supported: `mode`, `cache`",
        ),
        (
            "sqlite://app.db?vfs=unix-none",
            "SQLite URI parameters are not supported: `vfs`",
        ),
        (
            "file:///tmp/app.db?immutable=1",
            "SQLite URI parameters are not supported: `immutable`",
        ),
        ("file://db.example/app.db", "`db.example` is not this machine"),
    ] {
        for command in EVERY_COMMAND {
            let dir = tempfile::tempdir().unwrap();
            let out = output(upgrader(dir.path(), Some(url)).args(command));
            let stderr = assert_refused(&out, 1, error);
            assert!(stderr.contains("\nhint: "), "{url}: {stderr}");
            assert_no_file_created(dir.path());
        }
    }
}

/// `show` read an empty in-memory database through a `file:` URI (the URI was taken for a file
/// name that does not exist) while `run` wrote the file.
#[test]
fn file_uri_opens_the_same_file_for_show_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("my data")).unwrap();
    let out = output(upgrader(dir.path(), Some("file:my%20data/app.db")).args(["run", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), FIXTURE_IDS);
    assert_eq!(files_in(dir.path()), ["my data"], "no file named after the URI");
    assert!(files_in(&dir.path().join("my data")).contains(&"app.db".to_owned()));

    let absolute = dir.path().join("my data/app.db").to_str().unwrap().to_owned();
    let encoded = absolute.replace(' ', "%20");
    for url in [
        "my data/app.db".to_owned(),
        absolute.clone(),
        "file:my%20data/app.db".to_owned(),
        format!("file:{encoded}"),
        format!("file://{encoded}"),
        format!("file://localhost{encoded}"),
        format!("sqlite://{encoded}"),
        "sqlite:my data/app.db".to_owned(),
    ] {
        assert_each_applied_once(dir.path(), &url);
        let out = output(upgrader(dir.path(), Some(&url)).arg("check"));
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(&format!("applied: {FIXTURE_IDS}\npending: 0")),
            "{url}: {}",
            text(&out.stdout)
        );
        let out = output(upgrader(dir.path(), Some(&url)).args(["show", "pending"]));
        assert!(
            text(&out.stderr).contains("nothing is pending"),
            "{url}: {}",
            text(&out.stderr)
        );
        let out = output(upgrader(dir.path(), Some(&url)).args(["run", "--yes-i-know"]));
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "", "{url}: nothing left to apply");
    }
    assert_eq!(files_in(dir.path()), ["my data"]);
}

/// `show` and `check` through a `file:` URI do not create a missing file.
#[test]
fn file_uri_to_a_missing_file_is_read_as_empty_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["file:new.db", "sqlite://new.db"] {
        let out = output(upgrader(dir.path(), Some(url)).args(["show", "applied", "--json"]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "[]");
        let out = output(upgrader(dir.path(), Some(url)).arg("check"));
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_no_file_created(dir.path());
    }
}

// ---------------------------------------------------------------------------------------------
// Connection strings are not file names

/// A libpq connection string was created and upgraded as an SQLite file of that name, the
/// password in the file name.
#[test]
fn libpq_connection_string_is_postgres_and_never_an_sqlite_file() {
    let secret = "S3cr3t kv";
    let url = format!("host=127.0.0.1 port=1 user=app password='{secret}' dbname=app");
    for command in EVERY_COMMAND {
        let dir = tempfile::tempdir().unwrap();
        let out = output(upgrader(dir.path(), Some(&url)).args(command));
        assert_refused(
            &out,
            1,
            "cannot connect to PostgreSQL database host=127.0.0.1 port=1 user=app password=*** dbname=app: \
             error connecting to server: Connection refused",
        );
        assert_never_printed(&out, "S3cr3t");
        assert_no_file_created(dir.path());
    }
    // Against the server, it is the database it names.
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let (base, name) = db.url.rsplit_once('/').unwrap();
    let (user, host_port) = base.trim_start_matches("postgres://").split_once('@').unwrap();
    let (host, port) = host_port.split_once(':').unwrap();
    let url = format!("host={host} port={port} user={user} password='{secret}' dbname={name}");
    let dir = tempfile::tempdir().unwrap();
    let out = output(upgrader(dir.path(), Some(&url)).args(["run", "--yes-i-know"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_never_printed(&out, "S3cr3t");
    assert!(
        text(&out.stderr).contains(&format!(
            "to apply to host={host} port={port} user={user} password=*** dbname={name} (PostgreSQL)"
        )),
        "{}",
        text(&out.stderr)
    );
    assert_each_applied_once(dir.path(), &db.url);
    assert_no_file_created(dir.path());
}

/// Other drivers' connection strings became SQLite files too, named after their passwords.
#[test]
fn other_connection_strings_are_refused_and_never_print_their_password() {
    let secret = "hunter22x";
    for (url, error) in [
        (
            "server=db password=hunter22x database=app",
            "`server` is not a PostgreSQL connection key",
        ),
        (
            "Data Source=app.db;Password=hunter22x",
            "this looks like a connection string (`key=value` pairs), not a file path",
        ),
        ("user id=sa;pwd=hunter22x", "this looks like a connection string"),
        (
            "./app.db?password=hunter22x",
            "this looks like a connection string",
        ),
    ] {
        for command in EVERY_COMMAND {
            let dir = tempfile::tempdir().unwrap();
            let out = output(upgrader(dir.path(), Some(url)).args(command));
            let stderr = assert_refused(&out, 1, error);
            assert!(stderr.contains("\nhint: "), "{stderr}");
            assert_never_printed(&out, secret);
            assert_no_file_created(dir.path());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets never print

/// `postgres://user:pa/ss@host/db`, which PostgreSQL accepts (its user and password run to the
/// first `@`), printed the password: the redaction ended the userinfo at the first `/`.
#[test]
fn postgres_password_with_a_slash_never_prints() {
    for password in ["pa/ss", "pa/ss@w0rd", "p@ss:w/rd?x#y", "pa%2Fss"] {
        let url = format!("postgres://user:{password}@127.0.0.1:1/db");
        for command in EVERY_COMMAND {
            let dir = tempfile::tempdir().unwrap();
            let out = output(upgrader(dir.path(), Some(&url)).args(command));
            assert_refused(
                &out,
                1,
                "cannot connect to PostgreSQL database postgres://user:***@",
            );
            assert_never_printed(&out, password);
            assert_no_file_created(dir.path());
        }
    }
}

/// `?password=` on PostgreSQL and MySQL URLs printed as written.
#[test]
fn password_query_parameter_never_prints() {
    for (url, shown) in [
        (
            "postgres://user@127.0.0.1:1/db?password=qu3ry-s3cret",
            "postgres://user@127.0.0.1:1/db?password=***",
        ),
        (
            "postgres://user@127.0.0.1:1/db?sslmode=disable&sslpassword=qu3ry-s3cret&password=qu3ry-s3cret",
            "postgres://user@127.0.0.1:1/db?sslmode=disable&sslpassword=***&password=***",
        ),
        (
            "mysql://user@127.0.0.1:1/db?password=qu3ry-s3cret",
            "mysql://user@127.0.0.1:1/db?password=***",
        ),
        (
            "mariadb://user:qu3ry-s3cret@127.0.0.1:1/db?pass=qu3ry-s3cret",
            "mariadb://user:***@127.0.0.1:1/db?pass=***",
        ),
    ] {
        for command in EVERY_COMMAND {
            let dir = tempfile::tempdir().unwrap();
            let out = output(upgrader(dir.path(), Some(url)).args(command));
            assert_refused(&out, 1, &format!("database {shown}: "));
            assert_never_printed(&out, "qu3ry-s3cret");
            assert_no_file_created(dir.path());
        }
    }
}

/// A MySQL URL that fails to parse printed as written, password included.
#[test]
fn password_of_a_mysql_url_that_fails_to_parse_never_prints() {
    for (url, password) in [
        ("mysql://user:pa/ss@127.0.0.1:1/db", "pa/ss"),
        ("mysql://user:pa#ss@127.0.0.1:1/db", "pa#ss"),
        ("mysql://user:pa ss@127.0.0.1:1/db", "pa ss"),
        ("mariadb://user:pa[ss@127.0.0.1:1/db", "pa[ss"),
    ] {
        for command in EVERY_COMMAND {
            let dir = tempfile::tempdir().unwrap();
            let out = output(upgrader(dir.path(), Some(url)).args(command));
            // Refused by the driver, or by the engine (after a `#` there is no database).
            assert_refused(&out, 1, "://user:***@127.0.0.1:1/db");
            assert_never_printed(&out, password);
            assert_no_file_created(dir.path());
        }
    }
}

/// A wrong password on the real MariaDB: refused by the server, never printed, nothing changed.
#[test]
fn mysql_wrong_password_never_prints_and_changes_nothing() {
    let Some(db) = TestDb::new(Backend::Mysql) else {
        return;
    };
    let before = db.snapshot();
    let url = db.url.replacen("://root@", "://root:wr0ng%2Fpa55@", 1);
    assert_ne!(url, db.url);
    for command in EVERY_COMMAND {
        let dir = tempfile::tempdir().unwrap();
        let out = output(upgrader(dir.path(), Some(&url)).args(command));
        assert_refused(&out, 1, "Access denied for user 'root'");
        assert_never_printed(&out, "wr0ng/pa55");
        assert_never_printed(&out, "wr0ng%2Fpa55");
        assert_no_file_created(dir.path());
    }
    assert_eq!(db.snapshot(), before);
}

// ---------------------------------------------------------------------------------------------
// Connection errors keep their cause; the connection timeout means something

/// Every PostgreSQL connection error read "error connecting to server", whatever the cause.
#[test]
fn postgres_connection_errors_keep_their_cause() {
    let dir = tempfile::tempdir().unwrap();
    for (url, cause) in [
        (
            "postgres://user@127.0.0.1:1/db",
            "error connecting to server: Connection refused",
        ),
        (
            "postgres://user@nonexistent.invalid/db",
            "error connecting to server: failed to lookup address information",
        ),
        (
            "host=127.0.0.1 port=notaport user=u",
            "invalid connection string: invalid value for option `port`",
        ),
        (
            "postgres://user@127.0.0.1:1/db?no_such_option=1",
            "invalid connection string: unknown option `no_such_option`",
        ),
    ] {
        for command in [&["show", "applied"][..], &["check"], &["run", "--yes-i-know"]] {
            let out = output(
                upgrader(dir.path(), Some(url))
                    .args(["--connect-timeout", "20"])
                    .args(command),
            );
            let stderr = assert_refused(&out, 1, cause);
            assert!(
                stderr.contains("\nhint: check that the server is running"),
                "{stderr}"
            );
        }
    }
    assert_no_file_created(dir.path());
    // The server's own reason.
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let missing = unique_name();
    let url = format!("{}/{missing}", db.url.rsplit_once('/').unwrap().0);
    let out = output(upgrader(dir.path(), Some(&url)).arg("check"));
    assert_refused(&out, 1, &format!("database \"{missing}\" does not exist"));
}

upgrader_tests::on_every_backend!(connect_timeout_zero_is_refused);

/// `--connect-timeout 0` gave up on every server at once ("no answer within 0s").
fn connect_timeout_zero_is_refused(db: &TestDb) {
    let before = db.snapshot();
    for command in EVERY_COMMAND {
        let dir = tempfile::tempdir().unwrap();
        let out = output(
            upgrader(dir.path(), Some(&db.url))
                .args(["--connect-timeout", "0"])
                .args(command),
        );
        assert_refused(
            &out,
            2,
            "invalid value '0' for '--connect-timeout <SECONDS>': the connection timeout must be at least 1 second",
        );
        std::fs::write(dir.path().join("upgrader.toml"), "connect_timeout_secs = 0\n").unwrap();
        let out = output(upgrader(dir.path(), Some(&db.url)).args(command));
        let stderr = assert_refused(
            &out,
            1,
            "invalid configuration upgrader.toml: `connect_timeout_secs` must be at least 1",
        );
        assert!(stderr.contains("\nhint: "), "{stderr}");
        assert_eq!(files_in(dir.path()), ["upgrader.toml"]);
    }
    assert_eq!(db.snapshot(), before);
}

// ---------------------------------------------------------------------------------------------
// Locks: exactly one per database

/// Two runners on one SQLite file under two names: the second waits for the first, then finds
/// nothing to do.
fn two_names_of_one_file_are_one_lock(dir: &Path, first: &str, second: &str) {
    let slow = SlowRun::start(upgrader(dir, Some(first)), 3000);
    let out = output(upgrader(dir, Some(second)).args(["run", "--yes-i-know", "--lock-timeout", "60"]));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting for another runner to finish (pid "),
        "the second runner waited for the first: {stderr}"
    );
    assert_eq!(text(&out.stdout), "", "the first runner applied everything");
    let (code, rest) = slow.finish();
    assert_eq!(code, Some(0), "{rest}");
    assert_each_applied_once(dir, second);
    assert_each_applied_once(dir, first);
}

/// A symlink to the database gave a second lock file, so two runners ran at once and one failed.
#[test]
fn sqlite_symlink_and_its_target_are_one_lock() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::os::unix::fs::symlink("data/app.db", dir.path().join("link.db")).unwrap();
    two_names_of_one_file_are_one_lock(dir.path(), "link.db", "data/app.db");
}

/// A relative and an absolute path to one file are one lock (the lock file is reached through
/// the file system, so this held before; it fails if the lock is ever derived from the URL's
/// text).
#[test]
fn sqlite_relative_and_absolute_paths_are_one_lock() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let absolute = dir.path().join("data/../app.db");
    two_names_of_one_file_are_one_lock(dir.path(), "app.db", absolute.to_str().unwrap());
}

/// A `file:` URI and the plain path are one lock.
#[test]
fn sqlite_file_uri_and_plain_path_are_one_lock() {
    let dir = tempfile::tempdir().unwrap();
    two_names_of_one_file_are_one_lock(dir.path(), "file:app.db", "./app.db");
}

/// Two MariaDB databases whose names share their first 62 characters, made for one test.
fn mysql_pair() -> Option<(TestDb, TestDb)> {
    let prefix = format!("{:x<62}", unique_name());
    let a = TestDb::named(Backend::Mysql, &format!("{prefix}_a"))?;
    let b = TestDb::named(Backend::Mysql, &format!("{prefix}_b"))?;
    Some((a, b))
}

/// GET_LOCK names were the first 64 characters of `upgrader.<database>`: two databases whose
/// names share a long prefix shared one lock, and a runner on one waited for a runner on the
/// other.
#[test]
fn mysql_databases_sharing_a_long_name_prefix_hold_their_own_locks() {
    let Some((a, b)) = mysql_pair() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let slow = SlowRun::start(upgrader(dir.path(), Some(&a.url)), 4000);
    let out = output(upgrader(dir.path(), Some(&b.url)).args(["run", "--yes-i-know", "--lock-timeout", "1"]));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("waiting"),
        "a runner on another database is no reason to wait: {stderr}"
    );
    assert_eq!(text(&out.stdout).lines().count(), FIXTURE_IDS);
    let (code, rest) = slow.finish();
    assert_eq!(code, Some(0), "{rest}");
    assert_each_applied_once(dir.path(), &a.url);
    assert_each_applied_once(dir.path(), &b.url);
    // Each lock name fits GET_LOCK's 64 characters, and they differ.
    let name = |db: &TestDb| {
        let LockId::Mysql { name_sql } = LockId::of(&db.database_url(), DEFAULT_SCOPE).unwrap() else {
            panic!("a MySQL lock");
        };
        db.connect()
            .query_text(&format!("SELECT {name_sql} AS value"))
            .unwrap()
            .unwrap()
    };
    let (name_a, name_b) = (name(&a), name(&b));
    assert_ne!(name_a, name_b);
    assert!(name_a.chars().count() <= 64, "{name_a}");
}

/// One database's interrupted upgrade was reported as "running" while a runner held the lock of
/// another database whose name shares a long prefix.
#[test]
fn mysql_interrupted_upgrade_is_not_reported_running_because_of_another_database() {
    let Some((a, b)) = mysql_pair() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut killed = SlowRun::start(upgrader(dir.path(), Some(&a.url)), 60_000);
    killed.child.kill().unwrap(); // SIGKILL: the start mark stays
    killed.finish();
    // The server drops the killed runner's lock when it notices the closed connection.
    let held = LockId::of(&a.database_url(), DEFAULT_SCOPE)
        .unwrap()
        .session_sql()
        .expect("a session lock")
        .holders;
    let mut conn = a.connect();
    for _ in 0..100 {
        if conn.query_i64(&held).unwrap() == Some(0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        conn.query_i64(&held).unwrap(),
        Some(0),
        "the killed runner's lock is gone"
    );

    let running = SlowRun::start(upgrader(dir.path(), Some(&b.url)), 4000);
    let out = output(upgrader(dir.path(), Some(&a.url)).args(["show", "pending"]));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("interrupted: `fixtures_2024_01_01_slow`"),
        "{stderr}"
    );
    assert!(!stderr.contains("running now"), "{stderr}");
    let out = output(upgrader(dir.path(), Some(&a.url)).arg("check"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error: interrupted: `fixtures_2024_01_01_slow`"),
        "{}",
        text(&out.stderr)
    );
    let (code, rest) = running.finish();
    assert_eq!(code, Some(0), "{rest}");
}
