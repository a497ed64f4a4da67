use mmstats::MmStats;

#[derive(MmStats)]
enum Stats {
    A,
    B,
}

fn main() {}
