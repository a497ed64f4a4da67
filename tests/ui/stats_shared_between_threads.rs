use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Stats {
    hits: Counter,
}

fn main() {
    let stats = Stats::in_memory();
    // One writer per file: a stats object can be sent, never shared.
    std::thread::scope(|scope| {
        scope.spawn(|| stats.hits.incr());
        scope.spawn(|| stats.hits.incr());
    });
}
