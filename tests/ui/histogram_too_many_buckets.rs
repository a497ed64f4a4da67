use mmstats::{Histogram, MmStats};

#[derive(MmStats)]
struct Stats {
    latency: Histogram<8, 65>,
}

fn main() {}
