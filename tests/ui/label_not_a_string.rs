use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats {
    #[mmstats(label = hits)]
    hits: Counter,
}

fn main() {}
