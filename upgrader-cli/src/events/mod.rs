//! The consumers of a run's events ([`upgrader_core::Interaction`]): what the operator sees on
//! stderr (live bars on a terminal, one line per upgrade started and finished without one), the
//! NDJSON stream of `run --json` on stdout, and the log file. [`RunUi`] hands every event to each.

mod clock;
mod json;
mod lines;
mod live;
mod log_file;

use std::time::Duration;

use upgrader_core::{
    Backend, Error, Interaction, Phase, PlannedUpgrade, RunReport, StoppedAtWindow, Warning,
};

pub(crate) use json::{JsonEvents, timestamp};
pub(crate) use lines::Lines;
pub(crate) use live::Live;
pub(crate) use log_file::{LogFile, LogFileError, who};

use crate::ui::TerminalUi;

/// How a run ended, for the consumers: from the engine ([`Interaction::run_finished`]), or from
/// the command when it failed before the engine ran (a refusal, a database that cannot be opened).
#[derive(Debug, Default)]
pub(crate) struct RunEnd<'a> {
    /// The upgrades applied, with their durations.
    pub(crate) applied: Vec<(&'a str, Duration)>,
    /// The warnings given, in order.
    pub(crate) warnings: &'a [Warning],
    /// The error, on one line, when the run failed.
    pub(crate) error: Option<String>,
    /// The upgrade that failed, and whether its changes were rolled back.
    pub(crate) failed_upgrade: Option<(&'a str, bool)>,
    /// Set when the run stopped at its window (`--max-duration`): what remains.
    pub(crate) stopped: Option<&'a StoppedAtWindow>,
}

/// One consumer of a run's events; every method does nothing unless the consumer cares.
pub(crate) trait Sink {
    /// The database the run works on, and its backend (before anything else).
    fn target(&mut self, _database: &str, _backend: Backend) {}
    fn plan(&mut self, _plan: &[PlannedUpgrade]) {}
    fn check(&mut self, _phase: Phase, _check: &str, _error: Option<&str>) {}
    fn started(&mut self, _upgrade: &str, _index: usize, _total: usize) {}
    fn progress(&mut self, _upgrade: &str, _done: u64, _total: u64) {}
    fn log(&mut self, _upgrade: &str, _message: &str) {}
    fn warning(&mut self, _upgrade: &str, _message: &str) {}
    fn finished(&mut self, _upgrade: &str, _ok: bool, _elapsed: Duration) {}
    fn waiting(&mut self, _holder: Option<&str>) {}
    fn answered(&mut self, _question: &str, _answer: &str) {}
    fn end(&mut self, _end: &RunEnd<'_>) {}
}

/// What the operator sees on stderr while a run goes on.
pub(crate) enum Display {
    /// A terminal: a live line for the run and a bar per upgrade that reports progress.
    Live(Live),
    /// No terminal: one line per upgrade started and finished.
    Lines(Lines),
    /// `--json`: stderr keeps only errors and warnings about the database.
    Quiet,
}

/// The run's [`Interaction`]: questions go to the operator ([`TerminalUi`]), every event to the
/// display, the NDJSON stream and the log file.
pub(crate) struct RunUi {
    prompts: TerminalUi,
    display: Display,
    json: Option<JsonEvents>,
    log: Option<LogFile>,
    ended: bool,
    /// A rehearsal (`--rehearse`): what it ran was rolled back, so nothing counts as applied.
    rehearsal: bool,
}

impl RunUi {
    pub(crate) fn new(
        prompts: TerminalUi,
        display: Display,
        json: Option<JsonEvents>,
        log: Option<LogFile>,
    ) -> Self {
        RunUi {
            prompts,
            display,
            json,
            log,
            ended: false,
            rehearsal: false,
        }
    }

    /// The run is a rehearsal: its upgrades are rolled back at the end, and the consumers count
    /// none of them as applied.
    pub(crate) fn rehearsal(&mut self) {
        self.rehearsal = true;
    }

    /// Whether questions can be put to a person.
    pub(crate) fn prompts(&mut self) -> &mut TerminalUi {
        &mut self.prompts
    }

    fn sinks(&mut self) -> impl Iterator<Item = &mut dyn Sink> {
        let display: Option<&mut dyn Sink> = match &mut self.display {
            Display::Live(live) => Some(live),
            Display::Lines(lines) => Some(lines),
            Display::Quiet => None,
        };
        display
            .into_iter()
            .chain(self.json.as_mut().map(|j| j as &mut dyn Sink))
            .chain(self.log.as_mut().map(|l| l as &mut dyn Sink))
    }

    /// The run reached the database: the log file is written from now on ([`LogFile::activate`]).
    pub(crate) fn activate_log(&mut self) {
        if let Some(log) = &mut self.log {
            log.activate();
        }
    }

    /// The database the run works on (said once, before the plan).
    pub(crate) fn target(&mut self, database: &str, backend: Backend) {
        self.sinks().for_each(|s| s.target(database, backend));
    }

    /// The run failed before (or outside) the engine's run: tells the consumers, unless the
    /// engine already told them how the run ended.
    pub(crate) fn failed(&mut self, error: &anyhow::Error) {
        if self.ended {
            return;
        }
        self.ended = true;
        let end = RunEnd {
            error: Some(crate::one_line(&format!("{error:#}"))),
            ..RunEnd::default()
        };
        self.sinks().for_each(|s| s.end(&end));
    }

    /// The run found nothing to do before the lock: tells the consumers it ended.
    pub(crate) fn nothing_to_do(&mut self) {
        if !self.ended {
            self.ended = true;
            self.sinks().for_each(|s| s.end(&RunEnd::default()));
        }
    }

    /// What went wrong writing stdout (`--json`) or the log file, once the run is over.
    pub(crate) fn finish(self) -> (Option<crate::output::StdoutFailed>, Option<LogFileError>) {
        if let Display::Live(live) = self.display {
            live.clear();
        }
        (
            self.json.and_then(JsonEvents::into_error),
            self.log.and_then(LogFile::into_error),
        )
    }
}

impl Interaction for RunUi {
    fn ask(&mut self, question: &str, default: &str) -> String {
        let answer = match &self.display {
            Display::Live(live) => live.suspend(|| self.prompts.ask(question, default)),
            _ => self.prompts.ask(question, default),
        };
        self.json.iter_mut().for_each(|j| j.answered(question, &answer));
        self.log.iter_mut().for_each(|l| l.answered(question, &answer));
        answer
    }

    fn confirm(&mut self, question: &str, default: bool) -> bool {
        let answer = match &self.display {
            Display::Live(live) => live.suspend(|| self.prompts.confirm(question, default)),
            _ => self.prompts.confirm(question, default),
        };
        let text = if answer { "yes" } else { "no" };
        self.json.iter_mut().for_each(|j| j.answered(question, text));
        self.log.iter_mut().for_each(|l| l.answered(question, text));
        answer
    }

    fn log(&mut self, upgrade: &str, message: &str) {
        self.sinks().for_each(|s| s.log(upgrade, message));
    }

    fn progress(&mut self, upgrade: &str, done: u64, total: u64) {
        self.sinks().for_each(|s| s.progress(upgrade, done, total));
    }

    fn upgrade_started(&mut self, upgrade: &str, index: usize, total: usize) {
        self.sinks().for_each(|s| s.started(upgrade, index, total));
    }

    fn upgrade_finished(&mut self, upgrade: &str, ok: bool, elapsed: Duration) {
        self.sinks().for_each(|s| s.finished(upgrade, ok, elapsed));
    }

    fn waiting_for_lock(&mut self, holder: Option<&str>) {
        self.sinks().for_each(|s| s.waiting(holder));
    }

    fn run_planned(&mut self, plan: &[PlannedUpgrade]) {
        self.sinks().for_each(|s| s.plan(plan));
    }

    fn check_finished(&mut self, phase: Phase, check: &str, error: Option<&str>) {
        self.sinks().for_each(|s| s.check(phase, check, error));
    }

    fn warning(&mut self, upgrade: &str, message: &str) {
        self.sinks().for_each(|s| s.warning(upgrade, message));
    }

    fn run_finished(&mut self, report: &RunReport, error: Option<&Error>) {
        self.ended = true;
        // A run in one transaction that failed, or a rehearsal, leaves nothing applied.
        let rolled_back = self.rehearsal || matches!(error, Some(Error::RolledBack { .. }));
        let end = RunEnd {
            applied: if rolled_back {
                Vec::new()
            } else {
                report
                    .applied
                    .iter()
                    .map(|a| (a.id.as_str(), a.duration))
                    .collect()
            },
            warnings: &report.warnings,
            error: error.map(error_text),
            failed_upgrade: match error {
                Some(Error::UpgradeFailed { id, rolled_back, .. }) => Some((id.as_str(), *rolled_back)),
                Some(Error::RolledBack {
                    upgrade: Some(id), ..
                }) => Some((id.as_str(), true)),
                _ => None,
            },
            stopped: report.stopped.as_ref(),
        };
        self.sinks().for_each(|s| s.end(&end));
    }
}

/// An error and its causes on one line, as `error:` prints them.
pub(crate) fn error_text(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    crate::one_line(&text)
}

/// A count with its noun: `1 warning`, `2 warnings`.
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
