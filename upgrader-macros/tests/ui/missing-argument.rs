use upgrader_core::{Result, upgrade};

/// Takes no argument.
#[upgrade(depends_on = [])]
pub fn records_2024_01_10_initial() -> Result<()> {
    Ok(())
}

fn main() {}
