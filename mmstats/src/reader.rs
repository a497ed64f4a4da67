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
        match stat.value {
            Value::Unsigned(v) => u32::try_from(v).ok(),
            Value::Signed(v) => u32::try_from(v).ok(),
            _ => None,
        }
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
    /// The value as a number, for tools that compute rates or plot: booleans
    /// are 0 or 1, texts have no number. Integers beyond 2^53 are rounded.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Unsigned(v) => Some(v as f64),
            Value::Signed(v) => Some(v as f64),
            Value::Float(v) => Some(v),
            Value::Bool(v) => Some(if v { 1.0 } else { 0.0 }),
            Value::Text(_) => None,
        }
    }
}

impl fmt::Display for Value {
    /// Integers in decimal, floats with the fewest digits that read back the
    /// same (always with a decimal point or an exponent, like Python), booleans
    /// as `true`/`false`, texts as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unsigned(v) => write!(f, "{v}"),
            Value::Signed(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v:?}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Text(v) => f.write_str(v),
        }
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

/// Decodes UTF-8, dropping invalid sequences (Python's `decode('utf8', 'ignore')`).
fn decode_utf8_ignore(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
    }
    out
}

/// Decodes a text value: the bytes up to the first NUL, as UTF-8 with
/// invalid sequences dropped.
fn decode_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    decode_utf8_ignore(bytes.get(..end).unwrap_or_default())
}

/// The kind a field gets when the file has no metadata block.
fn default_kind(label: &str) -> Kind {
    if STATIC_LABEL_ENDINGS.iter().any(|end| label.ends_with(end)) {
        Kind::Static
    } else {
        Kind::Unknown
    }
}

/// Decodes one value of type `ty` from exactly `ty`'s size in bytes.
fn decode_value(ty: ValueType, bytes: &[u8]) -> Value {
    /// The first `N` bytes, zero-filled if there are fewer (never the case:
    /// callers pass the signature's size).
    fn take<const N: usize>(bytes: &[u8]) -> [u8; N] {
        let mut out = [0u8; N];
        for (o, b) in out.iter_mut().zip(bytes) {
            *o = *b;
        }
        out
    }
    match ty {
        ValueType::I8 => Value::Signed(i8::from_ne_bytes(take(bytes)).into()),
        ValueType::U8 => Value::Unsigned(u8::from_ne_bytes(take(bytes)).into()),
        ValueType::Bool => Value::Bool(take::<1>(bytes) != [0]),
        ValueType::I16 => Value::Signed(i16::from_ne_bytes(take(bytes)).into()),
        ValueType::U16 => Value::Unsigned(u16::from_ne_bytes(take(bytes)).into()),
        ValueType::I32 => Value::Signed(i32::from_ne_bytes(take(bytes)).into()),
        ValueType::U32 => Value::Unsigned(u32::from_ne_bytes(take(bytes)).into()),
        ValueType::I64 => Value::Signed(i64::from_ne_bytes(take(bytes))),
        ValueType::U64 => Value::Unsigned(u64::from_ne_bytes(take(bytes))),
        ValueType::F32 => Value::Float(f32::from_ne_bytes(take(bytes)).into()),
        ValueType::F64 => Value::Float(f64::from_ne_bytes(take(bytes))),
        ValueType::Char | ValueType::Text => Value::Text(decode_text(bytes)),
    }
}

/// Walks the bytes of a file; every read is bounds-checked and reports what
/// it was reading when it runs past the end.
struct Cursor<'m, M: mem::Memory + ?Sized> {
    mem: &'m M,
    pos: usize,
}

impl<M: mem::Memory + ?Sized> Cursor<'_, M> {
    /// Reads `n` bytes at the current position and moves past them.
    fn bytes(
        &mut self,
        n: usize,
        what: &'static str,
        label: Option<&str>,
    ) -> Result<Vec<u8>, ReadError> {
        let mut out = vec![0u8; n];
        if !self.mem.copy(self.pos, &mut out) {
            return Err(ReadError::Truncated {
                what,
                label: label.map(str::to_owned),
                offset: self.pos,
                needed: n,
                available: self.mem.len().saturating_sub(self.pos),
            });
        }
        // In bounds, so this does not saturate: `pos + n <= len`.
        self.pos = self.pos.saturating_add(n);
        Ok(out)
    }

    /// Reads a native `u16` at the current position and moves past it.
    fn u16(&mut self, what: &'static str, label: Option<&str>) -> Result<u16, ReadError> {
        let b = self.bytes(2, what, label)?;
        Ok(u16::from_ne_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]))
    }

    /// Reads one byte at the current position and moves past it.
    fn u8(&mut self, what: &'static str, label: Option<&str>) -> Result<u8, ReadError> {
        let b = self.bytes(1, what, label)?;
        Ok(b.first().copied().unwrap_or(0))
    }
}

