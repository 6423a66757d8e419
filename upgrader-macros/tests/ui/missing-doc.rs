use upgrader_core::{Context, Result, upgrade};

#[upgrade(depends_on = [])]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
