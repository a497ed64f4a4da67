//! What the benchmarks share: short criterion settings, a model with one
//! field of every updatable type, and the baselines they are compared with.
//!
//! Every figure in the book is a ratio against a baseline measured in the
//! same process, so that a busy machine shifts both sides alike.
#![allow(dead_code)]

use std::cell::Cell;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion};
use memmap2::MmapMut;
use mmstats::{Average, Counter, Flag, Gauge, MmStats, MovingAverage, Text, Timer};

/// Short runs: `scripts/bench-report` runs the suite three times and must
/// finish in a few minutes on a shared machine. Command-line options
/// (`--measurement-time`, ...) still win.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args()
}

/// Times `update` called once per iteration with the iteration's number, a
/// value for gauges that costs nothing to make (it is the loop counter).
///
/// Every contender is run by this same loop and must pass its handle or
/// pointer through `black_box` inside `update`: the compiler then cannot keep
/// the value in a register or merge iterations, for any of them.
pub fn per_update(b: &mut Bencher<'_>, mut update: impl FnMut(u64)) {
    b.iter_custom(|iters| {
        let start = Instant::now();
        for i in 0..iters {
            update(i);
        }
        black_box(&mut update);
        start.elapsed()
    })
}

/// One field of every type that changes after creation, with the default
/// fields, as an application would declare it.
#[derive(MmStats)]
#[mmstats(prefix = "bench.")]
pub struct Fields {
    pub counter: Counter,
    pub gauge_u64: Gauge<u64>,
    pub gauge_f64: Gauge<f64>,
    pub gauge_u32: Gauge<u32>,
    pub flag: Flag,
    pub text: Text<32>,
    pub average: Average,
    pub moving: MovingAverage<100>,
    pub timer: Timer<100>,
}

/// A file of one page mapped shared and writable, like a stats file but
/// with nothing in it: the home of the baselines.
pub struct PlainMap {
    _file: std::fs::File,
    map: MmapMut,
}

impl PlainMap {
    pub fn new(dir: &Path, name: &str) -> PlainMap {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.join(name))
            .expect("create the baseline file");
        file.set_len(4096).expect("size the baseline file");
        // SAFETY: the file was just created in a private temporary directory
        // and nothing else resizes it while it is mapped.
        let map = unsafe { MmapMut::map_mut(&file) }.expect("map the baseline file");
        PlainMap { _file: file, map }
    }

    /// An aligned `u64` at `offset` (a multiple of 8 below 4096).
    pub fn word(&mut self, offset: usize) -> *mut u64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= self.map.len());
        self.map[offset..].as_mut_ptr().cast::<u64>()
    }

    pub fn base(&mut self) -> *mut u8 {
        self.map.as_mut_ptr()
    }
}

/// The original's double buffer, written the way a careful writer would:
/// both buffers aligned, the next index and the count kept in the writer's
/// own memory as machine words, the value stored into the buffer readers are
/// not reading, then the index flipped with a release store.
///
/// It exists only to measure what buffering a `u64` would cost; the runtime
/// stores such values unbuffered (see the book's Performance chapter).
pub struct DoubleBuffered {
    index: *mut u8,
    buffers: *mut u64,
    next: Cell<usize>,
    count: Cell<u64>,
}

impl DoubleBuffered {
    /// Lays out the write index at `base + 7` and the buffers at
    /// `base + 8` and `base + 16`.
    ///
    /// # Safety
    /// `base` must be 8-byte aligned, valid for 24 bytes for as long as the
    /// result is used, and accessed by nothing else but atomically.
    pub unsafe fn new(base: *mut u8) -> DoubleBuffered {
        DoubleBuffered {
            // SAFETY: the caller gives 24 valid bytes.
            index: unsafe { base.add(7) },
            // SAFETY: as above; base + 8 is 8-byte aligned.
            buffers: unsafe { base.add(8) }.cast::<u64>(),
            next: Cell::new(0),
            count: Cell::new(0),
        }
    }

    #[inline]
    pub fn incr(&self) {
        let count = self.count.get().wrapping_add(1);
        self.count.set(count);
        let next = self.next.get() & 1;
        // SAFETY: `next` is 0 or 1, so the pointer is one of the two aligned
        // buffers that `new`'s caller vouched for; every access is atomic.
        unsafe { AtomicU64::from_ptr(self.buffers.add(next)) }.store(count, Ordering::Relaxed);
        // Readers read the buffer the index does not name: flip it so that
        // they read the value just written.
        let flipped = next ^ 1;
        // SAFETY: the index byte lies inside the caller's 24 bytes.
        unsafe { AtomicU8::from_ptr(self.index) }.store(flipped as u8, Ordering::Release);
        self.next.set(flipped);
    }
}

/// A text of 32 bytes behind the original's double buffer, written like
/// [`DoubleBuffered`]: the whole text into the buffer readers are not
/// reading, one atomic byte store at a time as the runtime writes texts,
/// then the index flipped. It measures what a tear-free text would cost.
pub struct DoubleBufferedText {
    index: *mut u8,
    buffers: *mut u8,
    next: Cell<usize>,
}

impl DoubleBufferedText {
    pub const SIZE: usize = 32;

    /// Lays out the write index at `base` and the buffers after it.
    ///
    /// # Safety
    /// `base` must be valid for `1 + 2 * SIZE` bytes for as long as the
    /// result is used, and accessed by nothing else but atomically.
    pub unsafe fn new(base: *mut u8) -> DoubleBufferedText {
        DoubleBufferedText {
            index: base,
            // SAFETY: the caller gives 1 + 2 * SIZE valid bytes.
            buffers: unsafe { base.add(1) },
            next: Cell::new(0),
        }
    }

    #[inline]
    pub fn set(&self, text: &str) {
        let next = self.next.get() & 1;
        let bytes = &text.as_bytes()[..text.len().min(Self::SIZE)];
        // SAFETY: `next` is 0 or 1, so the buffer lies inside the caller's
        // bytes; every access is atomic.
        let buffer = unsafe { self.buffers.add(next * Self::SIZE) };
        for (i, &b) in bytes.iter().enumerate() {
            // SAFETY: i < SIZE, inside the buffer.
            unsafe { AtomicU8::from_ptr(buffer.add(i)) }.store(b, Ordering::Relaxed);
        }
        if bytes.len() < Self::SIZE {
            // SAFETY: len < SIZE, inside the buffer.
            unsafe { AtomicU8::from_ptr(buffer.add(bytes.len())) }.store(0, Ordering::Relaxed);
        }
        let flipped = next ^ 1;
        // SAFETY: the index byte is the caller's first byte.
        unsafe { AtomicU8::from_ptr(self.index) }.store(flipped as u8, Ordering::Release);
        self.next.set(flipped);
    }
}

/// Removes every entry of `dir` (files left by finished writers).
pub fn empty_dir(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("list the directory") {
        let path = entry.expect("read an entry").path();
        std::fs::remove_file(&path).expect("remove a file");
    }
}
