//! No torn reads, proven: a writer process updates fields of every width
//! and a text as fast as it can with values whose halves are equal, while
//! this process reads the same file, and every value read must be one that
//! was written.
//! The same reader against an original-style packed file must see tears, so
//! the test would catch them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mmstats::reader::{MappedFile, Value};

/// How many field reads the aligned run makes at least.
const FIELD_READS: u64 = 10_000_000;

/// How many times a reader must see a value change before its run counts:
/// proof that the writer was writing while it read. The loops run until they
/// have seen this, however slow or loaded the machine, so a run's length
/// depends on the scheduler and its verdict does not.
const MIN_CHANGES: u64 = 1000;

/// A safety net, not a speed target: a run that has not seen what it waits
/// for after this long fails with its tally instead of hanging.
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);

/// The three runs each start a writer that spins on one core; run side by
/// side on a small machine they would mostly take turns instead of
/// overlapping, so they run one at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

mod common;

use common::example;

/// Starts the writer and waits until its file exists.
struct Writer(Child);

impl Writer {
    fn start(path: &Path, packed: bool) -> Writer {
        Writer::start_mode(path, if packed { "--packed" } else { "--aligned" })
    }

    /// Starts the writer with one of its modes (`--packed`, `--text`, ...).
    fn start_mode(path: &Path, mode: &str) -> Writer {
        let mut command = Command::new(example("stress_writer"));
        command.arg(path).args(["--seconds", "900"]);
        if mode != "--aligned" {
            command.arg(mode);
        }
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Writer(child)
    }

    fn is_running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Default)]
struct Tally {
    snapshots: u64,
    field_reads: u64,
    torn_numbers: u64,
    counter_backwards: u64,
    torn_texts: u64,
    text_reads: u64,
    distinct_counters: u64,
    unsettled: u64,
    torn_text_examples: Vec<String>,
}

fn halves_equal(v: u64, bits: u32) -> bool {
    let mask = (1u64 << bits) - 1;
    (v >> bits) & mask == v & mask
}

#[test]
fn readers_never_see_a_torn_number_in_an_aligned_file() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torture.mmstats");
    let mut writer = Writer::start(&path, false);
    let file = MappedFile::open(&path).unwrap();
    let mut tally = Tally::default();
    let mut last_counter = 0;
    let started = Instant::now();
    while tally.field_reads < FIELD_READS || tally.distinct_counters < MIN_CHANGES {
        assert!(started.elapsed() < GIVE_UP_AFTER, "{tally:?}");
        let snapshot = file.read().unwrap();
        tally.snapshots += 1;
        if !snapshot.unsettled.is_empty() {
            tally.unsettled += 1;
        }
        // A group the reader gave up on is named, its values the last ones
        // read: a text left unsettled is not checked.
        let text_settled = !snapshot.unsettled.iter().any(|l| l == "text.seq");
        for stat in &snapshot.stats {
            tally.field_reads += 1;
            match (stat.label.as_str(), &stat.value) {
                ("counter", Value::Unsigned(n)) => {
                    if *n < last_counter {
                        tally.counter_backwards += 1;
                    }
                    if *n != last_counter {
                        tally.distinct_counters += 1;
                    }
                    last_counter = *n;
                }
                ("wide", Value::Unsigned(v)) if !halves_equal(*v, 32) => tally.torn_numbers += 1,
                ("float", Value::Float(f)) if !halves_equal(f.to_bits(), 32) => {
                    tally.torn_numbers += 1
                }
                ("int", Value::Signed(v)) if !halves_equal(*v as u32 as u64, 16) => {
                    tally.torn_numbers += 1
                }
                ("short", Value::Unsigned(v)) if !halves_equal(*v, 8) => tally.torn_numbers += 1,
                ("text", Value::Text(t)) if text_settled => {
                    tally.text_reads += 1;
                    let first = t.as_bytes().first().copied();
                    if t.len() != 64 || !t.bytes().all(|b| Some(b) == first) {
                        tally.torn_texts += 1;
                        if tally.torn_text_examples.len() < 3 {
                            tally.torn_text_examples.push(t.clone());
                        }
                    }
                }
                ("wide" | "float" | "int" | "short" | "text" | "text.seq", _) => {}
                (label, _) if label.starts_with("group") => {}
                (label, value) => panic!("unexpected field {label} = {value:?}"),
            }
        }
    }
    assert!(writer.is_running(), "the writer must outlive the reads");
    drop(writer);
    // The figures the guide's Guarantees chapter quotes.
    println!("{tally:?}");
    assert_eq!(tally.torn_numbers, 0, "{tally:?}");
    assert_eq!(tally.counter_backwards, 0, "{tally:?}");
    // The loop ends only once the writer was seen writing while it read.
    assert!(tally.distinct_counters >= MIN_CHANGES, "{tally:?}");
    // Texts are written byte by byte, but read as a group (between two
    // equal even sequence numbers): never torn either.
    println!(
        "text tears: {} of {} text reads ({:.4}%)",
        tally.torn_texts,
        tally.text_reads,
        100.0 * tally.torn_texts as f64 / tally.text_reads.max(1) as f64
    );
    assert_eq!(tally.torn_texts, 0, "{tally:?}");
}

