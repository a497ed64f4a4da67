use mmstats::{Field, MmStats};

#[derive(MmStats)]
struct Stats<F: Field> {
    value: F,
}

fn main() {}
