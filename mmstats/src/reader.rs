//! Reading mmstats files, the way the original Python reader does.
//!
//! [`read_path`] maps a file read-only and parses it in place; [`read_bytes`]
//! parses bytes already in memory. Both return a [`Snapshot`]: every field in
//! file order with its label, decoded value, type signature and, where the
//! file carries the metadata block (see [`format::META_MAGIC`]), its kind,
//! unit and help text.
//!
//! The semantics are those of the reference reader (mmstats 0.8.0): fields are
//! walked one after the other until a label size of zero, the end of the file,
//! or a single zero byte left before the end; labels and texts are decoded as
//! UTF-8 with invalid sequences dropped, a text ends at its first NUL, and a
//! double-buffered field is read from the buffer the writer is not writing.
//! Where the reference raises whatever Python exception comes up, this reader
//! returns a typed [`ReadError`] that says what is wrong and where, and it
//! re-checks a double-buffered value against the write index so that the
//! value is never half old, half new.
//!
//! Files the reference reads but this reader refuses, none of which any
//! writer produces: a type signature of several items or with a byte-order
//! prefix (`QQ`, `2I`, `<Q`; the reference returns the first item), or a
//! letter [`format::parse_signature`] does not know; and a double-buffered
//! field at the very end of a truncated file whose unused buffer is cut off.

// The reader runs on files anyone can write: nothing in it may panic on their
// contents, and these lints keep it that way (the tests opt out).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};

use crate::format::{self, Kind, ValueType};

/// How many times a double-buffered value is copied again when the writer
/// flipped its buffers during the copy, before giving up.
pub const MAX_BUFFER_ATTEMPTS: u32 = 1000;

/// How long a reader keeps trying to read a group guarded by a sequence
/// field whole, before giving up on it (see [`Snapshot::unsettled`]). A
/// group's update takes nanoseconds, but a writer can be descheduled in the
/// middle of one for a time slice; only a writer that died in the middle of
/// an update keeps a reader waiting this long.
pub const GROUP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Labels (by their ending) of the default fields that are set once when a
/// file is created; they read as [`Kind::Static`] when the file has no
/// metadata block.
const STATIC_LABEL_ENDINGS: [&str; 6] = [
    "sys.pid",
    "sys.tid",
    "sys.uid",
    "sys.gid",
    "sys.created",
    ".version",
];

/// Reads an mmstats file that is already in memory.
///
/// The result does not name a path ([`Snapshot::path`] is `None`).
pub fn read_bytes(bytes: &[u8]) -> Result<Snapshot, ReadError> {
    parse(bytes)
}

/// Reads an mmstats file that is already in memory into `frame`, reusing its
/// buffers (see [`Frame`]). On an error the frame is left empty.
pub fn read_bytes_into(bytes: &[u8], frame: &mut Frame) -> Result<(), ReadError> {
    parse_into(bytes, frame)
}

/// Reads the mmstats file at `path`.
///
/// The file is mapped read-only and parsed in place, without a lock and
/// without ever writing to it, so it can be read while its writer is still
/// updating it. Every error names the path. Anything but a regular file
/// (a directory, a named pipe, a device) is refused without being read.
///
/// A file that another process truncates while it is being read can still
/// make the operating system stop this process (`SIGBUS`); writers never
/// truncate a file they publish.
pub fn read_path(path: &Path) -> Result<Snapshot, ReadError> {
    MappedFile::open(path)?.read()
}

/// A stats file mapped once, to be read again and again (a tool polling a
/// file, a stress test) without mapping it anew each time.
///
/// Like [`read_path`], it maps the file read-only, takes no lock and never
/// writes; each [`MappedFile::read`] parses the file as it is at that moment.
/// A mapping keeps the file's data alive even after the file is deleted.
pub struct MappedFile {
    path: PathBuf,
    map: memmap2::MmapRaw,
}

impl fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("len", &self.map.len())
            .finish()
    }
}

impl MappedFile {
    /// Maps the file at `path`. Anything but a regular file (a directory, a
    /// named pipe, a device) is refused without being read; an empty file
    /// is [`ReadError::Empty`].
    pub fn open(path: &Path) -> Result<MappedFile, ReadError> {
        let io_error = |source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        // A named pipe among the stats files must not make the reader wait
        // for a writer to open it; on regular files the flag changes nothing.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        let file = options.open(path).map_err(io_error)?;
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        if metadata.len() == 0 {
            // An empty file cannot be mapped; it is simply not an mmstats file.
            return Err(ReadError::File {
                path: path.to_path_buf(),
                error: Box::new(ReadError::Empty),
            });
        }
        let map = memmap2::MmapOptions::new()
            .map_raw_read_only(&file)
            .map_err(io_error)?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            map,
        })
    }

    /// The path the file was opened as.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Parses the file as it is now. Every error names the path.
    ///
    /// A file that another process truncates while it is mapped can make the
    /// operating system stop this process (`SIGBUS`); writers never truncate
    /// a file they publish.
    pub fn read(&self) -> Result<Snapshot, ReadError> {
        let mut snapshot = parse(&self.map).map_err(|error| ReadError::File {
            path: self.path.clone(),
            error: Box::new(error),
        })?;
        snapshot.path = Some(self.path.clone());
        Ok(snapshot)
    }

    /// Parses the file as it is now into `frame`, reusing its buffers (see
    /// [`Frame`]): what [`MappedFile::read`] does, without allocating once
    /// the frame has grown to the file's size. On an error, which names the
    /// path, the frame is left empty.
    pub fn read_into(&self, frame: &mut Frame) -> Result<(), ReadError> {
        parse_into(&self.map, frame).map_err(|error| ReadError::File {
            path: self.path.clone(),
            error: Box::new(error),
        })
    }
}

