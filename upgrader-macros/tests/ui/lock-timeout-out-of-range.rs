use upgrader_core::{Context, Result, upgrade};

/// Zero: PostgreSQL would read it as "no limit".
#[upgrade(lock_timeout = "0s")]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Zero in another unit.
#[upgrade(lock_timeout = "0ms")]
pub fn records_2024_01_11_second(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Longer than any backend takes.
#[upgrade(lock_timeout = "1000h")]
pub fn records_2024_01_12_third(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
