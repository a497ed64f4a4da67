//! The `metrics` facade with the mmstats recorder (feature `metrics`)
//! against `metrics-exporter-prometheus`, and both against a plain store
//! and an mmstats counter of a derived struct: `cargo bench -p mmstats
//! --features metrics --bench recorder`.
//!
//! Each recorder is used through `metrics::with_local_recorder`, so both
//! run in one process: `handle` is a `metrics::Counter` the caller keeps,
//! `macro` is `counter!` on every update (a registration, then the
//! update), with a label, as a library writes it.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use mmstats::MmStats;

use common::{per_update, Fields, PlainMap};

/// `*p += 1` through a pointer the compiler knows nothing about.
#[inline(always)]
fn plain_incr(p: *mut u64) {
    let p = black_box(p);
    // SAFETY: `p` is an aligned word of a live mapping (PlainMap::word) that
    // only this thread touches while the benchmark runs.
    unsafe { p.write(p.read().wrapping_add(1)) }
}

/// The least a handle of the facade can cost: a `CounterFn` that is one
/// relaxed load and store (what a plain store compiles to), reached through
/// the facade's `Arc<dyn CounterFn>` as every recorder's is.
struct Floor(AtomicU64);

impl metrics::CounterFn for Floor {
    fn increment(&self, value: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(value),
            Ordering::Relaxed,
        );
    }

    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

fn recorder(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut plain = PlainMap::new(dir.path(), "plain");
    let p = plain.word(64);
    let stats = Fields::builder()
        .dir(dir.path())
        .create()
        .expect("create the stats file");
    let mmstats = mmstats::metrics::Builder::new().dir(dir.path()).recorder();
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let mm_handle = metrics::with_local_recorder(
        &mmstats,
        || metrics::counter!("bench_hits", "queue" => "fast"),
    );
    let prom_handle = metrics::with_local_recorder(
        &prometheus,
        || metrics::counter!("bench_hits", "queue" => "fast"),
    );
    let floor = metrics::Counter::from_arc(Arc::new(Floor(AtomicU64::new(0))));
    // The thread's file exists before timing starts.
    mm_handle.increment(1);

    let mut g = c.benchmark_group("recorder");
    g.bench_function("plain_incr", |b| per_update(b, |_| plain_incr(p)));
    g.bench_function("mmstats_counter_incr", |b| {
        per_update(b, |_| black_box(&stats.counter).incr())
    });
    g.bench_function("facade_floor_handle", |b| {
        per_update(b, |_| black_box(&floor).increment(1))
    });
    g.bench_function("mmstats_recorder_handle", |b| {
        per_update(b, |_| black_box(&mm_handle).increment(1))
    });
    g.bench_function("prometheus_exporter_handle", |b| {
        per_update(b, |_| black_box(&prom_handle).increment(1))
    });
    g.bench_function("mmstats_recorder_macro", |b| {
        metrics::with_local_recorder(&mmstats, || {
            per_update(b, |_| {
                metrics::counter!("bench_hits", "queue" => "fast").increment(1)
            })
        })
    });
    g.bench_function("prometheus_exporter_macro", |b| {
        metrics::with_local_recorder(&prometheus, || {
            per_update(b, |_| {
                metrics::counter!("bench_hits", "queue" => "fast").increment(1)
            })
        })
    });
    g.finish();
    black_box((stats.counter.get(), prometheus.handle().render().len()));
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = recorder
}
criterion_main!(benches);
