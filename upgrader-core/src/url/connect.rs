//! Connecting to the database a URL names: the file checks SQLite needs, each server's driver
//! under a connect timeout, and the session set up (in the URL's schema, when it names one).

#[cfg(feature = "sqlite")]
use std::path::Path;
#[cfg(feature = "postgres")]
use std::time::Duration;

#[cfg(any(feature = "sqlite", feature = "mysql"))]
use diesel::prelude::*;

use super::DatabaseUrl;
#[cfg(feature = "mysql")]
use crate::connection::MysqlConnection;
#[cfg(feature = "postgres")]
use crate::connection::PgConnection;
#[cfg(feature = "sqlite")]
use crate::connection::SqliteConnection;
use crate::connection::{AnyConnection, Backend, one_line};
use crate::error::Error;

impl DatabaseUrl {
    /// A driver's message, scrubbed of secrets and on one line.
    fn driver_text(&self, text: &str) -> String {
        self.scrub(&one_line(&self.scrub(text)))
    }

    fn connect_error(&self, reason: String) -> Error {
        Error::Connect {
            url: self.redacted(),
            backend: self.backend,
            reason,
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
        let fail = |reason: String| self.connect_error(self.driver_text(&reason));
        let mut conn: AnyConnection = match self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                let dir = Path::new(&self.target)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty());
                if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                    return Err(self.connect_error(format!("directory {} does not exist", dir.display())));
                }
                let path = Path::new(&self.target);
                if let Some(kind) = not_a_file(path) {
                    // SQLite would block reading a FIFO, for ever.
                    return Err(self.connect_error(format!("{kind}, not a database file")));
                }
                let header = SqliteHeader::read(path);
                if header == SqliteHeader::Foreign {
                    // SQLite reads some such files (a single byte) as an empty database.
                    return Err(self.connect_error(
                        "file is not a database (it does not start with the SQLite header)".into(),
                    ));
                }
                let target = match writes {
                    true => self.target.clone(),
                    false => sqlite_read_only_uri(&self.target, header),
                };
                AnyConnection::Sqlite(SqliteConnection::establish(&target).map_err(|e| fail(e.to_string()))?)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                AnyConnection::Postgres(self.establish_within(establish_postgres)?.map_err(fail)?)
            }
            #[cfg(feature = "mysql")]
            Backend::Mysql => AnyConnection::Mysql(
                self.establish_within(|target| {
                    MysqlConnection::establish(target).map_err(|e| e.to_string())
                })?
                .map_err(fail)?,
            ),
            #[allow(unreachable_patterns)]
            _ => return Err(self.not_compiled()),
        };
        if self.backend == Backend::Sqlite {
            // SQLite opens any file, and reads it at the first query: a file that is not a
            // database (or is damaged) is an error now, not an empty database. Asked before the
            // session waits for locks (no busy timeout yet): a file another session holds
            // locked is not refused here, but waited for by the engine's own reads, which are
            // bounded by its timeouts and say who holds it.
            if let Err(e) = conn.query_i64("SELECT COUNT(*) AS value FROM sqlite_master")
                && crate::blocked::Blocked::from_message(&e.to_string()).is_none()
            {
                return Err(fail(e.to_string()));
            }
        }
        conn.configure(writes).map_err(|e| fail(e.to_string()))?;
        if let Some(schema) = &self.schema {
            self.use_schema(&mut conn, schema)?;
        }
        Ok(conn)
    }

    /// Makes `schema` the session's only schema (see [`DatabaseUrl::schema`]). A schema that does
    /// not exist, or that the user may not use, is an error now: never an empty database.
    fn use_schema(&self, conn: &mut AnyConnection, schema: &str) -> Result<(), Error> {
        let access = conn.dialect().use_schema(conn, schema).map_err(|e| {
            self.connect_error(self.driver_text(&format!("setting schema `{schema}` up: {e}")))
        })?;
        if access.used {
            return Ok(());
        }
        Err(Error::UnusableSchema {
            url: self.redacted(),
            schema: schema.to_owned(),
            database: access.database,
            missing: !access.exists,
        })
    }

    /// An empty in-memory SQLite database standing for this URL's file, which does not exist:
    /// for looking at a database that was never created, without creating it.
    #[cfg(feature = "sqlite")]
    pub(crate) fn connect_empty(&self) -> Result<AnyConnection, Error> {
        let mut conn = AnyConnection::Sqlite(
            SqliteConnection::establish(":memory:").map_err(|e| self.connect_error(e.to_string()))?,
        );
        conn.configure(false)
            .map_err(|e| self.connect_error(e.to_string()))?;
        Ok(conn)
    }

    /// See the other [`DatabaseUrl::connect_empty`]: without SQLite, there is no database to
    /// stand for the file.
    #[cfg(not(feature = "sqlite"))]
    pub(crate) fn connect_empty(&self) -> Result<AnyConnection, Error> {
        Err(self.not_compiled())
    }

    /// The error for a backend this build does not include.
    #[cfg_attr(
        all(feature = "sqlite", feature = "postgres", feature = "mysql"),
        allow(dead_code)
    )]
    fn not_compiled(&self) -> Error {
        Error::BackendNotCompiled {
            url: self.redacted(),
            backend: self.backend,
        }
    }

    /// Connects on a thread of its own, so that a server that never answers costs
    /// `connect_timeout` and not the operating system's TCP timeouts (the drivers have none of
    /// their own for the whole handshake). On timeout the thread is left to finish by itself.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn establish_within<C: Send + 'static>(
        &self,
        establish: fn(&str) -> Result<C, String>,
    ) -> Result<Result<C, String>, Error> {
        if self.connect_timeout.is_zero() {
            return Err(
                self.connect_error("the connection timeout is 0s, and no server answers in no time".into())
            );
        }
        let (send, receive) = std::sync::mpsc::channel();
        let target = self.target.clone();
        std::thread::Builder::new()
            .name("upgrader-connect".into())
            .spawn(move || {
                let _ = send.send(establish(&target));
            })
            .map_err(|e| self.connect_error(format!("cannot start a thread to connect: {e}")))?;
        receive.recv_timeout(self.connect_timeout).map_err(|_| {
            self.connect_error(format!(
                "no answer within {}s",
                self.connect_timeout.as_secs_f64()
            ))
        })
    }
}

