use std::time::Duration;

use upgrader_core::{Context, Result, upgrade};

/// Add `records.version_id`, every existing record starting at version 1.
#[upgrade(
    depends_on = [super::records_2024_01_15_initial],
    estimate = one_second_per_hundred_thousand_records,
    pre_upgrade = no_record_without_an_owner
)]
pub fn records_2024_03_05_add_version_id(ctx: &mut Context) -> Result<()> {
    ctx.execute("ALTER TABLE records ADD COLUMN version_id INTEGER NOT NULL DEFAULT 1")?;
    Ok(())
}

fn one_second_per_hundred_thousand_records(ctx: &mut Context) -> Result<Duration> {
    // Before the first records upgrade has run there is no table, and nothing to rewrite. Any
    // other failure (the table locked by another session) is the estimate's failure, not 0 rows.
    if !ctx.table_exists("records")? {
        return Ok(Duration::from_secs(1));
    }
    let rows = ctx
        .query_i64("SELECT COUNT(*) AS value FROM records")?
        .unwrap_or(0);
    Ok(Duration::from_secs(1 + rows.unsigned_abs() / 100_000))
}

fn no_record_without_an_owner(ctx: &mut Context) -> Result<()> {
    // Before the first records upgrade has run (earlier in this same run) there is nothing to check.
    if !ctx.table_exists("records")? {
        return Ok(());
    }
    let orphans = ctx
        .query_i64("SELECT COUNT(*) AS value FROM records WHERE owner_id NOT IN (SELECT id FROM users)")?
        .unwrap_or(0);
    if orphans > 0 {
        return Err(format!(
            "{orphans} record(s) have an owner that does not exist; fix them before versioning"
        )
        .into());
    }
    Ok(())
}
