//! Hostile input: databases, histories, URLs, configurations and outputs an operator may really
//! meet, tried through the real binary (`upgrader-fixtures`: the CLI with the example modules and
//! two fixture upgrades). Every case asserts the exit code, the `error:` line, and, where nothing
//! should change, that the database is the same before and after (tables, columns and rows:
//! [`upgrader_tests::TestDb::snapshot`]).

mod cli;
mod history;
mod support;
mod timeouts;
mod url_secrets;
mod urls;
