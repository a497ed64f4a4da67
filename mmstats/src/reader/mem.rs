//! The memory a file is parsed from: bytes owned by the caller, a mapping
//! that a writer may be changing right now, which only `crate::map` touches
//! (with atomic loads; its module docs say why that is sound), or a file
//! that nobody promises not to shrink, read through bounded copies.

use std::cell::Cell;
use std::os::unix::fs::FileExt;

use crate::map::ReadMap;

/// Bounds-checked reads of a file's bytes.
pub(super) trait Memory {
    /// The size of the file in bytes.
    fn len(&self) -> usize;

    /// How many bytes from the start can be read at most: a mapping may
    /// cover only the start of a large file.
    fn limit(&self) -> usize {
        usize::MAX
    }

    /// Copies `out.len()` bytes starting at `offset` into `out`; returns
    /// false, leaving `out` alone or partly written, when they are not all
    /// in the file.
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

/// A live mapping: [`ReadMap::copy`] reads it with atomic loads.
impl Memory for ReadMap {
    fn len(&self) -> usize {
        self.file_size()
    }

    fn limit(&self) -> usize {
        ReadMap::len(self)
    }

    #[inline]
    fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
        ReadMap::copy(self, offset, out)
    }
}

/// What went wrong while a file was read through copies.
#[derive(Debug)]
pub(super) enum Fault {
    /// A read came back short: the file is shorter than it was.
    Shrunk {
        offset: usize,
        needed: usize,
        got: usize,
    },
    /// The operating system refused a read.
    Io(std::io::Error),
}

/// A file read through copies (`pread`) into the reader's buffers, for
/// files another user could shrink (see `crate::map`, point 5): a read
/// past the file's end comes back short instead of stopping the process.
/// The first thing that went wrong is kept for the read to report.
///
/// The kernel copies with whatever instructions it likes (`rep movsb` on
/// current x86 machines), and makes no promise that an aligned 8-byte value
/// is loaded in one piece: measured on this project's test machine, a copy
/// of 986 bytes of a live file tore 68 aligned values in 2 M, because the
/// tail of such a copy is moved with loads that straddle values, while
/// copies of whole 64-byte lines at offsets that are multiples of 64 tore
/// none. So every copy is made that way, into a buffer aligned to 64 bytes
/// ([`FileCopy::lines`]), and only then copied out in ordinary memory,
/// where nobody changes it (`tests/torn_copied.rs`).
pub(super) struct FileCopy<'f> {
    file: &'f std::fs::File,
    /// The size of the file when it was opened: nothing past it is read,
    /// whatever the file grows to.
    len: usize,
    fault: Cell<Option<Fault>>,
    /// The bounce buffer that whole lines are copied into, kept by the
    /// caller between reads.
    lines: Cell<Vec<u64>>,
}

/// The unit of every copy from a live file: whole cache lines.
const LINE: usize = 64;

/// How much is copied into the bounce buffer at a time, at most: larger
/// requests are made in pieces of this size, so the buffer stays small.
const BOUNCE: usize = 64 * 1024;

impl<'f> FileCopy<'f> {
    /// A file of `len` bytes, with the bounce buffer a previous read gave
    /// back ([`FileCopy::into_lines`]).
    pub(super) fn new(file: &'f std::fs::File, len: usize, lines: Vec<u64>) -> FileCopy<'f> {
        FileCopy {
            file,
            len,
            fault: Cell::new(None),
            lines: Cell::new(lines),
        }
    }

    /// The bounce buffer, for the next read.
    pub(super) fn into_lines(self) -> Vec<u64> {
        self.lines.into_inner()
    }

    pub(super) fn take_fault(&self) -> Option<Fault> {
        self.fault.take()
    }

    fn fail(&self, fault: Fault) {
        let first = self.fault.take();
        self.fault.set(first.or(Some(fault)));
    }
}

impl Memory for FileCopy<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(out.len()).filter(|&end| end <= self.len) else {
            return false;
        };
        let mut lines = self.lines.take();
        let mut at = offset;
        let mut ok = true;
        while at < end {
            // The lines around [at, end), within the bounce buffer's size
            // and the file.
            let first = at.saturating_sub(at % LINE);
            let last = end
                .min(first.saturating_add(BOUNCE))
                .div_ceil(LINE)
                .saturating_mul(LINE)
                .min(self.len);
            let Some(bytes) = self.lines_of(&mut lines, first, last) else {
                ok = false;
                break;
            };
            let upto = last.min(end);
            match (
                bytes.get(at.saturating_sub(first)..upto.saturating_sub(first)),
                out.get_mut(at.saturating_sub(offset)..upto.saturating_sub(offset)),
            ) {
                (Some(from), Some(to)) => to.copy_from_slice(from),
                _ => {
                    ok = false;
                    break;
                }
            }
            at = upto;
        }
        self.lines.set(lines);
        ok
    }
}

