//! All of the crate's `unsafe` code, which the crate denies everywhere else:
//! the memory that backs a stats object and the typed slots through which
//! field handles store their values; the reader's atomic copies out of a
//! mapped file; and the handler that tells a forked child it was forked.
//!
//! The argument for soundness, in one place. The writer's side:
//!
//! 1. A [`Region`] owns the memory (a shared file mapping, or heap memory for
//!    a stats object that has no file) and never moves or resizes it.
//! 2. A [`Slot`] or [`Bytes`] is only made by [`Region::slot`] and
//!    [`Region::bytes`], which check that the range lies inside the region and
//!    that a slot is aligned for its width.
//! 3. Slots are only handed to field handles, and the handles live inside a
//!    `Stats<T>` that also owns the region. `Stats` declares the model before
//!    the region, so the handles are dropped before the memory is released,
//!    and it only ever hands out shared references to the model, so a handle
//!    cannot be moved out and outlive the memory.
//! 4. Every access through a slot is an atomic load or store of the slot's
//!    width. Other processes map the same file and read it concurrently;
//!    atomics make those reads race-free in Rust's model, and an aligned
//!    atomic store is one machine store that no reader can see half done.
//!    Handles are `Send` but not `Sync`, so one thread writes at a time.
//!    The one plain access, [`Region::bytes_mut`], borrows the whole region
//!    mutably to write the headers before any slot exists and before the
//!    file is published under its name.
//!
//! The reader's side:
//!
//! 5. A [`ReadMap`] owns a shared, read-only mapping of a stats file that a
//!    writer (another process, or a thread of this one through its own
//!    mapping) may be updating while it is read. The mapping stays valid as
//!    long as the `ReadMap` lives, even if the file is deleted. A load from
//!    a page past the file's end raises `SIGBUS`, which stops the process,
//!    so a file is only mapped when nobody but the reading user and root
//!    can make it shorter ([`mappable`], the only way to a `ReadMap`):
//!
//!    * it is a regular file, and the checks are made on the descriptor
//!      that is then mapped (`fstat`, `fstatfs`), never on a path that
//!      could name another file by the time it is opened;
//!    * its owner is the reading user (the effective uid) or root. Only its
//!      owner and root may change its mode, and only root its owner;
//!    * it has no group or other write permission. To shorten a file a
//!      process needs it open for writing (`ftruncate`) or write permission
//!      (`truncate`), and with neither bit set only the owner and root have
//!      that permission. An ACL entry that grants write to another user or
//!      group sets the group write bit (the bits then show the ACL's mask),
//!      so no such entry hides behind clear bits;
//!    * it is not on a file system that another machine or a user-space
//!      server serves (NFS, SMB, FUSE, 9P, Ceph, AFS): there the bytes
//!      behind a page can go away or fail to arrive without any local
//!      process shrinking the file.
//!
//!    Every other file is read through bounded copies (`pread` into the
//!    reader's own buffers, `crate::reader`): a file that shrinks under
//!    such a read gives a short read, which the reader reports as a typed
//!    error. What is left is a trusted user shrinking their own file (no
//!    writer of this crate ever does; `crate::file` sizes a file once,
//!    before it is published, and the cleaner only unlinks), a descriptor
//!    opened for writing while the file was still writable by others and
//!    kept after its mode changed (only the owner or root changes the
//!    mode, and a file of this crate is created with its final mode), and
//!    a disk that fails to read a page back, which ends the process as it
//!    would end any program that maps files. The mapping covers at most
//!    the reader's byte limit, never more of a large file than a read may
//!    look at.
//! 6. No reference to its bytes is ever made: a `&[u8]` would promise the
//!    compiler that they do not change. [`ReadMap::copy`] is the only way to
//!    them. It checks that the whole range lies inside the mapping before it
//!    makes a pointer, and reads every byte with an atomic load through a
//!    raw pointer, so all of this process's accesses to the mapping are
//!    atomic and race-free in Rust's model, like the writer's (point 4).
//! 7. Every load is aligned for its type, checked at run time: a value of
//!    2, 4 or 8 bytes at an address aligned for its width is read with one
//!    load of that width, so a value the writer stored with one aligned
//!    store never reads torn; anything else is read a byte at a time, with
//!    aligned 8-byte words in the middle of a long range.
//! 8. The loads are `Relaxed`: the pages are mapped read-only, and Rust
//!    guarantees only relaxed loads of at most the target's limit (8 bytes
//!    on 64-bit targets, 4 on others) to work on read-only memory; stronger
//!    loads may be compiled to instructions that write. Callers that need
//!    acquire ordering follow a copy with `fence(Ordering::Acquire)`, which
//!    gives the same guarantee.
//!
//! And the fork handler: [`fork_generation`] registers, once, a plain
//! function that does nothing but an atomic add, which a child may do after
//! `fork`.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

