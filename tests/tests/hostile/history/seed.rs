//! A seed system's history (`upgrade`, `applied`), whatever type and values its `applied` column
//! has: every row means "applied"; its time is read when the engine can, shown as unknown when it
//! cannot; the rows show as `adopted`, before the engine adopts the table and after.

use upgrader_core::Backend;
use upgrader_tests::TestDb;

use super::{State, applied_json, assert_ok, command, db_name, sql, state};

upgrader_tests::on_every_backend!(seed_history_is_read_whatever_its_applied_column_holds);

const LAST: &str = "accounts_2024_06_01_add_last_login";
const FIRST: &str = "accounts_2024_01_10_initial";
const RECORDS: &str = "records_2024_01_15_initial";
const SEARCH: &str = "search_2024_04_01_initial";
const RELEASE: &str = "examples_release_1_0_0";

/// A seed table: the type of its `applied` column, and rows of (upgrade, SQL literal, the time
/// `show applied` must say, `None` for unknown). Each has the last example upgrade, which makes
/// every example count as applied: only the two fixture upgrades are pending.
struct Seed {
    ty: &'static str,
    rows: Vec<(&'static str, &'static str, Option<&'static str>)>,
}

fn seeds(backend: Backend) -> Vec<Seed> {
    let seed = |ty, rows| Seed { ty, rows };
    match backend {
        Backend::Sqlite => vec![
            seed(
                "DATETIME NOT NULL",
                vec![
                    (LAST, "'2019-05-01 10:00:00'", Some("2019-05-01 10:00:00")),
                    (FIRST, "'2019-04-01 10:00:00.123456'", Some("2019-04-01 10:00:00")),
                    (RECORDS, "'2019-04-02T10:00:00'", Some("2019-04-02 10:00:00")),
                    (SEARCH, "'2019-04-03T12:00:00+02:00'", Some("2019-04-03 10:00:00")),
                    (RELEASE, "'2019-04-04T10:00:00Z'", Some("2019-04-04 10:00:00")),
                ],
            ),
            seed(
                "TEXT",
                vec![
                    (LAST, "'garbage'", None),
                    (FIRST, "''", None),
                    (RECORDS, "'0000-00-00 00:00:00'", None),
                    (SEARCH, "'2019-05-01'", Some("2019-05-01 00:00:00")),
                    (RELEASE, "NULL", None),
                ],
            ),
            seed(
                "INTEGER",
                vec![
                    (LAST, "1556704800", Some("2019-05-01 10:00:00")),
                    (FIRST, "1556618400000", Some("2019-04-30 10:00:00")),
                    (RECORDS, "NULL", None),
                ],
            ),
            seed("DATE", vec![(LAST, "'2019-05-01'", Some("2019-05-01 00:00:00"))]),
            seed(
                "REAL",
                vec![
                    (LAST, "1556704800.5", Some("2019-05-01 10:00:00")),
                    (FIRST, "-1.5e400", None),
                ],
            ),
            seed(
                "BLOB",
                vec![
                    (LAST, "X'00FF'", None),
                    (FIRST, "'2019-04-01 10:00:00'", Some("2019-04-01 10:00:00")),
                ],
            ),
            // No declared type at all.
            seed("", vec![(LAST, "NULL", None)]),
        ],
        Backend::Postgres => vec![
            seed(
                "TIMESTAMP NOT NULL",
                vec![
                    (LAST, "'2019-05-01 10:00:00'", Some("2019-05-01 10:00:00")),
                    (FIRST, "'2019-04-01 10:00:00.123456'", Some("2019-04-01 10:00:00")),
                    (RECORDS, "'infinity'", None),
                ],
            ),
            // The database's sessions are in Asia/Kolkata (UTC+05:30), and print dates day first.
            seed(
                "TIMESTAMPTZ",
                vec![
                    (LAST, "'2019-05-01 10:00:00+00'", Some("2019-05-01 10:00:00")),
                    (FIRST, "'2019-04-01 15:30:00+05:30'", Some("2019-04-01 10:00:00")),
                    (RECORDS, "NULL", None),
                ],
            ),
            seed("DATE", vec![(LAST, "'2019-05-01'", Some("2019-05-01 00:00:00"))]),
            seed(
                "TEXT",
                vec![
                    (LAST, "'garbage'", None),
                    (FIRST, "''", None),
                    (RECORDS, "'2019-05-01 10:00:00'", Some("2019-05-01 10:00:00")),
                ],
            ),
            seed(
                "VARCHAR(40)",
                vec![(LAST, "'2019-05-01T12:00:00+02:00'", Some("2019-05-01 10:00:00"))],
            ),
            seed(
                "BIGINT",
                vec![
                    (LAST, "1556704800", Some("2019-05-01 10:00:00")),
                    (FIRST, "1556618400000", Some("2019-04-30 10:00:00")),
                ],
            ),
            seed("INTEGER", vec![(LAST, "1556704800", Some("2019-05-01 10:00:00"))]),
            seed(
                "NUMERIC(16, 3)",
                vec![(LAST, "1556704800.5", Some("2019-05-01 10:00:00"))],
            ),
        ],
        _ => vec![
            seed(
                "DATETIME NOT NULL",
                vec![
                    (LAST, "'2019-05-01 10:00:00'", Some("2019-05-01 10:00:00")),
                    (FIRST, "'0000-00-00 00:00:00'", None),
                ],
            ),
            seed(
                "DATETIME(6)",
                vec![
                    (LAST, "'2019-05-01 10:00:00.123456'", Some("2019-05-01 10:00:00")),
                    (FIRST, "NULL", None),
                ],
            ),
            seed(
                "TIMESTAMP NULL",
                vec![
                    (LAST, "'2019-05-01 10:00:00'", Some("2019-05-01 10:00:00")),
                    (FIRST, "NULL", None),
                ],
            ),
            seed("DATE", vec![(LAST, "'2019-05-01'", Some("2019-05-01 00:00:00"))]),
            seed(
                "VARCHAR(40)",
                vec![
                    (LAST, "'garbage'", None),
                    (FIRST, "''", None),
                    (RECORDS, "'2019-05-01T10:00:00Z'", Some("2019-05-01 10:00:00")),
                ],
            ),
            seed(
                "BIGINT",
                vec![
                    (LAST, "1556704800", Some("2019-05-01 10:00:00")),
                    (FIRST, "1556618400000", Some("2019-04-30 10:00:00")),
                ],
            ),
            seed("INT", vec![(LAST, "1556704800", Some("2019-05-01 10:00:00"))]),
            seed(
                "DOUBLE",
                vec![(LAST, "1556704800.5", Some("2019-05-01 10:00:00"))],
            ),
        ],
    }
}

fn seed_history_is_read_whatever_its_applied_column_holds(db: &TestDb) {
    // A seed history whose `applied` the engine did not expect was read as none applied, and
    // `run` started again at the first upgrade.
    assert_ok(&command(&db.url, &["run", "--yes-i-know"]));
    // The application's tables stay; the engine's history (and its journal) goes: the seed's
    // tables take its place.
    sql(
        db,
        "DROP TABLE upgrade_checkpoint; DROP TABLE upgrade_in_progress; DROP TABLE upgrade; DROP TABLE upgrade_run_upgrade; \
         DROP TABLE upgrade_run; DROP TABLE __diesel_schema_migrations",
    );
    if db.backend() == Backend::Postgres {
        let name = db_name(db);
        sql(
            db,
            &format!(
                "ALTER DATABASE {name} SET TimeZone = 'Asia/Kolkata'; ALTER DATABASE {name} SET DateStyle = 'SQL, DMY'"
            ),
        );
    }
    for (i, seed) in seeds(db.backend()).into_iter().enumerate() {
        // The first under the seed system's own name, the others beside it under names of their own.
        let table = if i == 0 {
            "upgrade".to_owned()
        } else {
            format!("seed_{i}")
        };
        let flag = ["--history-table", table.as_str()];
        let flag: &[&str] = if i == 0 { &[] } else { &flag };
        let what = format!("{table} (applied {})", seed.ty);
        sql(
            db,
            &format!(
                "CREATE TABLE {table} (upgrade VARCHAR(255) NOT NULL PRIMARY KEY, applied {})",
                seed.ty
            ),
        );
        for (id, value, _) in &seed.rows {
            sql(
                db,
                &format!("INSERT INTO {table} (upgrade, applied) VALUES ('{id}', {value})"),
            );
        }
        let mut expected: Vec<(String, Option<String>, String)> = seed
            .rows
            .iter()
            .map(|(id, _, time)| (id.to_string(), time.map(str::to_owned), "adopted".to_owned()))
            .collect();
        // Unknown times first, then oldest first, ties by id.
        expected.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));