impl FileCopy<'_> {
    /// Copies the file's bytes `[first, last)` into `lines`, with the copy
    /// starting at an address that is a multiple of [`LINE`], and returns
    /// them; `None` when they are not all there.
    fn lines_of<'b>(&self, lines: &'b mut Vec<u64>, first: usize, last: usize) -> Option<&'b [u8]> {
        let size = last.saturating_sub(first);
        let words = LINE / 8;
        lines.resize(size.div_ceil(8).saturating_add(words), 0);
        let buffer: &mut [u8] = bytemuck::cast_slice_mut(lines.as_mut_slice());
        let skip = LINE.wrapping_sub(buffer.as_ptr() as usize % LINE) % LINE;
        let target = buffer.get_mut(skip..skip.saturating_add(size))?;
        let mut done = 0;
        while let Some(rest) = target.get_mut(done..).filter(|rest| !rest.is_empty()) {
            let at64 = u64::try_from(first.saturating_add(done)).ok()?;
            match self.file.read_at(rest, at64) {
                Ok(0) => {
                    self.fail(Fault::Shrunk {
                        offset: first,
                        needed: size,
                        got: done,
                    });
                    return None;
                }
                Ok(n) => done = done.saturating_add(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(Fault::Io(e));
                    return None;
                }
            }
        }
        Some(target)
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    /// Bytes that differ from their neighbours, so that a copy from the
    /// wrong place shows.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn file_of(bytes: &[u8]) -> (tempfile::TempDir, std::fs::File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mmstats");
        std::fs::write(&path, bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        (dir, file)
    }

    /// Every stretch of a file read through copies is the file's bytes
    /// there: at and off line boundaries, within one line, across lines
    /// and across the bounce buffer's 64 KiB, up to the end; a stretch
    /// past the end is refused without a fault.
    #[test]
    fn a_copy_of_a_file_is_its_bytes_wherever_it_starts_and_ends() {
        let bytes = pattern(200_000);
        let (_dir, file) = file_of(&bytes);
        let copy = FileCopy::new(&file, bytes.len(), Vec::new());
        assert_eq!(Memory::len(&copy), bytes.len());
        assert_eq!(copy.limit(), usize::MAX);
        assert!(copy.live());
        assert!(copy.as_slice().is_none());
        for (offset, len) in [
            (0, 1),
            (0, 64),
            (3, 5),
            (60, 10),
            (64, 64),
            (100, 1000),
            (65_530, 20),
            (1, 150_000),
            (131_000, 69_000),
            (199_999, 1),
            (200_000, 0),
        ] {
            let mut out = vec![0xAA; len];
            assert!(copy.copy(offset, &mut out), "{offset} {len}");
            assert!(out == bytes[offset..offset + len], "{offset} {len}");
        }
        let mut out = [0; 2];
        assert!(!copy.copy(199_999, &mut out));
        assert!(!copy.copy(usize::MAX, &mut out));
        assert!(copy.take_fault().is_none());
        // The bounce buffer is kept for the next read: large reads are made
        // in pieces of 64 KiB (and a line, for the alignment), so it grew to
        // that once, and no more.
        let lines = copy.into_lines();
        let piece = (BOUNCE + LINE) / 8;
        assert!(
            (piece..2 * piece).contains(&lines.capacity()),
            "{}",
            lines.capacity()
        );
    }

    /// A file cut short after it was opened: the copy fails and says how
    /// much it got, and of two faults the first is kept.
    #[test]
    fn a_copy_of_a_file_that_shrank_is_refused_with_its_fault() {
        let bytes = pattern(10_000);
        let (dir, file) = file_of(&bytes);
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("x.mmstats"))
            .unwrap()
            .set_len(1000)
            .unwrap();
        let copy = FileCopy::new(&file, bytes.len(), vec![1, 2, 3]);
        let mut out = [0; 10];
        assert!(copy.copy(100, &mut out));
        assert_eq!(out, bytes[100..110]);
        let mut out = vec![0; 3000];
        assert!(!copy.copy(5000, &mut out));
        assert!(!copy.copy(500, &mut out));
        match copy.take_fault() {
            Some(Fault::Shrunk {
                offset,
                needed,
                got,
            }) => assert_eq!((offset, needed, got), (4992, 3008, 0)),
            other => panic!("{other:?}"),
        }
        assert!(copy.take_fault().is_none());
    }

    /// Bytes in memory are read as they are and never change; a mapping
    /// reads the start it covers and knows the file's whole size.
    #[test]
    fn memory_and_a_mapping_say_what_they_hold() {
        let bytes = pattern(10_000);
        let memory: &[u8] = &bytes;
        assert_eq!(Memory::len(memory), 10_000);
        assert_eq!(memory.limit(), usize::MAX);
        assert!(!memory.live());
        assert_eq!(Memory::as_slice(memory), Some(&bytes[..]));
        let mut out = [0; 3];
        assert!(memory.copy(9_997, &mut out));
        assert_eq!(out, bytes[9_997..]);
        assert!(!memory.copy(9_998, &mut out));
        assert!(!memory.copy(usize::MAX, &mut out));
        let (_dir, file) = file_of(&bytes);
        let map = ReadMap::map(&file, 5000).unwrap().unwrap();
        assert_eq!(Memory::len(&map), 10_000);
        assert_eq!(map.limit(), 5000);
        assert!(map.live());
        assert!(map.as_slice().is_none());
        assert!(Memory::copy(&map, 4997, &mut out));
        assert_eq!(out, bytes[4997..5000]);
        assert!(!Memory::copy(&map, 4998, &mut out));
    }
    /// A piece is copied into the bounce buffer at an address that is a
    /// multiple of 64, with a line to spare for that and no more: one
    /// piece of 64 KiB makes the buffer 64 KiB and a line.
    #[test]
    fn pieces_are_copied_to_whole_lines_of_the_bounce_buffer() {
        let bytes = pattern(BOUNCE * 2);
        let (_dir, file) = file_of(&bytes);
        let copy = FileCopy::new(&file, bytes.len(), Vec::new());
        let mut lines = Vec::new();
        for (first, last) in [(0, 64), (64, 1000), (128, 128 + BOUNCE)] {
            let got = copy.lines_of(&mut lines, first, last).unwrap();
            assert_eq!(got.as_ptr() as usize % LINE, 0);
            assert!(got == &bytes[first..last]);
        }
        let mut out = vec![0; BOUNCE];
        assert!(copy.copy(0, &mut out));
        assert!(out == bytes[..BOUNCE]);
        assert_eq!(copy.into_lines().len(), (BOUNCE + LINE) / 8);
    }

    /// A file the reader may not read (here opened for writing only) is a
    /// fault of the operating system's, not a read tried forever.
    #[test]
    fn a_copy_the_system_refuses_is_an_io_fault() {
        let (dir, _file) = file_of(&pattern(100));
        let path = dir.path().join("x.mmstats");
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let copy = FileCopy::new(&file, 100, Vec::new());
        let mut out = [0; 10];
        assert!(!copy.copy(0, &mut out));
        match copy.take_fault() {
            Some(Fault::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
