//! What creating a stats file costs: in the calling thread, and as the first
//! update in a new thread (`with_thread`), each against the least it could
//! cost.
//!
//! Each iteration is timed alone, and the files it leaves are removed with
//! the clock stopped, so every creation finds an empty directory.

mod common;

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use memmap2::MmapMut;
use mmstats::MmStats;

use common::{empty_dir, Fields};

/// Sums the times of `iters` runs of `f`, emptying `dir` after each.
fn each_alone<R>(iters: u64, dir: &Path, mut f: impl FnMut() -> R) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let kept = f();
        total += start.elapsed();
        drop(kept);
        empty_dir(dir);
    }
    total
}

/// Creates, sizes and maps a new file and writes one byte into it: what any
/// scheme of statistics in a mapped file must pay.
fn plain_file(path: &Path) -> (std::fs::File, MmapMut) {
    let mut file = std::fs::File::create_new(path).expect("create");
    file.set_len(4096).expect("size");
    file.write_all(&[1]).expect("write");
    // SAFETY: the file was just created in a private directory and nothing
    // resizes it while it is mapped.
    let mut map = unsafe { MmapMut::map_mut(&file) }.expect("map");
    map[8] = 1;
    (file, map)
}

fn create(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = dir.path();
    std::env::set_var(mmstats::file::ENV_PATH, dir);

    let mut g = c.benchmark_group("create");
    g.bench_function("plain_file_create_map", |b| {
        b.iter_custom(|iters| each_alone(iters, dir, || plain_file(&dir.join("plain"))))
    });
    g.bench_function("stats_create", |b| {
        b.iter_custom(|iters| {
            each_alone(iters, dir, || {
                Fields::builder().dir(dir).create().expect("create")
            })
        })
    });
    g.bench_function("spawn_empty_thread", |b| {
        b.iter_custom(|iters| {
            each_alone(iters, dir, || {
                std::thread::spawn(|| black_box(1)).join().expect("thread")
            })
        })
    });
    g.bench_function("spawn_thread_first_incr", |b| {
        b.iter_custom(|iters| {
            each_alone(iters, dir, || {
                std::thread::spawn(|| Fields::with_thread(|s| s.counter.incr()))
                    .join()
                    .expect("thread")
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = create
}
criterion_main!(benches);
