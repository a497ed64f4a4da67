//! A library of the workspace that only knows the `metrics` facade
//! (`mmstats-demo-lib`), in a program that installs the mmstats recorder
//! (`examples/metrics_recorder.rs`): its metrics are read by `mmstats
//! slurp`, served on `/metrics` and recorded by `mmstats record`, as
//! derived stats are.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};

mod common;
mod support;

use support::http::get;
use support::{mmstats, Guard};

/// The example, started with its files in `dir`, once it said `ready`;
/// it keeps them until its standard input closes.
fn start_program(dir: &Path) -> (Guard, ChildStdin) {
    let mut child = Command::new(common::example("metrics_recorder"))
        .env("MMSTATS_PATH", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    (Guard(child), stdin)
}

#[test]
fn a_metrics_instrumented_library_shows_in_slurp_serve_and_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    let (_program, stdin) = start_program(&files);

    // slurp
    let output = mmstats()
        .args(["slurp", "--json"])
        .arg(&files)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let stats: Vec<&serde_json::Value> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["stats"].as_array().unwrap())
        .collect();
    let value = |label: &str| {
        stats
            .iter()
            .find(|s| s["label"] == label)
            .unwrap_or_else(|| panic!("no {label} in {doc}"))["value"]
            .clone()
    };
    assert_eq!(value(r#"jobs_done{queue="fast"}"#), 3);
    assert_eq!(value(r#"jobs_done{queue="slow"}"#), 1);
    assert_eq!(value(r#"jobs_waiting{queue="slow"}"#), 5.0);
    assert_eq!(value(r#"job_seconds{queue="fast"}"#), 3);
    assert_eq!(value(r#"queue_runs{queue="fast"}"#), 1);

    // serve: /metrics
    let mut server = mmstats()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg(&files)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = server.stdout.take().unwrap();
    let server = Guard(server);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    let address: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let (status, body) = get(address, "/metrics");
    assert_eq!(status, 200, "{body}");
    let sample = |name: &str, queue: &str| {
        body.lines()
            .find(|l| {
                l.starts_with(&format!("{name}{{")) && l.contains(&format!("queue=\"{queue}\""))
            })
            .unwrap_or_else(|| panic!("no {name} {queue} in\n{body}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    // One Prometheus family per metric name, a sample per label set.
    assert_eq!(sample("mmstats_jobs_done_total", "fast"), "3");
    assert_eq!(sample("mmstats_jobs_done_total", "slow"), "1");
    assert_eq!(sample("mmstats_jobs_waiting", "slow"), "5.0");
    assert_eq!(sample("mmstats_job_seconds_count", "fast"), "3");
    assert_eq!(
        body.matches("# TYPE mmstats_jobs_done_total counter")
            .count(),
        1,
        "{body}"
    );
    assert!(
        body.contains("# HELP mmstats_jobs_done_total jobs finished, by queue"),
        "{body}"
    );
    drop(server);

    // record, then query
    let mut record = mmstats()
        .args(["record", "--on-input", "--interval", "100ms", "--store"])
        .arg(&store)
        .arg(&files)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = record.stdin.take().unwrap();
    let mut lines = BufReader::new(record.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("recording into "), "{first}");
    writeln!(input, "sample").unwrap();
    let sampled = lines.next().unwrap().unwrap();
    assert!(!sampled.is_empty());
    drop(input);
    assert!(record.wait().unwrap().success());
    let list = mmstats()
        .args(["metrics", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    let series = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .find(|n| n.contains("jobs_done") && n.contains("fast"))
        .unwrap_or_else(|| panic!("no jobs_done series in\n{list}"))
        .to_string();
    let query = mmstats()
        .args(["query", "--json", "--store"])
        .arg(&store)
        .arg(&series)
        .output()
        .unwrap();
    assert!(query.status.success(), "{query:?}");
    let answer: serde_json::Value = serde_json::from_slice(&query.stdout).unwrap();
    let values: Vec<u64> = answer["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["value"].as_u64())
        .collect();
    assert_eq!(values, [3], "{series}: {answer}");
    drop(stdin);
}
