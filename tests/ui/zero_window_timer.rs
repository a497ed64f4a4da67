use mmstats::{MmStats, Timer};

#[derive(MmStats)]
struct Stats {
    latency: Timer<0>,
}

fn main() {}
