//! The memory a file is parsed from: bytes owned by the caller, or a mapping
//! that a writer may be changing right now, which only `crate::map` touches
//! (with atomic loads; its module docs say why that is sound).

use crate::map::ReadMap;

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
/// A live mapping: [`ReadMap::copy`] reads it with atomic loads.
impl Memory for ReadMap {
    fn len(&self) -> usize {
        ReadMap::len(self)
    }

    #[inline]
    fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
        ReadMap::copy(self, offset, out)
    }
}
