//! The machine code of an update, for the book's Performance chapter:
//! `scripts/bench-report` compiles this example to assembly and copies the
//! bodies of these functions into the chapter.
//!
//! Each function is a single update, kept out of line under a plain symbol
//! name so that it can be found in the output.

use mmstats::{Counter, Gauge, Histogram, MmStats};

#[derive(MmStats)]
struct Hits {
    hits: Counter,
    queue: Gauge<u64>,
    #[mmstats(unit = "seconds")]
    latency: Histogram,
}

/// `Counter::incr`.
#[no_mangle]
#[inline(never)]
pub fn mmstats_counter_incr(counter: &Counter) {
    counter.incr();
}

/// `Gauge<u64>::set`.
#[no_mangle]
#[inline(never)]
pub fn mmstats_gauge_set(gauge: &Gauge<u64>, value: u64) {
    gauge.set(value);
}

/// `Histogram::record`.
#[no_mangle]
#[inline(never)]
pub fn mmstats_histogram_record(histogram: &Histogram, value: f64) {
    histogram.record(value);
}

/// The baseline: `*p += 1`.
///
/// # Safety
/// `p` must be valid for reads and writes and aligned, and nothing else may
/// access it meanwhile.
#[no_mangle]
#[inline(never)]
pub unsafe fn plain_incr(p: *mut u64) {
    // SAFETY: the caller's promise.
    unsafe { p.write(p.read().wrapping_add(1)) }
}

fn main() {
    let stats = Hits::in_memory();
    mmstats_counter_incr(&stats.hits);
    mmstats_gauge_set(&stats.queue, 7);
    mmstats_histogram_record(&stats.latency, 0.25);
    let mut word = 0u64;
    // SAFETY: a local the function alone accesses.
    unsafe { plain_incr(&mut word) };
    println!("{} {} {}", stats.hits.get(), stats.queue.get(), word);
}
