//! The real `upgrader` command line with the example modules and fixture upgrades linked in, for
//! the tests that need a process to kill or an upgrade to fail.

use std::process::ExitCode;
use std::time::Duration;

use example_modules as _;
use upgrader_core::{Context, Result, upgrade};

/// Create `slow_marker`, then sleep for `$UPGRADER_TEST_SLEEP_MS` milliseconds (a long upgrade to
/// kill in the middle).
#[upgrade(depends_on = [example_modules::accounts::accounts_2024_01_10_initial])]
fn fixtures_2024_01_01_slow(ctx: &mut Context) -> Result<()> {
    ctx.execute("CREATE TABLE slow_marker (id INTEGER NOT NULL)")?;
    ctx.execute("INSERT INTO slow_marker (id) VALUES (1)")?;
    let ms = std::env::var("UPGRADER_TEST_SLEEP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if ms > 0 {
        ctx.log("sleeping");
    }
    std::thread::sleep(Duration::from_millis(ms));
    Ok(())
}

/// Insert a row into `slow_marker`, failing when `$UPGRADER_TEST_FAIL` is set, panicking when
/// `$UPGRADER_TEST_PANIC` is set.
#[upgrade(depends_on = [fixtures_2024_01_01_slow])]
fn fixtures_2024_01_02_flaky(ctx: &mut Context) -> Result<()> {
    ctx.execute("INSERT INTO slow_marker (id) VALUES (2)")?;
    if std::env::var_os("UPGRADER_TEST_FAIL").is_some() {
        return Err("the flaky fixture was told to fail".into());
    }
    if std::env::var_os("UPGRADER_TEST_PANIC").is_some() {
        panic!("the flaky fixture was told to panic");
    }
    Ok(())
}

fn main() -> ExitCode {
    upgrader_cli::main()
}
