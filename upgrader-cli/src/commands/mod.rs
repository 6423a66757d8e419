//! The commands that look at or change a database, one file each; what they share is here.

mod accept;
mod check;
mod choose;
mod explain;
mod graph;
mod history;
mod large;
mod logged;
mod rehearse;
mod repair;
mod run;
mod show;
mod status;
mod window;

pub(crate) use accept::accept;
pub(crate) use check::check;
pub(crate) use choose::chosen;
pub(crate) use explain::{explain, unknown};
pub(crate) use graph::show_graph;
pub(crate) use history::{by, show_history};
pub(crate) use large::{checkpoint_json, how, summary};
pub(crate) use logged::logged;
pub(crate) use repair::{mark, populate, resolve};
pub(crate) use run::run_upgrades;
pub(crate) use show::{show_applied, show_pending};
pub(crate) use status::{exit_code as status_exit_code, status};

use anyhow::bail;

use crate::cli::Confirmation;
use crate::output::note;
use crate::ui::TerminalUi;

/// Refuses at once when a confirmation is needed and nobody can give it: never hang on a prompt.
pub(crate) fn ensure_confirmable(ui: &TerminalUi, confirmation: &Confirmation) -> anyhow::Result<()> {
    if !confirmation.yes_i_know && !ui.can_ask() {
        bail!(
            "this command asks for confirmation and there is no terminal; pass --yes-i-know to run unattended"
        );
    }
    Ok(())
}

/// Asks before a command that changes the database (`--yes-i-know` answers yes).
pub(crate) fn confirm(
    ui: &mut TerminalUi,
    confirmation: &Confirmation,
    question: &str,
) -> anyhow::Result<bool> {
    use upgrader_core::Interaction;
    ensure_confirmable(ui, confirmation)?;
    Ok(confirmation.yes_i_know || ui.confirm(question, false))
}

pub(crate) fn ghost(id: &str) -> String {
    format!("`{id}` is in the history but no linked upgrade has that id")
}

/// History rows no linked upgrade has (a module crate left out of this binary, or a database
/// upgraded by a newer release): every command that reads the history says so, on stderr.
pub(crate) fn warn_ghosts<'a>(ids: impl IntoIterator<Item = &'a str>) {
    for id in ids {
        note(&format!("warning: {}", ghost(id)));
    }
}

pub(crate) fn timestamp(t: &chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// When an upgrade was applied: `unknown` (table) or `null` (JSON) when the history holds a value
/// that is not a time.
pub(crate) fn applied_at(t: Option<&chrono::NaiveDateTime>) -> String {
    t.map_or_else(|| "unknown".to_owned(), timestamp)
}
