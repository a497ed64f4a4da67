//! A file parsed into reusable buffers: [`Frame`], with each field lent as a
//! [`Field`] and each value as a [`ValueRef`].

use std::fmt;

use super::limits::Limits;
use super::text::{frame_str, text_value_bytes, Span};
use super::types::{EndMarker, Snapshot, Stat, Value};
use crate::format::{self, Kind, ValueType};

/// A value as a [`Frame`] keeps it: a number's bytes as stored (the first
/// `size` of the eight), decoded only when asked for, or a text in the
/// frame's buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Slot {
    pub(super) bytes: [u8; 8],
    pub(super) text: Span,
}

/// Keeps one value of type `ty` from exactly `ty`'s size in bytes; a text's
/// bytes (up to its first NUL) are given to `push_text`, which says where
/// it put them.
#[inline(always)]
pub(super) fn slot(ty: ValueType, bytes: &[u8], push_text: impl FnOnce(&[u8]) -> Span) -> Slot {
    match ty {
        ValueType::Char | ValueType::Text => Slot {
            bytes: [0; 8],
            text: push_text(text_value_bytes(bytes)),
        },
        // The counts themselves are kept by `put_counts`.
        ValueType::Counts => Slot {
            bytes: [0; 8],
            text: Span::default(),
        },
        _ => {
            let mut out = [0u8; 8];
            match bytes.len() {
                8 => out.copy_from_slice(bytes.get(..8).unwrap_or(&[0; 8])),
                _ => {
                    for (o, b) in out.iter_mut().zip(bytes) {
                        *o = *b;
                    }
                }
            }
            Slot {
                bytes: out,
                text: Span::default(),
            }
        }
    }
}

/// Keeps the counts of a `NI` value (`bytes`, native `u32`s) in `counts`:
/// in place of the ones at `old` if there are as many, else after the
/// others. Says where they are.
pub(super) fn put_counts(counts: &mut Vec<u32>, old: Span, bytes: &[u8]) -> Span {
    let values = bytes
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes(c.try_into().unwrap_or([0; 4])));
    let n = bytes.len() / 4;
    if old.end.saturating_sub(old.start) == n && n > 0 {
        if let Some(place) = counts.get_mut(old.start..old.end) {
            for (to, from) in place.iter_mut().zip(values) {
                *to = from;
            }
            return old;
        }
    }
    let start = counts.len();
    counts.extend(values);
    Span {
        start,
        end: counts.len(),
    }
}

/// The value `slot` of type `ty` holds; texts are looked up in `text`,
/// counts in `counts`.
fn slot_value<'t>(ty: ValueType, slot: &Slot, text: &'t str, counts: &'t [u32]) -> ValueRef<'t> {
    let b = slot.bytes;
    match ty {
        ValueType::I8 => ValueRef::Signed(i8::from_ne_bytes([b[0]]).into()),
        ValueType::U8 => ValueRef::Unsigned(b[0].into()),
        ValueType::Bool => ValueRef::Bool(b[0] != 0),
        ValueType::I16 => ValueRef::Signed(i16::from_ne_bytes([b[0], b[1]]).into()),
        ValueType::U16 => ValueRef::Unsigned(u16::from_ne_bytes([b[0], b[1]]).into()),
        ValueType::I32 => ValueRef::Signed(i32::from_ne_bytes([b[0], b[1], b[2], b[3]]).into()),
        ValueType::U32 => ValueRef::Unsigned(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]).into()),
        ValueType::I64 => ValueRef::Signed(i64::from_ne_bytes(b)),
        ValueType::U64 => ValueRef::Unsigned(u64::from_ne_bytes(b)),
        ValueType::F32 => ValueRef::Float(f32::from_ne_bytes([b[0], b[1], b[2], b[3]]).into()),
        ValueType::F64 => ValueRef::Float(f64::from_ne_bytes(b)),
        ValueType::Char | ValueType::Text => ValueRef::Text(frame_str(text, slot.text)),
        ValueType::Counts => ValueRef::Counts(
            counts
                .get(slot.text.start..slot.text.end)
                .unwrap_or_default(),
        ),
    }
}

