//! The layout of a module crate, written inline: each upgrade in a private module of its name,
//! re-exported by the module file (`mod <id>; pub use <id>::*;`), dependencies by `super::`,
//! `crate::` and relative paths and by name, upgrades in a function body; under strict lints.
#![deny(warnings, unused, unreachable_pub, redundant_imports)]

pub mod accounts {
    mod accounts_2024_01_10_initial {
        use upgrader_core::{Context, Result, upgrade};

        /// Create the `users` table.
        #[upgrade(depends_on = [])]
        pub fn accounts_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
    pub use accounts_2024_01_10_initial::*;

    mod accounts_2024_02_01_add_name {
        use upgrader_core::{Context, Result, upgrade};

        /// Add the `name` column to `users`.
        #[upgrade(depends_on = [super::accounts_2024_01_10_initial])]
        pub fn accounts_2024_02_01_add_name(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
    pub use accounts_2024_02_01_add_name::*;
}

pub mod records {
    mod records_2024_01_15_initial {
        use upgrader_core::{Context, Result, upgrade};

        use crate::accounts;

        /// Create the `records` table.
        #[upgrade(depends_on = [crate::accounts::accounts_2024_02_01_add_name, accounts::accounts_2024_01_10_initial])]
        pub fn records_2024_01_15_initial(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }

        /// In the same file, by name.
        #[upgrade(depends_on = [records_2024_01_15_initial])]
        pub(crate) fn records_2024_01_16_same_file(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }

        /// In the same file, by `self::`, private.
        #[upgrade(depends_on = [self::records_2024_01_16_same_file])]
        fn records_2024_01_17_private(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
    pub use records_2024_01_15_initial::*;
}

fn main() {
    use upgrader_core::__private::{Registration, inventory};
    use upgrader_core::{Context, Result, upgrade};

    mod local {
        use upgrader_core::{Context, Result, upgrade};

        /// An upgrade in a module of a function body.
        #[upgrade(depends_on = [crate::records::records_2024_01_16_same_file])]
        pub(crate) fn local_2024_03_01_in_module(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }

    /// An upgrade in a function body, depending on one beside it and on one in a module beside it.
    #[upgrade(depends_on = [local_2024_03_02_beside, local::local_2024_03_01_in_module])]
    fn local_2024_03_03_in_body(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }

    /// Beside it.
    #[upgrade(depends_on = [])]
    fn local_2024_03_02_beside(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }

    let mut upgrades: Vec<_> = inventory::iter::<Registration>.into_iter().map(|r| &r.upgrade).collect();
    upgrades.sort_by_key(|u| u.id());
    let graph: Vec<_> = upgrades.iter().map(|u| (u.id(), u.depends_on())).collect();
    assert_eq!(
        graph,
        [
            ("accounts_2024_01_10_initial", &[][..]),
            ("accounts_2024_02_01_add_name", &["accounts_2024_01_10_initial"][..]),
            ("local_2024_03_01_in_module", &["records_2024_01_16_same_file"][..]),
            ("local_2024_03_02_beside", &[][..]),
            (
                "local_2024_03_03_in_body",
                &["local_2024_03_02_beside", "local_2024_03_01_in_module"][..]
            ),
            (
                "records_2024_01_15_initial",
                &["accounts_2024_02_01_add_name", "accounts_2024_01_10_initial"][..]
            ),
            ("records_2024_01_16_same_file", &["records_2024_01_15_initial"][..]),
            ("records_2024_01_17_private", &["records_2024_01_16_same_file"][..]),
        ]
    );
}
