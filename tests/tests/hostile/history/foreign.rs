//! A table in the history's place that is neither the seed system's layout nor the engine's own
//! is not a history: every command refuses, saying so, and changes nothing. Another name for the
//! history is the way out.

use upgrader_core::Backend;
use upgrader_tests::TestDb;

use super::{ALL, applied_json, assert_ok, command, refused_by_every_command, sql};

upgrader_tests::on_every_backend!(
    table_named_upgrade_that_is_not_a_history_is_refused_by_every_command,
    foreign_table_of_started_upgrades_is_refused_by_every_command,
    another_history_table_is_the_way_out,
);

fn datetime(backend: Backend) -> &'static str {
    if backend == Backend::Postgres {
        "TIMESTAMP"
    } else {
        "DATETIME"
    }
}

fn table_named_upgrade_that_is_not_a_history_is_refused_by_every_command(db: &TestDb) {
    // `run` added three columns to such a table, and then failed.
    let ts = datetime(db.backend());
    let variants = [
        (
            "CREATE TABLE upgrade (id INTEGER NOT NULL, name VARCHAR(255)); \
             INSERT INTO upgrade (id, name) VALUES (1, 'accounts_2024_01_10_initial')",
            "it has no columns `upgrade`, `applied`, and columns `id`, `name` that a history does not have (its columns: id, name)",
        ),
        (
            "CREATE TABLE upgrade (upgrade VARCHAR(255) NOT NULL); \
             INSERT INTO upgrade (upgrade) VALUES ('accounts_2024_01_10_initial')",
            "it has no column `applied` (its columns: upgrade)",
        ),
        (
            &format!("CREATE TABLE upgrade (applied {ts})"),
            "it has no column `upgrade` (its columns: applied)",
        ),
        (
            &format!(
                "CREATE TABLE upgrade (upgrade VARCHAR(255) NOT NULL PRIMARY KEY, applied {ts}, batch INTEGER NOT NULL); \
                 INSERT INTO upgrade (upgrade, applied, batch) VALUES ('accounts_2024_01_10_initial', '2019-05-01 10:00:00', 1)"
            ),
            "it has column `batch` that a history does not have (its columns: upgrade, applied, batch)",
        ),
        (
            &format!(
                "CREATE TABLE seed_rows (upgrade VARCHAR(255) NOT NULL PRIMARY KEY, applied {ts}); \
                 INSERT INTO seed_rows (upgrade, applied) VALUES ('accounts_2024_01_10_initial', '2019-05-01 10:00:00'); \
                 CREATE VIEW upgrade AS SELECT upgrade, applied FROM seed_rows"
            ),
            "it is a view, not a table (its columns: upgrade, applied)",
        ),
    ];
    // Where columns have types: what the engine could neither read nor write as a history.
    let (integer, binary) = match db.backend() {
        Backend::Postgres => ("integer", "BOOLEAN"),
        _ => ("int", "BLOB"),
    };
    let typed = [
        (
            format!(
                "CREATE TABLE upgrade (upgrade INTEGER NOT NULL PRIMARY KEY, applied {ts}); \
                 INSERT INTO upgrade (upgrade, applied) VALUES (1, '2019-05-01 10:00:00')"
            ),
            format!("its `upgrade` column is of type `{integer}`, not text (its columns: upgrade, applied)"),
        ),
        (
            format!("CREATE TABLE upgrade (upgrade VARCHAR(255) NOT NULL PRIMARY KEY, applied {binary})"),
            format!(
                "its `applied` column is of type `{}`: neither a time, a text nor a number",
                binary.to_lowercase()
            ),
        ),
    ];
    let typed: Vec<(&str, &str)> = match db.backend() {
        Backend::Sqlite => Vec::new(),
        _ => typed.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect(),
    };
    // PostgreSQL tells `"Upgrade"` from `upgrade`.
    let cased = match db.backend() {
        Backend::Postgres => vec![(
            "CREATE TABLE upgrade (\"Upgrade\" VARCHAR(255) NOT NULL, applied TIMESTAMP)",
            "it has no column `upgrade`, and column `Upgrade` that a history does not have (its columns: Upgrade, applied)",
        )],
        _ => Vec::new(),
    };
    for (i, (setup, reason)) in variants.into_iter().chain(typed).chain(cased).enumerate() {
        let fresh;
        let db = if i == 0 {
            db
        } else {
            fresh = TestDb::new(db.backend()).expect("the backend is configured");
            &fresh
        };
        sql(db, setup);
        let stderr = refused_by_every_command(
            db,
            &db.url,
            &format!("table `upgrade` is not an upgrade history: {reason}"),
        );
        assert!(
            stderr.contains(
                "hint: the engine leaves that table alone: choose another name for its history (the `history_table` setting)"
            ),
            "{stderr}"
        );
    }
}

fn foreign_table_of_started_upgrades_is_refused_by_every_command(db: &TestDb) {
    // Left without its history: the engine would fail creating it, half-way through adopting.
    sql(
        db,
        "CREATE TABLE upgrade_in_progress (upgrade VARCHAR(255) NOT NULL, started VARCHAR(40), runner VARCHAR(40), error TEXT)",
    );
    refused_by_every_command(
        db,
        &db.url,
        "table `upgrade_in_progress` is not an upgrade history: the engine did not make it: there is no history `upgrade` that goes with it",
    );
    // Beside the engine's own history, but not the engine's table.
    let other = TestDb::new(db.backend()).expect("the backend is configured");
    assert_ok(&command(&other.url, &["run", "--yes-i-know"]));
    sql(
        &other,
        "DROP TABLE upgrade_in_progress; CREATE TABLE upgrade_in_progress (id INTEGER NOT NULL)",
    );
    refused_by_every_command(
        &other,
        &other.url,
        "table `upgrade_in_progress` is not an upgrade history: it has no columns `upgrade`, `started`, `runner`, `error`, \
         and column `id` that the engine's table of started upgrades does not have",
    );
}

fn another_history_table_is_the_way_out(db: &TestDb) {
    sql(
        db,
        "CREATE TABLE upgrade (id INTEGER NOT NULL, name VARCHAR(255)); \
         INSERT INTO upgrade (id, name) VALUES (1, 'the application''s own table')",
    );
    let before = db
        .connect()
        .query_text("SELECT name AS value FROM upgrade")
        .unwrap();
    let flag = ["--history-table", "app_history"];
    let mut args = flag.to_vec();
    args.extend(["run", "--yes-i-know"]);
    assert_ok(&command(&db.url, &args));
    let applied: Vec<String> = applied_json(&db.url, &flag).into_iter().map(|r| r.0).collect();
    assert_eq!(applied.len(), ALL.len(), "{applied:?}");
    let mut conn = db.connect();
    assert_eq!(
        conn.query_text("SELECT name AS value FROM upgrade").unwrap(),
        before,
        "the application's table is left alone"
    );
    assert_eq!(
        conn.query_i64("SELECT COUNT(*) AS value FROM upgrade").unwrap(),
        Some(1)
    );
}
