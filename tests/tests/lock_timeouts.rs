//! Lock timeouts per upgrade, on real databases: an upgrade with `lock_timeout` gives up behind
//! another session's conflicting lock after its own timeout (not the engine's much longer wait),
//! fails cleanly naming what held it, leaves nothing half-applied, and with `retries` is tried
//! again after a pause, succeeding once the lock is gone.
//!
//! No test measures time: the engine's own wait is two minutes, so only the upgrade's timeout of
//! one second can have ended the wait in a test that passes (a regression hangs, then fails on
//! the message).

use std::sync::mpsc;
use std::time::Duration;

use upgrader_core::{
    AnyConnection, Backend, Context, Engine, Error, Interaction, Registry, RunOptions, Timeouts, Unattended,
    Upgrade,
};
use upgrader_tests::{TestDb, without_journal};

/// Far longer than any test waits: a statement that gives up did so at its upgrade's timeout.
const ENGINE_WAIT: Duration = Duration::from_secs(120);
const ONE_SECOND: Duration = Duration::from_secs(1);

fn create_busy(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("CREATE TABLE busy (id INTEGER NOT NULL)")?;
    ctx.execute("INSERT INTO busy (id) VALUES (1)")?;
    Ok(())
}

/// A marker row first, then the DDL that needs the table to itself: a half-applied upgrade would
/// leave the row.
fn alter_busy(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("INSERT INTO busy (id) VALUES (2)")?;
    ctx.execute("ALTER TABLE busy ADD COLUMN extra INTEGER")?;
    Ok(())
}

/// The DDL alone: one statement, which changes nothing when it gives up, on every backend.
fn alter_only(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("ALTER TABLE busy ADD COLUMN extra INTEGER")?;
    Ok(())
}

const CREATE: Upgrade = Upgrade::new("busy_2024_01_01_create", "Create `busy`.", create_busy);
const ALTER: Upgrade = Upgrade::new("busy_2024_01_02_alter", "Alter `busy`.", alter_busy)
    .with_depends_on(&["busy_2024_01_01_create"])
    .with_lock_timeout(ONE_SECOND);
const ALTER_ONLY: Upgrade = Upgrade::new("busy_2024_01_02_alter", "Alter `busy`.", alter_only)
    .with_depends_on(&["busy_2024_01_01_create"])
    .with_lock_timeout(ONE_SECOND);

/// The engine on `db` with `upgrades`, waiting [`ENGINE_WAIT`] for locks (`upgrade_lock`: the
/// default lock timeout of upgrades), with `busy` created and the history set up.
fn engine(db: &TestDb, upgrades: Vec<Upgrade>, upgrade_lock: Option<Duration>) -> Engine {
    let first = Engine::open(&db.database_url(), Registry::new([CREATE], []), None).unwrap();
    let mut first = first;
    first
        .run(&mut Unattended::default(), &RunOptions::default())
        .expect("`busy` is created");
    let mut all = vec![CREATE];
    all.extend(upgrades);
    let mut engine = Engine::open(&db.database_url(), Registry::new(all, []), None).unwrap();
    engine
        .set_timeouts(
            Timeouts::default()
                .with_wait(ENGINE_WAIT)
                .with_upgrade_lock(upgrade_lock),
        )
        .unwrap();
    engine
}

/// Another session holding a lock that conflicts with `ALTER TABLE busy` (and, on SQLite, with
/// any write): PostgreSQL `ACCESS SHARE` on it, MySQL/MariaDB a shared metadata lock from an
/// open transaction that read it, SQLite the file's write lock.
fn hold_busy(db: &TestDb) -> AnyConnection {
    let mut conn = db.connect();
    match db.backend() {
        Backend::Sqlite => conn.batch_execute("BEGIN IMMEDIATE").unwrap(),
        Backend::Postgres => conn
            .batch_execute("BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE")
            .unwrap(),
        _ => {
            conn.batch_execute("START TRANSACTION").unwrap();
            conn.query_i64("SELECT COUNT(*) AS value FROM busy").unwrap();
        }
    }
    conn
}

fn rows(db: &TestDb) -> i64 {
    db.connect()
        .query_i64("SELECT COUNT(*) AS value FROM busy")
        .unwrap()
        .unwrap()
}

fn has_extra(db: &TestDb) -> bool {
    db.connect()
        .query_i64("SELECT COUNT(extra) AS value FROM busy")
        .is_ok()
}

