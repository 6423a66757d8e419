//! Database URLs: which backend, where, and how they print (passwords redacted). Connecting is
//! in `url/connect.rs`, a PostgreSQL URL's schema (`?schema=`) in `url/schema.rs`.

mod connect;
mod schema;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::connection::Backend;
use crate::error::Error;
use crate::secret::{LIBPQ_KEYS, Secrets};

pub(crate) use schema::quoted_identifier;

/// A parsed database URL: `postgres://…` (or a libpq `key=value` string), `mysql://…` (or
/// `mariadb://…`), or an SQLite file: `sqlite://path`, `file:path` or a plain path. A
/// PostgreSQL URL may name a schema (`?schema=NAME`, [`DatabaseUrl::schema`]), which the engine
/// then treats as the database.
///
/// It prints with every password replaced by `***` ([`DatabaseUrl::redacted`]), and
/// [`DatabaseUrl::scrub`] takes them out of any other text.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver is given: the URL or connection string for a server, the file path for
    /// SQLite.
    target: String,
    secrets: Secrets,
    connect_timeout: Duration,
    /// The PostgreSQL schema the URL names (`?schema=`), which the driver is not given.
    schema: Option<String>,
}

/// How long connecting to a server may take before it counts as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

const FORMS_HINT: &str =
    "use postgres://user@host/db, mysql://user@host/db, sqlite://path or a plain file path";

impl DatabaseUrl {
    /// Reads a URL.
    ///
    /// - `postgres://` or `postgresql://`, and libpq `key=value` strings that start with one of
    ///   PostgreSQL's connection keys (`host=db dbname=app user=app password=…`): PostgreSQL.
    ///   `?schema=NAME` on the URL (`schema=NAME` among the keys) names a schema
    ///   ([`DatabaseUrl::schema`]).
    /// - `mysql://` or `mariadb://`, with a database: MySQL/MariaDB.
    /// - `sqlite://path`, `file:path`, `file:///absolute/path` (percent-decoded, as SQLite reads
    ///   URIs; no URI parameters), `sqlite:path` or a plain path: that SQLite file.
    ///
    /// Refused: an unknown scheme; SQLite forms that keep nothing (`:memory:`, `mode=memory`, no
    /// path); other `key=value` strings (they are not taken for a file name); a `schema`
    /// parameter that names no schema, or on a MySQL/MariaDB or SQLite URL (they have no
    /// schemas).
    pub fn parse(url: &str) -> Result<Self, Error> {
        let url = url.trim();
        if url.is_empty() {
            return Err(invalid("", "the URL is empty", FORMS_HINT));
        }
        if let Some((scheme, rest)) = url.split_once("://")
            && is_scheme(scheme)
        {
            return match scheme.to_ascii_lowercase().as_str() {
                "postgres" | "postgresql" => DatabaseUrl::postgres_url(url, rest),
                "mysql" | "mariadb" => DatabaseUrl::mysql(url, rest),
                "sqlite" => DatabaseUrl::sqlite(url, uri_path(url, rest)?),
                "file" => DatabaseUrl::sqlite(url, file_uri(url, &url[5..])?),
                _ => Err(invalid(
                    Secrets::of_url(url).shown(),
                    &format!("unknown scheme `{scheme}` (use postgres://, mysql:// or sqlite://)"),
                    FORMS_HINT,
                )),
            };
        }
        if let Some(rest) = url.strip_prefix("file:") {
            return DatabaseUrl::sqlite(url, file_uri(url, rest)?);
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            return DatabaseUrl::sqlite(url, rest.to_owned());
        }
        if let Some(key) = leading_key(url) {
            let secrets = Secrets::of_key_value(url);
            if LIBPQ_KEYS.contains(&key) || key == schema::KEY {
                return DatabaseUrl::postgres_key_values(url, secrets);
            }
            return Err(invalid(
                secrets.shown(),
                &format!(
                    "this looks like a `key=value` connection string, but `{key}` is not a PostgreSQL connection key"
                ),
                "write PostgreSQL's keys (host=… port=… dbname=… user=… password=…) or a postgres:// URL; \
                 for an SQLite file with such a name, write sqlite:// before it",
            ));
        }
        let secrets = Secrets::of_key_value(url);
        if !secrets.is_empty() || (url.contains('=') && url.contains(|c: char| c.is_whitespace() || c == ';'))
        {
            return Err(invalid(
                secrets.shown(),
                "this looks like a connection string (`key=value` pairs), not a file path",
                "write a postgres:// or mysql:// URL, or PostgreSQL's keys (host=… dbname=… user=… password=…); \
                 for an SQLite file with such a name, write sqlite:// before it",
            ));
        }
        if url.contains("?schema=") || url.contains("&schema=") {
            return Err(schema::sqlite_schema(url));
        }
        DatabaseUrl::sqlite(url, url.to_owned())
    }

