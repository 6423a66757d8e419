//! `status`: is the database exactly where this binary expects it? One exit code per answer
//! (see [`crate::exit`]), every finding listed.

use std::process::ExitCode;

use serde_json::json;
use upgrader_core::{Readiness, ReadinessState, Rollback};

use crate::Host;
use crate::commands::applied_at;
use crate::exit;
use crate::output::{self, StdoutFailed, data_line, note};
use crate::settings::{Settings, inspect};

/// The exit code of each answer.
pub(crate) fn exit_code(state: ReadinessState) -> u8 {
    match state {
        ReadinessState::UpToDate => exit::UP_TO_DATE,
        ReadinessState::Pending => exit::PENDING,
        ReadinessState::Ahead => exit::AHEAD,
        ReadinessState::Edited => exit::EDITED,
        ReadinessState::Interrupted => exit::INTERRUPTED,
    }
}

pub(crate) fn status(settings: &Settings, json: bool, host: &Host) -> anyhow::Result<ExitCode> {
    let mut engine = inspect(settings)?;
    // Cannot tell (unreachable, unreadable): the error, exit 1.
    let readiness = engine.readiness()?;
    let code = exit_code(readiness.state());
    let printed = if json {
        output::json(&to_json(&readiness, code))
    } else {
        print_text(&readiness, code, host).map_err(anyhow::Error::from)
    };
    output::answer_stands(printed, code)
}

/// The `--json` object: a stable interface (documented in the README).
fn to_json(readiness: &Readiness, code: u8) -> serde_json::Value {
    let time = |t: &Option<chrono::NaiveDateTime>| t.as_ref().map(crate::commands::timestamp);
    json!({
        "state": readiness.state().name(),
        "exit_code": code,
        "states": readiness.states().iter().map(|s| s.name()).collect::<Vec<_>>(),
        "rollback_to_this_binary": readiness.rollback().name(),
        "applied": readiness.applied,
        "pending": readiness.pending.iter().map(|u| json!({"upgrade": u.id()})).collect::<Vec<_>>(),
        "interrupted": readiness.interrupted.iter().map(|i| json!({
            "upgrade": i.upgrade,
            "started_at": crate::commands::timestamp(&i.started),
            "runner": i.runner,
            "error": i.error,
        })).collect::<Vec<_>>(),
        "running": readiness.running.iter().map(|(i, holder)| json!({
            "upgrade": i.upgrade,
            "started_at": crate::commands::timestamp(&i.started),
            "runner": i.runner,
            "holder": holder,
        })).collect::<Vec<_>>(),
        "ahead": readiness.ahead.iter().map(|a| json!({
            "upgrade": a.id,
            "applied_at": time(&a.applied),
            "method": a.method,
            "module": a.module,
            "module_linked": a.module_linked,
        })).collect::<Vec<_>>(),
        "edited": readiness.edited.iter().map(|e| json!({
            "upgrade": e.id,
            "applied_at": time(&e.applied),
            "recorded_checksum": e.recorded,
            "current_checksum": e.current,
        })).collect::<Vec<_>>(),
        "implied": readiness.implied.iter().map(|i| json!({"upgrade": i.id, "by": i.by})).collect::<Vec<_>>(),
    })
}

/// The report on stdout (the answer and each finding's upgrades), what it means and what to do
/// on stderr.
fn print_text(readiness: &Readiness, code: u8, host: &Host) -> Result<(), StdoutFailed> {
    let states: Vec<String> = readiness.states().iter().map(ToString::to_string).collect();
    data_line(&format!("status: {} (exit {code})", states.join(", ")))?;
    data_line(&format!("applied: {}", readiness.applied))?;
    if !readiness.interrupted.is_empty() {
        data_line(&format!("interrupted: {}", readiness.interrupted.len()))?;
        for i in &readiness.interrupted {
            data_line(&format!("  {i}"))?;
        }
    }
    if !readiness.edited.is_empty() {
        data_line(&format!("edited: {}", readiness.edited.len()))?;
        for e in &readiness.edited {
            data_line(&format!(
                "  {}  applied {}, checksum {} then, {} now",
                e.id,
                applied_at(e.applied.as_ref()),
                e.recorded,
                e.current
            ))?;
        }
    }
    if !readiness.ahead.is_empty() {
        data_line(&format!("ahead: {}", readiness.ahead.len()))?;
        for a in &readiness.ahead {
            let module = match (&a.module, a.module_linked) {
                (Some(m), true) => format!("module {m}"),
                (Some(m), false) => format!("module {m}, which this binary does not link"),
                (None, _) => "not an upgrade id".to_owned(),
            };
            data_line(&format!(
                "  {}  applied {} by {}, {module}",
                a.id,
                applied_at(a.applied.as_ref()),
                a.method
            ))?;
        }
    }
    if !readiness.pending.is_empty() {
        data_line(&format!("pending: {}", readiness.pending.len()))?;
        for u in &readiness.pending {
            data_line(&format!("  {}", u.id()))?;
        }
    }
    explain(readiness, host);
    Ok(())
}

/// What the findings mean and what to do next: for the operator, not data.
fn explain(readiness: &Readiness, host: &Host) {
    let say = |text: String| note(&text);
    let name = &host.name;
    for i in &readiness.interrupted {
        say(format!(
            "interrupted: `{}` may be half applied; look at the database, then `{name} resolve {} --retry` (it did not finish) or `--mark-applied` (it did)",
            i.upgrade, i.upgrade
        ));
    }
    for e in &readiness.edited {
        say(format!(
            "edited: `{}` was changed after it was applied, so this database did not run the code linked now; put the code back and fix mistakes with a new upgrade",
            e.id
        ));
    }
    if readiness.rollback() == Rollback::OnlyIfBackwardCompatible {
        let ids: Vec<String> = readiness.ahead.iter().map(|a| format!("`{}`", a.id)).collect();
        say(format!(
            "ahead: the database has {} upgrade(s) this binary does not know ({}): a newer release (or a binary with more modules) applied them; rolling back to this binary is safe only if those upgrades are backward compatible, which this binary cannot tell without their code",
            ids.len(),
            ids.join(", ")
        ));
    }
    for (running, holder) in &readiness.running {
        say(format!(
            "running: another runner is applying `{}` right now ({holder})",
            running.upgrade
        ));
    }
    for i in &readiness.implied {
        say(format!(
            "note: `{}` is not in the history but counts as applied: `{}` depends on it and is recorded",
            i.id, i.by
        ));
    }
    if !readiness.pending.is_empty() && readiness.interrupted.is_empty() {
        say(format!(
            "pending: {} upgrade(s) to apply; `{name} run` applies them",
            readiness.pending.len()
        ));
    }
}
