//! Every wait is bounded and named: another session holding a lock (on the history, or on a table
//! an estimate, a check or an upgrade touches) makes each command give up after the configured
//! wait instead of hanging, with an `error:` line saying what waited, how long, and who holds the
//! lock; the database is unchanged.
//!
//! The lock is held by a thread with a connection of its own ([`Holder`]), released when the
//! holder is dropped, also when an assertion fails; every command is killed (and the test fails)
//! if it is still running after [`DEADLINE`].

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use upgrader_core::{AnyConnection, Backend};
use upgrader_tests::{TestDb, last_run_outcome, on_every_backend, without_journal};

use crate::support::{EVERY_COMMAND, assert_refused, text, upgrader};

/// A command still running after this long hangs: it is killed and the test fails. (Not a
/// measure of speed: every wait here is configured to give up within a few seconds.)
const DEADLINE: Duration = Duration::from_secs(90);
/// A wait timeout longer than [`DEADLINE`]: a wait that must be bounded by something shorter
/// (the run's lock timeout) would make the command hang past the deadline.
const LONG_WAIT: &str = "600";
/// How long a holder holds at most, should its test never let it go.
const HOLD_AT_MOST: Duration = Duration::from_secs(300);
/// The PostgreSQL holder's application name, which the error must show.
const HOLDER_NAME: &str = "timeouts-holder";

/// Runs `cmd` to its end; kills it and fails after [`DEADLINE`].
fn finish(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the fixtures binary starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hangs: still running after {DEADLINE:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}

/// Another session holding locks, on a thread of its own, until dropped.
struct Holder {
    release: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Its id as the error must name it: the PostgreSQL backend pid, the MySQL connection id,
    /// the process id for SQLite.
    id: i64,
}

impl Holder {
    /// Opens a connection with `open`, runs `take`, holds until dropped, then runs `give_back`.
    fn start(
        open: impl FnOnce() -> AnyConnection + Send + 'static,
        take: &str,
        give_back: &'static str,
    ) -> Holder {
        let take = take.to_owned();
        let (ready, is_ready) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut conn = open();
            let id = match conn.backend() {
                Backend::Postgres => conn.query_i64("SELECT CAST(pg_backend_pid() AS BIGINT) AS value"),
                Backend::Mysql => conn.query_i64("SELECT CAST(CONNECTION_ID() AS SIGNED) AS value"),
                _ => Ok(Some(i64::from(std::process::id()))),
            }
            .expect("the holder's id")
            .expect("an id");
            conn.batch_execute(&take)
                .unwrap_or_else(|e| panic!("the holder cannot take its lock: {e}: {take}"));
            let _ = ready.send(id);
            // Dropped (or, at the latest, HOLD_AT_MOST): give the lock back.
            let _ = released.recv_timeout(HOLD_AT_MOST);
            let _ = conn.batch_execute(give_back);
        });
        let id = is_ready
            .recv_timeout(Duration::from_secs(60))
            .expect("the holder took its lock");
        Holder {
            release: Some(release),
            thread: Some(thread),
            id,
        }
    }

    /// How the error names this holder.
    fn named(&self, backend: Backend) -> String {
        match backend {
            Backend::Postgres => format!("PostgreSQL backend {} ({HOLDER_NAME}", self.id),
            Backend::Mysql => format!("connection {} (", self.id),
            _ => format!("process {} ", self.id),
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A session of its own on the test database (for PostgreSQL, named [`HOLDER_NAME`]).
fn session(db: &TestDb) -> impl FnOnce() -> AnyConnection + Send + 'static {
    let url = db.database_url();
    move || {
        let mut conn = url.connect().expect("the holder connects");
        if conn.backend() == Backend::Postgres {
            conn.batch_execute(&format!("SET application_name = '{HOLDER_NAME}'"))
                .expect("application_name");
        }
        conn
    }
}

/// An SQLite session that leaves the file's journal mode alone (the engine's connections switch
/// it to WAL).
fn plain_sqlite(db: &TestDb) -> impl FnOnce() -> AnyConnection + Send + 'static {
    let path = db.url.clone();
    move || {
        use upgrader_core::diesel::Connection;
        AnyConnection::Sqlite(
            upgrader_core::SqliteConnection::establish(&path).expect("an SQLite connection"),
        )
    }
}

