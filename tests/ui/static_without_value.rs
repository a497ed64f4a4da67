use mmstats::{MmStats, Static};

#[derive(MmStats)]
struct Stats {
    workers: Static<u32>,
}

fn main() {}
