//! The PostgreSQL schema a URL names, as Prisma writes it: `postgres://…/app?schema=tenant_1`, or
//! `schema=tenant_1` among a libpq string's keys. The engine then treats that schema as the
//! database (the session's `search_path` is that schema alone: see `url/connect.rs`). The
//! parameter is the engine's, not the driver's: it is taken out of what the driver is given, and
//! stays in the printed form as written.
//!
//! MySQL/MariaDB and SQLite have no schema to name: there the parameter is refused.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{DatabaseUrl, decode, invalid};
use crate::connection::Backend;
use crate::error::Error;
use crate::secret::{Secrets, key_values};

/// The parameter's name, in a URL's query and among a libpq string's keys.
pub(super) const KEY: &str = "schema";

/// PostgreSQL's longest identifier, in bytes (`NAMEDATALEN - 1`): a longer name is cut short by
/// the server, which would make two names one schema.
const MAX_LEN: usize = 63;

/// What a schema name keeps unencoded when it is written into a URL's query.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'-')
    .remove(b'.')
    .remove(b'~');

const HINT: &str = "write the schema after the database, `postgres://user@host:5432/db?schema=tenant_1`, \
                    or leave `schema` out for the user's default schema";

impl DatabaseUrl {
    /// A `postgres://` URL; `rest` is what follows `://`. `?schema=…` (or `&schema=…`) is taken
    /// out of what the driver is given.
    pub(super) fn postgres_url(url: &str, rest: &str) -> Result<DatabaseUrl, Error> {
        let secrets = Secrets::of_url(url);
        let (rest, schema) =
            take_from_query(rest).map_err(|reason| invalid(secrets.shown(), &reason, HINT))?;
        Ok(DatabaseUrl::server(Backend::Postgres, format!("postgres://{rest}"), secrets).in_schema(schema))
    }

    /// A libpq `key=value` string. `schema=…` among its keys is taken out of what the driver is
    /// given (libpq has no such key, and tokio-postgres refuses keys it does not know).
    pub(super) fn postgres_key_values(text: &str, secrets: Secrets) -> Result<DatabaseUrl, Error> {
        let pairs = key_values(text);
        let mut schema = None;
        let mut target = text.to_owned();
        // From the last to the first, so that each pair's place is still where it was written.
        for pair in pairs.iter().rev().filter(|pair| pair.key == KEY) {
            if schema.is_some() {
                return Err(invalid(secrets.shown(), "`schema` is given twice", HINT));
            }
            let name = checked(&pair.value).map_err(|reason| invalid(secrets.shown(), &reason, HINT))?;
            schema = Some(name);
            let before = target[..pair.start].trim_end();
            let after = target[pair.span.end..].trim_start();
            target = match (before.is_empty(), after.is_empty()) {
                (false, false) => format!("{before} {after}"),
                _ => format!("{before}{after}"),
            };
        }
        Ok(DatabaseUrl::server(Backend::Postgres, target, secrets).in_schema(schema))
    }

    fn in_schema(mut self, schema: Option<String>) -> DatabaseUrl {
        self.schema = schema;
        self
    }

    /// The PostgreSQL schema the URL names (`?schema=NAME`, percent-decoded), which the engine
    /// treats as the database: the history's tables live there, and the session's `search_path`
    /// is that schema alone. `None`: the user's default schema, as the server's `search_path`
    /// gives it.
    ///
    /// The name is taken as written, case and all (it is quoted): `?schema=Tenant` is the schema
    /// `"Tenant"`, not `tenant`.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The same PostgreSQL database with this schema, replacing any the URL names: as if
    /// `?schema=NAME` (or `&schema=NAME`, or `schema=NAME` in a libpq string) had been written.
    /// Printed, it shows the schema at the end of the URL. Refused for MySQL/MariaDB and SQLite,
    /// which have no schemas, and for a name PostgreSQL cannot take (empty, longer than 63 bytes).
    pub fn with_schema(&self, schema: &str) -> Result<DatabaseUrl, Error> {
        if self.backend != Backend::Postgres {
            return Err(self.no_schemas());
        }
        let written = match self.target.strip_prefix("postgres://") {
            // A URL: the scheme as written, what the driver is given, and the schema.
            Some(rest) => {
                let shown = self.secrets.shown();
                let scheme = &shown[..shown.find("://").unwrap_or(0)];
                let separator = match query_start(rest) {
                    None => "?",
                    Some(_) if rest.ends_with(['?', '&']) => "",
                    Some(_) => "&",
                };
                let value = utf8_percent_encode(schema, QUERY_VALUE);
                format!("{scheme}://{rest}{separator}{KEY}={value}")
            }
            // A libpq string: what the driver is given, and the schema as a value libpq reads.
            None => format!("{} {KEY}={}", self.target, key_value(schema)),
        };
        DatabaseUrl::parse(&written).map(|url| url.with_connect_timeout(self.connect_timeout))
    }

