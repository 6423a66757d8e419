//! The `#[upgrade]` attribute of upgrader. Use it through `upgrader_core::upgrade`; this crate is
//! an implementation detail of `upgrader-core`, and its expansion names only
//! `::upgrader_core::__private`.
//!
//! ```
//! use upgrader_core::{Context, Result, upgrade};
//!
//! /// Create the `records` table.
//! #[upgrade(depends_on = [])]
//! pub fn records_2024_01_10_initial(ctx: &mut Context) -> Result<()> {
//!     ctx.execute("CREATE TABLE records (id INTEGER PRIMARY KEY)")?;
//!     Ok(())
//! }
//!
//! fn enough_disk(_ctx: &mut Context) -> Result<()> {
//!     Ok(())
//! }
//!
//! fn about_a_minute(_ctx: &mut Context) -> Result<std::time::Duration> {
//!     Ok(std::time::Duration::from_secs(60))
//! }
//!
//! /// Add the `version_id` column to `records`.
//! #[upgrade(
//!     depends_on = [records_2024_01_10_initial],
//!     estimate = about_a_minute,
//!     pre_upgrade = enough_disk,
//! )]
//! pub fn records_2024_03_05_add_version_id(ctx: &mut Context) -> Result<()> {
//!     ctx.execute("ALTER TABLE records ADD COLUMN version_id BIGINT")?;
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! # Arguments
//!
//! All optional, in any order, each at most once:
//! - `depends_on = [path, ...]`: the upgrades that must be applied before this one, as paths to
//!   their functions (`name`, `super::name`, `crate::accounts::name`, `other_crate::name`).
//!   `depends_on = []` marks a module's first upgrade; leaving `depends_on` out means the same.
//! - `estimate = path`: a `fn(&mut Context) -> Result<Duration>` saying how long the upgrade
//!   expects to take on this database.
//! - `pre_upgrade = path`: a `fn(&mut Context) -> Result<()>` that must pass before anything of
//!   the run is applied.
//! - `post_upgrade = path`: a `fn(&mut Context) -> Result<()>` run after the last upgrade of the
//!   run.
//!
//! # Rules
//!
//! The attribute applies to a plain function `fn name(ctx: &mut Context) -> Result<()>` in a
//! module (or a function body), not in an `impl` or `trait` block: not `async`, `unsafe`,
//! `extern`, generic or variadic, without `self`. Its name is the upgrade's id and must be
//! `<module>_<yyyy>_<mm>_<dd>_<name>` with a real date, or `<repository>_release_<x>_<y>_<z>` (the
//! rules of `upgrader_core::parse_id`, from the `upgrader-naming` crate both use). Its doc comment is the
//! upgrade's info and is required. A dependency cannot be the upgrade itself or be listed twice
//! (dependencies are compared by their last segment, as ids are unique).
//!
//! Checked by rustc, under the tokens you wrote: a dependency path that does not resolve or is
//! not an upgrade; the function's and the hooks' types ("expected fn pointer, found fn item",
//! with both signatures); and dependency cycles within a crate.
//!
//! Beside each upgrade function `name`, the attribute puts two hidden items: `name` in the macro
//! namespace (an import of `upgrader_core::__private::dependency`, a macro that expands to its
//! input), and a constant `NAME`, its depth: one more than its dependencies'. A dependency `dep`
//! is read as `dep! { DEP }` and a path `a::b::dep` as `{ use a::b::dep; dep! { a::b::DEP } }`,
//! so rustc checks the name you wrote first and the messages name upgrades only:
//! - a misspelt name is "cannot find macro `dep` in this scope", with "a macro with a similar
//!   name exists" suggesting the upgrade; a misspelt last segment of a path is "unresolved import
//!   `a::b::dep`", "no `dep` in `b`", with "a similar name exists in the module";
//! - a name that is not an upgrade is "cannot find macro `dep` in this scope", noting "`dep` is in
//!   scope, but it is a function, not a macro" (or "imported here" for a path; a struct, a
//!   module...);
//! - a cycle is a const-evaluation cycle (E0391) through the depth constants, which the
//!   expansion forces to be evaluated: "cycle detected when simplifying constant for the type
//!   system `RECORDS_2024_01_01_A`", then for each upgrade on the cycle "...which requires
//!   const-evaluating + checking `<module path>::<NAME>`..." under the dependency that leads on.
//!
//! A module file re-exports its upgrades' files with `pub use <id>::*;`, which takes the hidden
//! items along; naming only the function (`pub use <id>::<id>;`) does not, and a dependency
//! through that module then fails with "cannot find value `<NAME>` in module `<module>`".

//! The attribute also records where the upgrade is (`file!()`, the line of its `fn`, and the
//! crate's name, version and manifest directory, written as literals: the values those macros
//! would give, read from the compiler and from cargo's environment) and a checksum of its code
//! (below). Per upgrade it emits the function, the two hidden items and one
//! `inventory::submit!` of one struct literal: what it costs a crate's rebuild next to bare
//! `inventory::submit!` items is measured by `scripts/bench-rebuild.sh` (README, "Rebuild").
//!
//! # Long chains and `recursion_limit`
//!
//! Evaluating a depth constant recurses along the dependency chain until it meets one already
//! evaluated, and rustc evaluates the forced constants in the order the upgrades appear in the
//! crate. Written oldest first, a chain costs nothing: each depth finds its dependency's
//! already evaluated (measured: 5,000 upgrades, no limit needed). Met from its end (newest first,
//! or a module declared before the modules it depends on), the whole chain is evaluated in one
//! recursion of about one query per link, and rustc caps query depth at the crate's
//! `recursion_limit`. Measured with rustc 1.95.0, without incremental compilation: with the
//! default limit (128), a chain of 127 upgrades met from its end builds and one of 130 stops with
//! "queries overflow the depth limit!"; with `#![recursion_limit = "4096"]` at the crate root,
//! 4,090 build and 4,100 overflow; the same with the depth as an associated constant of a hidden
//! type, as it was before it became a free constant. Measured again (a dev build) since a single
//! dependency's depth is written `dep + 1` rather than through a local array and `depth`: 130
//! build and 131 stop with the default limit, and still 4,090 build and 4,100 overflow with 4096. (The figure of about 1,000 in the workspace
//! conventions did not hold for this expansion: an earlier version, whose depth read its
//! dependencies through a promoted `&[..]`, cost two queries per link and overflowed at about 65
//! with the default limit and about 2,000 with 4096.) The test `tests/ui-pass/long-chain.rs` keeps a chain of 1,100
//! written newest first, with the 4096 limit; it fails to build without it. Chains split across
//! crates do not add up: each crate evaluates only its own upgrades' constants.
//!
//! # Checksum
//!
//! Each upgrade records a fingerprint of its code (FNV-1a, 64 bits, as 16 hex digits) over a
//! canonical rendering of the signature's and body's tokens and the attribute's arguments. Doc
//! comments, other attributes, visibility, whitespace, comments and the trailing commas rustfmt
//! adds or removes do not count; any other edit does.
#![warn(missing_docs)]

mod args;
mod checksum;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Registers an upgrade: `#[upgrade(depends_on = [...], estimate = f, pre_upgrade = f,
/// post_upgrade = f)]` on `fn <id>(ctx: &mut Context) -> Result<()>`. See the crate docs.
#[proc_macro_attribute]
pub fn upgrade(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into()).into()
}