        let before = state(db);
        assert_eq!(applied_json(&db.url, flag), expected, "{what}");
        let mut args = flag.to_vec();
        args.push("check");
        let stdout = assert_ok(&command(&db.url, &args));
        assert!(
            stdout.contains(&format!("applied: {}\n", seed.rows.len())) && stdout.contains("pending: 2 "),
            "{what}: every row is applied, whatever its time, and the examples before them too:\n{stdout}"
        );
        // Each pending upgrade on its line, with its estimate.
        let listed: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("  "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            listed,
            ["fixtures_2024_01_01_slow", "fixtures_2024_01_02_flaky"],
            "{what}: {stdout}"
        );
        assert_eq!(state(db), before, "{what}: show and check changed the database");
        if let State::Files(files) = &before {
            assert!(!files.keys().any(|f| f.ends_with("-wal")), "{files:?}");
        }

        // `run` adopts the table and applies only the two fixtures, writing their time in the
        // seed's own type.
        sql(db, "DROP TABLE slow_marker");
        let mut args = flag.to_vec();
        args.extend(["run", "--yes-i-know"]);
        let stdout = assert_ok(&command(&db.url, &args));
        assert!(
            stdout.starts_with("applied fixtures_2024_01_01_slow (")
                && stdout.contains("\napplied fixtures_2024_01_02_flaky (")
                && stdout.lines().count() == 2,
            "{what}: {stdout}"
        );
        let after = applied_json(&db.url, flag);
        let (adopted, run): (Vec<_>, Vec<_>) = after.into_iter().partition(|r| r.2 == "adopted");
        assert_eq!(
            adopted, expected,
            "{what}: the seed's rows are kept as they were, as `adopted`"
        );
        assert_eq!(
            run.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            ["fixtures_2024_01_01_slow", "fixtures_2024_01_02_flaky"],
            "{what}"
        );
        for (id, time, method) in &run {
            assert_eq!(method, "run", "{what}");
            let time = time
                .as_deref()
                .unwrap_or_else(|| panic!("{what}: {id} was written with a time"));
            assert!(time > "2020-01-01", "{what}: {id} was applied at {time}");
        }
        let mut args = flag.to_vec();
        args.push("check");
        let stdout = assert_ok(&command(&db.url, &args));
        assert!(stdout.contains("pending: 0 "), "{what}: {stdout}");
    }
}
