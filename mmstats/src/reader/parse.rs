//! The grammar of a file: the field list walked with a bounds-checked
//! [`Cursor`], from bytes in memory or from copies out of a live mapping.

use super::error::ReadError;
use super::frame::{put_counts, slot, Entry, Frame};
use super::groups::{reread_buffered, settle_groups, Retries};
use super::limits::Limits;
use super::mem;
use super::meta::{default_kind, read_meta};
use super::text::{finish_text, frame_str, ignore_invalid, push_raw, Span};
use super::types::{EndMarker, Snapshot};
use crate::format::{self, Kind};

/// Why a parse of a file's bytes stopped.
pub(super) enum Halt {
    /// The file is not a good mmstats file.
    Bad(ReadError),
    /// Only the start of the file was copied out of its mapping, and the
    /// parse needs the bytes up to this offset.
    More(usize),
}

impl From<ReadError> for Halt {
    fn from(error: ReadError) -> Halt {
        Halt::Bad(error)
    }
}

/// Walks the bytes of a file, or the start of them copied out of a mapping;
/// every read is bounds-checked and reports what it was reading when it runs
/// past the end.
pub(super) struct Cursor<'b> {
    pub(super) bytes: &'b [u8],
    /// The size of the whole file, of which `bytes` may be the start.
    pub(super) file_size: usize,
    /// How far into the file a read may look (see [`Limits::max_bytes`]).
    pub(super) limit: usize,
    pub(super) pos: usize,
}

impl<'b> Cursor<'b> {
    /// The `n` bytes at `offset`.
    #[inline]
    pub(super) fn at(
        &mut self,
        offset: usize,
        n: usize,
        what: &'static str,
        label: Option<&[u8]>,
    ) -> Result<&'b [u8], Halt> {
        let end = offset.checked_add(n);
        if let Some(bytes) = end
            .filter(|&end| end <= self.limit)
            .and_then(|end| self.bytes.get(offset..end))
        {
            return Ok(bytes);
        }
        match end {
            Some(end) if end <= self.file_size && end > self.limit => {
                Err(Halt::Bad(ReadError::TooLarge {
                    limit: self.limit,
                    what,
                    offset,
                    end,
                }))
            }
            Some(end) if end <= self.file_size => Err(Halt::More(end)),
            _ => Err(Halt::Bad(ReadError::Truncated {
                what,
                label: label.map(ignore_invalid),
                offset,
                needed: n,
                available: self.file_size.saturating_sub(offset),
            })),
        }
    }

    /// The `n` bytes at the current position, moving past them.
    #[inline]
    pub(super) fn take(
        &mut self,
        n: usize,
        what: &'static str,
        label: Option<&[u8]>,
    ) -> Result<&'b [u8], Halt> {
        let bytes = self.at(self.pos, n, what, label)?;
        self.pos = self.pos.saturating_add(n);
        Ok(bytes)
    }

    /// A native `u16` at the current position, moving past it.
    #[inline]
    pub(super) fn u16(&mut self, what: &'static str, label: Option<&[u8]>) -> Result<u16, Halt> {
        match *self.take(2, what, label)? {
            [a, b] => Ok(u16::from_ne_bytes([a, b])),
            _ => Ok(0),
        }
    }

    /// One byte at the current position, moving past it.
    #[inline]
    pub(super) fn u8(&mut self, what: &'static str, label: Option<&[u8]>) -> Result<u8, Halt> {
        match *self.take(1, what, label)? {
            [b] => Ok(b),
            _ => Ok(0),
        }
    }
}

/// Parses a whole file into a new [`Snapshot`], within `limits`.
pub(super) fn parse<M: mem::Memory + ?Sized>(
    mem: &M,
    limits: Limits,
) -> Result<Snapshot, ReadError> {
    let mut frame = Frame::with_limits(limits);
    parse_into(mem, &mut frame)?;
    Ok(frame.to_snapshot())
}

/// Parses a whole file into `frame`; on an error the frame is left empty.
pub(super) fn parse_into<M: mem::Memory + ?Sized>(
    mem: &M,
    frame: &mut Frame,
) -> Result<(), ReadError> {
    let result = parse_memory(mem, frame);
    if result.is_err() {
        frame.clear();
    }
    result
}

