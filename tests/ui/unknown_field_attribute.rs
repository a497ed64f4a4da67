use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats {
    #[mmstats(name = "hits")]
    hits: Counter,
}

fn main() {}
