//! Compile-time errors of the derive, each with the message it must give.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test ui`
//! and read the diff.

#[test]
fn derive_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/pass/*.rs");
}

/// The guide's chapter on the derive quotes compiler messages; each quote
/// must still be part of the message a case in `tests/ui` records, so the
/// book cannot drift from what users see.
#[test]
fn the_book_quotes_the_recorded_messages() {
    let chapter = std::fs::read_to_string("book/src/derive.md").unwrap();
    let recorded: Vec<String> = std::fs::read_dir("tests/ui")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "stderr"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut quotes = 0;
    for block in chapter.split("```text\n").skip(1) {
        let quote = block.split("```").next().unwrap();
        if !quote.starts_with("error") {
            continue;
        }
        quotes += 1;
        assert!(
            recorded.iter().any(|r| r.contains(quote)),
            "book/src/derive.md quotes a message no tests/ui case records:\n{quote}"
        );
    }
    assert!(quotes >= 7, "found only {quotes} quoted messages");
}
