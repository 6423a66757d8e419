//! PostgreSQL schemas as databases (`?schema=NAME`), and which database a URL names
//! (`DatabaseUrl::identity`), on real servers: SQLite always, PostgreSQL and MariaDB when their
//! URLs are set (`.ci/run` sets them; without them those tests say SKIPPED).

use std::path::Path;
use std::time::Duration;

// The application's upgrades: `Registry::linked()` finds them.
use example_modules as _;
use upgrader_core::{
    AnyConnection, Backend, DEFAULT_SCOPE, DatabaseUrl, Engine, Error, LockId, Registry, RunOptions,
    Unattended,
};
use upgrader_tests::{TestDb, unique_name};

/// The history's tables, as the engine creates them unqualified.
const HISTORY: [&str; 6] = [
    "__diesel_schema_migrations",
    "upgrade",
    "upgrade_checkpoint",
    "upgrade_in_progress",
    "upgrade_run",
    "upgrade_run_upgrade",
];

/// Tables the example upgrades create.
const APPLICATION: [&str; 3] = ["records", "search_index", "users"];

/// Far longer than any test waits: a run that is not held up never comes near it.
const NOT_HELD_UP: Duration = Duration::from_secs(120);

fn run(url: &DatabaseUrl, lock_timeout: Duration) -> Result<upgrader_core::RunReport, Error> {
    let mut engine = Engine::open(url, Registry::linked(), None)?;
    engine.run(
        &mut Unattended::default(),
        &RunOptions::default().with_lock_timeout(lock_timeout),
    )
}

/// The tables of `schema`, sorted.
fn tables_in(conn: &mut AnyConnection, schema: &str) -> Vec<String> {
    let sql = format!(
        "SELECT CAST(table_name AS TEXT) AS value FROM information_schema.tables \
         WHERE table_schema = '{}' ORDER BY table_name",
        schema.replace('\'', "''")
    );
    conn.query_texts(&sql).unwrap().into_iter().flatten().collect()
}

/// An error and its causes, `: `-separated, as a program prints them.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// `url` with the user `user` (and no password).
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{rest}")
}

/// `url` naming its host another way: `127.0.0.1` as `localhost`.
fn by_name(url: &str) -> String {
    assert!(
        url.contains("@127.0.0.1:"),
        "the test servers are on 127.0.0.1: {url}"
    );
    url.replacen("@127.0.0.1:", "@localhost:", 1)
}

/// A PostgreSQL login role made for one test, dropped at the end (after what it owns).
struct Role {
    admin: AnyConnection,
    name: String,
}

impl Role {
    fn new(db: &TestDb) -> Role {
        let mut admin = db.connect();
        let name = unique_name();
        admin.execute(&format!("CREATE ROLE {name} LOGIN")).unwrap();
        Role { admin, name }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.admin.execute(&format!("DROP OWNED BY {}", self.name));
        let _ = self.admin.execute(&format!("DROP ROLE IF EXISTS {}", self.name));
    }
}

#[test]
fn two_schemas_of_one_database_each_keep_their_own_history() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let mut admin = db.connect();
    // A name that must be quoted: a capital, a space and a double quote.
    let schemas = ["tenant_1", "Tenant \"2\""];
    for schema in schemas {
        let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
        admin.execute(&format!("CREATE SCHEMA {quoted}")).unwrap();
    }
    let linked = Registry::linked().upgrades().len();
    assert!(linked >= 5, "the example upgrades are linked: {linked}");
    for schema in schemas {
        let url = db.database_url().with_schema(schema).unwrap();
        let report = run(&url, NOT_HELD_UP).unwrap_or_else(|e| panic!("{schema}: {e}"));
        assert_eq!(report.applied.len(), linked, "{schema}: every upgrade applied");
        let again = run(&url, NOT_HELD_UP).unwrap();
        assert_eq!(
            again.applied_ids(),
            Vec::<&str>::new(),
            "{schema}: a second run is a no-op"
        );
    }
    for schema in schemas {
        let tables = tables_in(&mut admin, schema);
        for table in HISTORY.iter().chain(&APPLICATION) {
            assert!(
                tables.contains(&table.to_string()),
                "{schema} has no `{table}`: {tables:?}"
            );
        }
        let applied = admin
            .query_i64(&format!(
                "SELECT COUNT(*) AS value FROM \"{}\".upgrade",
                schema.replace('"', "\"\"")
            ))
            .unwrap();
        assert_eq!(applied, Some(linked as i64), "{schema}'s own history");
    }
    assert_eq!(
        tables_in(&mut admin, "public"),
        Vec::<String>::new(),
        "public gets nothing"
    );
    // Looking, through the read-only connection, sees each schema up to date.
    for schema in schemas {
        let url = db.database_url().with_schema(schema).unwrap();
        let engine = Engine::inspect(&url, Registry::linked(), None).unwrap();
        drop(engine);
        // The schema alone, though `public` exists and may be used.
        let mut conn = url.connect_read_only().unwrap();
        let path = conn
            .query_text("SELECT array_to_string(current_schemas(false), ',') AS value")
            .unwrap();
        assert_eq!(path.as_deref(), Some(schema));
    }
}

