use mmstats::{Counter, DynFamily, MmStats};

#[derive(MmStats)]
struct Web {
    #[mmstats(key = "route")]
    hits: Counter,
    // The default key, the field's name, is taken by the tools.
    value: DynFamily<Counter, 8>,
}

fn main() {}