/// How much of a mapped file is copied at first when the frame has not read
/// a file before.
const FIRST_COPY: usize = 16 * 1024;

/// How large a copy buffer a frame keeps when the file it was grown for
/// no longer needs it.
const KEPT_COPY: usize = 1 << 20;

/// Parses the bytes of `mem`: in place when they are ordinary memory, else
/// from a copy of as much of the start of the file as the fields and the
/// metadata take (copied anew, larger, when a parse finds it needs more).
/// Values that a copy could have caught half-updated are then read again
/// from the live file: double-buffered values by their protocol, groups
/// guarded by a sequence field by theirs.
fn parse_memory<M: mem::Memory + ?Sized>(mem: &M, frame: &mut Frame) -> Result<(), ReadError> {
    let file_size = mem.len();
    let limit = frame.limits.max_bytes.min(mem.limit());
    // The most that is ever copied: the file, or as much of it as a read
    // may look at.
    let most = file_size.min(limit);
    let mut copy = std::mem::take(&mut frame.copy);
    let mut want = match frame.extent {
        0 => FIRST_COPY,
        extent => extent,
    }
    .clamp(1, most.max(1));
    let parsed = loop {
        let bytes: &[u8] = match mem.as_slice() {
            Some(bytes) => bytes,
            None => {
                copy.clear();
                copy.resize(want.min(most), 0);
                if !mem.copy(0, &mut copy) {
                    // A file read through copies that got shorter (the
                    // caller reports it as such).
                    let wanted = copy.len();
                    copy.clear();
                    break Err(ReadError::Truncated {
                        what: "copy of the file",
                        label: None,
                        offset: 0,
                        needed: wanted,
                        available: 0,
                    });
                }
                &copy
            }
        };
        match parse_bytes(bytes, file_size, limit, frame) {
            Ok(extent) => break Ok(extent),
            Err(Halt::Bad(error)) => break Err(error),
            Err(Halt::More(end)) if bytes.len() < end && end <= most => {
                want = end.max(want.saturating_mul(2)).min(most);
            }
            Err(Halt::More(end)) => {
                // Not reached: a parse asks for more only of a copy shorter
                // than the file.
                break Err(ReadError::Truncated {
                    what: "copy of the file",
                    label: None,
                    offset: 0,
                    needed: end,
                    available: bytes.len(),
                });
            }
        }
    };
    // The copy buffer is kept for the next read, but not one grown for a
    // large file: a read of a file at the byte limit must not leave that
    // much memory behind in every frame that ever met one.
    match parsed {
        Ok(extent) if copy.capacity() > KEPT_COPY.max(extent.saturating_mul(2)) => {
            copy.clear();
            copy.shrink_to(extent);
        }
        Ok(_) => {}
        Err(_) => {
            copy.clear();
            copy.shrink_to(KEPT_COPY);
        }
    }
    frame.copy = copy;
    frame.extent = parsed?;
    let mut retries = Retries::new();
    if mem.as_slice().is_none() {
        reread_buffered(mem, frame, &mut retries)?;
    }
    settle_groups(mem, frame, &mut retries);
    if !frame.as_written {
        super::dynamic::resolve(mem, frame);
    }
    Ok(())
}

/// Parses the bytes of a file of `file_size` bytes, or the start of them,
/// into `frame`. Returns how far into the file it read.
fn parse_bytes(
    bytes: &[u8],
    file_size: usize,
    limit: usize,
    frame: &mut Frame,
) -> Result<usize, Halt> {
    frame.clear();
    let mut text = std::mem::take(&mut frame.text).into_bytes();
    let mut cursor = Cursor {
        bytes,
        file_size,
        limit,
        pos: 0,
    };
    let parsed = parse_raw(&mut cursor, frame, &mut text);
    match parsed {
        Ok(()) => {
            frame.text = finish_text(text, &mut frame.entries);
            if !frame.meta {
                let Frame { text, entries, .. } = frame;
                for entry in entries.iter_mut() {
                    entry.kind = default_kind(frame_str(text, entry.label));
                }
            }
            Ok(cursor.pos.max(frame.fields_end))
        }
        Err(halt) => {
            text.clear();
            frame.text = String::from_utf8(text).unwrap_or_default();
            Err(halt)
        }
    }
}

