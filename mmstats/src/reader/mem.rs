//! The memory a file is parsed from: bytes owned by the caller, or a mapping
//! that a writer may be changing right now.
//!
//! All of the reader's `unsafe` code is in this module.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU8, Ordering};

#[cfg(target_pointer_width = "64")]
use std::sync::atomic::AtomicU64;

/// Bounds-checked reads of a file's bytes.
pub(super) trait Memory {
    /// The size of the file in bytes.
    fn len(&self) -> usize;

    /// Copies `out.len()` bytes starting at `offset` into `out`; returns
    /// false, leaving `out` alone, when they are not all in the file.
    fn copy(&self, offset: usize, out: &mut [u8]) -> bool;

    /// Whether a writer may change the bytes while they are read: worth
    /// reading a guarded group again (see `settle_groups`).
    fn live(&self) -> bool {
        true
    }

    /// The bytes themselves, when nobody can change them while they
    /// are read.
    fn as_slice(&self) -> Option<&[u8]> {
        None
    }
}

/// Bytes in ordinary memory: nobody writes them while they are borrowed.
impl Memory for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn live(&self) -> bool {
        false
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }

    #[inline]
    fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(out.len()) else {
            return false;
        };
        match self.get(offset..end) {
            Some(src) => {
                out.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

/// A read-only mapping of a file that a writer (another process, or a
/// thread of this one) may be updating while it is read.
///
/// No `&[u8]` is ever made over it: that would promise the compiler that
/// the bytes do not change. Every byte is instead read with an atomic
/// load through a raw pointer: one load of the value's width for an
/// aligned value of 1, 2, 4 or 8 bytes (the writer of this project stores
/// such values with one aligned store, so they never tear), single-byte
/// loads otherwise.
///
/// The loads are `Relaxed`: the pages are mapped read-only, and Rust
/// guarantees only relaxed loads of at most the target's limit (8 bytes on
/// 64-bit targets, 4 on others) to work on read-only memory; stronger
/// loads may be compiled to instructions that write. Callers that need
/// acquire ordering follow the load with `fence(Ordering::Acquire)`,
/// which gives the same guarantee.
impl Memory for memmap2::MmapRaw {
    fn len(&self) -> usize {
        memmap2::MmapRaw::len(self)
    }

    fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(out.len()) else {
            return false;
        };
        if end > memmap2::MmapRaw::len(self) {
            return false;
        }
        // In bounds of the mapping (checked just above), so `wrapping_add`
        // does not wrap and `at` points into the mapping.
        let at = self.as_ptr().wrapping_add(offset).cast_mut();
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
                // Byte by byte up to the first 8-aligned address, then a
                // word at a time, then the bytes left: a long label or
                // text costs an eighth of the loads.
                let load_byte = |p: *mut u8| {
                    // SAFETY: every caller passes a `p` inside the live
                    // mapping (`at + i` with `i < out.len()`, bounds
                    // checked above); `AtomicU8` needs no alignment; the
                    // byte is only ever accessed atomically by this
                    // process, and a relaxed 1-byte load is allowed on
                    // read-only memory.
                    unsafe { AtomicU8::from_ptr(p) }.load(Ordering::Relaxed)
                };
                #[cfg(target_pointer_width = "64")]
                let head = at.align_offset(std::mem::align_of::<AtomicU64>());
                #[cfg(not(target_pointer_width = "64"))]
                let head = out.len();
                let (head_out, rest) = out.split_at_mut(head.min(out.len()));
                let mut p = at;
                for o in head_out {
                    *o = load_byte(p);
                    p = p.wrapping_add(1);
                }
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
                for o in words.into_remainder() {
                    *o = load_byte(p);
                    p = p.wrapping_add(1);
                }
            }
        }
        true
    }
}
