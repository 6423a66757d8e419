//! Shared support for the end-to-end tests: a fresh database per test on each backend.
//!
//! The `upgrader-fixtures` binary (src/bin) is the real CLI with the example modules and a few
//! fixture upgrades (one that sleeps, one that fails on demand) linked in.

use std::sync::atomic::{AtomicUsize, Ordering};

use upgrader_core::{Backend, DatabaseUrl};

/// The environment variables that name the test servers.
pub const POSTGRES_VAR: &str = "UPGRADER_TEST_POSTGRES_URL";
/// See [`POSTGRES_VAR`].
pub const MYSQL_VAR: &str = "UPGRADER_TEST_MYSQL_URL";

/// A database made for one test, dropped at the end (SQLite: a file in a temporary directory).
#[derive(Debug)]
pub struct TestDb {
    /// The URL to give the engine or the binary.
    pub url: String,
    backend: Backend,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database name no other test uses: `upgrader_test_<pid>_<counter>_<nanos>`.
pub fn unique_name() -> String {
    format!(
        "upgrader_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}

impl TestDb {
    /// A fresh database on `backend`, or `None` (after saying so on stderr) when that backend's
    /// server is not configured. In CI (`CI` set) a missing server is a failure instead.
    pub fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Postgres => Self::server(backend, POSTGRES_VAR),
            Backend::Mysql => Self::server(backend, MYSQL_VAR),
            _ => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = dir.path().join("upgrader.db").to_string_lossy().into_owned();
                Some(TestDb {
                    url,
                    backend,
                    admin_url: None,
                    name: String::new(),
                    _dir: Some(dir),
                })
            }
        }
    }

    /// Like [`TestDb::new`] on a server, with a database of this name (start it with
    /// [`unique_name`] so that it is the test's own).
    pub fn named(backend: Backend, name: &str) -> Option<TestDb> {
        let var = match backend {
            Backend::Postgres => POSTGRES_VAR,
            Backend::Mysql => MYSQL_VAR,
            _ => panic!("only a server's databases have names"),
        };
        Self::server_named(backend, var, name.to_owned())
    }

    fn server(backend: Backend, var: &str) -> Option<TestDb> {
        Self::server_named(backend, var, unique_name())
    }

    fn server_named(backend: Backend, var: &str, name: String) -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(var) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{var} is not set: CI must run the {backend} tests"
            );
            #[allow(clippy::print_stderr)]
            {
                eprintln!("SKIPPED: {backend} test ({var} is not set)");
            }
            return None;
        };
        let mut admin = DatabaseUrl::parse(&admin_url)
            .expect("a valid admin URL")
            .connect()
            .expect("the test server answers");
        admin
            .execute(&format!("CREATE DATABASE {name}"))
            .expect("CREATE DATABASE");
        let base = admin_url.trim_end_matches('/');
        let base = match base.rfind('/') {
            Some(i) if base[..i].ends_with('/') => base, // no database part: postgres://host
            Some(i) => &base[..i],
            None => base,
        };
        Some(TestDb {
            url: format!("{base}/{name}"),
            backend,
            admin_url: Some(admin_url),
            name,
            _dir: None,
        })
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The parsed URL.
    pub fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url).expect("a valid test URL")
    }

    /// A new connection to the test database.
    pub fn connect(&self) -> upgrader_core::AnyConnection {
        self.database_url().connect().expect("the test database answers")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin_url) = &self.admin_url else { return };
        if let Ok(mut admin) = DatabaseUrl::parse(admin_url).and_then(|u| u.connect()) {
            let force = if self.backend == Backend::Postgres {
                " WITH (FORCE)"
            } else {
                ""
            };
            let _ = admin.execute(&format!("DROP DATABASE IF EXISTS {}{force}", self.name));
        }
    }
}

/// The backends to run a test on: all three (the servers' tests skip themselves when unset).
pub const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];

/// Turns each `fn name(db: &TestDb)` into three tests, `sqlite::name`, `postgres::name` and
/// `mysql::name`, each on a fresh database (the server ones skip themselves outside CI when their
/// server is not configured).
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { if let Some(db) = $crate::TestDb::new(upgrader_core::Backend::Sqlite) { super::$name(&db) } } )*
        }
        mod postgres {
            $( #[test] fn $name() { if let Some(db) = $crate::TestDb::new(upgrader_core::Backend::Postgres) { super::$name(&db) } } )*
        }
        mod mysql {
            $( #[test] fn $name() { if let Some(db) = $crate::TestDb::new(upgrader_core::Backend::Mysql) { super::$name(&db) } } )*
        }
    };
}

impl TestDb {
    /// Everything in the database, as text to compare before and after a command that must
    /// change nothing: each table with its columns and types, its row count, and each column's
    /// values sorted. SQLite is read through the engine's read-only connection (no WAL switch, no
    /// file created); a missing SQLite file is `<no database file>`.
    pub fn snapshot(&self) -> String {
        if self.backend == Backend::Sqlite && !std::path::Path::new(&self.url).exists() {
            return "<no database file>".into();
        }
        let mut conn = self
            .database_url()
            .connect_read_only()
            .expect("a read-only connection");
        snapshot(&mut conn)
    }
}

