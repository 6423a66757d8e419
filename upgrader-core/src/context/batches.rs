//! Batched work: an upgrade over millions of rows, each batch committed with a checkpoint, so a
//! run killed or stopped by a failure resumes after the last batch that committed.

use std::time::{Duration, Instant};

use super::Context;
use crate::history::HistoryTable;
use crate::history::checkpoint::{self, Checkpoint, thousands};
use crate::upgrade::Result;

/// How an upgrade's batched work goes: where its cursor starts, how many rows there are (for
/// the progress display and `show pending`), and how long to pause between batches (so that
/// replicas keep up). See [`Context::batches`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batches {
    start: i64,
    total: Option<u64>,
    pause: Duration,
}

impl Batches {
    /// Batches whose first one starts after `cursor` (for an id range: the smallest id minus
    /// one, or 0).
    pub fn after(cursor: i64) -> Self {
        Batches {
            start: cursor,
            total: None,
            pause: Duration::ZERO,
        }
    }

    /// How many rows (or other units) the batches do in all, when known.
    pub fn total(mut self, rows: u64) -> Self {
        self.total = Some(rows);
        self
    }

    /// A pause after each batch but the last.
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }
}

/// What one batch did, as the upgrade's batch function returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Batch {
    /// It did `rows` rows; the next batch starts after `cursor`.
    Next {
        /// The cursor the next batch starts after (for an id range: the last id this batch
        /// covered).
        cursor: i64,
        /// How many rows it did.
        rows: u64,
    },
    /// It was the last one, and did `rows` rows.
    Last {
        /// How many rows it did.
        rows: u64,
    },
}

/// What the engine gives a context that runs outside a transaction.
#[derive(Debug)]
pub(crate) struct Batching {
    table: HistoryTable,
    used: bool,
}

const OUTSIDE: &str = "batched work commits batch by batch: declare the upgrade \
                       `#[upgrade(..., transaction = false)]` so that the engine runs it outside a transaction";

impl<'a> Context<'a> {
    /// The same context, for an upgrade the engine runs outside a transaction, whose checkpoints
    /// go to `table`'s checkpoint table.
    pub(crate) fn outside_transaction(mut self, table: &HistoryTable) -> Self {
        self.batching = Some(Batching {
            table: table.clone(),
            used: false,
        });
        self
    }

