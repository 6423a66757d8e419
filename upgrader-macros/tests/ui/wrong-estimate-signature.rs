use upgrader_core::{Context, Result, upgrade};

fn estimate(_ctx: &mut Context) -> Result<u64> {
    Ok(60)
}

/// Create the `records` table.
#[upgrade(depends_on = [], estimate = estimate)]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
