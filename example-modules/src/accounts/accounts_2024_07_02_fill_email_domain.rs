use std::time::Duration;

use upgrader_core::{Backend, Batch, Batches, Context, Result, upgrade};

/// Rows per batch: each batch is one short transaction, whatever the size of the table.
const BATCH: i64 = 1_000;

/// Fill `users.email_domain` from each email, in batches of 1,000 users that each commit.
///
/// Runs outside a transaction: on a table of millions of users, a run that is killed resumes
/// after the last batch that committed, and no lock is held for more than a batch.
#[upgrade(depends_on = [super::accounts_2024_07_01_add_email_domain], transaction = false)]
pub fn accounts_2024_07_02_fill_email_domain(ctx: &mut Context) -> Result<()> {
    let domain = match ctx.backend() {
        Backend::Postgres => "lower(split_part(email, '@', 2))",
        Backend::Mysql => "LOWER(SUBSTRING_INDEX(email, '@', -1))",
        _ => "lower(substr(email, instr(email, '@') + 1))",
    };
    // Read again when a run resumes: both are safe to run twice.
    let last = ctx
        .query_i64("SELECT COALESCE(MAX(id), 0) AS value FROM users")?
        .unwrap_or(0);
    let users = ctx.query_i64("SELECT COUNT(*) AS value FROM users")?.unwrap_or(0);
    let work = Batches::after(0)
        .total(users.unsigned_abs())
        .pause(Duration::from_millis(10));
    ctx.batches(work, |ctx, after| {
        let to = after + BATCH;
        // Setting a column to what it is computed from is safe to do twice; only a batch that
        // did not commit is done again anyway.
        let rows = ctx.execute(&format!(
            "UPDATE users SET email_domain = {domain} WHERE id > {after} AND id <= {to}"
        ))?;
        let rows = rows as u64;
        Ok(if to >= last {
            Batch::Last { rows }
        } else {
            Batch::Next { cursor: to, rows }
        })
    })?;
    Ok(())
}
