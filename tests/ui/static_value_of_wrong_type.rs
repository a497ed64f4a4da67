use mmstats::{MmStats, Static};

#[derive(MmStats)]
struct Stats {
    #[mmstats(value = "eight")]
    workers: Static<u32>,
}

fn main() {}
