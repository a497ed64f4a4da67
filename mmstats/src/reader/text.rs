//! The text buffer of a [`Frame`](super::Frame): every label, signature,
//! unit, help text and text value of a file in one `String`, each named by
//! a [`Span`], and the UTF-8 decoding that drops invalid sequences as the
//! reference reader does.

use super::frame::Entry;

/// A stretch of a [`Frame`]'s text buffer: a label, signature, unit, help
/// or text value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Appends `bytes` to `text` as UTF-8 with invalid sequences dropped
/// (Python's `decode('utf8', 'ignore')`) and says where they went.
#[inline]
pub(super) fn push_utf8_ignore(text: &mut String, bytes: &[u8]) -> Span {
    let start = text.len();
    if bytes.is_empty() {
        // Most units and help texts: nothing to check or copy.
        return Span { start, end: start };
    }
    match std::str::from_utf8(bytes) {
        Ok(valid) => text.push_str(valid),
        Err(_) => {
            for chunk in bytes.utf8_chunks() {
                text.push_str(chunk.valid());
            }
        }
    }
    Span {
        start,
        end: text.len(),
    }
}

/// Appends bytes to the text a parse builds, which is checked as UTF-8
/// once, at the end (see `finish_text`).
#[inline]
pub(super) fn push_raw(text: &mut Vec<u8>, bytes: &[u8]) -> Span {
    let start = text.len();
    text.extend_from_slice(bytes);
    Span {
        start,
        end: text.len(),
    }
}

/// A text value's bytes: those up to the first NUL.
pub(super) fn text_value_bytes(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or_default()
}

/// `bytes` as UTF-8 with invalid sequences dropped, as labels read; for
/// error messages, before a parse's text is checked.
pub(super) fn ignore_invalid(bytes: &[u8]) -> String {
    let mut text = String::new();
    push_utf8_ignore(&mut text, bytes);
    text
}

/// The text a parse built, once checked as UTF-8. In the usual case, valid
/// UTF-8 with every span on a character boundary, the bytes become the text
/// as they are; otherwise each span is decoded on its own, with invalid
/// sequences dropped, and the spans are moved to where they went.
pub(super) fn finish_text(raw: Vec<u8>, entries: &mut [Entry]) -> String {
    let raw = match String::from_utf8(raw) {
        Ok(text) => {
            let whole =
                |span: Span| text.is_char_boundary(span.start) && text.is_char_boundary(span.end);
            if entries.iter().all(|e| {
                whole(e.label)
                    && whole(e.signature)
                    && whole(e.unit)
                    && whole(e.help)
                    && whole(e.value.text)
            }) {
                return text;
            }
            text.into_bytes()
        }
        Err(e) => e.into_bytes(),
    };
    let mut text = String::with_capacity(raw.len());
    let mut again =
        |span: Span| push_utf8_ignore(&mut text, raw.get(span.start..span.end).unwrap_or_default());
    for entry in entries.iter_mut() {
        entry.label = again(entry.label);
        entry.signature = again(entry.signature);
        entry.unit = again(entry.unit);
        entry.help = again(entry.help);
        entry.value.text = again(entry.value.text);
    }
    text
}

/// The text of `span` in a frame's text buffer.
pub(super) fn frame_str(text: &str, span: Span) -> &str {
    text.get(span.start..span.end).unwrap_or_default()
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
    use super::super::testing::file;
    use super::super::{read_bytes, read_bytes_into, Frame, Value, ValueRef};

    /// Labels are checked as UTF-8 all at once, so a character split
    /// between two labels makes valid UTF-8 of the whole; each label must
    /// still drop its own half of it.
    #[test]
    fn a_character_split_between_two_labels_is_dropped_from_both() {
        let bytes = file(
            &[
                (b"a\xe2\x82", b"B", 0xFF, &[1]),
                (b"\xacb", b"B", 0xFF, &[2]),
                ("né".as_bytes(), b"3s", 0xFF, "é\0".as_bytes()),
                (b"c\xff", b"2s", 0xFF, b"\xffz"),
            ],
            64,
        );
        let mut frame = Frame::new();
        read_bytes_into(&bytes, &mut frame).unwrap();
        let got: Vec<(&str, ValueRef<'_>)> = frame.fields().map(|f| (f.label, f.value)).collect();
        assert_eq!(
            got,
            [
                ("a", ValueRef::Unsigned(1)),
                ("b", ValueRef::Unsigned(2)),
                ("né", ValueRef::Text("é")),
                ("c", ValueRef::Text("z")),
            ]
        );
        assert_eq!(frame.to_snapshot(), read_bytes(&bytes).unwrap());
    }

    #[test]
    fn texts_and_labels_drop_invalid_utf8() {
        let bytes = file(&[(b"l\xffa\xe2\x9d", b"5s", 0xFF, b"ab\xe2\x9d\0")], 32);
        let s = read_bytes(&bytes).unwrap();
        assert_eq!(s.stats[0].label, "la");
        assert_eq!(s.stats[0].value, Value::Text("ab".into()));
    }
    /// When the fields share their signature, which is kept once, the two
    /// halves of a character split between two labels are next to each
    /// other in the text: valid UTF-8 as a whole, yet neither label starts
    /// and ends on a character boundary, and each still drops its half.
    #[test]
    fn a_split_character_makes_valid_text_yet_is_dropped_from_both_labels() {
        let bytes = file(
            &[
                (b"z", b"B", 0xFF, &[0]),
                (b"a\xe2\x82", b"B", 0xFF, &[1]),
                (b"\xacb", b"B", 0xFF, &[2]),
            ],
            64,
        );
        let mut frame = Frame::new();
        read_bytes_into(&bytes, &mut frame).unwrap();
        let got: Vec<(&str, ValueRef<'_>)> = frame.fields().map(|f| (f.label, f.value)).collect();
        assert_eq!(
            got,
            [
                ("z", ValueRef::Unsigned(0)),
                ("a", ValueRef::Unsigned(1)),
                ("b", ValueRef::Unsigned(2)),
            ]
        );
        assert_eq!(frame.to_snapshot(), read_bytes(&bytes).unwrap());
    }
}
