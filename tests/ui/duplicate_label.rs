use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats {
    hits: Counter,
    #[mmstats(label = "hits")]
    more_hits: Counter,
}

fn main() {}