/// One field as a [`Frame`] keeps it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    pub(super) label: Span,
    pub(super) signature: Span,
    pub(super) unit: Span,
    pub(super) help: Span,
    pub(super) kind: Kind,
    pub(super) buffered: bool,
    pub(super) value: Slot,
    /// Where the field starts.
    pub(super) start: usize,
    /// Where an unbuffered value is, and how to decode it, for reading it
    /// again (see `settle_groups`).
    pub(super) value_at: usize,
    pub(super) value_type: ValueType,
    pub(super) value_size: usize,
}

/// One file parsed into buffers that are kept for the next parse: the
/// reader's allocation-free way in, for tools that read the same files again
/// and again.
///
/// [`read_bytes_into`] and [`MappedFile::read_into`] fill a frame with what
/// [`read_bytes`] and [`MappedFile::read`] would return as a [`Snapshot`];
/// [`Frame::fields`] then lends each field as a [`Field`] whose label, texts
/// and metadata borrow from the frame. Once its buffers have grown to the
/// size of the files read, parsing into a frame allocates nothing. Every
/// [`Snapshot`] is made this way ([`Frame::to_snapshot`]).
///
/// [`read_bytes_into`]: super::read_bytes_into
/// [`read_bytes`]: super::read_bytes
/// [`MappedFile::read_into`]: super::MappedFile::read_into
/// [`MappedFile::read`]: super::MappedFile::read
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("a.mmstats");
/// # std::fs::write(&path, [1u8, 3, 0, b'h', b'i', b't', 1, 0, b'Q', 0xff, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
/// use mmstats::reader::{Frame, MappedFile, ValueRef};
///
/// let file = MappedFile::open(&path)?;
/// let mut frame = Frame::new();
/// for _ in 0..3 {
///     file.read_into(&mut frame)?; // reuses the frame's buffers
///     let hits = frame.get("hit").map(|field| field.value);
///     assert_eq!(hits, Some(ValueRef::Unsigned(7)));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Frame {
    pub(super) text: String,
    /// The counts of `NI` values (a histogram's buckets).
    pub(super) counts: Vec<u32>,
    pub(super) entries: Vec<Entry>,
    /// Indexes of the sequence fields whose groups did not settle.
    pub(super) unsettled: Vec<usize>,
    /// Members of run-time families left out of the read.
    pub(super) damaged: Vec<super::DamagedMember>,
    /// Bytes copied out of a mapping before they are decoded.
    pub(super) scratch: Vec<u8>,
    /// Where the last type signature parsed is stored, its size, and what
    /// it says.
    pub(super) last_signature: Option<(usize, usize, format::SignatureInfo, Span)>,
    /// The start of a mapped file, copied to be parsed.
    pub(super) copy: Vec<u8>,
    /// The bounce buffer of reads through copies (see `mem::FileCopy`).
    pub(super) lines: Vec<u64>,
    /// How far into its file the last parse read: how much to copy first
    /// next time.
    pub(super) extent: usize,
    pub(super) version: u8,
    pub(super) file_size: usize,
    pub(super) end: EndMarker,
    pub(super) fields_end: usize,
    pub(super) meta: bool,
    /// The owner of the file last read, when it was read from a file.
    pub(super) owner: Option<u32>,
    /// How much a read into the frame may take.
    pub(super) limits: Limits,
    /// Whether run-time family members are left as written (see
    /// `reader::read_bytes_as_written`).
    pub(super) as_written: bool,
}

impl Default for Frame {
    fn default() -> Frame {
        Frame::new()
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("version", &self.version)
            .field("file_size", &self.file_size)
            .field("fields", &self.fields().collect::<Vec<_>>())
            .field("end", &self.end)
            .field("fields_end", &self.fields_end)
            .field("meta", &self.meta)
            .field("owner", &self.owner)
            .field("unsettled", &self.unsettled().collect::<Vec<_>>())
            .field("damaged", &self.damaged)
            .finish()
    }
}

