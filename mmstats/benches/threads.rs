//! Two threads counting at once: each with its own stats file (what
//! `with_thread` gives) against both on one shared atomic.
//!
//! Each contender runs its threads in lock step: they are spawned, wait on a
//! barrier, and the clock runs from the barrier until the last one is done.
//! The figure is wall time per update and thread, so perfect scaling shows
//! as the same figure for two threads as for one.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mmstats::{MmStats, Stats};

use common::Fields;

/// Runs `work(iters)` on one thread per element of `states`, all started
/// together, and returns the wall time they took.
fn in_lock_step<S: Send>(
    iters: u64,
    states: &mut [S],
    work: impl Fn(&mut S, u64) + Sync,
) -> Duration {
    let barrier = Barrier::new(states.len() + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = states
            .iter_mut()
            .map(|state| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    work(state, iters);
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for handle in handles {
            handle.join().expect("a benchmark thread panicked");
        }
        start.elapsed()
    })
}

fn count_in_own_file(stats: &mut Stats<Fields>, iters: u64) {
    for _ in 0..iters {
        black_box(&stats.counter).incr();
    }
}

fn count_in_shared_atomic(atomic: &mut &AtomicU64, iters: u64) {
    for _ in 0..iters {
        black_box(*atomic).fetch_add(1, Ordering::Relaxed);
    }
}

fn threads(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let create = |name: &str| {
        Fields::builder()
            .dir(dir.path())
            .file(name)
            .create()
            .expect("create a stats file")
    };
    // Stats objects are Send: each is lent to exactly one thread at a time.
    let mut own = [create("a.mmstats"), create("b.mmstats")];
    let shared = AtomicU64::new(0);

    let mut g = c.benchmark_group("threads");
    g.bench_function("own_file_1_thread", |b| {
        b.iter_custom(|iters| in_lock_step(iters, &mut own[..1], count_in_own_file))
    });
    g.bench_function("own_files_2_threads", |b| {
        b.iter_custom(|iters| in_lock_step(iters, &mut own[..], count_in_own_file))
    });
    g.bench_function("shared_atomic_1_thread", |b| {
        b.iter_custom(|iters| in_lock_step(iters, &mut [&shared], count_in_shared_atomic))
    });
    g.bench_function("shared_atomic_2_threads", |b| {
        b.iter_custom(|iters| in_lock_step(iters, &mut [&shared, &shared], count_in_shared_atomic))
    });
    g.finish();
    black_box(own.iter().map(|s| s.counter.get()).sum::<u64>());
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = threads
}
criterion_main!(benches);
