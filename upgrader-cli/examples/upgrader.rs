//! The demo: the `upgrader` command with the workspace's example modules linked in, as an
//! application builds its own (`cargo run -p upgrader-cli --example upgrader -- run --yes-i-know`).

use std::process::ExitCode;

// Name the module crates, or the linker drops their registrations.
use example_modules as _;

fn main() -> ExitCode {
    upgrader_cli::main()
}