    /// Runs the upgrade's work in batches, each in its own transaction committed with a
    /// checkpoint (the cursor, the rows done). `batch` does one batch after a cursor and says
    /// where the next starts ([`Batch::Next`]) or that it was the last ([`Batch::Last`]).
    /// Returns the rows done in all (by this run and the runs before it).
    ///
    /// Only in an upgrade declared `transaction = false`, once per upgrade. A run killed or stopped
    /// by a failure leaves the checkpoint of the last batch that committed, and the next run
    /// resumes there: the upgrade function runs again from its start, and this call goes on after
    /// the checkpoint. So a batch is done again only when it did not commit (its changes rolled
    /// back with it), and what the upgrade does before this call must be safe to run twice. The
    /// upgrade is recorded as applied, and its checkpoint removed, in one transaction after the
    /// function returns. Progress (rows done of the total) goes to the operator after each batch.
    ///
    /// ```
    /// use upgrader_core::{Batch, Batches, Context, Result};
    ///
    /// /// Fill `users.email_domain` from `users.email`, 10,000 rows per batch.
    /// fn backfill(ctx: &mut Context) -> Result<()> {
    ///     let last = ctx.query_i64("SELECT COALESCE(MAX(id), 0) AS value FROM users")?.unwrap_or(0);
    ///     let rows = ctx.query_i64("SELECT COUNT(*) AS value FROM users")?.unwrap_or(0);
    ///     ctx.batches(Batches::after(0).total(rows as u64), |ctx, after| {
    ///         let to = after + 10_000;
    ///         let done = ctx.execute(&format!(
    ///             "UPDATE users SET email_domain = 'x' WHERE id > {after} AND id <= {to}"
    ///         ))? as u64;
    ///         Ok(if to >= last { Batch::Last { rows: done } } else { Batch::Next { cursor: to, rows: done } })
    ///     })?;
    ///     Ok(())
    /// }
    /// ```
    pub fn batches(
        &mut self,
        batches: Batches,
        mut batch: impl FnMut(&mut Context<'a>, i64) -> Result<Batch>,
    ) -> Result<u64> {
        let table = match &mut self.batching {
            None => return Err(OUTSIDE.into()),
            Some(batching) if batching.used => {
                return Err("an upgrade does its batched work in one `batches` call".into());
            }
            Some(batching) => {
                batching.used = true;
                batching.table.clone()
            }
        };
        let total = batches.total.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        let (mut cursor, mut rows) = match checkpoint::read(self.conn, &table, self.upgrade)? {
            Some(saved) if saved.finished() => return Ok(saved.rows_done.unsigned_abs()),
            Some(saved) => {
                self.log(format!(
                    "resuming at {} rows, after {}",
                    saved.progress(),
                    saved.resume_after
                ));
                (saved.resume_after, saved.rows_done)
            }
            None => {
                // Committed before the first batch: a run cut off from here on resumes.
                let first = Checkpoint::new(self.upgrade, batches.start, 0, total, false);
                checkpoint::save(self.conn, &table, &first)?;
                (batches.start, 0)
            }
        };
        let started = Instant::now();
        let rows_before = rows;
        let mut logged = started;
        loop {
            self.conn.begin()?;
            let done = batch(self, cursor).and_then(|step| {
                let (next, done, last) = match step {
                    Batch::Next { cursor, rows } => (cursor, rows, false),
                    Batch::Last { rows } => (cursor, rows, true),
                };
                let rows = rows.saturating_add(i64::try_from(done).unwrap_or(i64::MAX));
                let saved = Checkpoint::new(self.upgrade, next, rows, total, last);
                checkpoint::save(self.conn, &table, &saved)?;
                self.conn.commit()?;
                Ok((next, rows, last))
            });
            let (next, done, last) = match done {
                Ok(step) => step,
                Err(error) => {
                    let _ = self.conn.rollback();
                    return Err(error);
                }
            };
            rows = done;
            self.progress(
                rows.unsigned_abs(),
                total.unwrap_or(rows).max(rows).unsigned_abs(),
            );
            if last {
                break;
            }
            // Where it stands, now and then, for logs that have no progress bar.
            if logged.elapsed() >= PROGRESS_EVERY {
                logged = Instant::now();
                self.log(progress_line(rows, total, rows - rows_before, started.elapsed()));
            }
            if !batches.pause.is_zero() {
                std::thread::sleep(batches.pause);
            }
            cursor = next;
        }
        let elapsed = started.elapsed();
        let this_run = rows - rows_before;
        self.log(format!(
            "{} rows in batches, {} by this run in {:.1}s ({} rows/s)",
            thousands(rows),
            thousands(this_run),
            elapsed.as_secs_f64(),
            thousands(rate(this_run, elapsed) as i64)
        ));
        Ok(rows.unsigned_abs())
    }
}

/// How often batched work logs where it stands.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Rows per second.
fn rate(rows: i64, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64().max(0.001)
}

/// `41,000,000 of 50,000,000 rows (82%), 12,000 rows/s, about 12m30s left`.
fn progress_line(rows: i64, total: Option<i64>, this_run: i64, elapsed: Duration) -> String {
    let rate = rate(this_run, elapsed);
    match total {
        Some(total) if total > 0 && this_run > 0 => {
            let left = (total - rows).max(0) as f64 / rate.max(0.001);
            format!(
                "{} of {} rows ({}%), {} rows/s, about {} left",
                thousands(rows),
                thousands(total),
                rows.saturating_mul(100) / total,
                thousands(rate as i64),
                human(Duration::from_secs_f64(left.min(1e9)))
            )
        }
        Some(total) => format!(
            "{} of {} rows, none by this run yet",
            thousands(rows),
            thousands(total)
        ),
        None => format!("{} rows, {} rows/s", thousands(rows), thousands(rate as i64)),
    }
}

/// `3h05m`, `12m30s`, `45s`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::progress_line;

    #[test]
    fn progress_says_rows_rate_and_time_left() {
        assert_eq!(
            progress_line(
                41_000_000,
                Some(50_000_000),
                12_000_000,
                Duration::from_secs(1000)
            ),
            "41,000,000 of 50,000,000 rows (82%), 12,000 rows/s, about 12m30s left"
        );
        assert_eq!(
            progress_line(500, Some(1_000), 0, Duration::from_secs(10)),
            "500 of 1,000 rows, none by this run yet"
        );
        assert_eq!(
            progress_line(7_200, None, 7_200, Duration::from_secs(2)),
            "7,200 rows, 3,600 rows/s"
        );
        assert_eq!(
            progress_line(100, Some(3_600_100), 100, Duration::from_secs(1)),
            "100 of 3,600,100 rows (0%), 100 rows/s, about 10h00m left"
        );
    }
}
