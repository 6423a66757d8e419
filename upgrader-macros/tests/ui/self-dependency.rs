use upgrader_core::{Context, Result, upgrade};

/// Depends on itself.
#[upgrade(depends_on = [records_2024_01_01_initial])]
pub fn records_2024_01_01_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
