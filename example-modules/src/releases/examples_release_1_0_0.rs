use upgrader_core::{Context, Result, upgrade};

/// Release 1.0.0 of the examples: accounts, records and search as shipped.
#[upgrade(depends_on = [
    crate::accounts::accounts_2024_02_01_add_display_name,
    crate::records::records_2024_03_05_add_version_id,
    crate::search::search_2024_05_10_rebuild_index,
])]
pub fn examples_release_1_0_0(_ctx: &mut Context) -> Result<()> {
    Ok(())
}
