//! How `show pending` and `check` describe upgrades for large databases: those that run outside
//! a transaction, and batched ones that resume at a checkpoint.

use serde_json::{Value, json};
use upgrader_core::{Checkpoint, Status, Upgrade};

use crate::commands::timestamp;

/// `resumes at 41,000,000 of 50,000,000 rows` for a batched upgrade part-way, `outside a
/// transaction` for another upgrade declared `transaction = false`, else nothing.
pub(crate) fn how(upgrade: &Upgrade, status: &Status) -> Option<String> {
    match status.checkpoint(upgrade.id()) {
        Some(checkpoint) => Some(format!("resumes at {} rows", checkpoint.progress())),
        None => (!upgrade.transactional()).then(|| "outside a transaction".to_owned()),
    }
}

/// The first line of the upgrade's doc comment, after [`how`] it runs when that says anything:
/// the plan's `WHAT IT DOES` column.
pub(crate) fn summary(upgrade: &Upgrade, status: &Status) -> String {
    let info = crate::output::first_line(upgrade.info());
    match how(upgrade, status) {
        Some(how) => format!("({how}) {info}"),
        None => info.to_owned(),
    }
}

/// A checkpoint in `--json` output.
pub(crate) fn checkpoint_json(checkpoint: &Checkpoint) -> Value {
    json!({
        "resume_after": checkpoint.resume_after,
        "rows_done": checkpoint.rows_done,
        "rows_total": checkpoint.rows_total,
        "updated": timestamp(&checkpoint.updated),
    })
}
