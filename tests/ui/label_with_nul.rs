use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats {
    #[mmstats(label = "hits\0total")]
    hits: Counter,
}

fn main() {}