/// Holds every table of the history (SQLite: the whole file, in rollback-journal mode, where a
/// writer keeps readers out too).
fn lock_the_history(db: &TestDb) -> Holder {
    match db.backend() {
        Backend::Postgres => Holder::start(
            session(db),
            "BEGIN; LOCK TABLE upgrade IN ACCESS EXCLUSIVE MODE",
            "ROLLBACK",
        ),
        Backend::Mysql => Holder::start(session(db), "LOCK TABLES upgrade WRITE", "UNLOCK TABLES"),
        _ => Holder::start(
            plain_sqlite(db),
            "PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE",
            "ROLLBACK",
        ),
    }
}

/// A database with every upgrade applied, then `forget` removed from the history again (pending,
/// though their work is there: the runs here never get to it).
fn applied_but(db: &TestDb, dir: &Path, forget: &[&str]) {
    let out = finish(upgrader(dir, Some(&db.url)).args(["run", "--yes-i-know"]));
    assert!(out.status.success(), "the first run: {}", text(&out.stderr));
    if !forget.is_empty() {
        let ids: Vec<String> = forget.iter().map(|id| format!("'{id}'")).collect();
        db.connect()
            .execute(&format!(
                "DELETE FROM upgrade WHERE upgrade IN ({})",
                ids.join(", ")
            ))
            .expect("forget");
    }
}

fn workdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a working directory")
}

/// `show`, `check`, `run`, `populate` and `mark` meeting a foreign lock on the history used to
/// wait for it forever (PostgreSQL has no lock timeout by default, MariaDB's is a day, SQLite's
/// busy timeout was 30s): each gives up after `--wait-timeout`, naming the holder.
fn every_command_gives_up_on_a_locked_history_naming_the_holder(db: &TestDb) {
    let dir = workdir();
    applied_but(db, dir.path(), &[]);
    let before = db.snapshot();
    let holder = lock_the_history(db);
    for command in EVERY_COMMAND {
        let out = finish(
            upgrader(dir.path(), Some(&db.url))
                .args(["--wait-timeout", "1"])
                .args(command),
        );
        if command[0] == "resolve" {
            // It reads only the start marks, which nobody holds: "not an interrupted upgrade".
            assert_refused(&out, 1, "");
            continue;
        }
        let stderr = assert_refused(&out, 1, "waited 1s for ");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_default();
        assert!(line.contains(&holder.named(db.backend())), "{command:?}: {line}");
        match db.backend() {
            Backend::Postgres => assert!(line.contains("AccessExclusiveLock on upgrade"), "{line}"),
            Backend::Sqlite => assert!(line.contains(&db.url), "{line}"),
            _ => {}
        }
        if command[0] != "populate" && command[0] != "mark" {
            assert!(
                line.starts_with("error: reading the history table `upgrade`: "),
                "{command:?}: {line}"
            );
        }
        assert!(
            stderr.contains("\nhint: end that session"),
            "{command:?}: {stderr}"
        );
    }
    drop(holder);
    assert_eq!(db.snapshot(), before, "a refused command changed the database");
}

/// `wait_timeout_secs` in upgrader.toml sets the wait as the flag does.
fn the_wait_timeout_comes_from_the_configuration_file_too(db: &TestDb) {
    let dir = workdir();
    applied_but(db, dir.path(), &[]);
    std::fs::write(dir.path().join("upgrader.toml"), "wait_timeout_secs = 1\n").expect("upgrader.toml");
    let holder = lock_the_history(db);
    let out = finish(upgrader(dir.path(), Some(&db.url)).args(["show", "applied"]));
    let stderr = assert_refused(&out, 1, "reading the history table `upgrade`: waited 1s for ");
    assert!(stderr.contains(&holder.named(db.backend())), "{stderr}");
}

