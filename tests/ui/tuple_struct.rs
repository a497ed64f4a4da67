use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats(Counter, Counter);

fn main() {}
