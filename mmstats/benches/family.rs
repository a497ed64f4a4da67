//! What one increment of a family member costs: the plain `*p += 1`, a
//! plain counter, a member of a `Family<(Method, Status), Counter>` (the
//! labels fixed at the call site, and chosen at run time), a member of a
//! `DynFamily<Counter, 8>` looked up by its label value (derived, and
//! declared at run time with `Schema::dyn_family`), and the peers
//! that look the member up by its label values: `prometheus`'s
//! `CounterVec::with_label_values(..).inc()` and `metrics::counter!` with
//! labels through a real recorder.
//!
//! Every contender runs in the loop of `common::per_update` and passes its
//! handle and label values through `black_box` on every iteration.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mmstats::{Counter, DynFamily, Family, Labels, MmStats};

use common::{per_update, PlainMap};

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "method")]
enum Method {
    Get,
    Post,
    #[mmstats(value = "other")]
    Other,
}

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "status")]
enum Status {
    #[mmstats(value = "2xx")]
    Ok,
    #[mmstats(value = "4xx")]
    Client,
    #[mmstats(value = "5xx")]
    Server,
}

#[derive(MmStats)]
#[mmstats(prefix = "bench.")]
struct Web {
    plain: Counter,
    requests: Family<(Method, Status), Counter>,
    #[mmstats(key = "route")]
    routes: DynFamily<Counter, 8>,
}

/// `*p += 1` through a pointer the compiler knows nothing about.
#[inline(always)]
fn plain_incr(p: *mut u64) {
    let p = black_box(p);
    // SAFETY: `p` is an aligned word of a live mapping (PlainMap::word) that
    // only this thread touches while the benchmark runs.
    unsafe { p.write(p.read().wrapping_add(1)) }
}

const METHODS: [Method; 3] = [Method::Get, Method::Post, Method::Other];
const STATUSES: [Status; 3] = [Status::Ok, Status::Client, Status::Server];
const METHOD_NAMES: [&str; 3] = ["get", "post", "other"];
const STATUS_NAMES: [&str; 3] = ["2xx", "4xx", "5xx"];
const ROUTES: [&str; 2] = ["/api/items/{id}", "/api/users/{id}"];

fn family(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut plain = PlainMap::new(dir.path(), "plain");
    let p = plain.word(64);
    let stats = Web::builder()
        .dir(dir.path())
        .create()
        .expect("create the stats file");
    // The same run-time family declared at run time (`Schema::dyn_family`).
    let runtime = mmstats::Schema::new()
        .prefix("bench.")
        .dyn_family::<Counter>("routes", "route", 8)
        .build()
        .expect("a run-time schema")
        .builder()
        .dir(dir.path())
        .file("runtime-{PID}-{TID}.mmstats")
        .create()
        .expect("create the run-time stats file");
    let runtime_routes = runtime
        .dyn_family::<Counter>("routes")
        .expect("the run-time family");

    let vec = prometheus::CounterVec::new(
        prometheus::Opts::new("bench_requests", "requests"),
        &["method", "status"],
    )
    .expect("prometheus counter vec");
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(vec.clone()))
        .expect("register the counter vec");
    let int_vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_requests_int", "requests"),
        &["method", "status"],
    )
    .expect("prometheus int counter vec");
    registry
        .register(Box::new(int_vec.clone()))
        .expect("register the int counter vec");

    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("install the metrics recorder");

    let mut g = c.benchmark_group("family");
    g.bench_function("plain_incr", |b| per_update(b, |_| plain_incr(p)));
    g.bench_function("mmstats_counter_incr", |b| {
        per_update(b, |_| black_box(&stats.plain).incr())
    });
    g.bench_function("mmstats_family_incr", |b| {
        per_update(b, |_| {
            black_box(&stats.requests)[(Method::Get, Status::Ok)].incr()
        })
    });
    g.bench_function("mmstats_family_incr_runtime_labels", |b| {
        per_update(b, |i| {
            let at = black_box((METHODS[(i & 1) as usize], STATUSES[(i & 1) as usize]));
            black_box(&stats.requests)[at].incr()
        })
    });
    g.bench_function("mmstats_dyn_family_member_incr", |b| {
        per_update(b, |i| {
            black_box(&stats.routes)
                .member(black_box(ROUTES[(i & 1) as usize]))
                .incr()
        })
    });
    g.bench_function("mmstats_runtime_dyn_family_member_incr", |b| {
        per_update(b, |i| {
            black_box(runtime_routes)
                .member(black_box(ROUTES[(i & 1) as usize]))
                .incr()
        })
    });
    g.bench_function("prometheus_counter_vec_with_label_values", |b| {
        per_update(b, |i| {
            let at = black_box([
                METHOD_NAMES[(i & 1) as usize],
                STATUS_NAMES[(i & 1) as usize],
            ]);
            black_box(&vec).with_label_values(&at).inc()
        })
    });
    g.bench_function("prometheus_int_counter_vec_with_label_values", |b| {
        per_update(b, |i| {
            let at = black_box([
                METHOD_NAMES[(i & 1) as usize],
                STATUS_NAMES[(i & 1) as usize],
            ]);
            black_box(&int_vec).with_label_values(&at).inc()
        })
    });
    g.bench_function("metrics_counter_macro_with_labels", |b| {
        per_update(b, |i| {
            let method = black_box(METHOD_NAMES[(i & 1) as usize]);
            let status = black_box(STATUS_NAMES[(i & 1) as usize]);
            metrics::counter!("bench.requests", "method" => method, "status" => status).increment(1)
        })
    });
    g.finish();

    black_box((
        stats.requests[(Method::Get, Status::Ok)].get(),
        stats.requests[(Method::Post, Status::Client)].get(),
        stats.plain.get(),
    ));
    black_box((
        vec.with_label_values(&["get", "2xx"]).get(),
        snapshotter.snapshot().into_vec().len(),
    ));
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = family
}
criterion_main!(benches);