/// The work of `parse_bytes`: labels, signatures, units, help texts and
/// text values go into `text`, as they are.
fn parse_raw(cursor: &mut Cursor<'_>, frame: &mut Frame, text: &mut Vec<u8>) -> Result<(), Halt> {
    let file_size = cursor.file_size;
    if file_size == 0 {
        return Err(ReadError::Empty.into());
    }
    let version = cursor.u8("version byte", None)?;
    if version != format::VERSION {
        return Err(ReadError::UnsupportedVersion { found: version }.into());
    }
    cursor.pos = format::FIELDS_START;
    let end = loop {
        let remaining = file_size.saturating_sub(cursor.pos);
        if remaining == 0 {
            break EndMarker::Eof;
        }
        if remaining == 1 {
            if cursor.at(cursor.pos, 1, "label size", None)? == [0] {
                break EndMarker::SingleZeroByte;
            }
            // A non-zero byte cannot be a whole label size.
            cursor.u16("label size", None)?;
        }
        let start = cursor.pos;
        let label_size = cursor.u16("label size", None)?;
        if label_size == 0 {
            cursor.pos = start;
            break EndMarker::ZeroLabelSize;
        }
        if frame.entries.len() >= frame.limits.max_fields {
            return Err(ReadError::TooManyFields {
                limit: frame.limits.max_fields,
                offset: start,
            }
            .into());
        }
        parse_field(cursor, start, label_size, frame, text)?;
    };
    frame.version = version;
    frame.file_size = file_size;
    frame.end = end;
    frame.fields_end = cursor.pos;
    frame.meta = end == EndMarker::ZeroLabelSize
        && read_meta(
            cursor,
            frame.fields_end.saturating_add(format::TERMINATOR_BYTES),
            frame,
            text,
        )?;
    Ok(())
}