/// Everything read from one mmstats file at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The file read, if the snapshot was read from a file.
    pub path: Option<PathBuf>,
    /// The format version (the first byte): always [`format::VERSION`].
    pub version: u8,
    /// Size of the file, or of the bytes read, in bytes.
    pub file_size: usize,
    /// Every field, in file order.
    pub stats: Vec<Stat>,
    /// What ended the field list.
    pub end: EndMarker,
    /// Offset where the field list ends: the terminator, the last zero byte,
    /// or the end of the file.
    pub fields_end: usize,
    /// Whether kinds, units and help texts came from a metadata block.
    pub meta: bool,
    /// Labels of the sequence fields (see [`Kind::Sequence`]) whose groups
    /// could not be read whole: the writer was always in the middle of an
    /// update (or died in one). Their values are the last ones read.
    pub unsettled: Vec<String>,
}

impl Snapshot {
    /// The first field labelled exactly `label`.
    pub fn get(&self, label: &str) -> Option<&Stat> {
        self.stats.iter().find(|stat| stat.label == label)
    }

    /// The process that owns the file: the value of the first field whose
    /// label ends with `sys.pid` (a label prefix may come before it), if that
    /// is an integer that can be a process id.
    pub fn pid(&self) -> Option<u32> {
        let stat = self
            .stats
            .iter()
            .find(|stat| stat.label.ends_with("sys.pid"))?;
        stat.value.as_ref().as_pid()
    }
}

/// What ended the list of fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndMarker {
    /// A label size of zero (the usual terminator).
    ZeroLabelSize,
    /// The last field ends exactly at the end of the file.
    Eof,
    /// A single byte, zero, was left after the last field.
    SingleZeroByte,
}

impl EndMarker {
    /// The name used in the golden test files: `zero_label_size`, `eof` or
    /// `single_zero_byte`.
    pub const fn name(self) -> &'static str {
        match self {
            EndMarker::ZeroLabelSize => "zero_label_size",
            EndMarker::Eof => "eof",
            EndMarker::SingleZeroByte => "single_zero_byte",
        }
    }
}

impl fmt::Display for EndMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One field of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Stat {
    /// The label, decoded as UTF-8 with invalid bytes dropped.
    pub label: String,
    /// What the field means: from the metadata block, or guessed from the
    /// label when the file has none.
    pub kind: Kind,
    /// The value.
    pub value: Value,
    /// The type signature as stored, without its padding (`Q`, `255s`, ...).
    pub signature: String,
    /// Whether the field is double-buffered.
    pub buffered: bool,
    /// The unit of the value from the metadata block, or empty.
    pub unit: String,
    /// What the value means, from the metadata block, or empty.
    pub help: String,
}

/// The value of one field.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An unsigned integer (`B`, `H`, `I`, `Q`, ...).
    Unsigned(u64),
    /// A signed integer (`b`, `h`, `i`, `q`, ...).
    Signed(i64),
    /// A floating-point number; `f` (float32) values are widened exactly.
    Float(f64),
    /// A yes/no value (`?`): any non-zero byte is true.
    Bool(bool),
    /// A text (`Ns`, `c`): the bytes up to the first NUL, as UTF-8 with
    /// invalid bytes dropped.
    Text(String),
}

impl Value {
    /// The value borrowed, as a [`Frame`] lends it.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Unsigned(v) => ValueRef::Unsigned(*v),
            Value::Signed(v) => ValueRef::Signed(*v),
            Value::Float(v) => ValueRef::Float(*v),
            Value::Bool(v) => ValueRef::Bool(*v),
            Value::Text(v) => ValueRef::Text(v),
        }
    }

    /// The value as a number, for tools that compute rates or plot: booleans
    /// are 0 or 1, texts have no number. Integers beyond 2^53 are rounded.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_ref().as_f64()
    }
}

impl fmt::Display for Value {
    /// Integers in decimal, floats with the fewest digits that read back the
    /// same (always with a decimal point or an exponent, like Python), booleans
    /// as `true`/`false`, texts as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_ref(), f)
    }
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened or mapped.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A problem in the contents of the file at `path`.
    #[error("{}: {error}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        error: Box<ReadError>,
    },
    /// There is not even a version byte.
    #[error("not an mmstats file: it is empty")]
    Empty,
    /// The first byte is not a version this reader knows.
    #[error(
        "not an mmstats file, or one of a newer format: the version byte is {found:#04x}, \
         this reader knows only version {}",
        format::VERSION
    )]
    UnsupportedVersion {
        /// The first byte of the file.
        found: u8,
    },
    /// A part of a field runs past the end of the file.
    #[error(
        "the file is cut short: the {what}{} at offset {offset} needs {needed} bytes, \
         only {available} are left",
        field_name(label)
    )]
    Truncated {
        /// Which part: `label size`, `label`, `type signature size`, ...
        what: &'static str,
        /// The field's label, once it is known.
        label: Option<String>,
        /// Offset where the part starts.
        offset: usize,
        /// Bytes the part needs.
        needed: usize,
        /// Bytes left in the file from `offset`.
        available: usize,
    },
    /// A field's type signature is not one this reader can decode.
    #[error(
        "field {} at offset {offset} has the type signature {}, \
         which this reader does not know",
        quoted(label),
        quoted(signature)
    )]
    UnknownSignature {
        /// The field's label.
        label: String,
        /// The signature as stored (invalid UTF-8 replaced).
        signature: String,
        /// Offset where the field starts.
        offset: usize,
    },
    /// A field's value (both buffers, if double-buffered) is larger than the
    /// whole file, so the signature cannot be right.
    #[error(
        "field {} at offset {offset} claims a value of {size} bytes, \
         more than the whole file ({file_size} bytes)",
        quoted(label)
    )]
    ValueTooLarge {
        /// The field's label.
        label: String,
        /// Offset where the field starts.
        offset: usize,
        /// Bytes the value part would take.
        size: usize,
        /// Size of the file.
        file_size: usize,
    },
    /// A double-buffered field's write-buffer byte is neither 0 nor 1.
    #[error(
        "field {} at offset {offset} has the write-buffer byte {found}; \
         only 0, 1 (double-buffered) and 255 (unbuffered) are valid",
        quoted(label)
    )]
    InvalidWriteBuffer {
        /// The field's label.
        label: String,
        /// Offset of the write-buffer byte.
        offset: usize,
        /// The byte found.
        found: u8,
    },
    /// The writer kept switching buffers while a double-buffered value was
    /// being copied, so no consistent value could be read.
    #[error(
        "field {} at offset {offset} changed during every one of {attempts} \
         attempts to read it; its writer may be updating it in a tight loop",
        quoted(label)
    )]
    UnstableBuffer {
        /// The field's label.
        label: String,
        /// Offset where the field starts.
        offset: usize,
        /// How many copies were tried.
        attempts: u32,
    },
}

