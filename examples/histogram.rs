//! Latencies and sizes as histograms: 1 to 100 000 microseconds recorded as
//! seconds, and a few response sizes; then the file's path.
//!
//! Run it with `cargo run --example histogram`, then read its percentiles
//! with `cargo run --bin mmstats -- slurp <path>` (or `slurp --json`).

// ANCHOR: all
use mmstats::{Histogram, MmStats};

/// What a web server publishes.
#[derive(MmStats)]
#[mmstats(prefix = "web.")]
struct WebStats {
    /// Time to answer a request.
    #[mmstats(unit = "seconds")]
    latency: Histogram,
    /// Bytes in response bodies.
    #[mmstats(unit = "bytes")]
    response_size: Histogram,
}

fn main() -> Result<(), mmstats::Error> {
    let stats = WebStats::create()?;
    for us in 1..=100_000u32 {
        stats.latency.record(f64::from(us) * 1e-6);
    }
    {
        let _timing = stats.latency.start(); // seconds, until the guard drops
    }
    stats.latency.time(|| std::hint::black_box(6 * 7)); // the closure form
    for size in [512.0, 1500.0, 1500.0, 65536.0] {
        stats.response_size.record(size);
    }
    if let Some(path) = stats.path() {
        println!("{}", path.display());
    }
    Ok(())
}
// ANCHOR_END: all
