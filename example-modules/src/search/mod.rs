//! Search: an index over the records.

mod search_2024_04_01_initial;
pub use search_2024_04_01_initial::*;
mod search_2024_05_10_rebuild_index;
pub use search_2024_05_10_rebuild_index::*;