/// The statement timeout cancels a statement held up by a lock before the wait timeout does
/// (SQLite has no statement timeout: its busy timeout still decides).
fn the_statement_timeout_cancels_a_statement_first(db: &TestDb) {
    let dir = workdir();
    applied_but(db, dir.path(), &[]);
    let before = db.snapshot();
    let holder = lock_the_history(db);
    let (wait, expected) = match db.backend() {
        Backend::Sqlite => (
            "1",
            "reading the history table `upgrade`: waited 1s for the SQLite file",
        ),
        _ => (
            LONG_WAIT,
            "reading the history table `upgrade`: the statement ran longer than the statement timeout (1s) and was cancelled",
        ),
    };
    let out = finish(upgrader(dir.path(), Some(&db.url)).args([
        "--wait-timeout",
        wait,
        "--statement-timeout",
        "1",
        "show",
        "pending",
    ]));
    let stderr = assert_refused(&out, 1, expected);
    if db.backend() != Backend::Sqlite {
        assert!(stderr.contains("hint: --statement-timeout"), "{stderr}");
    }
    drop(holder);
    assert_eq!(db.snapshot(), before);
}

/// `run --lock-timeout 1` used to read the status and compute the estimates before taking its
/// lock, with no bound: an estimate reading a locked table waited for it forever. Everything
/// before the first upgrade now waits at most the run's lock timeout, even with a far longer
/// wait timeout.
fn run_lock_timeout_bounds_the_estimates_and_checks(db: &TestDb) {
    let dir = workdir();
    // `records_2024_03_05_add_version_id` pending: its estimate and its pre_upgrade read
    // `records`.
    applied_but(
        db,
        dir.path(),
        &[
            "records_2024_03_05_add_version_id",
            "search_2024_04_01_initial",
            "search_2024_05_10_rebuild_index",
            "examples_release_1_0_0",
            "accounts_2024_06_01_add_last_login",
        ],
    );
    let before = db.snapshot();
    let holder = match db.backend() {
        Backend::Postgres => Holder::start(
            session(db),
            "BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE",
            "ROLLBACK",
        ),
        Backend::Mysql => Holder::start(session(db), "LOCK TABLES records WRITE", "UNLOCK TABLES"),
        // SQLite locks the whole file: the history read is the first to wait.
        _ => lock_the_history(db),
    };
    let out = finish(upgrader(dir.path(), Some(&db.url)).args([
        "--wait-timeout",
        LONG_WAIT,
        "run",
        "--yes-i-know",
        "--lock-timeout",
        "1",
    ]));
    let bounded = "waited 1s (the run's lock timeout) for ";
    let stderr = match db.backend() {
        Backend::Sqlite => assert_refused(
            &out,
            1,
            &format!("reading the history table `upgrade`: {bounded}"),
        ),
        _ => {
            let stderr = assert_refused(
                &out,
                1,
                &format!(
                    "pre-run check(s) failed, nothing was applied: records_2024_03_05_add_version_id: {bounded}"
                ),
            );
            assert!(
                stderr.contains(&format!("its estimate failed: {bounded}")),
                "the estimate did not give up after the run's lock timeout: {stderr}"
            );
            stderr
        }
    };
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(line.contains(&holder.named(db.backend())), "{line}");
    if db.backend() == Backend::Postgres {
        assert!(line.contains("AccessExclusiveLock on records"), "{line}");
    }
    assert!(stderr.contains("hint: "), "{stderr}");
    drop(holder);
    assert_eq!(db.snapshot(), before, "a refused run changed the database");
}

on_every_backend!(
    every_command_gives_up_on_a_locked_history_naming_the_holder,
    the_wait_timeout_comes_from_the_configuration_file_too,
    the_statement_timeout_cancels_a_statement_first,
    run_lock_timeout_bounds_the_estimates_and_checks,
);

