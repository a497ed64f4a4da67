//! What recording one value in a histogram costs, beside a plain `*p += 1`
//! into a shared mapping (the baseline of `benches/updates.rs`) and the
//! histograms of the usual crates.
//!
//! Every contender runs in the same loop ([`per_update`]) and passes its
//! handle through `black_box` on every iteration. The values are 1024
//! latencies spread log-uniformly over 1 us..1 s, taken in turn, so that
//! every contender sorts a realistic mix of values into its buckets.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mmstats::{Histogram, MmStats};

use common::{per_update, PlainMap};

/// `*p += 1` through a pointer the compiler knows nothing about.
#[inline(always)]
fn plain_incr(p: *mut u64) {
    let p = black_box(p);
    // SAFETY: `p` is an aligned word of a live mapping (PlainMap::word) that
    // only this thread touches while the benchmark runs.
    unsafe { p.write(p.read().wrapping_add(1)) }
}

#[derive(MmStats)]
#[mmstats(prefix = "bench.")]
struct Latencies {
    #[mmstats(unit = "seconds")]
    latency: Histogram,
}

fn values() -> Vec<f64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
            1e-6 * 1e6f64.powf(unit)
        })
        .collect()
}

fn histogram(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut plain = PlainMap::new(dir.path(), "plain");
    let p = plain.word(64);
    let stats = Latencies::builder()
        .dir(dir.path())
        .create()
        .expect("create the stats file");
    let values = values();
    let value = |i: u64| values[(i & 1023) as usize];

    // 1 us .. 1000 s at 3 significant digits (HdrHistogram's usual setting:
    // 0.1 % precision), in nanoseconds.
    let mut hdr = hdrhistogram::Histogram::<u64>::new_with_bounds(1_000, 1_000_000_000_000, 3)
        .expect("hdrhistogram");

    // Prometheus' default buckets, as most services use them.
    let prom = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
        "bench_latency",
        "latency",
    ))
    .expect("prometheus histogram");
    let prom_registry = prometheus::Registry::new();
    prom_registry
        .register(Box::new(prom.clone()))
        .expect("register the prometheus histogram");

    let mut client_registry = prometheus_client::registry::Registry::default();
    let client = prometheus_client::metrics::histogram::Histogram::new(
        prometheus_client::metrics::histogram::exponential_buckets(1e-6, 2.0, 21),
    );
    client_registry.register("bench_latency", "latency", client.clone());

    // A real recorder behind the `metrics` facade, the handle cached.
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let _snapshotter = recorder.snapshotter();
    recorder.install().expect("install the metrics recorder");
    let handle = metrics::histogram!("bench.latency");

    let mut g = c.benchmark_group("histogram");
    g.bench_function("plain_incr", |b| per_update(b, |_| plain_incr(p)));
    g.bench_function("mmstats_histogram_record", |b| {
        per_update(b, |i| black_box(&stats.latency).record(value(i)))
    });
    g.bench_function("hdrhistogram_record", |b| {
        per_update(b, |i| {
            let _ = black_box(&mut hdr).record((value(i) * 1e9) as u64);
        })
    });
    g.bench_function("prometheus_observe", |b| {
        per_update(b, |i| black_box(&prom).observe(value(i)))
    });
    g.bench_function("prometheus_client_observe", |b| {
        per_update(b, |i| black_box(&client).observe(value(i)))
    });
    g.bench_function("metrics_histogram_handle", |b| {
        per_update(b, |i| black_box(&handle).record(value(i)))
    });
    g.finish();
}

criterion_group!(benches, histogram);
criterion_main!(benches);