    /// Why a URL of another backend cannot name a schema.
    fn no_schemas(&self) -> Error {
        match self.backend {
            Backend::Mysql => mysql_schema(self.secrets.shown()),
            _ => sqlite_schema(self.secrets.shown()),
        }
    }
}

/// The refusal of `schema` on a MySQL/MariaDB URL.
pub(super) fn mysql_schema(shown: &str) -> Error {
    invalid(
        shown,
        "`schema` is PostgreSQL's: MySQL/MariaDB's schema is its database",
        "name the database in the path instead: mysql://user@host:3306/tenant_1",
    )
}

/// The refusal of `schema` on an SQLite URL or path.
pub(super) fn sqlite_schema(shown: &str) -> Error {
    invalid(
        shown,
        "`schema` is PostgreSQL's: an SQLite file is one database, with no schemas",
        "name the SQLite file alone (sqlite://path or a plain path): one file per database",
    )
}

/// Whether a MySQL/MariaDB URL's query (after `mysql://`) has a `schema` parameter. The `url`
/// crate, which the driver uses, starts the query at the first `?` before any `#`.
pub(super) fn in_mysql_query(rest: &str) -> bool {
    let query = match (rest.find('?'), rest.find('#')) {
        (Some(q), Some(h)) if h < q => return false,
        (Some(q), Some(h)) => &rest[q + 1..h],
        (Some(q), None) => &rest[q + 1..],
        (None, _) => return false,
    };
    query.split('&').any(is_schema_key)
}

/// Whether a query pair, `key=value` or `key`, is `schema`'s.
fn is_schema_key(pair: &str) -> bool {
    decode(pair.split_once('=').map_or(pair, |(key, _)| key)) == KEY
}

/// Where a `postgres://` URL's query starts (its `?`), in `rest` (what follows `://`), as
/// tokio-postgres reads it: the user and password run to the first `@`, the host to the next
/// `/` or `?`, the database to the next `?`.
fn query_start(rest: &str) -> Option<usize> {
    let after_credentials = rest.find('@').map_or(0, |at| at + 1);
    rest[after_credentials..].find('?').map(|q| after_credentials + q)
}

/// `rest` (what follows `postgres://`) without its `schema` parameter, and the schema. Every other
/// parameter is left as written, in its place.
fn take_from_query(rest: &str) -> Result<(String, Option<String>), String> {
    let Some(q) = query_start(rest) else {
        return Ok((rest.to_owned(), None));
    };
    let pairs: Vec<&str> = rest[q + 1..].split('&').collect();
    let (ours, others): (Vec<&str>, Vec<&str>) = pairs.into_iter().partition(|pair| is_schema_key(pair));
    let schema = match ours[..] {
        [] => return Ok((rest.to_owned(), None)),
        [pair] => checked(&decode(pair.split_once('=').map_or("", |(_, value)| value)))?,
        _ => return Err("`schema` is given twice".into()),
    };
    let mut kept = rest[..q].to_owned();
    if !others.is_empty() {
        kept.push('?');
        kept.push_str(&others.join("&"));
    }
    Ok((kept, Some(schema)))
}

/// `name` when PostgreSQL can take it as a schema's name, as it is.
fn checked(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("`schema=` names no schema".into());
    }
    if name.contains('\0') {
        return Err("the schema's name holds a NUL character".into());
    }
    if name.len() > MAX_LEN {
        return Err(format!(
            "the schema's name `{name}` is longer than PostgreSQL's {MAX_LEN} bytes"
        ));
    }
    Ok(name.to_owned())
}