/// A [`TestDb::snapshot`] without the run journal's tables (`*_run`, `*_run_upgrade`): what a
/// command that failed must have left unchanged, the journal's record of the failure aside.
pub fn without_journal(snapshot: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in snapshot.lines() {
        if !line.starts_with(' ') {
            let table = line.split(' ').next().unwrap_or_default();
            skipping = table.ends_with("_run") || table.ends_with("_run_upgrade");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The outcome of the newest row of the run journal of the history `upgrade`.
pub fn last_run_outcome(db: &TestDb) -> Option<String> {
    db.connect()
        .query_text("SELECT outcome AS value FROM upgrade_run ORDER BY id DESC LIMIT 1")
        .expect("the run journal can be read")
}

/// The fixtures binary at `binary` (`env!("CARGO_BIN_EXE_upgrader-fixtures")`, which only the
/// test targets see) run in `dir`, against `url` when given, with no terminal, none of the
/// fixtures' switches, and no log file (the log file has tests of its own, in upgrader-cli's
/// `run_events`; these leave nothing in `dir`).
pub fn fixtures_command(binary: &str, dir: &std::path::Path, url: Option<&str>) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary);
    cmd.arg("--log-file=")
        .env_remove("UPGRADER_DATABASE_URL")
        .env_remove("UPGRADER_TEST_SLEEP_MS")
        .env_remove("UPGRADER_TEST_FAIL")
        .env_remove("UPGRADER_TEST_PANIC")
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    if let Some(url) = url {
        cmd.env("UPGRADER_DATABASE_URL", url);
    }
    cmd
}

/// A finished command's exit code, stdout and stderr, for an assertion's message.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// See [`TestDb::snapshot`]. The tables, their columns and the SQL that reads each value as text
/// come from the engine's dialect of the connection's backend.
pub fn snapshot(conn: &mut upgrader_core::AnyConnection) -> String {
    let tables =
        upgrader_core::__test::tables(conn).unwrap_or_else(|e| panic!("snapshot: listing the tables: {e}"));
    let mut out = String::new();
    for (table, columns) in tables {
        let count = conn
            .query_i64(&format!("SELECT COUNT(*) AS value FROM \"{table}\""))
            .expect("count rows")
            .unwrap_or(0);
        let declared: Vec<String> = columns.iter().map(|(name, ty)| format!("{name} {ty}")).collect();
        out.push_str(&format!("{table} ({}): {count} row(s)\n", declared.join(", ")));
        for (name, _) in &columns {
            let value = upgrader_core::__test::value_as_text(conn, name);
            let sql = format!("SELECT {value} AS value FROM \"{table}\"");
            let mut values: Vec<String> = conn
                .query_texts(&sql)
                .unwrap_or_else(|e| panic!("snapshot query failed: {e}: {sql}"))
                .into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect();
            values.sort();
            out.push_str(&format!("  {name}: {}\n", values.join("|")));
        }
    }
    out
}

/// A server ends a killed client's session (and its lock) when it notices the closed connection,
/// usually at once; until then the killed runner's upgrade is rightly shown as running.
pub fn wait_for_the_server_to_drop_the_lock(db: &TestDb) {
    let id = upgrader_core::LockId::of(&db.database_url(), upgrader_core::DEFAULT_SCOPE).unwrap();
    let Some(sql) = id.session_sql() else {
        return; // the kernel drops a dead process's flock with the process
    };
    let mut conn = db.connect();
    for _ in 0..100 {
        if conn.query_i64(&sql.holders).unwrap() == Some(0) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the server still holds the killed runner's lock after 10s");
}

/// A `run --yes-i-know` whose slow fixture upgrade sleeps (`UPGRADER_TEST_SLEEP_MS`), started by
/// [`SlowRun::start`] and returned once it sleeps, holding the run lock.
#[derive(Debug)]
pub struct SlowRun {
    /// The runner.
    pub child: std::process::Child,
    stderr: std::thread::JoinHandle<String>,
}

impl SlowRun {
    /// Starts `runner` (a fixtures binary with its database chosen) as `run --yes-i-know`, with
    /// the slow fixture sleeping `sleep_ms`, and returns once it sleeps.
    pub fn start(mut runner: std::process::Command, sleep_ms: u64) -> SlowRun {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let mut child = runner
            .args(["run", "--yes-i-know"])
            .env("UPGRADER_TEST_SLEEP_MS", sleep_ms.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("sleeping") => break,
                Some(Ok(line)) => seen.push(line),
                _ => panic!(
                    "the runner ended before the slow upgrade: {seen:?} {:?}",
                    child.wait()
                ),
            }
        }
        // Keep reading stderr so the child never blocks on a full pipe.
        let stderr = std::thread::spawn(move || lines.map_while(Result::ok).map(|l| l + "\n").collect());
        SlowRun { child, stderr }
    }

    /// Waits for the runner to end: its exit code and the stderr it printed after `sleeping`.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        (status.code(), self.stderr.join().unwrap())
    }
}
