//! What one update costs, against a plain `*p += 1` into a shared mapping.
//!
//! Every contender runs in the same loop ([`per_update`]) and passes its
//! handle (or pointer) through `black_box` on every iteration, so the
//! compiler can neither keep the value in a register across iterations nor
//! merge them: each iteration performs exactly one update.
//!
//! Groups:
//! - `compare`: a counter and a gauge of mmstats beside the plain store, the
//!   original's double buffer, atomics and the usual metrics crates;
//! - `fields`: every field type that changes after creation (the groups
//!   among them: `summary_add`, `gauge_i16_set`, `text32_set`), and the
//!   same counter and gauges declared at run time (`runtime_*`, through
//!   handles looked up once).

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use mmstats::{Gauge, MmStats, Summary};

use common::{per_update, DoubleBuffered, DoubleBufferedText, Fields, PlainMap};

/// `*p += n` through a pointer the compiler knows nothing about.
#[inline(always)]
fn plain_add(p: *mut u64, n: u64) {
    let p = black_box(p);
    // SAFETY: as for `plain_incr`.
    unsafe { p.write(p.read().wrapping_add(n)) }
}

/// `*p += 1` through a pointer the compiler knows nothing about.
#[inline(always)]
fn plain_incr(p: *mut u64) {
    let p = black_box(p);
    // SAFETY: `p` is an aligned word of a live mapping (PlainMap::word) that
    // only this thread touches while the benchmark runs.
    unsafe { p.write(p.read().wrapping_add(1)) }
}

fn compare(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut plain = PlainMap::new(dir.path(), "plain");
    let p = plain.word(64);
    let mut buffered_map = PlainMap::new(dir.path(), "buffered");
    // SAFETY: the mapping is page-aligned, 4096 bytes long, outlives the
    // writer (both live until the end of this function) and only this
    // thread writes it.
    let buffered = unsafe { DoubleBuffered::new(buffered_map.base().wrapping_add(64)) };
    let stats = Fields::builder()
        .dir(dir.path())
        .create()
        .expect("create the stats file");
    let atomic = AtomicU64::new(0);

    let prom = prometheus::IntCounter::new("bench_hits", "hits").expect("prometheus counter");
    let prom_registry = prometheus::Registry::new();
    prom_registry
        .register(Box::new(prom.clone()))
        .expect("register the prometheus counter");

    let mut client_registry = prometheus_client::registry::Registry::default();
    let client = prometheus_client::metrics::counter::Counter::<u64>::default();
    client_registry.register("bench_hits", "hits", client.clone());

    // A real recorder behind the `metrics` facade: handles are atomics in
    // its registry, as with the exporters built on metrics-util.
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("install the metrics recorder");
    let handle = metrics::counter!("bench.hits");

    let mut g = c.benchmark_group("compare");
    g.bench_function("plain_incr", |b| per_update(b, |_| plain_incr(p)));
    g.bench_function("mmstats_counter_incr", |b| {
        per_update(b, |_| black_box(&stats.counter).incr())
    });
    g.bench_function("mmstats_gauge_set", |b| {
        per_update(b, |i| black_box(&stats.gauge_u64).set(i))
    });
    g.bench_function("double_buffer_incr", |b| {
        per_update(b, |_| black_box(&buffered).incr())
    });
    g.bench_function("atomic_load_store", |b| {
        per_update(b, |_| {
            let a = black_box(&atomic);
            a.store(a.load(Ordering::Relaxed).wrapping_add(1), Ordering::Release)
        })
    });
    g.bench_function("atomic_fetch_add", |b| {
        per_update(b, |_| {
            black_box(&atomic).fetch_add(1, Ordering::Relaxed);
        })
    });
    g.bench_function("prometheus_int_counter", |b| {
        per_update(b, |_| black_box(&prom).inc())
    });
    g.bench_function("prometheus_client_counter", |b| {
        per_update(b, |_| {
            black_box(&client).inc();
        })
    });
    g.bench_function("metrics_handle", |b| {
        per_update(b, |_| black_box(&handle).increment(1))
    });
    g.bench_function("metrics_macro", |b| {
        per_update(b, |_| metrics::counter!("bench.hits").increment(1))
    });
    g.finish();

    // What the contenders counted, read so that none of it is dead code
    // (with a filter on the command line, some did not run at all).
    black_box((stats.counter.get(), atomic.load(Ordering::Relaxed)));
    black_box((
        prom.get(),
        client.get(),
        snapshotter.snapshot().into_vec().len(),
    ));
}

/// The groups that the `fields` stats of `common` do not have: a summary
/// (a sequence-guarded group) and a double-buffered 16-bit gauge.
#[derive(MmStats)]
struct Groups {
    summary: Summary,
    gauge_i16: Gauge<i16>,
}

