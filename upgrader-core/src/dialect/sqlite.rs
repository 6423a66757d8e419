//! SQLite: a file, locked whole; no statement timeout; DDL is transactional.

use std::path::Path;

use diesel::QueryResult;

use super::{Dialect, MigrationFiles, ReadView, migration};
use crate::connection::AnyConnection;
use crate::error::Error;
use crate::history::catalog::Relation;
use crate::lock::LockId;
use crate::timeouts::Timeouts;
use crate::url::DatabaseUrl;

/// The SQLite dialect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sqlite;

const MIGRATIONS: [MigrationFiles; 4] = [
    migration!("sqlite", "2026-11-25-000000_create_history"),
    migration!("sqlite", "2026-11-26-000000_adopted_rows"),
    migration!("sqlite", "2026-11-26-160000_batch_checkpoints"),
    migration!("sqlite", "2026-11-27-000000_run_journal"),
];

impl Dialect for Sqlite {
    fn transactional_ddl(&self) -> bool {
        true
    }

    fn configure(&self, conn: &mut AnyConnection, writes: bool) -> QueryResult<()> {
        // Wait for a writer instead of failing at once; WAL lets readers go on meanwhile.
        conn.batch_execute("PRAGMA busy_timeout = 0; PRAGMA foreign_keys = ON;")?;
        // WAL lets readers go on while a run writes. It is a property of the file, set once;
        // switching needs the file to itself, and SQLite answers "database is locked" when
        // runners start together. Such a connection goes on without switching: another one
        // switches, and the busy timeout covers the rest. The switch does not wait (busy timeout
        // 0): a session holding the file would hold up the connection for the whole busy
        // timeout, before the engine's own is set. A connection that only reads never switches:
        // it changes nothing.
        if writes {
            let _ = conn.batch_execute("PRAGMA journal_mode = WAL;");
        }
        busy_timeout(conn, Timeouts::DEFAULT_WAIT)
    }

    fn set_timeouts(&self, conn: &mut AnyConnection, timeouts: &Timeouts) -> QueryResult<()> {
        // SQLite has no statement timeout.
        busy_timeout(conn, timeouts.wait)
    }

    fn set_upgrade_lock_timeout(
        &self,
        conn: &mut AnyConnection,
        wait: std::time::Duration,
    ) -> QueryResult<bool> {
        // The connection's busy timeout, set back after.
        busy_timeout(conn, wait)?;
        Ok(true)
    }

    fn utc_session(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    fn english_session(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    fn read_view(&self) -> ReadView {
        ReadView::Transaction
    }

    fn table_exists_sql(&self, table: &str) -> String {
        format!("SELECT COUNT(*) AS value FROM sqlite_master WHERE type = 'table' AND name = '{table}'")
    }

    fn relation_sql(&self) -> (&'static str, &'static str) {
        (
            "SELECT type AS kind FROM sqlite_master WHERE type IN ('table', 'view') AND lower(name) = lower(?)",
            "SELECT name, CAST(type AS TEXT) AS ty FROM pragma_table_info(?) ORDER BY cid",
        )
    }

    fn absent(
        &self,
        _conn: &mut AnyConnection,
        _name: &str,
        _again: bool,
    ) -> Result<Option<Relation>, Error> {
        // `sqlite_master` lists every table of the file.
        Ok(None)
    }

    fn is_table(&self, kind: &str) -> bool {
        kind == "table"
    }

    fn is_text_type(&self, _ty: &str) -> bool {
        // Any column holds text.
        true
    }

    fn is_time_or_number_type(&self, _ty: &str) -> bool {
        true
    }

    fn applied_as_text(&self, _ty: &str) -> &'static str {
        // Any value in any column; a blob is not a time.
        "CASE WHEN typeof(\"applied\") = 'blob' THEN NULL ELSE CAST(\"applied\" AS TEXT) END"
    }

    fn applied_value(&self, ty: &str) -> &'static str {
        // SQLite types by affinity: the declared type's name decides.
        if ty.contains("int") {
            "CAST(strftime('%s', ?) AS INTEGER)"
        } else if ["real", "floa", "doub"].iter().any(|t| ty.contains(t)) {
            "(julianday(?) - 2440587.5) * 86400.0"
        } else {
            "?"
        }
    }

