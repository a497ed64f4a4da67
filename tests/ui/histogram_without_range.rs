use mmstats::{Histogram, MmStats};

#[derive(MmStats)]
struct Stats {
    latency: Histogram<4, 0>,
}

fn main() {}