/// A history table in `public` is never read as a tenant's: the search path is the tenant's
/// schema alone.
#[test]
fn a_history_in_public_is_not_the_tenants() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    run(&db.database_url(), NOT_HELD_UP).unwrap();
    let mut admin = db.connect();
    assert!(tables_in(&mut admin, "public").contains(&"upgrade".to_owned()));
    admin.execute("CREATE SCHEMA tenant_1").unwrap();
    let url = db.database_url().with_schema("tenant_1").unwrap();
    let report = run(&url, NOT_HELD_UP).unwrap();
    assert_eq!(report.applied.len(), Registry::linked().upgrades().len());
    assert!(tables_in(&mut admin, "tenant_1").contains(&"upgrade".to_owned()));
}

#[test]
fn a_missing_schema_is_an_error_and_creates_nothing() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let url = db.database_url().with_schema("tenant_9").unwrap();
    let database = db.url.rsplit('/').next().unwrap().to_owned();
    let errors = [
        run(&url, NOT_HELD_UP).map(|_| ()).unwrap_err(),
        Engine::inspect(&url, Registry::linked(), None)
            .map(|_| ())
            .unwrap_err(),
        url.connect().map(|_| ()).unwrap_err(),
        url.connect_read_only().map(|_| ()).unwrap_err(),
        url.identity().map(|_| ()).unwrap_err(),
    ];
    for error in errors {
        match &error {
            Error::UnusableSchema {
                schema,
                database: d,
                missing: true,
                ..
            } => {
                assert_eq!(schema, "tenant_9");
                assert_eq!(d, &database);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            error.to_string(),
            format!(
                "cannot connect to PostgreSQL database {}: schema `tenant_9` does not exist in database `{database}`",
                url.redacted()
            )
        );
    }
    let mut admin = db.connect();
    let schemas = admin
        .query_i64("SELECT COUNT(*) AS value FROM pg_namespace WHERE nspname = 'tenant_9'")
        .unwrap();
    assert_eq!(schemas, Some(0), "no schema was created");
    let tables = admin
        .query_i64(
            "SELECT COUNT(*) AS value FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
        )
        .unwrap();
    assert_eq!(tables, Some(0), "no table was created anywhere");
}

#[test]
fn a_missing_schema_is_refused_by_the_command_line_with_a_hint() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}?schema=tenant_9", db.url);
    for args in [&["show", "pending"][..], &["run", "--yes-i-know"]] {
        let out =
            upgrader_tests::fixtures_command(env!("CARGO_BIN_EXE_upgrader-fixtures"), dir.path(), Some(&url))
                .args(args)
                .output()
                .unwrap();
        let text = upgrader_tests::output_text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "error: cannot connect to PostgreSQL database {url}: schema `tenant_9` does not exist in database"
            )),
            "{args:?}: {text}"
        );
        assert!(
            stderr.contains("hint: create the schema first (CREATE SCHEMA \"tenant_9\")"),
            "{args:?}: {text}"
        );
    }
}

