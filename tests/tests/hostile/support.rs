//! Running the fixtures binary in a working directory of its own.
#![allow(dead_code)] // each test module uses its own part of it

use std::path::Path;
use std::process::{Command, Output};

/// Every command, with arguments that would change the database if it went ahead: each refusal
/// is tried on all of them.
pub(crate) const EVERY_COMMAND: [&[&str]; 12] = [
    &["show", "applied"],
    &["show", "applied", "--json"],
    &["show", "pending"],
    &["show", "graph"],
    &["show", "graph", "-p", "accounts"],
    &["explain", "accounts_2024_01_10_initial"],
    &["check"],
    &["status"],
    &["run", "--yes-i-know"],
    &["populate", "--yes-i-know"],
    &["mark", "accounts_2024_01_10_initial", "--applied", "--yes-i-know"],
    &[
        "resolve",
        "accounts_2024_01_10_initial",
        "--retry",
        "--yes-i-know",
    ],
];

/// The fixtures binary run in `dir` (which holds no `upgrader.toml` unless the test writes one),
/// against `url` when given, with no terminal, and no log file: these tests check that nothing
/// else appears in `dir` (the log file has tests of its own, in upgrader-cli's `run_events`).
pub(crate) fn upgrader(dir: &Path, url: Option<&str>) -> Command {
    upgrader_tests::fixtures_command(env!("CARGO_BIN_EXE_upgrader-fixtures"), dir, url)
}

/// Runs it.
pub(crate) fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("the fixtures binary runs")
}

/// The text of stdout or stderr.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a refusal: exit `code`, nothing on stdout, and a first stderr line `error: …`
/// containing `error`. Returns stderr.
#[track_caller]
pub(crate) fn assert_refused(out: &Output, code: i32, error: &str) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {stderr}",
        text(&out.stdout)
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error:` line in: {stderr}"));
    assert!(
        line.contains(error),
        "`{error}` not in the error line: {line}\nstderr: {stderr}"
    );
    assert_eq!(
        text(&out.stdout),
        "",
        "a refusal prints no data\nstderr: {stderr}"
    );
    stderr
}