    fn server(backend: Backend, target: String, secrets: Secrets) -> DatabaseUrl {
        DatabaseUrl {
            backend,
            target,
            secrets,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            schema: None,
        }
    }

    /// `rest` is what follows `mysql://` or `mariadb://`. The database is the first path segment,
    /// as the driver reads it (the `url` crate): without it the history has nowhere to go.
    fn mysql(url: &str, rest: &str) -> Result<DatabaseUrl, Error> {
        let secrets = Secrets::of_url(url);
        let database = rest
            .find(['/', '?', '#'])
            .filter(|&i| rest[i..].starts_with('/'))
            .map(|i| &rest[i + 1..])
            .map(|path| &path[..path.find(['/', '?', '#']).unwrap_or(path.len())]);
        if database.is_none_or(str::is_empty) {
            return Err(invalid(
                secrets.shown(),
                "it names no database",
                "name the database after the host: mysql://user@host:3306/database",
            ));
        }
        if schema::in_mysql_query(rest) {
            return Err(schema::mysql_schema(secrets.shown()));
        }
        Ok(DatabaseUrl::server(
            Backend::Mysql,
            format!("mysql://{rest}"),
            secrets,
        ))
    }

    /// `path` is the file, as SQLite is to open it.
    fn sqlite(url: &str, path: String) -> Result<DatabaseUrl, Error> {
        if path.is_empty() {
            return Err(invalid(url, "it names no file", FORMS_HINT));
        }
        if path == ":memory:" {
            return Err(in_memory(url));
        }
        // SQLite reads a name that starts with `file:` as a URI: this is a file of that name.
        let target = if path.starts_with("file:") {
            format!("./{path}")
        } else {
            path
        };
        Ok(DatabaseUrl {
            backend: Backend::Sqlite,
            secrets: Secrets::none(&target),
            target,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            schema: None,
        })
    }

    /// The same URL, giving up on a server that has not answered within `timeout` (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]): a host that drops packets, or a port where something
    /// accepts connections and never speaks. A zero timeout is refused when connecting to a
    /// server (no server answers in no time).
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

    /// A text that is the same for two URLs naming the same database (and schema), and differs
    /// otherwise, whatever the host is called (`127.0.0.1` or `localhost`) or the file (a
    /// relative path, an absolute one, a symlink, a `sqlite://` URL). It starts with the backend.
    ///
    /// - SQLite: the file's canonical path, found without opening or creating the file (it need
    ///   not exist; its directory must).
    /// - PostgreSQL (connects, read-only): the cluster's `system_identifier` (a physical standby
    ///   shares its primary's); where the user may not call `pg_control_system()`, the server's
    ///   port and the time it started instead, which do not depend on the address it is reached
    ///   at. Then `current_database()` and the schema: the URL's, else the user's default
    ///   (`current_schema()`).
    /// - MySQL/MariaDB (connects): `@@hostname`, `@@port`, `@@datadir` and `DATABASE()`.
    ///
    /// Errors are those of connecting ([`Error::Connect`], [`Error::UnusableSchema`]) and of the
    /// queries ([`Error::Database`]), with the URL's passwords redacted.
    pub fn identity(&self) -> Result<String, Error> {
        self.backend.dialect().identity(self)
    }

    /// The URL with every password replaced by `***`, for messages (for SQLite, the file path).
    pub fn redacted(&self) -> String {
        self.secrets.shown().to_owned()
    }

    /// `text` with every form of the URL's passwords (as written, percent-decoded or
    /// percent-encoded, under every way a driver may read the URL) replaced by `***`: for any
    /// text that may quote the URL, such as a driver's error message.
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.scrub(text)
    }
}

fn invalid(url: &str, reason: &str, hint: &str) -> Error {
    Error::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
        hint: hint.to_owned(),
    }
}

