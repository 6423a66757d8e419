//! The workspace's own `upgrader` binary, with the example modules linked in.

use std::process::ExitCode;

// Name the module crates, or the linker drops their registrations.
#[cfg(feature = "example-modules")]
use example_modules as _;

fn main() -> ExitCode {
    upgrader_cli::main()
}
