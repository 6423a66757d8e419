use upgrader_core::{Context, Result, upgrade};

/// Add `users.email_domain`, empty until `accounts_2024_07_02_fill_email_domain` fills it.
#[upgrade(depends_on = [super::accounts_2024_06_01_add_last_login])]
pub fn accounts_2024_07_01_add_email_domain(ctx: &mut Context) -> Result<()> {
    ctx.execute("ALTER TABLE users ADD COLUMN email_domain VARCHAR(255) NULL")?;
    Ok(())
}
