use upgrader_core::{Context, Result, upgrade};

fn check(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Create the `records` table.
#[upgrade(depends_on = [], pre_upgrade = check, pre_upgrade = check)]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
