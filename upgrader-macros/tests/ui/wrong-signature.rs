use upgrader_core::{Context, Result, upgrade};

/// Returns a count instead of `Result<()>`.
#[upgrade(depends_on = [])]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<u64> {
    Ok(0)
}

/// Takes the context by value.
#[upgrade(depends_on = [records_2024_01_10_initial])]
pub fn records_2024_01_13_by_value(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
