//! The tools' library work over 1000 stats files, as a service's own
//! `/metrics` or a `poll` loop does it again and again: one Prometheus
//! scrape and one poll line, each beside `std::fs::read` of the same 1000
//! files in the same run (the baseline).

mod common;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use mmstats::aggregate::Poller;
use mmstats::collect::Collector;
use mmstats::MmStats;

use common::Fields;

fn bench_tools(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    // 1000 files of a typical model, as 1000 writer threads leave them.
    let stats: Vec<_> = (0..1000u64)
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
    let files: Vec<PathBuf> = stats
        .iter()
        .filter_map(|s| s.path().map(|p| p.to_path_buf()))
        .collect();
    assert_eq!(files.len(), 1000);
    let args = vec![dir.path().display().to_string()];

    let mut g = c.benchmark_group("tools");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("fs_read_1000_files", |b| {
        b.iter(|| {
            for path in &files {
                black_box(std::fs::read(path).expect("read"));
            }
        });
    });
    let mut scraper = Collector::new(args.clone());
    g.bench_function("metrics_scrape_1000_files", |b| {
        b.iter(|| {
            let collection = scraper.collect();
            assert_eq!(collection.files.len(), 1000);
            black_box(mmstats::export::prometheus::exposition(
                collection.files,
                collection.failed.len(),
            ));
        });
    });
    let mut poller = Poller::new().only(["counter".to_string()]);
    let mut collector = Collector::new(args);
    g.bench_function("poll_line_1000_files", |b| {
        b.iter(|| {
            let collection = collector.collect();
            assert_eq!(collection.files.len(), 1000);
            let line: Vec<String> = poller
                .step(collection.files, &[])
                .iter()
                .map(|a| a.combined.to_string())
                .collect();
            black_box(line);
        });
    });
    g.finish();
    drop(stats);
}

criterion_group!(benches, bench_tools);
criterion_main!(benches);
