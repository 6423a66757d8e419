//! Releases of the example application: markers later upgrades can depend on.

mod examples_release_1_0_0;
pub use examples_release_1_0_0::*;
