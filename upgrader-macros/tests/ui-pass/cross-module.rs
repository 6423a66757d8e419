//! Dependencies across modules: `super::`, `crate::` and nested paths, private upgrades.

mod accounts {
    use upgrader_core::{Context, Result, upgrade};

    /// Create the `users` table.
    #[upgrade(depends_on = [])]
    pub fn accounts_2024_01_01_initial(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }

    pub mod later {
        use upgrader_core::{Context, Result, upgrade};

        /// Add the `name` column to `users`.
        #[upgrade(depends_on = [super::accounts_2024_01_01_initial])]
        pub fn accounts_2024_02_01_add_name(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
}

mod records {
    use upgrader_core::{Context, Result, upgrade};

    use crate::accounts;

    /// Create the `records` table, owned by users.
    #[upgrade(depends_on = [crate::accounts::later::accounts_2024_02_01_add_name, accounts::accounts_2024_01_01_initial])]
    fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }

    mod nested {
        use upgrader_core::{Context, Result, upgrade};

        /// A private upgrade, depended on from its parent's private one.
        #[upgrade(depends_on = [super::records_2024_01_10_initial, self::super::super::accounts::accounts_2024_01_01_initial])]
        fn records_2024_01_11_nested(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
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
                "accounts_2024_02_01_add_name",
                &["accounts_2024_01_01_initial"][..]
            ),
            (
                "records_2024_01_10_initial",
                &["accounts_2024_02_01_add_name", "accounts_2024_01_01_initial"][..]
            ),
            (
                "records_2024_01_11_nested",
                &["records_2024_01_10_initial", "accounts_2024_01_01_initial"][..]
            ),
        ]
    );
}