impl Frame {
    /// An empty frame, with no field, that allocates nothing until a file is
    /// read into it, and reads within the default [`Limits`].
    pub const fn new() -> Frame {
        Frame::with_limits(Limits::DEFAULT)
    }

    /// An empty frame that reads within `limits`: a read into it that would
    /// take more fails with a typed error (see [`Limits`]).
    pub const fn with_limits(limits: Limits) -> Frame {
        Frame {
            text: String::new(),
            counts: Vec::new(),
            entries: Vec::new(),
            unsettled: Vec::new(),
            damaged: Vec::new(),
            scratch: Vec::new(),
            last_signature: None,
            copy: Vec::new(),
            lines: Vec::new(),
            extent: 0,
            version: 0,
            file_size: 0,
            end: EndMarker::Eof,
            fields_end: 0,
            meta: false,
            owner: None,
            limits,
            as_written: false,
        }
    }

    /// The limits reads into the frame keep to.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Makes reads into the frame keep to `limits`.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Forgets the last file read, keeping the buffers.
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.counts.clear();
        self.entries.clear();
        self.unsettled.clear();
        self.damaged.clear();
        self.last_signature = None;
        self.version = 0;
        self.file_size = 0;
        self.end = EndMarker::Eof;
        self.fields_end = 0;
        self.meta = false;
        self.owner = None;
    }

    pub(super) fn str(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or_default()
    }

    fn field(&self, entry: &Entry) -> Field<'_> {
        Field {
            label: self.str(entry.label),
            kind: entry.kind,
            value: slot_value(entry.value_type, &entry.value, &self.text, &self.counts),
            signature: self.str(entry.signature),
            buffered: entry.buffered,
            unit: self.str(entry.unit),
            help: self.str(entry.help),
        }
    }

    /// How many fields the file has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no field (or nothing was read into the frame
    /// yet, or the last read failed).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every field, in file order.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = Field<'_>> + '_ {
        self.entries.iter().map(|entry| self.field(entry))
    }

    /// The field at `index` in file order.
    pub fn field_at(&self, index: usize) -> Option<Field<'_>> {
        self.entries.get(index).map(|entry| self.field(entry))
    }

    /// The first field labelled exactly `label`.
    pub fn get(&self, label: &str) -> Option<Field<'_>> {
        self.fields().find(|field| field.label == label)
    }

    /// The process that owns the file, as [`Snapshot::pid`] says.
    pub fn pid(&self) -> Option<u32> {
        let field = self
            .fields()
            .find(|field| field.label.ends_with("sys.pid"))?;
        field.value.as_pid()
    }

    /// The format version (the first byte).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Size of the file, or of the bytes read, in bytes.
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// What ended the field list.
    pub fn end(&self) -> EndMarker {
        self.end
    }

    /// Offset where the field list ends.
    pub fn fields_end(&self) -> usize {
        self.fields_end
    }

    /// Whether kinds, units and help texts came from a metadata block.
    pub fn has_meta(&self) -> bool {
        self.meta
    }

    /// The owner (user id) of the file last read, as [`Snapshot::owner`]
    /// says.
    pub fn owner(&self) -> Option<u32> {
        self.owner
    }

    /// Labels of the sequence fields whose groups could not be read whole
    /// (see [`Snapshot::unsettled`]).
    pub fn unsettled(&self) -> impl Iterator<Item = &str> + '_ {
        self.unsettled
            .iter()
            .filter_map(|&i| self.entries.get(i))
            .map(|entry| self.str(entry.label))
    }

    /// Members of run-time families left out of the read because their
    /// label value is damaged (see [`Snapshot::damaged`]).
    pub fn damaged(&self) -> &[super::DamagedMember] {
        &self.damaged
    }

    /// The same file as an owned [`Snapshot`], with no path.
    pub fn to_snapshot(&self) -> Snapshot {
        Snapshot {
            path: None,
            version: self.version,
            file_size: self.file_size,
            stats: self.fields().map(|field| field.to_stat()).collect(),
            end: self.end,
            fields_end: self.fields_end,
            meta: self.meta,
            unsettled: self.unsettled().map(str::to_owned).collect(),
            damaged: self.damaged.clone(),
            owner: self.owner,
        }
    }
}

