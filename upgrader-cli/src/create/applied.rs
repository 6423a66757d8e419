//! `create --overwrite`: an existing file is replaced only when the upgrade it holds is applied
//! nowhere this binary can see, which is the database it is configured for (`--database-url`,
//! `$UPGRADER_DATABASE_URL`, `upgrader.toml`, else `upgrader.db`: the one `run` would upgrade).
//! A database that cannot be read is not "not applied": the file is then left as it is.

use crate::refused::Refused;
use crate::settings::{Settings, inspect};

/// Refuses when `id` is applied (recorded, or counted as applied through a recorded dependent),
/// started (interrupted, or running), or when the database cannot tell.
pub(super) fn refuse_if_applied(settings: &Settings, id: &str) -> anyhow::Result<()> {
    let cannot_tell = |e: anyhow::Error| {
        Refused::new(
            format!(
                "cannot tell whether `{id}` was applied in {}, so its file is left as it is: {e:#}",
                settings.url
            ),
            "--overwrite replaces only an upgrade the configured database has not applied: make it reachable (--database-url), or choose another name",
        )
    };
    let mut engine = inspect(settings).map_err(cannot_tell)?;
    let status = engine.status().map_err(|e| cannot_tell(e.into()))?;
    let applied = status.applied.iter().any(|r| r.upgrade == id) || status.implied.iter().any(|i| i.id == id);
    let started = status.interrupted.iter().any(|i| i.upgrade == id)
        || status.running.iter().any(|(r, _)| r.upgrade == id);
    if applied || started {
        Err(Refused::new(
            format!(
                "`{id}` is {} in {}: once applied, an upgrade is never rewritten",
                if applied { "applied" } else { "started" },
                settings.url
            ),
            "fix it forward with a new upgrade (another name with -n, or another version)",
        ))?;
    }
    Ok(())
}
