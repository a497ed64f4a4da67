//! mstore benchmarks: 100 metrics x 100,000 points, beside raw `std::fs`
//! baselines moving the same bytes in the same run.
//!
//! Run: `cargo bench -p mmstats --bench mstore --features pco -- --warm-up-time 1 --measurement-time 3`
//! (without `--features pco`, sealing uses the store's own encodings only).

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
    g.bench_function("mstore_put_whole_runs_and_sync_no_sealing", |b| {
        b.iter_batched(
            || {
                let (d, mut s) = fresh();
                s.set_sealing(false);
                (d, s)
            },
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
    // Today's layout, open chunks: the figures before sealing existed.
    s.set_sealing(false);
    fill_runs(&mut s, &names, &data);
    s.close().unwrap();
    // The same points, every chunk sealed (compressed).
    let sealed_dir = d.path().join("sealed");
    let mut s = Store::create(&sealed_dir, options()).unwrap();
    fill_runs(&mut s, &names, &data);
    s.seal_all().unwrap();
    s.close().unwrap();
    // The same again in the first sealed layout (one payload per row, what
    // the version before blocks wrote) and with blocks of 1024 points.
    let other_dir = |what: &str, block: u64| {
        let dir = d.path().join(what);
        mmstats::mstore::__set_seal_block(block);
        let mut s = Store::create(&dir, options()).unwrap();
        fill_runs(&mut s, &names, &data);
        s.seal_all().unwrap();
        s.close().unwrap();
        mmstats::mstore::__set_seal_block(4096);
        dir
    };
    let v1_dir = other_dir("sealed_v1", 0);
    let b1k_dir = other_dir("sealed_1024", 1024);
    let open_in = |dir: &std::path::Path| {
        Reader::open_with(
            dir,
            OpenOptions {
                max_open_chunks: 32,
                ..OpenOptions::default()
            },
        )
        .unwrap()
    };
    let mut rs_v1 = open_in(&v1_dir);
    let open_sealed = || {
        Reader::open_with(
            &sealed_dir,
            OpenOptions {
                max_open_chunks: 32,
                ..OpenOptions::default()
            },
        )
        .unwrap()
    };
    let mut rs = open_sealed();
    let p = rs.get::<u64>(&names[42], 0, POINTS).unwrap();
    assert_eq!(p.raw_values(), &data[42][..]);
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
    // From sealed chunks: a reader keeps decoded rows (up to 64 MiB), so
    // a second read copies; a fresh reader reads, checks and decodes.
    g.bench_function("sealed_get_full_range", |b| {
        b.iter(|| rs.get::<u64>(&names[42], 0, POINTS).unwrap().len())
    });
    g.bench_function("sealed_get_full_range_first_read", |b| {
        b.iter_batched(
            open_sealed,
            |mut fresh| fresh.get::<u64>(&names[42], 0, POINTS).unwrap().len(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("sealed_first_layout_get_full_range", |b| {
        b.iter(|| rs_v1.get::<u64>(&names[42], 0, POINTS).unwrap().len())
    });
    g.bench_function("sealed_first_layout_get_full_range_first_read", |b| {
        b.iter_batched(
            || open_in(&v1_dir),
            |mut fresh| fresh.get::<u64>(&names[42], 0, POINTS).unwrap().len(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("sealed_blocks_of_1024_get_full_range_first_read", |b| {
        b.iter_batched(
            || open_in(&b1k_dir),
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
    g.bench_function("sealed_get_windows", |b| {
        b.iter(|| {
            names
                .iter()
                .map(|name| rs.get::<u64>(name, from, to).unwrap().count_set())
                .sum::<u64>()
        })
    });
    g.bench_function("sealed_get_windows_first_read", |b| {
        b.iter_batched(
            open_sealed,
            |mut fresh| {
                names
                    .iter()
                    .map(|name| fresh.get::<u64>(name, from, to).unwrap().count_set())
                    .sum::<u64>()
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("sealed_first_layout_get_windows", |b| {
        b.iter(|| {
            names
                .iter()
                .map(|name| rs_v1.get::<u64>(name, from, to).unwrap().count_set())
                .sum::<u64>()
        })
    });
    for (label, dir) in [
        ("sealed_first_layout_get_windows_first_read", &v1_dir),
        ("sealed_blocks_of_1024_get_windows_first_read", &b1k_dir),
    ] {
        g.bench_function(label, |b| {
            b.iter_batched(
                || open_in(dir),
                |mut fresh| {
                    names
                        .iter()
                        .map(|name| fresh.get::<u64>(name, from, to).unwrap().count_set())
                        .sum::<u64>()
                },
                BatchSize::SmallInput,
            )
        });
    }
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

/// One of the synthetic mix's classes: steady counters, noisy gauges,
/// constants, float averages, counters with gaps.
fn mix_point(m: usize, t: u64) -> Option<Point> {
    let h = hash(m as u64, t);
    match m % 5 {
        // A counter at about 100/s with a jitter of a few.
        0 => Some(Point::U64(t * 100 + h % 8 + m as u64 * 1000)),
        // A gauge that is noise over 0..1000.
        1 => Some(Point::I64((h % 1000) as i64)),
        // A constant.
        2 => Some(Point::I64(m as i64)),
        // An average: full-precision floats near 0.44.
        3 => Some(Point::F64(0.44 + (h % 1000) as f64 / 1e5)),
        // A counter with gaps: a tenth of the slots unset, in runs.
        _ => (!(t / 37).is_multiple_of(10)).then_some(Point::U64(t * 3 + h % 2)),
    }
}

/// The series `mmstats record` writes from the web server demo (two
/// workers, about 4,500 requests a second, combined by command), one
/// point a second: counters of requests, bytes and six response classes,
/// the in-flight gauge, the mean latency, the up flag.
fn demo_point(m: usize, t: u64, state: &mut [u64; 12]) -> Option<Point> {
    let h = hash(m as u64 + 77, t);
    let req = 4500 + h % 60;
    match m {
        0 => {
            state[0] += req;
            Some(Point::U64(state[0]))
        }
        1 => {
            state[1] += req * 612 + h % 5000;
            Some(Point::U64(state[1]))
        }
        2..=7 => {
            let share = [70, 5, 1, 20, 3, 1][m - 2];
            state[m] += req * share / 100 + h % 3;
            Some(Point::U64(state[m]))
        }
        8 => Some(Point::I64((h % 3) as i64)),
        9 => Some(Point::F64(0.000_44 + (h % 1000) as f64 * 1e-8)),
        10 => Some(Point::U64(1)),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Point {
    U64(u64),
    I64(i64),
    F64(f64),
}

fn hash(a: u64, b: u64) -> u64 {
    let mut z = (a << 40 ^ b).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Disk use of a directory tree, as `du` counts it (allocated blocks).
fn du(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = e.metadata().unwrap();
        total += if md.is_dir() {
            du(&e.path())
        } else {
            md.blocks() * 512
        };
    }
    total
}

/// Writes `metrics` series of `slots` points, one slot at a time as the
/// recorder does, into a new store; returns (points, bytes on disk).
fn build_store(
    dir: &std::path::Path,
    chunk: u64,
    metrics: usize,
    slots: u64,
    sealing: bool,
    point: &mut dyn FnMut(usize, u64) -> Option<Point>,
) -> (u64, u64) {
    let mut s = Store::create(
        dir,
        Options {
            chunk_size: chunk,
            ..Options::default()
        },
    )
    .unwrap();
    s.set_sealing(sealing);
    let names: Vec<String> = (0..metrics).map(|m| format!("series.{m:03}")).collect();
    let mut points = 0;
    for t in 0..slots {
        for (m, name) in names.iter().enumerate() {
            let r = match point(m, t) {
                Some(Point::U64(v)) => s.put(name, t, &[v]),
                Some(Point::I64(v)) => s.put(name, t, &[v]),
                Some(Point::F64(v)) => s.put(name, t, &[v]),
                None => continue,
            };
            r.unwrap();
            points += 1;
        }
        if t % 60 == 59 {
            s.sync().unwrap();
        }
    }
    if sealing {
        s.seal_all().unwrap();
    }
    s.close().unwrap();
    (points, du(dir))
}

/// Bytes per point on disk, printed (not timed): the synthetic mix and the
/// demo's series, in today's layout and sealed with each encoding.
fn report_sizes() {
    // Without feature `pco`, "shortest" is among the store's own
    // encodings, and there is no "pco only".
    let pco = cfg!(feature = "pco");
    let d = tempfile::tempdir().unwrap();
    let line = |what: &str,
                sealing: bool,
                enc: u8,
                block: u64,
                f: &mut dyn FnMut(&std::path::Path, bool) -> (u64, u64)| {
        mmstats::mstore::__set_seal_encodings(enc);
        mmstats::mstore::__set_seal_block(block);
        let dir = d.path().join(format!("{what}-{sealing}-{enc}-{block}"));
        let (points, bytes) = f(&dir, sealing);
        mmstats::mstore::__set_seal_block(4096);
        let how = match (sealing, enc, block) {
            (false, _, _) => "open chunks (the layout before sealing)".to_owned(),
            (true, _, 0) => "sealed, first layout (no blocks), shortest".to_owned(),
            (true, 0, b) if pco => format!("sealed, blocks of {b}, shortest (with pco)"),
            (true, 0, b) => format!("sealed, blocks of {b}, shortest (no pco)"),
            (true, 1, b) => format!("sealed, blocks of {b}, own encodings only"),
            (true, _, b) => format!("sealed, blocks of {b}, pco only"),
        };
        println!(
            "bytes per point: {what:<28} {how:<44} {:>6.3}  ({bytes} bytes, {points} points)",
            bytes as f64 / points as f64
        );
    };
    println!(
        "bytes per point: this build {} pco",
        if pco { "has" } else { "has no" }
    );
    for (sealing, enc, block) in [
        (false, 0, 4096),
        (true, 0, 0),
        (true, 1, 4096),
        (true, 2, 4096),
        (true, 0, 4096),
        (true, 0, 1024),
    ] {
        if enc == 2 && !pco {
            continue;
        }
        line(
            "mix 100 x 100,000",
            sealing,
            enc,
            block,
            &mut |dir, sealing| build_store(dir, CHUNK, 100, POINTS, sealing, &mut mix_point),
        );
        line(
            "demo, 1 h at 1 s",
            sealing,
            enc,
            block,
            &mut |dir, sealing| {
                let mut state = [0u64; 12];
                build_store(dir, 3600, 11, 3600, sealing, &mut |m, t| {
                    demo_point(m, t, &mut state)
                })
            },
        );
    }
    mmstats::mstore::__set_seal_encodings(0);
}

/// Sealing one chunk of 100 metrics x 100,000 points, beside the sync of
/// the same points in the open layout.
fn bench_seal(c: &mut Criterion) {
    report_sizes();
    let names = names();
    let data: Vec<Vec<u64>> = (0..METRICS)
        .map(|m| {
            (0..POINTS)
                .map(|t| match mix_point(m, t) {
                    Some(Point::U64(v)) => v,
                    Some(Point::I64(v)) => v as u64,
                    Some(Point::F64(v)) => v as u64,
                    None => t,
                })
                .collect()
        })
        .collect();
    let filled = || {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::create(
            d.path().join("s"),
            Options {
                chunk_size: POINTS,
                ..Options::default()
            },
        )
        .unwrap();
        fill_runs(&mut s, &names, &data);
        s.set_sealing(false);
        s.sync().unwrap();
        (d, s)
    };
    let mut g = c.benchmark_group("seal_100x100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(TOTAL));
    for (name, enc) in [
        ("seal_all", 0u8),
        ("seal_own_only", 1),
        ("seal_pco_only", 2),
    ] {
        if enc == 2 && !cfg!(feature = "pco") {
            continue;
        }
        g.bench_function(name, |b| {
            mmstats::mstore::__set_seal_encodings(enc);
            b.iter_batched(
                filled,
                |(d, mut s)| {
                    assert_eq!(s.seal_all().unwrap(), 1);
                    (d, s)
                },
                BatchSize::PerIteration,
            )
        });
    }
    mmstats::mstore::__set_seal_encodings(0);
    for (name, block) in [
        ("seal_all_first_layout", 0u64),
        ("seal_all_blocks_of_1024", 1024),
    ] {
        g.bench_function(name, |b| {
            mmstats::mstore::__set_seal_block(block);
            b.iter_batched(
                filled,
                |(d, mut s)| {
                    assert_eq!(s.seal_all().unwrap(), 1);
                    (d, s)
                },
                BatchSize::PerIteration,
            )
        });
    }
    mmstats::mstore::__set_seal_block(4096);
    g.bench_function("baseline_put_and_sync_open_layout", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().unwrap();
                let mut s = Store::create(
                    d.path().join("s"),
                    Options {
                        chunk_size: POINTS,
                        ..Options::default()
                    },
                )
                .unwrap();
                s.set_sealing(false);
                (d, s)
            },
            |(d, mut s)| {
                fill_runs(&mut s, &names, &data);
                s.sync().unwrap();
                (d, s)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// A week of one point a second (a counter), read at a 10-minute step:
/// 1008 windows of 600 points.
fn bench_step(c: &mut Criterion) {
    const WEEK: u64 = 7 * 24 * 3600;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("week");
    let mut s = Store::create(
        &dir,
        Options {
            chunk_size: 3600,
            ..Options::default()
        },
    )
    .unwrap();
    let mut total = 0u64;
    for start in (0..WEEK).step_by(3600) {
        let run: Vec<u64> = (start..start + 3600)
            .map(|t| {
                total += 4500 + hash(1, t) % 60;
                total
            })
            .collect();
        s.put("requests", start, &run).unwrap();
    }
    s.seal_all().unwrap();
    s.close().unwrap();
    let mut r = Reader::open(&dir).unwrap();
    let w = mmstats::history::read_step(
        &mut r,
        "requests",
        mmstats::mstore::ValueType::U64,
        (0, WEEK),
        600,
        1.0,
    )
    .unwrap();
    assert_eq!(w.len(), 1008);
    assert!(w.iter().all(|w| w.count == 600));
    let mut g = c.benchmark_group("read_step_week_at_10min");
    g.sample_size(10);
    g.throughput(Throughput::Elements(WEEK));
    g.bench_function("read_step_again", |b| {
        b.iter(|| {
            mmstats::history::read_step(
                &mut r,
                "requests",
                mmstats::mstore::ValueType::U64,
                (0, WEEK),
                600,
                1.0,
            )
            .unwrap()
            .len()
        })
    });
    g.bench_function("read_step_first_read", |b| {
        b.iter_batched(
            || Reader::open(&dir).unwrap(),
            |mut fresh| {
                mmstats::history::read_step(
                    &mut fresh,
                    "requests",
                    mmstats::mstore::ValueType::U64,
                    (0, WEEK),
                    600,
                    1.0,
                )
                .unwrap()
                .len()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// What the block checksums of open chunks cost: each operation with
/// checks on and off (`__set_checks`), side by side in one run. Reads by a
/// fresh reader check every block they touch; reads again by the same
/// reader check only the blocks' records.
fn bench_checks(c: &mut Criterion) {
    use mmstats::mstore::__set_checks;
    let names = names();
    let data: Vec<Vec<u64>> = (0..METRICS).map(series).collect();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("s");
    let mut s = Store::create(&dir, options()).unwrap();
    s.set_sealing(false);
    fill_runs(&mut s, &names, &data);
    s.close().unwrap();
    let open = || {
        Reader::open_with(
            &dir,
            OpenOptions {
                max_open_chunks: 32,
                ..OpenOptions::default()
            },
        )
        .unwrap()
    };
    let p = open().get::<u64>(&names[42], 0, POINTS).unwrap();
    assert_eq!(p.raw_values(), &data[42][..]);
    let modes = [("checks_on", true), ("checks_off", false)];

    let mut g = c.benchmark_group("checksums_read");
    for (mode, on) in modes {
        __set_checks(on);
        g.bench_function(format!("one_metric_100k_first_read_{mode}"), |b| {
            b.iter_batched(
                open,
                |mut r| r.get::<u64>(&names[42], 0, POINTS).unwrap().len(),
                BatchSize::SmallInput,
            )
        });
    }
    for (mode, on) in modes {
        __set_checks(on);
        let mut r = open();
        g.bench_function(format!("one_metric_100k_again_{mode}"), |b| {
            b.iter(|| r.get::<u64>(&names[42], 0, POINTS).unwrap().len())
        });
    }
    for (mode, on) in modes {
        __set_checks(on);
        g.bench_function(format!("100_windows_of_1000_first_read_{mode}"), |b| {
            b.iter_batched(
                open,
                |mut r| {
                    let mut n = 0;
                    for (m, name) in names.iter().enumerate() {
                        let from = (m as u64 * 997 + CHUNK / 2) % (POINTS - BATCH);
                        n += r.get::<u64>(name, from, from + BATCH).unwrap().len();
                    }
                    n
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.sample_size(10);
    for (mode, on) in modes {
        __set_checks(on);
        g.bench_function(format!("every_metric_first_read_{mode}"), |b| {
            b.iter_batched(
                open,
                |mut r| {
                    names
                        .iter()
                        .map(|name| r.get::<u64>(name, 0, POINTS).unwrap().len())
                        .sum::<usize>()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("checksums_write");
    g.sample_size(10);
    g.throughput(Throughput::Elements(TOTAL));
    let fresh = || {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::create(d.path().join("s"), options()).unwrap();
        s.set_sealing(false);
        (d, s)
    };
    for (mode, on) in modes {
        __set_checks(on);
        g.bench_function(format!("put_batches_of_1000_and_sync_{mode}"), |b| {
            b.iter_batched(
                fresh,
                |(d, mut s)| {
                    fill_batches(&mut s, &names, &data);
                    s.sync().unwrap();
                    (d, s)
                },
                BatchSize::PerIteration,
            )
        });
    }
    for (mode, on) in modes {
        __set_checks(on);
        g.bench_function(format!("put_whole_runs_and_sync_{mode}"), |b| {
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
    }
    g.finish();
    __set_checks(true);
}

criterion_group!(
    benches,
    bench_put,
    bench_get,
    bench_seal,
    bench_step,
    bench_checks
);
criterion_main!(benches);