/// In WAL mode a writer does not keep readers out: `show` and `check` answer as usual while
/// another connection holds `BEGIN EXCLUSIVE`, and `run` gives up at its first write after the
/// wait timeout, naming the file and the process.
#[test]
fn sqlite_wal_readers_answer_while_a_writer_holds_the_file_and_run_gives_up() {
    let db = TestDb::new(Backend::Sqlite).expect("SQLite");
    let dir = workdir();
    applied_but(&db, dir.path(), &["fixtures_2024_01_02_flaky"]);
    let looks: [&[&str]; 3] = [
        &["show", "applied", "--json"],
        &["show", "pending", "--json"],
        &["check", "--json"],
    ];
    let answers: Vec<Output> = looks
        .iter()
        .map(|args| finish(upgrader(dir.path(), Some(&db.url)).args(*args)))
        .collect();
    let before = db.snapshot();
    // The engine's own connection: the file is in WAL mode already.
    let holder = Holder::start(
        session(&db),
        "BEGIN EXCLUSIVE; DELETE FROM slow_marker",
        "ROLLBACK",
    );
    for (args, answer) in looks.iter().zip(&answers) {
        let out = finish(
            upgrader(dir.path(), Some(&db.url))
                .args(["--wait-timeout", "1"])
                .args(*args),
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), text(&answer.stdout), "{args:?}");
    }
    let out =
        finish(upgrader(dir.path(), Some(&db.url)).args(["--wait-timeout", "1", "run", "--yes-i-know"]));
    let stderr = assert_refused(
        &out,
        1,
        &format!(
            // The run's first write is its row in the journal.
            "recording the start of a run in `upgrade_run`: waited 1s for the SQLite file {}, which another connection has locked, and gave up: {}",
            db.url,
            holder.named(Backend::Sqlite)
        ),
    );
    assert!(stderr.contains("is writing it"), "{stderr}");
    drop(holder);
    assert_eq!(db.snapshot(), before, "a refused run changed the database");
}

