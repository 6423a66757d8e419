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
use crate::output::{duration, note, printable};
use crate::refused::Refused;

/// The log file. Its lines are kept in memory until the command reaches the database
/// ([`LogFile::activate`]), then appended to the file, each written through at once (but an
/// upgrade's "finished" line, which goes out with the next line, most often the next upgrade's
/// "started": one write per upgrade): a command that fails before (a bad URL, a server that does
/// not answer) changed nothing and leaves no log.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    /// Open once the command reached the database.
    file: Option<File>,
    /// The lines written before that, with their times.
    held: Vec<String>,
    /// The running upgrade's position: `[3/8]`.
    position: String,
    /// The first write that failed: nothing more is written.
    error: Option<std::io::Error>,
    /// A line that goes out with the next one (see the type's docs), or when the log is dropped.
    deferred: String,
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
    /// Checks that `path` can be appended to, before anything is done, leaving no file behind.
    /// One that cannot (a directory, a missing parent, no permission) is refused when it was
    /// asked for (`explicit`: the flag or the configuration), so the command changes nothing; the
    /// default one is only warned about, and the command keeps no log.
    pub(crate) fn open(path: &Path, explicit: bool) -> Result<Option<LogFile>, Refused> {
        let existed = std::fs::symlink_metadata(path).is_ok();
        let probe = OpenOptions::new().append(true).create(true).open(path);
        match probe {
            Ok(_) => {
                if !existed {
                    let _ = std::fs::remove_file(path);
                }
            }
            Err(e) if explicit => {
                return Err(Refused::new(
                    format!("cannot write the log file {}: {e}", path.display()),
                    "give a file that can be written with --log-file PATH (or `log_file` in upgrader.toml), or keep no log with --log-file ''",
                ));
            }
            Err(e) => {
                note(&format!(
                    "warning: cannot write the log file {}: {e}; no log is kept (choose one with --log-file PATH, or turn it off with --log-file '')",
                    path.display()
                ));
                return Ok(None);
            }
        }
        Ok(Some(LogFile {
            path: path.to_path_buf(),
            file: None,
            held: Vec::new(),
            position: String::new(),
            error: None,
            deferred: String::new(),
        }))
    }

    /// The command reached the database: from now on its lines go to the file, the ones held
    /// first.
    pub(crate) fn activate(&mut self) {
        if self.file.is_some() || self.error.is_some() {
            return;
        }
        match OpenOptions::new().append(true).create(true).open(&self.path) {
            Ok(file) => {
                self.file = Some(file);
                for line in std::mem::take(&mut self.held) {
                    self.write(&line);
                }
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Writes one line, with the time; a message over several lines keeps them, indented.
    pub(crate) fn line(&mut self, text: &str) {
        self.line_then(text, false);
    }

    /// [`LogFile::line`], written with the next line when `defer` (see the type's docs).
    fn line_then(&mut self, text: &str, defer: bool) {
        let text = printable(text).replace('\n', "\n    ");
        let line = format!("{} {text}\n", timestamp());
        if self.file.is_none() {
            self.held.push(line);
            return;
        }
        self.deferred.push_str(&line);
        if !defer {
            let lines = std::mem::take(&mut self.deferred);
            self.write(&lines);
        }
    }

    fn write(&mut self, line: &str) {
        if self.error.is_some() {
            return;
        }
        if let Some(file) = &mut self.file
            && let Err(e) = file.write_all(line.as_bytes())
        {
            self.error = Some(e);
        }
    }

    /// The first write that failed, if any.
    pub(crate) fn into_error(mut self) -> Option<LogFileError> {
        self.flush();
        let path = std::mem::take(&mut self.path);
        self.error.take().map(|source| LogFileError { path, source })
    }

    /// Writes the deferred line, if any.
    fn flush(&mut self) {
        if !self.deferred.is_empty() {
            let lines = std::mem::take(&mut self.deferred);
            self.write(&lines);
        }
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The command line and who runs it: `run --yes-i-know (user alice, pid 4242 on build-7,
/// upgrader 0.1.0)`.
pub(crate) fn who(host: &crate::Host) -> String {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // As the run journal says it.
    let user = upgrader_core::Actor::os_user().unwrap_or_else(|| "unknown".into());
    let machine = upgrader_core::Actor::host().unwrap_or_else(|| "unknown host".into());
    format!(
        "{} (user {user}, pid {} on {}, {} {})",
        args.join(" "),
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
        // A failure goes out at once; a success with the next line.
        self.line_then(
            &format!("{} {upgrade} {outcome} {}", self.position, duration(elapsed)),
            ok,
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            // Without the time.
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_owned())
            .collect()
    }

    /// A finished upgrade's line goes out with the next one, in order; a failure's at once; the
    /// last one when the log is dropped, even without the run's end.
    #[test]
    fn a_finished_line_goes_out_with_the_next_and_none_is_lost() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("upgrader.log");
        let mut log = LogFile::open(&path, true).expect("opens").expect("a log");
        log.activate();
        log.started("a", 0, 3);
        log.finished("a", true, Duration::from_millis(5));
        assert_eq!(lines(&path), ["[1/3] a started"]);
        log.started("b", 1, 3);
        assert_eq!(
            lines(&path),
            ["[1/3] a started", "[1/3] a finished in 5ms", "[2/3] b started"]
        );
        log.finished("b", false, Duration::from_millis(1));
        assert_eq!(lines(&path)[3], "[2/3] b FAILED after 1ms");
        log.started("c", 2, 3);
        log.finished("c", true, Duration::from_millis(2));
        drop(log);
        assert_eq!(
            lines(&path).last().map(String::as_str),
            Some("[3/3] c finished in 2ms")
        );
    }
}
