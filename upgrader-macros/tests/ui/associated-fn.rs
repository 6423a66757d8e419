use upgrader_core::{Context, Result, upgrade};

pub struct Records;

impl Records {
    /// An associated function: the attribute's items cannot go in an `impl` block.
    #[upgrade(depends_on = [])]
    pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }
}

fn main() {}
