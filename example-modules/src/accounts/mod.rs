//! Accounts: the application's users.

mod accounts_2024_01_10_initial;
pub use accounts_2024_01_10_initial::*;
mod accounts_2024_02_01_add_display_name;
pub use accounts_2024_02_01_add_display_name::*;
mod accounts_2024_06_01_add_last_login;
pub use accounts_2024_06_01_add_last_login::*;
#[cfg(feature = "backfill")]
mod accounts_2024_07_01_add_email_domain;
#[cfg(feature = "backfill")]
pub use accounts_2024_07_01_add_email_domain::*;
#[cfg(feature = "backfill")]
mod accounts_2024_07_02_fill_email_domain;
#[cfg(feature = "backfill")]
pub use accounts_2024_07_02_fill_email_domain::*;