/// `value` as a libpq string writes it: bare when it can be, else in single quotes, with `\`
/// before each `'` and `\`.
fn key_value(value: &str) -> String {
    if !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\') {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `text` quoted as an SQL identifier: in double quotes, each `"` doubled.
pub(crate) fn quoted_identifier(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> DatabaseUrl {
        DatabaseUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[track_caller]
    fn refused(url: &str, reason: &str, hint: &str) {
        match DatabaseUrl::parse(url) {
            Err(Error::InvalidUrl {
                reason: r, hint: h, ..
            }) => {
                assert!(r.contains(reason), "{url}: {r}");
                assert!(h.contains(hint), "{url}: {h}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn the_schema_is_read_and_not_given_to_the_driver() {
        for (url, target, schema) in [
            ("postgres://app@db:5432/app", "postgres://app@db:5432/app", None),
            (
                "postgres://app@db:5432/app?schema=tenant_1",
                "postgres://app@db:5432/app",
                Some("tenant_1"),
            ),
            (
                "postgresql://app@db/app?sslmode=disable&schema=tenant_1&connect_timeout=5",
                "postgres://app@db/app?sslmode=disable&connect_timeout=5",
                Some("tenant_1"),
            ),
            (
                "postgres://app@db/app?schema=My%20Tenant%22s",
                "postgres://app@db/app",
                Some("My Tenant\"s"),
            ),
            // A `?` in the password is the password's, as tokio-postgres reads it.
            (
                "postgres://app:p?schema=x@db/app?schema=t",
                "postgres://app:p?schema=x@db/app",
                Some("t"),
            ),
            // Another parameter that only contains the word is not it.
            (
                "postgres://app@db/app?application_name=schema",
                "postgres://app@db/app?application_name=schema",
                None,
            ),
        ] {
            let parsed = parse(url);
            assert_eq!(parsed.backend(), Backend::Postgres);
            assert_eq!(parsed.target, target, "{url}");
            assert_eq!(parsed.schema(), schema, "{url}");
        }
    }

    #[test]
    fn the_printed_form_keeps_the_schema_as_written_and_hides_the_password() {
        let url = parse("postgres://app:hunter22@db:5432/app?schema=tenant%5F1");
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/app?schema=tenant%5F1");
        assert_eq!(url.to_string(), url.redacted());
        assert!(!format!("{url:?}").contains("hunter22"));
        assert_eq!(url.schema(), Some("tenant_1"));
        let url = parse("postgres://app@db/app?password=hunter22&schema=t");
        assert_eq!(url.redacted(), "postgres://app@db/app?password=***&schema=t");
    }

    #[test]
    fn a_schema_postgres_cannot_take_is_refused() {
        for url in [
            "postgres://app@db/app?schema=",
            "postgres://app@db/app?schema",
            "postgres://app@db/app?sslmode=disable&schema=&x=1",
        ] {
            refused(url, "`schema=` names no schema", "?schema=tenant_1");
        }
        refused(
            "postgres://app@db/app?schema=a&schema=b",
            "`schema` is given twice",
            "?schema=tenant_1",
        );
        refused(
            &format!("postgres://app@db/app?schema={}", "a".repeat(64)),
            "is longer than PostgreSQL's 63 bytes",
            "?schema=tenant_1",
        );
        assert_eq!(
            parse(&format!("postgres://app@db/app?schema={}", "a".repeat(63))).schema(),
            Some("a".repeat(63).as_str())
        );
        refused("postgres://app@db/app?schema=a%00b", "NUL", "?schema=tenant_1");
    }

    #[test]
    fn the_password_never_prints_in_a_refusal() {
        let error = DatabaseUrl::parse("postgres://app:hunter22@db/app?schema=").unwrap_err();
        assert!(!error.to_string().contains("hunter22"), "{error}");
        let error = DatabaseUrl::parse("mysql://app:hunter22@db/app?schema=t").unwrap_err();
        assert!(!error.to_string().contains("hunter22"), "{error}");
    }

    #[test]
    fn libpq_strings_take_schema_among_their_keys() {
        for (text, target, schema) in [
            (
                "host=db dbname=app schema=tenant_1",
                "host=db dbname=app",
                "tenant_1",
            ),
            (
                "schema=tenant_1 host=db dbname=app",
                "host=db dbname=app",
                "tenant_1",
            ),
            (
                "host=db schema = 'my \\'t\\'' dbname=app",
                "host=db dbname=app",
                "my 't'",
            ),
        ] {
            let url = parse(text);
            assert_eq!(url.backend(), Backend::Postgres, "{text}");
            assert_eq!(url.target, target, "{text}");
            assert_eq!(url.schema(), Some(schema), "{text}");
            assert_eq!(url.redacted(), text, "printed as written");
        }
        let url = parse("host=db password=hunter22 schema=t");
        assert_eq!(url.redacted(), "host=db password=*** schema=t");
        refused(
            "host=db schema=''",
            "`schema=` names no schema",
            "?schema=tenant_1",
        );
        refused("host=db schema=a schema=b", "`schema` is given twice", "");
    }

    #[test]
    fn other_backends_refuse_a_schema() {
        for url in [
            "mysql://root@db:3306/app?schema=tenant_1",
            "mariadb://root@db/app?ssl-mode=disabled&schema=tenant_1",
        ] {
            refused(
                url,
                "MySQL/MariaDB's schema is its database",
                "mysql://user@host:3306/tenant_1",
            );
        }
        // A `#` ends the query.
        assert_eq!(parse("mysql://root@db/app#?schema=t").backend(), Backend::Mysql);
        for url in [
            "sqlite://app.db?schema=tenant_1",
            "file:app.db?schema=tenant_1",
            "app.db?schema=tenant_1",
            "./data/app.db?mode=rwc&schema=tenant_1",
        ] {
            refused(
                url,
                "an SQLite file is one database, with no schemas",
                "one file per database",
            );
        }
    }

    #[test]
    fn with_schema_names_the_schema_as_if_it_had_been_written() {
        for (url, schema, shown) in [
            (
                "postgres://app:pw@db/app",
                "tenant_2",
                "postgres://app:***@db/app?schema=tenant_2",
            ),
            (
                "POSTGRESQL://app:pw@db/app?schema=tenant_1",
                "tenant_2",
                "POSTGRESQL://app:***@db/app?schema=tenant_2",
            ),
            (
                "postgres://app@db/app?sslmode=disable&schema=tenant_1",
                "My Tenant",
                "postgres://app@db/app?sslmode=disable&schema=My%20Tenant",
            ),
            (
                "host=db password=pw dbname=app schema=tenant_1",
                "tenant_2",
                "host=db password=*** dbname=app schema=tenant_2",
            ),
            ("host=db dbname=app", "it's", "host=db dbname=app schema='it\\'s'"),
        ] {
            let base = parse(url).with_connect_timeout(std::time::Duration::from_secs(3));
            let other = base.with_schema(schema).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(other.schema(), Some(schema), "{url}");
            assert_eq!(other.redacted(), shown, "{url}");
            assert_eq!(other.connect_timeout, base.connect_timeout);
            // The driver is given what it was given before.
            assert_eq!(other.target, parse(url).target, "{url}");
            assert_eq!(
                other.with_schema(schema).unwrap(),
                other,
                "naming it again changes nothing"
            );
            let written =
                parse(&other.redacted().replace("***", "pw")).with_connect_timeout(base.connect_timeout);
            assert_eq!(written, other, "{url}");
        }
        let url = parse("postgres://app@db/app");
        assert!(matches!(url.with_schema(""), Err(Error::InvalidUrl { .. })));
        assert!(url.with_schema(&"a".repeat(64)).is_err());
        let error = parse("mysql://root:pw@db/app").with_schema("t").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("MySQL/MariaDB's schema is its database"),
            "{error}"
        );
        assert!(!error.to_string().contains("pw@"), "{error}");
        let error = parse("app.db").with_schema("t").unwrap_err();
        assert!(
            error.to_string().contains("an SQLite file is one database"),
            "{error}"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quoted_identifier("tenant_1"), "\"tenant_1\"");
        assert_eq!(quoted_identifier("a\"; DROP"), "\"a\"\"; DROP\"");
    }
}
