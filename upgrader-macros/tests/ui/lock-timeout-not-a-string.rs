use upgrader_core::{Context, Result, upgrade};

const FIVE_SECONDS: &str = "5s";

/// A number: in which unit?
#[upgrade(lock_timeout = 5)]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// A constant: the attribute reads the duration at compile time, from the string itself.
#[upgrade(lock_timeout = FIVE_SECONDS)]
pub fn records_2024_01_11_second(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// A list.
#[upgrade(lock_timeout = ["5s"])]
pub fn records_2024_01_12_third(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
