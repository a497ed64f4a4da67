//! The writer's promise, an update is a plain store with no system call,
//! holds only if a store never faults. On a file system backed by a disk,
//! the kernel write-protects a page when it writes it back, and the next
//! store to it faults into the file system; on a tmpfs it never does. So
//! the default directory is RAM-backed, and this counts the writer's page
//! faults (`getrusage(RUSAGE_THREAD)`) while another thread forces
//! write-back of the very file the writer updates.
//!
//! Alone in its binary: it clears `MMSTATS_PATH` to find the default.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mmstats::{Counter, MmStats, StaticText};

/// Four counters on four pages.
#[derive(MmStats)]
#[mmstats(prefix = "pf.")]
struct Pages {
    a: Counter,
    #[mmstats(value = "")]
    pad1: StaticText<4096>,
    b: Counter,
    #[mmstats(value = "")]
    pad2: StaticText<4096>,
    c: Counter,
    #[mmstats(value = "")]
    pad3: StaticText<4096>,
    d: Counter,
}

/// This thread's page faults so far: (minor, major).
fn faults() -> (i64, i64) {
    let mut usage: libc::rusage = unsafe_zeroed();
    // SAFETY: a valid pointer to a rusage for the call to fill in.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) },
        0
    );
    (usage.ru_minflt, usage.ru_majflt)
}

fn unsafe_zeroed() -> libc::rusage {
    // SAFETY: rusage is plain integers, for which all zeros is valid.
    unsafe { std::mem::zeroed() }
}

struct Measured {
    minor: i64,
    major: i64,
    updates: u64,
    writebacks: u64,
}

/// Updates four counters on four pages of a file in `dir` for `time`, while
/// another thread writes the file back (`fdatasync`) in a loop; counts the
/// updating thread's page faults after its first touch of each page.
fn measure(dir: &Path, time: Duration) -> Measured {
    let stats = Pages::builder()
        .dir(dir)
        .cmd("faults")
        .file("{CMD}-{PID}-{TID}.mmstats")
        .create()
        .unwrap();
    let path = stats.path().unwrap().to_path_buf();
    let step = |s: &Pages| {
        s.a.incr();
        s.b.incr();
        s.c.incr();
        s.d.incr();
    };
    // The first touch of each page (and of this loop's code and stack).
    step(&stats);
    let _ = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let flusher = {
        let (stop, file) = (stop.clone(), std::fs::File::open(&path).unwrap());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::fdatasync(&file).unwrap();
                n += 1;
                std::thread::sleep(Duration::from_micros(500));
            }
            n
        })
    };
    let (minor, major) = faults();
    let start = Instant::now();
    let mut updates = 0u64;
    while start.elapsed() < time {
        for _ in 0..1000 {
            step(&stats);
        }
        updates += 1000;
    }
    let (minor_after, major_after) = faults();
    stop.store(true, Ordering::Relaxed);
    let writebacks = flusher.join().unwrap();
    assert_eq!(stats.a.get(), updates + 1);
    stats.remove().unwrap();
    Measured {
        minor: minor_after - minor,
        major: major_after - major,
        updates,
        writebacks,
    }
}

fn report(what: &str, dir: &Path, m: &Measured) {
    eprintln!(
        "{what} ({}, RAM-backed: {}): {} minor and {} major page faults in {} updates of 4 pages, {} write-backs",
        dir.display(),
        mmstats::file::is_ram_backed(dir),
        m.minor,
        m.major,
        m.updates,
        m.writebacks
    );
}

#[test]
fn the_writer_never_faults_on_the_default_directory_while_files_are_written_back() {
    std::env::remove_var("MMSTATS_PATH");
    let default = mmstats::file::default_dir();
    assert!(
        mmstats::file::is_ram_backed(&default),
        "the default directory {} is not RAM-backed",
        default.display()
    );
    let dir = tempfile::tempdir_in(&default).unwrap();
    let m = measure(dir.path(), Duration::from_secs(3));
    report("default directory", dir.path(), &m);
    assert!(
        m.writebacks > 100,
        "the write-back loop ran {}",
        m.writebacks
    );
    assert_eq!(
        (m.minor, m.major),
        (0, 0),
        "page faults after the first touch"
    );

    // The same on a disk (the temporary directory, which was the default,
    // if it is on one), where the write-backs make the stores fault: the
    // method sees faults where there are some.
    let disk = [std::env::temp_dir(), env!("CARGO_TARGET_TMPDIR").into()]
        .into_iter()
        .find(|d| !mmstats::file::is_ram_backed(d));
    if let Some(disk) = disk {
        let disk = tempfile::tempdir_in(disk).unwrap();
        let m = measure(disk.path(), Duration::from_secs(3));
        report("disk", disk.path(), &m);
        assert!(m.minor + m.major > 0, "no faults on a disk either");
    }
}
