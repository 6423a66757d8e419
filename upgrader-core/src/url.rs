//! Database URLs: which backend, where, and how they print (passwords redacted).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::prelude::*;

use crate::connection::{AnyConnection, Backend, SqliteConnection, one_line};
use crate::error::Error;

/// A parsed database URL: `postgres://…`, `mysql://…` (or `mariadb://…`), `sqlite://path` or a
/// plain path to an SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver is given: the URL for a server, the file path for SQLite.
    target: String,
    connect_timeout: Duration,
}

/// How long connecting to a server may take before it counts as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

impl DatabaseUrl {
    /// Reads a URL; anything without a known scheme is an SQLite path.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let url = url.trim();
        if url.is_empty() {
            return Err(Error::InvalidUrl {
                url: String::new(),
                reason: "the URL is empty".into(),
            });
        }
        let (backend, target) = match url.split_once("://") {
            Some(("postgres" | "postgresql", _)) => (Backend::Postgres, url.to_owned()),
            Some(("mysql", _)) => (Backend::Mysql, url.to_owned()),
            Some(("mariadb", rest)) => (Backend::Mysql, format!("mysql://{rest}")),
            Some(("sqlite", rest)) => (Backend::Sqlite, rest.to_owned()),
            Some((scheme, _)) if !scheme.contains(['/', '\\']) => {
                return Err(Error::InvalidUrl {
                    url: redact(url),
                    reason: format!("unknown scheme `{scheme}` (use postgres://, mysql:// or sqlite://)"),
                });
            }
            _ => (
                Backend::Sqlite,
                url.strip_prefix("sqlite:").unwrap_or(url).to_owned(),
            ),
        };
        if backend == Backend::Sqlite && target.is_empty() {
            return Err(Error::InvalidUrl {
                url: url.to_owned(),
                reason: "no file path after `sqlite://`".into(),
            });
        }
        Ok(DatabaseUrl {
            backend,
            target,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
    }

    /// The same URL, giving up on a server that has not answered within `timeout` (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]): a host that drops packets, or a port where something
    /// accepts connections and never speaks.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The backend the URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For SQLite, the database file.
    pub fn sqlite_path(&self) -> Option<&Path> {
        (self.backend == Backend::Sqlite).then(|| Path::new(&self.target))
    }

    /// The URL with any password replaced by `***`, for messages.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => self.target.clone(),
            _ => redact(&self.target),
        }
    }

    /// Opens a connection.
    pub fn connect(&self) -> Result<AnyConnection, Error> {
        self.open(true)
    }

    /// Opens a connection that only reads. An SQLite file is opened read-only and left exactly
    /// as it is: not switched to WAL, and without the `-wal` and `-shm` files SQLite would create
    /// beside a WAL file that no connection has open (it is then opened as immutable: reading
    /// it needs no lock, and nothing else is writing it). A server is connected to as by
    /// [`DatabaseUrl::connect`].
    pub fn connect_read_only(&self) -> Result<AnyConnection, Error> {
        self.open(false)
    }

    fn open(&self, writes: bool) -> Result<AnyConnection, Error> {
        let fail = |source: diesel::ConnectionError| Error::Connect {
            url: self.redacted(),
            backend: self.backend,
            reason: one_line(&source.to_string()),
        };
        let mut conn = match self.backend {
            Backend::Sqlite => {
                let dir = Path::new(&self.target)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty());
                if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                    return Err(Error::Connect {
                        url: self.redacted(),
                        backend: self.backend,
                        reason: format!("directory {} does not exist", dir.display()),
                    });
                }
                let path = Path::new(&self.target);
                if let Some(kind) = not_a_file(path) {
                    // SQLite would block reading a FIFO, for ever.
                    return Err(Error::Connect {
                        url: self.redacted(),
                        backend: self.backend,
                        reason: format!("{kind}, not a database file"),
                    });
                }
                let header = SqliteHeader::read(path);
                if header == SqliteHeader::Foreign {
                    // SQLite reads some such files (a single byte) as an empty database.
                    return Err(Error::Connect {
                        url: self.redacted(),
                        backend: self.backend,
                        reason: "file is not a database (it does not start with the SQLite header)".into(),
                    });
                }
                let target = match writes {
                    true => self.target.clone(),
                    false => sqlite_read_only_uri(&self.target, header),
                };
                AnyConnection::Sqlite(SqliteConnection::establish(&target).map_err(fail)?)
            }
            Backend::Postgres => AnyConnection::Postgres(self.establish_within()?.map_err(fail)?),
            Backend::Mysql => AnyConnection::Mysql(self.establish_within()?.map_err(fail)?),
        };
        conn.configure(writes).map_err(|e| Error::Connect {
            url: self.redacted(),
            backend: self.backend,
            reason: one_line(&e.to_string()),
        })?;
        if self.backend == Backend::Sqlite {
            // SQLite opens any file, and reads it at the first query: a file that is not a
            // database (or is damaged, or locked for longer than the busy timeout) is an error
            // now, not an empty database.
            conn.query_i64("SELECT COUNT(*) AS value FROM sqlite_master")
                .map_err(|e| Error::Connect {
                    url: self.redacted(),
                    backend: self.backend,
                    reason: one_line(&e.to_string()),
                })?;
        }
        Ok(conn)
    }

    /// Connects on a thread of its own, so that a server that never answers costs
    /// `connect_timeout` and not the operating system's TCP timeouts (the drivers have none of
    /// their own for the whole handshake). On timeout the thread is left to finish by itself.
    fn establish_within<C: Connection + Send + 'static>(&self) -> Result<diesel::ConnectionResult<C>, Error> {
        let (send, receive) = std::sync::mpsc::channel();
        let target = self.target.clone();
        std::thread::Builder::new()
            .name("upgrader-connect".into())
            .spawn(move || {
                let _ = send.send(C::establish(&target));
            })
            .map_err(|e| Error::Connect {
                url: self.redacted(),
                backend: self.backend,
                reason: format!("cannot start a thread to connect: {e}"),
            })?;
        receive
            .recv_timeout(self.connect_timeout)
            .map_err(|_| Error::Connect {
                url: self.redacted(),
                backend: self.backend,
                reason: format!("no answer within {}s", self.connect_timeout.as_secs_f64()),
            })
    }

    /// The lock file that serialises runners on an SQLite database.
    pub(crate) fn sqlite_lock_path(&self) -> Option<PathBuf> {
        self.sqlite_path().map(|path| {
            let mut name = path.as_os_str().to_owned();
            name.push(".lock");
            PathBuf::from(name)
        })
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("backend", &self.backend)
            .field("target", &self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// What a path that exists and is not a regular file is (following symbolic links).
fn not_a_file(path: &Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    match () {
        () if meta.is_file() => None,
        () if meta.is_dir() => Some("it is a directory"),
        () => Some("it is not a regular file"),
    }
}

/// What the start of an SQLite path says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqliteHeader {
    /// Nothing to read: no file, an empty file (an empty database), no permission; SQLite says
    /// what it makes of it.
    Unread,
    /// An SQLite database; `wal` when it is in WAL mode (header bytes 18 and 19 are 2).
    Sqlite { wal: bool },
    /// Bytes that are not an SQLite database's.
    Foreign,
}

impl SqliteHeader {
    const MAGIC: &[u8; 16] = b"SQLite format 3\0";

    fn read(path: &Path) -> SqliteHeader {
        let mut header = Vec::with_capacity(20);
        let read = std::fs::File::open(path)
            .and_then(|file| std::io::Read::read_to_end(&mut std::io::Read::take(file, 20), &mut header));
        match read {
            Err(_) | Ok(0) => SqliteHeader::Unread,
            Ok(_) if header.starts_with(Self::MAGIC) && header.len() == 20 => SqliteHeader::Sqlite {
                wal: header[18] == 2 && header[19] == 2,
            },
            Ok(_) => SqliteHeader::Foreign,
        }
    }
}

/// The URI that opens the SQLite file `path` read-only (see [`DatabaseUrl::connect_read_only`]).
fn sqlite_read_only_uri(path: &str, header: SqliteHeader) -> String {
    let mut uri = String::from(if path.starts_with('/') { "file://" } else { "file:" });
    for c in path.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro");
    // A WAL file without a `-wal` file beside it: no connection has it open, and every byte of
    // it is in the file itself.
    let mut wal = std::ffi::OsString::from(path);
    wal.push("-wal");
    if header == (SqliteHeader::Sqlite { wal: true }) && !Path::new(&wal).exists() {
        uri.push_str("&immutable=1");
    }
    uri
}

fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
