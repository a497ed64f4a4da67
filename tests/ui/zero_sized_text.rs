use mmstats::{MmStats, Text};

#[derive(MmStats)]
struct Stats {
    state: Text<0>,
}

fn main() {}
