//! Every `--help` of the `mmstats` command, as snapshots: a change to a
//! flag or its text shows in review, and the book's reference pages
//! include these files, so what they quote is what the command prints.

use std::process::Command;

/// What `mmstats ARGS --help` prints.
fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mmstats"))
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?} --help failed");
    assert!(output.stderr.is_empty(), "{args:?} --help wrote to stderr");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn help_texts() {
    for command in [
        "", "slurp", "poll", "clean", "record", "query", "metrics", "serve", "push",
    ] {
        let args: Vec<&str> = if command.is_empty() {
            Vec::new()
        } else {
            vec![command]
        };
        let name = if command.is_empty() {
            "mmstats"
        } else {
            command
        };
        insta::assert_snapshot!(format!("help_{name}"), help(&args));
    }
}