fn in_memory(url: &str) -> Error {
    invalid(
        url,
        "an in-memory SQLite database keeps nothing: it is gone, with everything applied to it, when the connection closes",
        "name a database file: sqlite://path/to/app.db or a plain path",
    )
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(scheme: &str) -> bool {
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The key of a string that starts like `key=…` or `key =…`, with `key` an identifier.
fn leading_key(text: &str) -> Option<&str> {
    let end = text.find(|c: char| c.is_whitespace() || c == '=')?;
    let key = &text[..end];
    let identifier = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (identifier && text[end..].trim_start().starts_with('=')).then_some(key)
}

/// What follows `file:`: `//localhost/path` or `///path` (a local absolute path), or a path.
fn file_uri(url: &str, rest: &str) -> Result<String, Error> {
    let path = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let host = &after[..end];
            if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
                return Err(invalid(
                    url,
                    &format!("`{host}` is not this machine: a file: URI names a local file"),
                    "write file:///absolute/path, file:relative/path or a plain path",
                ));
            }
            &after[end..]
        }
        None => rest,
    };
    uri_path(url, path)
}

/// The file of an SQLite URI's path part, as SQLite reads it: up to `?` or `#`, percent-decoded.
/// URI parameters are refused, naming them: the engine opens the file read-write itself, and
/// `mode=memory` keeps nothing.
fn uri_path(url: &str, text: &str) -> Result<String, Error> {
    let end = text.find(['?', '#']).unwrap_or(text.len());
    let (path, tail) = text.split_at(end);
    let query = tail
        .strip_prefix('?')
        .map(|q| &q[..q.find('#').unwrap_or(q.len())])
        .unwrap_or("");
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    if params.iter().any(|(k, v)| k == "mode" && v == "memory") || decode(path) == ":memory:" {
        return Err(in_memory(url));
    }
    if params.iter().any(|(k, _)| k == schema::KEY) {
        return Err(schema::sqlite_schema(url));
    }
    if !params.is_empty() {
        let names: Vec<String> = params.iter().map(|(k, _)| format!("`{k}`")).collect();
        return Err(invalid(
            url,
            &format!("SQLite URI parameters are not supported: {}", names.join(", ")),
            "give the file alone (sqlite://path, file:path or a plain path): the engine opens it read-write itself",
        ));
    }
    Ok(decode(path))
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(url: &str) -> String {
        let parsed = DatabaseUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(parsed.backend(), Backend::Sqlite, "{url}");
        parsed.sqlite_path().unwrap().to_str().unwrap().to_owned()
    }

    #[track_caller]
    fn refused(url: &str, reason: &str) -> Error {
        let error = DatabaseUrl::parse(url).expect_err(url);
        assert!(error.to_string().contains(reason), "{url}: {error}");
        error
    }

    #[test]
    fn sqlite_forms_name_the_file_sqlite_opens() {
        for (url, path) in [
            ("app.db", "app.db"),
            ("./data/app.db", "./data/app.db"),
            ("sqlite:app.db", "app.db"),
            ("sqlite://app.db", "app.db"),
            ("sqlite:///srv/app.db", "/srv/app.db"),
            ("sqlite://my%20app.db", "my app.db"),
            ("file:app.db", "app.db"),
            ("file:data/my%20app.db", "data/my app.db"),
            ("file:/srv/app.db", "/srv/app.db"),
            ("file:///srv/app.db", "/srv/app.db"),
            ("file://localhost/srv/app.db", "/srv/app.db"),
            ("file:app.db#ignored", "app.db"),
            // A file whose name starts with `file:` is not read as a URI by SQLite.
            ("sqlite://file%3Aapp.db", "./file:app.db"),
        ] {
            assert_eq!(sqlite(url), path, "{url}");
        }
    }

    #[test]
    fn sqlite_forms_that_keep_nothing_are_refused() {
        for url in [
            ":memory:",
            " :memory: ",
            "sqlite::memory:",
            "sqlite://:memory:",
            "file::memory:",
            "file::memory:?cache=shared",
            "file:app.db?mode=memory",
            "file:app.db?cache=shared&mode=memory",
        ] {
            let error = refused(url, "an in-memory SQLite database keeps nothing");
            assert!(
                matches!(&error, Error::InvalidUrl { hint, .. } if hint.contains("name a database file")),
                "{url}"
            );
        }
        refused("sqlite://", "it names no file");
        refused("file:", "it names no file");
        refused("", "the URL is empty");
    }

    #[test]
    fn sqlite_uri_parameters_are_refused_by_name() {
        refused(
            "file:app.db?mode=ro&cache=shared",
            "SQLite URI parameters are not supported: `mode`, `cache`",
        );
        refused("sqlite://app.db?vfs=unix-dotfile", "`vfs`");
        refused("file://db.example/app.db", "`db.example` is not this machine");
    }

    #[test]
    fn libpq_key_value_strings_are_postgres() {
        let url = DatabaseUrl::parse("host=db port=5432 user=app password='pa ss' dbname=app").unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        assert_eq!(
            url.redacted(),
            "host=db port=5432 user=app password=*** dbname=app"
        );
        // A `://` inside a value does not make it a URL of an unknown scheme.
        let url = DatabaseUrl::parse("dbname=app password=a://b").unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        assert_eq!(url.redacted(), "dbname=app password=***");
    }

    #[test]
    fn other_key_value_strings_are_not_file_names() {
        let error = refused(
            "server=db password=hunter22 database=app",
            "`server` is not a PostgreSQL connection key",
        );
        assert!(!error.to_string().contains("hunter22"), "{error}");
        refused("data=1.db", "`data` is not a PostgreSQL connection key");
        let error = refused(
            "Data Source=app.db;Password=hunter22",
            "this looks like a connection string (`key=value` pairs), not a file path",
        );
        assert!(!error.to_string().contains("hunter22"), "{error}");
        refused("./backups/my copy=1.db", "this looks like a connection string");
        refused(
            "./app.db?password=hunter22",
            "this looks like a connection string",
        );
        assert_eq!(sqlite("./backups/a=1.db"), "./backups/a=1.db");
        // Forced to be a file, it is one.
        assert_eq!(sqlite("sqlite://data=1.db"), "data=1.db");
    }

    #[test]
    fn server_urls() {
        let url = DatabaseUrl::parse("mariadb://u:pw@h/app").unwrap();
        assert_eq!(url.backend(), Backend::Mysql);
        assert_eq!(url.redacted(), "mariadb://u:***@h/app");
        let url = DatabaseUrl::parse("POSTGRESQL://u:pa/ss@h/app").unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        assert_eq!(url.redacted(), "POSTGRESQL://u:***@h/app");
        for url in [
            "mysql://u:pw@h",
            "mysql://u:pw@h/",
            "mysql://u:pw@h?x=1",
            "mariadb://h:3306/",
        ] {
            let error = refused(url, "it names no database");
            assert!(!error.to_string().contains("pw@"), "{error}");
        }
        let error = refused("http://u:topsecret@h/app", "unknown scheme `http`");
        assert!(!error.to_string().contains("topsecret"), "{error}");
    }

    #[test]
    #[cfg(feature = "postgres")]
    fn a_zero_connect_timeout_is_refused() {
        let url = DatabaseUrl::parse("postgres://u@127.0.0.1:1/app")
            .unwrap()
            .with_connect_timeout(Duration::ZERO);
        let error = url.connect().expect_err("a zero timeout");
        assert!(
            error.to_string().contains("the connection timeout is 0s"),
            "{error}"
        );
    }

    /// A URL for a backend this build leaves out is refused at connect, before anything is
    /// opened, naming the feature that compiles it in. Runs in every build that leaves one out
    /// (CI: `cargo test -p upgrader-core --no-default-features --features sqlite --lib`).
    #[test]
    #[cfg(not(all(feature = "sqlite", feature = "postgres", feature = "mysql")))]
    fn a_backend_that_is_not_compiled_in_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.db");
        let urls = [
            file.to_str().unwrap().to_owned(),
            "postgres://app:topsecret@127.0.0.1:1/app".to_owned(),
            "mysql://app:topsecret@127.0.0.1:1/app".to_owned(),
        ];
        let mut refused = 0;
        for url in urls {
            let url = DatabaseUrl::parse(&url).unwrap();
            if url.backend().is_compiled() {
                continue;
            }
            refused += 1;
            let backend = url.backend();
            let mut results = vec![url.connect(), url.connect_read_only()];
            if url.sqlite_path().is_some() {
                // What looking at a file that does not exist opens.
                results.push(url.connect_empty());
            }
            for error in results
                .into_iter()
                .map(|result| result.expect_err("not compiled in"))
            {
                assert!(
                    matches!(error, Error::BackendNotCompiled { backend: b, .. } if b == backend),
                    "{error:?}"
                );
                let text = error.to_string();
                assert!(
                    text.ends_with(&format!("this program was built without {backend} support")),
                    "{text}"
                );
                assert!(!text.contains("topsecret"), "{text}");
                assert!(!text.contains('\n'), "one line: {text}");
                // What to turn on is the backend's feature (the CLI words the hint from it).
                assert!(!backend.is_compiled() && !backend.feature().is_empty());
            }
        }
        assert!(refused > 0, "this build leaves out at least one backend");
        // Nothing was created for a file whose backend is left out.
        assert!(!file.exists());
    }
}
