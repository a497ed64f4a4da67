//! The byte layout of an mmstats file, version 1.
//!
//! This module is the single source of the format's arithmetic: the derive
//! macro's generated constants call these `const fn`s, the writer places
//! values with them, and the reader checks files against them, so writer and
//! reader cannot drift apart.
//!
//! A file is laid out as:
//!
//! ```text
//! offset 0      version byte, 0x01
//! offset 1      fields, back to back, in layout order
//!               u16 0x0000: a label size of zero ends the field list
//!               optional metadata block (see `META_MAGIC`)
//!               zero bytes up to the file size (whole pages)
//! ```
//!
//! and one field as:
//!
//! ```text
//! u16 label size | label (UTF-8) | u16 signature size | signature (ASCII) |
//! u8 write buffer (0xFF unbuffered, 0 or 1 double-buffered) |
//! value (unbuffered) or buffer 0 then buffer 1 (double-buffered)
//! ```
//!
//! All integers are in the host's byte order. This writer pads a field's type
//! signature with leading spaces so that its value starts at a multiple of the
//! value's alignment; Python's `struct` ignores those spaces, so the original
//! reader computes the same size and reads the same value.

use crate::labels::LabelDims;

/// The only file format version there is; the first byte of every file.
pub const VERSION: u8 = 1;

/// Where the first field starts: right after the version byte.
pub const FIELDS_START: usize = 1;

/// Width of the label size that opens every field (a native `u16`).
pub const LABEL_SIZE_BYTES: usize = 2;

/// Width of the type signature size that follows the label (a native `u16`).
pub const SIGNATURE_SIZE_BYTES: usize = 2;

/// Width of the write-buffer byte that precedes the value or the buffers.
pub const WRITE_BUFFER_BYTES: usize = 1;

/// The bytes of one field that are not label, signature or value.
pub const FIELD_OVERHEAD: usize = LABEL_SIZE_BYTES + SIGNATURE_SIZE_BYTES + WRITE_BUFFER_BYTES;

/// Write-buffer byte of a field whose value is stored once, not double-buffered.
pub const UNBUFFERED: u8 = 0xFF;

/// Width of the end-of-fields marker: a label size of zero.
pub const TERMINATOR_BYTES: usize = 2;

/// The longest label a field can have: its size is stored in a `u16`.
pub const MAX_LABEL_LEN: usize = u16::MAX as usize;

/// The longest type signature a field can have: its size is stored in a `u16`.
pub const MAX_SIGNATURE_LEN: usize = u16::MAX as usize;

/// The largest value a field can hold, in bytes (a `Ns` text field's `N`).
///
/// Keeps every offset computation far away from overflow; a stats file is a
/// handful of pages, never gigabytes.
pub const MAX_VALUE_SIZE: usize = 1 << 24;

/// The page size assumed where the real one cannot be asked for.
pub const DEFAULT_PAGE_SIZE: usize = 4096;

/// Opens the metadata block that may follow the terminator.
///
/// Readers that do not know it (the original Python reader among them) stop at
/// the terminator and never see it. The block is, byte by byte:
///
/// ```text
/// 12 bytes  b"mmstats-meta"
/// u8        metadata version, 1
/// u16       number of fields N; must equal the number of fields read
/// N times:  u8 kind (see `Kind`), u16 unit length, unit (UTF-8),
///           u16 help length, help (UTF-8)
/// ```
///
/// All integers are in the host's byte order, like the rest of the file.
/// The block is written once, before the file gets its final name.
pub const META_MAGIC: &[u8; 12] = b"mmstats-meta";

/// Version of the metadata block described at [`META_MAGIC`].
pub const META_VERSION: u8 = 1;

/// Bytes of the metadata block before the per-field records.
pub const META_HEADER_BYTES: usize = META_MAGIC.len() + 1 + 2;

/// Bytes of one metadata record besides its unit and help text.
pub const META_RECORD_OVERHEAD: usize = 1 + 2 + 2;

