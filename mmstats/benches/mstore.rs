//! mstore benchmarks: 100 metrics x 100,000 points, beside raw `std::fs`
//! baselines moving the same bytes in the same run.
//!
//! Run: `cargo bench -p mmstats --bench mstore -- --warm-up-time 1 --measurement-time 3`

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mmstats::mstore::{OpenOptions, Options, Reader, Store};

const METRICS: usize = 100;
const POINTS: u64 = 100_000;
const BATCH: u64 = 1000;
const CHUNK: u64 = 10_000;
const TOTAL: u64 = METRICS as u64 * POINTS;

fn options() -> Options {
    Options {
        chunk_size: CHUNK,
        max_open_chunks: 32,
        ..Options::default()
    }
}

fn names() -> Vec<String> {
    (0..METRICS)
        .map(|m| format!("bench.metric.{m:03}"))
        .collect()
}

fn series(m: usize) -> Vec<u64> {
    (0..POINTS).map(|t| t * 7 + m as u64).collect()
}

fn fill_batches(s: &mut Store, names: &[String], data: &[Vec<u64>]) {
    for start in (0..POINTS).step_by(BATCH as usize) {
        for (m, name) in names.iter().enumerate() {
            let b = &data[m][start as usize..(start + BATCH) as usize];
            s.put(name, start, b).unwrap();
        }
    }
}

fn fill_runs(s: &mut Store, names: &[String], data: &[Vec<u64>]) {
    for (m, name) in names.iter().enumerate() {
        s.put(name, 0, &data[m]).unwrap();
    }
}

