//! The real `upgrader` command line with upgrades for large databases (and nothing else), for the
//! tests that kill or fail them: a table of `$UPGRADER_TEST_ROWS` rows, an index built outside a
//! transaction (`CREATE INDEX CONCURRENTLY` on PostgreSQL), and a batched backfill over every row.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use upgrader_core::{Backend, Batch, Batches, Context, Result, upgrade};

fn env_i64(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Create `items` with `$UPGRADER_TEST_ROWS` rows (default 1,000), ids 1 to that, `n` = id.
#[upgrade(depends_on = [])]
fn large_2024_01_01_items(ctx: &mut Context) -> Result<()> {
    let rows = env_i64("UPGRADER_TEST_ROWS", 1_000);
    ctx.execute(
        "CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, n BIGINT NOT NULL, doubled BIGINT NULL, \
         touched INTEGER NOT NULL DEFAULT 0)",
    )?;
    ctx.execute("CREATE TABLE large_digits (d INTEGER NOT NULL)")?;
    ctx.execute("INSERT INTO large_digits (d) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)")?;
    // Ids 1..=rows from the digits crossed with themselves: one statement on every backend.
    let mut places = 1;
    while 10_i64.pow(places) < rows {
        places += 1;
    }
    let from: Vec<String> = (0..places).map(|i| format!("large_digits d{i}")).collect();
    let number: Vec<String> = (0..places)
        .map(|i| format!("d{i}.d * {}", 10_i64.pow(i)))
        .collect();
    let number = number.join(" + ");
    ctx.execute(&format!(
        "INSERT INTO items (id, n) SELECT {number} + 1, {number} + 1 FROM {} WHERE {number} < {rows}",
        from.join(", ")
    ))?;
    ctx.execute("DROP TABLE large_digits")?;
    Ok(())
}

/// Index `items.n` without blocking writes: `CREATE INDEX CONCURRENTLY` on PostgreSQL. Sleeps
/// `$UPGRADER_TEST_SLEEP_MS` after (to be killed), fails when `$UPGRADER_TEST_FAIL` is set.
#[upgrade(depends_on = [large_2024_01_01_items], transaction = false)]
fn large_2024_01_02_index(ctx: &mut Context) -> Result<()> {
    let concurrently = if ctx.backend() == Backend::Postgres {
        "CONCURRENTLY "
    } else {
        ""
    };
    ctx.execute(&format!("CREATE INDEX {concurrently}items_n ON items (n)"))?;
    let ms = env_i64("UPGRADER_TEST_SLEEP_MS", 0);
    if ms > 0 {
        ctx.log("sleeping");
        std::thread::sleep(Duration::from_millis(ms.unsigned_abs()));
    }
    if std::env::var_os("UPGRADER_TEST_FAIL").is_some() {
        return Err("the index fixture was told to fail".into());
    }
    Ok(())
}

/// Fill `items.doubled` with `2 * n` and add 1 to `touched`, `$UPGRADER_TEST_BATCH` rows per batch
/// (default 100), pausing `$UPGRADER_TEST_PAUSE_MS` between batches. Each batch appends the cursor
/// it starts after to `$UPGRADER_TEST_BATCH_LOG` before it runs (outside its transaction, so the
/// test counts the batches that were rolled back too). The batch after `$UPGRADER_TEST_FAIL_AFTER`
/// fails.
#[upgrade(depends_on = [large_2024_01_02_index], transaction = false)]
fn large_2024_01_03_fill_doubled(ctx: &mut Context) -> Result<()> {
    let size = env_i64("UPGRADER_TEST_BATCH", 100);
    let pause = Duration::from_millis(env_i64("UPGRADER_TEST_PAUSE_MS", 0).unsigned_abs());
    let fail_after = env_i64("UPGRADER_TEST_FAIL_AFTER", -1);
    let mut log = match std::env::var_os("UPGRADER_TEST_BATCH_LOG") {
        Some(path) => Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
        None => None,
    };
    let last = ctx
        .query_i64("SELECT COALESCE(MAX(id), 0) AS value FROM items")?
        .unwrap_or(0);
    let rows = ctx.query_i64("SELECT COUNT(*) AS value FROM items")?.unwrap_or(0);
    let work = Batches::after(0).total(rows.unsigned_abs()).pause(pause);
    ctx.batches(work, |ctx, after| {
        if let Some(log) = &mut log {
            writeln!(log, "{after}")?;
        }
        let to = after + size;
        let done = ctx.execute(&format!(
            "UPDATE items SET doubled = 2 * n, touched = touched + 1 WHERE id > {after} AND id <= {to}"
        ))?;
        if after == fail_after {
            return Err(format!("the batch after {after} was told to fail").into());
        }
        let rows = done as u64;
        Ok(if to >= last {
            Batch::Last { rows }
        } else {
            Batch::Next { cursor: to, rows }
        })
    })?;
    Ok(())
}

fn main() -> ExitCode {
    upgrader_cli::main()
}
