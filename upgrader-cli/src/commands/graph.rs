//! `show graph`: the dependency graph with each upgrade's state, as DOT, Mermaid or JSON.

use std::process::ExitCode;

use serde_json::json;
use upgrader_core::{GraphView, Registry};

use crate::cli::{Graph, GraphFormat};
use crate::commands::warn_ghosts;
use crate::output::{self, data};
use crate::refused::Refused;
use crate::settings::{Settings, inspect};

pub(crate) fn show_graph(settings: &Settings, args: &Graph) -> anyhow::Result<ExitCode> {
    // A module that does not exist is refused before anything is opened; in a binary that links
    // no upgrade at all, that is the error, not the module.
    if upgrader_core::Registry::linked().upgrades().is_empty() {
        return Err(upgrader_core::Error::NothingLinked.into());
    }
    check_modules(&args.modules, settings.packages.as_deref())?;
    let mut engine = inspect(settings)?;
    // An unreadable history is an error here as everywhere: never a graph of pending upgrades.
    let status = engine.status()?;
    warn_ghosts(status.ghosts.iter().map(|g| g.upgrade.as_str()));
    let mut view = GraphView::new(engine.plan(), &status);
    if !args.modules.is_empty() {
        view = view.only(&args.modules);
    }
    match args.format {
        GraphFormat::Dot => data(&view.to_dot())?,
        GraphFormat::Mermaid => data(&view.to_mermaid())?,
        GraphFormat::Json => output::json(&graph_json(&view))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The JSON shape (README, "show graph"): `modules` (the groups), `nodes` and `edges`.
fn graph_json(view: &GraphView) -> serde_json::Value {
    let nodes: Vec<_> = view
        .nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "module": n.module,
                "state": n.state.as_str(),
                "release": n.release,
                "summary": n.summary,
            })
        })
        .collect();
    let edges: Vec<_> = view
        .edges
        .iter()
        .map(|e| json!({"from": e.from, "to": e.to}))
        .collect();
    json!({"modules": view.modules, "nodes": nodes, "edges": edges})
}

/// Each module must have linked upgrades, and be active when the configuration names the active
/// ones (`packages`).
pub(crate) fn check_modules(modules: &[String], active: Option<&[String]>) -> anyhow::Result<()> {
    let linked = Registry::linked().modules();
    for module in modules {
        if !linked.contains(module.as_str()) {
            let known: Vec<&str> = linked.iter().copied().collect();
            return Err(Refused::new(
                format!("no linked upgrade belongs to the module `{module}`"),
                format!("the modules linked into this binary are: {}", known.join(", ")),
            )
            .into());
        }
        if let Some(active) = active
            && !active.contains(module)
        {
            return Err(Refused::new(
                format!("the module `{module}` is not active: `packages` in the configuration leaves it out"),
                format!(
                    "the active modules are: {}; add `{module}` to `packages` to see it",
                    active.join(", ")
                ),
            )
            .into());
        }
    }
    Ok(())
}
