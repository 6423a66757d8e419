use upgrader_core::{Context, Result, upgrade};

/// Generic over nothing useful.
#[upgrade(depends_on = [])]
pub fn records_2024_01_10_initial<T: Default>(_ctx: &mut Context) -> Result<()> {
    let _ = T::default();
    Ok(())
}

fn main() {}
