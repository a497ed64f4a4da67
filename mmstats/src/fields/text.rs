use super::gauge::number_type;
use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind, Part, Signature, MAX_VALUE_SIZE};
use crate::map::{Bytes, Slot};
use crate::seqlock;

/// Short UTF-8 text that changes: a state, the last error, a version.
///
/// Stored in `N` bytes (signature `Ns`, 255 by default as in the original).
/// A longer value is cut at the last whole character that fits; a value
/// that fills the field has no terminating NUL; a NUL inside a value ends it.
///
/// A text is a group read together (see [`Kind::Sequence`]): it publishes a
/// second field, its label and `.seq`, a sequence number that is odd while
/// the writer changes the text. This crate's reader reads the text between
/// two equal even numbers, so it never returns a text half old, half new;
/// readers that know nothing of groups (the original among them) read the
/// text and the number as two ordinary fields.
///
/// ```
/// # use mmstats::{MmStats, Text};
/// #[derive(MmStats)]
/// struct Stats { state: Text<8> }
/// let stats = Stats::in_memory();
/// stats.state.set("draining connections");
/// assert_eq!(stats.state.get(), "draining");
/// ```
#[derive(Debug)]
pub struct Text<const N: usize = 255> {
    bytes: Bytes,
    seq: Slot<u64>,
}

const PARTS: [Part; 1] = [Part {
    suffix: ".seq",
    ty: number_type::<u64>(Kind::Sequence),
    same_unit: false,
    help: "odd while the writer changes the text; read the text between two equal even values",
}];

/// The longest prefix of `value` that fits in `size` bytes without cutting a
/// character, stopping at the first NUL.
///
/// Only the bytes that can be stored are looked at: a setter is called on
/// every update, and scanning a long value for a NUL it would cut anyway
/// cost more than storing the bytes.
pub(crate) fn fit(value: &str, size: usize) -> &str {
    let head = &value.as_bytes()[..value.len().min(size)];
    if let Some(nul) = head.iter().position(|&b| b == 0) {
        // A NUL is ASCII, so it always starts a character.
        return &value[..nul];
    }
    let mut end = head.len();
    while end > 0 && !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// The text in `raw`: bytes up to the first NUL, invalid UTF-8 dropped.
pub(crate) fn decode(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    raw[..end]
        .utf8_chunks()
        .map(|chunk| chunk.valid())
        .collect()
}

impl<const N: usize> Text<N> {
    /// Publishes `value`, cut to fit (see the type's docs).
    pub fn set(&self, value: &str) {
        // Odd while the bytes change, even again after them (the group
        // protocol of `crate::seqlock`). The number is read back from the
        // file: `begin` rounds a number left odd (by a writer that died in
        // the middle of an update) up, which keeps the protocol right.
        let next = seqlock::begin(&self.seq, self.seq.load());
        self.bytes.write_c_string(fit(value, N).as_bytes());
        seqlock::end(&self.seq, next);
    }

    /// The value last set.
    pub fn get(&self) -> String {
        decode(&self.bytes.read())
    }
}

pub(crate) const fn text_type(size: usize, kind: Kind) -> FieldType {
    FieldType {
        signature: Signature::text(size),
        value_size: size,
        align: 1,
        buffered: false,
        kind,
        default_unit: "",
        error: if size == 0 {
            Some("a text field needs room for at least one byte: use a size of 1 or more")
        } else if size > MAX_VALUE_SIZE {
            Some("a text field can hold at most 16 MiB")
        } else {
            None
        },
    }
}

impl<const N: usize> Field for Text<N> {
    const TYPE: FieldType = text_type(N, Kind::Text);
    const PARTS: &'static [Part] = &PARTS;

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        Ok(Text {
            bytes: place.bytes()?,
            seq: place.part(0)?.slot::<u64>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_at_a_character_boundary() {
        assert_eq!(fit("hello", 10), "hello");
        assert_eq!(fit("hello", 3), "hel");
        assert_eq!(fit("❤❤❤❤", 10), "❤❤❤");
        assert_eq!(fit("a❤", 2), "a");
        assert_eq!(fit("ab\0cd", 10), "ab");
        assert_eq!(fit("", 1), "");
    }

    #[test]
    fn decoding_drops_invalid_bytes() {
        assert_eq!(decode(b"ab\xe2\x9d"), "ab");
        assert_eq!(decode(b"a\xffb\0c"), "ab");
        assert_eq!(decode(b"full"), "full");
    }
}
