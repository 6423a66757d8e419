//! A cycle of two upgrades. It used to name `<impl at file:line>::DEPTH` four times per upgrade,
//! never the upgrades.

use upgrader_core::{Context, Result, upgrade};

/// One half of a cycle.
#[upgrade(depends_on = [records_2024_01_02_b])]
pub fn records_2024_01_01_a(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// The other half.
#[upgrade(depends_on = [records_2024_01_01_a])]
pub fn records_2024_01_02_b(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
