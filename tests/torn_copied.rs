//! Torn reads through the copy path: the reader reads a file that users
//! other than its owner may write (mode 0666) through copies (`pread` into
//! its buffers) instead of a mapping, and the kernel, not an atomic load,
//! copies each value. A writer process updates fields of every width as fast
//! as it can with values whose halves are equal; every aligned value read
//! must be one that was written. The same reader against an
//! original-style packed file, whose 8-byte value spans two cache lines,
//! sees tears, so the test would catch them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mmstats::reader::{Frame, MappedFile, ValueRef};

/// How many aligned 8-byte values the aligned run reads at least: each
/// read of the file is a system call, and against a writer spinning on the
/// other core the copies run from about 10,000 to 60,000 a second.
const WIDE_READS: u64 = 10_000_000;

/// How many times the reader must see the counter change: proof that the
/// writer was writing while it read (the loop runs until then, however
/// loaded the machine).
const MIN_CHANGES: u64 = 1000;

/// A safety net, not a speed target.
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// How long the aligned run samples at most.
const SAMPLE_FOR: Duration = Duration::from_secs(150);

/// Each run starts a writer that spins on one core: one at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    debug_dir.join("examples").join(name)
}

/// The example `stress_writer`, killed when dropped.
struct Writer(Child);

impl Writer {
    fn start(path: &Path, packed: bool) -> Writer {
        let mut command = Command::new(example("stress_writer"));
        command.arg(path).args(["--seconds", "900"]);
        if packed {
            command.arg("--packed");
        }
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        // Writable by everyone: the reader must not map it.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
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

fn halves_equal(v: u64, bits: u32) -> bool {
    let mask = (1u64 << bits) - 1;
    (v >> bits) & mask == v & mask
}

/// Says `line` past the harness's capture: the figures the Guarantees
/// chapter quotes.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "torn_copied: {line}");
}

#[derive(Debug, Default)]
struct Tally {
    reads: u64,
    wide_reads: u64,
    torn_wide: u64,
    narrow_reads: u64,
    torn_narrow: u64,
    counter_backwards: u64,
    changes: u64,
    unsettled: u64,
    unstable: u64,
}

#[test]
fn the_copy_path_against_a_tight_loop_writer() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torture.mmstats");
    let mut writer = Writer::start(&path, false);
    let file = MappedFile::open(&path).unwrap();
    assert!(!file.is_mapped(), "a file others may write is not mapped");
    let mut frame = Frame::new();
    let mut tally = Tally::default();
    let mut last = 0;
    let started = Instant::now();
    // Reads until it has seen enough, or for at most SAMPLE_FOR: with the
    // groups' and double buffers' re-reads each a system call, a read of
    // the file can take milliseconds against a writer spinning on the
    // other core. Every read made is checked either way.
    while (tally.wide_reads < WIDE_READS || tally.changes < MIN_CHANGES)
        && started.elapsed() < SAMPLE_FOR
    {
        match file.read_into(&mut frame) {
            Ok(()) => {}
            // A double-buffered value (the 16-bit gauge) whose writer
            // flipped its buffers during every one of the reader's tries:
            // a typed error, never a torn value. The stress writer flips
            // them in a tight loop, faster than the copies are made.
            Err(mmstats::reader::ReadError::File { error, .. })
                if matches!(*error, mmstats::reader::ReadError::UnstableBuffer { .. }) =>
            {
                tally.unstable += 1;
                continue;
            }
            Err(e) => panic!("{e}"),
        }
        tally.reads += 1;
        tally.unsettled += frame.unsettled().count() as u64;
        for field in frame.fields() {
            match (field.label, field.value) {
                ("counter", ValueRef::Unsigned(n)) => {
                    tally.wide_reads += 1;
                    if n < last {
                        tally.counter_backwards += 1;
                    }
                    if n != last {
                        tally.changes += 1;
                    }
                    last = n;
                }
                ("wide", ValueRef::Unsigned(v)) => {
                    tally.wide_reads += 1;
                    if !halves_equal(v, 32) {
                        tally.torn_wide += 1;
                    }
                }
                ("float", ValueRef::Float(f)) => {
                    tally.wide_reads += 1;
                    if !halves_equal(f.to_bits(), 32) {
                        tally.torn_wide += 1;
                    }
                }
                ("int", ValueRef::Signed(v)) => {
                    tally.narrow_reads += 1;
                    if !halves_equal(v as u32 as u64, 16) {
                        tally.torn_narrow += 1;
                    }
                }
                ("short", ValueRef::Unsigned(v)) => {
                    tally.narrow_reads += 1;
                    if !halves_equal(v, 8) {
                        tally.torn_narrow += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert!(writer.is_running(), "the writer must outlive the reads");
    drop(writer);
    report(&format!("{tally:?} in {:?}", started.elapsed()));
    // The writer was seen writing while the copies were made.
    assert!(tally.changes >= 10, "{tally:?}");
    assert!(tally.wide_reads >= 10_000, "{tally:?}");
    // Every aligned value read through the copies is one that was
    // written (see `FileCopy` in the reader: whole 64-byte lines).
    let torn = tally.torn_wide + tally.torn_narrow;
    report(&format!("copy path: {torn} torn values"));
    assert_eq!(torn, 0, "{tally:?}");
}

#[test]
fn the_copy_path_sees_tears_in_a_value_across_cache_lines() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packed.mmstats");
    let _writer = Writer::start(&path, true);
    let file = MappedFile::open(&path).unwrap();
    assert!(!file.is_mapped());
    let mut frame = Frame::new();
    let (mut reads, mut torn) = (0u64, 0u64);
    let started = Instant::now();
    while torn < 10 {
        assert!(
            started.elapsed() < GIVE_UP_AFTER,
            "{torn} torn in {reads} reads"
        );
        file.read_into(&mut frame).unwrap();
        reads += 1;
        if let Some(ValueRef::Unsigned(v)) = frame.field_at(0).map(|f| f.value) {
            if !halves_equal(v, 32) {
                torn += 1;
            }
        }
    }
    report(&format!("packed file: {torn} torn in {reads} reads"));
}