/// Connects with tokio-postgres and hands the client to diesel-async: diesel-async's own
/// `establish` keeps only the top of tokio-postgres's error ("error connecting to server") and
/// drops its cause ("Connection refused", a DNS failure, "invalid connection string: …").
#[cfg(feature = "postgres")]
fn establish_postgres(target: &str) -> Result<PgConnection, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the connection's runtime: {e}"))?;
    let (client, connection) = runtime
        .block_on(tokio_postgres::connect(target, tokio_postgres::NoTls))
        .map_err(|e| postgres_error(&e))?;
    // diesel-async spawns the task that talks to the server on this runtime.
    let inner = runtime
        .block_on(diesel_async::AsyncPgConnection::try_from_client_and_connection(
            client, connection,
        ))
        .map_err(|e| e.to_string())?;
    // Drive that task on a thread of its own for as long as the connection lives: it ends when
    // the connection is dropped (or the server closes it), and the thread with it.
    std::thread::Builder::new()
        .name("upgrader-postgres".into())
        .spawn(move || {
            runtime.block_on(async {
                while tokio::runtime::Handle::current().metrics().num_alive_tasks() > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        })
        .map_err(|e| format!("cannot start a thread for the connection: {e}"))?;
    Ok(PgConnection::from(inner))
}

/// tokio-postgres's error with its causes: "error connecting to server: Connection refused (os
/// error 111)"; the server's own message for an error it sent.
#[cfg(feature = "postgres")]
fn postgres_error(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return db.message().to_owned();
    }
    crate::connection::with_causes(error)
}

/// What a path that exists and is not a regular file is (following symbolic links).
#[cfg(feature = "sqlite")]
fn not_a_file(path: &Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    match () {
        () if meta.is_file() => None,
        () if meta.is_dir() => Some("it is a directory"),
        () => Some("it is not a regular file"),
    }
}

/// What the start of an SQLite path says.
#[cfg(feature = "sqlite")]
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

#[cfg(feature = "sqlite")]
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
#[cfg(feature = "sqlite")]
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
