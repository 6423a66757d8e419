//! The engine on real databases: SQLite always, PostgreSQL and MariaDB when their URLs are set
//! (`.ci/run` sets them; without them those tests say SKIPPED).

use upgrader_core::{
    AnyConnection, Backend, Context, Engine, Error, Phase, Registry, RunCheck, RunOptions, Unattended,
    Upgrade,
};
use upgrader_tests::TestDb;

#[path = "engine/events.rs"]
mod events;

/// The switches tests flip to make an upgrade or a check misbehave: a table that exists or not.
fn table_exists(ctx: &mut Context, table: &str) -> bool {
    ctx.table_exists(table).unwrap()
}

fn create_log(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("CREATE TABLE run_log (id VARCHAR(255) NOT NULL)")?;
    ctx.execute("INSERT INTO run_log (id) VALUES ('log_2024_01_01_create')")?;
    Ok(())
}

fn second(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("INSERT INTO run_log (id) VALUES ('log_2024_01_02_second')")?;
    Ok(())
}

fn third(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("INSERT INTO run_log (id) VALUES ('log_2024_01_03_third')")?;
    Ok(())
}

/// Creates a table, then fails while `fail_switch` exists.
fn fails_on_switch(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("INSERT INTO run_log (id) VALUES ('log_2024_01_02_second')")?;
    if table_exists(ctx, "fail_switch") {
        return Err("told to fail".into());
    }
    Ok(())
}

/// Panics while `panic_switch` exists.
fn panics_on_switch(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("INSERT INTO run_log (id) VALUES ('log_2024_01_02_second')")?;
    if table_exists(ctx, "panic_switch") {
        panic!("told to panic");
    }
    Ok(())
}

fn check_fails_on_switch(ctx: &mut Context) -> upgrader_core::Result<()> {
    if table_exists(ctx, "check_switch") {
        return Err(format!("{} says no", ctx.upgrade()).into());
    }
    Ok(())
}

const CREATE: Upgrade = Upgrade::new("log_2024_01_01_create", "Create the log.", create_log);
const SECOND: Upgrade =
    Upgrade::new("log_2024_01_02_second", "Second.", second).with_depends_on(&["log_2024_01_01_create"]);
const THIRD: Upgrade =
    Upgrade::new("log_2024_01_03_third", "Third.", third).with_depends_on(&["log_2024_01_02_second"]);

fn chain() -> Registry {
    Registry::new([THIRD, CREATE, SECOND], [])
}

fn engine(db: &TestDb, registry: Registry) -> Engine {
    Engine::open(&db.database_url(), registry, None).expect("the engine opens")
}

fn log(conn: &mut AnyConnection) -> Vec<String> {
    let mut out = Vec::new();
    let n = conn
        .query_i64("SELECT COUNT(*) AS value FROM run_log")
        .unwrap()
        .unwrap();
    for i in 0..n {
        // Portable row-by-row read through the text helper.
        let sql = format!("SELECT id AS value FROM run_log ORDER BY id LIMIT 1 OFFSET {i}");
        out.push(conn.query_text(&sql).unwrap().unwrap());
    }
    out
}

fn run(engine: &mut Engine) -> Result<upgrader_core::RunReport, Error> {
    engine.run(&mut Unattended::default(), &RunOptions::default())
}

upgrader_tests::on_every_backend!(
    applies_in_order_and_records_each,
    second_run_applies_nothing,
    failing_upgrade_stops_the_run_and_the_next_run_resumes,
    panicking_upgrade_stops_the_run_and_the_next_run_resumes,
    failing_pre_checks_apply_nothing_and_are_reported_together,
    failing_post_check_is_reported_after_applying,
    recorded_upgrade_counts_its_ancestors_as_applied,
    history_shows_ghosts_and_edits,
    populate_records_everything_without_running_it,
    mark_applied_refuses_pending_dependencies_unless_forced,
    mark_pending_makes_an_upgrade_run_again,
    typed_diesel_queries_work_through_the_context,
    adopts_the_seed_systems_history_table,
    an_embedding_application_receives_the_runs_events_through_tracing,
);

