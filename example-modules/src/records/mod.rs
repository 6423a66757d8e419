//! Records: documents owned by users.

mod records_2024_01_15_initial;
pub use records_2024_01_15_initial::*;
mod records_2024_03_05_add_version_id;
pub use records_2024_03_05_add_version_id::*;
