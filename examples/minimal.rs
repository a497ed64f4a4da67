//! The smallest useful program: one model, one file, a few updates.
//!
//! Run it with `cargo run --example minimal`, then read the file it names
//! with `cargo run --bin mmstats -- slurp <path>`.

// ANCHOR: all
use mmstats::{Counter, Gauge, MmStats, Text, Timer};

/// What this program publishes.
#[derive(MmStats)]
#[mmstats(prefix = "minimal.")]
struct AppStats {
    /// Jobs finished.
    jobs: Counter,
    /// Jobs waiting.
    queue: Gauge<u32>,
    /// Time per job.
    job_time: Timer<10>,
    /// What the program is doing.
    state: Text<32>,
}

fn main() -> Result<(), mmstats::Error> {
    let stats = AppStats::create()?;
    stats.state.set("working");
    for job in 0..5u32 {
        stats.queue.set(5 - job);
        stats
            .job_time
            .time(|| std::thread::sleep(std::time::Duration::from_millis(10)));
        stats.jobs.incr();
    }
    stats.state.set("done");
    if let Some(path) = stats.path() {
        println!("{}", path.display());
    }
    Ok(())
}
// ANCHOR_END: all
