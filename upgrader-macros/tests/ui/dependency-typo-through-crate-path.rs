//! A misspelt dependency by its path from the crate root, in the layout of a module crate (each
//! upgrade in a file of its name, declared and re-exported by the module file: `mod <id>;
//! pub use <id>::*;`, written inline here). It used to suggest the hidden `__upgrade_<name>`.

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
}

pub mod records {
    mod records_2024_01_15_initial {
        use upgrader_core::{Context, Result, upgrade};

        /// Depends on a misspelt upgrade, by its path from the crate root.
        #[upgrade(depends_on = [crate::accounts::accounts_2024_01_10_initail])]
        pub fn records_2024_01_15_initial(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
    pub use records_2024_01_15_initial::*;
}

fn main() {}
