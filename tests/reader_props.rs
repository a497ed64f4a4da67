//! Property tests of the reader: it never panics and only ever returns typed
//! errors, whatever the bytes; and a valid file built from random fields reads
//! back exactly.
//!
//! Valid files are built here with `mmstats::format::place`, the same layout
//! arithmetic the writer uses, by a small test-only writer.

use mmstats::format::{self, FieldType, Kind, Signature};
use mmstats::reader::{
    read_bytes, read_bytes_into, read_path, EndMarker, Frame, MappedFile, ReadError, Snapshot,
    Value,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// One field of a generated file, with what the reader must return for it.
#[derive(Clone, Debug)]
struct FieldCase {
    label: String,
    signature: Signature,
    size: usize,
    /// Pad the signature so the value is aligned (this project's writer), or
    /// pack it like the original writer.
    padded: bool,
    /// `None`: unbuffered; `Some(wb)`: double-buffered with write buffer `wb`.
    write_buffer: Option<u8>,
    /// The published value's bytes.
    value: Vec<u8>,
    /// What the writer is writing into the other buffer.
    other: Vec<u8>,
    expected: Value,
    /// Kind code, unit and help for the metadata block.
    meta: (u8, String, String),
}

/// A generated file and where its parts are.
#[derive(Clone, Debug)]
struct Built {
    bytes: Vec<u8>,
    /// Offsets of every u16 size field (label sizes, signature sizes, the
    /// terminator).
    size_fields: Vec<usize>,
    fields_end: usize,
    end: EndMarker,
}

/// How a generated file ends.
#[derive(Clone, Copy, Debug)]
enum Tail {
    /// Rounded up to whole pages (terminator in the zero fill).
    Pages,
    /// The file ends exactly after the last field.
    Exact,
    /// One zero byte after the last field.
    OneZero,
}

/// A type, the bytes of a random value of it and the value the reader returns.
fn typed_value() -> impl Strategy<Value = (Signature, usize, Vec<u8>, Value)> {
    let code = Signature::code;
    prop_oneof![
        any::<u64>().prop_map(move |v| (
            code(b'Q'),
            8,
            v.to_ne_bytes().to_vec(),
            Value::Unsigned(v)
        )),
        any::<i64>().prop_map(move |v| (code(b'q'), 8, v.to_ne_bytes().to_vec(), Value::Signed(v))),
        any::<u32>().prop_map(move |v| (
            code(b'I'),
            4,
            v.to_ne_bytes().to_vec(),
            Value::Unsigned(v.into())
        )),
        any::<i32>().prop_map(move |v| (
            code(b'i'),
            4,
            v.to_ne_bytes().to_vec(),
            Value::Signed(v.into())
        )),
        any::<u16>().prop_map(move |v| (
            code(b'H'),
            2,
            v.to_ne_bytes().to_vec(),
            Value::Unsigned(v.into())
        )),
        any::<i16>().prop_map(move |v| (
            code(b'h'),
            2,
            v.to_ne_bytes().to_vec(),
            Value::Signed(v.into())
        )),
        any::<u8>().prop_map(move |v| (code(b'B'), 1, vec![v], Value::Unsigned(v.into()))),
        any::<i8>().prop_map(move |v| (
            code(b'b'),
            1,
            v.to_ne_bytes().to_vec(),
            Value::Signed(v.into())
        )),
        any::<bool>().prop_map(move |v| (code(b'?'), 1, vec![u8::from(v)], Value::Bool(v))),
        any::<f32>().prop_map(move |v| (
            code(b'f'),
            4,
            v.to_ne_bytes().to_vec(),
            Value::Float(v.into())
        )),
        any::<f64>().prop_map(move |v| (code(b'd'), 8, v.to_ne_bytes().to_vec(), Value::Float(v))),
        (0usize..40, text(0..20)).prop_map(|(n, text)| {
            // Cut at a character boundary, as a writer must.
            let mut cut = text.len().min(n);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let kept = text[..cut].to_owned();
            let mut bytes = kept.clone().into_bytes();
            bytes.resize(n, 0);
            (Signature::text(n), n, bytes, Value::Text(kept))
        }),
    ]
}

/// Characters of every UTF-8 width for generated texts; no NUL (a NUL would
/// end a text value early).
const CHARS: [char; 16] = [
    'a',
    'Z',
    '.',
    ' ',
    '~',
    '\u{1}',
    'é',
    'ß',
    '°',
    'Ω',
    '❤',
    '计',
    '数',
    '\u{fffd}',
    '😀',
    '\u{10ffff}',
];

/// Text of `chars` characters, mostly non-ASCII. Picking from a table is far
/// cheaper than a regex strategy, which matters at 10,000 cases.
fn text(chars: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(&CHARS[..]), chars)
        .prop_map(String::from_iter)
}