/// What a field means, so that tools can treat it right.
///
/// Stored as one byte per field in the metadata block. Files written by other
/// implementations carry no kinds; readers then report [`Kind::Unknown`]
/// (or [`Kind::Static`] for the well-known default fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// Not known: the file did not say.
    Unknown = 0,
    /// Only ever goes up (between restarts); tools show its rate.
    Counter = 1,
    /// A value that goes up and down.
    Gauge = 2,
    /// A mean over all or over a window of recorded values.
    Average = 3,
    /// A mean of elapsed times, in seconds.
    Timer = 4,
    /// A yes/no state.
    Flag = 5,
    /// A short piece of text that changes.
    Text = 6,
    /// Set once when the file was created and never changed.
    Static = 7,
    /// A sequence number guarding a group of fields written together (see
    /// [`Kind::Sequence`] below); odd while the writer is updating them.
    ///
    /// The group is this field's label without its `.seq` ending (the
    /// *base*) and the fields just before it whose labels are the base or
    /// start with the base and a dot. A reader that reads the sequence
    /// number, then the group, then the sequence number again, and sees the
    /// same even number twice, has read the group whole.
    Sequence = 8,
    /// The smallest of the values recorded: across files, the least counts.
    Minimum = 9,
    /// The largest of the values recorded: across files, the greatest counts.
    Maximum = 10,
    /// How many values a histogram recorded, under the histogram's own
    /// label; its sum, geometry and buckets follow it as
    /// [`Kind::HistogramPart`] fields, in one group (see
    /// [`crate::Histogram`]). Across files, merged bucket by bucket.
    Histogram = 11,
    /// A part of a histogram (`.sum`, `.invalid`, `.schema`, `.first`,
    /// `.buckets`): read with the histogram, never on its own.
    HistogramPart = 12,
    /// The label value of a member of a [`DynFamily`](crate::DynFamily),
    /// chosen at run time (`/api/items`): a text in a group of its own
    /// (`….label` and `….label.seq`), written once before the member is
    /// used. Readers show the member under that value and hide this field.
    LabelValue = 13,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 14] = [
        Kind::Unknown,
        Kind::Counter,
        Kind::Gauge,
        Kind::Average,
        Kind::Timer,
        Kind::Flag,
        Kind::Text,
        Kind::Static,
        Kind::Sequence,
        Kind::Minimum,
        Kind::Maximum,
        Kind::Histogram,
        Kind::HistogramPart,
        Kind::LabelValue,
    ];

    /// The kind stored as `code`, or `None` for a code this version does not know.
    pub const fn from_code(code: u8) -> Option<Kind> {
        if (code as usize) < Kind::ALL.len() {
            Some(Kind::ALL[code as usize])
        } else {
            None
        }
    }

    /// The byte that stands for this kind in the metadata block.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The lower-case name tools print: `counter`, `gauge`, ...
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Unknown => "unknown",
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Average => "average",
            Kind::Timer => "timer",
            Kind::Flag => "flag",
            Kind::Text => "text",
            Kind::Static => "static",
            Kind::Sequence => "sequence",
            Kind::Minimum => "minimum",
            Kind::Maximum => "maximum",
            Kind::Histogram => "histogram",
            Kind::HistogramPart => "histogram-part",
            Kind::LabelValue => "label-value",
        }
    }
}

/// How the values of one label combine across files (threads and
/// processes): the rule [`crate::aggregate`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// Added up (integers exactly, saturating).
    Sum,
    /// The mean of the non-zero values, each file weighted equally.
    MeanOfNonZero,
    /// True if any file says true.
    Any,
    /// The least value.
    Least,
    /// The greatest value.
    Greatest,
    /// The one value all files agree on, else each distinct value once.
    Agree,
    /// As [`Combine::Agree`], with empty texts left out unless all are
    /// empty (a text is empty until its writer first sets it).
    AgreeIgnoringEmpty,
    /// A histogram, assembled from its group and merged bucket by bucket
    /// (see [`crate::reader::Histogram::merge`]).
    Buckets,
    /// A part of a group that its main field combines (a histogram's
    /// buckets): not combined on its own.
    Within,
}

/// How a kind is exported to Prometheus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    /// A `counter` family, named with `_total`.
    Counter,
    /// A `gauge` family.
    Gauge,
    /// A `gauge` named with `_info` whose sample is 1, the text in the
    /// label `value`.
    Info,
    /// A `histogram` family: cumulative `_bucket{le=...}`, `_sum` and
    /// `_count` (see [`crate::export::prometheus`]).
    Histogram,
    /// Not exported.
    Hidden,
}

/// How a kind is recorded into a history store by [`crate::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// A `u64` running total (a rate is computed when read).
    Total,
    /// An `i64` level.
    Level,
    /// An `f64`.
    Float,
    /// A `u64`, 1 or 0.
    Flag,
    /// A histogram: a series per quantile asked for (over each interval,
    /// from the change in buckets), plus the count and the sum.
    Quantiles,
    /// Not recorded.
    Not,
}

/// How tools that sample again and again (`poll`, the dashboard) show a
/// kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// The change since the previous sample (a counter).
    Change,
    /// The value as it is.
    Value,
    /// A histogram: its quantiles over each interval, from the change in
    /// its buckets, and the change of its count.
    Quantiles,
    /// Not shown as a number.
    Text,
}

/// What a kind means to every tool: one row of the kinds' table
/// ([`Kind::meaning`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meaning {
    /// How values combine across files.
    pub combine: Combine,
    /// How the kind is exported to Prometheus.
    pub export: Export,
    /// How the kind is recorded.
    pub record: Record,
    /// How `poll` and the dashboard show it.
    pub shown: Shown,
    /// Whether the dashboard graphs it.
    pub graphed: bool,
}

