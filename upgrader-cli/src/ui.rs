//! The terminal side of [`upgrader_core::Interaction`]: prompts, logs and progress on stderr.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use upgrader_core::Interaction;

use crate::output::note;

/// Talks to the operator on stderr; stdout stays for data.
#[derive(Debug)]
pub(crate) struct TerminalUi {
    /// `--yes-i-know`: every question gets its default without waiting.
    unattended: bool,
    /// Say nothing of the defaults given (a fleet says each question once, for all its targets).
    quiet: bool,
    bars: HashMap<String, ProgressBar>,
}

impl TerminalUi {
    pub(crate) fn new(unattended: bool) -> Self {
        TerminalUi {
            unattended,
            quiet: false,
            bars: HashMap::new(),
        }
    }

    /// Unattended, and silent about the defaults it gives: for a fleet's targets, whose display
    /// says each question once.
    pub(crate) fn quiet() -> Self {
        TerminalUi {
            quiet: true,
            ..TerminalUi::new(true)
        }
    }

    /// Whether questions can be put to a person: a terminal on stdin and stderr, and no
    /// `--yes-i-know`.
    pub(crate) fn can_ask(&self) -> bool {
        !self.unattended && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    fn finish_bar(&mut self, upgrade: &str) {
        if let Some(bar) = self.bars.remove(upgrade) {
            bar.finish_and_clear();
        }
    }
}

impl Interaction for TerminalUi {
    fn ask(&mut self, question: &str, default: &str) -> String {
        if !self.can_ask() {
            if !self.quiet {
                note(&format!("  {question} [{default}] -> {default} (default)"));
            }
            return default.to_owned();
        }
        dialoguer::Input::<String>::new()
            .with_prompt(question)
            .default(default.to_owned())
            .interact_text()
            .unwrap_or_else(|_| default.to_owned())
    }

    fn confirm(&mut self, question: &str, default: bool) -> bool {
        if !self.can_ask() {
            let answer = if default { "yes" } else { "no" };
            if !self.quiet {
                note(&format!("  {question} -> {answer} (default)"));
            }
            return default;
        }
        dialoguer::Confirm::new()
            .with_prompt(question)
            .default(default)
            .interact()
            .unwrap_or(default)
    }

    fn log(&mut self, upgrade: &str, message: &str) {
        match self.bars.get(upgrade) {
            // A hidden bar (stderr is not a terminal) would drop the line.
            Some(bar) if !bar.is_hidden() => bar.println(format!("  {}", crate::output::printable(message))),
            _ => note(&format!("  {message}")),
        }
    }

    fn progress(&mut self, upgrade: &str, done: u64, total: u64) {
        let bar = self.bars.entry(upgrade.to_owned()).or_insert_with(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("  [{bar:40}] {human_pos}/{human_len} {per_sec} {eta} left")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            // A batched upgrade that resumes starts part-way: the rate counts from here.
            bar.set_position(done);
            bar.reset_eta();
            bar
        });
        bar.set_length(total);
        bar.set_position(done);
    }

    fn upgrade_started(&mut self, upgrade: &str, index: usize, total: usize) {
        note(&format!("[{}/{total}] {upgrade}", index + 1));
    }

    fn upgrade_finished(&mut self, upgrade: &str, ok: bool, elapsed: Duration) {
        self.finish_bar(upgrade);
        if ok {
            note(&format!("  done in {}", crate::output::duration(elapsed)));
        } else {
            note(&format!("  FAILED after {}", crate::output::duration(elapsed)));
        }
    }

    fn waiting_for_lock(&mut self, holder: Option<&str>) {
        match holder {
            Some(holder) => note(&format!("waiting for another runner to finish ({holder})...")),
            None => note("waiting for another runner to finish..."),
        }
    }
}