/// `n` bytes of noise from `seed` (what a writer is writing into the other
/// buffer); cheaper to generate than a vector of arbitrary bytes.
fn noise(mut seed: u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 56) as u8
        })
        .collect()
}

fn field_case() -> impl Strategy<Value = FieldCase> {
    (
        text(1..16),
        typed_value(),
        any::<bool>(),
        prop_oneof![Just(None), (0u8..2).prop_map(Some)],
        any::<u64>(),
        (0u8..10, text(0..8), text(0..24)),
    )
        .prop_map(
            |(label, (signature, size, value, expected), padded, write_buffer, other, meta)| {
                FieldCase {
                    label,
                    signature,
                    size,
                    padded,
                    write_buffer,
                    value,
                    other: noise(other, size),
                    expected,
                    meta,
                }
            },
        )
}

fn ne16(n: usize) -> [u8; 2] {
    u16::try_from(n).expect("fits a u16").to_ne_bytes()
}

/// Writes a file holding `fields`, with a metadata block if `meta`.
fn build(fields: &[FieldCase], meta: bool, tail: Tail) -> Built {
    let mut bytes = vec![format::VERSION];
    let mut size_fields = Vec::new();
    for f in fields {
        let ty = FieldType {
            signature: f.signature,
            value_size: f.size,
            align: if f.padded { f.size.max(1) } else { 1 },
            buffered: f.write_buffer.is_some(),
            kind: Kind::Unknown,
            default_unit: "",
            error: None,
        };
        let at = format::place(bytes.len(), f.label.len(), &ty);
        assert_eq!(at.offset, bytes.len());
        size_fields.push(bytes.len());
        bytes.extend(ne16(f.label.len()));
        bytes.extend(f.label.as_bytes());
        size_fields.push(bytes.len());
        bytes.extend(ne16(at.padding + f.signature.len()));
        bytes.resize(bytes.len() + at.padding, b' ');
        bytes.extend(f.signature.as_bytes());
        assert_eq!(bytes.len(), at.write_buffer_offset);
        match f.write_buffer {
            None => {
                bytes.push(format::UNBUFFERED);
                bytes.extend(&f.value);
            }
            Some(wb) => {
                bytes.push(wb);
                // The published value is in the buffer the writer is not writing.
                let (b0, b1) = if wb == 1 {
                    (&f.value, &f.other)
                } else {
                    (&f.other, &f.value)
                };
                bytes.extend(b0);
                bytes.extend(b1);
            }
        }
        assert_eq!(bytes.len(), at.end);
        if f.padded {
            assert_eq!(at.value_offset % f.size.max(1), 0);
        }
    }
    let fields_end = bytes.len();
    size_fields.push(fields_end);
    let end = if meta {
        bytes.extend([0, 0]);
        bytes.extend(format::META_MAGIC);
        bytes.push(format::META_VERSION);
        bytes.extend(ne16(fields.len()));
        for f in fields {
            let (kind, unit, help) = &f.meta;
            bytes.push(*kind);
            bytes.extend(ne16(unit.len()));
            bytes.extend(unit.as_bytes());
            bytes.extend(ne16(help.len()));
            bytes.extend(help.as_bytes());
        }
        bytes.resize(format::file_size(bytes.len(), 4096), 0);
        EndMarker::ZeroLabelSize
    } else {
        match tail {
            Tail::Pages => {
                bytes.resize(format::file_size(fields_end + 2, 4096), 0);
                EndMarker::ZeroLabelSize
            }
            Tail::Exact => EndMarker::Eof,
            Tail::OneZero => {
                bytes.push(0);
                EndMarker::SingleZeroByte
            }
        }
    };
    Built {
        bytes,
        size_fields,
        fields_end,
        end,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        _ => a == b,
    }
}

/// The kind a field has when the file carries no metadata.
fn default_kind(label: &str) -> Kind {
    let statics = [
        "sys.pid",
        "sys.tid",
        "sys.uid",
        "sys.gid",
        "sys.created",
        ".version",
    ];
    if statics.iter().any(|s| label.ends_with(s)) {
        Kind::Static
    } else {
        Kind::Unknown
    }
}