/// One field of a [`Frame`], borrowed from it: what a [`Stat`] holds,
/// without allocating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Field<'a> {
    /// The label, decoded as UTF-8 with invalid bytes dropped.
    pub label: &'a str,
    /// What the field means: from the metadata block, or guessed from the
    /// label when the file has none.
    pub kind: Kind,
    /// The value.
    pub value: ValueRef<'a>,
    /// The type signature as stored, without its padding.
    pub signature: &'a str,
    /// Whether the field is double-buffered.
    pub buffered: bool,
    /// The unit of the value from the metadata block, or empty.
    pub unit: &'a str,
    /// What the value means, from the metadata block, or empty.
    pub help: &'a str,
}

impl Field<'_> {
    /// The field as an owned [`Stat`].
    pub fn to_stat(&self) -> Stat {
        Stat {
            label: self.label.to_owned(),
            kind: self.kind,
            value: self.value.to_value(),
            signature: self.signature.to_owned(),
            buffered: self.buffered,
            unit: self.unit.to_owned(),
            help: self.help.to_owned(),
        }
    }
}

/// The value of one field of a [`Frame`], borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// An unsigned integer.
    Unsigned(u64),
    /// A signed integer.
    Signed(i64),
    /// A floating-point number.
    Float(f64),
    /// A yes/no value.
    Bool(bool),
    /// A text, up to its first NUL.
    Text(&'a str),
    /// Counts (`NI`, N > 1): a histogram's buckets.
    Counts(&'a [u32]),
}

impl ValueRef<'_> {
    /// The value as an owned [`Value`].
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Unsigned(v) => Value::Unsigned(v),
            ValueRef::Signed(v) => Value::Signed(v),
            ValueRef::Float(v) => Value::Float(v),
            ValueRef::Bool(v) => Value::Bool(v),
            ValueRef::Text(v) => Value::Text(v.to_owned()),
            ValueRef::Counts(v) => Value::Counts(v.to_vec()),
        }
    }

    /// The value as a number, for tools that compute rates or plot: booleans
    /// are 0 or 1, texts have no number. Integers beyond 2^53 are rounded.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            ValueRef::Unsigned(v) => Some(v as f64),
            ValueRef::Signed(v) => Some(v as f64),
            ValueRef::Float(v) => Some(v),
            ValueRef::Bool(v) => Some(if v { 1.0 } else { 0.0 }),
            ValueRef::Text(_) | ValueRef::Counts(_) => None,
        }
    }
}

