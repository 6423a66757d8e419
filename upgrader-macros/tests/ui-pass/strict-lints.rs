//! The expansion is clean under the workspace's lints and `deny(warnings)`: private and
//! `pub(crate)` upgrades in private modules, in a binary.
#![forbid(unsafe_code)]
#![deny(
    warnings,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    unused
)]
#![deny(non_camel_case_types, non_upper_case_globals, dead_code)]

mod records {
    use upgrader_core::{Context, Result, upgrade};

    /// Create the `records` table.
    #[upgrade(depends_on = [])]
    pub(crate) fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }

    /// Add a column.
    #[upgrade(depends_on = [records_2024_01_10_initial])]
    fn records_2024_01_11_add_column(ctx: &mut Context<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
}

/// An upgrade defined inside a function, as a doctest without `fn main` does.
fn main() {
    use upgrader_core::{Context, Result, upgrade};

    /// Depends on an upgrade of a module.
    #[upgrade(depends_on = [records::records_2024_01_10_initial])]
    fn local_2024_02_01_inside_main(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }

    let count = upgrader_core::__private::inventory::iter::<upgrader_core::__private::Registration>
        .into_iter()
        .count();
    assert_eq!(count, 3);
}
