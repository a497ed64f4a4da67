use mmstats::{Counter, MmStats};

#[derive(MmStats)]
#[mmstats(defaults = "no")]
struct Stats {
    hits: Counter,
}

fn main() {}
