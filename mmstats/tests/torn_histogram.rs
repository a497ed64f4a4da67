//! A histogram is always read whole: a writer thread records values as
//! fast as it can, spread over many buckets, while this thread reads the
//! same file through its own mapping ten million times; in every read
//! whose group settled, the count equals the sum of the buckets. The same
//! words loaded without the sequence protocol do disagree, so the protocol
//! is what keeps them together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mmstats::reader::{Frame, MappedFile, ValueRef};
use mmstats::{Histogram, MmStats};

#[derive(MmStats)]
#[mmstats(defaults = false)]
struct Torn {
    #[mmstats(unit = "seconds")]
    latency: Histogram,
}

/// How many reads through the reader, at least.
const READS: u64 = 10_000_000;

/// How many changes of the count the reader must see, at least: proof
/// that the writer was writing while it read.
const MIN_CHANGES: u64 = 1000;

/// How long the reader samples at most. This file is a test of the
/// library's package, so the writer's generic `record` is compiled at the
/// package's `opt-level` (Cargo.toml), as in a program. How many reads
/// settle depends on the machine: with the writer recording flat out on a
/// core of its own, most reads find the group changing and spend their
/// retry budget (a quiet two-core machine: 24,839 settled reads in 240 s,
/// 46,229 unsettled); when the writer is often descheduled, ten million
/// took 109 s on a loaded one. Every read made in the time is checked.
const SAMPLE_FOR: Duration = Duration::from_secs(240);

/// Settled reads the test must have made, at least, to say anything.
const MIN_READS: u64 = 1000;

struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(dir: &std::path::Path) -> (Writer, std::path::PathBuf) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_path_buf();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let stats = Torn::builder().dir(&dir).create().unwrap();
        tx.send(stats.path().unwrap().to_path_buf()).unwrap();
        let mut n = 0u64;
        while !flag.load(Ordering::Relaxed) {
            for _ in 0..1024 {
                // 1 us to about 1 s, over some 300 buckets.
                stats
                    .latency
                    .record(1e-6 * f64::from((n % 1_000_003) as u32 + 1));
                n = n.wrapping_add(7919);
            }
        }
        n
    });
    let path = rx.recv().unwrap();
    (
        Writer {
            stop,
            thread: Some(thread),
        },
        path,
    )
}

#[test]
fn a_histogram_is_always_read_whole_while_its_writer_records() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, path) = start(dir.path());
    let file = MappedFile::open(&path).unwrap();
    let mut frame = Frame::new();
    let (mut reads, mut unsettled, mut mixed, mut changes, mut last) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let started = Instant::now();
    while (reads < READS || changes < MIN_CHANGES) && started.elapsed() < SAMPLE_FOR {
        file.read_into(&mut frame).unwrap();
        if frame.unsettled().next().is_some() {
            unsettled += 1;
            continue;
        }
        let (Some(ValueRef::Unsigned(count)), Some(ValueRef::Counts(buckets))) = (
            frame.get("latency").map(|f| f.value),
            frame.get("latency.buckets").map(|f| f.value),
        ) else {
            panic!("types")
        };
        let total: u64 = buckets.iter().map(|&c| u64::from(c)).sum();
        reads += 1;
        if total != count {
            mixed += 1;
        }
        if count != last {
            changes += 1;
            last = count;
        }
    }
    let elapsed = started.elapsed();

    // The teeth: the count and the buckets loaded word by word without the
    // sequence protocol.
    let layout = <Torn as MmStats>::MODEL.layout;
    let (count_at, buckets_at) = (layout[0].value_offset, layout[5].value_offset);
    let raw = std::fs::File::open(&path).unwrap();
    // SAFETY: a read-only shared mapping of the writer's file, which the
    // writer never resizes while it runs; read only with atomic loads below.
    let map = unsafe { memmap2::Mmap::map(&raw).unwrap() };
    let load64 = |at: usize| {
        // SAFETY: 8-aligned (the writer aligns values), inside the mapping,
        // stored by the writer with one atomic store.
        unsafe {
            std::sync::atomic::AtomicU64::from_ptr(map[at..].as_ptr().cast::<u64>().cast_mut())
        }
        .load(Ordering::Acquire)
    };
    let load32 = |at: usize| {
        // SAFETY: as above, 4-aligned.
        unsafe {
            std::sync::atomic::AtomicU32::from_ptr(map[at..].as_ptr().cast::<u32>().cast_mut())
        }
        .load(Ordering::Acquire)
    };
    let (mut raw_mixed, mut raw_reads) = (0u64, 0u64);
    let raw_started = Instant::now();
    while raw_mixed < 10 && raw_started.elapsed() < Duration::from_secs(60) {
        raw_reads += 1;
        let count = load64(count_at);
        let total: u64 = (0..754)
            .map(|i| u64::from(load32(buckets_at + 4 * i)))
            .sum();
        if total != count {
            raw_mixed += 1;
        }
    }
    drop(writer);
    println!(
        "histogram: {reads} reads through the reader in {:.1} s, {mixed} mixed, {unsettled} more \
         unsettled, {changes} changes of the count; {raw_mixed} of {raw_reads} unprotected reads mixed",
        elapsed.as_secs_f64()
    );
    assert_eq!(mixed, 0);
    assert!(reads >= MIN_READS, "{reads} settled reads");
    assert!(changes >= MIN_CHANGES, "the writer was writing");
    assert!(raw_mixed > 0, "the unprotected reads never saw a mix");
}
