//! The run path reads the history once per phase: once to see whether anything is to be done
//! (without the lock), once holding the lock. Counted with diesel's connection instrumentation on
//! real databases, on every backend.

use std::sync::{Arc, Mutex};

use upgrader_core::diesel::Connection;
use upgrader_core::diesel::connection::InstrumentationEvent;
use upgrader_core::{
    AnyConnection, Backend, Context, Engine, HistoryTable, Registry, RunOptions, Unattended, Upgrade,
};
use upgrader_tests::TestDb;

/// A history name no other statement contains, so a statement naming it is one about the history.
const HISTORY: &str = "probe_history";
/// What the first upgrade runs first: the statements after it are the upgrades' own.
const MARKER: &str = "probe_first_upgrade";

fn first(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute(&format!("CREATE TABLE {MARKER} (id INTEGER)"))?;
    Ok(())
}

fn second(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute(&format!("INSERT INTO {MARKER} (id) VALUES (2)"))?;
    Ok(())
}

fn third(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute(&format!("INSERT INTO {MARKER} (id) VALUES (3)"))?;
    Ok(())
}

fn recorded(_: &mut Context) -> upgrader_core::Result<()> {
    Ok(())
}

const BEFORE: Upgrade = Upgrade::new("probe_2024_01_01_before", "Already applied.", recorded);
const FIRST: Upgrade =
    Upgrade::new("probe_2024_01_02_first", "First.", first).with_depends_on(&["probe_2024_01_01_before"]);
const SECOND: Upgrade =
    Upgrade::new("probe_2024_01_03_second", "Second.", second).with_depends_on(&["probe_2024_01_02_first"]);
const THIRD: Upgrade =
    Upgrade::new("probe_2024_01_04_third", "Third.", third).with_depends_on(&["probe_2024_01_03_second"]);

fn engine(db: &TestDb, registry: Registry) -> Engine {
    Engine::open(&db.database_url(), registry, None)
        .expect("the engine opens")
        .with_history_table(HistoryTable::new(HISTORY).expect("a valid name"))
}

/// The statements the engine's connection starts, as diesel shows them (SQL and binds), until
/// the first upgrade's first statement.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<(Vec<String>, bool)>>);

impl Statements {
    fn watch(engine: &mut Engine) -> Statements {
        let statements = Statements::default();
        let seen = statements.0.clone();
        let instrument = move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                let text = query.to_string();
                let mut seen = seen.lock().unwrap();
                if text.contains(MARKER) {
                    seen.1 = true;
                }
                if !seen.1 {
                    seen.0.push(text);
                }
            }
        };
        match engine.connection() {
            AnyConnection::Sqlite(c) => c.set_instrumentation(instrument),
            AnyConnection::Postgres(c) => c.set_instrumentation(instrument),
            AnyConnection::Mysql(c) => c.set_instrumentation(instrument),
            _ => unreachable!("a backend the tests do not know"),
        }
        statements
    }

    /// The statements before the first upgrade, and whether it started.
    fn before_first_upgrade(&self) -> (Vec<String>, bool) {
        self.0.lock().unwrap().clone()
    }
}

/// A database whose history has `BEFORE`, with three upgrades pending.
fn with_history(db: &TestDb) -> Engine {
    engine(db, Registry::new([BEFORE], []))
        .run(&mut Unattended::default(), &RunOptions::default())
        .expect("the first run");
    engine(db, Registry::new([BEFORE, FIRST, SECOND, THIRD], []))
}

/// The statements that read the history's rows (not the catalog's description of its table).
fn reads(statements: &[String]) -> usize {
    let from = [
        format!("FROM \"{HISTORY}\""),
        format!("FROM \"{HISTORY}_in_progress\""),
    ];
    statements
        .iter()
        .filter(|s| {
            s.trim_start().to_uppercase().starts_with("SELECT") && from.iter().any(|f| s.contains(f.as_str()))
        })
        .count()
}

fn naming_the_history(statements: &[String]) -> usize {
    statements.iter().filter(|s| s.contains(HISTORY)).count()
}

fn assert_read_once_per_phase(db: &TestDb, what: &str, statements: &[String], started: bool) {
    assert!(started, "{what}: the first upgrade never ran");
    let all = statements.join("\n");
    // Each phase reads the history (applied rows and started upgrades) once: two reads a phase.
    assert_eq!(
        reads(statements),
        4,
        "{what}: the history's rows read more than once a phase:\n{all}"
    );
    // Two reads of eight statements (the catalog's description of both tables, then their rows;
    // whether the checkpoint table exists, then its rows), the setup's look at the catalog before
    // it migrates (four), the run's row in the journal (its id, then the row: two); on MySQL, the
    // run lock's name and the first upgrade's start mark too. Before: 22 to 30.
    let bound = 2 * 8 + 4 + 2 + if db.backend() == Backend::Mysql { 2 } else { 0 };
    assert!(
        naming_the_history(statements) <= bound,
        "{what}: {} statements about the history before the first upgrade, more than {bound}:\n{all}",
        naming_the_history(statements)
    );
}

// `run` computed the status three times, reading the history again and again before its first
// upgrade (once before the lock, once to refuse a foreign table, once holding it, once to set up).
fn a_run_reads_the_history_once_per_phase(db: &TestDb) {
    let mut engine = with_history(db);
    let statements = Statements::watch(&mut engine);
    let report = engine
        .run(&mut Unattended::default(), &RunOptions::default())
        .expect("the run");
    assert_eq!(report.applied.len(), 3);
    let (statements, started) = statements.before_first_upgrade();
    assert_read_once_per_phase(db, "run", &statements, started);
}

// The command line previewed the run (a status), then ran it (two more, and two reads besides).
fn a_previewed_run_reads_the_history_once_per_phase(db: &TestDb) {
    let mut engine = with_history(db);
    let statements = Statements::watch(&mut engine);
    let options = RunOptions::default();
    let preview = engine
        .preview_run(&mut Unattended::default(), &options)
        .expect("the preview");
    assert_eq!(preview.status.pending.len(), 3);
    assert!(preview.refusal().is_none());
    let report = engine
        .run_previewed(preview, &mut Unattended::default(), &options)
        .expect("the run");
    assert_eq!(report.applied.len(), 3);
    let (statements, started) = statements.before_first_upgrade();
    assert_read_once_per_phase(db, "preview and run", &statements, started);
}

upgrader_tests::on_every_backend!(
    a_run_reads_the_history_once_per_phase,
    a_previewed_run_reads_the_history_once_per_phase,
);
