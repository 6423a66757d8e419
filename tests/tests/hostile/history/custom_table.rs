//! A history table of the operator's choosing (`--history-table`, `history_table` in
//! upgrader.toml): each name is a history of its own, and a name that cannot be one is refused.

use upgrader_core::Backend;
use upgrader_tests::TestDb;

use super::{ALL, applied_json, assert_ok, command, sql};
use crate::support::{EVERY_COMMAND, assert_refused, output, text, upgrader};

upgrader_tests::on_every_backend!(each_history_table_is_a_history_of_its_own);

fn methods(rows: &[(String, Option<String>, String)]) -> Vec<&str> {
    rows.iter().map(|r| r.2.as_str()).collect()
}

fn each_history_table_is_a_history_of_its_own(db: &TestDb) {
    let tenant_a = ["--history-table", "tenant_a"];
    let tenant_b = ["--history-table", "tenant_b"];
    let with = |flag: &[&'static str], args: &[&'static str]| {
        let mut all = flag.to_vec();
        all.extend(args);
        all
    };
    assert_ok(&command(&db.url, &with(&tenant_a, &["run", "--yes-i-know"])));
    let a = applied_json(&db.url, &tenant_a);
    assert_eq!(a.len(), ALL.len());
    assert!(methods(&a).iter().all(|m| *m == "run"), "{a:?}");

    // Another table in the same database does not see the first one's rows.
    assert_eq!(applied_json(&db.url, &tenant_b), []);
    let stdout = assert_ok(&command(&db.url, &with(&tenant_b, &["check"])));
    assert!(stdout.contains("applied: 0\npending: 10 "), "{stdout}");
    let stdout = assert_ok(&command(&db.url, &with(&tenant_b, &["populate", "--yes-i-know"])));
    assert_eq!(stdout.lines().count(), ALL.len(), "{stdout}");
    assert_ok(&command(
        &db.url,
        &with(
            &tenant_b,
            &[
                "mark",
                "accounts_2024_06_01_add_last_login",
                "--pending",
                "--yes-i-know",
            ],
        ),
    ));
    let b = applied_json(&db.url, &tenant_b);
    assert_eq!(b.len(), ALL.len() - 1);
    assert!(methods(&b).iter().all(|m| *m == "populate"), "{b:?}");
    assert_eq!(
        applied_json(&db.url, &tenant_a),
        a,
        "the first history is as it was"
    );

    // The default history was never made, and each table has its own migrations.
    let mut conn = db.connect();
    assert!(!conn.table_exists("upgrade").unwrap());
    assert!(!conn.table_exists("upgrade_in_progress").unwrap());
    for table in [
        "tenant_a",
        "tenant_a_in_progress",
        "tenant_b",
        "tenant_b_in_progress",
    ] {
        assert!(conn.table_exists(table).unwrap(), "{table}");
    }
    for tenant in ["tenant_a", "tenant_b"] {
        let versions = conn
            .query_i64(&format!(
                "SELECT COUNT(*) AS value FROM __diesel_schema_migrations \
                 WHERE version IN ('20261125000000_{tenant}', '20261126000000_{tenant}')"
            ))
            .unwrap();
        assert_eq!(versions, Some(2), "{tenant}");
    }

    // `history_table` in upgrader.toml; the flag wins over it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("upgrader.toml"), "history_table = \"tenant_a\"\n").unwrap();
    let show = |extra: &[&str]| {
        let out = output(
            upgrader(dir.path(), Some(&db.url))
                .args(extra)
                .args(["show", "applied", "--json"]),
        );
        let stdout = assert_ok(&out);
        serde_json::from_str::<serde_json::Value>(&stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(show(&[]), ALL.len(), "tenant_a's, from upgrader.toml");
    assert_eq!(show(&tenant_b), ALL.len() - 1, "tenant_b's, from the flag");
}

#[test]
fn invalid_history_table_names_are_refused_by_every_command() {
    let names = [
        ("", "the name is empty"),
        ("1st", "it starts with a digit"),
        ("History", "`H` is not a lowercase ASCII letter, a digit or `_`"),
        ("up-grade", "`-` is not a lowercase ASCII letter"),
        ("x; DROP TABLE users", "`;` is not a lowercase ASCII letter"),
        ("upgrade\"", "`\\\"` is not a lowercase ASCII letter"),
        ("sqlite_master", "SQLite reserves names starting with `sqlite_`"),
        (
            "__diesel_schema_migrations",
            "names starting with `__diesel` belong to the migrations' own table",
        ),
    ];
    let long = "h".repeat(49);
    let long_reason = "it is 49 characters long, at most 48 are allowed";
    for (name, reason) in names.into_iter().chain([(long.as_str(), long_reason)]) {
        let db = TestDb::new(Backend::Sqlite).unwrap();
        let cwd = tempfile::tempdir().unwrap();
        for args in EVERY_COMMAND {
            // The flag: bad usage, exit 2.
            let out = output(
                upgrader(cwd.path(), Some(&db.url))
                    .arg("--history-table")
                    .arg(name)
                    .args(args),
            );
            assert_refused(
                &out,
                2,
                &format!(
                    "invalid value '{name}' for '--history-table <NAME>': invalid history table name `{name}`: {reason}"
                ),
            );
            // The configuration file: exit 1.
            let config = cwd.path().join("upgrader.toml");
            let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
            std::fs::write(&config, format!("history_table = \"{quoted}\"\n")).unwrap();
            let out = output(upgrader(cwd.path(), Some(&db.url)).args(args));
            let stderr = assert_refused(
                &out,
                1,
                &format!(
                    "invalid configuration upgrader.toml:1:17: invalid history table name `{name}`: {reason}"
                ),
            );
            assert!(stderr.contains("hint: "), "{stderr}");
            std::fs::remove_file(&config).unwrap();
            assert!(
                !std::path::Path::new(&db.url).exists(),
                "{args:?} with `{name}` created the database: {}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn history_table_of_another_type_in_upgrader_toml_is_refused() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("upgrader.toml"), "history_table = 5\n").unwrap();
    for args in EVERY_COMMAND {
        let out = output(upgrader(cwd.path(), Some(&db.url)).args(args));
        assert_refused(
            &out,
            1,
            "invalid configuration upgrader.toml:1:17: invalid type: integer `5`, expected",
        );
    }
    assert!(!std::path::Path::new(&db.url).exists());
    // A table of the seed system's name, chosen explicitly, is the default.
    std::fs::write(cwd.path().join("upgrader.toml"), "history_table = \"upgrade\"\n").unwrap();
    sql(&db, "CREATE TABLE other (id INTEGER)");
    assert_ok(&output(
        upgrader(cwd.path(), Some(&db.url)).args(["run", "--yes-i-know"]),
    ));
    assert!(db.connect().table_exists("upgrade").unwrap());
}