fn bench_put(c: &mut Criterion) {
    let names = names();
    let data: Vec<Vec<u64>> = (0..METRICS).map(series).collect();
    let bytes: Vec<u8> = data
        .iter()
        .flat_map(|v| v.iter().flat_map(|x| x.to_le_bytes()))
        .collect();
    let mut g = c.benchmark_group("write_100x100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(TOTAL));
    let fresh = || {
        let d = tempfile::tempdir().unwrap();
        let s = Store::create(d.path().join("s"), options()).unwrap();
        (d, s)
    };
    g.bench_function("mstore_put_batches_of_1000", |b| {
        b.iter_batched(
            fresh,
            |(d, mut s)| {
                fill_batches(&mut s, &names, &data);
                (d, s)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("mstore_put_whole_runs", |b| {
        b.iter_batched(
            fresh,
            |(d, mut s)| {
                fill_runs(&mut s, &names, &data);
                (d, s)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("fs_baseline_write", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |d| {
                let mut f = File::create(d.path().join("raw")).unwrap();
                f.write_all(&bytes).unwrap();
                (d, f)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("fs_baseline_write_8KB_pieces", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |d| {
                let mut f = File::create(d.path().join("raw")).unwrap();
                for piece in bytes.chunks(BATCH as usize * 8) {
                    f.write_all(piece).unwrap();
                }
                (d, f)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("mmap_baseline_write", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |d| {
                let f = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(d.path().join("raw"))
                    .unwrap();
                f.set_len(bytes.len() as u64).unwrap();
                // SAFETY: the file was just created in a private directory;
                // nothing else truncates it while it is mapped.
                let mut m = unsafe { memmap2::MmapMut::map_mut(&f).unwrap() };
                m.copy_from_slice(&bytes);
                (d, f)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("mstore_put_whole_runs_and_sync", |b| {
        b.iter_batched(
            fresh,
            |(d, mut s)| {
                fill_runs(&mut s, &names, &data);
                s.sync().unwrap();
                (d, s)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("fs_baseline_write_and_fsync", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |d| {
                let mut f = File::create(d.path().join("raw")).unwrap();
                f.write_all(&bytes).unwrap();
                f.sync_all().unwrap();
                (d, f)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_get(c: &mut Criterion) {
    let names = names();
    let data: Vec<Vec<u64>> = (0..METRICS).map(series).collect();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("s");
    let mut s = Store::create(&dir, options()).unwrap();
    fill_runs(&mut s, &names, &data);
    s.close().unwrap();
    let raw = d.path().join("raw");
    let bytes: Vec<u8> = data
        .iter()
        .flat_map(|v| v.iter().flat_map(|x| x.to_le_bytes()))
        .collect();
    fs::write(&raw, &bytes).unwrap();
    let mut r = Reader::open_with(
        &dir,
        OpenOptions {
            max_open_chunks: 32,
            ..OpenOptions::default()
        },
    )
    .unwrap();
    // Check once that what is measured is right.
    let p = r.get::<u64>(&names[42], 0, POINTS).unwrap();
    assert_eq!(p.raw_values(), &data[42][..]);
    assert_eq!(p.count_set(), POINTS);

    let mut g = c.benchmark_group("read_100x100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(TOTAL));
    g.bench_function("mstore_get_batches_of_1000", |b| {
        b.iter(|| {
            let mut n = 0;
            for start in (0..POINTS).step_by(BATCH as usize) {
                for name in &names {
                    n += r.get::<u64>(name, start, start + BATCH).unwrap().len();
                }
            }
            n
        })
    });
    g.bench_function("mstore_get_whole_runs", |b| {
        b.iter(|| {
            names
                .iter()
                .map(|name| r.get::<u64>(name, 0, POINTS).unwrap().len())
                .sum::<usize>()
        })
    });
    g.bench_function("fs_baseline_read", |b| {
        let mut buf = vec![0u8; bytes.len()];
        b.iter(|| {
            File::open(&raw).unwrap().read_exact(&mut buf).unwrap();
            buf[12345]
        })
    });
    g.finish();

    let mut g = c.benchmark_group("read_one_metric_100k");
    g.throughput(Throughput::Elements(POINTS));
    g.bench_function("mstore_get_full_range", |b| {
        b.iter(|| r.get::<u64>(&names[42], 0, POINTS).unwrap().len())
    });
    // A reader that has not read these blocks before checks every one of
    // them; `r` above checked them on its first read and checks only their
    // records while they stay as they are (see the book's History chapter).
    g.bench_function("mstore_get_full_range_first_read", |b| {
        b.iter_batched(
            || Reader::open(&dir).unwrap(),
            |mut fresh| fresh.get::<u64>(&names[42], 0, POINTS).unwrap().len(),
            BatchSize::SmallInput,
        )
    });
    let raw_f = File::open(&raw).unwrap();
    // SAFETY: the file is private to this benchmark and not truncated while
    // it is mapped.
    let map = unsafe { memmap2::Mmap::map(&raw_f).unwrap() };
    g.bench_function("mmap_baseline_copy_800KB", |b| {
        b.iter(|| {
            let at = (42 * POINTS * 8) as usize;
            let mut v = vec![0u64; POINTS as usize];
            bytemuck_bytes(&mut v).copy_from_slice(&map[at..at + (POINTS * 8) as usize]);
            v[7]
        })
    });
    g.bench_function("fs_baseline_pread_800KB", |b| {
        b.iter(|| {
            let mut v = vec![0u64; POINTS as usize];
            raw_f
                .read_exact_at(bytemuck_bytes(&mut v), 42 * POINTS * 8)
                .unwrap();
            v[7]
        })
    });
    g.finish();

    let mut g = c.benchmark_group("read_100_windows_of_1000");
    g.throughput(Throughput::Elements(METRICS as u64 * BATCH));
    // Crosses the chunk boundary at 50,000.
    let (from, to) = (49_500, 50_500);
    g.bench_function("mstore_get_windows", |b| {
        b.iter(|| {
            names
                .iter()
                .map(|name| r.get::<u64>(name, from, to).unwrap().count_set())
                .sum::<u64>()
        })
    });
    g.bench_function("fs_baseline_pread_100x8KB", |b| {
        b.iter(|| {
            let mut sum = 0;
            for m in 0..METRICS as u64 {
                let mut v = vec![0u64; BATCH as usize];
                raw_f
                    .read_exact_at(bytemuck_bytes(&mut v), (m * POINTS + from) * 8)
                    .unwrap();
                sum += v[3];
            }
            sum
        })
    });
    g.finish();
    drop(r);
}

/// Byte view of a `u64` buffer for the baselines.
fn bytemuck_bytes(v: &mut [u64]) -> &mut [u8] {
    bytemuck::cast_slice_mut(v)
}

criterion_group!(benches, bench_put, bench_get);
criterion_main!(benches);
