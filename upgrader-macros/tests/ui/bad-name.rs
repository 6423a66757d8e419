use upgrader_core::{Context, Result, upgrade};

/// No module and no date.
#[upgrade(depends_on = [])]
pub fn add_version_id(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