/// A schema the user may not use would look empty through the search path: refused instead.
#[test]
fn a_schema_the_user_may_not_use_is_an_error() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let role = Role::new(&db);
    let mut admin = db.connect();
    admin.execute("CREATE SCHEMA tenant_1").unwrap();
    admin
        .execute(
            "CREATE TABLE tenant_1.upgrade (upgrade VARCHAR(255) PRIMARY KEY, applied TIMESTAMP NOT NULL)",
        )
        .unwrap();
    let url = DatabaseUrl::parse(&as_user(&db.url, &role.name))
        .unwrap()
        .with_schema("tenant_1")
        .unwrap();
    for error in [
        Engine::inspect(&url, Registry::linked(), None)
            .map(|_| ())
            .unwrap_err(),
        run(&url, NOT_HELD_UP).map(|_| ()).unwrap_err(),
    ] {
        assert!(
            matches!(&error, Error::UnusableSchema { missing: false, .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("may not be used by this user (no USAGE privilege)"),
            "{error}"
        );
    }
    admin
        .execute(&format!(
            "GRANT USAGE, CREATE ON SCHEMA tenant_1 TO {}",
            role.name
        ))
        .unwrap();
    // Usable now: the table it may not read is an unreadable history, not an empty one.
    let error = run(&url, NOT_HELD_UP).map(|_| ()).unwrap_err();
    assert!(matches!(error, Error::HistoryUnreadable { .. }), "{error:?}");
}

/// Without `?schema=`, the user's own search path: a schema of it that the user may not use,
/// with a name that must be quoted, was split at its comma and space, and its history table
/// taken for absent (an empty history).
#[test]
fn a_quoted_schema_of_the_search_path_that_the_user_may_not_use_is_refused() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let role = Role::new(&db);
    let mut admin = db.connect();
    admin.execute("CREATE SCHEMA \"Odd, \"\"name\"\"\"").unwrap();
    admin
        .execute(
            "CREATE TABLE \"Odd, \"\"name\"\"\".upgrade \
             (upgrade VARCHAR(255) PRIMARY KEY, applied TIMESTAMP NOT NULL)",
        )
        .unwrap();
    admin
        .execute(&format!(
            "ALTER ROLE {} SET search_path TO \"Odd, \"\"name\"\"\", public",
            role.name
        ))
        .unwrap();
    let url = DatabaseUrl::parse(&as_user(&db.url, &role.name)).unwrap();
    let error = run(&url, NOT_HELD_UP).map(|_| ()).unwrap_err();
    assert_eq!(
        chain(&error),
        "cannot read the history table `upgrade`: it is in schema `Odd, \"name\"`, which this user may not use"
    );
}

#[test]
fn each_schema_has_its_own_run_lock() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let mut admin = db.connect();
    admin.execute("CREATE SCHEMA tenant_1").unwrap();
    admin.execute("CREATE SCHEMA tenant_2").unwrap();
    let one = db.database_url().with_schema("tenant_1").unwrap();
    let two = db.database_url().with_schema("tenant_2").unwrap();
    // tenant_1 under another name: the same lock.
    let one_by_name = DatabaseUrl::parse(&by_name(&db.url))
        .unwrap()
        .with_schema("tenant_1")
        .unwrap();
    let lock = LockId::of(&one, DEFAULT_SCOPE).unwrap();
    assert_eq!(LockId::of(&one_by_name, DEFAULT_SCOPE).unwrap(), lock);
    assert_ne!(LockId::of(&two, DEFAULT_SCOPE).unwrap(), lock);
    assert_ne!(LockId::of(&db.database_url(), DEFAULT_SCOPE).unwrap(), lock);

    // Held by hand, as an operator would, on a connection to the database (any schema).
    let sql = lock.session_sql().unwrap();
    let mut holder = db.connect();
    assert_eq!(holder.query_i64(&sql.try_take).unwrap(), Some(1));

    let report = run(&two, NOT_HELD_UP).expect("tenant_2's run is not held up by tenant_1's lock");
    assert_eq!(report.applied.len(), Registry::linked().upgrades().len());
    let error = run(&one_by_name, Duration::from_secs(1)).map(|_| ()).unwrap_err();
    assert!(matches!(error, Error::LockTimeout { .. }), "{error:?}");
    assert_eq!(
        tables_in(&mut admin, "tenant_1"),
        Vec::<String>::new(),
        "nothing was set up without the lock"
    );

    assert_eq!(holder.query_i64(&sql.release).unwrap(), Some(1));
    let report = run(&one, NOT_HELD_UP).unwrap();
    assert_eq!(report.applied.len(), Registry::linked().upgrades().len());
}

