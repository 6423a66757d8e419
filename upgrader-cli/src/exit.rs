//! The exit codes, one per answer, so a pipeline or a readiness probe can act on them without
//! reading the output. They are an interface: a number, once given, keeps its meaning.
//!
//! | code | name | meaning |
//! | --- | --- | --- |
//! | 0 | [`UP_TO_DATE`] | success; for `status`, the database is exactly where this binary expects it |
//! | 1 | [`FAILURE`] | an error; for `status`, it cannot tell (unreachable database, unreadable history) |
//! | 2 | [`USAGE`] | bad usage (the command line did not parse) |
//! | 3 | [`PENDING`] | `status`: upgrades are pending, nothing worse |
//! | 4 | [`INTERRUPTED`] | `status`: an upgrade started and never finished (MySQL/MariaDB) |
//! | 5 | [`AHEAD`] | `status`: the history has upgrades this binary does not know |
//! | 6 | [`EDITED`] | `status`: an applied upgrade's code changed since it was applied |
//! | 7 | [`STOPPED_AT_WINDOW`] | `run --max-duration`: the run stopped before an upgrade its window had no room for |
//! | 8 | [`FLEET_FAILED`] | `run --fleet`: some targets failed; every other target was run |
//! | 9 | [`FLEET_STOPPED`] | `run --fleet`: the fleet stopped early (a canary or a wave failed, or `--fail-fast`): some targets were not started |
//!
//! When several hold, `status` exits with the most severe: interrupted, edited, ahead, pending.

/// Success: the command did what it was asked; for `status`, the database is up to date.
pub const UP_TO_DATE: u8 = 0;

/// An error: the command failed, or (`status`) cannot tell, because the database cannot be
/// reached or its history cannot be read.
pub const FAILURE: u8 = 1;

/// Bad usage: the command line did not parse (clap's code).
pub const USAGE: u8 = 2;

/// `status`: upgrades are pending, and nothing worse holds.
pub const PENDING: u8 = 3;

/// `status`: an upgrade started and never finished (MySQL/MariaDB); it must be settled with
/// `resolve` before anything runs.
pub const INTERRUPTED: u8 = 4;

/// `status`: the history has upgrades this binary does not know (the database was upgraded by a
/// newer release).
pub const AHEAD: u8 = 5;

/// `status`: an applied upgrade's code changed since it was applied (its checksum differs).
pub const EDITED: u8 = 6;

/// `run --max-duration`: the run stopped at its window, before an upgrade whose estimate did not
/// fit in the time left (or before the first, when its estimate alone is longer than the window).
/// What it applied stays recorded; the next run continues with what remains.
pub const STOPPED_AT_WINDOW: u8 = 7;

/// `run --fleet`: one or more targets failed (unreachable, refused, an upgrade or a check failed,
/// their lock stayed held); every other target was run. The summary lists each failure.
pub const FLEET_FAILED: u8 = 8;

/// `run --fleet`: the fleet stopped before its end, because a canary target failed, a wave had a
/// failure, or `--fail-fast` was given: the targets after it were not started (the summary says
/// which failed and how many were not started).
pub const FLEET_STOPPED: u8 = 9;
