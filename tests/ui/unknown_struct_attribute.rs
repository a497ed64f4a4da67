use mmstats::{Counter, MmStats};

#[derive(MmStats)]
#[mmstats(prefx = "web.")]
struct Stats {
    hits: Counter,
}

fn main() {}
