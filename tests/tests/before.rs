//! Before a run, on real databases: the checks run in the preview (and again under the lock only
//! when the pending upgrades changed), and a run's window stops it cleanly before an upgrade it
//! has no room for.

use std::time::Duration;

use upgrader_core::{Context, Engine, Phase, Registry, RunCheck, RunOptions, Timings, Unattended, Upgrade};
use upgrader_tests::TestDb;

fn create(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("CREATE TABLE win_log (id VARCHAR(255) NOT NULL)")?;
    ctx.execute("INSERT INTO win_log (id) VALUES ('win_2024_01_01_create')")?;
    Ok(())
}

fn second(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("INSERT INTO win_log (id) VALUES ('win_2024_01_02_second')")?;
    Ok(())
}

fn third(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("INSERT INTO win_log (id) VALUES ('win_2024_01_03_third')")?;
    Ok(())
}

/// Every check says it ran, through the operator's log.
fn looks(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.log("checked");
    Ok(())
}

fn two_hours(_ctx: &mut Context) -> upgrader_core::Result<Duration> {
    Ok(Duration::from_secs(7200))
}

const CREATE: Upgrade = Upgrade::new("win_2024_01_01_create", "Create the log.", create)
    .with_pre_upgrade(looks)
    .with_post_upgrade(looks);
const SECOND: Upgrade = Upgrade::new("win_2024_01_02_second", "Second.", second)
    .with_depends_on(&["win_2024_01_01_create"])
    .with_pre_upgrade(looks)
    .with_post_upgrade(looks);
/// Expected to take two hours.
const THIRD: Upgrade = Upgrade::new("win_2024_01_03_third", "Third.", third)
    .with_depends_on(&["win_2024_01_02_second"])
    .with_estimate(two_hours)
    .with_pre_upgrade(looks)
    .with_post_upgrade(looks);

fn registry() -> Registry {
    Registry::new(
        [CREATE, SECOND, THIRD],
        [
            RunCheck::new(Phase::PreRun, "before the run", looks),
            RunCheck::new(Phase::PostRun, "after the run", looks),
        ],
    )
}

fn engine(db: &TestDb) -> Engine {
    Engine::open(&db.database_url(), registry(), None).expect("the engine opens")
}

/// The checks that ran, in order, from what they logged.
fn checked(ui: &Unattended) -> Vec<String> {
    ui.lines
        .iter()
        .filter_map(|l| l.strip_suffix(": checked"))
        .map(str::to_owned)
        .collect()
}

const PRE: [&str; 4] = [
    "before the run",
    "win_2024_01_01_create",
    "win_2024_01_02_second",
    "win_2024_01_03_third",
];

upgrader_tests::on_every_backend!(
    the_preview_runs_the_checks_and_the_run_does_not_repeat_them,
    the_run_checks_again_when_another_runner_applied_some_meanwhile,
    a_window_stops_before_the_upgrade_it_has_no_room_for,
    a_window_shorter_than_the_first_upgrade_changes_nothing,
    measured_durations_decide_where_the_window_stops,
    a_stopped_run_whose_post_upgrade_fails_says_both,
);

fn the_preview_runs_the_checks_and_the_run_does_not_repeat_them(db: &TestDb) {
    let mut engine = engine(db);
    let options = RunOptions::default();
    let mut ui = Unattended::default();
    let preview = engine.preview_run(&mut ui, &options).unwrap();
    assert!(preview.checked);
    assert_eq!(preview.checks, PRE);
    assert!(preview.refusal().is_none());
    assert_eq!(checked(&ui), PRE);
    // The default of one second for the two without an estimate, two hours for the third.
    assert_eq!(preview.total_estimate(), Duration::from_secs(7202));

    let mut ui = Unattended::default();
    let report = engine.run_previewed(preview, &mut ui, &options).unwrap();
    assert_eq!(report.applied.len(), 3);
    assert!(report.stopped.is_none());
    // No pre-run check again: only the upgrades' post_upgrades and the post-run check.
    assert_eq!(
        checked(&ui),
        [
            "after the run",
            "win_2024_01_01_create",
            "win_2024_01_02_second",
            "win_2024_01_03_third"
        ]
    );
}

fn the_run_checks_again_when_another_runner_applied_some_meanwhile(db: &TestDb) {
    let mut engine = engine(db);
    let options = RunOptions::default();
    let preview = engine.preview_run(&mut Unattended::default(), &options).unwrap();
    // Another runner applies the first two (stopped by its window before the third).
    let mut other = Engine::open(&db.database_url(), registry(), None).unwrap();
    let report = other
        .run(
            &mut Unattended::default(),
            &RunOptions::default().with_max_duration(Duration::from_secs(3600)),
        )
        .unwrap();
    assert_eq!(report.applied.len(), 2);
    drop(other);

    let mut ui = Unattended::default();
    let report = engine.run_previewed(preview, &mut ui, &options).unwrap();
    assert_eq!(report.applied_ids(), ["win_2024_01_03_third"]);
    let ran = checked(&ui);
    assert_eq!(
        ran[..2],
        ["before the run", "win_2024_01_03_third"],
        "the pending upgrades changed: checked again, {ran:?}"
    );
}

