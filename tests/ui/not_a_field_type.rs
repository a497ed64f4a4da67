use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats {
    hits: Counter,
    total: u64,
}

fn main() {}
