use upgrader_core::{Context, Result, upgrade};

pub fn create_records(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

pub struct Records;

mod accounts {}

/// Depends on a plain function.
#[upgrade(depends_on = [create_records])]
pub fn records_2024_03_05_add_column(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Depends on a type that is not an upgrade.
#[upgrade(depends_on = [Records])]
pub fn records_2024_03_06_add_index(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Depends on the same, by paths, and on a module.
#[upgrade(depends_on = [crate::create_records, self::Records, crate::accounts])]
pub fn records_2024_03_07_add_key(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
