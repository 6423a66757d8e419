# Sourced by the benchmark scripts (bench-side-by-side.sh, bench-rebuild.sh): the module crate of N
# upgrades in a chain, as a user writes it, so that both measure the same crate.

# The id of the i-th upgrade.
id() { printf 'bench_2024_01_01_step%05d' "$1"; }

# The step every upgrade runs: a no-op, or CREATE TABLE when `BENCH_BODY=create`, sent as the
# floor and diesel_migrations send theirs (one statement, no bind parameters, no prepare).
BENCH_STEP='fn body(ctx: &mut Context, i: u32) -> Result<()> {
    static CREATE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *CREATE.get_or_init(|| std::env::var("BENCH_BODY").as_deref() == Ok("create")) {
        ctx.batch_execute(&format!("CREATE TABLE t{i} (n INTEGER NOT NULL)"))?;
    }
    Ok(())
}'

# `module_manifest NAME`: the Cargo.toml of a crate NAME of the generated workspace that depends
# on the engine.
module_manifest() {
    cat <<MANIFEST
[package]
name = "$1"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
upgrader-core.workspace = true
MANIFEST
}

# `upgrade_chain N`: the N upgrade functions, oldest first, each depending on the one before.
upgrade_chain() {
    local i deps
    for ((i = 1; i <= $1; i++)); do
        if ((i == 1)); then deps=""; else deps="depends_on = [$(id $((i - 1)))]"; fi
        printf '\n/// Step %d.\n#[upgrade(%s)]\npub fn %s(ctx: &mut Context) -> Result<()> {\n    body(ctx, %d)\n}\n' \
            "$i" "$deps" "$(id "$i")" "$i"
    done
}
