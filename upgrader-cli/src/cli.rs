//! The command line, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
The database is --database-url, else $UPGRADER_DATABASE_URL, else `database_url` in upgrader.toml,
else the SQLite file upgrader.db in the working directory. URLs: postgres://user@host/db (or
libpq's host=… dbname=… user=…), mysql://user@host/db, sqlite://path, file:path or a plain path;
not :memory:, which keeps nothing. Passwords print as ***.

Exit codes:
  0  success; `status`: up to date
  1  failure: an upgrade or a check failed, the database is unreachable, a statement waited
     longer than --wait-timeout for a lock, `check` found a problem, `create` refused;
     `status`: cannot tell (the database is unreachable, the history cannot be read)
  2  bad usage
  3  `status`: upgrades are pending, nothing worse
  4  `status`: an upgrade started and never finished (MySQL/MariaDB, or one declared
     `transaction = false`)
  5  `status`: ahead: the history has upgrades this binary does not know (a newer release ran)
  6  `status`: edited: an applied upgrade's code changed since it was applied
  7  `run --max-duration`: stopped at the window, before an upgrade its estimate did not leave
     room for; what was applied stays recorded, the next run continues
  8  `run --fleet`: some targets failed (the summary lists them); every other target was run
  9  `run --fleet`: stopped early (a canary or a wave failed, or --fail-fast); the targets after
     it were not started
`status --fleet` exits 1 when a target cannot be told, else with the most severe state of all.
`status` exits with the most severe that holds (4, 6, 5, 3) and lists all of them. `check`
answers \"can a run go ahead?\": 0 yes, 1 no.";

/// The whole command set: global options and a command. Parsed by [`crate::main`] as a program
/// of its own, or mounted by an application under its own command line as a subcommand
/// (`myapp upgrader run`): see [`crate::execute`].
#[derive(Debug, Parser)]
#[command(
    name = "upgrader",
    version,
    about = "Plans and applies the upgrades linked into this binary",
    long_about = None,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// The database: postgres://…, mysql://…, sqlite://path or a file path.
    #[arg(long, global = true, env = "UPGRADER_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,

    /// Give up on a database server that has not answered within this many seconds, 1 or more
    /// [default: 30].
    #[arg(long, global = true, value_name = "SECONDS", value_parser = connect_timeout)]
    pub(crate) connect_timeout: Option<u64>,

    /// Give up on a statement that has waited this many seconds for a lock another session holds
    /// (PostgreSQL lock_timeout, MySQL lock_wait_timeout, SQLite busy_timeout), saying who holds
    /// it; at least 1 [default: 60].
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=upgrader_core::Timeouts::MAX_SECS))]
    pub(crate) wait_timeout: Option<u64>,

    /// Cancel a statement that has run this many seconds, lock waits included (PostgreSQL
    /// statement_timeout, MariaDB max_statement_time, MySQL max_execution_time for SELECTs; SQLite
    /// has none); 0 for no limit [default: 0].
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=upgrader_core::Timeouts::MAX_SECS))]
    pub(crate) statement_timeout: Option<u64>,

    /// The table that holds the history [default: `history_table` in upgrader.toml, else
    /// upgrade]: lowercase letters, digits and _, at most 48 characters.
    #[arg(long, global = true, value_name = "NAME", value_parser = clap::builder::ValueParser::new(upgrader_core::HistoryTable::new))]
    pub(crate) history_table: Option<upgrader_core::HistoryTable>,

    /// The configuration file [default: upgrader.toml in the working directory, when it exists].
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Durations measured on another database (`show applied --json` of a staging copy, saved):
    /// `show pending`, `check` and `run` show them beside the estimates and count them in the
    /// totals [default: `timings` in upgrader.toml].
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) timings: Option<PathBuf>,
    /// The log file the commands that change the database append to [default: `log_file` in
    /// upgrader.toml, else upgrader.log in the working directory]; '' keeps no log.
    // Not `PathBuf`'s parser, which refuses an empty value.
    #[arg(long, global = true, value_name = "PATH", value_parser = clap::builder::ValueParser::os_string())]
    pub(crate) log_file: Option<std::ffi::OsString>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Whole seconds, at least 1: no server answers in no time.