impl ReadError {
    /// The file the error is about, if it came from [`read_path`].
    pub fn path(&self) -> Option<&Path> {
        match self {
            ReadError::Io { path, .. } | ReadError::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The error without the path that [`read_path`] wraps around problems
    /// in a file's contents: for matching on what went wrong.
    pub fn without_path(&self) -> &ReadError {
        match self {
            ReadError::File { error, .. } => error.without_path(),
            other => other,
        }
    }
}

/// ` of field "label"`, or nothing when the label is not known yet.
fn field_name(label: &Option<String>) -> String {
    match label {
        Some(label) => format!(" of field {}", quoted(label)),
        None => String::new(),
    }
}

/// Longest label or signature that error messages quote in full.
const QUOTE_LIMIT: usize = 60;

/// `text` quoted for an error message, cut short when it is long (a damaged
/// file can hold a signature of thousands of bytes).
fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!(
            "{:?}... ({} bytes)",
            text.get(..cut).unwrap_or_default(),
            text.len()
        ),
        None => format!("{text:?}"),
    }
}

/// The kind a field gets when the file has no metadata block.
fn default_kind(label: &str) -> Kind {
    if STATIC_LABEL_ENDINGS.iter().any(|end| label.ends_with(end)) {
        Kind::Static
    } else {
        Kind::Unknown
    }
}

/// A stretch of a [`Frame`]'s text buffer: a label, signature, unit, help
/// or text value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// Appends `bytes` to `text` as UTF-8 with invalid sequences dropped
/// (Python's `decode('utf8', 'ignore')`) and says where they went.
#[inline]
fn push_utf8_ignore(text: &mut String, bytes: &[u8]) -> Span {
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
fn push_raw(text: &mut Vec<u8>, bytes: &[u8]) -> Span {
    let start = text.len();
    text.extend_from_slice(bytes);
    Span {
        start,
        end: text.len(),
    }
}

/// A text value's bytes: those up to the first NUL.
fn text_value_bytes(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or_default()
}

/// `bytes` as UTF-8 with invalid sequences dropped, as labels read; for
/// error messages, before a parse's text is checked.
fn ignore_invalid(bytes: &[u8]) -> String {
    let mut text = String::new();
    push_utf8_ignore(&mut text, bytes);
    text
}

/// The text a parse built, once checked as UTF-8. In the usual case, valid
/// UTF-8 with every span on a character boundary, the bytes become the text
/// as they are; otherwise each span is decoded on its own, with invalid
/// sequences dropped, and the spans are moved to where they went.
fn finish_text(raw: Vec<u8>, entries: &mut [Entry]) -> String {
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

/// A value as a [`Frame`] keeps it: a number's bytes as stored (the first
/// `size` of the eight), decoded only when asked for, or a text in the
/// frame's buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Slot {
    bytes: [u8; 8],
    text: Span,
}

/// Keeps one value of type `ty` from exactly `ty`'s size in bytes; a text's
/// bytes (up to its first NUL) are given to `push_text`, which says where
/// it put them.
#[inline(always)]
fn slot(ty: ValueType, bytes: &[u8], push_text: impl FnOnce(&[u8]) -> Span) -> Slot {
    match ty {
        ValueType::Char | ValueType::Text => Slot {
            bytes: [0; 8],
            text: push_text(text_value_bytes(bytes)),
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

/// The value `slot` of type `ty` holds; texts are looked up in `text`.
fn slot_value<'t>(ty: ValueType, slot: &Slot, text: &'t str) -> ValueRef<'t> {
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
    }
}

/// One field as a [`Frame`] keeps it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    label: Span,
    signature: Span,
    unit: Span,
    help: Span,
    kind: Kind,
    buffered: bool,
    value: Slot,
    /// Where the field starts.
    start: usize,
    /// Where an unbuffered value is, and how to decode it, for reading it
    /// again (see `settle_groups`).
    value_at: usize,
    value_type: ValueType,
    value_size: usize,
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
    text: String,
    entries: Vec<Entry>,
    /// Indexes of the sequence fields whose groups did not settle.
    unsettled: Vec<usize>,
    /// Bytes copied out of a mapping before they are decoded.
    scratch: Vec<u8>,
    /// Where the last type signature parsed is stored, its size, and what
    /// it says.
    last_signature: Option<(usize, usize, format::SignatureInfo, Span)>,
    /// The start of a mapped file, copied to be parsed.
    copy: Vec<u8>,
    /// How far into its file the last parse read: how much to copy first
    /// next time.
    extent: usize,
    version: u8,
    file_size: usize,
    end: EndMarker,
    fields_end: usize,
    meta: bool,
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
            .field("unsettled", &self.unsettled().collect::<Vec<_>>())
            .finish()
    }
}

