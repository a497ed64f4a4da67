//! The tools end to end: `mmstats slurp` and `mmstats poll --count 1` over
//! 1000 stats files, each beside `cat` of the same files, run the same way
//! in the same run (a process started, every file opened and read, the
//! output thrown away).

#[path = "../mmstats/benches/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use mmstats::MmStats;

use common::Fields;

/// Runs `program` with `args`, output discarded; panics if it fails.
fn run(program: &Path, args: &[String]) {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start");
    assert!(status.success(), "{} failed", program.display());
}

fn bench_tools(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    // 1000 files of a typical model, as 1000 writers would leave them.
    let stats: Vec<_> = (0..1000)
        .map(|i| {
            let stats = Fields::builder()
                .dir(dir.path())
                .file(format!("app-{i}-{i}.mmstats"))
                .create()
                .expect("create");
            stats.counter.incr_by(i);
            stats
        })
        .collect();
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.path().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1000);
    let mmstats = PathBuf::from(env!("CARGO_BIN_EXE_mmstats"));
    let glob = format!("{}/*.mmstats", dir.path().display());

    let mut g = c.benchmark_group("cli");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("cat_1000_files", |b| {
        b.iter(|| run(Path::new("cat"), &files));
    });
    g.bench_function("slurp_1000_files", |b| {
        b.iter(|| run(&mmstats, &["slurp".into(), glob.clone()]));
    });
    g.bench_function("poll_once_1000_files", |b| {
        b.iter(|| {
            run(
                &mmstats,
                &[
                    "poll".into(),
                    "counter".into(),
                    glob.clone(),
                    "--count".into(),
                    "1".into(),
                ],
            )
        });
    });
    g.finish();
    drop(stats);
}

criterion_group!(benches, bench_tools);
criterion_main!(benches);