#[test]
fn the_same_reader_sees_tears_in_a_packed_file() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packed.mmstats");
    let mut writer = Writer::start(&path, true);
    let file = MappedFile::open(&path).unwrap();
    let mut reads = 0u64;
    let mut torn = 0u64;
    let mut changes = 0u64;
    let mut last = 0;
    // Stop at the first few tears; bounded by time, since how soon a tear
    // shows depends on the two processes running at the same moment.
    let started = Instant::now();
    while torn < 10 && started.elapsed() < GIVE_UP_AFTER {
        let snapshot = file.read().unwrap();
        let Value::Unsigned(v) = snapshot.stats[0].value else {
            panic!("a u64")
        };
        reads += 1;
        if v != last {
            changes += 1;
            last = v;
        }
        if !halves_equal(v, 32) {
            torn += 1;
        }
    }
    assert!(writer.is_running());
    drop(writer);
    println!("packed file: {torn} torn values in {reads} reads ({changes} changes seen)");
    assert!(
        torn > 0,
        "no tear in {reads} reads of a value across a cache line"
    );
}

/// The value of `label` in a raw copy of the file, found by walking it.
fn raw_offset(path: &Path, label: &str) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 1;
    loop {
        let len = u16::from_ne_bytes([bytes[at], bytes[at + 1]]) as usize;
        assert!(len > 0, "{label} not found");
        let this = &bytes[at + 2..at + 2 + len];
        at += 2 + len;
        let sig_len = u16::from_ne_bytes([bytes[at], bytes[at + 1]]) as usize;
        at += 2 + sig_len + 1;
        if this == label.as_bytes() {
            return at;
        }
        // Sizes by signature; a double-buffered value (write-buffer byte 0
        // or 1, the 16-bit gauge) takes two.
        let sig = String::from_utf8_lossy(&bytes[at - 1 - sig_len..at - 1])
            .trim()
            .to_string();
        let copies = if bytes[at - 1] == 0xff { 1 } else { 2 };
        at += copies
            * match sig.as_str() {
                "Q" | "q" | "d" => 8,
                "i" | "I" => 4,
                "H" => 2,
                s => s.trim_end_matches('s').parse::<usize>().unwrap(),
            };
    }
}

#[test]
fn a_summary_is_always_read_whole_though_its_fields_change_apart() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torture.mmstats");
    let mut writer = Writer::start(&path, false);
    let file = MappedFile::open(&path).unwrap();

    // Through the reader: count, sum and sequence number always agree in
    // a group read whole. A read gives up on a group after a few
    // milliseconds (the writer may have died in the middle of an update)
    // and says so: such reads are counted apart.
    let mut reads = 0u64;
    let mut unsettled = 0u64;
    let mut mixed = 0u64;
    let mut distinct = 0u64;
    let mut last = 0;
    let started = Instant::now();
    while reads < 500_000 || distinct < MIN_CHANGES {
        assert!(
            started.elapsed() < GIVE_UP_AFTER,
            "{reads} reads, {distinct} changes"
        );
        let snapshot = file.read().unwrap();
        // The stress writer's file has two groups: the summary and the text.
        for label in &snapshot.unsettled {
            assert!(
                ["group.seq", "text.seq"].contains(&label.as_str()),
                "{label}"
            );
        }
        if snapshot.unsettled.iter().any(|l| l == "group.seq") {
            unsettled += 1;
            continue;
        }
        let value = |label: &str| snapshot.get(label).unwrap().value.clone();
        let (Value::Unsigned(count), Value::Float(sum), Value::Unsigned(seq)) =
            (value("group.count"), value("group.sum"), value("group.seq"))
        else {
            panic!("types")
        };
        reads += 1;
        if count as f64 != sum || seq != 2 * count {
            mixed += 1;
        }
        if count != last {
            distinct += 1;
            last = count;
        }
    }

    // The teeth: the same two fields loaded one after the other without the
    // sequence protocol do get mixed, so the protocol is what keeps them whole.
    let count_at = raw_offset(&path, "group.count");
    let sum_at = raw_offset(&path, "group.sum");
    let raw = std::fs::File::open(&path).unwrap();
    // SAFETY: a read-only shared mapping of the writer's file, which the
    // writer never resizes while it runs; read only with atomic loads below.
    let map = unsafe { memmap2::Mmap::map(&raw).unwrap() };
    let load = |at: usize| {
        let ptr = map[at..at + 8].as_ptr().cast::<u64>();
        // SAFETY: `at` is 8-aligned (the writer aligns values) and inside the
        // mapping; the writer stores this word with one atomic store.
        unsafe { std::sync::atomic::AtomicU64::from_ptr(ptr.cast_mut()) }
            .load(std::sync::atomic::Ordering::Acquire)
    };
    let mut unprotected_mixed = 0u64;
    let mut unprotected_reads = 0u64;
    let started = Instant::now();
    while unprotected_mixed < 10
        && (!unprotected_reads.is_multiple_of(4096) || started.elapsed() < GIVE_UP_AFTER)
    {
        unprotected_reads += 1;
        let count = load(count_at);
        let sum = f64::from_bits(load(sum_at));
        if count as f64 != sum {
            unprotected_mixed += 1;
        }
    }
    assert!(writer.is_running());
    drop(writer);
    println!(
        "summary: {reads} reads through the reader, {mixed} mixed, {unsettled} more unsettled, \
         {distinct} distinct counts; {unprotected_mixed} of {unprotected_reads} unprotected \
         reads mixed"
    );
    assert_eq!(mixed, 0);
    assert!(distinct >= MIN_CHANGES, "the writer was writing");
    assert!(
        unprotected_mixed > 0,
        "the unprotected reads never saw a mix"
    );
}

