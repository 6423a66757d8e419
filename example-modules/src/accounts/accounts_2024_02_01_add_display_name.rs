use upgrader_core::{Backend, Context, Result, upgrade};

/// Add `users.display_name` and fill it from the part of each email before the `@`.
///
/// Asks which name to give users whose email has nothing before the `@` (default `anonymous`).
#[upgrade(depends_on = [super::accounts_2024_01_10_initial], post_upgrade = every_user_has_a_name)]
pub fn accounts_2024_02_01_add_display_name(ctx: &mut Context) -> Result<()> {
    ctx.execute("ALTER TABLE users ADD COLUMN display_name VARCHAR(255)")?;
    let local_part = match ctx.backend() {
        Backend::Postgres => "split_part(email, '@', 1)",
        Backend::Mysql => "SUBSTRING_INDEX(email, '@', 1)",
        _ => "substr(email, 1, instr(email || '@', '@') - 1)",
    };
    let filled = ctx.execute(&format!("UPDATE users SET display_name = {local_part}"))?;
    ctx.log(format!("filled the display name of {filled} user(s)"));
    let fallback = ctx.ask(
        "Display name for users whose email has no name part?",
        "anonymous",
    );
    let fallback = fallback.replace('\'', "''");
    let named = ctx.execute(&format!(
        "UPDATE users SET display_name = '{fallback}' WHERE display_name IS NULL OR display_name = ''"
    ))?;
    if named > 0 {
        ctx.warn(format!(
            "{named} user(s) have no name before the `@` of their email and were named `{fallback}`"
        ));
    }
    Ok(())
}

fn every_user_has_a_name(ctx: &mut Context) -> Result<()> {
    let missing = ctx
        .query_i64("SELECT COUNT(*) AS value FROM users WHERE display_name IS NULL OR display_name = ''")?
        .unwrap_or(0);
    if missing > 0 {
        return Err(format!("{missing} user(s) have no display name").into());
    }
    Ok(())
}
