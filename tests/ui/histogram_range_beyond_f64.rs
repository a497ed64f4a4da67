use mmstats::{Histogram, MmStats};

#[derive(MmStats)]
struct Stats {
    latency: Histogram<4, 47, 990>,
}

fn main() {}