/// An idle transaction that only read a table holds up an upgrade's `ALTER TABLE` on it: the
/// upgrade gives up after the wait timeout, naming the idle session.
fn an_idle_transaction_holds_up_an_upgrade(backend: Backend) {
    let Some(db) = TestDb::new(backend) else { return };
    let dir = workdir();
    applied_but(&db, dir.path(), &["accounts_2024_06_01_add_last_login"]);
    db.connect()
        .execute("ALTER TABLE users DROP COLUMN last_login_at")
        .expect("undo the upgrade");
    let before = db.snapshot();
    let holder = Holder::start(session(&db), "BEGIN; SELECT COUNT(*) FROM users", "ROLLBACK");
    let out =
        finish(upgrader(dir.path(), Some(&db.url)).args(["--wait-timeout", "1", "run", "--yes-i-know"]));
    let stderr = assert_refused(
        &out,
        1,
        "upgrade `accounts_2024_06_01_add_last_login` failed: waited 1s for a lock another session holds, and gave up",
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    let named = holder.named(backend);
    assert!(line.contains(&named), "{line}");
    drop(holder);
    match backend {
        Backend::Postgres => {
            assert!(line.contains("idle in transaction since"), "{line}");
            assert!(line.contains("AccessShareLock on users"), "{line}");
            // Only the journal's record of the failure is new.
            assert_eq!(
                without_journal(&db.snapshot()),
                without_journal(&before),
                "the failed upgrade was not rolled back"
            );
            assert_eq!(last_run_outcome(&db).as_deref(), Some("failed"));
        }
        _ => {
            // MySQL commits DDL as it goes: the upgrade is left interrupted, with why.
            let out = finish(upgrader(dir.path(), Some(&db.url)).args(["check"]));
            assert_eq!(out.status.code(), Some(1));
            let stderr = text(&out.stderr);
            assert!(
                stderr.contains("interrupted: `accounts_2024_06_01_add_last_login` failed after starting")
                    && stderr.contains(&named),
                "{stderr}"
            );
        }
    }
}

#[test]
fn postgres_an_idle_transaction_holds_up_an_upgrade() {
    an_idle_transaction_holds_up_an_upgrade(Backend::Postgres);
}

#[test]
fn mysql_an_idle_transaction_holds_up_an_upgrade() {
    an_idle_transaction_holds_up_an_upgrade(Backend::Mysql);
}

/// A row lock (another transaction selected the history row `FOR UPDATE`) holds up `mark
/// --pending`, which deletes that row: it gives up after the wait timeout (InnoDB's row lock
/// wait on MySQL/MariaDB, `lock_timeout` on PostgreSQL), naming the holder.
fn a_row_lock_holds_up_mark(backend: Backend) {
    let Some(db) = TestDb::new(backend) else { return };
    let dir = workdir();
    applied_but(&db, dir.path(), &[]);
    let before = db.snapshot();
    let holder = Holder::start(
        session(&db),
        "BEGIN; SELECT upgrade FROM upgrade WHERE upgrade = 'accounts_2024_06_01_add_last_login' FOR UPDATE",
        "ROLLBACK",
    );
    let out = finish(upgrader(dir.path(), Some(&db.url)).args([
        "--wait-timeout",
        "1",
        "mark",
        "accounts_2024_06_01_add_last_login",
        "--pending",
        "--yes-i-know",
    ]));
    let stderr = assert_refused(
        &out,
        1,
        "removing `accounts_2024_06_01_add_last_login` from the history: waited 1s for a lock another session holds, and gave up",
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(line.contains(&holder.named(backend)), "{line}");
    drop(holder);
    // Only the journal's record of the failure is new.
    assert_eq!(without_journal(&db.snapshot()), without_journal(&before));
    assert_eq!(last_run_outcome(&db).as_deref(), Some("failed"));
}

#[test]
fn postgres_a_row_lock_holds_up_mark() {
    a_row_lock_holds_up_mark(Backend::Postgres);
}

#[test]
fn mysql_a_row_lock_holds_up_mark() {
    a_row_lock_holds_up_mark(Backend::Mysql);
}

/// A wait of 0 would fail every statement that meets a lock; timeouts past what the backends
/// take would be cut silently. Refused, as flags (usage, exit 2) and in upgrader.toml (exit 1),
/// before anything is opened.
#[test]
fn out_of_range_timeouts_are_refused() {
    let dir = workdir();
    let db = dir.path().join("app.db");
    let db = db.to_str().expect("a UTF-8 path");
    for arg in [
        "--wait-timeout=0",
        "--wait-timeout=2147484",
        "--statement-timeout=2147484",
        "--wait-timeout=-1",
        "--statement-timeout=soon",
    ] {
        let out = finish(upgrader(dir.path(), Some(db)).args([arg, "show", "applied"]));
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).starts_with("error: invalid value"),
            "{}",
            text(&out.stderr)
        );
    }
    for (config, error) in [
        (
            "wait_timeout_secs = 0",
            "`wait_timeout_secs`: the wait timeout must be from 1 to 2147483 seconds, not 0",
        ),
        (
            "statement_timeout_secs = 2147484",
            "`statement_timeout_secs`: the statement timeout must be from 0 (no limit) to 2147483 seconds",
        ),
        ("wait_timeout_secs = -1", "invalid configuration"),
        ("statement_timeout_secs = \"1h\"", "invalid configuration"),
    ] {
        std::fs::write(dir.path().join("upgrader.toml"), config).expect("upgrader.toml");
        for command in EVERY_COMMAND {
            let out = finish(upgrader(dir.path(), Some(db)).args(command));
            assert_refused(&out, 1, error);
        }
    }
    assert!(!Path::new(db).exists(), "a refused command created the database");
}
