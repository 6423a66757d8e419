//! A cycle through two modules laid out as module crates are (`mod <id>; pub use <id>::*;`). It
//! used to name `<impl at file:line>::DEPTH`, never the upgrades.

pub mod accounts {
    mod accounts_2024_01_10_initial {
        use upgrader_core::{Context, Result, upgrade};

        /// Create the `users` table, after the `records` table.
        #[upgrade(depends_on = [crate::records::records_2024_01_15_initial])]
        pub fn accounts_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
    pub use accounts_2024_01_10_initial::*;
}

pub mod records {
    mod records_2024_01_15_initial {
        use upgrader_core::{Context, Result, upgrade};

        /// Create the `records` table, after the `users` table.
        #[upgrade(depends_on = [crate::accounts::accounts_2024_01_10_initial])]
        pub fn records_2024_01_15_initial(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
    pub use records_2024_01_15_initial::*;
}

fn main() {}