impl Frame {
    /// An empty frame, with no field, that allocates nothing until a file is
    /// read into it.
    pub const fn new() -> Frame {
        Frame {
            text: String::new(),
            entries: Vec::new(),
            unsettled: Vec::new(),
            scratch: Vec::new(),
            last_signature: None,
            copy: Vec::new(),
            extent: 0,
            version: 0,
            file_size: 0,
            end: EndMarker::Eof,
            fields_end: 0,
            meta: false,
        }
    }

    /// Forgets the last file read, keeping the buffers.
    fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
        self.unsettled.clear();
        self.last_signature = None;
        self.version = 0;
        self.file_size = 0;
        self.end = EndMarker::Eof;
        self.fields_end = 0;
        self.meta = false;
    }

    fn str(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or_default()
    }

    fn field(&self, entry: &Entry) -> Field<'_> {
        Field {
            label: self.str(entry.label),
            kind: entry.kind,
            value: slot_value(entry.value_type, &entry.value, &self.text),
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

    /// Labels of the sequence fields whose groups could not be read whole
    /// (see [`Snapshot::unsettled`]).
    pub fn unsettled(&self) -> impl Iterator<Item = &str> + '_ {
        self.unsettled
            .iter()
            .filter_map(|&i| self.entries.get(i))
            .map(|entry| self.str(entry.label))
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
            ValueRef::Text(_) => None,
        }
    }
}

impl ValueRef<'_> {
    /// The value as a process id: an integer that fits one.
    fn as_pid(self) -> Option<u32> {
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
        }
    }
}

/// Why a parse of a file's bytes stopped.
enum Halt {
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
struct Cursor<'b> {
    bytes: &'b [u8],
    /// The size of the whole file, of which `bytes` may be the start.
    file_size: usize,
    pos: usize,
}

