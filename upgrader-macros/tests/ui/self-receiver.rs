use upgrader_core::{Context, Result, upgrade};

pub struct Records;

impl Records {
    /// A method, not a free function.
    #[upgrade(depends_on = [])]
    pub fn records_2024_01_10_initial(&self, _ctx: &mut Context) -> Result<()> {
        Ok(())
    }
}

fn main() {}
