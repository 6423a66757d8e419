//! What a run tells its `Interaction`: the plan, each check's outcome, the warnings (also kept in
//! the report, the partial one of a failed run included), and its end, once.

use std::time::Duration;

use upgrader_core::{
    Context, Engine, Error, Interaction, Phase, PlannedUpgrade, Registry, RunOptions, RunReport, Upgrade,
    Warning,
};
use upgrader_tests::TestDb;

use super::{CREATE, SECOND, engine, table_exists};

/// Every event a run gave, as a line.
#[derive(Default)]
struct Recorder {
    events: Vec<String>,
}

impl Interaction for Recorder {
    fn ask(&mut self, _question: &str, default: &str) -> String {
        default.to_owned()
    }
    fn confirm(&mut self, _question: &str, default: bool) -> bool {
        default
    }
    fn log(&mut self, upgrade: &str, message: &str) {
        self.events.push(format!("log {upgrade}: {message}"));
    }
    fn progress(&mut self, _upgrade: &str, _done: u64, _total: u64) {}
    fn upgrade_started(&mut self, upgrade: &str, index: usize, total: usize) {
        self.events
            .push(format!("started {upgrade} {}/{total}", index + 1));
    }
    fn upgrade_finished(&mut self, upgrade: &str, ok: bool, _elapsed: Duration) {
        self.events.push(format!("finished {upgrade} ok={ok}"));
    }
    fn run_planned(&mut self, plan: &[PlannedUpgrade]) {
        let ids: Vec<String> = plan
            .iter()
            .map(|p| format!("{}:{:?}", p.id, p.estimate))
            .collect();
        self.events.push(format!("plan {}", ids.join(" ")));
    }
    fn check_finished(&mut self, phase: Phase, check: &str, error: Option<&str>) {
        self.events.push(format!("check {phase:?} {check} {error:?}"));
    }
    fn warning(&mut self, upgrade: &str, message: &str) {
        self.events.push(format!("warning {upgrade}: {message}"));
    }
    fn run_finished(&mut self, report: &RunReport, error: Option<&Error>) {
        self.events.push(format!(
            "end applied={} warnings={} failed={}",
            report.applied.len(),
            report.warnings.len(),
            error.is_some()
        ));
    }
}

fn warns(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.execute("INSERT INTO run_log (id) VALUES ('log_2024_01_03_warns')")?;
    ctx.warn("3 rows skipped");
    ctx.log("done");
    Ok(())
}

/// Warns, then fails while `fail_switch` exists.
fn warns_then_fails(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.warn("about to look at the switch");
    if table_exists(ctx, "fail_switch") {
        return Err("told to fail".into());
    }
    Ok(())
}

fn pre_check_warns(ctx: &mut Context) -> upgrader_core::Result<()> {
    ctx.warn("checked with a warning");
    Ok(())
}

fn estimate(_ctx: &mut Context) -> upgrader_core::Result<Duration> {
    Ok(Duration::from_secs(7))
}

const WARNS: Upgrade = Upgrade::new("log_2024_01_03_warns", "Warns.", warns)
    .with_depends_on(&["log_2024_01_02_second"])
    .with_pre_upgrade(pre_check_warns)
    .with_estimate(estimate);
const FAILS: Upgrade = Upgrade::new("log_2024_01_04_fails", "Fails.", warns_then_fails)
    .with_depends_on(&["log_2024_01_03_warns"]);

fn registry() -> Registry {
    Registry::new([CREATE, SECOND, WARNS, FAILS], [])
}

fn run_reports_plan_checks_warnings_and_end(db: &TestDb) {
    let mut engine: Engine = engine(db, registry());
    let mut ui = Recorder::default();
    // The preview tells the plan and runs the checks; the run, finding the same plan, does not
    // tell it or run them again.
    let preview = engine.preview_run(&mut ui, &RunOptions::default()).unwrap();
    let report = engine
        .run_previewed(preview, &mut ui, &RunOptions::default())
        .unwrap();
    let warning = |upgrade: &str, message: &str| Warning {
        upgrade: upgrade.into(),
        message: message.into(),
    };
    assert_eq!(
        report.warnings,
        [
            warning("log_2024_01_03_warns", "checked with a warning"),
            warning("log_2024_01_03_warns", "3 rows skipped"),
            warning("log_2024_01_04_fails", "about to look at the switch"),
        ]
    );
    assert_eq!(
        ui.events[..4],
        [
            "plan log_2024_01_01_create:Some(1s) log_2024_01_02_second:Some(1s) log_2024_01_03_warns:Some(7s) log_2024_01_04_fails:Some(1s)",
            "warning log_2024_01_03_warns: checked with a warning",
            "check PreRun log_2024_01_03_warns None",
            "started log_2024_01_01_create 1/4",
        ],
        "{:#?}",
        ui.events
    );
    assert!(
        ui.events
            .contains(&"warning log_2024_01_03_warns: 3 rows skipped".to_owned())
    );
    assert_eq!(ui.events.last().unwrap(), "end applied=4 warnings=3 failed=false");
    assert_eq!(ui.events.iter().filter(|e| e.starts_with("end ")).count(), 1);

    // Nothing to do: the end is still told, once.
    let mut ui = Recorder::default();
    engine.run(&mut ui, &RunOptions::default()).unwrap();
    assert_eq!(ui.events, ["end applied=0 warnings=0 failed=false"]);
}

// A failed run's partial report lost the warnings given before the failure.
fn a_failed_run_keeps_its_warnings_in_the_partial_report(db: &TestDb) {
    let mut engine: Engine = engine(db, registry());
    engine
        .connection()
        .execute("CREATE TABLE fail_switch (id INTEGER)")
        .unwrap();
    let mut ui = Recorder::default();
    let error = engine.run(&mut ui, &RunOptions::default()).unwrap_err();
    let report = error.report().expect("a partial report");
    assert_eq!(report.applied.len(), 3);
    assert_eq!(
        report
            .warnings
            .iter()
            .map(|w| w.message.as_str())
            .collect::<Vec<_>>(),
        [
            "checked with a warning",
            "3 rows skipped",
            "about to look at the switch"
        ]
    );
    // Without a preview, the plan has no estimates.
    assert!(
        ui.events[0].starts_with("plan log_2024_01_01_create:None "),
        "{:?}",
        ui.events
    );
    assert_eq!(
        ui.events[ui.events.len() - 2..],
        [
            "finished log_2024_01_04_fails ok=false",
            "end applied=3 warnings=3 failed=true"
        ]
    );
}

// A run refused before its lock (a failing pre-run check) still tells its end.
fn a_refused_run_tells_its_end_with_the_checks_that_failed(db: &TestDb) {
    fn says_no(_ctx: &mut Context) -> upgrader_core::Result<()> {
        Err("not today".into())
    }
    let check = upgrader_core::RunCheck::new(Phase::PreRun, "the moon is full", says_no);
    let mut engine: Engine = engine(db, Registry::new([CREATE], [check]));
    let mut ui = Recorder::default();
    let error = engine.run(&mut ui, &RunOptions::default()).unwrap_err();
    assert!(matches!(error, Error::PreChecksFailed { .. }), "{error}");
    assert_eq!(
        ui.events,
        [
            "plan log_2024_01_01_create:None",
            "check PreRun the moon is full Some(\"not today\")",
            "end applied=0 warnings=0 failed=true",
        ]
    );
}

upgrader_tests::on_every_backend!(
    run_reports_plan_checks_warnings_and_end,
    a_failed_run_keeps_its_warnings_in_the_partial_report,
    a_refused_run_tells_its_end_with_the_checks_that_failed,
);
