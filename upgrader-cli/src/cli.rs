//! The command line, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
The database is --database-url, else $UPGRADER_DATABASE_URL, else `database_url` in upgrader.toml,
else the SQLite file upgrader.db in the working directory. URLs: postgres://user@host/db,
mysql://user@host/db, sqlite://path or a plain path.

Exit codes: 0 success; 1 failure (an upgrade or a check failed, the database is unreachable,
`check` found a problem, `create` refused); 2 bad usage.";

/// Plans and applies the upgrades linked into this binary.
#[derive(Debug, Parser)]
#[command(name = "upgrader", version, after_help = AFTER_HELP, propagate_version = true)]
pub(crate) struct Cli {
    /// The database: postgres://…, mysql://…, sqlite://path or a file path.
    #[arg(long, global = true, env = "UPGRADER_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,

    /// Give up on a database server that has not answered within this many seconds [default: 30].
    #[arg(long, global = true, value_name = "SECONDS")]
    pub(crate) connect_timeout: Option<u64>,

    /// The table that holds the history [default: `history_table` in upgrader.toml, else
    /// upgrade]: lowercase letters, digits and _, at most 48 characters.
    #[arg(long, global = true, value_name = "NAME", value_parser = clap::builder::ValueParser::new(upgrader_core::HistoryTable::new))]
    pub(crate) history_table: Option<upgrader_core::HistoryTable>,

    /// The configuration file.
    #[arg(long, global = true, default_value = "upgrader.toml")]
    pub(crate) config: PathBuf,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Lists applied or pending upgrades.
    #[command(subcommand)]
    Show(Show),
    /// Checks the graph and the database: exits 1 when something is wrong, so CI can use it.
    Check(Check),
    /// Shows the plan, asks for confirmation and applies the pending upgrades.
    Run(Run),
    /// Records every known upgrade as applied without running it (for a database just created at
    /// the latest schema).
    Populate(Confirmation),
    /// Repairs the history by hand: records upgrades as applied, or as pending again.
    Mark(Mark),
    /// Settles an upgrade that was interrupted (MySQL/MariaDB): run it again, or record it as done.
    Resolve(Resolve),
    /// For module authors: writes a new upgrade file (a recipe or a release) and declares it in
    /// its module file. Needs no database.
    #[command(subcommand)]
    Create(Create),
}

#[derive(Debug, Subcommand)]
pub(crate) enum Show {
    /// The upgrades the database has, oldest first, with when they were applied.
    Applied(Format),
    /// The upgrades to run, in run order, with what they do and their estimates.
    Pending(Format),
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
pub(crate) struct Confirmation {
    /// Runs unattended: no confirmation, and every question an upgrade asks gets its default.
    #[arg(long)]
    pub(crate) yes_i_know: bool,

    /// How long to wait for another runner's lock, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) lock_timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct Run {
    #[command(flatten)]
    pub(crate) confirmation: Confirmation,
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
}