/// Checks that `snapshot` is exactly what was generated.
fn check_round_trip(
    fields: &[FieldCase],
    meta: bool,
    built: &Built,
    snapshot: &Snapshot,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(snapshot.version, format::VERSION);
    prop_assert_eq!(snapshot.file_size, built.bytes.len());
    prop_assert_eq!(snapshot.fields_end, built.fields_end);
    prop_assert_eq!(snapshot.end, built.end);
    prop_assert_eq!(snapshot.meta, meta);
    prop_assert_eq!(snapshot.stats.len(), fields.len());
    for (stat, f) in snapshot.stats.iter().zip(fields) {
        prop_assert_eq!(&stat.label, &f.label);
        prop_assert!(
            same_value(&stat.value, &f.expected),
            "{:?}: read {:?}, wrote {:?}",
            f.label,
            stat.value,
            f.expected
        );
        prop_assert_eq!(stat.signature.as_bytes(), f.signature.as_bytes());
        prop_assert_eq!(stat.buffered, f.write_buffer.is_some());
        if meta {
            let (code, unit, help) = &f.meta;
            prop_assert_eq!(stat.kind, Kind::from_code(*code).unwrap_or(Kind::Unknown));
            prop_assert_eq!(&stat.unit, unit);
            prop_assert_eq!(&stat.help, help);
        } else {
            prop_assert_eq!(stat.kind, default_kind(&f.label));
            prop_assert!(stat.unit.is_empty() && stat.help.is_empty());
        }
    }
    Ok(())
}

fn tail() -> impl Strategy<Value = Tail> {
    prop_oneof![Just(Tail::Pages), Just(Tail::Exact), Just(Tail::OneZero)]
}

fn valid_file() -> impl Strategy<Value = (Vec<FieldCase>, bool, Built)> {
    (
        proptest::collection::vec(field_case(), 0..12),
        any::<bool>(),
        tail(),
    )
        .prop_map(|(fields, meta, tail)| {
            let built = build(&fields, meta, tail);
            (fields, meta, built)
        })
}

/// One change to a valid file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the byte at an index.
    Set(Index, u8),
    /// Flip one bit.
    FlipBit(Index, u8),
    /// Cut the file at an index.
    Truncate(Index),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Overwrite one of the file's u16 size fields.
    SizeField(Index, u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        (any::<Index>(), any::<u16>()).prop_map(|(i, v)| Mutation::SizeField(i, v)),
        // Small sizes land on other parts of the file more often.
        (any::<Index>(), 0u16..64).prop_map(|(i, v)| Mutation::SizeField(i, v)),
    ]
}

fn apply(built: &Built, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = built.bytes.clone();
    for m in mutations {
        match m {
            Mutation::Set(i, v) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes[at] = *v;
            }
            Mutation::FlipBit(i, bit) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
            Mutation::Truncate(i) => {
                let at = i.index(bytes.len() + 1);
                bytes.truncate(at);
            }
            Mutation::Extend(more) => bytes.extend(more),
            Mutation::SizeField(i, v) => {
                let at = built.size_fields[i.index(built.size_fields.len())];
                if at + 2 <= bytes.len() {
                    bytes[at..at + 2].copy_from_slice(&v.to_ne_bytes());
                }
            }
            _ => {}
        }
    }
    bytes
}

/// Whatever the bytes, the reader returns a snapshot that stays inside them
/// or a typed error about their contents (never an I/O error, never a path).
fn check_any(bytes: &[u8]) -> Result<(), TestCaseError> {
    match read_bytes(bytes) {
        Ok(s) => {
            prop_assert_eq!(s.file_size, bytes.len());
            prop_assert!(s.fields_end <= bytes.len());
            prop_assert!(s.path.is_none());
        }
        Err(e) => {
            let about_contents = !matches!(e, ReadError::Io { .. } | ReadError::File { .. });
            prop_assert!(about_contents, "not an error about the contents: {}", e);
            prop_assert!(e.path().is_none());
            prop_assert!(!e.to_string().is_empty());
            prop_assert!(e.to_string().len() < 1000, "message too long: {}", e);
        }
    }
    Ok(())
}