/// The session's own lock wait, in milliseconds, where the server says it.
fn session_wait_ms(engine: &mut Engine) -> Option<i64> {
    let sql = match engine.backend() {
        Backend::Postgres => {
            "SELECT CAST(setting AS BIGINT) AS value FROM pg_settings WHERE name = 'lock_timeout'"
        }
        Backend::Mysql => "SELECT @@SESSION.lock_wait_timeout * 1000 AS value",
        _ => return None,
    };
    engine.connection().query_i64(sql).unwrap()
}

fn fails_behind_another_sessions_lock(db: &TestDb, upgrades: Vec<Upgrade>, upgrade_lock: Option<Duration>) {
    let mut engine = engine(db, upgrades, upgrade_lock);
    let before = db.snapshot();
    let mut holder = hold_busy(db);
    let result = engine.run(&mut Unattended::default(), &RunOptions::default());
    holder.batch_execute("ROLLBACK").unwrap();
    let Err(Error::UpgradeFailed {
        id,
        reason,
        rolled_back,
        report,
    }) = result
    else {
        panic!("expected the upgrade to fail: {result:?}");
    };
    assert_eq!(id, "busy_2024_01_02_alter");
    assert!(report.applied.is_empty(), "{report:?}");
    let backend = db.backend();
    let says = match backend {
        Backend::Sqlite => "did not obtain a lock on the SQLite file ",
        _ => "did not obtain a lock within the upgrade's lock timeout (1s): another session holds it",
    };
    assert!(reason.contains(says), "{backend}: {reason}");
    assert!(
        reason.contains("within the upgrade's lock timeout (1s)"),
        "{backend}: {reason}"
    );
    // Who held it, where the server can tell.
    if backend == Backend::Postgres {
        assert!(
            reason.contains("PostgreSQL backend ") && reason.contains("AccessShareLock on busy"),
            "{reason}"
        );
    }
    assert!(!has_extra(db), "{backend}");
    if backend.has_transactional_ddl() {
        // Nothing half-applied: the marker row is rolled back with the rest.
        assert!(rolled_back, "{backend}");
        assert_eq!(rows(db), 1, "{backend}");
        // (The journal says the run failed.)
        assert_eq!(
            without_journal(&db.snapshot()),
            without_journal(&before),
            "{backend}"
        );
    } else {
        // MySQL/MariaDB commit before DDL, so the marker row stays: the upgrade is left
        // interrupted for the operator, who settles it.
        assert!(!rolled_back, "{backend}");
        assert_eq!(rows(db), 2, "{backend}");
        let status = engine.status().unwrap();
        assert_eq!(status.interrupted.len(), 1, "{status:?}");
        assert!(
            status.interrupted[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("lock timeout (1s)")),
            "{status:?}"
        );
        engine
            .resolve(&id, true, &mut Unattended::default(), &RunOptions::default())
            .unwrap();
        db.connect().execute("DELETE FROM busy WHERE id = 2").unwrap();
    }
    // The session's own wait is back.
    if let Some(ms) = session_wait_ms(&mut engine) {
        assert_eq!(ms, 120_000, "{backend}");
    }
    // The lock gone, the same upgrade runs.
    let report = engine
        .run(&mut Unattended::default(), &RunOptions::default())
        .unwrap();
    assert_eq!(report.applied_ids(), ["busy_2024_01_02_alter"]);
    assert_eq!(rows(db), 2);
    assert!(has_extra(db));
}

fn an_upgrade_s_lock_timeout_fails_it_cleanly(db: &TestDb) {
    fails_behind_another_sessions_lock(db, vec![ALTER], None);
}

// The DDL alone changes nothing on any backend when it gives up: even on MySQL/MariaDB, where the
// upgrade is left interrupted, the database is as it was.
fn a_single_statement_upgrade_changes_nothing_when_it_gives_up(db: &TestDb) {
    let mut engine = engine(db, vec![ALTER_ONLY], None);
    let tables_before = upgrader_tests::snapshot(&mut db.connect());
    let mut holder = hold_busy(db);
    let result = engine.run(&mut Unattended::default(), &RunOptions::default());
    holder.batch_execute("ROLLBACK").unwrap();
    assert!(
        matches!(&result, Err(Error::UpgradeFailed { reason, .. }) if reason.contains("within the upgrade's lock timeout (1s)")),
        "{result:?}"
    );
    assert!(!has_extra(db));
    assert_eq!(rows(db), 1);
    let status = engine.status().unwrap();
    if !db.backend().has_transactional_ddl() {
        engine
            .resolve(
                "busy_2024_01_02_alter",
                true,
                &mut Unattended::default(),
                &RunOptions::default(),
            )
            .unwrap();
    }
    assert_eq!(
        without_journal(&upgrader_tests::snapshot(&mut db.connect())),
        without_journal(&tables_before),
        "{status:?}"
    );
}