thread_local! {
    /// What the `tracing` subscriber wrote on this thread while [`traced`] captured it.
    static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Writes into this thread's capture, or nowhere when the thread is not capturing.
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|c| {
            if let Some(captured) = c.borrow_mut().as_mut() {
                captured.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` and returns what it logged through `tracing` on this thread. One global subscriber
/// for the whole test binary: a subscriber set per thread (`with_default`) lost events when
/// another test thread registered the same callsites at the same moment (tracing caches each
/// callsite's interest globally).
fn traced<T>(f: impl FnOnce() -> T) -> (T, String) {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadCapture)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in this binary");
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let value = f();
    let captured = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (value, String::from_utf8(captured).unwrap())
}

fn logs_upgrade(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.log("halfway through the work");
    Ok(())
}

// `Unattended` kept the engine's lines in memory only: an embedded runner had no logs. (This
// test missed `upgrade finished` lines in about 1 run in 10 while it set a subscriber per thread.)
fn an_embedding_application_receives_the_runs_events_through_tracing(db: &TestDb) {
    let logs =
        Upgrade::new("log_2024_01_04_logs", "Logs.", logs_upgrade).with_depends_on(&["log_2024_01_03_third"]);
    let mut engine = engine(db, Registry::new([THIRD, CREATE, SECOND, logs], []));
    let (report, text) = traced(|| run(&mut engine));
    report.unwrap();
    for expected in [
        "plan: 4 upgrade(s) to apply",
        "upgrade started upgrade=\"log_2024_01_01_create\" number=1 of=4",
        "upgrade finished upgrade=\"log_2024_01_03_third\" duration_ms=",
        "halfway through the work upgrade=\"log_2024_01_04_logs\"",
    ] {
        assert!(text.contains(expected), "`{expected}` not in:\n{text}");
    }
    assert!(
        text.lines().all(|l| l.contains(" upgrader: ")),
        "target `upgrader`:\n{text}"
    );
}

fn applies_in_order_and_records_each(db: &TestDb) {
    let mut engine = engine(db, chain());
    assert_eq!(engine.status().unwrap().pending.len(), 3);
    let report = run(&mut engine).unwrap();
    assert_eq!(
        report.applied_ids(),
        [
            "log_2024_01_01_create",
            "log_2024_01_02_second",
            "log_2024_01_03_third"
        ]
    );
    let applied: Vec<String> = engine.applied().unwrap().into_iter().map(|r| r.upgrade).collect();
    assert_eq!(
        applied,
        [
            "log_2024_01_01_create",
            "log_2024_01_02_second",
            "log_2024_01_03_third"
        ]
    );
    assert_eq!(
        log(engine.connection()),
        [
            "log_2024_01_01_create",
            "log_2024_01_02_second",
            "log_2024_01_03_third"
        ]
    );
    assert!(engine.status().unwrap().pending.is_empty());
}

fn second_run_applies_nothing(db: &TestDb) {
    run(&mut engine(db, chain())).unwrap();
    let mut again = engine(db, chain());
    let report = run(&mut again).unwrap();
    assert!(report.applied.is_empty(), "{report:?}");
    assert_eq!(log(again.connection()).len(), 3, "nothing ran twice");
}

fn failing_upgrade_stops_the_run_and_the_next_run_resumes(db: &TestDb) {
    breaking_upgrade_stops_the_run_and_the_next_run_resumes(
        db,
        fails_on_switch,
        "fail_switch",
        "told to fail",
    );
}

fn panicking_upgrade_stops_the_run_and_the_next_run_resumes(db: &TestDb) {
    breaking_upgrade_stops_the_run_and_the_next_run_resumes(
        db,
        panics_on_switch,
        "panic_switch",
        "panicked: told to panic",
    );
}

/// The second of three upgrades breaks while `switch` exists: the run stops there, and once the
/// switch is gone the next run resumes at it.
fn breaking_upgrade_stops_the_run_and_the_next_run_resumes(
    db: &TestDb,
    second: upgrader_core::UpgradeFn,
    switch: &str,
    expected: &str,
) {
    let breaking =
        Upgrade::new("log_2024_01_02_second", "Second.", second).with_depends_on(&["log_2024_01_01_create"]);
    db.connect()
        .execute(&format!("CREATE TABLE {switch} (x INTEGER)"))
        .unwrap();
    let mut engine = engine(db, Registry::new([CREATE, breaking, THIRD], []));
    let err = run(&mut engine).unwrap_err();
    let Error::UpgradeFailed {
        id,
        reason,
        rolled_back,
        report,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(id, "log_2024_01_02_second");
    assert_eq!(reason, expected);
    assert_eq!(
        report.applied_ids(),
        ["log_2024_01_01_create"],
        "the report says what was applied before"
    );
    let applied: Vec<String> = engine.applied().unwrap().into_iter().map(|r| r.upgrade).collect();
    assert_eq!(
        applied,
        ["log_2024_01_01_create"],
        "nothing of the failed upgrade is recorded"
    );
    assert_eq!(
        log(engine.connection()),
        ["log_2024_01_01_create"],
        "its insert was rolled back"
    );
    assert_eq!(*rolled_back, db.backend() != Backend::Mysql);
    db.connect().execute(&format!("DROP TABLE {switch}")).unwrap();
    if db.backend() == Backend::Mysql {
        // DDL could have been committed there: the operator decides before anything runs again.
        let err = run(&mut engine).unwrap_err();
        assert!(
            matches!(&err, Error::Interrupted { interrupted } if interrupted[0].upgrade == "log_2024_01_02_second"
                && interrupted[0].error.as_deref() == Some(expected)),
            "{err}"
        );
        engine
            .resolve(
                "log_2024_01_02_second",
                true,
                &mut Unattended::default(),
                &RunOptions::default(),
            )
            .unwrap();
    }
    let report = run(&mut engine).unwrap();
    assert_eq!(
        report.applied_ids(),
        ["log_2024_01_02_second", "log_2024_01_03_third"],
        "resumes at the failed upgrade"
    );
}

fn failing_pre_checks_apply_nothing_and_are_reported_together(db: &TestDb) {
    let registry = Registry::new(
        [
            CREATE,
            SECOND.with_pre_upgrade(check_fails_on_switch),
            THIRD.with_pre_upgrade(check_fails_on_switch),
        ],
        [RunCheck::new(
            Phase::PreRun,
            "workers are stopped",
            check_fails_on_switch,
        )],
    );
    db.connect()
        .execute("CREATE TABLE check_switch (x INTEGER)")
        .unwrap();
    let mut engine = engine(db, registry);
    let err = run(&mut engine).unwrap_err();
    let Error::PreChecksFailed { failures } = &err else {
        panic!("{err}")
    };
    let failed: Vec<&str> = failures.iter().map(|f| f.check.as_str()).collect();
    assert_eq!(
        failed,
        [
            "workers are stopped",
            "log_2024_01_02_second",
            "log_2024_01_03_third"
        ]
    );
    assert_eq!(failures[1].reason, "log_2024_01_02_second says no");
    assert!(engine.applied().unwrap().is_empty(), "nothing was applied");
    assert_eq!(
        engine
            .connection()
            .query_i64("SELECT COUNT(*) AS value FROM run_log")
            .ok(),
        None,
        "not even the first upgrade"
    );
    // `check` sees the same failures without running anything.
    let report = engine.check(&mut Unattended::default()).unwrap();
    assert_eq!(report.failures.len(), 3);
    assert!(!report.is_ok());
}

fn failing_post_check_is_reported_after_applying(db: &TestDb) {
    let registry = Registry::new([CREATE.with_post_upgrade(check_fails_on_switch), SECOND], []);
    db.connect()
        .execute("CREATE TABLE check_switch (x INTEGER)")
        .unwrap();
    let mut engine = engine(db, registry);
    let err = run(&mut engine).unwrap_err();
    let Error::PostChecksFailed { failures, report } = &err else {
        panic!("{err}")
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(
        report.applied_ids(),
        ["log_2024_01_01_create", "log_2024_01_02_second"]
    );
    assert_eq!(engine.applied().unwrap().len(), 2, "the upgrades stay recorded");
}

fn recorded_upgrade_counts_its_ancestors_as_applied(db: &TestDb) {
    let mut engine = engine(db, chain());
    run(&mut engine).unwrap();
    // An old database whose history predates the first two upgrades.
    engine
        .connection()
        .execute("DELETE FROM upgrade WHERE upgrade IN ('log_2024_01_01_create', 'log_2024_01_02_second')")
        .unwrap();
    let status = engine.status().unwrap();
    assert!(status.pending.is_empty(), "{:?}", status.pending);
    let implied: Vec<(&str, &str)> = status
        .implied
        .iter()
        .map(|i| (i.id.as_str(), i.by.as_str()))
        .collect();
    assert_eq!(
        implied,
        [
            ("log_2024_01_01_create", "log_2024_01_03_third"),
            ("log_2024_01_02_second", "log_2024_01_03_third")
        ]
    );
}

fn history_shows_ghosts_and_edits(db: &TestDb) {
    let mut engine = engine(db, Registry::new([CREATE.with_checksum("aaaa"), SECOND], []));
    run(&mut engine).unwrap();
    // A later build: CREATE was edited, SECOND was removed.
    let mut later = self::engine(db, Registry::new([CREATE.with_checksum("bbbb")], []));
    let status = later.status().unwrap();
    assert_eq!(
        status
            .ghosts
            .iter()
            .map(|g| g.upgrade.as_str())
            .collect::<Vec<_>>(),
        ["log_2024_01_02_second"]
    );
    assert_eq!(status.edited.len(), 1);
    assert_eq!(
        (
            status.edited[0].recorded.as_str(),
            status.edited[0].current.as_str()
        ),
        ("aaaa", "bbbb")
    );
    // The edit is a gate: the library call refuses too, naming it, when it was applied and both
    // fingerprints.
    match run(&mut later) {
        Err(Error::Edited { edited }) => {
            assert_eq!(edited.len(), 1);
            assert_eq!(edited[0].id, "log_2024_01_01_create");
            assert_eq!(
                (edited[0].recorded.as_str(), edited[0].current.as_str()),
                ("aaaa", "bbbb")
            );
            assert!(edited[0].applied.is_some(), "{edited:?}");
        }
        other => panic!("expected the edit refused: {other:?}"),
    }
}

fn populate_records_everything_without_running_it(db: &TestDb) {
    let mut engine = engine(db, chain());
    let recorded = engine
        .populate(&mut Unattended::default(), &RunOptions::default())
        .unwrap();
    assert_eq!(recorded.len(), 3);
    assert!(engine.status().unwrap().pending.is_empty());
    assert!(
        engine
            .applied()
            .unwrap()
            .iter()
            .all(|r| r.method == "populate" && r.duration_ms.is_none())
    );
    assert!(
        engine
            .connection()
            .query_i64("SELECT COUNT(*) AS value FROM run_log")
            .is_err(),
        "nothing ran"
    );
}

fn mark_applied_refuses_pending_dependencies_unless_forced(db: &TestDb) {
    let mut engine = engine(db, chain());
    let (ui, options) = (&mut Unattended::default(), &RunOptions::default());
    let err = engine
        .mark_applied(&["log_2024_01_03_third".into()], false, ui, options)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`log_2024_01_03_third` depends on pending upgrade(s): log_2024_01_01_create, log_2024_01_02_second"
    );
    assert!(engine.applied().unwrap().is_empty(), "nothing was marked");
    let err = engine
        .mark_applied(&["log_2099_01_01_nope".into()], false, ui, options)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownUpgrade { .. }), "{err}");
    let marked = engine
        .mark_applied(&["log_2024_01_03_third".into()], true, ui, options)
        .unwrap();
    assert_eq!(marked, ["log_2024_01_03_third"]);
    assert!(
        engine.status().unwrap().pending.is_empty(),
        "its ancestors count as applied"
    );
}

fn mark_pending_makes_an_upgrade_run_again(db: &TestDb) {
    let mut engine = engine(db, Registry::new([CREATE, SECOND], []));
    run(&mut engine).unwrap();
    engine
        .mark_pending(
            &["log_2024_01_02_second".into()],
            false,
            &mut Unattended::default(),
            &RunOptions::default(),
        )
        .unwrap();
    assert_eq!(run(&mut engine).unwrap().applied_ids(), ["log_2024_01_02_second"]);
    assert_eq!(
        log(engine.connection()).len(),
        3,
        "it ran a second time, as asked"
    );
}

mod schema {
    // `table!` expands to paths through the `diesel` crate: depend on it (the same version as
    // upgrader-core's) to declare tables.
    diesel::table! { run_log (id) { id -> Varchar } }
}

/// An upgrade written with diesel's typed queries instead of SQL strings.
fn typed(ctx: &mut Context) -> upgrader_core::Result<()> {
    use diesel::prelude::*;
    use schema::run_log;
    use upgrader_core::AnyConnection as Conn;
    let insert = diesel::insert_into(run_log::table).values(run_log::id.eq("typed"));
    let count = run_log::table.count();
    let rows: i64 = match ctx.connection() {
        Conn::Sqlite(c) => insert.execute(c).and_then(|_| count.get_result(c))?,
        Conn::Postgres(c) => insert.execute(c).and_then(|_| count.get_result(c))?,
        Conn::Mysql(c) => insert.execute(c).and_then(|_| count.get_result(c))?,
        _ => return Err("unknown backend".into()),
    };
    ctx.log(format!("{rows} rows"));
    Ok(())
}

fn typed_diesel_queries_work_through_the_context(db: &TestDb) {
    let typed =
        Upgrade::new("log_2024_01_02_typed", "Typed.", typed).with_depends_on(&["log_2024_01_01_create"]);
    let mut engine = engine(db, Registry::new([CREATE, typed], []));
    let mut ui = Unattended::default();
    engine.run(&mut ui, &RunOptions::default()).unwrap();
    assert_eq!(ui.lines, ["log_2024_01_02_typed: 2 rows"]);
    assert_eq!(log(engine.connection()), ["log_2024_01_01_create", "typed"]);
}

fn adopts_the_seed_systems_history_table(db: &TestDb) {
    // A database the seed system kept: its `upgrade` table has only `upgrade` and `applied`.
    let mut conn = db.connect();
    let datetime = if db.backend() == Backend::Postgres {
        "TIMESTAMP"
    } else {
        "DATETIME"
    };
    conn.execute(&format!(
        "CREATE TABLE upgrade (upgrade VARCHAR(255) NOT NULL PRIMARY KEY, applied {datetime} NOT NULL)"
    ))
    .unwrap();
    conn.execute("CREATE TABLE run_log (id VARCHAR(255) NOT NULL)")
        .unwrap();
    conn.execute(
        "INSERT INTO upgrade (upgrade, applied) VALUES ('log_2024_01_02_second', '2019-05-01 10:00:00')",
    )
    .unwrap();
    let mut engine = engine(db, chain());
    let status = engine.status().unwrap();
    assert_eq!(status.applied[0].method, "adopted", "the seed recorded it");
    assert_eq!(
        status.pending.iter().map(|u| u.id()).collect::<Vec<_>>(),
        ["log_2024_01_03_third"]
    );
    assert_eq!(
        status.implied.len(),
        1,
        "the seed recorded `second` but not its dependency"
    );
    assert_eq!(run(&mut engine).unwrap().applied_ids(), ["log_2024_01_03_third"]);
    let history = engine.applied().unwrap();
    assert_eq!(history[0].upgrade, "log_2024_01_02_second");
    assert_eq!(
        history[0].applied.map(|t| t.to_string()).as_deref(),
        Some("2019-05-01 10:00:00"),
        "the seed's rows are kept as they were"
    );
    // Adopted rows showed how they were recorded as `run`: the engine never ran them.
    assert_eq!(history[0].method, "adopted");
    assert_eq!(history[1].upgrade, "log_2024_01_03_third");
    assert_eq!(history[1].method, "run");
}
