//! Example modules: an application's upgrades as they look in real life.
//!
//! - `accounts`: the `users` table, later a `display_name` column back-filled from the emails;
//!   with the feature `backfill`, an `email_domain` column filled in batches that resume.
//! - `records`: records owned by users (depends on `accounts`), later versioned.
//! - `search`: an index table filled from `records`.
//! - `releases`: `examples_release_1_0_0`, the release marker later upgrades depend on.
//! - `checks`: the application's pre-run check (the database accepts writes).
//!
//! Each upgrade lives in a file named after it, in its module's directory; the module file
//! declares it and re-exports it (`mod x; pub use x::*;`), which is what `upgrader create recipe`
//! writes too.

pub mod accounts;
mod checks;
pub mod records;
pub mod releases;
pub mod search;