fn connect_timeout(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("the connection timeout must be at least 1 second (0 would give up before any server could answer)".into()),
        Ok(secs) => Ok(secs),
        Err(e) => Err(format!("expected whole seconds: {e}")),
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Lists applied or pending upgrades, or draws the graph.
    #[command(subcommand)]
    Show(Show),
    /// Checks the graph and the database: exits 1 when something is wrong, so CI can use it.
    Check(Check),
    /// Says whether the database is exactly where this binary expects it, one exit code per
    /// answer: 0 up to date, 3 pending, 4 interrupted, 5 ahead, 6 edited, 1 cannot tell.
    Status(Status),
    /// Runs the pre-run checks, shows the plan, asks for confirmation and applies the pending
    /// upgrades (within a window, with --max-duration).
    Run(Run),
    /// Records every known upgrade as applied without running it (for a database just created at
    /// the latest schema).
    Populate(Confirmation),
    /// Repairs the history by hand: records upgrades as applied, or as pending again.
    Mark(Mark),
    /// Settles an upgrade that was interrupted (on MySQL/MariaDB, or one that runs outside a
    /// transaction): run it again, or record it as done.
    Resolve(Resolve),
    /// Accepts an edit of an applied upgrade (its code changed since it was applied): records the
    /// new checksum, and the reason, who and when in the run journal.
    Accept(Accept),
    /// Explains one upgrade: its module, doc comment and source file, what it depends on and
    /// what depends on it, whether and when it was applied, and its estimate.
    Explain(Explain),
    /// For module authors: writes a new upgrade file (a recipe or a release) and declares it in
    /// its module file. Needs no database.
    #[command(subcommand)]
    Create(Create),
}

#[derive(Debug, Subcommand)]
pub(crate) enum Show {
    /// The upgrades the database has, oldest first, with when they were applied.
    Applied(Format),
    /// The upgrades to run, in run order, with what they do and their estimates (with --fleet:
    /// the fleet's targets grouped by the upgrades they have pending).
    Pending(Pending),
    /// The dependency graph, grouped by module, each upgrade marked with its state in the
    /// database: DOT for Graphviz (`| dot -Tsvg > graph.svg`), Mermaid or JSON.
    Graph(Graph),
    /// The run journal, newest first: every command that changed the history (run, populate,
    /// mark, resolve, accept, adoption), who ran it, when, and what it did or how it failed.
    History(History),
}

#[derive(Debug, Args)]
pub(crate) struct History {
    /// Prints JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Only the newest N runs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) limit: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct Graph {
    /// The output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub(crate) format: GraphFormat,
    /// Only this module's upgrades, with the edges that enter and leave it and the upgrades at
    /// their other ends (repeat for several modules).
    #[arg(short = 'p', long = "package", value_name = "MODULE")]
    pub(crate) modules: Vec<String>,
}

/// How `show graph` writes the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    /// Graphviz's DOT language: `dot -Tsvg` draws it.
    Dot,
    /// A Mermaid flowchart, for Markdown that renders Mermaid.
    Mermaid,
    /// JSON: `modules`, `nodes` (id, module, state, release, summary) and `edges` (from, to).
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct Explain {
    /// The upgrade.
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    /// Prints JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Format {
    /// Prints JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Check {
    /// Prints JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Status {
    /// Prints JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) fleet: Fleet,
}

#[derive(Debug, Args)]
pub(crate) struct Pending {
    /// Prints JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) fleet: Fleet,
}

/// A fleet: many databases (a database or a PostgreSQL schema per tenant) instead of one.
#[derive(Debug, Args)]
pub(crate) struct Fleet {
    /// Works on every target of the fleet instead of one database: the targets come from
    /// --targets, --schemas or --targets-query, else from [fleet] in upgrader.toml.
    #[arg(long)]
    pub(crate) fleet: bool,
    /// The fleet's targets: a file of database URLs, one per line (blank lines and # comments
    /// skipped; a relative SQLite path is relative to the file).
    #[arg(long, value_name = "FILE", requires = "fleet")]
    pub(crate) targets: Option<PathBuf>,
    /// The fleet's targets: the schemas of --database-url's PostgreSQL database whose names match
    /// PATTERN (* any characters, ? one), each with its own history.
    #[arg(long, value_name = "PATTERN", requires = "fleet")]
    pub(crate) schemas: Option<String>,
    /// The fleet's targets: what this query returns on --database-url (the control database),
    /// a column `url` (database URLs) or `schema` (schemas of that PostgreSQL database).
    #[arg(long, value_name = "SQL", requires = "fleet")]
    pub(crate) targets_query: Option<String>,
    /// How many targets at a time [default: `jobs` under [fleet] in upgrader.toml, else 4].
    #[arg(long, value_name = "N", requires = "fleet", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) jobs: Option<u16>,
}

