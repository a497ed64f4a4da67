use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats {
    #[mmstats(value = 5)]
    hits: Counter,
}

fn main() {}
