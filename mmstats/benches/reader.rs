//! What reading costs, and what it costs the writer.
//!
//! Groups:
//! - `reader`: parsing a file of 1000 fields in memory and from its path,
//!   into a new `Snapshot` and into a reused `Frame`, and one poll of a
//!   typical file, against `std::fs::read` of the same 1000-field file (the
//!   least any tool pays to look at it);
//! - `interference`: a counter increment with nothing else running, beside a
//!   thread that only spins (the control: two threads on two cores), and
//!   beside a thread that reads the writer's file in a loop.

mod common;

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use mmstats::format::{self, FieldType, Kind, Signature};
use mmstats::reader;
use mmstats::MmStats;

use common::{per_update, Fields};

/// A field type as the writer describes it.
fn field_type(signature: Signature, size: usize, kind: Kind) -> FieldType {
    FieldType {
        signature,
        value_size: size,
        align: if size <= 8 { size } else { 1 },
        buffered: false,
        kind,
        default_unit: "",
        error: None,
    }
}

/// The bytes of a file with 1000 fields laid out as the writer lays them
/// out (aligned values, metadata block): 600 counters, 200 float gauges,
/// 100 `u32` gauges, 50 flags and 50 texts of 32 bytes, with labels like
/// `app.worker.requests.0042`.
fn thousand_fields() -> Vec<u8> {
    let kinds = [
        (600, Signature::code(b'Q'), 8, Kind::Counter, "requests"),
        (200, Signature::code(b'd'), 8, Kind::Gauge, "load"),
        (100, Signature::code(b'I'), 4, Kind::Gauge, "queue"),
        (50, Signature::code(b'?'), 1, Kind::Flag, "ready"),
        (50, Signature::text(32), 32, Kind::Text, "state"),
    ];
    let mut bytes = vec![format::VERSION];
    let mut meta = Vec::new();
    let mut count = 0u16;
    for (n, signature, size, kind, name) in kinds {
        let ty = field_type(signature, size, kind);
        for _ in 0..n {
            let label = format!("app.worker.{name}.{count:04}");
            let at = format::place(bytes.len(), label.len(), &ty);
            bytes.extend_from_slice(&(label.len() as u16).to_ne_bytes());
            bytes.extend_from_slice(label.as_bytes());
            let sig = ty.signature.as_bytes();
            bytes.extend_from_slice(&((at.padding + sig.len()) as u16).to_ne_bytes());
            bytes.extend(std::iter::repeat_n(b' ', at.padding));
            bytes.extend_from_slice(sig);
            bytes.push(format::UNBUFFERED);
            assert_eq!(bytes.len(), at.value_offset);
            match kind {
                Kind::Text => {
                    let mut text = *b"serving\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
                    text[7] = b'0' + (count % 10) as u8;
                    bytes.extend_from_slice(&text);
                }
                _ => bytes.extend_from_slice(&u64::from(count).to_ne_bytes()[..size]),
            }
            assert_eq!(bytes.len(), at.end);
            meta.push(kind.code());
            meta.extend_from_slice(&0u16.to_ne_bytes());
            meta.extend_from_slice(&0u16.to_ne_bytes());
            count += 1;
        }
    }
    bytes.extend_from_slice(&[0; format::TERMINATOR_BYTES]);
    bytes.extend_from_slice(format::META_MAGIC);
    bytes.push(format::META_VERSION);
    bytes.extend_from_slice(&count.to_ne_bytes());
    bytes.extend_from_slice(&meta);
    let size = format::file_size(bytes.len(), format::DEFAULT_PAGE_SIZE);
    bytes.resize(size, 0);
    bytes
}

fn reading(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let bytes = thousand_fields();
    let big = dir.path().join("big.mmstats");
    std::fs::write(&big, &bytes).expect("write the 1000-field file");
    let parsed = reader::read_bytes(&bytes).expect("the 1000-field file parses");
    assert_eq!(parsed.stats.len(), 1000);
    assert!(parsed.meta);
    let typical = Fields::builder()
        .dir(dir.path())
        .create()
        .expect("create the stats file");
    typical.counter.incr();
    let typical_path = typical.path().expect("a file").to_path_buf();
    let typical_bytes = std::fs::read(&typical_path).expect("read the typical file");

    let mut g = c.benchmark_group("reader");
    g.bench_function("fs_read_1000_fields", |b| {
        b.iter(|| std::fs::read(black_box(&big)).expect("read"))
    });
    g.bench_function("parse_1000_fields", |b| {
        b.iter(|| reader::read_bytes(black_box(&bytes)).expect("parse"))
    });
    let mut frame = reader::Frame::new();
    g.bench_function("frame_1000_fields", |b| {
        b.iter(|| reader::read_bytes_into(black_box(&bytes), &mut frame).expect("parse"))
    });
    let mapped = reader::MappedFile::open(&big).expect("map the 1000-field file");
    g.bench_function("mapped_frame_1000_fields", |b| {
        b.iter(|| mapped.read_into(&mut frame).expect("read_into"))
    });
    assert_eq!(frame.len(), 1000);
    assert_eq!(frame.to_snapshot().stats, parsed.stats);
    g.bench_function("read_path_1000_fields", |b| {
        b.iter(|| reader::read_path(black_box(&big)).expect("read_path"))
    });
    g.bench_function("parse_typical", |b| {
        b.iter(|| reader::read_bytes(black_box(&typical_bytes)).expect("parse"))
    });
    g.bench_function("read_path_typical", |b| {
        b.iter(|| reader::read_path(black_box(&typical_path)).expect("read_path"))
    });
    g.finish();
}

/// Runs `background` on another thread until `stop` is set, and `f` meanwhile.
fn beside(mut background: impl FnMut() + Send, f: impl FnOnce()) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let stop = &stop;
        scope.spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                background();
            }
        });
        f();
        stop.store(true, Ordering::Relaxed);
    });
}

fn read_in_loop(path: &Path) {
    let snapshot = reader::read_path(path).expect("read the writer's file");
    black_box(snapshot);
}

fn interference(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let stats = Fields::builder()
        .dir(dir.path())
        .create()
        .expect("create the stats file");
    let path = stats.path().expect("a file").to_path_buf();
    let mut g = c.benchmark_group("interference");
    g.bench_function("writer_alone", |b| {
        per_update(b, |_| black_box(&stats.counter).incr())
    });
    let mut spins = 0u64;
    beside(
        || {
            for _ in 0..1000 {
                black_box(&mut spins);
            }
        },
        || {
            g.bench_function("writer_beside_spinning_thread", |b| {
                per_update(b, |_| black_box(&stats.counter).incr())
            });
        },
    );
    beside(
        || read_in_loop(&path),
        || {
            g.bench_function("writer_beside_reader_loop", |b| {
                per_update(b, |_| black_box(&stats.counter).incr())
            });
        },
    );
    beside(
        || {
            read_in_loop(&path);
            std::thread::sleep(std::time::Duration::from_millis(1));
        },
        || {
            g.bench_function("writer_beside_reader_every_ms", |b| {
                per_update(b, |_| black_box(&stats.counter).incr())
            });
        },
    );
    g.finish();
    let seen = reader::read_path(&path).expect("read");
    assert_eq!(
        seen.get("bench.counter").and_then(|s| s.value.as_f64()),
        Some(stats.counter.get() as f64)
    );
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = reading, interference
}
criterion_main!(benches);