// Two statements, the first a write: where DDL commits on its own (MySQL/MariaDB), the first may
// be committed when the second gives up, so the upgrade is not run again; elsewhere it is.
fn an_upgrade_is_retried_only_where_running_it_again_is_safe(db: &TestDb) {
    let mut engine = engine(db, vec![ALTER.with_retries(1)], None);
    let mut holder = hold_busy(db);
    let mut ui = Unattended::default();
    let result = engine.run(&mut ui, &RunOptions::default());
    holder.batch_execute("ROLLBACK").unwrap();
    let Err(Error::UpgradeFailed { reason, .. }) = &result else {
        panic!("{result:?}");
    };
    let retries = ui.lines.iter().filter(|l| l.contains("trying again")).count();
    if db.backend().has_transactional_ddl() {
        assert_eq!(retries, 1, "{:?}", ui.lines);
        assert_eq!(rows(db), 1);
    } else {
        assert_eq!(retries, 0, "{:?}", ui.lines);
        assert!(
            reason.ends_with("(not tried again: statements it ran before that one may have been committed, as DDL commits on this backend)"),
            "{reason}"
        );
    }
}

// The default for upgrades that set none (`upgrade_lock_timeout` in upgrader.toml).
fn the_default_lock_timeout_for_upgrades_fails_it_cleanly(db: &TestDb) {
    let plain = Upgrade::new("busy_2024_01_02_alter", "Alter `busy`.", alter_busy)
        .with_depends_on(&["busy_2024_01_01_create"]);
    fails_behind_another_sessions_lock(db, vec![plain], Some(ONE_SECOND));
}

/// Says each line logged (the retries) to the test, which releases the lock at the first.
struct Told(mpsc::Sender<String>);

impl Interaction for Told {
    fn ask(&mut self, _question: &str, default: &str) -> String {
        default.to_owned()
    }
    fn confirm(&mut self, _question: &str, default: bool) -> bool {
        default
    }
    fn log(&mut self, upgrade: &str, message: &str) {
        let _ = self.0.send(format!("{upgrade}: {message}"));
    }
    fn progress(&mut self, _upgrade: &str, _done: u64, _total: u64) {}
}

fn a_retry_after_the_lock_is_released_succeeds(db: &TestDb) {
    let retried = ALTER_ONLY.with_retries(3);
    let mut engine = engine(db, vec![retried], None);
    let holder = hold_busy(db);
    let (tx, rx) = mpsc::channel::<String>();
    // Holds the lock until the upgrade has given up once, then lets go during the pause.
    let releaser = std::thread::spawn(move || {
        let mut holder = holder;
        let first = rx.recv().expect("a retry is announced");
        holder.batch_execute("ROLLBACK").unwrap();
        let rest: Vec<String> = rx.iter().collect();
        (first, rest)
    });
    let result = engine.run(&mut Told(tx), &RunOptions::default());
    let (first, rest) = releaser.join().unwrap();
    let report = result.unwrap_or_else(|e| panic!("{}: {e}", db.backend()));
    assert_eq!(report.applied_ids(), ["busy_2024_01_02_alter"]);
    assert_eq!(rows(db), 1);
    assert!(
        first.starts_with("busy_2024_01_02_alter: ")
            && first.contains("within the upgrade's lock timeout (1s)")
            && first.ends_with("; trying again in 1s (retry 1 of 3)"),
        "{first}"
    );
    assert!(rest.is_empty(), "one retry was enough: {rest:?}");
    assert!(has_extra(db));
    let status = engine.status().unwrap();
    assert!(
        status.interrupted.is_empty() && status.pending.is_empty(),
        "{status:?}"
    );
    if let Some(ms) = session_wait_ms(&mut engine) {
        assert_eq!(ms, 120_000);
    }
}

