use mmstats::MmStats;

#[derive(MmStats)]
struct Stats;

fn main() {}