impl Kind {
    /// The kinds' table: what this kind means to the aggregation, the
    /// Prometheus exporter, the recorder and `poll`. The only place that
    /// says it, so that a new kind is one row here and its field type.
    ///
    /// [`Kind::Unknown`] is resolved to another kind from the value's type
    /// before this is asked ([`crate::aggregate::Rules::resolve`]); its own
    /// row is what is done when it cannot be.
    pub const fn meaning(self) -> Meaning {
        use Combine as C;
        use Export as E;
        use Record as R;
        use Shown as S;
        let (combine, export, record, shown, graphed) = match self {
            Kind::Counter => (C::Sum, E::Counter, R::Total, S::Change, true),
            Kind::Gauge => (C::Sum, E::Gauge, R::Level, S::Value, true),
            Kind::Average | Kind::Timer => (C::MeanOfNonZero, E::Gauge, R::Float, S::Value, true),
            Kind::Flag => (C::Any, E::Gauge, R::Flag, S::Value, true),
            Kind::Minimum => (C::Least, E::Gauge, R::Float, S::Value, false),
            Kind::Maximum => (C::Greatest, E::Gauge, R::Float, S::Value, false),
            Kind::Text => (C::AgreeIgnoringEmpty, E::Info, R::Not, S::Text, false),
            Kind::Static => (C::Agree, E::Gauge, R::Not, S::Value, false),
            Kind::Sequence => (C::Agree, E::Hidden, R::Not, S::Value, false),
            Kind::Unknown => (C::Agree, E::Gauge, R::Not, S::Value, true),
            Kind::Histogram => (C::Buckets, E::Histogram, R::Quantiles, S::Quantiles, false),
            Kind::HistogramPart => (C::Within, E::Hidden, R::Not, S::Value, false),
            Kind::LabelValue => (C::Within, E::Hidden, R::Not, S::Text, false),
        };
        Meaning {
            combine,
            export,
            record,
            shown,
            graphed,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad` honours width and alignment, so kinds line up in columns.
        f.pad(self.name())
    }
}

/// A type signature in Python `struct` notation (`Q`, `d`, `255s`, ...),
/// without padding, held inline so that it can be built in a `const`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    bytes: [u8; Signature::CAPACITY],
    len: usize,
}

impl Signature {
    /// A placeholder field type, for filling arrays before computing them.
    pub const EMPTY_TYPE: FieldType = FieldType {
        signature: Signature::code(b'x'),
        value_size: 0,
        align: 1,
        buffered: false,
        kind: Kind::Unknown,
        default_unit: "",
        error: None,
    };

    /// Room for the longest signature this writer makes (`16777216s`).
    pub const CAPACITY: usize = 16;

    /// A one-letter signature such as `Q` or `?`.
    pub const fn code(code: u8) -> Signature {
        let mut bytes = [0u8; Signature::CAPACITY];
        bytes[0] = code;
        Signature { bytes, len: 1 }
    }

    /// The signature of `n` values of one type, `"{n}I"` for `code` `I`
    /// (Python's `struct` reads it as `n` values; the original reader
    /// shows the first).
    pub const fn repeat(n: usize, code: u8) -> Signature {
        let mut sig = Signature::text(n);
        if sig.len > 0 {
            sig.bytes[sig.len - 1] = code;
        }
        sig
    }

    /// The signature of a text field of `n` bytes: `"{n}s"`.
    pub const fn text(n: usize) -> Signature {
        let mut digits = [0u8; 20];
        let mut count = 0;
        let mut rest = n;
        loop {
            digits[count] = b'0' + (rest % 10) as u8;
            count += 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let mut bytes = [0u8; Signature::CAPACITY];
        let mut i = 0;
        // Texts are capped at MAX_VALUE_SIZE (8 digits), so this always fits;
        // the bound keeps the loop in range whatever `n` is.
        while i < count && i + 1 < Signature::CAPACITY {
            bytes[i] = digits[count - 1 - i];
            i += 1;
        }
        bytes[i] = b's';
        Signature { bytes, len: i + 1 }
    }

    /// The signature's bytes, without padding.
    pub const fn as_bytes(&self) -> &[u8] {
        self.bytes.split_at(self.len).0
    }

    /// The signature's length in bytes, without padding.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Always false: a signature has at least one letter.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Everything the layout needs to know about one field of a model.
///
/// The derive macro builds one per field from the field type's
/// [`FieldType`] and the label it computed.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    /// The full label, prefix included (without [`FieldSpec::suffix`]).
    pub label: &'static str,
    /// Appended to the label in the file: empty for a field's main value,
    /// `.count`, `.seq`, ... for the further values some field types publish
    /// (see [`Part`]).
    pub suffix: &'static str,
    /// The labels of the family this field is a member of
    /// ([`LabelDims::NONE`] for a field that is not one): member
    /// [`FieldSpec::member`]'s label set goes between the label and the
    /// suffix.
    pub labels: &'static LabelDims,
    /// Which member of the family.
    pub member: usize,
    /// What the field type stores and how.
    pub ty: FieldType,
    /// Unit of the value (`seconds`, `bytes`, ...), or empty.
    pub unit: &'static str,
    /// One line saying what the value means, or empty.
    pub help: &'static str,
}

/// What a field type stores: its signature, size, alignment, buffering and kind.
///
/// Each field type states this once as an associated constant, so the macro
/// needs no table of sizes and new field types plug in without touching it.
#[derive(Clone, Copy, Debug)]
pub struct FieldType {
    /// The type signature written into the file, without padding.
    pub signature: Signature,
    /// Size of one value in bytes.
    pub value_size: usize,
    /// Alignment of the value: the offset of the value (and of each buffer)
    /// is a multiple of it.
    pub align: usize,
    /// Whether the value is double-buffered (two copies and a write index).
    pub buffered: bool,
    /// What the value means.
    pub kind: Kind,
    /// Unit used when the field does not name one.
    pub default_unit: &'static str,
    /// Why this type cannot be used, if it cannot (a text of zero bytes, a
    /// window of zero values); reported at compile time.
    pub error: Option<&'static str>,
}

impl FieldSpec {
    /// A field of type `ty` labelled `label`.
    pub const fn new(
        label: &'static str,
        ty: FieldType,
        unit: &'static str,
        help: &'static str,
    ) -> FieldSpec {
        FieldSpec {
            label,
            suffix: "",
            labels: &LabelDims::NONE,
            member: 0,
            ty,
            unit: if unit.is_empty() {
                ty.default_unit
            } else {
                unit
            },
            help,
        }
    }
}

impl FieldSpec {
    /// Bytes of the label in the file: the label, the member's label set
    /// and the suffix.
    pub const fn label_len(&self) -> usize {
        self.label.len() + self.labels.text_len(self.member) + self.suffix.len()
    }

    /// Byte `i` of the label in the file (label, label set, then suffix).
    pub const fn label_byte(&self, i: usize) -> u8 {
        let set = self.labels.text_len(self.member);
        if i < self.label.len() {
            self.label.as_bytes()[i]
        } else if i < self.label.len() + set {
            self.labels.text_byte(self.member, i - self.label.len())
        } else {
            self.suffix.as_bytes()[i - self.label.len() - set]
        }
    }

    /// The label in the file, whole.
    pub fn file_label(&self) -> String {
        let mut label = String::with_capacity(self.label_len());
        label.push_str(self.label);
        label.push_str(&self.labels.text(self.member));
        label.push_str(self.suffix);
        label
    }
}

/// A further value that a field type publishes beside its main one, as a
/// field of its own labelled with the field's label and `suffix`.
///
/// A `Summary`, for example, publishes its mean under its own label and
/// `.count`, `.sum`, `.min`, `.max` and `.seq` beside it. Readers that know
/// nothing of parts see ordinary fields.
#[derive(Clone, Copy, Debug)]
pub struct Part {
    /// Appended to the field's label: `.count`, `.seq`, ...
    pub suffix: &'static str,
    /// What the part stores.
    pub ty: FieldType,
    /// Whether the part has the field's unit (a sum does, a count does not).
    pub same_unit: bool,
    /// One line saying what the part means.
    pub help: &'static str,
}

/// One field of a model as the derive declares it: its main spec, the
/// parts its type adds, and the members it stands for.
#[derive(Clone, Copy, Debug)]
pub struct Decl {
    /// The main value.
    pub spec: FieldSpec,
    /// The further values, placed right after the main one.
    pub parts: &'static [Part],
    /// The labels of the members, for a field type that is a family (see
    /// [`Field::MEMBERS`](crate::Field::MEMBERS)): each member is the main
    /// value and its parts, labelled with the member's label set, one after
    /// the other.
    pub members: &'static LabelDims,
}

impl Decl {
    /// How many members the field has: 1 unless it is a family, and 1 for a
    /// type that does not compile anyway (so that a family too large for a
    /// file is reported, not laid out).
    pub const fn member_count(&self) -> usize {
        if self.spec.ty.error.is_some() {
            1
        } else {
            self.members.members()
        }
    }

    /// How many file fields the declared field makes.
    pub const fn field_count(&self) -> usize {
        (1 + self.parts.len()).saturating_mul(self.member_count())
    }
}

/// How many file fields a model's declared fields make.
pub const fn spec_count(decls: &[Decl]) -> usize {
    let mut n: usize = 0;
    let mut i = 0;
    while i < decls.len() {
        n = n.saturating_add(decls[i].field_count());
        i += 1;
    }
    n
}

/// The index of each declared field's main value among the file fields.
pub const fn first_indexes<const K: usize>(decls: &[Decl; K]) -> [usize; K] {
    let mut out = [0; K];
    let mut n = 0;
    let mut i = 0;
    while i < K {
        out[i] = n;
        n += decls[i].field_count();
        i += 1;
    }
    out
}

/// Every file field of a model: each declared field followed by its parts,
/// then the default fields. `N` must be `spec_count(decls) + defaults.len()`.
pub const fn expand_specs<const K: usize, const D: usize, const N: usize>(
    decls: &[Decl; K],
    defaults: &[FieldSpec; D],
) -> [FieldSpec; N] {
    assert!(
        spec_count(decls) + D == N,
        "mmstats: the field count does not add up"
    );
    let mut out = [FieldSpec::new("", Signature::EMPTY_TYPE, "", ""); N];
    expand_specs_into(decls, defaults, &mut out);
    out
}

/// Writes into `out` every file field of `decls` (each declared field's
/// members, each followed by its parts), then `defaults`, and returns how
/// many it wrote (at most `out.len()`): the one expansion, which
/// [`expand_specs`] (the derive) and [`crate::schema`] (at run time) both
/// call.
pub const fn expand_specs_into(
    decls: &[Decl],
    defaults: &[FieldSpec],
    out: &mut [FieldSpec],
) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < decls.len() {
        let mut m = 0;
        while m < decls[i].member_count() {
            let main = FieldSpec {
                labels: decls[i].members,
                member: m,
                ..decls[i].spec
            };
            if n < out.len() {
                out[n] = main;
            }
            n += 1;
            let mut j = 0;
            while j < decls[i].parts.len() {
                let part = decls[i].parts[j];
                if n < out.len() {
                    out[n] = FieldSpec {
                        suffix: part.suffix,
                        ty: part.ty,
                        unit: if part.same_unit { main.unit } else { "" },
                        help: part.help,
                        ..main
                    };
                }
                n += 1;
                j += 1;
            }
            m += 1;
        }
        i += 1;
    }
    let mut d = 0;
    while d < defaults.len() {
        if n < out.len() {
            out[n] = defaults[d];
        }
        n += 1;
        d += 1;
    }
    if n < out.len() {
        n
    } else {
        out.len()
    }
}

/// The most fields one file can hold: the metadata block counts them in a
/// `u16`.
pub const MAX_FIELDS: usize = u16::MAX as usize;

/// Where one field sits in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// Offset of the field's label size (the start of the field).
    pub offset: usize,
    /// Leading spaces added to the type signature to align the value.
    pub padding: usize,
    /// Offset of the value (unbuffered) or of buffer 0 (double-buffered).
    pub value_offset: usize,
    /// Offset of the write-buffer byte.
    pub write_buffer_offset: usize,
    /// Offset just past the field: where the next one starts.
    pub end: usize,
}

impl FieldLayout {
    /// A placeholder, for filling arrays before computing them.
    pub const EMPTY: FieldLayout = FieldLayout {
        offset: 0,
        padding: 0,
        value_offset: 0,
        write_buffer_offset: 0,
        end: 0,
    };
}

/// How many leading spaces a signature of `sig_len` bytes needs so that the
/// value of a field starting at `offset` with a `label_len`-byte label lands
/// on a multiple of `align`.
pub const fn signature_padding(
    offset: usize,
    label_len: usize,
    sig_len: usize,
    align: usize,
) -> usize {
    let unpadded = offset + FIELD_OVERHEAD + label_len + sig_len;
    if align <= 1 {
        0
    } else {
        (align - unpadded % align) % align
    }
}

/// Bytes taken by the value part of a field: one value, or two buffers.
pub const fn value_part_size(value_size: usize, buffered: bool) -> usize {
    if buffered {
        2 * value_size
    } else {
        value_size
    }
}

/// Places one field of type `ty` with a `label_len`-byte label at `offset`.
pub const fn place(offset: usize, label_len: usize, ty: &FieldType) -> FieldLayout {
    let sig_len = ty.signature.len();
    let padding = signature_padding(offset, label_len, sig_len, ty.align);
    let write_buffer_offset =
        offset + LABEL_SIZE_BYTES + label_len + SIGNATURE_SIZE_BYTES + padding + sig_len;
    let value_offset = write_buffer_offset + WRITE_BUFFER_BYTES;
    FieldLayout {
        offset,
        padding,
        value_offset,
        write_buffer_offset,
        end: value_offset + value_part_size(ty.value_size, ty.buffered),
    }
}

/// Places every field of a model, one after the other from [`FIELDS_START`].
pub const fn layout<const N: usize>(specs: &[FieldSpec; N]) -> [FieldLayout; N] {
    let mut out = [FieldLayout::EMPTY; N];
    layout_into(specs, &mut out);
    out
}

/// Places `specs` into `out`, one after the other from [`FIELDS_START`]:
/// the one layout of the format, which [`layout`] (the derive, at compile
/// time) and [`crate::schema`] (at run time) both call. Places
/// `min(specs.len(), out.len())` fields.
pub const fn layout_into(specs: &[FieldSpec], out: &mut [FieldLayout]) {
    let mut offset = FIELDS_START;
    let mut i = 0;
    while i < specs.len() && i < out.len() {
        out[i] = place(offset, specs[i].label_len(), &specs[i].ty);
        offset = out[i].end;
        i += 1;
    }
}

/// Where the field list ends (the offset of the terminator).
pub const fn fields_end(layouts: &[FieldLayout]) -> usize {
    match layouts.last() {
        Some(last) => last.end,
        None => FIELDS_START,
    }
}

/// Size of the metadata block for these fields.
pub const fn meta_size(specs: &[FieldSpec]) -> usize {
    let mut size = META_HEADER_BYTES;
    let mut i = 0;
    while i < specs.len() {
        size += META_RECORD_OVERHEAD + specs[i].unit.len() + specs[i].help.len();
        i += 1;
    }
    size
}

/// Bytes a model needs before rounding to pages: version, fields,
/// terminator and metadata block.
pub const fn content_size(specs: &[FieldSpec], layouts: &[FieldLayout]) -> usize {
    fields_end(layouts) + TERMINATOR_BYTES + meta_size(specs)
}

/// The file size for `content` bytes: whole pages, at least one.
pub const fn file_size(content: usize, page_size: usize) -> usize {
    let page = if page_size == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        page_size
    };
    let pages = content.div_ceil(page);
    if pages == 0 {
        page
    } else {
        pages * page
    }
}

/// The first problem with a model's labels, if any: a label that is empty,
/// too long or holds a NUL byte, a unit or help text too long, two fields
/// with the same label, or more fields than a file can hold. Checked at
/// compile time for derived models (whose field types are checked one by
/// one, through [`FieldType::error`]).
///
/// The members of a family (fields with a label set, see
/// [`Field::MEMBERS`](crate::Field::MEMBERS)) are not compared with each
/// other label by label: their label sets differ by construction (distinct
/// values per label, distinct keys per tuple), and from a label without a
/// `{` by that `{`. What is compared, so that the check stays linear in the
/// members and a family of thousands compiles: the fields that are not
/// members with each other, every label that holds a `{` of its own with
/// every member, the parts of one member with each other, and the labels of
/// two families.
pub const fn check_specs<const N: usize>(specs: &[FieldSpec; N]) -> Option<&'static str> {
    if N > MAX_FIELDS {
        return Some(SpecProblem::TooManyFields.message());
    }
    let (mut a, mut b, mut c, mut d) = ([0usize; N], [0usize; N], [0usize; N], [0usize; N]);
    match check_specs_in(specs, [&mut a, &mut b, &mut c, &mut d]) {
        Some((problem, _)) => Some(problem.message()),
        None => None,
    }
}

/// What [`check_specs_in`] found wrong with a model's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecProblem {
    /// More than [`MAX_FIELDS`] fields.
    TooManyFields,
    /// A label of no bytes.
    EmptyLabel,
    /// A label longer than [`MAX_LABEL_LEN`] bytes.
    LabelTooLong,
    /// A label with a NUL byte.
    Nul,
    /// A unit or help text longer than 65535 bytes.
    TextTooLong,
    /// Two fields with the same label in the file.
    Duplicate,
}

impl SpecProblem {
    /// The message the derive's compile error shows.
    pub const fn message(self) -> &'static str {
        match self {
            SpecProblem::TooManyFields => "a file can hold at most 65535 fields (the metadata counts them in 16 bits): this model, with its families' members, has more",
            SpecProblem::EmptyLabel => "a label must not be empty",
            SpecProblem::LabelTooLong => "a label must not be longer than 65535 bytes",
            SpecProblem::Nul => "a label must not contain a NUL byte",
            SpecProblem::TextTooLong => "a unit or help text must not be longer than 65535 bytes",
            SpecProblem::Duplicate => "two fields have the same label",
        }
    }
}

/// The checks of [`check_specs`], for any number of fields: the first
/// problem and the index of the field that has it. `scratch` is four
/// arrays of at least `specs.len()` indexes each (the compile-time caller
/// makes them on the stack, the run-time one, [`crate::schema`], on the
/// heap); shorter ones are [`SpecProblem::TooManyFields`].
pub const fn check_specs_in(
    specs: &[FieldSpec],
    scratch: [&mut [usize]; 4],
) -> Option<(SpecProblem, usize)> {
    let n = specs.len();
    if n > MAX_FIELDS
        || scratch[0].len() < n
        || scratch[1].len() < n
        || scratch[2].len() < n
        || scratch[3].len() < n
    {
        return Some((SpecProblem::TooManyFields, 0));
    }
    let [plain, braced, members, heads] = scratch;
    let mut plains = 0;
    let mut braceds = 0;
    let mut member_count = 0;
    let mut head_count = 0;
    let mut i = 0;
    while i < n {
        let spec = &specs[i];
        let len = spec.label_len();
        if len == 0 {
            return Some((SpecProblem::EmptyLabel, i));
        }
        if len > MAX_LABEL_LEN {
            return Some((SpecProblem::LabelTooLong, i));
        }
        if has_byte(spec.label, 0) || has_byte(spec.suffix, 0) {
            return Some((SpecProblem::Nul, i));
        }
        if spec.unit.len() > u16::MAX as usize || spec.help.len() > u16::MAX as usize {
            return Some((SpecProblem::TextTooLong, i));
        }
        let brace = has_byte(spec.label, b'{') || has_byte(spec.suffix, b'{');
        if brace {
            let mut m = 0;
            while m < member_count {
                if labels_eq(&specs[members[m]], spec) {
                    return Some((SpecProblem::Duplicate, i));
                }
                m += 1;
            }
            braced[braceds] = i;
            braceds += 1;
        }
        if spec.labels.is_empty() || brace {
            let mut p = 0;
            while p < plains {
                if labels_eq(&specs[plain[p]], spec) {
                    return Some((SpecProblem::Duplicate, i));
                }
                p += 1;
            }
            plain[plains] = i;
            plains += 1;
        } else {
            let mut b = 0;
            while b < braceds {
                if labels_eq(&specs[braced[b]], spec) {
                    return Some((SpecProblem::Duplicate, i));
                }
                b += 1;
            }
            // The parts of the same member, right before it.
            let mut j = i;
            let mut head = true;
            while j > 0 {
                j -= 1;
                let other = &specs[j];
                if other.labels.is_empty() || !str_eq(other.label, spec.label) {
                    break;
                }
                // A family's members come in order: the next one, or more
                // parts of the same.
                if other.member != spec.member {
                    head = other.member + 1 != spec.member;
                    break;
                }
                head = false;
                if str_eq(other.suffix, spec.suffix) {
                    return Some((SpecProblem::Duplicate, i));
                }
            }
            if head {
                let mut h = 0;
                while h < head_count {
                    if str_eq(specs[heads[h]].label, spec.label) {
                        return Some((SpecProblem::Duplicate, i));
                    }
                    h += 1;
                }
                heads[head_count] = i;
                head_count += 1;
            }
            members[member_count] = i;
            member_count += 1;
        }
        i += 1;
    }
    None
}

const fn has_byte(text: &str, byte: u8) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == byte {
            return true;
        }
        i += 1;
    }
    false
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether two fields have the same label in the file (label and suffix).
const fn labels_eq(a: &FieldSpec, b: &FieldSpec) -> bool {
    let len = a.label_len();
    if len != b.label_len() {
        return false;
    }
    let mut i = 0;
    while i < len {
        if a.label_byte(i) != b.label_byte(i) {
            return false;
        }
        i += 1;
    }
    true
}

/// The size in bytes of one value of a signature, or `None` when this
/// project does not know the signature.
///
/// Accepts what Python's `struct` accepts for one item without a byte-order
/// prefix: surrounding white space, and a count only before `s`. Native sizes
/// are those of C on 64-bit Unix (`l` and `L` are 8 bytes).
pub fn parse_signature(raw: &[u8]) -> Option<SignatureInfo> {
    let trimmed = trim_signature(raw);
    let (&code, count) = trimmed.split_last()?;
    let scalar = |size: usize, value: ValueType| {
        if count.is_empty() {
            Some(SignatureInfo { size, value })
        } else {
            None
        }
    };
    match code {
        b'b' => scalar(1, ValueType::I8),
        b'B' => scalar(1, ValueType::U8),
        b'?' => scalar(1, ValueType::Bool),
        b'c' => scalar(1, ValueType::Char),
        b'h' => scalar(2, ValueType::I16),
        b'H' => scalar(2, ValueType::U16),
        b'i' => scalar(4, ValueType::I32),
        b'I' if count.is_empty() => scalar(4, ValueType::U32),
        b'I' => {
            // `NI`: N counts, such as a histogram's buckets.
            if !count.iter().all(u8::is_ascii_digit) || count.len() > 7 {
                return None;
            }
            let n = count
                .iter()
                .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
            match n {
                0 => None,
                1 => Some(SignatureInfo {
                    size: 4,
                    value: ValueType::U32,
                }),
                n => Some(SignatureInfo {
                    size: n * 4,
                    value: ValueType::Counts,
                }),
            }
        }
        b'l' | b'q' | b'n' => scalar(8, ValueType::I64),
        b'L' | b'Q' | b'N' => scalar(8, ValueType::U64),
        b'f' => scalar(4, ValueType::F32),
        b'd' => scalar(8, ValueType::F64),
        b's' => {
            let size = if count.is_empty() {
                1
            } else {
                if !count.iter().all(u8::is_ascii_digit) || count.len() > 9 {
                    return None;
                }
                count
                    .iter()
                    .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'))
            };
            Some(SignatureInfo {
                size,
                value: ValueType::Text,
            })
        }
        _ => None,
    }
}

/// A stored type signature without the white space around it: what Python's
/// `struct` skips (the characters of C's `isspace()`, vertical tab included,
/// unlike `<[u8]>::trim_ascii`). Readers report signatures this way.
pub fn trim_signature(raw: &[u8]) -> &[u8] {
    // Python's struct skips the same characters as C's isspace().
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = raw.iter().position(|b| !is_space(b)).unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |e| e + 1);
    &raw[start..end]
}

/// What a signature says about its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureInfo {
    /// Size of one value in bytes.
    pub size: usize,
    /// How to decode the value.
    pub value: ValueType,
}

/// How the bytes of a value are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// `b`
    I8,
    /// `B`
    U8,
    /// `?`
    Bool,
    /// `c`: one raw byte, shown as text.
    Char,
    /// `h`
    I16,
    /// `H`
    U16,
    /// `i`
    I32,
    /// `I`
    U32,
    /// `q`, `l`, `n`
    I64,
    /// `Q`, `L`, `N`
    U64,
    /// `f`
    F32,
    /// `d`
    F64,
    /// `Ns`: bytes up to the first NUL, as UTF-8.
    Text,
    /// `NI` with N > 1: N unsigned 32-bit counts (a histogram's buckets).
    Counts,
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ty(code: u8, size: usize) -> FieldType {
        FieldType {
            signature: Signature::code(code),
            value_size: size,
            align: size,
            buffered: false,
            kind: Kind::Gauge,
            default_unit: "",
            error: None,
        }
    }

    #[test]
    fn text_signatures_spell_their_size() {
        assert_eq!(Signature::text(0).as_bytes(), b"0s");
        assert_eq!(Signature::text(7).as_bytes(), b"7s");
        assert_eq!(Signature::text(255).as_bytes(), b"255s");
        assert_eq!(Signature::text(MAX_VALUE_SIZE).as_bytes(), b"16777216s");
    }

    #[test]
    fn values_are_aligned_by_padding_the_signature() {
        // "counter": 1 + 2 + 7 + 2 + 1 + 1 = 14, so a u64 needs 2 spaces.
        let f = place(1, 7, &ty(b'Q', 8));
        assert_eq!(f.padding, 2);
        assert_eq!(f.value_offset, 16);
        assert_eq!(f.write_buffer_offset, 15);
        assert_eq!(f.end, 24);
        // One-byte values never need padding.
        assert_eq!(place(1, 4, &ty(b'b', 1)).padding, 0);
        for offset in 1..64 {
            for label in 1..40 {
                for size in [1, 2, 4, 8] {
                    let f = place(offset, label, &ty(b'x', size));
                    assert_eq!(f.value_offset % size, 0);
                    assert!(f.padding < size.max(1));
                }
            }
        }
    }

    #[test]
    fn buffered_fields_keep_both_buffers_aligned() {
        let mut t = ty(b'd', 8);
        t.buffered = true;
        let f = place(3, 5, &t);
        assert_eq!(f.value_offset % 8, 0);
        assert_eq!(f.end - f.value_offset, 16);
    }

    #[test]
    fn file_size_is_whole_pages_and_never_empty() {
        assert_eq!(file_size(0, 4096), 4096);
        assert_eq!(file_size(1, 4096), 4096);
        assert_eq!(file_size(4096, 4096), 4096);
        assert_eq!(file_size(4097, 4096), 8192);
        assert_eq!(file_size(10, 0), DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn checks_catch_bad_labels() {
        let t = ty(b'Q', 8);
        assert_eq!(check_specs(&[FieldSpec::new("a", t, "", "")]), None);
        assert!(check_specs(&[FieldSpec::new("", t, "", "")]).is_some());
        assert!(check_specs(&[FieldSpec::new("a\0b", t, "", "")]).is_some());
        assert!(check_specs(&[
            FieldSpec::new("a", t, "", ""),
            FieldSpec::new("a", t, "", "")
        ])
        .is_some());
    }

    #[test]
    fn checks_catch_a_plain_label_that_spells_a_member() {
        use crate::labels::{LabelDim, LabelDims};
        const DIMS: LabelDims = LabelDims::one(LabelDim {
            key: "k",
            pairs: &["k=\"a\"", "k=\"b\""],
        });
        let t = ty(b'Q', 8);
        let member = |m| FieldSpec {
            labels: &DIMS,
            member: m,
            ..FieldSpec::new("f", t, "", "")
        };
        assert_eq!(check_specs(&[member(0), member(1)]), None);
        // A plain field labelled as a member is found, before or after it.
        let plain = FieldSpec::new("f{k=\"b\"}", t, "", "");
        assert!(check_specs(&[member(0), member(1), plain]).is_some());
        assert!(check_specs(&[plain, member(0), member(1)]).is_some());
        // Two families of one label.
        assert!(check_specs(&[member(0), member(1), member(0)]).is_some());
        // The parts of one member.
        let part = |m, suffix| FieldSpec {
            suffix,
            ..member(m)
        };
        assert_eq!(
            check_specs(&[member(0), part(0, ".seq"), member(1), part(1, ".seq")]),
            None
        );
        assert!(check_specs(&[member(0), part(0, ".seq"), part(0, ".seq")]).is_some());
    }

    #[test]
    fn signatures_parse_like_python_struct() {
        let p = |s: &[u8]| parse_signature(s).map(|i| (i.size, i.value));
        assert_eq!(p(b"Q"), Some((8, ValueType::U64)));
        assert_eq!(p(b"   Q"), Some((8, ValueType::U64)));
        assert_eq!(p(b" 255s"), Some((255, ValueType::Text)));
        assert_eq!(p(b"s"), Some((1, ValueType::Text)));
        assert_eq!(p(b"0s"), Some((0, ValueType::Text)));
        assert_eq!(p(b"2 55s"), None);
        assert_eq!(p(b"2Q"), None);
        assert_eq!(p(b"754I"), Some((3016, ValueType::Counts)));
        assert_eq!(p(b"  1I"), Some((4, ValueType::U32)));
        assert_eq!(p(b"0I"), None);
        assert_eq!(p(b"99999999I"), None);
        assert_eq!(p(b""), None);
        assert_eq!(p(b"   "), None);
        assert_eq!(p(b"Z"), None);
        assert_eq!(p(b"9999999999s"), None);
    }
}
