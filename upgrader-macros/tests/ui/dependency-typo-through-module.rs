//! Misspelt dependencies through `super::` and a module. It used to be "cannot find type
//! `__upgrade_<typo>` in module", suggesting the hidden type.

mod accounts {
    use upgrader_core::{Context, Result, upgrade};

    /// Create the `users` table.
    #[upgrade(depends_on = [])]
    pub fn accounts_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }

    pub mod later {
        use upgrader_core::{Context, Result, upgrade};

        /// Depends on a misspelt upgrade of the parent module.
        #[upgrade(depends_on = [super::accounts_2024_01_10_intial])]
        pub fn accounts_2024_02_01_add_name(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
}

mod records {
    use upgrader_core::{Context, Result, upgrade};

    use crate::accounts;

    /// Depends on a misspelt upgrade of another module.
    #[upgrade(depends_on = [accounts::acounts_2024_01_10_initial])]
    pub fn records_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }
}

fn main() {}
