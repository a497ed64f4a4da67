use mmstats::{Histogram, MmStats};

#[derive(MmStats)]
struct Stats {
    latency: Histogram<9>,
}

fn main() {}
