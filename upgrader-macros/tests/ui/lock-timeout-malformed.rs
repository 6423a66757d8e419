use upgrader_core::{Context, Result, upgrade};

/// No unit.
#[upgrade(lock_timeout = "5")]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// A unit spelt out.
#[upgrade(lock_timeout = "5 seconds")]
pub fn records_2024_01_11_second(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// A fraction.
#[upgrade(lock_timeout = "1.5s")]
pub fn records_2024_01_12_third(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Units in the wrong order.
#[upgrade(lock_timeout = "30s1m")]
pub fn records_2024_01_13_fourth(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Empty.
#[upgrade(lock_timeout = "")]
pub fn records_2024_01_14_fifth(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
