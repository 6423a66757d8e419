use upgrader_core::{Backend, Context, Result, upgrade};

/// Create `search_index` and index every existing record's title and body.
#[upgrade(depends_on = [crate::records::records_2024_03_05_add_version_id])]
pub fn search_2024_04_01_initial(ctx: &mut Context) -> Result<()> {
    ctx.execute("CREATE TABLE search_index (record_id BIGINT NOT NULL PRIMARY KEY, terms TEXT NOT NULL)")?;
    let terms = match ctx.backend() {
        Backend::Mysql => "LOWER(CONCAT(title, ' ', body))",
        _ => "LOWER(title || ' ' || body)",
    };
    let total = ctx
        .query_i64("SELECT COUNT(*) AS value FROM records")?
        .unwrap_or(0)
        .unsigned_abs();
    ctx.progress(0, total);
    let indexed = ctx.execute(&format!(
        "INSERT INTO search_index (record_id, terms) SELECT id, {terms} FROM records"
    ))?;
    ctx.progress(total, total);
    ctx.log(format!("indexed {indexed} record(s)"));
    Ok(())
}