/// One field as stored, before the metadata block is applied.
struct RawField {
    label: String,
    signature: String,
    buffered: bool,
    value: Value,
    /// Where an unbuffered value is, and how to decode it, for reading it
    /// again (see `settle_groups`).
    value_at: usize,
    value_type: ValueType,
    value_size: usize,
}

/// Parses a whole file.
fn parse<M: mem::Memory + ?Sized>(mem: &M) -> Result<Snapshot, ReadError> {
    let file_size = mem.len();
    let mut version = [0u8];
    if !mem.copy(0, &mut version) {
        return Err(ReadError::Empty);
    }
    if version[0] != format::VERSION {
        return Err(ReadError::UnsupportedVersion { found: version[0] });
    }
    let mut cursor = Cursor {
        mem,
        pos: format::FIELDS_START,
    };
    let mut fields = Vec::new();
    let end = loop {
        let remaining = file_size.saturating_sub(cursor.pos);
        if remaining == 0 {
            break EndMarker::Eof;
        }
        if remaining == 1 {
            let mut last = [0u8];
            if mem.copy(cursor.pos, &mut last) && last[0] == 0 {
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
        fields.push(parse_field(&mut cursor, start, label_size)?);
    };
    let fields_end = cursor.pos;
    let meta = match end {
        EndMarker::ZeroLabelSize => read_meta(
            mem,
            fields_end.saturating_add(format::TERMINATOR_BYTES),
            fields.len(),
        ),
        _ => None,
    };
    let positions: Vec<(usize, ValueType, usize, bool)> = fields
        .iter()
        .map(|f| (f.value_at, f.value_type, f.value_size, f.buffered))
        .collect();
    let mut stats: Vec<Stat> = match &meta {
        Some(records) => fields
            .into_iter()
            .zip(records.iter().cloned())
            .map(|(f, (kind, unit, help))| stat(f, kind, unit, help))
            .collect(),
        None => fields
            .into_iter()
            .map(|f| {
                let kind = default_kind(&f.label);
                stat(f, kind, String::new(), String::new())
            })
            .collect(),
    };
    let unsettled = settle_groups(mem, &mut stats, &positions);
    Ok(Snapshot {
        path: None,
        version: version[0],
        file_size,
        stats,
        end,
        fields_end,
        meta: meta.is_some(),
        unsettled,
    })
}

/// Reads each group guarded by a sequence field again, whole: the sequence
/// number, then the group's values, then the sequence number again, until
/// the two are the same even number (trying for at most [`GROUP_WAIT`], and
/// yielding to the writer now and then).
/// Returns the labels of the sequence fields whose groups never settled.
///
/// A group is the sequence field's label without `.seq` (the base) and the
/// fields right before it whose label is the base or starts with the base
/// and a dot. Only unbuffered values take part; a group with anything else
/// is left as first read.
fn settle_groups<M: mem::Memory + ?Sized>(
    mem: &M,
    stats: &mut [Stat],
    positions: &[(usize, ValueType, usize, bool)],
) -> Vec<String> {
    let mut unsettled = Vec::new();
    for seq_index in 0..stats.len() {
        let Some(seq) = stats.get(seq_index) else {
            continue;
        };
        if seq.kind != Kind::Sequence {
            continue;
        }
        let Some(base) = seq.label.strip_suffix(".seq").map(str::to_owned) else {
            continue;
        };
        let dotted = format!("{base}.");
        let in_group = |s: &Stat| s.label == base || s.label.starts_with(&dotted);
        let mut first = seq_index;
        while let Some(previous) = first.checked_sub(1) {
            match stats.get(previous) {
                Some(s) if in_group(s) => first = previous,
                _ => break,
            }
        }
        let (Some(group), Some(&(seq_at, _, seq_size, seq_buffered))) =
            (positions.get(first..seq_index), positions.get(seq_index))
        else {
            continue;
        };
        if group.is_empty() || seq_buffered || seq_size != 8 || group.iter().any(|g| g.3) {
            continue;
        }
        let load_seq = || {
            let mut bytes = [0u8; 8];
            let ok = mem.copy(seq_at, &mut bytes);
            // Orders the loads after this one (a relaxed load and a fence
            // make an acquire load; see `mem`).
            fence(Ordering::Acquire);
            ok.then(|| u64::from_ne_bytes(bytes))
        };
        // The window between the two loads of the sequence number must be
        // short, or a busy writer never leaves it alone: raw bytes are
        // copied into a buffer made once, and decoded only when they settled.
        let sizes: usize = group.iter().map(|g| g.2).fold(0, usize::saturating_add);
        let mut raw = vec![0u8; sizes];
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
            for &(at, _, size, _) in group {
                let (this, tail) = rest.split_at_mut(size.min(rest.len()));
                copied &= mem.copy(at, this);
                rest = tail;
            }
            // The group's loads happen before the second load of the
            // sequence number.
            fence(Ordering::Acquire);
            let Some(after) = load_seq() else { break };
            if copied && after == before {
                let mut rest = raw.as_slice();
                let mut values = Vec::with_capacity(group.len());
                for &(_, ty, size, _) in group {
                    let (this, tail) = rest.split_at(size.min(rest.len()));
                    values.push(decode_value(ty, this));
                    rest = tail;
                }
                settled = Some((values, before));
                break;
            }
            std::hint::spin_loop();
        }
        match settled {
            Some((values, number)) => {
                if let Some(group_stats) = stats.get_mut(first..seq_index) {
                    for (stat, value) in group_stats.iter_mut().zip(values) {
                        stat.value = value;
                    }
                }
                if let Some(seq) = stats.get_mut(seq_index) {
                    seq.value = Value::Unsigned(number);
                }
            }
            None => {
                if let Some(seq) = stats.get(seq_index) {
                    unsettled.push(seq.label.clone());
                }
            }
        }
    }
    unsettled
}

/// A [`Stat`] from a stored field and what the metadata says about it.
fn stat(field: RawField, kind: Kind, unit: String, help: String) -> Stat {
    Stat {
        label: field.label,
        kind,
        value: field.value,
        signature: field.signature,
        buffered: field.buffered,
        unit,
        help,
    }
}

/// Parses the rest of the field that starts at `start`, once its label size
/// has been read.
fn parse_field<M: mem::Memory + ?Sized>(
    cursor: &mut Cursor<'_, M>,
    start: usize,
    label_size: u16,
) -> Result<RawField, ReadError> {
    let label = decode_utf8_ignore(&cursor.bytes(label_size.into(), "label", None)?);
    let name = Some(label.as_str());
    let signature_size = cursor.u16("type signature size", name)?;
    let raw_signature = cursor.bytes(signature_size.into(), "type signature", name)?;
    let Some(info) = format::parse_signature(&raw_signature) else {
        return Err(ReadError::UnknownSignature {
            signature: String::from_utf8_lossy(&raw_signature).into_owned(),
            label,
            offset: start,
        });
    };
    let signature = String::from_utf8_lossy(format::trim_signature(&raw_signature)).into_owned();
    let write_buffer_offset = cursor.pos;
    let write_buffer = cursor.u8("write-buffer byte", name)?;
    let buffered = write_buffer != format::UNBUFFERED;
    let part = if buffered {
        info.size.checked_mul(2)
    } else {
        Some(info.size)
    };
    let file_size = cursor.mem.len();
    let part = match part {
        Some(part) if part <= file_size => part,
        _ => {
            return Err(ReadError::ValueTooLarge {
                label,
                offset: start,
                size: part.unwrap_or(usize::MAX),
                file_size,
            })
        }
    };
    let value_offset = cursor.pos;
    // Checks that the whole value part is in the file before reading any of it.
    let Some(value_end) = value_offset
        .checked_add(part)
        .filter(|&end| end <= file_size)
    else {
        return Err(ReadError::Truncated {
            what: if buffered { "buffers" } else { "value" },
            label: Some(label),
            offset: value_offset,
            needed: part,
            available: file_size.saturating_sub(value_offset),
        });
    };
    let bytes = if buffered {
        read_buffered(cursor.mem, &label, start, write_buffer_offset, info.size)?
    } else {
        cursor.bytes(info.size, "value", name)?
    };
    cursor.pos = value_end;
    Ok(RawField {
        value: decode_value(info.value, &bytes),
        label,
        signature,
        buffered,
        value_at: value_offset,
        value_type: info.value,
        value_size: info.size,
    })
}

/// Copies the published buffer of a double-buffered field: the one the
/// writer is not writing (`buffers[write_buffer ^ 1]`).
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
) -> Result<Vec<u8>, ReadError> {
    let buffers = write_buffer_offset.saturating_add(format::WRITE_BUFFER_BYTES);
    let mut out = vec![0u8; size];
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
                return Ok(out);
            }
            return Err(ReadError::InvalidWriteBuffer {
                label: label.to_owned(),
                offset: write_buffer_offset,
                found: before,
            });
        }
        // Saturates only past the end, where `copy` refuses.
        let offset = buffers.saturating_add(read.saturating_mul(size));
        if !mem.copy(offset, &mut out) {
            return Err(truncated("buffers", buffers, size.saturating_mul(2)));
        }
        fence(Ordering::Acquire);
        if load_index()? == before {
            return Ok(out);
        }
        std::hint::spin_loop();
    }
    Err(ReadError::UnstableBuffer {
        label: label.to_owned(),
        offset: start,
        attempts: MAX_BUFFER_ATTEMPTS,
    })
}

