//! The application's own checks around every run.

use upgrader_core::{Backend, Context, Result};

/// A read-only database (a replica, a mistyped URL) would fail half-way through a run: refuse
/// before anything is applied.
fn database_accepts_writes(ctx: &mut Context) -> Result<()> {
    let read_only = match ctx.backend() {
        Backend::Postgres => {
            ctx.query_text("SELECT current_setting('transaction_read_only') AS value")?
                .as_deref()
                == Some("on")
        }
        Backend::Mysql => ctx.query_i64("SELECT @@global.read_only AS value")?.unwrap_or(0) != 0,
        _ => {
            ctx.query_i64("SELECT query_only AS value FROM pragma_query_only()")?
                .unwrap_or(0)
                != 0
        }
    };
    if read_only {
        return Err("the database is read-only; point the upgrader at the primary".into());
    }
    Ok(())
}

upgrader_core::run_check!(pre_run, "the database accepts writes", database_accepts_writes);
