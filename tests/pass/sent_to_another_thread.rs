// A stats object is `Send`: it can be made in one thread and moved to
// another, which then is its only writer.
use mmstats::{Counter, MmStats, Stats};

#[derive(MmStats)]
struct Work {
    done: Counter,
}

fn main() {
    let stats: Stats<Work> = Work::in_memory();
    let handle = std::thread::spawn(move || {
        stats.done.incr();
        stats.done.get()
    });
    assert_eq!(handle.join().ok(), Some(1));
}
