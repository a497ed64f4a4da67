//! Per-thread stats with no setup. Alone in its binary because it sets
//! `MMSTATS_PATH`, which other tests running in parallel must not see change.

mod common;

use common::{decode, stats_files, walk, Expected};
use mmstats::{Counter, MmStats, Text};

#[derive(MmStats)]
#[mmstats(prefix = "t.")]
struct PerThread {
    n: Counter,
    name: Text<16>,
}

#[test]
fn with_thread_needs_no_setup_and_gives_each_thread_a_file() {
    let dir = tempfile::tempdir().unwrap();
    // The environment is read when a thread first touches the model.
    std::env::set_var("MMSTATS_PATH", dir.path());
    let handles: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..10 {
                    PerThread::with_thread(|s| {
                        s.n.incr();
                        s.name.set("busy");
                    });
                }
                PerThread::with_thread(|s| s.n.get())
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 10);
    }
    std::env::remove_var("MMSTATS_PATH");
    let files = stats_files(dir.path());
    assert_eq!(files.len(), 3, "{files:?}");
    for file in files {
        let (fields, _) = walk(&std::fs::read(file).unwrap());
        assert_eq!(decode(&fields[0]), Expected::U(10));
    }
}
