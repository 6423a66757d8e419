use upgrader_core::{Backend, Context, Result, upgrade};

/// Rebuild `search_index` with version numbers, and log each rebuild in `search_rebuilds`.
#[upgrade(depends_on = [super::search_2024_04_01_initial])]
pub fn search_2024_05_10_rebuild_index(ctx: &mut Context) -> Result<()> {
    ctx.execute("CREATE TABLE IF NOT EXISTS search_rebuilds (reason VARCHAR(255) NOT NULL)")?;
    ctx.execute("DELETE FROM search_index")?;
    let terms = match ctx.backend() {
        Backend::Mysql => "LOWER(CONCAT(title, ' ', body, ' v', version_id))",
        _ => "LOWER(title || ' ' || body || ' v' || version_id)",
    };
    ctx.execute(&format!(
        "INSERT INTO search_index (record_id, terms) SELECT id, {terms} FROM records"
    ))?;
    // One row per execution: the engine runs each upgrade exactly once, and the tests count it.
    ctx.execute("INSERT INTO search_rebuilds (reason) VALUES ('search_2024_05_10_rebuild_index')")?;
    Ok(())
}
