//! Creates one stats file the way a new thread does on its first update, so
//! that `scripts/bench-report` can count the system calls it makes under
//! `strace -f`.
//!
//! It prints a marker line to standard error before and after each step;
//! the script counts the calls between the markers. Each step runs in a new
//! thread, after a first one has paid what a process pays only once. Set `MMSTATS_PATH` to
//! choose the directory.

use mmstats::{Counter, Gauge, MmStats, Timer};

#[derive(MmStats)]
struct Work {
    jobs: Counter,
    queue: Gauge<u32>,
    job_time: Timer<100>,
}

fn main() {
    // What a process pays once (the first thread's memory arena, the
    // standard library's probes) is paid here, before the markers.
    std::thread::spawn(|| Work::with_thread(|s| s.jobs.incr()))
        .join()
        .expect("thread");
    eprintln!("mmstats-trace: begin empty thread");
    std::thread::spawn(|| {}).join().expect("thread");
    eprintln!("mmstats-trace: end empty thread");
    eprintln!("mmstats-trace: begin first incr");
    std::thread::spawn(|| Work::with_thread(|s| s.jobs.incr()))
        .join()
        .expect("thread");
    eprintln!("mmstats-trace: end first incr");
    Work::with_thread(|s| s.jobs.incr());
    eprintln!("mmstats-trace: begin later updates");
    Work::with_thread(|s| {
        s.jobs.incr();
        s.queue.set(3);
        s.job_time.record_seconds(0.25);
    });
    eprintln!("mmstats-trace: end later updates");
}