use memmap2::MmapMut;

/// Counts the `fork()`s this process has gone through as a child: bumped in
/// the child by a `pthread_atfork` handler. Per-thread stats compare it with
/// the value they were made under, so a forked child makes files of its own
/// instead of writing into its parent's.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static FORK_HANDLER: std::sync::Once = std::sync::Once::new();

extern "C" fn after_fork_in_child() {
    // Async-signal-safe: one atomic add, no allocation, no lock.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation, without the registration check of
/// [`fork_generation`]: for a hot path whose state was made after a call
/// of [`fork_generation`] (which registered the handler for good, in this
/// process and in its children), so that a state made before a `fork()`
/// is told apart in the child.
#[inline]
pub(crate) fn fork_generation_registered() -> u64 {
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// The current fork generation (see [`FORK_GENERATION`]), registering the
/// handler the first time.
pub(crate) fn fork_generation() -> u64 {
    FORK_HANDLER.call_once(|| {
        // SAFETY: the handler is a plain `extern "C" fn` with no arguments
        // that only does an atomic add, which is allowed in a child after
        // fork; registering has no other precondition. A failure (ENOMEM)
        // leaves the generation at zero: a child would then keep writing its
        // parent's per-thread files, as with no handler at all.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// The memory behind one stats object.
#[derive(Debug)]
pub(crate) enum Region {
    /// A writable shared mapping of a stats file.
    Mapped(MmapMut),
    /// Heap memory, for stats that are not published in a file. Held as
    /// `u64` words so that it is 8-byte aligned like a mapping.
    Memory(Box<[u64]>),
}

impl Region {
    /// Maps the first `len` bytes of `file` shared and writable.
    ///
    /// The file must be one this process has just created (with `O_EXCL`)
    /// and sized to at least `len` bytes.
    pub(crate) fn map_file(file: &std::fs::File, len: usize) -> std::io::Result<Region> {
        // SAFETY: memmap2 requires that the file not be truncated or resized
        // while mapped, or accesses fault. The file was created by this
        // process under a private temporary name and sized by it; once
        // published, its writer holds a shared lock on it for life, and the
        // tools of this crate never truncate a file (the cleaner only unlinks
        // files it can lock exclusively, and unlinking keeps the mapping
        // valid). Other processes can only read it or unlink it.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(file)? };
        Ok(Region::Mapped(map))
    }

    /// Heap memory of at least `len` bytes, zeroed.
    pub(crate) fn memory(len: usize) -> Region {
        Region::Memory(vec![0u64; len.div_ceil(8)].into_boxed_slice())
    }

    /// The bytes of the region, for writing headers before any slot exists.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Region::Mapped(map) => &mut map[..],
            Region::Memory(words) => {
                let len = words.len() * 8;
                // SAFETY: the box holds `len` initialized bytes (u64 has no
                // padding), u8 has no alignment requirement, and the returned
                // slice borrows `self` mutably, so nothing else accesses the
                // memory while it lives.
                unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
            }
        }
    }

    fn base_and_len(&self) -> (NonNull<u8>, usize) {
        match self {
            Region::Mapped(map) => {
                let ptr = map.as_ptr().cast_mut();
                // A mapping is never at address zero; a dangling pointer with
                // length zero is never dereferenced (every range check fails).
                (NonNull::new(ptr).unwrap_or(NonNull::dangling()), map.len())
            }
            Region::Memory(words) => {
                let ptr = words.as_ptr().cast_mut().cast::<u8>();
                (
                    NonNull::new(ptr).unwrap_or(NonNull::dangling()),
                    words.len() * 8,
                )
            }
        }
    }

    /// A slot for one `W` at `offset`, if it lies inside the region and is
    /// aligned for `W`.
    pub(crate) fn slot<W: Word>(&self, offset: usize) -> Option<Slot<W>> {
        let (base, len) = self.base_and_len();
        let end = offset.checked_add(std::mem::size_of::<W>())?;
        if end > len {
            return None;
        }
        // SAFETY: offset + size_of::<W>() <= len, so the pointer stays inside
        // the region's allocation (or one past its end at most).
        let ptr = unsafe { base.as_ptr().add(offset) };
        if ptr.align_offset(std::mem::align_of::<W>()) != 0 {
            return None;
        }
        NonNull::new(ptr.cast::<W>()).map(|ptr| Slot { ptr })
    }

    /// `count` consecutive values of width `W` from `offset`, if they lie
    /// inside the region and the first is aligned.
    pub(crate) fn slots<W: Word>(&self, offset: usize, count: usize) -> Option<Slots<W>> {
        let (base, len) = self.base_and_len();
        let end = count
            .checked_mul(std::mem::size_of::<W>())
            .and_then(|size| offset.checked_add(size))?;
        if end > len {
            return None;
        }
        // SAFETY: offset + count * size_of::<W>() <= len, so the pointer
        // stays inside the region's allocation (or one past its end at most).
        let ptr = unsafe { base.as_ptr().add(offset) };
        if ptr.align_offset(std::mem::align_of::<W>()) != 0 {
            return None;
        }
        NonNull::new(ptr.cast::<W>()).map(|ptr| Slots { ptr, len: count })
    }

    /// A byte range of `size` bytes at `offset`, if it lies inside the region.
    pub(crate) fn bytes(&self, offset: usize, size: usize) -> Option<Bytes> {
        let (base, len) = self.base_and_len();
        if offset.checked_add(size)? > len {
            return None;
        }
        // SAFETY: offset + size <= len, so the pointer stays inside the
        // region's allocation (or one past its end at most).
        let ptr = unsafe { base.as_ptr().add(offset) };
        NonNull::new(ptr).map(|ptr| Bytes { ptr, len: size })
    }

    /// Writes the mapping back to its file; `sync` waits for the disk.
    pub(crate) fn flush(&self, sync: bool) -> std::io::Result<()> {
        match self {
            Region::Mapped(map) if sync => map.flush(),
            Region::Mapped(map) => map.flush_async(),
            Region::Memory(_) => Ok(()),
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A machine word that a slot can hold: `u8`, `u16`, `u32` or `u64`.
pub trait Word: Copy + sealed::Sealed {
    #[doc(hidden)]
    /// Stores `value` at `ptr` with one atomic store.
    ///
    /// # Safety
    /// `ptr` must be valid for writes of `Self`, aligned, and only ever
    /// accessed atomically while other threads may access it.
    unsafe fn store(ptr: *mut Self, value: Self);
    #[doc(hidden)]
    /// Stores `value` at `ptr` with one atomic store with release ordering:
    /// every store before it is visible to a reader that sees this one.
    ///
    /// # Safety
    /// As for [`Word::store`].
    unsafe fn store_release(ptr: *mut Self, value: Self);
    #[doc(hidden)]
    /// Loads the value at `ptr` with one atomic load.
    ///
    /// # Safety
    /// As for [`Word::store`], for reads.
    unsafe fn load(ptr: *mut Self) -> Self;
}

macro_rules! word {
    ($t:ty, $atomic:ty) => {
        impl sealed::Sealed for $t {}
        impl Word for $t {
            #[inline(always)]
            unsafe fn store(ptr: *mut Self, value: Self) {
                // SAFETY: the caller guarantees validity and alignment, and
                // the atomic type has the same size and alignment as `$t`.
                unsafe { <$atomic>::from_ptr(ptr) }.store(value, Ordering::Relaxed)
            }
            #[inline(always)]
            unsafe fn store_release(ptr: *mut Self, value: Self) {
                // SAFETY: as for `store`.
                unsafe { <$atomic>::from_ptr(ptr) }.store(value, Ordering::Release)
            }
            #[inline(always)]
            unsafe fn load(ptr: *mut Self) -> Self {
                // SAFETY: as for `store`.
                unsafe { <$atomic>::from_ptr(ptr) }.load(Ordering::Relaxed)
            }
        }
    };
}

word!(u8, AtomicU8);
word!(u16, AtomicU16);
word!(u32, AtomicU32);
word!(u64, AtomicU64);

/// Where one value of width `W` lives in a region (see the module docs).
#[derive(Debug)]
pub struct Slot<W: Word> {
    ptr: NonNull<W>,
}

// SAFETY: a slot is a pointer into a region that its owner keeps alive (module
// docs, point 3), and all access through it is atomic. Moving the handle that
// holds it to another thread is fine; sharing it is not offered (`Slot` is not
// `Sync`), so there is one writer.
unsafe impl<W: Word> Send for Slot<W> {}

impl<W: Word> Slot<W> {
    /// Publishes `value` with a single store of the slot's width.
    #[inline(always)]
    pub fn store(&self, value: W) {
        // SAFETY: `Region::slot` checked bounds and alignment, the region
        // outlives the slot (module docs), and every access is atomic.
        unsafe { W::store(self.ptr.as_ptr(), value) }
    }

    /// Publishes `value` with a single store that also publishes every
    /// store made before it (release ordering).
    #[inline(always)]
    pub fn store_release(&self, value: W) {
        // SAFETY: as for `store`.
        unsafe { W::store_release(self.ptr.as_ptr(), value) }
    }

    /// Reads the value back: one atomic load of the slot, which this handle
    /// alone writes, so it is the value stored last (no system call).
    #[inline(always)]
    pub fn load(&self) -> W {
        // SAFETY: as for `store`.
        unsafe { W::load(self.ptr.as_ptr()) }
    }
}

/// Consecutive values of width `W` in a region, such as a histogram's
/// buckets: one pointer for all of them, each access checked against their
/// number.
#[derive(Debug)]
pub struct Slots<W: Word> {
    ptr: NonNull<W>,
    len: usize,
}

// SAFETY: as for `Slot`: the owner keeps the region alive, every access is
// atomic, and the handle is not `Sync`.
unsafe impl<W: Word> Send for Slots<W> {}

impl<W: Word> Slots<W> {
    /// Replaces value `index` by `f` of it (a load and a store, both atomic,
    /// not one atomic step: there is one writer); nothing past the end.
    #[inline(always)]
    pub fn update(&self, index: usize, f: impl FnOnce(W) -> W) {
        if index < self.len {
            // SAFETY: index < len, inside the range `Region::slots` checked;
            // the first value is aligned and so is every later one.
            let ptr = unsafe { self.ptr.as_ptr().add(index) };
            // SAFETY: as above; every access to the region is atomic.
            unsafe { W::store(ptr, f(W::load(ptr))) }
        }
    }

    /// Value `index`, one atomic load; `None` past the end.
    #[cfg(test)]
    pub fn load(&self, index: usize) -> Option<W> {
        if index < self.len {
            // SAFETY: as for `update`.
            Some(unsafe { W::load(self.ptr.as_ptr().add(index)) })
        } else {
            None
        }
    }
}

/// A range of bytes in a region, for text values (see the module docs).
#[derive(Debug)]
pub struct Bytes {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: as for `Slot`: the owner keeps the region alive and every access is
// an atomic byte access.
unsafe impl Send for Bytes {}

impl Bytes {
    /// Size of the range in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `data` to the start of the range, one atomic byte store each,
    /// followed by a NUL when there is room. Bytes past that are left alone.
    pub fn write_c_string(&self, data: &[u8]) {
        let n = data.len().min(self.len);
        for (i, &b) in data.iter().take(n).enumerate() {
            // SAFETY: i < n <= len, inside the range checked by
            // `Region::bytes`; bytes need no alignment; access is atomic.
            unsafe { u8::store(self.ptr.as_ptr().add(i), b) }
        }
        if n < self.len {
            // SAFETY: n < len, as above.
            unsafe { u8::store(self.ptr.as_ptr().add(n), 0) }
        }
    }

    /// Copies the range out, one atomic byte load each.
    pub fn read(&self) -> Vec<u8> {
        (0..self.len)
            // SAFETY: i < len, inside the range checked by `Region::bytes`.
            .map(|i| unsafe { u8::load(self.ptr.as_ptr().add(i)) })
            .collect()
    }
}

/// Why a file is read through copies instead of a mapping (module docs,
/// point 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Untrusted {
    /// Another user owns it.
    Owner(u32),
    /// Its mode lets users other than its owner write it.
    Writable(u32),
    /// It is on a file system served by another machine or a process.
    Remote(u64),
    /// It is not a regular file.
    NotRegular,
}

/// File systems whose pages another machine or a user-space server
/// provides (`statfs(2)`'s magic numbers): NFS, SMB (three), FUSE, 9P,
/// Ceph, AFS (two), Coda.
#[cfg(target_os = "linux")]
const REMOTE_FILE_SYSTEMS: [u64; 10] = [
    0x6969,
    0x517b,
    0xff53_4d42,
    0xfe53_4d42,
    0x6573_5546,
    0x0102_1997,
    0x00c3_6400,
    0x5346_414f,
    0x6b41_4653,
    0x7375_7245,
];

/// Whether `file` may be mapped for reading (module docs, point 5):
/// `metadata` must come from the same open file (`File::metadata` is an
/// `fstat` of its descriptor).
pub(crate) fn mappable(
    file: &std::fs::File,
    metadata: &std::fs::Metadata,
) -> Result<(), Untrusted> {
    use std::os::unix::fs::MetadataExt;
    if !metadata.is_file() {
        return Err(Untrusted::NotRegular);
    }
    let me = rustix::process::geteuid().as_raw();
    let owner = metadata.uid();
    if owner != me && owner != 0 {
        return Err(Untrusted::Owner(owner));
    }
    let mode = metadata.mode();
    if mode & 0o022 != 0 {
        return Err(Untrusted::Writable(mode));
    }
    #[cfg(target_os = "linux")]
    {
        // A file system that cannot say what it is, is not trusted either.
        let kind = rustix::fs::fstatfs(file)
            .map(|stat| u64::try_from(stat.f_type).unwrap_or(u64::MAX))
            .unwrap_or(u64::MAX);
        if kind == u64::MAX || REMOTE_FILE_SYSTEMS.contains(&kind) {
            return Err(Untrusted::Remote(kind));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    Ok(())
}

/// A read-only shared mapping of a stats file that a writer may be updating
/// while it is read: its bytes are only ever copied out with atomic loads
/// (see the module docs, points 5 to 8).
pub(crate) struct ReadMap {
    map: memmap2::MmapRaw,
    /// The size of the file when it was mapped, of which the mapping may
    /// cover only the start.
    file_size: usize,
}

// The reader's copies run on files anyone can write: like the rest of the
// reader, they may not panic on their contents.
#[deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
impl ReadMap {
    /// Maps the first `len` bytes of `file` (at most its size) read-only
    /// and shared, if [`mappable`] says it may be, checking anew on the
    /// descriptor; `Ok(None)` when it may not (read it through copies).
    pub(crate) fn map(file: &std::fs::File, len: usize) -> std::io::Result<Option<ReadMap>> {
        let metadata = file.metadata()?;
        if mappable(file, &metadata).is_err() {
            return Ok(None);
        }
        let file_size = usize::try_from(metadata.len()).unwrap_or(usize::MAX);
        let len = len.min(file_size);
        if len == 0 {
            return Ok(None);
        }
        // Safe to make (an `MmapRaw` lends no reference to its bytes); what
        // makes the loads through it sound is point 5 above, just checked.
        let map = memmap2::MmapOptions::new()
            .len(len)
            .map_raw_read_only(file)?;
        Ok(Some(ReadMap { map, file_size }))
    }

    /// The size of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The size of the file when it was mapped.
    pub(crate) fn file_size(&self) -> usize {
        self.file_size
    }

    /// Copies `out.len()` bytes starting at `offset` into `out`, with atomic
    /// loads (module docs, point 7); returns false, leaving `out` alone, when
    /// they are not all in the mapping.
    pub(crate) fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(out.len()) else {
            return false;
        };
        if end > self.map.len() {
            return false;
        }
        // In bounds of the mapping (checked just above), so `wrapping_add`
        // does not wrap and `at` points into the mapping.
        let at = self.map.as_ptr().wrapping_add(offset).cast_mut();
        let aligned = |align: usize| (at as usize).checked_rem(align) == Some(0);
        match out.len() {
            #[cfg(target_pointer_width = "64")]
            8 if aligned(std::mem::align_of::<AtomicU64>()) => {
                // SAFETY: `at..at + 8` is inside the mapping (bounds
                // checked above), which lives as long as `self` is
                // borrowed, longer than this load; `at` is aligned for
                // `AtomicU64` (checked by the guard). The mapping is never
                // accessed non-atomically by this process (no reference
                // to its bytes is ever made), so all accesses of this
                // process to it are atomic; a relaxed load of 8 bytes on
                // a 64-bit target is allowed on read-only memory.
                let v = unsafe { AtomicU64::from_ptr(at.cast::<u64>()) }.load(Ordering::Relaxed);
                out.copy_from_slice(&v.to_ne_bytes());
            }
            4 if aligned(std::mem::align_of::<AtomicU32>()) => {
                // SAFETY: as for the 8-byte load: `at..at + 4` is in the
                // live mapping, aligned for `AtomicU32`, only ever accessed
                // atomically by this process, and a relaxed 4-byte load is
                // allowed on read-only memory on every target.
                let v = unsafe { AtomicU32::from_ptr(at.cast::<u32>()) }.load(Ordering::Relaxed);
                out.copy_from_slice(&v.to_ne_bytes());
            }
            2 if aligned(std::mem::align_of::<AtomicU16>()) => {
                // SAFETY: as for the 8-byte load: `at..at + 2` is in the
                // live mapping, aligned for `AtomicU16`, only ever accessed
                // atomically by this process, and a relaxed 2-byte load is
                // allowed on read-only memory.
                let v = unsafe { AtomicU16::from_ptr(at.cast::<u16>()) }.load(Ordering::Relaxed);
                out.copy_from_slice(&v.to_ne_bytes());
            }
            _ => {
                // Up to the first 8-aligned address, then a word at a
                // time, then what is left, each of the short stretches with
                // the widest aligned loads that fit (`copy_short`): a long
                // label or text costs an eighth of the loads, and every
                // aligned value of 2, 4 or 8 bytes inside the range is read
                // with one load, so that a group of values copied in one go
                // reads none of them torn.
                #[cfg(target_pointer_width = "64")]
                let head = at.align_offset(std::mem::align_of::<AtomicU64>());
                #[cfg(not(target_pointer_width = "64"))]
                let head = out.len();
                let (head_out, rest) = out.split_at_mut(head.min(out.len()));
                copy_short(at, head_out);
                let mut p = at.wrapping_add(head_out.len());
                let mut words = rest.chunks_exact_mut(8);
                #[cfg(target_pointer_width = "64")]
                for word in &mut words {
                    // SAFETY: `p..p + 8` is inside the live mapping (it
                    // is the part of `at..at + out.len()` that this chunk
                    // of `out` stands for, bounds checked above), and `p`
                    // is aligned for `AtomicU64` (`head` bytes were read
                    // first to reach the alignment, then whole words).
                    // As for the 8-byte load above, the mapping is only
                    // ever accessed atomically by this process and a
                    // relaxed 8-byte load is allowed on read-only memory.
                    let v = unsafe { AtomicU64::from_ptr(p.cast::<u64>()) }.load(Ordering::Relaxed);
                    word.copy_from_slice(&v.to_ne_bytes());
                    p = p.wrapping_add(8);
                }
                copy_short(p, words.into_remainder());
            }
        }
        true
    }
}

/// Copies `out.len()` bytes of a live read-only mapping from `p` into `out`,
/// a 4-byte load at each 4-aligned address with 4 bytes left, else a
/// 2-byte load at each 2-aligned address with 2 left, else a byte: from
/// any start the copy reaches every 2- and 4-aligned address inside the
/// range, so an aligned value of 2 or 4 bytes inside it is read with one
/// load (a 2-byte one may be inside a 4-byte load, also whole).
///
/// The caller guarantees that `p..p + out.len()` lies inside a live
/// mapping that this process only ever accesses atomically (see
/// [`ReadMap::copy`]).
#[deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
fn copy_short(mut p: *mut u8, out: &mut [u8]) {
    let mut rest = out;
    while !rest.is_empty() {
        let aligned = |align: usize| (p as usize).checked_rem(align) == Some(0);
        let n = if aligned(4) && rest.len() >= 4 {
            4
        } else if aligned(2) && rest.len() >= 2 {
            2
        } else {
            1
        };
        let (this, tail) = rest.split_at_mut(n);
        match this {
            [a, b, c, d] => {
                // SAFETY: `p..p + 4` is inside the live mapping (the
                // caller's range, of which `this` stands for the next four
                // bytes), `p` is aligned for `AtomicU32` (checked just
                // above), the mapping is only ever accessed atomically by
                // this process, and a relaxed 4-byte load is allowed on
                // read-only memory.
                let v = unsafe { AtomicU32::from_ptr(p.cast::<u32>()) }.load(Ordering::Relaxed);
                [*a, *b, *c, *d] = v.to_ne_bytes();
            }
            [a, b] => {
                // SAFETY: as for the 4-byte load, for `p..p + 2`, aligned
                // for `AtomicU16`.
                let v = unsafe { AtomicU16::from_ptr(p.cast::<u16>()) }.load(Ordering::Relaxed);
                [*a, *b] = v.to_ne_bytes();
            }
            [a] => {
                // SAFETY: `p` is inside the live mapping (the caller's
                // range); `AtomicU8` needs no alignment; the byte is only
                // ever accessed atomically, and a relaxed 1-byte load is
                // allowed on read-only memory.
                *a = unsafe { AtomicU8::from_ptr(p) }.load(Ordering::Relaxed);
            }
            _ => {}
        }
        p = p.wrapping_add(n);
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_checked_for_bounds_and_alignment() {
        let region = Region::memory(16);
        assert!(region.slot::<u64>(0).is_some());
        assert!(region.slot::<u64>(8).is_some());
        assert!(region.slot::<u64>(9).is_none());
        assert!(region.slot::<u64>(16).is_none());
        assert!(region.slot::<u32>(4).is_some());
        assert!(region.slot::<u32>(2).is_none());
        assert!(region.slot::<u8>(15).is_some());
        assert!(region.slot::<u64>(usize::MAX).is_none());
        assert!(region.bytes(10, 6).is_some());
        assert!(region.bytes(10, 7).is_none());
        assert!(region.bytes(usize::MAX, 2).is_none());
        assert!(region.slots::<u32>(0, 4).is_some());
        assert!(region.slots::<u32>(4, 3).is_some());
        assert!(region.slots::<u32>(4, 4).is_none());
        assert!(region.slots::<u32>(2, 1).is_none());
        assert!(region.slots::<u64>(8, usize::MAX).is_none());
        assert!(region.slots::<u64>(usize::MAX, 1).is_none());
    }

    #[test]
    fn a_run_of_slots_updates_only_inside_itself() {
        let mut region = Region::memory(16);
        let slots = region.slots::<u32>(4, 2).expect("in bounds");
        slots.update(0, |v| v + 7);
        slots.update(1, |v| v + 9);
        slots.update(2, |v| v + 1);
        slots.update(usize::MAX, |v| v + 1);
        assert_eq!(slots.load(1), Some(9));
        assert_eq!(slots.load(2), None);
        let bytes = region.bytes_mut();
        assert_eq!(&bytes[0..4], &[0; 4]);
        assert_eq!(&bytes[4..8], &7u32.to_ne_bytes());
        assert_eq!(&bytes[8..12], &9u32.to_ne_bytes());
        assert_eq!(&bytes[12..16], &[0; 4]);
    }

    #[test]
    fn stores_land_where_the_reader_looks() {
        let mut region = Region::memory(16);
        let slot = region.slot::<u64>(8).expect("in bounds");
        slot.store(0x0102_0304_0506_0708);
        assert_eq!(slot.load(), 0x0102_0304_0506_0708);
        let bytes = region.bytes_mut();
        assert_eq!(&bytes[8..16], &0x0102_0304_0506_0708u64.to_ne_bytes());
    }

    #[test]
    fn read_map_copies_every_range_exactly_and_refuses_what_is_outside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bytes");
        let bytes: Vec<u8> = (0..100u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let map = ReadMap::map(&file, 64)
            .unwrap()
            .expect("this user's own file");
        assert_eq!((map.len(), map.file_size()), (64, 100));
        for offset in 0..64 {
            for len in 0..=(64 - offset) {
                let mut out = vec![0xAA; len];
                assert!(map.copy(offset, &mut out), "{offset} {len}");
                assert_eq!(out, &bytes[offset..offset + len]);
            }
        }
        let mut out = [0u8; 2];
        assert!(!map.copy(63, &mut out));
        assert!(!map.copy(usize::MAX, &mut out));
    }

    #[test]
    fn only_files_no_other_user_can_shrink_are_mapped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [1u8; 16]).unwrap();
        for (mode, mapped) in [(0o644, true), (0o600, true), (0o664, false), (0o646, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let file = std::fs::File::open(&path).unwrap();
            let metadata = file.metadata().unwrap();
            assert_eq!(mappable(&file, &metadata).is_ok(), mapped, "{mode:o}");
            assert_eq!(
                ReadMap::map(&file, 16).unwrap().is_some(),
                mapped,
                "{mode:o}"
            );
        }
        let dir_file = std::fs::File::open(dir.path()).unwrap();
        let metadata = dir_file.metadata().unwrap();
        assert_eq!(mappable(&dir_file, &metadata), Err(Untrusted::NotRegular));
    }

    #[test]
    fn text_is_written_c_style() {
        let region = Region::memory(8);
        let text = region.bytes(0, 8).expect("in bounds");
        text.write_c_string(b"abcdef");
        text.write_c_string(b"xy");
        assert_eq!(text.read(), b"xy\0def\0\0");
        text.write_c_string(b"0123456789");
        assert_eq!(text.read(), b"01234567");
    }
}
