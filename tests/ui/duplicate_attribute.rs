use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats {
    #[mmstats(label = "a", label = "b")]
    hits: Counter,
}

fn main() {}
