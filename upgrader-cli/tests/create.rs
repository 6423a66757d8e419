//! `upgrader create recipe` and `upgrader create release`, run as a module author would.
//!
//! One slow test builds an application's own upgrader over a temporary copy of
//! `example-modules`, creates upgrades with it, rebuilds, and lists them. Everything else runs the
//! workspace's `upgrader` binary with `--output` into temporary directories: these tests never
//! write into `example-modules` itself.

// The rest of `support` serves the other test binary.
#[path = "create/choices.rs"]
mod choices;
#[allow(dead_code)]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use predicates::prelude::*;
use serde_json::Value;
use support::upgrader;

/// The workspace's root directory.
fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Today's date as upgrade ids spell it, in UTC like `create recipe`.
fn today() -> String {
    chrono::Utc::now().format("%Y_%m_%d").to_string()
}

/// Every file under `dir`, relative to it, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of `example-modules` in a workspace of its own, beside an `app` crate whose binary is
/// what an application builds: `upgrader_cli::main()` with the (copied) modules linked in.
struct ExampleCopy {
    dir: tempfile::TempDir,
}

impl ExampleCopy {
    fn new() -> ExampleCopy {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let ws = workspace();
        copy_dir(&ws.join("example-modules/src"), &root.join("example-modules/src"));
        fs::copy(
            ws.join("example-modules/Cargo.toml"),
            root.join("example-modules/Cargo.toml"),
        )
        .unwrap();
        // The same versions as the workspace resolves, so nothing is downloaded.
        fs::copy(ws.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
        // The workspace's `[workspace.package]` and lints, which the copied manifest inherits.
        let manifest = fs::read_to_string(ws.join("Cargo.toml")).unwrap();
        let inherited: String = manifest
            .split("\n[")
            .filter(|section| {
                section.starts_with("workspace.package]") || section.starts_with("workspace.lints")
            })
            .map(|section| format!("[{}\n", section.trim_end()))
            .collect();
        let core = ws.join("upgrader-core").display().to_string();
        let cli = ws.join("upgrader-cli").display().to_string();
        fs::write(
            root.join("Cargo.toml"),
            format!(
                "[workspace]\nresolver = \"3\"\nmembers = [\"example-modules\", \"app\"]\n\n{inherited}\n\
                 [workspace.dependencies]\nupgrader-core = {{ path = {core:?} }}\n"
            ),
        )
        .unwrap();
        fs::create_dir_all(root.join("app/src")).unwrap();
        fs::write(
            root.join("app/Cargo.toml"),
            format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [dependencies]\nexample-modules = {{ path = \"../example-modules\" }}\n\
                 upgrader-cli = {{ path = {cli:?}, default-features = false, features = [\"sqlite\"] }}\n"
            ),
        )
        .unwrap();
        fs::write(
            root.join("app/src/main.rs"),
            "use std::process::ExitCode;\n\n// Name the module crates, or the linker drops their registrations.\n\
             use example_modules as _;\n\nfn main() -> ExitCode {\n    upgrader_cli::main()\n}\n",
        )
        .unwrap();
        ExampleCopy { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Builds the app (incrementally: the target directory is kept under the workspace's) and
    /// returns its binary. The build must not warn: generated files compile cleanly.
    fn build(&self) -> PathBuf {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| workspace().join("target"), PathBuf::from)
            .join("create-tests");
        let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--offline", "-p", "app", "--message-format", "short"])
            .current_dir(self.root())
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "the copy does not build:\n{stderr}");
        assert!(
            !stderr.contains("warning"),
            "the copy builds with warnings:\n{stderr}"
        );
        target.join("debug/app")
    }

    /// The app's binary, run in the copy's root.
    fn run(&self, app: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
        assert_cmd::Command::new(app)
            .current_dir(self.root())
            .env_remove("UPGRADER_DATABASE_URL")
            .args(args)
            .assert()
    }

    fn read(&self, path: &str) -> String {
        fs::read_to_string(self.root().join(path)).unwrap()
    }
}

/// The id in the first line of `create`'s output (`created <dir>/<id>.rs`).
fn created_id(assert: &assert_cmd::assert::Assert) -> String {
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let first = stdout.lines().next().unwrap();
    let path = first.strip_prefix("created ").expect(first);
    Path::new(path)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn created_upgrades_are_linked_at_the_next_build_with_the_dependencies_chosen() {
    let copy = ExampleCopy::new();
    let app = copy.build();

    // A recipe with the placeholder name, beside the module's upgrades, after its head.
    let before = today();
    let created = copy.run(&app, &["create", "recipe", "-p", "accounts"]).success();
    let accounts = created_id(&created);
    assert!(
        [
            format!("accounts_{before}_rename_me"),
            format!("accounts_{}_rename_me", today())
        ]
        .contains(&accounts),
        "{accounts}"
    );
    created
        .stdout(format!(
            "created example-modules/src/accounts/{accounts}.rs\n\
             declared it in example-modules/src/accounts/mod.rs\n\
             depends on: accounts_2024_06_01_add_last_login\n"
        ))
        .stderr(predicate::str::contains(
            "hint: rename `rename_me` to what the upgrade does: in the file name, the function name and both lines in example-modules/src/accounts/mod.rs",
        ));
    assert!(
        copy.read("example-modules/src/accounts/mod.rs")
            .ends_with(&format!("\nmod {accounts};\npub use {accounts}::*;\n"))
    );
    assert!(
        copy.read(&format!("example-modules/src/accounts/{accounts}.rs"))
            .contains("#[upgrade(depends_on = [super::accounts_2024_06_01_add_last_login])]")
    );

    // A named recipe in another module, whose head is behind the release: it depends on the
    // release, as the rules ask.
    let created = copy
        .run(&app, &["create", "recipe", "-p", "records", "-n", "add_tags"])
        .success();
    let records = created_id(&created);
    created.stdout(predicate::str::ends_with("depends on: examples_release_1_0_0\n"));
    assert!(
        copy.read(&format!("example-modules/src/records/{records}.rs"))
            .contains("#[upgrade(depends_on = [crate::releases::examples_release_1_0_0])]")
    );

    // A new module's first upgrade: `--output`, a module file created, no dependencies.
    let created = copy
        .run(
            &app,
            &[
                "create",
                "recipe",
                "-p",
                "billing",
                "-n",
                "initial",
                "--output",
                "example-modules/src/billing",
            ],
        )
        .success();
    let billing = created_id(&created);
    created
        .stdout(format!(
            "created example-modules/src/billing/{billing}.rs\n\
             created example-modules/src/billing/mod.rs declaring it\n\
             depends on: nothing (the module's first upgrade)\n"
        ))
        .stderr(predicate::str::contains(
            "hint: declare the new module in its parent's module file: `pub mod billing;`",
        ));
    // What the hint asks of the author.
    let lib = copy.root().join("example-modules/src/lib.rs");
    fs::write(&lib, fs::read_to_string(&lib).unwrap() + "pub mod billing;\n").unwrap();

    let app = copy.build();
    // The release takes its version from the crate (example-modules is 1.1.0) and depends on the
    // new heads; 1.0.0 is already behind the new accounts upgrade, so it is not named again.
    copy.run(
        &app,
        &[
            "create", "release", "-r", "examples", "-p", "accounts", "-p", "records", "-p", "billing",
        ],
    )
    .success()
    .stdout(format!(
        "created example-modules/src/releases/examples_release_1_1_0.rs\n\
             declared it in example-modules/src/releases/mod.rs\n\
             depends on: {accounts}, {billing}, {records}\n"
    ));
    let release = copy.read("example-modules/src/releases/examples_release_1_1_0.rs");
    assert!(
        release.contains(&format!(
            "#[upgrade(depends_on = [\n    crate::accounts::{accounts},\n    crate::billing::{billing},\n    crate::records::{records},\n])]"
        )),
        "{release}"
    );

    let app = copy.build();
    let output = copy
        .run(&app, &["--database-url", "fresh.db", "show", "pending", "--json"])
        .success();
    let pending: Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
    let pending: Vec<(&str, Vec<&str>)> = pending["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["depends_on"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap());
            (p["upgrade"].as_str().unwrap(), deps.collect())
        })
        .collect();
    let depends_on = |id: &str| {
        pending
            .iter()
            .find(|(p, _)| *p == id)
            .unwrap_or_else(|| panic!("{id} is not pending: {pending:?}"))
            .1
            .clone()
    };
    assert_eq!(depends_on(&accounts), ["accounts_2024_06_01_add_last_login"]);
    assert_eq!(depends_on(&records), ["examples_release_1_0_0"]);
    assert!(depends_on(&billing).is_empty());
    assert_eq!(
        depends_on("examples_release_1_1_0"),
        [accounts.as_str(), billing.as_str(), records.as_str()]
    );
    assert_eq!(pending.len(), 8 + 4);
    assert_eq!(pending.last().unwrap().0, "examples_release_1_1_0");
    copy.run(&app, &["--database-url", "fresh.db", "run", "--yes-i-know"])
        .success()
        .stderr(predicate::str::contains("12 upgrade(s) applied"));

    // Now linked, they are refused a second time, and nothing changes.
    let before = files(copy.root());
    let module_file = copy.read("example-modules/src/releases/mod.rs");
    copy.run(&app, &["create", "release", "-r", "examples", "-p", "accounts"])
        .code(1)
        .stderr(predicate::str::contains(
            "error: upgrade `examples_release_1_1_0` already exists (example-modules/src/releases/examples_release_1_1_0.rs:",
        ));
    assert_eq!(files(copy.root()), before);
    assert_eq!(copy.read("example-modules/src/releases/mod.rs"), module_file);
}

#[test]
fn recipe_file_says_what_to_do_and_names_another_crates_upgrade_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = upgrader()
        .current_dir(dir.path())
        .args([
            "create", "recipe", "-p", "records", "-n", "add_tags", "--output", "out",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let id = format!("records_{}_add_tags", today());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("created out/{id}.rs\ncreated out/mod.rs declaring it\ndepends on: examples_release_1_0_0\n")
    );
    let date = today();
    insta::with_settings!({filters => vec![(date.as_str(), "[today]")]}, {
        // Outside the crate of its dependency: named through that crate.
        insta::assert_snapshot!("recipe_file", fs::read_to_string(dir.path().join(format!("out/{id}.rs"))).unwrap());
        insta::assert_snapshot!("new_module_file", fs::read_to_string(dir.path().join("out/mod.rs")).unwrap());
    });
}

#[test]
fn release_file_depends_on_the_heads_since_the_previous_release() {
    let dir = tempfile::tempdir().unwrap();
    upgrader()
        .current_dir(dir.path())
        .args([
            "create", "release", "-r", "examples", "-p", "accounts", "-p", "search",
        ])
        .args(["--version", "1.1.0", "--output", "out"])
        .assert()
        .success()
        .stdout(
            "created out/examples_release_1_1_0.rs\ncreated out/mod.rs declaring it\n\
             depends on: accounts_2024_06_01_add_last_login\n",
        )
        .stderr(
            "hint: declare the new module in its parent's module file: `pub mod out;`\n\
             hint: the modules' next upgrades depend on `examples_release_1_1_0`\n",
        );
    insta::assert_snapshot!(
        "release_file",
        fs::read_to_string(dir.path().join("out/examples_release_1_1_0.rs")).unwrap()
    );
    // A repository with no release yet: every head of the modules.
    upgrader()
        .current_dir(dir.path())
        .args([
            "create",
            "release",
            "-r",
            "records_app",
            "-p",
            "records",
            "-p",
            "search",
        ])
        .args(["--version", "2.0.0", "--output", "out"])
        .assert()
        .success()
        .stdout(predicate::str::ends_with(
            "depends on: records_2024_03_05_add_version_id, search_2024_05_10_rebuild_index\n",
        ));
}

/// Runs `create` in `dir`; it must fail with `message` and a hint, and leave `dir` (and the
/// workspace's `example-modules`) as they were.
fn refused(dir: &Path, args: &[&str], message: &str) {
    let examples = workspace().join("example-modules/src");
    let (before, examples_before) = (files(dir), files(&examples));
    upgrader()
        .current_dir(dir)
        .args(args)
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::starts_with(format!("error: {message}"))
                .and(predicate::str::contains("\nhint: ")),
        );
    assert_eq!(files(dir), before, "{args:?} changed something");
    assert_eq!(
        files(&examples),
        examples_before,
        "{args:?} wrote into example-modules"
    );
}

#[test]
fn create_recipe_refuses_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["create", "recipe", "-p", "accounts", "--output", "out"];
    upgrader().current_dir(dir.path()).args(args).assert().success();
    let module_file = fs::read_to_string(dir.path().join("out/mod.rs")).unwrap();
    refused(
        dir.path(),
        &args,
        &format!("out/accounts_{}_rename_me.rs already exists", today()),
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("out/mod.rs")).unwrap(),
        module_file
    );
}