/// Kind, unit and help of one field, from the metadata block.
type MetaRecord = (Kind, String, String);

/// Reads the metadata block at `offset` (see [`format::META_MAGIC`]), if
/// there is one, it is whole, and it describes exactly `fields` fields.
/// A kind code this version does not know reads as [`Kind::Unknown`].
fn read_meta<M: mem::Memory + ?Sized>(
    mem: &M,
    offset: usize,
    fields: usize,
) -> Option<Vec<MetaRecord>> {
    let mut pos = offset;
    let mut take = |n: usize| -> Option<Vec<u8>> {
        let mut out = vec![0u8; n];
        if mem.copy(pos, &mut out) {
            pos = pos.saturating_add(n);
            Some(out)
        } else {
            None
        }
    };
    let u16_at = |take: &mut dyn FnMut(usize) -> Option<Vec<u8>>| -> Option<u16> {
        let b = take(2)?;
        Some(u16::from_ne_bytes([*b.first()?, *b.get(1)?]))
    };
    if take(format::META_MAGIC.len())? != format::META_MAGIC {
        return None;
    }
    if *take(1)?.first()? != format::META_VERSION {
        return None;
    }
    if usize::from(u16_at(&mut take)?) != fields {
        return None;
    }
    let mut records = Vec::with_capacity(fields);
    for _ in 0..fields {
        let code = *take(1)?.first()?;
        let kind = Kind::from_code(code).unwrap_or(Kind::Unknown);
        let unit_len = u16_at(&mut take)?;
        let unit = decode_utf8_ignore(&take(unit_len.into())?);
        let help_len = u16_at(&mut take)?;
        let help = decode_utf8_ignore(&take(help_len.into())?);
        records.push((kind, unit, help));
    }
    Some(records)
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
    }

    /// Bytes in ordinary memory: nobody writes them while they are borrowed.
    impl Memory for [u8] {
        fn len(&self) -> usize {
            <[u8]>::len(self)
        }

        fn live(&self) -> bool {
            false
        }

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
                    for (i, o) in out.iter_mut().enumerate() {
                        // `offset + i < end <= len`: in the mapping.
                        let p = at.wrapping_add(i);
                        // SAFETY: `p` is inside the live mapping (bounds
                        // checked above, `i < out.len()`); `AtomicU8` needs no
                        // alignment; the byte is only ever accessed atomically
                        // by this process, and a relaxed 1-byte load is allowed
                        // on read-only memory.
                        *o = unsafe { AtomicU8::from_ptr(p) }.load(Ordering::Relaxed);
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
