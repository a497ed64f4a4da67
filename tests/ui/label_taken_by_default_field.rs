use mmstats::{Gauge, MmStats};

#[derive(MmStats)]
#[mmstats(prefix = "app.")]
struct Stats {
    #[mmstats(label = "sys.pid")]
    pid: Gauge<u32>,
}

fn main() {}
