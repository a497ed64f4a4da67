//! Files for the reader's unit tests.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use super::{read_bytes, ReadError};
use crate::format;

/// Label, signature, write-buffer byte and value part of a test field.
pub(super) type TestField<'a> = (&'a [u8], &'a [u8], u8, &'a [u8]);

/// A file with the given fields (label, signature, write buffer, value
/// part bytes) and a terminator, padded with zeros to `size`.
pub(super) fn file(fields: &[TestField<'_>], size: usize) -> Vec<u8> {
    let mut out = vec![format::VERSION];
    for (label, sig, wb, value) in fields {
        out.extend_from_slice(&(label.len() as u16).to_ne_bytes());
        out.extend_from_slice(label);
        out.extend_from_slice(&(sig.len() as u16).to_ne_bytes());
        out.extend_from_slice(sig);
        out.push(*wb);
        out.extend_from_slice(value);
    }
    if out.len() < size {
        out.resize(size, 0);
    }
    out
}

pub(super) fn err(bytes: &[u8]) -> ReadError {
    match read_bytes(bytes) {
        Ok(s) => panic!("expected an error, read {s:?}"),
        Err(e) => e,
    }
}