// Every retry given up: the run fails as without retries, after saying each one.
fn retries_that_all_give_up_fail_the_run(db: &TestDb) {
    let retried = ALTER_ONLY.with_retries(2);
    let mut engine = engine(db, vec![retried], None);
    let mut holder = hold_busy(db);
    let mut ui = Unattended::default();
    let result = engine.run(&mut ui, &RunOptions::default());
    holder.batch_execute("ROLLBACK").unwrap();
    assert!(
        matches!(&result, Err(Error::UpgradeFailed { reason, .. }) if reason.contains("within the upgrade's lock timeout (1s)")),
        "{result:?}"
    );
    let retries: Vec<&String> = ui.lines.iter().filter(|l| l.contains("trying again")).collect();
    assert_eq!(retries.len(), 2, "{:?}", ui.lines);
    assert!(
        retries[0].ends_with("trying again in 1s (retry 1 of 2)"),
        "{retries:?}"
    );
    assert!(
        retries[1].ends_with("trying again in 2s (retry 2 of 2)"),
        "{retries:?}"
    );
    assert_eq!(rows(db), 1);
    assert!(!has_extra(db));
}

// Only a lock wait is retried: an upgrade that fails for another reason fails at once.
fn other_failures_are_not_retried(db: &TestDb) {
    fn broken(ctx: &mut Context) -> upgrader_core::Result<()> {
        ctx.execute("INSERT INTO no_such_table (id) VALUES (1)")?;
        Ok(())
    }
    let broken = Upgrade::new("busy_2024_01_02_broken", "Broken.", broken)
        .with_depends_on(&["busy_2024_01_01_create"])
        .with_lock_timeout(ONE_SECOND)
        .with_retries(5);
    let mut engine = engine(db, vec![broken], None);
    let mut ui = Unattended::default();
    let result = engine.run(&mut ui, &RunOptions::default());
    assert!(matches!(result, Err(Error::UpgradeFailed { .. })), "{result:?}");
    assert!(
        ui.lines.iter().all(|l| !l.contains("trying again")),
        "{:?}",
        ui.lines
    );
}

upgrader_tests::on_every_backend!(
    an_upgrade_s_lock_timeout_fails_it_cleanly,
    a_single_statement_upgrade_changes_nothing_when_it_gives_up,
    an_upgrade_is_retried_only_where_running_it_again_is_safe,
    the_default_lock_timeout_for_upgrades_fails_it_cleanly,
    a_retry_after_the_lock_is_released_succeeds,
    retries_that_all_give_up_fail_the_run,
    other_failures_are_not_retried,
    an_upgrade_outside_a_transaction_keeps_its_lock_timeout,
);

// `transaction = false` with a lock timeout: no transaction to `SET LOCAL` in, so the session
// waits that long while it runs, and its own wait comes back after. It gives up in time, is left
// interrupted (it ran outside a transaction), and runs once the lock is gone. On SQLite the run's
// first write (its journal row) is held up by the same file lock first, so nothing ran at all.
fn an_upgrade_outside_a_transaction_keeps_its_lock_timeout(db: &TestDb) {
    let mut engine = engine(db, vec![ALTER_ONLY.with_transaction(false)], None);
    let mut holder = hold_busy(db);
    let result = engine.run(&mut Unattended::default(), &RunOptions::default());
    holder.batch_execute("ROLLBACK").unwrap();
    assert!(
        matches!(&result, Err(Error::UpgradeFailed { reason, .. }) if reason.contains("within the upgrade's lock timeout (1s)")),
        "{}: {result:?}",
        db.backend()
    );
    assert!(!has_extra(db));
    let status = engine.status().unwrap();
    if db.backend() == Backend::Sqlite {
        assert!(status.interrupted.is_empty(), "{status:?}");
    } else {
        assert_eq!(status.interrupted.len(), 1, "{status:?}");
        engine
            .resolve(
                "busy_2024_01_02_alter",
                true,
                &mut Unattended::default(),
                &RunOptions::default(),
            )
            .unwrap();
    }
    if let Some(ms) = session_wait_ms(&mut engine) {
        assert_eq!(ms, 120_000, "{}", db.backend());
    }
    let report = engine
        .run(&mut Unattended::default(), &RunOptions::default())
        .unwrap();
    assert_eq!(report.applied_ids(), ["busy_2024_01_02_alter"]);
    assert!(has_extra(db));
}
