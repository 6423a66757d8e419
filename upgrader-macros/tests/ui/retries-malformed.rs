use upgrader_core::{Context, Result, upgrade};

/// Negative.
#[upgrade(lock_timeout = "1s", retries = -1)]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// A string.
#[upgrade(retries = "3")]
pub fn records_2024_01_11_second(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// A fraction.
#[upgrade(retries = 1.5)]
pub fn records_2024_01_12_third(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Too many.
#[upgrade(retries = 11)]
pub fn records_2024_01_13_fourth(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// A suffix.
#[upgrade(retries = 3u8)]
pub fn records_2024_01_14_fifth(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// A name.
#[upgrade(retries = THREE)]
pub fn records_2024_01_15_sixth(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
