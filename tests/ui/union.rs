use mmstats::MmStats;

#[derive(MmStats)]
union Stats {
    a: u64,
    b: f64,
}

fn main() {}
