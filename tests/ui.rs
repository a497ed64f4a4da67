//! Compile-time errors of the derive, each with the message it must give.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test ui`
//! and read the diff.

#[test]
fn derive_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/pass/*.rs");
}
