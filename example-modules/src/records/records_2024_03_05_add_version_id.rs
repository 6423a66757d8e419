use std::time::Duration;

use upgrader_core::{Context, Result, upgrade};

/// Add `records.version_id`, every existing record starting at version 1.
#[upgrade(
    depends_on = [super::records_2024_01_15_initial],
    estimate = one_second_per_hundred_thousand_records,
    pre_upgrade = records_table_exists
)]
pub fn records_2024_03_05_add_version_id(ctx: &mut Context) -> Result<()> {
    ctx.execute("ALTER TABLE records ADD COLUMN version_id INTEGER NOT NULL DEFAULT 1")?;
    Ok(())
}

fn one_second_per_hundred_thousand_records(ctx: &mut Context) -> Result<Duration> {
    // Before the first records upgrade has run there is no table, and nothing to rewrite.
    let rows = ctx
        .query_i64("SELECT COUNT(*) AS value FROM records")
        .unwrap_or(None)
        .unwrap_or(0);
    Ok(Duration::from_secs(1 + rows.unsigned_abs() / 100_000))
}

fn records_table_exists(ctx: &mut Context) -> Result<()> {
    // Before the first records upgrade has run in this same run, the table comes with it.
    if ctx.query_i64("SELECT COUNT(*) AS value FROM records").is_err() {
        ctx.log("`records` does not exist yet: it is created earlier in this run");
    }
    Ok(())
}
