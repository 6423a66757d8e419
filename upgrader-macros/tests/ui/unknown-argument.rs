use upgrader_core::{Context, Result, upgrade};

/// Create the `records` table.
#[upgrade(depends_on = [], after = records_2023_12_01_initial)]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
