use mmstats::{MmStats, MovingAverage};

#[derive(MmStats)]
struct Stats {
    size: MovingAverage<0>,
}

fn main() {}