    fn migrations(&self) -> &'static [MigrationFiles] {
        &MIGRATIONS
    }

    /// The file's canonical path, as its lock file's is made (a symlink, a relative and an
    /// absolute path, a `file:` URI are one file), without opening or creating it: the file need
    /// not exist, its directory must. Two hard links of one file are two paths.
    fn identity(&self, url: &DatabaseUrl) -> Result<String, Error> {
        let path = crate::lock::file::canonical(url.sqlite_path().unwrap_or(Path::new("")))?;
        Ok(match path.to_str() {
            Some(path) => format!("sqlite {path}"),
            // Not UTF-8: escaped, so that no two paths read alike.
            None => format!("sqlite {path:?}"),
        })
    }

    fn lock_id(&self, url: &DatabaseUrl, scope: &str) -> Result<LockId, Error> {
        Ok(LockId::Sqlite {
            file: crate::lock::file::lock_file(url.sqlite_path().unwrap_or(Path::new("")), scope)?,
        })
    }

    fn lock_holders(&self, _conn: &mut AnyConnection, file: Option<&Path>) -> (Vec<String>, Option<String>) {
        let holders = file.map(holders).unwrap_or_default();
        let note = holders
            .is_empty()
            .then(|| "SQLite cannot tell which process holds it".to_owned());
        (holders, note)
    }

    fn lock_messages(&self) -> &'static [&'static str] {
        &[
            "database is locked",       // SQLITE_BUSY
            "database table is locked", // SQLITE_LOCKED
        ]
    }

    fn statement_messages(&self) -> &'static [&'static str] {
        &[]
    }

    fn tables_sql(&self) -> String {
        "SELECT name AS value FROM sqlite_master WHERE type = 'table' ORDER BY name".into()
    }

    fn columns_sql(&self, table: &str) -> String {
        format!("SELECT name || ' ' || type AS value FROM pragma_table_info('{table}') ORDER BY cid")
    }

    fn value_as_text(&self, column: &str) -> String {
        // `quote` tells `1` from `'1'`.
        format!("quote(\"{column}\")")
    }
}

fn busy_timeout(conn: &mut AnyConnection, wait: std::time::Duration) -> QueryResult<()> {
    conn.batch_execute(&format!("PRAGMA busy_timeout = {}", super::millis(wait)))
}

/// The other processes holding locks on an SQLite file (or its WAL index), from the kernel's
/// list: writers first, then readers of the file (which hold up a commit in rollback-journal
/// mode). Linux only; elsewhere nobody can tell.
#[cfg(target_os = "linux")]
fn holders(file: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;

    let mut shm = file.as_os_str().to_owned();
    shm.push("-shm");
    // The kernel prints `major:minor:inode`, the device numbers in hex.
    let id = |path: &Path| {
        std::fs::metadata(path).ok().map(|m| {
            let dev = m.dev();
            let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
            let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
            format!("{major:02x}:{minor:02x}:{}", m.ino())
        })
    };
    let database = id(file);
    let index = id(Path::new(&shm));
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let me = std::process::id().to_string();
    let mut writers: Vec<&str> = Vec::new();
    let mut readers: Vec<&str> = Vec::new();
    for line in locks.lines() {
        // `1: POSIX  ADVISORY  WRITE 26563 fe:00:10010759 1073741824 1073742335`; a waiter's
        // line has `->` after the number.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, kind, _, mode, pid, target, ..] = fields[..] else {
            continue;
        };
        if kind != "POSIX" || pid == me {
            continue;
        }
        let on_database = database.as_deref() == Some(target);
        let on_index = index.as_deref() == Some(target);
        let list = match mode {
            "WRITE" if on_database || on_index => &mut writers,
            // Every WAL connection holds read locks on the index while open: not a sign.
            "READ" if on_database => &mut readers,
            _ => continue,
        };
        if !list.contains(&pid) {
            list.push(pid);
        }
    }
    let name = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| format!(" ({})", c.trim()))
            .unwrap_or_default()
    };
    let readers: Vec<&str> = readers.into_iter().filter(|r| !writers.contains(r)).collect();
    writers
        .iter()
        .map(|pid| format!("process {pid}{} is writing it", name(pid)))
        .chain(
            readers
                .iter()
                .map(|pid| format!("process {pid}{} is reading it", name(pid))),
        )
        .take(3)
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn holders(_file: &Path) -> Vec<String> {
    Vec::new()
}
