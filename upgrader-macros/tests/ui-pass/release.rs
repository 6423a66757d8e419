//! A release marker depending on the last upgrade of each module it ships.

use upgrader_core::{Context, Result, upgrade};

/// Create the `records` table.
#[upgrade]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Create the `users` table.
#[upgrade(depends_on = [])]
pub fn accounts_2024_01_01_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Release 1.2.0 of the application.
#[upgrade(depends_on = [records_2024_01_10_initial, accounts_2024_01_01_initial])]
pub fn myapp_release_1_2_0(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Release 1.3.0, which only needs 1.2.0.
#[upgrade(depends_on = [myapp_release_1_2_0])]
pub fn myapp_release_1_3_0(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {
    use upgrader_core::__private::{Registration, inventory};

    let mut upgrades: Vec<_> = inventory::iter::<Registration>.into_iter().map(|r| &r.upgrade).collect();
    upgrades.sort_by_key(|u| u.id());
    let graph: Vec<_> = upgrades.iter().map(|u| (u.id(), u.depends_on())).collect();
    assert_eq!(
        graph,
        [
            ("accounts_2024_01_01_initial", &[][..]),
            (
                "myapp_release_1_2_0",
                &["records_2024_01_10_initial", "accounts_2024_01_01_initial"][..]
            ),
            ("myapp_release_1_3_0", &["myapp_release_1_2_0"][..]),
            ("records_2024_01_10_initial", &[][..]),
        ]
    );
}