/// How `run --fleet` goes through the targets.
#[derive(Debug, Args)]
pub(crate) struct Rollout {
    /// Runs the first K targets first; if any of them fails, the fleet stops there.
    #[arg(long, value_name = "K", requires = "fleet", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) canary: Option<u64>,
    /// Goes on in waves of W targets, each finished before the next starts, stopping after the
    /// first wave with a failure.
    #[arg(long, value_name = "W", requires = "fleet", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) wave_size: Option<u64>,
    /// Starts no more targets after the first failure (those running finish).
    #[arg(long, requires = "fleet")]
    pub(crate) fail_fast: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Confirmation {
    /// Runs unattended: no confirmation, and every question an upgrade asks gets its default.
    #[arg(long)]
    pub(crate) yes_i_know: bool,

    /// How long to wait for another runner's lock, in seconds [default: 300]. Until the first
    /// upgrade starts, no statement waits longer than this for a lock either.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) lock_timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct Run {
    #[command(flatten)]
    pub(crate) confirmation: Confirmation,
    /// The run's window (300ms, 45s, 30m, 2h, 1h30m): before each upgrade, if the time passed
    /// plus its estimate (measured, with --timings) would pass the window, stop before it and
    /// exit 7 [default: `max_duration` in upgrader.toml, else no limit; neither with --atomic or
    /// --rehearse, which are all or nothing].
    #[arg(long, value_name = "DURATION", value_parser = window, conflicts_with_all = ["atomic", "rehearse", "fleet"])]
    pub(crate) max_duration: Option<std::time::Duration>,
    /// Prints the run's events as JSON on stdout, one object per line (NDJSON); needs
    /// --yes-i-know, as nobody can answer a prompt (not with --dry-run or --rehearse, which
    /// print text).
    #[arg(long, requires = "yes_i_know", conflicts_with_all = ["dry_run", "rehearse"])]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) choice: Choice,
    #[command(flatten)]
    pub(crate) fleet: Fleet,
    #[command(flatten)]
    pub(crate) rollout: Rollout,
}

/// What a run applies, and how: `--to`, `-p`, `--dry-run`, `--atomic`, `--rehearse`.
#[derive(Debug, Args)]
pub(crate) struct Choice {
    /// Applies only this upgrade and the pending upgrades it needs (its dependencies, direct or
    /// not), nothing else.
    #[arg(long, value_name = "ID", conflicts_with = "modules")]
    pub(crate) to: Option<String>,
    /// Applies only this module's pending upgrades and the pending upgrades they need, possibly in
    /// other modules (repeat for several modules).
    #[arg(short = 'p', long = "package", value_name = "MODULE")]
    pub(crate) modules: Vec<String>,
    /// Prints what the run would do (the upgrades, in order, their estimates, the checks) and
    /// exits: no write connection, no lock, nothing changed.
    #[arg(long, conflicts_with_all = ["rehearse", "fleet"])]
    pub(crate) dry_run: bool,
    /// Applies everything in one transaction: all or nothing (PostgreSQL, SQLite).
    #[arg(long, conflicts_with = "rehearse")]
    pub(crate) atomic: bool,
    /// Runs everything for real in one transaction, the checks included, then rolls it back,
    /// reporting each upgrade's outcome and duration (PostgreSQL, SQLite).
    #[arg(long, conflicts_with = "fleet")]
    pub(crate) rehearse: bool,
    /// With --rehearse: writes the measured durations to FILE as JSON (the shape of `show applied
    /// --json`).
    #[arg(long, value_name = "FILE", requires = "rehearse")]
    pub(crate) save_timings: Option<PathBuf>,
}

/// `--max-duration`: [`parse_window`], with a `hint:` line under clap's `error:` line.
fn window(text: &str) -> Result<std::time::Duration, String> {
    parse_window(text).map_err(|reason| {
        format!("{reason}\nhint: give the time the run may take as a number and its unit: 300ms, 45s, 30m, 2h, or a sum such as 1h30m")
    })
}

/// A run's window (`--max-duration`, `max_duration` in upgrader.toml): a duration as
/// [`upgrader_core::parse_duration`] reads it, longer than none; else why not.
pub(crate) fn parse_window(text: &str) -> Result<std::time::Duration, String> {
    match upgrader_core::parse_duration(text) {
        Ok(window) if window.is_zero() => {
            Err(format!("`{}` is no time: a run could apply nothing", text.trim()))
        }
        Ok(window) => Ok(window),
        // Without its "expected …": the hint says it.
        Err(e) => Err(e.split(": expected").next().unwrap_or(&e).to_owned()),
    }
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("state").required(true).args(["applied", "pending"]))]
pub(crate) struct Mark {
    /// The upgrades to mark.
    #[arg(required = true, value_name = "ID")]
    pub(crate) ids: Vec<String>,
    /// Records them as applied without running them.
    #[arg(long)]
    pub(crate) applied: bool,
    /// Removes them from the history so the next run applies them.
    #[arg(long)]
    pub(crate) pending: bool,
    /// With --applied: even when their dependencies are pending.
    // Not `requires = "applied"`: clap waives a requirement that conflicts with a given argument,
    // and `--pending` conflicts with `--applied` (the `state` group), so `--pending --force` passed.
    #[arg(long, conflicts_with = "pending")]
    pub(crate) force: bool,
    /// With --pending: also take back the recorded upgrades that depend on them (listed), which
    /// would otherwise keep them counted as applied.
    #[arg(long, conflicts_with = "applied")]
    pub(crate) with_dependents: bool,
    #[command(flatten)]
    pub(crate) confirmation: Confirmation,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("decision").required(true).args(["retry", "mark_applied"]))]
