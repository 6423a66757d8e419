//! `accept <id> --reason "..."`: an edit of an applied upgrade, declared harmless.

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::Accept;
use crate::commands::{confirm, ensure_confirmable};
use crate::output::data_line;
use crate::settings::{Settings, open, run_options};
use crate::ui::TerminalUi;

pub(crate) fn accept(settings: &Settings, args: &Accept) -> anyhow::Result<ExitCode> {
    // Refused before anything is opened: an empty reason (the engine refuses it too).
    if args.reason.trim().is_empty() {
        return Err(upgrader_core::Error::EmptyReason.into());
    }
    let mut ui = TerminalUi::new(args.confirmation.yes_i_know);
    ensure_confirmable(&ui, &args.confirmation)?;
    let mut engine = open(settings)?;
    if !confirm(
        &mut ui,
        &args.confirmation,
        &format!(
            "Accept the edit of {} (record the checksum of its code now), because: {}?",
            args.id, args.reason
        ),
    )? {
        bail!("cancelled; nothing was changed");
    }
    let edited = engine.accept(
        &args.id,
        &args.reason,
        &mut ui,
        &run_options(settings, &args.confirmation),
    )?;
    data_line(&format!(
        "accepted {}: checksum {} -> {}",
        edited.id, edited.recorded, edited.current
    ))?;
    Ok(ExitCode::SUCCESS)
}