impl<'b> Cursor<'b> {
    /// The `n` bytes at `offset`.
    #[inline]
    fn at(
        &mut self,
        offset: usize,
        n: usize,
        what: &'static str,
        label: Option<&[u8]>,
    ) -> Result<&'b [u8], Halt> {
        let end = offset.checked_add(n);
        if let Some(bytes) = end.and_then(|end| self.bytes.get(offset..end)) {
            return Ok(bytes);
        }
        match end {
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
    fn take(
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
    fn u16(&mut self, what: &'static str, label: Option<&[u8]>) -> Result<u16, Halt> {
        match *self.take(2, what, label)? {
            [a, b] => Ok(u16::from_ne_bytes([a, b])),
            _ => Ok(0),
        }
    }

    /// One byte at the current position, moving past it.
    #[inline]
    fn u8(&mut self, what: &'static str, label: Option<&[u8]>) -> Result<u8, Halt> {
        match *self.take(1, what, label)? {
            [b] => Ok(b),
            _ => Ok(0),
        }
    }
}

/// Parses a whole file into a new [`Snapshot`].
fn parse<M: mem::Memory + ?Sized>(mem: &M) -> Result<Snapshot, ReadError> {
    let mut frame = Frame::new();
    parse_into(mem, &mut frame)?;
    Ok(frame.to_snapshot())
}

/// Parses a whole file into `frame`; on an error the frame is left empty.
fn parse_into<M: mem::Memory + ?Sized>(mem: &M, frame: &mut Frame) -> Result<(), ReadError> {
    let result = parse_memory(mem, frame);
    if result.is_err() {
        frame.clear();
    }
    result
}

/// How much of a mapped file is copied at first when the frame has not read
/// a file before.
const FIRST_COPY: usize = 16 * 1024;

/// Parses the bytes of `mem`: in place when they are ordinary memory, else
/// from a copy of as much of the start of the file as the fields and the
/// metadata take (copied anew, larger, when a parse finds it needs more).
/// Values that a copy could have caught half-updated are then read again
/// from the live file: double-buffered values by their protocol, groups
/// guarded by a sequence field by theirs.
fn parse_memory<M: mem::Memory + ?Sized>(mem: &M, frame: &mut Frame) -> Result<(), ReadError> {
    let file_size = mem.len();
    let mut copy = std::mem::take(&mut frame.copy);
    let mut want = match frame.extent {
        0 => FIRST_COPY,
        extent => extent,
    }
    .clamp(1, file_size.max(1));
    let parsed = loop {
        let bytes: &[u8] = match mem.as_slice() {
            Some(bytes) => bytes,
            None => {
                copy.clear();
                copy.resize(want.min(file_size), 0);
                if !mem.copy(0, &mut copy) {
                    copy.clear();
                }
                &copy
            }
        };
        match parse_bytes(bytes, file_size, frame) {
            Ok(extent) => break Ok(extent),
            Err(Halt::Bad(error)) => break Err(error),
            Err(Halt::More(end)) if bytes.len() < end && end <= file_size => {
                want = end.max(want.saturating_mul(2)).min(file_size);
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
    frame.copy = copy;
    frame.extent = parsed?;
    if mem.as_slice().is_none() {
        reread_buffered(mem, frame)?;
    }
    settle_groups(mem, frame);
    Ok(())
}

/// Reads every double-buffered value of `frame` again from the live file, by
/// the double buffer's protocol (see `read_buffered`).
fn reread_buffered<M: mem::Memory + ?Sized>(mem: &M, frame: &mut Frame) -> Result<(), ReadError> {
    let Frame {
        text,
        entries,
        scratch,
        ..
    } = frame;
    for entry in entries.iter_mut().filter(|entry| entry.buffered) {
        read_buffered(
            mem,
            frame_str(text, entry.label),
            entry.start,
            entry.value_at.saturating_sub(format::WRITE_BUFFER_BYTES),
            entry.value_size,
            scratch,
        )?;
        entry.value = slot(entry.value_type, scratch, |b| push_utf8_ignore(text, b));
    }
    Ok(())
}

/// Parses the bytes of a file of `file_size` bytes, or the start of them,
/// into `frame`. Returns how far into the file it read.
fn parse_bytes(bytes: &[u8], file_size: usize, frame: &mut Frame) -> Result<usize, Halt> {
    frame.clear();
    let mut text = std::mem::take(&mut frame.text).into_bytes();
    let mut cursor = Cursor {
        bytes,
        file_size,
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
    let value = slot(info.value, value_bytes, |b| push_raw(text, b));
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

/// Reads each group guarded by a sequence field again, whole: the sequence
/// number, then the group's values, then the sequence number again, until
/// the two are the same even number (trying for at most [`GROUP_WAIT`], and
/// yielding to the writer now and then). The sequence fields whose groups
/// never settled are listed in `frame.unsettled`.
///
/// A group is the sequence field's label without `.seq` (the base) and the
/// fields right before it whose label is the base or starts with the base
/// and a dot. Only unbuffered values take part; a group with anything else
/// is left as first read.
fn settle_groups<M: mem::Memory + ?Sized>(mem: &M, frame: &mut Frame) {
    for seq_index in 0..frame.entries.len() {
        let Some(&seq) = frame.entries.get(seq_index) else {
            continue;
        };
        if seq.kind != Kind::Sequence {
            continue;
        }
        let Some(base) = frame.str(seq.label).strip_suffix(".seq") else {
            continue;
        };
        let in_group = |label: &str| {
            label
                .strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        };
        let mut first = seq_index;
        while let Some(previous) = first.checked_sub(1) {
            match frame.entries.get(previous) {
                Some(entry) if in_group(frame.str(entry.label)) => first = previous,
                _ => break,
            }
        }
        let Some(group) = frame.entries.get(first..seq_index) else {
            continue;
        };
        if group.is_empty()
            || seq.buffered
            || seq.value_size != 8
            || group.iter().any(|g| g.buffered)
        {
            continue;
        }
        let load_seq = || {
            let mut bytes = [0u8; 8];
            let ok = mem.copy(seq.value_at, &mut bytes);
            // Orders the loads after this one (a relaxed load and a fence
            // make an acquire load; see `mem`).
            fence(Ordering::Acquire);
            ok.then(|| u64::from_ne_bytes(bytes))
        };
        // The window between the two loads of the sequence number must be
        // short, or a busy writer never leaves it alone: raw bytes are
        // copied into a buffer, and decoded only when they settled.
        let sizes: usize = group
            .iter()
            .map(|g| g.value_size)
            .fold(0, usize::saturating_add);
        let mut raw = std::mem::take(&mut frame.scratch);
        raw.clear();
        raw.resize(sizes, 0);
        let mut settled = None;
        let started = std::time::Instant::now();
        let mut attempts: u32 = 0;
        loop {
            attempts = attempts.saturating_add(1);
            if attempts.is_multiple_of(64) {
                // Let a descheduled writer finish its update: yield at first,
                // then sleep a little, so that it gets a processor even on a
                // machine that is busy with other work.
                if attempts < 1024 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
                if started.elapsed() > GROUP_WAIT {
                    break;
                }
            }
            if attempts > 1 && !mem.live() {
                // Bytes nobody writes: reading them again changes nothing.
                break;
            }
            let Some(before) = load_seq() else { break };
            if !before.is_multiple_of(2) {
                std::hint::spin_loop();
                continue;
            }
            let mut rest = raw.as_mut_slice();
            let mut copied = true;
            for entry in group {
                let (this, tail) = rest.split_at_mut(entry.value_size.min(rest.len()));
                copied &= mem.copy(entry.value_at, this);
                rest = tail;
            }
            // The group's loads happen before the second load of the
            // sequence number.
            fence(Ordering::Acquire);
            let Some(after) = load_seq() else { break };
            if copied && after == before {
                settled = Some(before);
                break;
            }
            std::hint::spin_loop();
        }
        match settled {
            Some(number) => {
                let Frame { text, entries, .. } = &mut *frame;
                let mut rest = raw.as_slice();
                if let Some(group) = entries.get_mut(first..seq_index) {
                    for entry in group {
                        let (this, tail) = rest.split_at(entry.value_size.min(rest.len()));
                        entry.value = slot(entry.value_type, this, |b| push_utf8_ignore(text, b));
                        rest = tail;
                    }
                }
                if let Some(seq) = entries.get_mut(seq_index) {
                    seq.value = slot(ValueType::U64, &number.to_ne_bytes(), |_| Span::default());
                }
            }
            None => frame.unsettled.push(seq_index),
        }
        frame.scratch = raw;
    }
}

/// The text of `span` in a frame's text buffer.
fn frame_str(text: &str, span: Span) -> &str {
    text.get(span.start..span.end).unwrap_or_default()
}

/// Copies the published buffer of a double-buffered field into `out`: the
/// one the writer is not writing (`buffers[write_buffer ^ 1]`).
///
/// The writer fills `buffers[write_buffer]` and then flips `write_buffer`, so
/// the write index is loaded before and after the copy and the copy is taken
/// only if the index did not move in between; otherwise it is tried again,
/// up to [`MAX_BUFFER_ATTEMPTS`] times. (A writer that flips an even number of
/// times during one copy cannot be told apart; values of 8 bytes or less that
/// the writer aligns are copied with one load and cannot tear anyway.)
fn read_buffered<M: mem::Memory + ?Sized>(
    mem: &M,
    label: &str,
    start: usize,
    write_buffer_offset: usize,
    size: usize,
    out: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let buffers = write_buffer_offset.saturating_add(format::WRITE_BUFFER_BYTES);
    out.clear();
    out.resize(size, 0);
    let truncated = |what, offset: usize, needed| ReadError::Truncated {
        what,
        label: Some(label.to_owned()),
        offset,
        needed,
        available: mem.len().saturating_sub(offset),
    };
    let load_index = || {
        let mut index = [0u8];
        let ok = mem.copy(write_buffer_offset, &mut index);
        // Orders the loads that follow after this one (an acquire load made
        // of a relaxed load and a fence; see `mem`).
        fence(Ordering::Acquire);
        if ok {
            Ok(index[0])
        } else {
            Err(truncated("write-buffer byte", write_buffer_offset, 1))
        }
    };
    for _ in 0..MAX_BUFFER_ATTEMPTS {
        let before = load_index()?;
        let read = usize::from(before ^ 1);
        if read > 1 {
            if size == 0 {
                // Nothing to read, as in the reference reader.
                return Ok(());
            }
            return Err(ReadError::InvalidWriteBuffer {
                label: label.to_owned(),
                offset: write_buffer_offset,
                found: before,
            });
        }
        // Saturates only past the end, where `copy` refuses.
        let offset = buffers.saturating_add(read.saturating_mul(size));
        if !mem.copy(offset, out) {
            return Err(truncated("buffers", buffers, size.saturating_mul(2)));
        }
        fence(Ordering::Acquire);
        if load_index()? == before {
            return Ok(());
        }
        std::hint::spin_loop();
    }
    Err(ReadError::UnstableBuffer {
        label: label.to_owned(),
        offset: start,
        attempts: MAX_BUFFER_ATTEMPTS,
    })
}

/// Reads the metadata block at `offset` (see [`format::META_MAGIC`]) into
/// the kinds, units and help texts of `frame`'s fields, if there is one, it
/// is whole, and it describes exactly as many fields as the frame has.
/// Returns whether it did; if not, the frame is as it was.
/// A kind code this version does not know reads as [`Kind::Unknown`].
fn read_meta(
    cursor: &mut Cursor<'_>,
    offset: usize,
    frame: &mut Frame,
    text: &mut Vec<u8>,
) -> Result<bool, Halt> {
    let text_len = text.len();
    let read = match read_meta_records(cursor, offset, frame, text) {
        Ok(read) => read,
        Err(Halt::More(end)) => return Err(Halt::More(end)),
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

/// The memory a file is parsed from: bytes owned by the caller, or a mapping
/// that a writer may be changing right now.
///
/// All of the reader's `unsafe` code is in this module.
mod mem {
    use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU8, Ordering};

    #[cfg(target_pointer_width = "64")]
    use std::sync::atomic::AtomicU64;

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

    /// A read-only mapping of a file that a writer (another process, or a
    /// thread of this one) may be updating while it is read.
    ///
    /// No `&[u8]` is ever made over it: that would promise the compiler that
    /// the bytes do not change. Every byte is instead read with an atomic
    /// load through a raw pointer: one load of the value's width for an
    /// aligned value of 1, 2, 4 or 8 bytes (the writer of this project stores
    /// such values with one aligned store, so they never tear), single-byte
    /// loads otherwise.
    ///
    /// The loads are `Relaxed`: the pages are mapped read-only, and Rust
    /// guarantees only relaxed loads of at most the target's limit (8 bytes on
    /// 64-bit targets, 4 on others) to work on read-only memory; stronger
    /// loads may be compiled to instructions that write. Callers that need
    /// acquire ordering follow the load with `fence(Ordering::Acquire)`,
    /// which gives the same guarantee.
    impl Memory for memmap2::MmapRaw {
        fn len(&self) -> usize {
            memmap2::MmapRaw::len(self)
        }

        fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
            let Some(end) = offset.checked_add(out.len()) else {
                return false;
            };
            if end > memmap2::MmapRaw::len(self) {
                return false;
            }
            // In bounds of the mapping (checked just above), so `wrapping_add`
            // does not wrap and `at` points into the mapping.
            let at = self.as_ptr().wrapping_add(offset).cast_mut();
            let aligned = |align: usize| (at as usize).checked_rem(align) == Some(0);
            match out.len() {
                #[cfg(target_pointer_width = "64")]
                8 if aligned(std::mem::align_of::<AtomicU64>()) => {
                    // SAFETY: `at..at + 8` is inside the mapping (bounds
                    // checked above), which lives as long as `self` is
                    // borrowed, longer than this load; `at` is aligned for
                    // `AtomicU64` (checked by the guard). The mapping is never
                    // accessed non-atomically by this process (no reference
                    // to its bytes is ever made), so all accesses of this
                    // process to it are atomic; a relaxed load of 8 bytes on
                    // a 64-bit target is allowed on read-only memory.
                    let v =
                        unsafe { AtomicU64::from_ptr(at.cast::<u64>()) }.load(Ordering::Relaxed);
                    out.copy_from_slice(&v.to_ne_bytes());
                }
                4 if aligned(std::mem::align_of::<AtomicU32>()) => {
                    // SAFETY: as for the 8-byte load: `at..at + 4` is in the
                    // live mapping, aligned for `AtomicU32`, only ever accessed
                    // atomically by this process, and a relaxed 4-byte load is
                    // allowed on read-only memory on every target.
                    let v =
                        unsafe { AtomicU32::from_ptr(at.cast::<u32>()) }.load(Ordering::Relaxed);
                    out.copy_from_slice(&v.to_ne_bytes());
                }
                2 if aligned(std::mem::align_of::<AtomicU16>()) => {
                    // SAFETY: as for the 8-byte load: `at..at + 2` is in the
                    // live mapping, aligned for `AtomicU16`, only ever accessed
                    // atomically by this process, and a relaxed 2-byte load is
                    // allowed on read-only memory.
                    let v =
                        unsafe { AtomicU16::from_ptr(at.cast::<u16>()) }.load(Ordering::Relaxed);
                    out.copy_from_slice(&v.to_ne_bytes());
                }
                _ => {
                    // Byte by byte up to the first 8-aligned address, then a
                    // word at a time, then the bytes left: a long label or
                    // text costs an eighth of the loads.
                    let load_byte = |p: *mut u8| {
                        // SAFETY: every caller passes a `p` inside the live
                        // mapping (`at + i` with `i < out.len()`, bounds
                        // checked above); `AtomicU8` needs no alignment; the
                        // byte is only ever accessed atomically by this
                        // process, and a relaxed 1-byte load is allowed on
                        // read-only memory.
                        unsafe { AtomicU8::from_ptr(p) }.load(Ordering::Relaxed)
                    };
                    #[cfg(target_pointer_width = "64")]
                    let head = at.align_offset(std::mem::align_of::<AtomicU64>());
                    #[cfg(not(target_pointer_width = "64"))]
                    let head = out.len();
                    let (head_out, rest) = out.split_at_mut(head.min(out.len()));
                    let mut p = at;
                    for o in head_out {
                        *o = load_byte(p);
                        p = p.wrapping_add(1);
                    }
                    let mut words = rest.chunks_exact_mut(8);
                    #[cfg(target_pointer_width = "64")]
                    for word in &mut words {
                        // SAFETY: `p..p + 8` is inside the live mapping (it
                        // is the part of `at..at + out.len()` that this chunk
                        // of `out` stands for, bounds checked above), and `p`
                        // is aligned for `AtomicU64` (`head` bytes were read
                        // first to reach the alignment, then whole words).
                        // As for the 8-byte load above, the mapping is only
                        // ever accessed atomically by this process and a
                        // relaxed 8-byte load is allowed on read-only memory.
                        let v =
                            unsafe { AtomicU64::from_ptr(p.cast::<u64>()) }.load(Ordering::Relaxed);
                        word.copy_from_slice(&v.to_ne_bytes());
                        p = p.wrapping_add(8);
                    }
                    for o in words.into_remainder() {
                        *o = load_byte(p);
                        p = p.wrapping_add(1);
                    }
                }
            }
            true
        }
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

    /// Label, signature, write-buffer byte and value part of a test field.
    type TestField<'a> = (&'a [u8], &'a [u8], u8, &'a [u8]);

    /// A file with the given fields (label, signature, write buffer, value
    /// part bytes) and a terminator, padded with zeros to `size`.
    fn file(fields: &[TestField<'_>], size: usize) -> Vec<u8> {
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

    fn err(bytes: &[u8]) -> ReadError {
        match read_bytes(bytes) {
            Ok(s) => panic!("expected an error, read {s:?}"),
            Err(e) => e,
        }
    }

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
    fn texts_and_labels_drop_invalid_utf8() {
        let bytes = file(&[(b"l\xffa\xe2\x9d", b"5s", 0xFF, b"ab\xe2\x9d\0")], 32);
        let s = read_bytes(&bytes).unwrap();
        assert_eq!(s.stats[0].label, "la");
        assert_eq!(s.stats[0].value, Value::Text("ab".into()));
    }

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

    /// Memory whose write-buffer byte flips on every load, like a writer in a
    /// tight loop.
    struct Flipping {
        bytes: Vec<u8>,
        write_buffer_offset: usize,
        loads: std::cell::Cell<u32>,
    }

    impl mem::Memory for Flipping {
        fn len(&self) -> usize {
            self.bytes.len()
        }

        fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
            if !self.bytes.as_slice().copy(offset, out) {
                return false;
            }
            if offset == self.write_buffer_offset && out.len() == 1 {
                let n = self.loads.get();
                self.loads.set(n + 1);
                out[0] = (n % 2) as u8;
            }
            true
        }
    }

    #[test]
    fn error_unstable_buffer() {
        let bytes = file(&[(b"busy", b"Q", 0, &[0; 16])], 64);
        let flipping = Flipping {
            bytes,
            write_buffer_offset: 1 + 2 + 4 + 2 + 1,
            loads: std::cell::Cell::new(0),
        };
        match parse(&flipping) {
            Err(ReadError::UnstableBuffer {
                label, attempts, ..
            }) => {
                assert_eq!((label.as_str(), attempts), ("busy", MAX_BUFFER_ATTEMPTS))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn read_path_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.mmstats");
        let e = read_path(&missing).unwrap_err();
        assert!(matches!(e, ReadError::Io { .. }));
        assert!(e.to_string().contains("missing.mmstats"), "{e}");
        let empty = dir.path().join("empty.mmstats");
        std::fs::write(&empty, b"").unwrap();
        let e = read_path(&empty).unwrap_err();
        assert!(matches!(e.without_path(), ReadError::Empty));
        assert_eq!(e.path(), Some(empty.as_path()));
        let e = read_path(dir.path()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo.mmstats");
            let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
            assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
            let e = read_path(&fifo).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
        let bad = dir.path().join("bad.mmstats");
        std::fs::write(&bad, [1, 5]).unwrap();
        let e = read_path(&bad).unwrap_err();
        assert!(matches!(e.without_path(), ReadError::Truncated { .. }));
        assert!(e.to_string().starts_with(&bad.display().to_string()), "{e}");
    }

    #[test]
    fn read_path_matches_read_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = file(
            &[
                (
                    b"a",
                    b"Q",
                    1,
                    &[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0],
                ),
                (b"b", b"   I", 0xFF, &[3, 0, 0, 0]),
                (b"c", b"10s", 0xFF, b"hello\0\0\0\0\0"),
            ],
            4096,
        );
        let path = dir.path().join("x.mmstats");
        std::fs::write(&path, &bytes).unwrap();
        let mut from_path = read_path(&path).unwrap();
        assert_eq!(from_path.path.take(), Some(path));
        assert_eq!(from_path, read_bytes(&bytes).unwrap());
        assert_eq!(from_path.stats[0].value, Value::Unsigned(1));
    }

    /// A writer thread keeps publishing values into an aligned double-buffered
    /// field of a mapped file (atomic stores, as this project's writer does)
    /// while `read_path` reads it: every value read is whole and values never
    /// go back in time.
    #[test]
    fn live_file_reads_whole_values_while_a_writer_runs() {
        use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};
        use std::sync::Arc;

        // A 7-byte label puts the buffers at offset 14; two spaces of padding
        // move them to 16.
        let label = b"counter";
        let padding = format::signature_padding(format::FIELDS_START, label.len(), 1, 8);
        assert_eq!(padding, 2);
        let mut sig = vec![b' '; padding];
        sig.push(b'Q');
        let write_buffer_offset = 1 + 2 + label.len() + 2 + sig.len();
        let buffers = write_buffer_offset + 1;
        assert_eq!(buffers % 8, 0);
        let bytes = file(&[(label, &sig, 0, &[0; 16])], 4096);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.mmstats");
        std::fs::write(&path, &bytes).unwrap();
        let rw = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let map = Arc::new(memmap2::MmapRaw::map_raw(&rw).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        // Each value repeats a counter in both halves, so a torn one shows.
        let pattern = |n: u64| (n << 32) | n;
        let writer = {
            let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
            std::thread::spawn(move || {
                let base = map.as_mut_ptr();
                // SAFETY: both offsets are inside the 4096-byte mapping, which
                // `map` keeps alive; the buffer offsets are multiples of 8 and
                // the mapping is page-aligned; every access to these bytes, in
                // this thread and in the reader, is atomic.
                let wb = unsafe { AtomicU8::from_ptr(base.add(write_buffer_offset)) };
                let slot = |i: usize| unsafe {
                    AtomicU64::from_ptr(base.add(buffers + 8 * i).cast::<u64>())
                };
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n = (n + 1) & 0xFFFF_FFFF;
                    let w = wb.load(Ordering::Relaxed);
                    slot(usize::from(w)).store(pattern(n), Ordering::Relaxed);
                    wb.store(w ^ 1, Ordering::Release);
                    // A real writer does some work between updates.
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                }
            })
        };
        let mut last = 0;
        for _ in 0..2000 {
            let snapshot = read_path(&path).unwrap();
            let Value::Unsigned(v) = snapshot.stats[0].value else {
                panic!("{:?}", snapshot.stats[0].value)
            };
            assert_eq!(v >> 32, v & 0xFFFF_FFFF, "torn value {v:#x}");
            assert!(v >= last, "went back from {last:#x} to {v:#x}");
            last = v;
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(last > 0, "the writer never published");
    }

    #[test]
    fn value_display_and_as_f64() {
        assert_eq!(Value::Float(1.0).to_string(), "1.0");
        assert_eq!(Value::Float(0.1).to_string(), "0.1");
        assert_eq!(Value::Signed(-3).to_string(), "-3");
        assert_eq!(Value::Bool(true).as_f64(), Some(1.0));
        assert_eq!(Value::Text("x".into()).as_f64(), None);
        assert_eq!(
            Value::Unsigned(u64::MAX).to_string(),
            "18446744073709551615"
        );
    }

    /// A file with a summary group whose sequence number is `seq`.
    fn summary_file(seq: u64) -> Vec<u8> {
        use crate::MmStats;
        #[derive(crate::MmStats)]
        #[mmstats(crate = "crate", defaults = false)]
        struct Group {
            size: crate::Summary,
        }
        // The file a writer leaves after adding 4.0 and 6.0, laid out by the
        // model's own layout.
        let mut bytes = vec![0u8; Group::MODEL.content_size];
        let specs = Group::MODEL.fields;
        let layout = Group::MODEL.layout;
        bytes[0] = 1;
        let values: [u64; 6] = [
            5.0f64.to_bits(),
            2,
            10.0f64.to_bits(),
            4.0f64.to_bits(),
            6.0f64.to_bits(),
            seq,
        ];
        for ((spec, place), value) in specs.iter().zip(layout).zip(values) {
            let label = format!("{}{}", spec.label, spec.suffix);
            let mut at = place.offset;
            bytes[at..at + 2].copy_from_slice(&(label.len() as u16).to_ne_bytes());
            at += 2;
            bytes[at..at + label.len()].copy_from_slice(label.as_bytes());
            at += label.len();
            let sig = format!(
                "{}{}",
                " ".repeat(place.padding),
                std::str::from_utf8(spec.ty.signature.as_bytes()).unwrap()
            );
            bytes[at..at + 2].copy_from_slice(&(sig.len() as u16).to_ne_bytes());
            at += 2;
            bytes[at..at + sig.len()].copy_from_slice(sig.as_bytes());
            bytes[place.write_buffer_offset] = 0xff;
            bytes[place.value_offset..place.value_offset + 8].copy_from_slice(&value.to_ne_bytes());
        }
        let end = crate::format::fields_end(layout) + 2;
        let mut meta = crate::format::META_MAGIC.to_vec();
        meta.push(crate::format::META_VERSION);
        meta.extend_from_slice(&(specs.len() as u16).to_ne_bytes());
        for spec in specs {
            meta.push(spec.ty.kind.code());
            meta.extend_from_slice(&0u16.to_ne_bytes());
            meta.extend_from_slice(&0u16.to_ne_bytes());
        }
        bytes[end..end + meta.len()].copy_from_slice(&meta);
        bytes
    }

    #[test]
    fn a_settled_group_reads_whole_and_an_odd_sequence_is_reported() {
        let whole = read_bytes(&summary_file(4)).unwrap();
        assert!(whole.unsettled.is_empty());
        assert_eq!(whole.get("size.count").unwrap().value, Value::Unsigned(2));
        assert_eq!(whole.get("size.seq").unwrap().kind, Kind::Sequence);
        // A writer that died in the middle of an update leaves an odd number:
        // the values are still returned, and the group is named.
        let torn = read_bytes(&summary_file(5)).unwrap();
        assert_eq!(torn.unsettled, ["size.seq"]);
        assert_eq!(torn.get("size").unwrap().value, Value::Float(5.0));
    }
}
