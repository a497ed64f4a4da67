//! The check of a history store's size, with the real things: the web
//! server demo (`examples/webserver.rs`) runs, and the real `mmstats
//! record` samples it for an hour of simulated time: 3600 slots of 10 ms
//! (the store's resolution is the interval), the default chunk size,
//! sealed when it stops. Then `du` of the store (files and directories)
//! divided by the points written is measured and printed (the book's
//! "Keeping history" chapter quotes it); the target is 1.5 bytes,
//! and the test asserts the bound of 2.5 that every measured run kept.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod common;

/// The demo, stopped when dropped.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Disk use of a directory tree, as `du` counts it (allocated blocks).
fn du(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = std::fs::symlink_metadata(e.path()).unwrap();
        total += if md.is_dir() {
            du(&e.path()) + md.blocks() * 512
        } else {
            md.blocks() * 512
        };
    }
    total
}

fn mmstats() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mmstats"));
    for var in ["MMSTATS_PATH", "MMSTATS_GLOB", "MMSTATS_FILES"] {
        c.env_remove(var);
    }
    c
}

#[test]
fn an_hour_of_the_demo_recorded_by_record_is_sealed_and_measured() {
    let d = tempfile::tempdir().unwrap();
    let stats = d.path().join("stats");
    let store = d.path().join("history");
    std::fs::create_dir(&stats).unwrap();
    let mut child = Command::new(common::example("webserver"))
        .env("MMSTATS_PATH", &stats)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let demo = Demo(child);
    // The banner, then the first report: every worker has its file.
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        assert!(
            line.starts_with("webserver:") || line.contains("requests"),
            "{line}"
        );
    }
    // Keep reading the demo's reports, so that it never blocks on them.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).count());

    let out = mmstats()
        .args(["record", "--store"])
        .arg(&store)
        .args(["--interval", "10ms", "--duration", "36s", "--quiet"])
        .arg(&stats)
        .output()
        .unwrap();
    drop(demo);
    let _ = drain.join();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // "stopped after N samples: P points in S series, synced to ..."
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("stopped after "))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    let words: Vec<&str> = summary.split_whitespace().collect();
    let number = |i: usize| -> u64 { words[i].trim_end_matches(':').parse().unwrap() };
    let (samples, points, series) = (number(2), number(4), number(7));
    assert!(samples > 0 && samples <= 3600, "{summary}");
    assert!(series >= 10, "the demo's series: {summary}");
    // At most one point per series and sample (a histogram's quantiles
    // have none over an interval without observations).
    assert!(points <= samples * series && points > samples, "{summary}");

    // Stopped, record sealed every chunk: only sealed files are left.
    let chunks: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !matches!(n.as_str(), "mstore.meta" | "metrics.list" | "lock"))
        .collect();
    assert!(!chunks.is_empty());
    assert!(chunks.iter().all(|n| n.ends_with(".sea")), "{chunks:?}");

    // The points read back: one series, as many set points as samples.
    let q = mmstats()
        .args(["query", "--store"])
        .arg(&store)
        .args(["cmd:webserver:web.requests", "--csv"])
        .output()
        .unwrap();
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    let csv = String::from_utf8(q.stdout).unwrap();
    let totals: Vec<u64> = csv
        .lines()
        .filter_map(|l| l.rsplit(',').next()?.parse().ok())
        .collect();
    assert_eq!(totals.len() as u64, samples, "{csv:.400}");
    assert!(
        totals.windows(2).all(|w| w[0] <= w[1]),
        "a counter's totals"
    );

    let bytes = du(&store);
    let per_point = bytes as f64 / points as f64;
    println!(
        "demo recorded: {samples} samples of 10 ms, {series} series, {points} points, \
         {bytes} bytes by du: {per_point:.3} bytes per point"
    );
    // The target is 1.5; measured runs give 1.37 to 1.38 (book: "How
    // small"; 1.44 to 1.48 before a store had one directory and series
    // of few values a dictionary, 1.66 and 1.73 on a busier machine
    // before). The bound asserted is one every run on a loaded machine
    // kept, five times under the layout before sealing (8.6): a sealing
    // that stopped compressing fails it.
    assert!(
        per_point <= 2.5,
        "{per_point:.3} bytes per point ({bytes} bytes, {points} points)"
    );
}
