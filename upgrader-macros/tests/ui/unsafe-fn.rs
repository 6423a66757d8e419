use upgrader_core::{Context, Result, upgrade};

/// Create the `records` table.
#[upgrade(depends_on = [])]
pub unsafe fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
