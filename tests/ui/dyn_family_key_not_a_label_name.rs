use mmstats::{Counter, DynFamily, MmStats};

#[derive(MmStats)]
struct Web {
    #[mmstats(key = "the route")]
    routes: DynFamily<Counter, 8>,
    #[mmstats(key = "pid")]
    tenants: DynFamily<Counter, 8>,
}

fn main() {}