fn fields(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut plain = PlainMap::new(dir.path(), "plain");
    let p = plain.word(64);
    let stats = Fields::builder()
        .dir(dir.path())
        .create()
        .expect("create the stats file");
    // `with_thread` creates this thread's file in MMSTATS_PATH on first use;
    // a directory of its own, since the file above has the same default name.
    let per_thread = dir.path().join("per-thread");
    std::fs::create_dir(&per_thread).expect("a directory for with_thread");
    std::env::set_var(mmstats::file::ENV_PATH, &per_thread);
    Fields::try_with_thread(|s| s.counter.incr()).expect("with_thread creates its file");
    let groups = Groups::builder()
        .dir(dir.path())
        .file("groups-{PID}.mmstats")
        .create()
        .expect("create the groups' stats file");
    // The same counter and gauges declared at run time: the handles are the
    // same types, looked up once.
    let runtime = mmstats::Schema::new()
        .name("runtime")
        .prefix("bench.")
        .counter("counter")
        .gauge::<u64>("gauge_u64")
        .gauge::<f64>("gauge_f64")
        .histogram("histogram")
        .family::<mmstats::Counter>("requests", &[("method", &["get", "post"])])
        .build()
        .expect("the run-time schema");
    let runtime_stats = runtime
        .builder()
        .dir(dir.path())
        .create()
        .expect("create the run-time stats file");
    let rt_counter: &mmstats::Counter = runtime_stats.get("counter").expect("counter");
    let rt_gauge: &Gauge<u64> = runtime_stats.get("gauge_u64").expect("gauge_u64");
    let rt_gauge_f64: &Gauge<f64> = runtime_stats.get("gauge_f64").expect("gauge_f64");
    let rt_member = runtime_stats
        .family::<mmstats::Counter>("requests")
        .expect("requests")
        .get(&["post"])
        .expect("member post");
    runtime
        .try_with_thread(|s| s.get::<mmstats::Counter>("counter").map(|c| c.incr()))
        .expect("with_thread creates its file")
        .expect("counter");
    let states = ["accepting connections", "draining"];
    let mut text_map = PlainMap::new(dir.path(), "text");
    // SAFETY: the mapping is 4096 bytes long, outlives the writer (both live
    // until the end of this function) and only this thread writes it.
    let buffered_text = unsafe { DoubleBufferedText::new(text_map.base().wrapping_add(63)) };

    let mut g = c.benchmark_group("fields");
    g.bench_function("plain_incr", |b| per_update(b, |_| plain_incr(p)));
    g.bench_function("counter_incr", |b| {
        per_update(b, |_| black_box(&stats.counter).incr())
    });
    g.bench_function("runtime_counter_incr", |b| {
        per_update(b, move |_| black_box(rt_counter).incr())
    });
    g.bench_function("runtime_family_member_incr", |b| {
        per_update(b, move |_| black_box(rt_member).incr())
    });
    g.bench_function("plain_add", |b| per_update(b, |i| plain_add(p, i & 7)));
    g.bench_function("counter_incr_by", |b| {
        per_update(b, |i| black_box(&stats.counter).incr_by(i & 7))
    });
    g.bench_function("gauge_u64_set", |b| {
        per_update(b, |i| black_box(&stats.gauge_u64).set(i))
    });
    g.bench_function("runtime_gauge_u64_set", |b| {
        per_update(b, move |i| black_box(rt_gauge).set(i))
    });
    g.bench_function("gauge_u64_add", |b| {
        per_update(b, |_| black_box(&stats.gauge_u64).add(1))
    });
    g.bench_function("gauge_f64_set", |b| {
        per_update(b, |i| black_box(&stats.gauge_f64).set(i as f64))
    });
    g.bench_function("runtime_gauge_f64_set", |b| {
        per_update(b, move |i| black_box(rt_gauge_f64).set(i as f64))
    });
    g.bench_function("gauge_u32_set", |b| {
        per_update(b, |i| black_box(&stats.gauge_u32).set(i as u32))
    });
    g.bench_function("flag_set", |b| {
        per_update(b, |i| black_box(&stats.flag).set(i & 1 == 1))
    });
    g.bench_function("text32_set", |b| {
        per_update(b, |i| black_box(&stats.text).set(states[(i & 1) as usize]))
    });
    g.bench_function("text32_double_buffered", |b| {
        per_update(b, |i| {
            black_box(&buffered_text).set(states[(i & 1) as usize])
        })
    });
    g.bench_function("summary_add", |b| {
        per_update(b, |i| black_box(&groups.summary).add((i & 7) as f64))
    });
    g.bench_function("gauge_i16_set", |b| {
        per_update(b, |i| black_box(&groups.gauge_i16).set(i as i16))
    });
    g.bench_function("average_add", |b| {
        per_update(b, |i| black_box(&stats.average).add((i & 1023) as f64))
    });
    g.bench_function("moving_average100_add", |b| {
        per_update(b, |i| black_box(&stats.moving).add((i & 1023) as f64))
    });
    g.bench_function("timer100_record_seconds", |b| {
        per_update(b, |i| {
            black_box(&stats.timer).record_seconds((i & 1023) as f64 * 1e-6)
        })
    });
    g.bench_function("timer100_guard", |b| {
        per_update(b, |_| drop(black_box(&stats.timer).start()))
    });
    g.bench_function("with_thread_counter_incr", |b| {
        per_update(b, |_| Fields::with_thread(|s| black_box(&s.counter).incr()))
    });
    // Looked up by name on every call: what not to do, for scale.
    g.bench_function("runtime_with_thread_get_counter_incr", |b| {
        per_update(b, |_| {
            runtime.with_thread(|s| {
                if let Ok(c) = s.get::<mmstats::Counter>("counter") {
                    black_box(c).incr()
                }
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = compare, fields
}
criterion_main!(benches);