pub(crate) struct Resolve {
    /// The interrupted upgrade.
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    /// It did not finish: the next run runs it again.
    #[arg(long)]
    pub(crate) retry: bool,
    /// It did finish: record it as applied.
    #[arg(long)]
    pub(crate) mark_applied: bool,
    #[command(flatten)]
    pub(crate) confirmation: Confirmation,
}

#[derive(Debug, Args)]
pub(crate) struct Accept {
    /// The edited upgrade.
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    /// Why the edit is harmless (kept in the run journal).
    #[arg(long, required = true)]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) confirmation: Confirmation,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Create {
    /// Writes `<module>_<yyyy>_<mm>_<dd>_<name>.rs` (today's date, UTC), depending on the module's
    /// current endpoints, beside the module's other upgrades.
    Recipe(Recipe),
    /// Writes `<repository>_release_<x>_<y>_<z>.rs`, depending on everything the modules gained
    /// since the repository's previous release.
    // `--version` is the release's version here, not the program's.
    #[command(disable_version_flag = true)]
    Release(Release),
}

#[derive(Debug, Args)]
pub(crate) struct Recipe {
    /// The module the upgrade belongs to: the part of its id before the date.
    #[arg(short = 'p', long = "package", value_name = "MODULE")]
    pub(crate) module: String,
    /// The upgrade's name, after the date: what it does, like `add_tags`.
    #[arg(short, long, default_value = crate::create::PLACEHOLDER)]
    pub(crate) name: String,
    /// The directory to write into (default: the one that holds the module's newest upgrade;
    /// required for a module's first upgrade).
    #[arg(long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
    /// An upgrade the new one depends on, instead of the computed ones (repeat for several).
    #[arg(short = 'd', long = "depends-on", value_name = "ID")]
    pub(crate) depends_on: Vec<String>,
    /// Replace the file when it exists, if the database has not applied that upgrade.
    #[arg(long)]
    pub(crate) overwrite: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Release {
    /// The repository the release is cut from: the part of its id before `_release_`.
    #[arg(short, long)]
    pub(crate) repository: String,
    /// A module the release gathers (repeat for several).
    #[arg(short = 'p', long = "package", value_name = "MODULE", required = true)]
    pub(crate) modules: Vec<String>,
    /// The release's version (default: the version of the crate that holds the modules'
    /// upgrades).
    #[arg(long, value_name = "X.Y.Z")]
    pub(crate) version: Option<String>,
    /// The directory to write into (default: the one that holds the repository's latest release,
    /// else the modules' newest upgrade).
    #[arg(long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
    /// Replace the file when it exists, if the database has not applied that release.
    #[arg(long)]
    pub(crate) overwrite: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks (conflicting names, groups naming missing arguments, …),
    /// which otherwise fire only when the faulty path is parsed.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
