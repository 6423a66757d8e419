//! A module file that re-exports an upgrade by name (`pub use <id>::<id>;`) rather than with
//! `pub use <id>::*;` leaves its hidden depth constant behind: depending on it through that module
//! fails.

pub mod accounts {
    mod accounts_2024_01_10_initial {
        use upgrader_core::{Context, Result, upgrade};

        /// Create the `users` table.
        #[upgrade(depends_on = [])]
        pub fn accounts_2024_01_10_initial(_ctx: &mut Context) -> Result<()> {
            Ok(())
        }
    }
    pub use accounts_2024_01_10_initial::accounts_2024_01_10_initial;
}

mod records {
    use upgrader_core::{Context, Result, upgrade};

    /// Depends on an upgrade its module re-exports by name.
    #[upgrade(depends_on = [crate::accounts::accounts_2024_01_10_initial])]
    pub fn records_2024_01_15_initial(_ctx: &mut Context) -> Result<()> {
        Ok(())
    }
}

fn main() {}
