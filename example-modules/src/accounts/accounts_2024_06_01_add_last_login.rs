use upgrader_core::{Context, Result, upgrade};

/// Add `users.last_login_at`, empty until each user next signs in.
#[upgrade(depends_on = [crate::releases::examples_release_1_0_0])]
pub fn accounts_2024_06_01_add_last_login(ctx: &mut Context) -> Result<()> {
    ctx.execute("ALTER TABLE users ADD COLUMN last_login_at TIMESTAMP NULL")?;
    Ok(())
}