impl ValueRef<'_> {
    /// The value as a process id: an integer that fits one.
    pub(super) fn as_pid(self) -> Option<u32> {
        match self {
            ValueRef::Unsigned(v) => u32::try_from(v).ok(),
            ValueRef::Signed(v) => u32::try_from(v).ok(),
            _ => None,
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    /// Integers in decimal, floats with the fewest digits that read back the
    /// same (always with a decimal point or an exponent, like Python), booleans
    /// as `true`/`false`, texts as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRef::Unsigned(v) => write!(f, "{v}"),
            ValueRef::Signed(v) => write!(f, "{v}"),
            ValueRef::Float(v) => write!(f, "{v:?}"),
            ValueRef::Bool(v) => write!(f, "{v}"),
            ValueRef::Text(v) => f.write_str(v),
            ValueRef::Counts(v) => {
                let total: u64 = v.iter().map(|&c| u64::from(c)).sum();
                let used = v.iter().filter(|&&c| c != 0).count();
                write!(f, "{} counts, {used} non-zero, total {total}", v.len())
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::super::testing::file;
    use super::super::text::Span;
    use super::super::{read_bytes, read_bytes_into, EndMarker, Limits, MappedFile, Value};
    use super::{put_counts, slot, slot_value, Frame, ValueRef};
    use crate::format::{Kind, ValueType};
    use crate::{Counter, DynFamily, MmStats, Summary};

    #[test]
    fn a_slot_keeps_a_number_a_text_or_nothing_for_counts() {
        let number = slot(ValueType::U64, &7u64.to_ne_bytes(), |_| unreachable!());
        assert_eq!(number.bytes, 7u64.to_ne_bytes());
        let short = slot(ValueType::U16, &[1, 2], |_| unreachable!());
        assert_eq!(short.bytes, [1, 2, 0, 0, 0, 0, 0, 0]);
        let mut given = Vec::new();
        let text = slot(ValueType::Text, b"hi\0xy", |b| {
            given = b.to_vec();
            Span { start: 3, end: 5 }
        });
        assert_eq!(given, b"hi");
        assert_eq!((text.bytes, text.text), ([0; 8], Span { start: 3, end: 5 }));
        // A histogram's counts are kept apart (by `put_counts`).
        let counts = slot(ValueType::Counts, &[9; 16], |_| unreachable!());
        assert_eq!((counts.bytes, counts.text), ([0; 8], Span::default()));
    }

    fn ne(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn counts_go_in_place_when_as_many_else_after_the_others() {
        let mut counts = vec![1, 2, 3, 4, 5];
        let old = Span { start: 1, end: 3 };
        assert_eq!(put_counts(&mut counts, old, &ne(&[8, 9])), old);
        assert_eq!(counts, [1, 8, 9, 4, 5]);
        // Three counts where two were: after the others.
        let new = put_counts(&mut counts, old, &ne(&[6, 7, 8]));
        assert_eq!(new, Span { start: 5, end: 8 });
        assert_eq!(counts, [1, 8, 9, 4, 5, 6, 7, 8]);
        // None: an empty span at the end, never the old place.
        let empty = Span { start: 2, end: 2 };
        assert_eq!(
            put_counts(&mut counts, empty, &[]),
            Span { start: 8, end: 8 }
        );
        // An old span beyond the buffer: after the others.
        let gone = Span { start: 20, end: 22 };
        assert_eq!(
            put_counts(&mut counts, gone, &ne(&[1, 1])),
            Span { start: 8, end: 10 }
        );
    }

    #[test]
    fn each_value_type_is_decoded_from_its_bytes() {
        let at = |ty: ValueType, bytes: [u8; 8]| {
            let s = super::Slot {
                bytes,
                text: Span { start: 1, end: 3 },
            };
            slot_value(ty, &s, "xhiy", &[4, 5, 6]).to_value()
        };
        let m1 = (-1i64).to_ne_bytes();
        assert_eq!(at(ValueType::I8, m1), Value::Signed(-1));
        assert_eq!(at(ValueType::U8, m1), Value::Unsigned(255));
        assert_eq!(
            at(ValueType::Bool, [2, 0, 0, 0, 0, 0, 0, 0]),
            Value::Bool(true)
        );
        assert_eq!(
            at(ValueType::Bool, [0, 1, 1, 1, 1, 1, 1, 1]),
            Value::Bool(false)
        );
        assert_eq!(at(ValueType::I16, m1), Value::Signed(-1));
        assert_eq!(at(ValueType::U16, m1), Value::Unsigned(65_535));
        assert_eq!(at(ValueType::I32, m1), Value::Signed(-1));
        assert_eq!(at(ValueType::U32, m1), Value::Unsigned(u64::from(u32::MAX)));
        assert_eq!(at(ValueType::I64, m1), Value::Signed(-1));
        assert_eq!(at(ValueType::U64, m1), Value::Unsigned(u64::MAX));
        let f32_bytes = 1.5f32.to_ne_bytes();
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&f32_bytes);
        assert_eq!(at(ValueType::F32, b), Value::Float(1.5));
        assert_eq!(
            at(ValueType::F64, 2.25f64.to_ne_bytes()),
            Value::Float(2.25)
        );
        assert_eq!(at(ValueType::Text, [0; 8]), Value::Text("hi".into()));
        assert_eq!(at(ValueType::Char, [0; 8]), Value::Text("hi".into()));
        assert_eq!(at(ValueType::Counts, [0; 8]), Value::Counts(vec![5, 6]));
    }

    #[test]
    fn a_value_is_owned_numbered_and_shown_as_itself() {
        let cases = [
            (
                ValueRef::Unsigned(3),
                Value::Unsigned(3),
                Some(3.0),
                Some(3),
                "3",
            ),
            (
                ValueRef::Signed(-4),
                Value::Signed(-4),
                Some(-4.0),
                None,
                "-4",
            ),
            (
                ValueRef::Signed(12),
                Value::Signed(12),
                Some(12.0),
                Some(12),
                "12",
            ),
            (
                ValueRef::Float(0.5),
                Value::Float(0.5),
                Some(0.5),
                None,
                "0.5",
            ),
            (
                ValueRef::Float(2.0),
                Value::Float(2.0),
                Some(2.0),
                None,
                "2.0",
            ),
            (
                ValueRef::Bool(true),
                Value::Bool(true),
                Some(1.0),
                None,
                "true",
            ),
            (
                ValueRef::Bool(false),
                Value::Bool(false),
                Some(0.0),
                None,
                "false",
            ),
            (
                ValueRef::Text("ab"),
                Value::Text("ab".into()),
                None,
                None,
                "ab",
            ),
            (
                ValueRef::Counts(&[0, 2, 3]),
                Value::Counts(vec![0, 2, 3]),
                None,
                None,
                "3 counts, 2 non-zero, total 5",
            ),
        ];
        for (value, owned, number, pid, shown) in cases {
            assert_eq!(value.to_value(), owned, "{value:?}");
            assert_eq!(value.as_f64(), number, "{value:?}");
            assert_eq!(value.as_pid(), pid, "{value:?}");
            assert_eq!(value.to_string(), shown, "{value:?}");
        }
        assert_eq!(ValueRef::Unsigned(u64::from(u32::MAX) + 1).as_pid(), None);
    }

    #[derive(crate::MmStats)]
    #[mmstats(crate = "crate", prefix = "t.")]
    struct Two {
        hits: Counter,
        size: Summary,
        #[mmstats(key = "route")]
        routes: DynFamily<Counter, 1>,
    }

    #[test]
    fn a_frame_says_what_its_snapshot_says() {
        let empty = Frame::new();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(
            (empty.version(), empty.file_size(), empty.fields_end()),
            (0, 0, 0)
        );
        assert_eq!(
            (empty.end(), empty.has_meta(), empty.owner()),
            (EndMarker::Eof, false, None)
        );
        assert_eq!(empty.pid(), None);

        let dir = tempfile::tempdir().unwrap();
        let stats = Two::builder().dir(dir.path()).create().unwrap();
        stats.hits.incr_by(41);
        stats.routes.member("/a").incr();
        let path = stats.path().unwrap().to_path_buf();
        let mut bytes = std::fs::read(&path).unwrap();
        // `t.size` torn, and the member's label value never settled.
        let seq = |bytes: &[u8], label: &str| {
            let mut needle = u16::try_from(label.len()).unwrap().to_ne_bytes().to_vec();
            needle.extend_from_slice(label.as_bytes());
            let at = bytes
                .windows(needle.len())
                .position(|w| w == needle)
                .unwrap();
            let sig_at = at + needle.len();
            let sig_len = usize::from(u16::from_ne_bytes([bytes[sig_at], bytes[sig_at + 1]]));
            // The signature, then the write-buffer byte.
            sig_at + 2 + sig_len + 1
        };
        let at = seq(&bytes, "t.size.seq");
        bytes[at..at + 8].copy_from_slice(&3u64.to_ne_bytes());
        let at = seq(&bytes, r##"t.routes{route="#0"}.label.seq"##);
        bytes[at..at + 8].copy_from_slice(&5u64.to_ne_bytes());

        let mut frame = Frame::new();
        read_bytes_into(&bytes, &mut frame).unwrap();
        let snapshot = read_bytes(&bytes).unwrap();
        assert_eq!(frame.to_snapshot(), snapshot);
        assert!(!frame.is_empty());
        assert_eq!(frame.len(), snapshot.stats.len());
        assert!(frame.len() > 8);
        assert_eq!(frame.version(), 1);
        assert_eq!(frame.file_size(), bytes.len());
        assert_eq!(frame.fields_end(), snapshot.fields_end);
        assert!(frame.fields_end() > 100 && frame.fields_end() < bytes.len());
        assert_eq!(frame.end(), EndMarker::ZeroLabelSize);
        assert!(frame.has_meta());
        assert_eq!(frame.pid(), Some(std::process::id()));
        assert_eq!(frame.owner(), None);
        let hits = frame.get("t.hits").unwrap();
        assert_eq!(
            (hits.value, hits.kind),
            (ValueRef::Unsigned(41), Kind::Counter)
        );
        assert_eq!(frame.get("t.nothing"), None);
        assert_eq!(frame.field_at(0).unwrap().label, snapshot.stats[0].label);
        assert_eq!(frame.field_at(frame.len()), None);
        assert_eq!(frame.unsettled().collect::<Vec<_>>(), ["t.size.seq"]);
        assert_eq!(frame.damaged().len(), 1);
        assert_eq!(frame.damaged()[0].label, r##"t.routes{route="#0"}"##);
        let shown = format!("{frame:?}");
        assert!(
            shown.starts_with("Frame {") && shown.contains("t.hits"),
            "{shown}"
        );
        assert!(
            shown.contains("t.size.seq") && shown.contains("file_size"),
            "{shown}"
        );
        // Every field, lent, is its snapshot's stat.
        for (field, stat) in frame.fields().zip(&snapshot.stats) {
            assert_eq!(&field.to_stat(), stat);
        }

        // Forgotten, the frame is empty again.
        frame.clear();
        assert!(frame.is_empty());
        assert_eq!(
            (frame.version(), frame.file_size(), frame.fields_end()),
            (0, 0, 0)
        );
        assert_eq!(frame.unsettled().count(), 0);
        assert!(frame.damaged().is_empty() && !frame.has_meta());

        // Read from the file itself, it knows the file's owner.
        let owner = owner_not_a_constant(&path);
        MappedFile::open(&path)
            .unwrap()
            .read_into(&mut frame)
            .unwrap();
        assert_eq!(frame.owner(), Some(owner));
    }

    /// The file's owner; as root, made another user's first so that no
    /// constant owner passes.
    fn owner_not_a_constant(path: &std::path::Path) -> u32 {
        use std::os::unix::fs::MetadataExt;
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(path, Some(54_321), None).unwrap();
        }
        std::fs::metadata(path).unwrap().uid()
    }

    #[test]
    fn a_frame_keeps_the_limits_it_is_given() {
        let small = Limits::DEFAULT.max_fields(3);
        assert_eq!(Frame::with_limits(small).limits(), small);
        let mut frame = Frame::new();
        assert_eq!(frame.limits(), Limits::DEFAULT);
        frame.set_limits(small);
        assert_eq!(frame.limits(), small);
        let four = file(
            &[
                (b"a", b"Q", 0xFF, &[0; 8]),
                (b"b", b"Q", 0xFF, &[0; 8]),
                (b"c", b"Q", 0xFF, &[0; 8]),
                (b"d", b"Q", 0xFF, &[0; 8]),
            ],
            128,
        );
        assert!(read_bytes_into(&four, &mut frame).is_err());
        assert!(read_bytes_into(&four, &mut Frame::new()).is_ok());
    }
}