fn random_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        // Mostly past the version check, with small label sizes.
        proptest::collection::vec(any::<u8>(), 0..600).prop_map(|mut v| {
            v.insert(0, format::VERSION);
            v
        }),
        proptest::collection::vec(0u8..4, 0..600).prop_map(|mut v| {
            v.insert(0, format::VERSION);
            v
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn random_bytes_never_panic(bytes in random_bytes()) {
        check_any(&bytes)?;
    }

    #[test]
    fn mutated_files_never_panic(
        (_, _, built) in valid_file(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        check_any(&apply(&built, &mutations))?;
    }

    #[test]
    fn valid_files_read_back_exactly((fields, meta, built) in valid_file()) {
        let snapshot = read_bytes(&built.bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_round_trip(&fields, meta, &built, &snapshot)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The mapped-file path reads what the in-memory path reads.
    #[test]
    fn mapped_files_read_back_exactly((fields, meta, built) in valid_file()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("case.mmstats");
        std::fs::write(&path, &built.bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut snapshot = read_path(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(snapshot.path.take(), Some(path));
        check_round_trip(&fields, meta, &built, &snapshot)?;
    }
}

/// What reading `bytes` gives, with the path and owner left out: the
/// snapshot's debug
/// form (in which, unlike by `==`, a NaN equals itself), or the error's
/// message.
fn outcome(result: Result<Snapshot, ReadError>) -> Result<String, String> {
    match result {
        Ok(mut snapshot) => {
            snapshot.path = None;
            snapshot.owner = None;
            Ok(format!("{snapshot:?}"))
        }
        Err(e) => Err(e.without_path().to_string()),
    }
}

/// Bytes of every kind the reader meets: valid files, damaged ones, noise.
fn any_file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        valid_file().prop_map(|(_, _, built)| built.bytes),
        (valid_file(), proptest::collection::vec(mutation(), 1..4))
            .prop_map(|((_, _, built), mutations)| apply(&built, &mutations)),
        random_bytes(),
    ]
}

thread_local! {
    /// One frame for every case of a thread, so that each case is read into
    /// a frame left over from another file.
    static FRAME: std::cell::RefCell<Frame> = const { std::cell::RefCell::new(Frame::new()) };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every way into the reader gives the same answer for the same bytes:
    /// in memory or mapped, into a new snapshot or into a frame that last
    /// read some other file (so that its first copy of a mapped file is too
    /// short or too long).
    #[test]
    fn every_way_in_reads_the_same(bytes in any_file()) {
        let expected = outcome(read_bytes(&bytes));
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("case.mmstats");
        std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if !bytes.is_empty() {
            prop_assert_eq!(&outcome(read_path(&path)), &expected);
        }
        FRAME.with_borrow_mut(|frame| {
            let in_memory = read_bytes_into(&bytes, frame).map(|()| frame.to_snapshot());
            prop_assert_eq!(&outcome(in_memory), &expected);
            if let Ok(mapped) = MappedFile::open(&path) {
                let read = mapped.read_into(frame).map(|()| frame.to_snapshot());
                prop_assert_eq!(&outcome(read), &expected);
                if expected.is_err() {
                    prop_assert!(frame.is_empty(), "a failed read leaves the frame empty");
                }
            }
            // Writable by others, the same file is read through copies:
            // the same answer.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Ok(copied) = MappedFile::open(&path) {
                prop_assert!(!copied.is_mapped());
                let read = copied.read_into(frame).map(|()| frame.to_snapshot());
                prop_assert_eq!(&outcome(read), &expected);
            }
            Ok(())
        })?;
    }
}

/// A file whose fields and metadata take far more than the first copy a
/// frame makes of a mapped file (16 KiB), read after a tiny file and after
/// itself: the copy grows until the parse has all it needs.
#[test]
fn a_large_mapped_file_reads_whole_after_a_small_one() {
    let fields: Vec<FieldCase> = (0..3000)
        .map(|i| FieldCase {
            label: format!("service.worker.requests.{i:05}"),
            signature: Signature::code(b'Q'),
            size: 8,
            padded: true,
            write_buffer: None,
            value: (i as u64).to_ne_bytes().to_vec(),
            other: Vec::new(),
            expected: Value::Unsigned(i as u64),
            meta: (Kind::Counter.code(), "requests".into(), format!("help {i}")),
        })
        .collect();
    let built = build(&fields, true, Tail::Pages);
    assert!(built.fields_end > 4 * 16 * 1024, "{}", built.fields_end);
    let expected = read_bytes(&built.bytes).unwrap();
    check_round_trip(&fields, true, &built, &expected).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.mmstats");
    let small_fields = &fields[..1];
    std::fs::write(&small, build(small_fields, true, Tail::Exact).bytes).unwrap();
    let large = dir.path().join("large.mmstats");
    std::fs::write(&large, &built.bytes).unwrap();

    let mut frame = Frame::new();
    MappedFile::open(&small)
        .unwrap()
        .read_into(&mut frame)
        .unwrap();
    assert_eq!(frame.len(), 1);
    let mapped = MappedFile::open(&large).unwrap();
    for _ in 0..2 {
        mapped.read_into(&mut frame).unwrap();
        assert_eq!(frame.owner(), Some(rustix::process::geteuid().as_raw()));
        assert_eq!(
            Snapshot {
                owner: None,
                ..frame.to_snapshot()
            },
            expected
        );
    }
    MappedFile::open(&small)
        .unwrap()
        .read_into(&mut frame)
        .unwrap();
    assert_eq!(frame.len(), 1);
    let mut fresh = Frame::new();
    mapped.read_into(&mut fresh).unwrap();
    assert_eq!(
        Snapshot {
            owner: None,
            ..fresh.to_snapshot()
        },
        expected
    );
}
