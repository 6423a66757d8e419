use upgrader_core::{Context, upgrade};

/// Returns nothing.
#[upgrade(depends_on = [])]
pub fn records_2024_01_10_initial(ctx: &mut Context) {
    let _ = ctx;
}

fn main() {}