#[test]
fn create_recipe_refuses_a_name_that_is_not_an_identifier() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "add-tags",
        "add tags",
        "AddTags",
        "1st",
        "",
        "add__tags",
        "_tags",
        "tags_",
    ] {
        let args = [
            "create", "recipe", "-p", "accounts", "-n", name, "--output", "out",
        ];
        refused(
            dir.path(),
            &args,
            &format!("`{name}` is not a valid upgrade name"),
        );
    }
    let args = ["create", "recipe", "-p", "Billing", "--output", "out"];
    refused(dir.path(), &args, "`Billing` is not a valid module name");
}

#[test]
fn create_recipe_of_an_unknown_module_needs_output() {
    let dir = tempfile::tempdir().unwrap();
    refused(
        dir.path(),
        &["create", "recipe", "-p", "billing"],
        "module `billing` has no upgrades linked into this binary",
    );
    upgrader()
        .current_dir(dir.path())
        .args(["create", "recipe", "-p", "billing"])
        .assert()
        .stderr(predicate::str::contains(
            "hint: pass --output <DIR> to write its first upgrade there (known modules: accounts, examples, records, search)",
        ));
}

#[test]
fn create_recipe_refuses_a_directory_it_cannot_write() {
    // As root, permissions do not stop a write: use paths nobody can write.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file"), "").unwrap();
    refused(
        dir.path(),
        &["create", "recipe", "-p", "accounts", "--output", "file/upgrades"],
        "cannot write ",
    );
    refused(
        dir.path(),
        &["create", "recipe", "-p", "accounts", "--output", "file"],
        "file is not a directory",
    );
    if Path::new("/proc/self").exists() {
        refused(
            dir.path(),
            &[
                "create",
                "recipe",
                "-p",
                "accounts",
                "--output",
                "/proc/upgrader-create-test",
            ],
            "cannot write /proc/upgrader-create-test",
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_module_file_that_cannot_be_written_leaves_no_new_file() {
    // The new file is written first; when the module file then cannot be, it is removed again.
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("out")).unwrap();
    std::os::unix::fs::symlink("/proc/version", dir.path().join("out/mod.rs")).unwrap();
    refused(
        dir.path(),
        &["create", "recipe", "-p", "accounts", "--output", "out"],
        "cannot write out/mod.rs",
    );
    assert_eq!(files(&dir.path().join("out")), ["mod.rs"]);
}

#[test]
fn create_release_refuses_an_existing_release() {
    let dir = tempfile::tempdir().unwrap();
    let existing = [
        "create",
        "release",
        "-r",
        "examples",
        "-p",
        "accounts",
        "--version",
        "1.0.0",
        "--output",
        "out",
    ];
    refused(
        dir.path(),
        &existing,
        "upgrade `examples_release_1_0_0` already exists (example-modules/src/releases/examples_release_1_0_0.rs:",
    );
    let args = [
        "create",
        "release",
        "-r",
        "other",
        "-p",
        "accounts",
        "--version",
        "3.0.0",
        "--output",
        "out",
    ];
    upgrader().current_dir(dir.path()).args(args).assert().success();
    refused(dir.path(), &args, "out/other_release_3_0_0.rs already exists");
    let older = [
        "create",
        "release",
        "-r",
        "examples",
        "-p",
        "accounts",
        "--version",
        "0.9.0",
        "--output",
        "out",
    ];
    refused(
        dir.path(),
        &older,
        "release 0.9.0 is older than `examples_release_1_0_0`, the latest release of `examples`",
    );
}

#[test]
fn create_release_refuses_a_bad_version_repository_or_module() {
    let dir = tempfile::tempdir().unwrap();
    for version in ["1.2", "1.2.3.4", "v1.2.3", "1.2.3-beta.1", "one"] {
        let args = [
            "create",
            "release",
            "-r",
            "examples",
            "-p",
            "accounts",
            "--version",
            version,
            "--output",
            "out",
        ];
        refused(
            dir.path(),
            &args,
            &format!("`{version}` (--version) is not a version x.y.z"),
        );
    }
    let args = [
        "create",
        "release",
        "-r",
        "My-App",
        "-p",
        "accounts",
        "--version",
        "1.2.0",
        "--output",
        "out",
    ];
    refused(dir.path(), &args, "`My-App` is not a valid repository name");
    let args = [
        "create",
        "release",
        "-r",
        "examples",
        "-p",
        "billing",
        "--version",
        "1.2.0",
        "--output",
        "out",
    ];
    refused(
        dir.path(),
        &args,
        "module `billing` has no upgrades linked into this binary",
    );
}