#[test]
fn identity_of_postgres_databases_and_schemas() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let Some(other) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let mut admin = db.connect();
    admin.execute("CREATE SCHEMA tenant_1").unwrap();
    admin.execute("CREATE SCHEMA tenant_2").unwrap();
    let identity = |url: &str| DatabaseUrl::parse(url).unwrap().identity().unwrap();

    let base = identity(&db.url);
    assert!(base.starts_with("postgres system "), "{base}");
    assert_eq!(identity(&by_name(&db.url)), base, "127.0.0.1 and localhost");
    assert_eq!(
        identity(&db.url.replacen("postgres://", "postgresql://", 1)),
        base
    );
    // The user's default schema is `public`, named or not.
    assert_eq!(identity(&format!("{}?schema=public", db.url)), base);
    assert_ne!(identity(&other.url), base, "another database");

    let one = identity(&format!("{}?schema=tenant_1", db.url));
    let two = identity(&format!("{}?schema=tenant_2", db.url));
    assert_ne!(one, two, "two schemas");
    assert_ne!(one, base);
    assert_eq!(identity(&format!("{}?schema=tenant_1", by_name(&db.url))), one);
    assert!(one.ends_with(" schema tenant_1"), "{one}");
}

/// Where the user may not call `pg_control_system()`, the server is its port and start time:
/// still one identity whatever the host is called, and one per database.
#[test]
fn identity_of_postgres_without_the_system_identifier() {
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let Some(other) = TestDb::new(Backend::Postgres) else {
        return;
    };
    let role = Role::new(&db);
    for db in [&db, &other] {
        db.connect()
            .execute("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
            .unwrap();
    }
    let identity = |url: &str| DatabaseUrl::parse(url).unwrap().identity().unwrap();
    let base = identity(&as_user(&db.url, &role.name));
    assert!(base.starts_with("postgres port "), "{base}");
    assert_eq!(identity(&as_user(&by_name(&db.url), &role.name)), base);
    assert_ne!(identity(&as_user(&other.url, &role.name)), base);
}

#[test]
fn identity_of_mysql_databases() {
    let Some(db) = TestDb::new(Backend::Mysql) else {
        return;
    };
    let Some(other) = TestDb::new(Backend::Mysql) else {
        return;
    };
    let identity = |url: &str| DatabaseUrl::parse(url).unwrap().identity().unwrap();
    let base = identity(&db.url);
    assert!(base.starts_with("mysql host "), "{base}");
    assert_eq!(identity(&by_name(&db.url)), base, "127.0.0.1 and localhost");
    assert_eq!(identity(&db.url.replacen("mysql://", "mariadb://", 1)), base);
    assert_ne!(identity(&other.url), base, "another database");
}

#[test]
fn identity_of_sqlite_files() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().canonicalize().unwrap().join("a.db");
    std::fs::write(&real, "").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let identity = |url: &str| DatabaseUrl::parse(url).unwrap().identity().unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    let base = identity(&path(&real));
    assert_eq!(base, format!("sqlite {}", path(&real)));
    for same in [
        path(&link),
        format!("sqlite://{}", path(&real)),
        format!("file://{}", path(&real)),
        path(&dir.path().join("sub/../a.db")),
        format!("sqlite://{}", path(&link)),
    ] {
        assert_eq!(identity(&same), base, "{same}");
    }
    assert_ne!(identity(&path(&dir.path().join("b.db"))), base, "another file");

    // Relative to the working directory, which stays as it is (tests run in parallel): a file
    // that need not exist, and is not created.
    let name = format!("{}.db", unique_name());
    let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
    let relative = identity(&name);
    assert_eq!(relative, format!("sqlite {}", path(&cwd.join(&name))));
    assert_eq!(identity(&format!("./{name}")), relative);
    assert_eq!(identity(&format!("sqlite://{name}")), relative);
    assert_eq!(
        identity(&format!("sqlite://{}", path(&cwd.join(&name)))),
        relative
    );
    assert!(!cwd.join(&name).exists(), "nothing is created");
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    identity(&path(&dir.path().join("new.db")));
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "nothing is created");

    // Its directory must exist.
    let error = DatabaseUrl::parse(&path(&dir.path().join("missing/a.db")))
        .unwrap()
        .identity()
        .unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
}
