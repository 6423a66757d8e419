//! Every compile-time error of `#[upgrade]` (tests/ui, with the expected `.stderr`), and uses that
//! must compile (tests/ui-pass). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p upgrader-macros --test ui`, then read them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
