//! `lock_timeout` and `retries` reach the registered upgrade, in any order among the other
//! arguments.

use std::time::Duration;

use upgrader_core::{Context, Result, upgrade};

/// Add a column to a busy table, giving up after a second behind another session's lock.
#[upgrade(lock_timeout = "1s", retries = 3)]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// The same work, without the arguments.
#[upgrade]
pub fn copies_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Half a second and no retries, the other way round.
#[upgrade(retries = 0, depends_on = [records_2024_01_10_initial], lock_timeout = "500ms")]
pub fn records_2024_01_11_second(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// A sum of units.
#[upgrade(lock_timeout = "1m30s")]
pub fn others_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {
    use upgrader_core::__private::{Registration, inventory};

    let mut upgrades: Vec<_> = inventory::iter::<Registration>.into_iter().map(|r| &r.upgrade).collect();
    upgrades.sort_by_key(|u| u.id());
    let runs: Vec<_> = upgrades.iter().map(|u| (u.id(), u.lock_timeout(), u.retries())).collect();
    assert_eq!(
        runs,
        [
            ("copies_2024_01_10_initial", None, 0),
            ("others_2024_01_10_initial", Some(Duration::from_secs(90)), 0),
            ("records_2024_01_10_initial", Some(Duration::from_secs(1)), 3),
            ("records_2024_01_11_second", Some(Duration::from_millis(500)), 0),
        ]
    );
}
