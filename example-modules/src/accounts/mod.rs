//! Accounts: the application's users.

mod accounts_2024_01_10_initial;
pub use accounts_2024_01_10_initial::*;
mod accounts_2024_02_01_add_display_name;
pub use accounts_2024_02_01_add_display_name::*;
mod accounts_2024_06_01_add_last_login;
pub use accounts_2024_06_01_add_last_login::*;
