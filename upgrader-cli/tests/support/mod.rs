//! Running the real binary in a temporary directory against a fresh database.

use assert_cmd::Command;
use upgrader_core::Backend;
use upgrader_tests::TestDb;

/// The demo `upgrader` binary (`examples/upgrader.rs`: the CLI with the example modules linked
/// in), with no database configured from the environment.
pub(crate) fn upgrader() -> Command {
    let mut cmd = Command::new(example_binary("upgrader"));
    cmd.env_remove("UPGRADER_DATABASE_URL");
    cmd
}

/// An example of this package (`upgrader`: the demo; `myapp`: an application that mounts the
/// command set as a subcommand), built (or found up to date) once per test process: `cargo test`
/// with a target filter (`--test cli`) builds no examples, and a stale one would test old code.
pub(crate) fn example_binary(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let examples = BUILT.get_or_init(|| {
        // Beside the `deps` directory that holds this test binary, in the same profile.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile = exe
            .parent()
            .and_then(std::path::Path::parent)
            .expect("the test binary is in <target>/<profile>/deps")
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build
            .args([
                "build",
                "--offline",
                "-p",
                "upgrader-cli",
                "--examples",
                "--message-format",
                "short",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile.ends_with("release") {
            build.arg("--release");
        }
        let output = build.output().expect("cargo runs");
        assert!(
            output.status.success(),
            "building the examples failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        profile.join("examples")
    });
    examples.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// A working directory and a fresh database.
pub(crate) struct Demo {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) url: String,
    _db: Option<TestDb>,
}

impl Demo {
    /// The embedded default: `upgrader.db` in a fresh working directory, no URL given.
    pub(crate) fn sqlite() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("upgrader.db").to_string_lossy().into_owned();
        Demo { dir, url, _db: None }
    }

    /// A fresh database on `backend`; `None` when that server is not configured (outside CI).
    pub(crate) fn new(backend: Backend) -> Option<Demo> {
        if backend == Backend::Sqlite {
            return Some(Demo::sqlite());
        }
        let db = TestDb::new(backend)?;
        Some(Demo {
            dir: tempfile::tempdir().unwrap(),
            url: db.url.clone(),
            _db: Some(db),
        })
    }

    /// The binary in the working directory; the URL passed explicitly except for the default.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = upgrader();
        cmd.current_dir(self.dir.path());
        if self._db.is_some() {
            cmd.env("UPGRADER_DATABASE_URL", &self.url);
        }
        cmd.args(args);
        cmd
    }
}

impl Demo {
    /// A read-write connection to the demo's database, for setting up a state by hand.
    pub(crate) fn connect(&self) -> upgrader_core::AnyConnection {
        upgrader_core::DatabaseUrl::parse(&self.url)
            .unwrap()
            .connect()
            .expect("the demo database answers")
    }

    /// Everything in the database ([`upgrader_tests::snapshot`]), to compare before and after a
    /// command that must change nothing; SQLite is read through a read-only connection.
    pub(crate) fn snapshot(&self) -> String {
        if let Some(db) = &self._db {
            return db.snapshot();
        }
        if !std::path::Path::new(&self.url).exists() {
            return "<no database file>".into();
        }
        let mut conn = upgrader_core::DatabaseUrl::parse(&self.url)
            .unwrap()
            .connect_read_only()
            .expect("a read-only SQLite connection");
        upgrader_tests::snapshot(&mut conn)
    }
}
