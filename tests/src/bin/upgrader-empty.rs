//! An application binary that forgot to name its module crates (`use my_module as _;`): the
//! CLI with no upgrade linked, for the test that this is an error and not "nothing to do".

use std::process::ExitCode;

fn main() -> ExitCode {
    upgrader_cli::main()
}
