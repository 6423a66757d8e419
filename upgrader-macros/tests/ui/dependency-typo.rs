//! A misspelt dependency. It used to be "cannot find type `__upgrade_<typo>`", and rustc
//! suggested the hidden type, which fails again when written in `depends_on`.

use upgrader_core::{Context, Result, upgrade};

/// Create the `records` table.
#[upgrade(depends_on = [])]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Depends on a misspelt upgrade of the same module.
#[upgrade(depends_on = [records_2024_01_10_inital])]
pub fn records_2024_03_05_add_column(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
