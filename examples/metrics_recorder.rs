//! A program whose library counts with the `metrics` facade: installing the
//! mmstats recorder makes those metrics stats files that `mmstats slurp`,
//! `serve` and `record` read like any others.
//!
//! ```sh
//! cargo run --example metrics_recorder &
//! mmstats slurp          # jobs_done{queue="fast"} 3, ...
//! ```
//!
//! It runs two queues, prints `ready`, and keeps its files (and so its
//! values) until standard input closes.

use std::io::Read;
use std::time::Duration;

use mmstats_demo_lib::Queue;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // MMSTATS_PATH, MMSTATS_FILES or the default directory.
    mmstats::metrics::install()?;
    mmstats_demo_lib::describe();
    let mut fast = Queue::new("fast");
    let mut slow = Queue::new("slow");
    fast.push(3);
    slow.push(1);
    fast.run(Duration::from_millis(2));
    slow.run(Duration::from_millis(40));
    slow.push(5);
    println!("ready");
    // Until the caller is done reading.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}
