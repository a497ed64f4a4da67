//! The unit files and manifests of the book's "Running in production"
//! chapter are checked as written: every systemd unit by
//! `systemd-analyze verify`, with no warning, and every Kubernetes
//! manifest by a YAML parser.

use std::process::Command;

mod common;

/// The blocks of `lang` in the chapter that start with `# file: NAME`,
/// as (name, text).
fn blocks(lang: &str) -> Vec<(String, String)> {
    let chapter = include_str!("../book/src/production.md");
    let fence = format!("```{lang}\n");
    let mut found = Vec::new();
    let mut rest = chapter;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("an unclosed block");
        let text = &body[..end];
        let name = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# file: "))
            .unwrap_or_else(|| panic!("a {lang} block without `# file: NAME`: {text}"));
        found.push((name.trim().to_string(), text.to_string()));
        rest = &body[end..];
    }
    found
}

#[test]
#[ignore = "needs systemd-analyze (Debian package systemd)"]
fn the_units_verify_without_a_warning() {
    let units = blocks("ini");
    assert!(units.len() >= 5, "{units:?}");
    let dir = tempfile::tempdir().unwrap();
    // The programs the units start must exist: the real command, and a
    // stand-in for the service.
    let service = common::example("minimal");
    let mut paths = Vec::new();
    for (name, text) in &units {
        let text = text
            .replace("/usr/local/bin/mmstats", env!("CARGO_BIN_EXE_mmstats"))
            .replace("/usr/local/bin/myapp", service.to_str().unwrap());
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .output()
        .expect("systemd-analyze is needed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "systemd-analyze warned: {stderr}");
}

#[test]
#[ignore = "needs python3 with PyYAML"]
fn the_manifests_parse() {
    let manifests = blocks("yaml");
    assert!(!manifests.is_empty());
    for (name, text) in manifests {
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import sys, yaml\n\
                 docs = [d for d in yaml.safe_load_all(sys.stdin) if d]\n\
                 assert docs and all('apiVersion' in d and 'kind' in d for d in docs)",
            ])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("python3 is needed");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "{name} does not parse");
    }
}
