//! The log file of the commands that change the database: one line per event, each starting with
//! its time (RFC 3339, UTC), appended to the file and never truncated. Each line is written
//! through at once, so a run that is killed keeps its log up to the moment it died.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use upgrader_core::{Backend, Phase, PlannedUpgrade};

use super::json::timestamp;
use super::{RunEnd, Sink, count};
use crate::output::{duration, printable};
use crate::refused::Refused;

/// The log file, open for appending.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    /// The running upgrade's position: `[3/8]`.
    position: String,
    /// The first write that failed: nothing more is written.
    error: Option<std::io::Error>,
}

/// The log file could not be written after it was opened (a full disk): the run went on.
#[derive(Debug)]
pub(crate) struct LogFileError {
    pub(crate) path: PathBuf,
    pub(crate) source: std::io::Error,
}

impl std::fmt::Display for LogFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot write the log file {}: {}",
            self.path.display(),
            self.source
        )
    }
}

impl LogFile {
    /// Opens `path` for appending (creating it), before anything is done: a path that cannot be
    /// written (a directory, a missing parent, no permission) is refused here, so the command
    /// changes nothing.
    pub(crate) fn open(path: &Path) -> Result<LogFile, Refused> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| {
                Refused::new(
                    format!("cannot write the log file {}: {e}", path.display()),
                    "give a file that can be written with --log-file PATH (or `log_file` in upgrader.toml), or keep no log with --log-file ''",
                )
            })?;
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            position: String::new(),
            error: None,
        })
    }

    /// Writes one line, with the time; a message over several lines keeps them, indented.
    pub(crate) fn line(&mut self, text: &str) {
        if self.error.is_some() {
            return;
        }
        let text = printable(text).replace('\n', "\n    ");
        let line = format!("{} {text}\n", timestamp());
        if let Err(e) = self.file.write_all(line.as_bytes()) {
            self.error = Some(e);
        }
    }

    /// The first write that failed, if any.
    pub(crate) fn into_error(self) -> Option<LogFileError> {
        let path = self.path;
        self.error.map(|source| LogFileError { path, source })
    }
}

/// Who runs the command: `user alice, pid 4242 on build-7, upgrader 0.1.0`.
pub(crate) fn who(host: &crate::Host) -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown host".into());
    format!(
        "user {user}, pid {} on {}, {} {}",
        std::process::id(),
        machine.trim(),
        host.name,
        host.version
    )
}

impl Sink for LogFile {
    fn target(&mut self, database: &str, backend: Backend) {
        self.line(&format!("database: {database} ({backend})"));
    }

    fn plan(&mut self, plan: &[PlannedUpgrade]) {
        self.line(&format!("plan: {} to apply", count(plan.len(), "upgrade")));
        for (i, upgrade) in plan.iter().enumerate() {
            let estimate = upgrade.estimate.map_or_else(
                || "no estimate".to_owned(),
                |e| format!("estimated {}", duration(e)),
            );
            self.line(&format!(
                "plan: [{}/{}] {} ({estimate})",
                i + 1,
                plan.len(),
                upgrade.id
            ));
        }
    }

    fn check(&mut self, phase: Phase, check: &str, error: Option<&str>) {
        let phase = match phase {
            Phase::PostRun => "post-run",
            _ => "pre-run",
        };
        match error {
            None => self.line(&format!("{phase} check passed: {check}")),
            Some(error) => self.line(&format!("{phase} check FAILED: {check}: {error}")),
        }
    }

    fn started(&mut self, upgrade: &str, index: usize, total: usize) {
        self.position = format!("[{}/{total}]", index + 1);
        self.line(&format!("{} {upgrade} started", self.position));
    }

    fn log(&mut self, upgrade: &str, message: &str) {
        self.line(&format!("{upgrade}: {message}"));
    }

    fn warning(&mut self, upgrade: &str, message: &str) {
        self.line(&format!("{upgrade}: warning: {message}"));
    }

    fn finished(&mut self, upgrade: &str, ok: bool, elapsed: Duration) {
        let outcome = if ok { "finished in" } else { "FAILED after" };
        self.line(&format!(
            "{} {upgrade} {outcome} {}",
            self.position,
            duration(elapsed)
        ));
    }

    fn waiting(&mut self, holder: Option<&str>) {
        self.line(&format!(
            "waiting for another runner's lock{}",
            holder.map(|h| format!(" ({h})")).unwrap_or_default()
        ));
    }

    fn answered(&mut self, question: &str, answer: &str) {
        self.line(&format!("question: {question} -> {answer}"));
    }

    fn end(&mut self, end: &RunEnd<'_>) {
        let warnings = count(end.warnings.len(), "warning");
        match &end.error {
            None => self.line(&format!("done: {} applied, {warnings}", end.applied.len())),
            Some(error) => {
                let rolled_back = match end.failed_upgrade {
                    Some((upgrade, true)) => format!(" ({upgrade}: its changes were rolled back)"),
                    Some((upgrade, false)) => format!(" ({upgrade}: its changes were NOT rolled back)"),
                    None => String::new(),
                };
                self.line(&format!(
                    "failed: {} applied before the failure, {warnings}: {error}{rolled_back}",
                    end.applied.len()
                ));
            }
        }
    }
}
