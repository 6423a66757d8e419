use upgrader_core::{Context, Result, upgrade};

/// February has no 30th.
#[upgrade(depends_on = [])]
pub fn records_2024_02_30_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
