use mmstats::{Counter, MmStats};

#[derive(MmStats)]
#[mmstats(prefix = 1, colour = "red")]
struct Stats {
    #[mmstats(label = "")]
    a: Counter,
    #[mmstats(lable = "b")]
    b: Counter,
    c: Counter,
    #[mmstats(label = "c")]
    d: Counter,
}

fn main() {}