fn a_window_stops_before_the_upgrade_it_has_no_room_for(db: &TestDb) {
    let mut engine = engine(db);
    let options = RunOptions::default().with_max_duration(Duration::from_secs(3600));
    let mut ui = Unattended::default();
    let report = engine.run(&mut ui, &options).unwrap();
    assert_eq!(
        report.applied_ids(),
        ["win_2024_01_01_create", "win_2024_01_02_second"]
    );
    let stopped = report.stopped.as_ref().expect("stopped at the window");
    assert_eq!(stopped.window, Duration::from_secs(3600));
    assert_eq!(stopped.next().unwrap().id, "win_2024_01_03_third");
    assert_eq!(stopped.remaining_estimate(), Duration::from_secs(7200));
    // Checks before (all pending), then the applied upgrades' post_upgrades, not the post-run
    // check: the database is not where a whole run leaves it.
    let mut expected: Vec<&str> = PRE.to_vec();
    expected.extend(["win_2024_01_01_create", "win_2024_01_02_second"]);
    assert_eq!(checked(&ui), expected);
    let mut conn = db.connect();
    assert_eq!(
        conn.query_i64("SELECT COUNT(*) AS value FROM win_log").unwrap(),
        Some(2)
    );

    // The next run, without a window, applies the rest and runs the post-run check.
    let mut ui = Unattended::default();
    let report = engine.run(&mut ui, &RunOptions::default()).unwrap();
    assert_eq!(report.applied_ids(), ["win_2024_01_03_third"]);
    assert!(report.stopped.is_none());
    assert!(checked(&ui).contains(&"after the run".to_owned()));
}

fn a_window_shorter_than_the_first_upgrade_changes_nothing(db: &TestDb) {
    let mut engine = engine(db);
    let before = db.snapshot();
    let timings: Timings = [("win_2024_01_01_create".to_owned(), Duration::from_secs(600))]
        .into_iter()
        .collect();
    let options = RunOptions::default()
        .with_max_duration(Duration::from_secs(300))
        .with_timings(timings);
    let report = engine.run(&mut Unattended::default(), &options).unwrap();
    assert!(report.applied.is_empty());
    let stopped = report.stopped.expect("stopped before the first upgrade");
    assert_eq!(stopped.remaining.len(), 3);
    assert_eq!(stopped.next().unwrap().measured, Some(Duration::from_secs(600)));
    assert_eq!(db.snapshot(), before, "not even the history tables were created");
}

fn measured_durations_decide_where_the_window_stops(db: &TestDb) {
    // Measured elsewhere: the third is quick after all, the second is not.
    let timings: Timings = [
        ("win_2024_01_02_second".to_owned(), Duration::from_secs(5400)),
        ("win_2024_01_03_third".to_owned(), Duration::from_millis(20)),
        ("gone_2020_01_01_unknown".to_owned(), Duration::from_secs(1)),
    ]
    .into_iter()
    .collect();
    let mut engine = engine(db);
    let options = RunOptions::default()
        .with_max_duration(Duration::from_secs(3600))
        .with_timings(timings);
    let preview = engine.preview_run(&mut Unattended::default(), &options).unwrap();
    let measured: Vec<_> = preview.expected.iter().map(|e| e.measured).collect();
    assert_eq!(
        measured,
        [
            None,
            Some(Duration::from_secs(5400)),
            Some(Duration::from_millis(20))
        ]
    );
    assert_eq!(preview.fitting(Duration::from_secs(3600)), 1);
    let report = engine
        .run_previewed(preview, &mut Unattended::default(), &options)
        .unwrap();
    assert_eq!(report.applied_ids(), ["win_2024_01_01_create"]);
    let stopped = report.stopped.unwrap();
    assert_eq!(stopped.next().unwrap().id, "win_2024_01_02_second");
    assert_eq!(stopped.remaining_estimate(), Duration::from_millis(5_400_020));
}

fn says_no(_ctx: &mut Context) -> upgrader_core::Result<()> {
    Err("post says no".into())
}

fn a_stopped_run_whose_post_upgrade_fails_says_both(db: &TestDb) {
    let registry = Registry::new([CREATE.with_post_upgrade(says_no), SECOND, THIRD], []);
    let mut engine = Engine::open(&db.database_url(), registry, None).unwrap();
    let options = RunOptions::default().with_max_duration(Duration::from_secs(3600));
    let err = engine.run(&mut Unattended::default(), &options).unwrap_err();
    let upgrader_core::Error::PostChecksFailed { failures, report } = &err else {
        panic!("{err}")
    };
    assert_eq!(failures[0].check, "win_2024_01_01_create");
    assert_eq!(report.applied.len(), 2, "what was applied stays recorded");
    let stopped = report
        .stopped
        .as_ref()
        .expect("the report says where the run stopped");
    assert_eq!(stopped.next().unwrap().id, "win_2024_01_03_third");
}
