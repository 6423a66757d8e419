//! Three upgrades in a chain, with every argument; checks what gets registered.

use std::time::Duration;

use upgrader_core::__private::{Registration, inventory};
use upgrader_core::{Context, Result, upgrade};

fn about_a_minute(_ctx: &mut Context) -> Result<Duration> {
    Ok(Duration::from_secs(60))
}

fn no_workers(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Create the `records` table.
#[upgrade(depends_on = [])]
pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/// Add the `version_id` column to `records_metadata`.
///
/// Existing rows get version 1.
#[upgrade(
    depends_on = [records_2024_01_10_initial],
    estimate = about_a_minute,
    pre_upgrade = no_workers,
    post_upgrade = no_workers,
)]
pub fn records_2024_03_05_add_version_id(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

/** Index `version_id`. */
#[upgrade(depends_on = [records_2024_03_05_add_version_id, records_2024_01_10_initial])]
fn records_2024_03_06_index_version_id(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {
    let mut upgrades: Vec<_> = inventory::iter::<Registration>.into_iter().map(|r| &r.upgrade).collect();
    upgrades.sort_by_key(|u| u.id());
    let ids: Vec<_> = upgrades.iter().map(|u| u.id()).collect();
    assert_eq!(
        ids,
        [
            "records_2024_01_10_initial",
            "records_2024_03_05_add_version_id",
            "records_2024_03_06_index_version_id"
        ]
    );
    let [initial, add, index] = upgrades[..] else {
        unreachable!()
    };

    assert!(initial.depends_on().is_empty());
    assert_eq!(add.depends_on(), ["records_2024_01_10_initial"]);
    assert_eq!(
        index.depends_on(),
        ["records_2024_03_05_add_version_id", "records_2024_01_10_initial"]
    );

    assert_eq!(initial.info(), "Create the `records` table.");
    assert_eq!(
        add.info(),
        "Add the `version_id` column to `records_metadata`.\n\nExisting rows get version 1."
    );
    assert_eq!(index.info(), "Index `version_id`.");

    assert!(add.has_estimate() && !initial.has_estimate());

    let source = add.source().unwrap();
    assert!(source.file.ends_with("simple-chain.rs"), "{source:?}");
    // The line of `fn`, not of the attribute or the doc comment.
    assert_eq!(source.line, 31, "{source:?}");
    // The attribute writes these as literals: the values the macros give here.
    assert_eq!(source.file, file!());
    assert_eq!(source.crate_name, env!("CARGO_PKG_NAME"));
    assert_eq!(source.crate_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(source.manifest_dir, env!("CARGO_MANIFEST_DIR"));

    let checksums: Vec<_> = upgrades.iter().map(|u| u.checksum().unwrap()).collect();
    for checksum in &checksums {
        assert!(
            checksum.len() == 16 && checksum.bytes().all(|b| b.is_ascii_hexdigit()),
            "{checksum}"
        );
    }
    // Same body, different names and arguments: different checksums.
    assert_ne!(checksums[0], checksums[1]);
}
