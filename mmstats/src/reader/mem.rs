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
pub(super) struct FileCopy<'f> {
    file: &'f std::fs::File,
    /// The size of the file when it was opened: nothing past it is read,
    /// whatever the file grows to.
    len: usize,
    fault: Cell<Option<Fault>>,
}

impl<'f> FileCopy<'f> {
    pub(super) fn new(file: &'f std::fs::File, len: usize) -> FileCopy<'f> {
        FileCopy {
            file,
            len,
            fault: Cell::new(None),
        }
    }

    /// What went wrong first, if anything did.
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
        match offset.checked_add(out.len()) {
            Some(end) if end <= self.len => {}
            _ => return false,
        }
        let mut done = 0;
        while let Some(rest) = out.get_mut(done..).filter(|rest| !rest.is_empty()) {
            let at = offset.saturating_add(done);
            let Ok(at64) = u64::try_from(at) else {
                return false;
            };
            match self.file.read_at(rest, at64) {
                Ok(0) => {
                    self.fail(Fault::Shrunk {
                        offset,
                        needed: out.len(),
                        got: done,
                    });
                    return false;
                }
                Ok(n) => done = done.saturating_add(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(Fault::Io(e));
                    return false;
                }
            }
        }
        true
    }
}
