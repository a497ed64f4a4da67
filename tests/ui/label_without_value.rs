use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats {
    #[mmstats(label)]
    hits: Counter,
}

fn main() {}