/// How many text reads the text run makes at least.
const TEXT_READS: u64 = 10_000_000;

/// A text is a group guarded by a sequence number, so this crate's reader
/// never returns one half old, half new: 0 torn in ten million reads while
/// a writer changes the text (one letter 64 times, a new letter on every
/// store) as fast as it can. The raw bytes read without the protocol do
/// mix, so the protocol is what keeps the text whole.
#[test]
fn a_text_is_always_read_whole_while_its_writer_changes_it() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.mmstats");
    let mut writer = Writer::start_mode(&path, "--text");
    let file = MappedFile::open(&path).unwrap();
    let mut reads = 0u64;
    let mut torn = 0u64;
    let mut unsettled = 0u64;
    let mut changes = 0u64;
    let mut last = String::new();
    let mut example = None;
    let started = Instant::now();
    while reads < TEXT_READS || changes < MIN_CHANGES {
        assert!(
            started.elapsed() < GIVE_UP_AFTER,
            "{reads} reads, {torn} torn, {changes} changes"
        );
        let snapshot = file.read().unwrap();
        // A group the reader gave up on (after its few milliseconds of
        // tries) is named unsettled, its value the last one read: such
        // reads are counted apart, not checked.
        if !snapshot.unsettled.is_empty() {
            assert_eq!(snapshot.unsettled, ["text.seq"]);
            unsettled += 1;
            continue;
        }
        let Value::Text(text) = &snapshot.get("text").unwrap().value else {
            panic!("a text")
        };
        reads += 1;
        let first = text.as_bytes().first().copied();
        if text.len() != 64 || !text.bytes().all(|b| Some(b) == first) {
            torn += 1;
            example.get_or_insert_with(|| text.clone());
        }
        if *text != last {
            changes += 1;
            last.clone_from(text);
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    // The teeth: the text's bytes copied straight from the mapping, without
    // the sequence protocol, do mix.
    let text_at = raw_offset(&path, "text");
    let raw = std::fs::File::open(&path).unwrap();
    // SAFETY: a read-only shared mapping of the writer's file, which the
    // writer never resizes while it runs; read only with atomic loads below.
    let map = unsafe { memmap2::Mmap::map(&raw).unwrap() };
    let load = |at: usize| {
        let ptr = map[at..at + 1].as_ptr();
        // SAFETY: inside the mapping; the writer stores these bytes with
        // atomic byte stores.
        unsafe { std::sync::atomic::AtomicU8::from_ptr(ptr.cast_mut()) }
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let mut raw_reads = 0u64;
    let mut raw_mixed = 0u64;
    let raw_started = Instant::now();
    while raw_mixed < 10 && raw_started.elapsed() < GIVE_UP_AFTER {
        raw_reads += 1;
        let first = load(text_at);
        if (1..64).any(|i| load(text_at + i) != first) {
            raw_mixed += 1;
        }
    }
    assert!(writer.is_running(), "the writer must outlive the reads");
    drop(writer);
    // The figures the guide's Guarantees chapter quotes.
    println!(
        "text: {torn} torn in {reads} reads ({:.4}%, {unsettled} unsettled, {changes} changes, \
         {:.0} reads/s, first torn {example:?}); unprotected: {raw_mixed} mixed in {raw_reads}",
        100.0 * torn as f64 / reads as f64,
        reads as f64 / seconds
    );
    assert!(changes >= MIN_CHANGES, "the writer was writing");
    assert!(raw_mixed > 0, "the unprotected reads never saw a mix");
    assert_eq!(torn, 0, "{torn} torn texts in {reads} settled reads");
    // Giving up is for a writer stopped in the middle of an update; one
    // that runs is seldom given up on.
    assert!(
        unsettled < reads / 10,
        "{unsettled} reads left the text unsettled, {reads} settled"
    );
}
