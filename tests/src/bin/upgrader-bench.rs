//! Measures the engine: planning large graphs, and the per-upgrade cost of a run on each backend.
//!
//! `cargo run --release -p upgrader-tests --bin upgrader-bench` (SQLite; PostgreSQL and MariaDB
//! too when `UPGRADER_TEST_POSTGRES_URL` / `UPGRADER_TEST_MYSQL_URL` are set, as `.ci/run` and
//! `scripts/services.sh` set them). Prints one line per measurement; asserts nothing.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use upgrader_core::{Backend, Context, Engine, Registry, RunMode, RunOptions, Unattended, Upgrade};
use upgrader_tests::TestDb;

fn noop(_: &mut Context<'_>) -> upgrader_core::Result<()> {
    Ok(())
}

fn insert(ctx: &mut Context<'_>) -> upgrader_core::Result<()> {
    ctx.execute("INSERT INTO bench (n) VALUES (1)")?;
    Ok(())
}

fn create(ctx: &mut Context<'_>) -> upgrader_core::Result<()> {
    ctx.execute("CREATE TABLE bench (n INTEGER NOT NULL)")?;
    Ok(())
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// `modules` modules of `per_module` upgrades each: a chain per module, and every tenth upgrade
/// also depends on the upgrade at the same position in the previous module.
fn graph(modules: usize, per_module: usize, run: upgrader_core::UpgradeFn) -> Vec<Upgrade> {
    let id = |m: usize, i: usize| {
        leak(format!(
            "mod{m:03}_{}_{:02}_{:02}_step{i:05}",
            2000 + i / 365,
            1 + i / 28 % 12,
            1 + i % 28
        ))
    };
    let mut out = Vec::with_capacity(modules * per_module);
    for m in 0..modules {
        for i in 0..per_module {
            let mut deps = Vec::new();
            if i > 0 {
                deps.push(id(m, i - 1));
            }
            if m > 0 && i % 10 == 0 {
                deps.push(id(m - 1, i));
            }
            let deps: &'static [&'static str] = Box::leak(deps.into_boxed_slice());
            out.push(Upgrade::new(id(m, i), "bench", run).with_depends_on(deps));
        }
    }
    out
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn best_of<T>(times: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..times)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// A fresh install of `count` small upgrades (one `INSERT` each) on a new database of `backend`,
/// in `mode`; how long the run took.
fn fresh_install(backend: Backend, count: usize, mode: RunMode) -> Option<Duration> {
    let db = TestDb::new(backend)?;
    let mut upgrades = graph(1, count, insert);
    upgrades[0] = Upgrade::new(upgrades[0].id(), "bench", create);
    let mut engine = Engine::open(&db.database_url(), Registry::new(upgrades, []), None).expect("opens");
    let start = Instant::now();
    let report = engine
        .run(&mut Unattended::default(), &RunOptions::default().with_mode(mode))
        .expect("runs");
    let elapsed = start.elapsed();
    assert_eq!(report.applied.len(), count);
    Some(elapsed)
}

fn main() {
    // `upgrader-bench fresh-install <sqlite|postgres> <normal|atomic> [COUNT]`: that one run and
    // nothing else, for timing the whole process from outside.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("fresh-install") {
        let backend = match args.get(1).map(String::as_str) {
            Some("postgres") => Backend::Postgres,
            Some("mysql") => Backend::Mysql,
            _ => Backend::Sqlite,
        };
        let mode = match args.get(2).map(String::as_str) {
            Some("atomic") => RunMode::Atomic,
            _ => RunMode::Normal,
        };
        let count = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1000);
        let elapsed = fresh_install(backend, count, mode).expect("the backend's URL is set");
        println!(
            "fresh install: {backend} {count} upgrades {mode:?} in {:.1} ms",
            elapsed.as_secs_f64() * 1e3
        );
        return;
    }
    for (modules, per_module) in [(10, 100), (50, 200), (100, 1000)] {
        let upgrades = graph(modules, per_module, noop);
        let registry = Registry::new(upgrades.clone(), []);
        let plan_time = best_of(5, || registry.plan(None).expect("a valid graph"));
        let build_time = best_of(5, || Registry::new(upgrades.clone(), []));
        println!(
            "plan: {:>6} upgrades  registry {:>8.2} ms  check+order {:>8.2} ms",
            upgrades.len(),
            build_time.as_secs_f64() * 1e3,
            plan_time.as_secs_f64() * 1e3
        );
    }

    const RUN: usize = 1000;
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(db) = TestDb::new(backend) else { continue };
        let mut upgrades = graph(1, RUN, insert);
        upgrades[0] = Upgrade::new(upgrades[0].id(), "bench", create);
        let mut engine = Engine::open(&db.database_url(), Registry::new(upgrades, []), None).expect("opens");
        let start = Instant::now();
        let report = engine
            .run(&mut Unattended::default(), &RunOptions::default())
            .expect("runs");
        let elapsed = start.elapsed();
        assert_eq!(report.applied.len(), RUN);
        let start = Instant::now();
        let again = engine
            .run(&mut Unattended::default(), &RunOptions::default())
            .expect("runs");
        let noop_run = start.elapsed();
        assert!(again.applied.is_empty());
        println!(
            "run: {backend:<13} {RUN} upgrades in {:>7.1} ms ({:.2} ms each); up-to-date run {:>6.1} ms",
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e3 / RUN as f64,
            noop_run.as_secs_f64() * 1e3
        );
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (Some(normal), Some(atomic)) = (
            fresh_install(backend, RUN, RunMode::Normal),
            fresh_install(backend, RUN, RunMode::Atomic),
        ) else {
            continue;
        };
        println!(
            "fresh install: {backend:<13} {RUN} upgrades one by one {:>7.1} ms, all in one transaction {:>7.1} ms ({:.1}x)",
            normal.as_secs_f64() * 1e3,
            atomic.as_secs_f64() * 1e3,
            normal.as_secs_f64() / atomic.as_secs_f64()
        );
    }
    println!("peak RSS: {:.1} MiB", peak_rss_mib());
}