/// Parses the rest of the field that starts at `start`, once its label size
/// has been read, and adds it to `frame`.
fn parse_field(
    cursor: &mut Cursor<'_>,
    start: usize,
    label_size: u16,
    frame: &mut Frame,
    text: &mut Vec<u8>,
) -> Result<(), Halt> {
    let raw_label = cursor.take(label_size.into(), "label", None)?;
    let label = push_raw(text, raw_label);
    let name = Some(raw_label);
    let label_text = || ignore_invalid(raw_label);
    let signature_size = usize::from(cursor.u16("type signature size", name)?);
    let signature_at = cursor.pos;
    let raw = cursor.take(signature_size, "type signature", name)?;
    // Fields of one type often follow each other: the same stored signature
    // as the field before is neither parsed nor kept again.
    let (info, signature) = match frame.last_signature {
        Some((at, size, info, span))
            if size == signature_size
                && cursor
                    .bytes
                    .get(at..at.saturating_add(size))
                    .is_some_and(|last| last.iter().zip(raw).all(|(a, b)| a == b)) =>
        {
            (info, span)
        }
        _ => {
            let Some(info) = format::parse_signature(raw) else {
                return Err(ReadError::UnknownSignature {
                    signature: String::from_utf8_lossy(raw).into_owned(),
                    label: label_text(),
                    offset: start,
                }
                .into());
            };
            // A known signature is ASCII.
            let span = push_raw(text, format::trim_signature(raw));
            frame.last_signature = Some((signature_at, signature_size, info, span));
            (info, span)
        }
    };
    let write_buffer_offset = cursor.pos;
    let write_buffer = cursor.u8("write-buffer byte", name)?;
    let buffered = write_buffer != format::UNBUFFERED;
    let part = if buffered {
        info.size.checked_mul(2)
    } else {
        Some(info.size)
    };
    let part = match part {
        Some(part) if part <= cursor.file_size => part,
        _ => {
            return Err(ReadError::ValueTooLarge {
                label: label_text(),
                offset: start,
                size: part.unwrap_or(usize::MAX),
                file_size: cursor.file_size,
            }
            .into())
        }
    };
    let value_offset = cursor.pos;
    // The whole value part must be in the file before any of it is read.
    let what = if buffered { "buffers" } else { "value" };
    let value_part = cursor.take(part, what, name)?;
    let value_bytes = if !buffered {
        value_part
    } else {
        // The buffer the writer is not writing: `buffers[write_buffer ^ 1]`.
        match usize::from(write_buffer ^ 1) {
            read @ (0 | 1) => value_part
                .get(read.saturating_mul(info.size)..)
                .and_then(|rest| rest.get(..info.size))
                .unwrap_or_default(),
            // Nothing to read, as in the reference reader.
            _ if info.size == 0 => &[],
            _ => {
                return Err(ReadError::InvalidWriteBuffer {
                    label: label_text(),
                    offset: write_buffer_offset,
                    found: write_buffer,
                }
                .into())
            }
        }
    };
    let mut value = slot(info.value, value_bytes, |b| push_raw(text, b));
    if info.value == format::ValueType::Counts {
        value.text = put_counts(&mut frame.counts, Span::default(), value_bytes);
    }
    frame.entries.push(Entry {
        label,
        signature,
        unit: Span::default(),
        help: Span::default(),
        kind: Kind::Unknown,
        buffered,
        value,
        start,
        value_at: value_offset,
        value_type: info.value,
        value_size: info.size,
    });
    Ok(())
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
    use super::super::testing::{err, file};
    use super::super::{read_bytes, EndMarker, ReadError, Value};
    use crate::format::Kind;

    #[test]
    fn reads_unbuffered_and_buffered_fields() {
        let bytes = file(
            &[
                (b"a", b"Q", 0xFF, &7u64.to_ne_bytes()),
                (b"b", b"   h", 1, &[0xFE, 0xFF, 0x05, 0x00]),
                (b"c", b"4s", 0xFF, b"hi\0x"),
                (b"d", b"?", 0xFF, &[2]),
                (b"e", b"f", 0, &[0, 0, 0, 0, 0, 0, 0x80, 0x3F]),
            ],
            128,
        );
        let s = read_bytes(&bytes).unwrap();
        let values: Vec<_> = s.stats.iter().map(|s| s.value.clone()).collect();
        assert_eq!(
            values,
            [
                Value::Unsigned(7),
                Value::Signed(-2),
                Value::Text("hi".into()),
                Value::Bool(true),
                Value::Float(1.0),
            ]
        );
        assert_eq!(s.stats[1].signature, "h");
        assert!(s.stats[1].buffered && !s.stats[0].buffered);
        assert_eq!(s.end, EndMarker::ZeroLabelSize);
        assert!(!s.meta);
        assert_eq!(s.stats[0].kind, Kind::Unknown);
    }

    #[test]
    fn end_markers() {
        let one = file(&[(b"a", b"b", 0xFF, &[1])], 0);
        let eof = read_bytes(&one).unwrap();
        assert_eq!((eof.end, eof.fields_end), (EndMarker::Eof, one.len()));
        let mut plus_zero = one.clone();
        plus_zero.push(0);
        let single = read_bytes(&plus_zero).unwrap();
        assert_eq!(single.end, EndMarker::SingleZeroByte);
        assert_eq!(single.fields_end, one.len());
        assert_eq!(read_bytes(&[1]).unwrap().end, EndMarker::Eof);
        assert_eq!(
            read_bytes(&[1, 0, 0]).unwrap().end,
            EndMarker::ZeroLabelSize
        );
    }

    #[test]
    fn error_empty() {
        assert!(matches!(err(&[]), ReadError::Empty));
    }

    #[test]
    fn error_unsupported_version() {
        assert!(matches!(
            err(&[2, 0, 0]),
            ReadError::UnsupportedVersion { found: 2 }
        ));
        assert!(matches!(
            err(&[0]),
            ReadError::UnsupportedVersion { found: 0 }
        ));
    }

    #[test]
    fn error_truncated_at_each_part() {
        let full = file(&[(b"abc", b"Q", 0xFF, &[9; 8])], 0);
        // Cut after: a non-zero lone byte, the label size, part of the label,
        // the signature size, the signature, the write buffer, part of the value.
        let cases: [(usize, &str, usize); 6] = [
            (2, "label size", 1),
            (4, "label", 3),
            (7, "type signature size", 6),
            (8, "type signature", 8),
            (9, "write-buffer byte", 9),
            (15, "value", 10),
        ];
        for (cut, what, offset) in cases {
            match err(&full[..cut]) {
                ReadError::Truncated {
                    what: w, offset: o, ..
                } => {
                    assert_eq!((w, o), (what, offset), "cut at {cut}")
                }
                other => panic!("cut at {cut}: {other}"),
            }
        }
        let buffered = file(&[(b"abc", b"Q", 1, &[9; 16])], 0);
        let e = err(&buffered[..buffered.len() - 1]);
        assert!(
            matches!(
                e,
                ReadError::Truncated {
                    what: "buffers",
                    ..
                }
            ),
            "{e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("\"abc\"") && msg.contains("offset 10"),
            "{msg}"
        );
    }

    #[test]
    fn error_unknown_signature() {
        let bytes = file(&[(b"abc", b"Z", 0xFF, &[0])], 32);
        match err(&bytes) {
            ReadError::UnknownSignature {
                label,
                signature,
                offset,
            } => assert_eq!(
                (label.as_str(), signature.as_str(), offset),
                ("abc", "Z", 1)
            ),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn error_value_too_large() {
        let bytes = file(&[(b"big", b"5000s", 0xFF, &[])], 4096);
        assert!(matches!(
            err(&bytes),
            ReadError::ValueTooLarge { size: 5000, .. }
        ));
        let bytes = file(&[(b"big", b"3000s", 0, &[])], 4096);
        assert!(matches!(
            err(&bytes),
            ReadError::ValueTooLarge { size: 6000, .. }
        ));
    }

    #[test]
    fn error_invalid_write_buffer() {
        let bytes = file(&[(b"w", b"I", 7, &[0; 8])], 32);
        assert!(matches!(
            err(&bytes),
            ReadError::InvalidWriteBuffer {
                found: 7,
                offset: 7,
                ..
            }
        ));
        // A zero-size value has nothing to read, whatever the byte says.
        let bytes = file(&[(b"w", b"0s", 7, &[])], 32);
        assert_eq!(
            read_bytes(&bytes).unwrap().stats[0].value,
            Value::Text(String::new())
        );
    }

    #[test]
    fn a_signature_is_taken_again_only_when_it_is_the_same_bytes() {
        // Two fields of one type share the parsed signature...
        let same = file(
            &[(b"a", b"Q", 0xFF, &[1; 8]), (b"b", b"Q", 0xFF, &[2; 8])],
            64,
        );
        let s = read_bytes(&same).unwrap();
        assert_eq!(
            s.stats[1].value,
            Value::Unsigned(u64::from_ne_bytes([2; 8]))
        );
        // ...but one that only starts like the one before is its own, here
        // unknown, and so an error.
        let longer = file(
            &[(b"a", b"Q", 0xFF, &[1; 8]), (b"b", b"Qz", 0xFF, &[2; 8])],
            64,
        );
        assert!(matches!(
            err(&longer),
            ReadError::UnknownSignature { ref signature, .. } if signature == "Qz"
        ));
        let other = file(
            &[(b"a", b"Q", 0xFF, &[1; 8]), (b"b", b"q", 0xFF, &[0xFF; 8])],
            64,
        );
        assert_eq!(
            read_bytes(&other).unwrap().stats[1].value,
            Value::Signed(-1)
        );
    }

    /// Bytes read through copies, as from a live file: the first copy is
    /// of `first`, every later one of `then` (a writer changed the file in
    /// between); the copies are counted.
    struct Live {
        first: Vec<u8>,
        then: Vec<u8>,
        copies: std::cell::Cell<usize>,
    }

    impl Live {
        fn new(first: Vec<u8>, then: Vec<u8>) -> Live {
            Live {
                first,
                then,
                copies: std::cell::Cell::new(0),
            }
        }
    }

    impl super::mem::Memory for Live {
        fn len(&self) -> usize {
            self.first.len()
        }

        fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
            let n = self.copies.get();
            self.copies.set(n + 1);
            let from = if n == 0 { &self.first } else { &self.then };
            match from.get(offset..offset + out.len()) {
                Some(bytes) => {
                    out.copy_from_slice(bytes);
                    true
                }
                None => false,
            }
        }
    }

    /// A file of one text field of `len` bytes (and the terminator).
    fn text_file(len: usize) -> Vec<u8> {
        let signature = format!("{len}s");
        let mut value = vec![b'a'; len];
        value[len - 1] = 0;
        file(&[(b"t", signature.as_bytes(), 0xFF, &value)], 0)
    }

    fn read_through_copies(bytes: &[u8], frame: &mut super::Frame) -> Result<(), ReadError> {
        super::parse_into(&Live::new(bytes.to_vec(), bytes.to_vec()), frame)
    }

    #[test]
    fn a_file_read_through_copies_reads_as_its_bytes_however_long() {
        // Within the first copy, just past it, and many times its size.
        for len in [10, 16 * 1024, 100_000] {
            let bytes = text_file(len);
            let mut frame = super::Frame::new();
            read_through_copies(&bytes, &mut frame).unwrap();
            assert_eq!(frame.to_snapshot(), read_bytes(&bytes).unwrap(), "{len}");
        }
        // A file that ends exactly at the byte limit: the copy grows to the
        // limit, never past it, and the file reads.
        let bytes = file(&[(b"t", b"40000s", 0xFF, &vec![b'b'; 40_000])], 0);
        let limit = bytes.len();
        let mut frame = super::Frame::with_limits(super::Limits::DEFAULT.max_bytes(limit));
        read_through_copies(&bytes, &mut frame).unwrap();
        assert_eq!(frame.end(), EndMarker::Eof);
        assert_eq!(frame.fields_end(), limit);
        // One byte under it is too large.
        let mut frame = super::Frame::with_limits(super::Limits::DEFAULT.max_bytes(limit - 1));
        assert!(matches!(
            read_through_copies(&bytes, &mut frame),
            Err(ReadError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_first_read_of_a_small_file_is_one_copy() {
        let bytes = text_file(4000);
        let live = Live::new(bytes.clone(), bytes);
        let mut frame = super::Frame::new();
        super::parse_into(&live, &mut frame).unwrap();
        assert_eq!(live.copies.get(), 1);
    }

    #[test]
    fn a_copy_that_fails_is_a_truncated_read_and_leaves_the_frame_empty() {
        let bytes = text_file(100);
        // Every copy after the first fails: the file shrank to nothing.
        let live = Live::new(bytes, Vec::new());
        let mut frame = super::Frame::new();
        super::parse_into(&live, &mut frame).unwrap();
        assert!(!frame.is_empty());
        match super::parse_into(&live, &mut frame) {
            Err(ReadError::Truncated { what, .. }) => assert_eq!(what, "copy of the file"),
            other => panic!("{other:?}"),
        }
        assert!(frame.is_empty());
    }

    #[test]
    fn the_copy_buffer_is_kept_for_the_next_read_unless_it_grew_past_a_mebibyte() {
        let mut frame = super::Frame::new();
        read_through_copies(&text_file(200_000), &mut frame).unwrap();
        read_through_copies(&text_file(100), &mut frame).unwrap();
        assert!(
            frame.copy.capacity() >= 200_000,
            "{}",
            frame.copy.capacity()
        );
        read_through_copies(&text_file(3 << 20), &mut frame).unwrap();
        assert!(frame.copy.capacity() >= 3 << 20);
        read_through_copies(&text_file(100), &mut frame).unwrap();
        assert!(frame.copy.capacity() < 1 << 20, "{}", frame.copy.capacity());
    }

    #[test]
    fn a_double_buffered_value_is_read_again_from_the_live_file() {
        // The copy holds -2 in the buffer readers read; by the time the
        // value is read again, the writer has flipped to 7.
        let old = file(&[(b"b", b"   h", 1, &[0xFE, 0xFF, 0x05, 0x00])], 64);
        let new = file(&[(b"b", b"   h", 1, &[0x07, 0x00, 0x05, 0x00])], 64);
        let mut frame = super::Frame::new();
        super::parse_into(&Live::new(old.clone(), new), &mut frame).unwrap();
        assert_eq!(frame.get("b").unwrap().value.to_value(), Value::Signed(7));
        // Bytes in ordinary memory are read once, as they are.
        assert_eq!(read_bytes(&old).unwrap().stats[0].value, Value::Signed(-2));
    }
}
