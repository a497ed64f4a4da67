use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats<'a> {
    hits: Counter,
    name: &'a str,
}

fn main() {}
