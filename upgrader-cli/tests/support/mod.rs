//! Running the real binary in a temporary directory against a fresh database.

use assert_cmd::Command;
use upgrader_core::Backend;
use upgrader_tests::TestDb;

/// The demo `upgrader` binary (`examples/upgrader.rs`: the CLI with the example modules linked
/// in), with no database configured from the environment.
pub(crate) fn upgrader() -> Command {
    let mut cmd = Command::new(demo_binary());
    cmd.env_remove("UPGRADER_DATABASE_URL");
    cmd
}

/// `cargo test` builds the package's examples into `<target>/<profile>/examples`, beside the
/// `deps` directory that holds this test binary.
pub(crate) fn demo_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test binary is in <target>/<profile>/deps");
    let path = profile
        .join("examples")
        .join(format!("upgrader{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run `cargo test` without target filters, or `cargo build -p upgrader-cli --example upgrader` first",
        path.display()
    );
    path
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
