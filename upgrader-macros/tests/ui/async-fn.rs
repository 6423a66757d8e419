use upgrader_core::{Context, Result, upgrade};

/// Create the `records` table.
#[upgrade(depends_on = [])]
pub async fn records_2024_01_10_initial(_ctx: &mut Context<'_>) -> Result<()> {
    Ok(())
}

fn main() {}
