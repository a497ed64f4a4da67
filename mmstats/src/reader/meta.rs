//! The metadata block after the field list (see
//! [`format::META_MAGIC`]): each field's kind, unit and help text, and the
//! kinds fields get in a file without one.

use super::frame::Frame;
use super::parse::{Cursor, Halt};
use super::text::{push_raw, Span};
use crate::format::{self, Kind};

/// The kind a field gets when the file has no metadata block: the default
/// fields (told by their labels' endings, see
/// [`DEFAULT_FIELDS`](crate::stats::DEFAULT_FIELDS)) are set once when a
/// file is created, so they read as [`Kind::Static`].
pub(super) fn default_kind(label: &str) -> Kind {
    if crate::stats::DEFAULT_FIELDS
        .iter()
        .any(|field| label.ends_with(field.ending))
    {
        Kind::Static
    } else {
        Kind::Unknown
    }
}

/// Reads the metadata block at `offset` (see [`format::META_MAGIC`]) into
/// the kinds, units and help texts of `frame`'s fields, if there is one, it
/// is whole, and it describes exactly as many fields as the frame has.
/// Returns whether it did; if not, the frame is as it was.
/// A kind code this version does not know reads as [`Kind::Unknown`].
pub(super) fn read_meta(
    cursor: &mut Cursor<'_>,
    offset: usize,
    frame: &mut Frame,
    text: &mut Vec<u8>,
) -> Result<bool, Halt> {
    let text_len = text.len();
    let read = match read_meta_records(cursor, offset, frame, text) {
        Ok(read) => read,
        Err(Halt::More(end)) => return Err(Halt::More(end)),
        // Past what a reader may look at: the read stops there.
        Err(Halt::Bad(e @ super::error::ReadError::TooLarge { .. })) => return Err(Halt::Bad(e)),
        // Cut short by the end of the file: no metadata.
        Err(Halt::Bad(_)) => false,
    };
    if !read {
        text.truncate(text_len);
        for entry in &mut frame.entries {
            entry.kind = Kind::Unknown;
            entry.unit = Span::default();
            entry.help = Span::default();
        }
    }
    Ok(read)
}

/// The work of `read_meta`, which undoes it when it returns false or
/// finds the block cut short.
fn read_meta_records(
    cursor: &mut Cursor<'_>,
    offset: usize,
    frame: &mut Frame,
    text: &mut Vec<u8>,
) -> Result<bool, Halt> {
    let what = "metadata";
    cursor.pos = offset;
    if cursor.take(format::META_MAGIC.len(), what, None)? != format::META_MAGIC {
        return Ok(false);
    }
    let [version, c0, c1] = *cursor.take(3, what, None)? else {
        return Ok(false);
    };
    if version != format::META_VERSION
        || usize::from(u16::from_ne_bytes([c0, c1])) != frame.entries.len()
    {
        return Ok(false);
    }
    let mut text_of = |cursor: &mut Cursor<'_>, len: u16| -> Result<Span, Halt> {
        if len == 0 {
            // Most units and help texts.
            return Ok(Span::default());
        }
        Ok(push_raw(text, cursor.take(len.into(), what, None)?))
    };
    for entry in frame.entries.iter_mut() {
        let [code, u0, u1] = *cursor.take(3, what, None)? else {
            return Ok(false);
        };
        entry.kind = Kind::from_code(code).unwrap_or(Kind::Unknown);
        entry.unit = text_of(cursor, u16::from_ne_bytes([u0, u1]))?;
        let help = cursor.u16(what, None)?;
        entry.help = text_of(cursor, help)?;
    }
    Ok(true)
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
    use super::super::read_bytes;
    use super::super::testing::file;
    use super::*;

    #[test]
    fn default_fields_are_static_and_pid_is_found() {
        let bytes = file(
            &[
                (b"x.sys.pid", b"I", 0xFF, &42u32.to_ne_bytes()),
                (b"org.python.version", b"1s", 0xFF, b"2"),
                (b"hits", b"Q", 0, &[0; 16]),
            ],
            64,
        );
        let s = read_bytes(&bytes).unwrap();
        assert_eq!(s.pid(), Some(42));
        assert_eq!(s.get("x.sys.pid").unwrap().kind, Kind::Static);
        assert_eq!(s.get("org.python.version").unwrap().kind, Kind::Static);
        assert_eq!(s.get("hits").unwrap().kind, Kind::Unknown);
        assert!(s.get("nope").is_none());
    }

    fn meta_block(records: &[(u8, &str, &str)], count: u16) -> Vec<u8> {
        let mut out = format::META_MAGIC.to_vec();
        out.push(format::META_VERSION);
        out.extend_from_slice(&count.to_ne_bytes());
        for (kind, unit, help) in records {
            out.push(*kind);
            out.extend_from_slice(&(unit.len() as u16).to_ne_bytes());
            out.extend_from_slice(unit.as_bytes());
            out.extend_from_slice(&(help.len() as u16).to_ne_bytes());
            out.extend_from_slice(help.as_bytes());
        }
        out
    }

    #[test]
    fn metadata_block_gives_kind_unit_and_help() {
        let mut bytes = file(&[(b"a", b"Q", 0, &[0; 16]), (b"b", b"d", 0, &[0; 16])], 0);
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend(meta_block(&[(1, "requests", "how many"), (200, "", "")], 2));
        bytes.resize(128, 0);
        let s = read_bytes(&bytes).unwrap();
        assert!(s.meta);
        assert_eq!(s.stats[0].kind, Kind::Counter);
        assert_eq!(s.stats[0].unit, "requests");
        assert_eq!(s.stats[0].help, "how many");
        assert_eq!(s.stats[1].kind, Kind::Unknown);
    }

    #[test]
    fn damaged_metadata_block_is_ignored() {
        let base = {
            let mut b = file(&[(b"sys.pid", b"I", 0xFF, &[1, 0, 0, 0])], 0);
            b.extend_from_slice(&[0, 0]);
            b
        };
        let good = meta_block(&[(2, "u", "h")], 1);
        let cases = [
            meta_block(&[(2, "u", "h")], 2), // wrong count
            good[..good.len() - 1].to_vec(), // cut short
            {
                let mut m = good.clone();
                m[0] = b'M'; // wrong magic
                m
            },
            {
                let mut m = good.clone();
                m[12] = 9; // unknown version
                m
            },
        ];
        for block in cases {
            let mut bytes = base.clone();
            bytes.extend(block);
            let s = read_bytes(&bytes).unwrap();
            assert!(!s.meta);
            assert_eq!(s.stats[0].kind, Kind::Static);
            assert_eq!(s.stats[0].unit, "");
        }
    }
}
