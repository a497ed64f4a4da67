use mmstats::{Counter, Family, Labels, MmStats};

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "method")]
enum Method {
    Get,
    Post,
}

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "method")]
enum Verb {
    Read,
    Write,
}

#[derive(MmStats)]
struct Stats {
    requests: Family<(Method, Verb), Counter>,
}

fn main() {}
