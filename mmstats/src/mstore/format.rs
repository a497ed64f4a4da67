//! Byte-level encoding of the store's files (described in the module docs).

use std::path::Path;

use super::error::{Error, Result};
use super::{ValueType, MAX_NAME_LEN};

/// Header magic of a store whose chunk files sit in the store's own
/// directory (every store made by this version).
pub(crate) const META_MAGIC: &[u8; 8] = b"MSTORE02";
/// Header magic of a store made by an earlier version, whose chunk files
/// sit in a subdirectory `chunks/`; such a store keeps that layout.
pub(crate) const META_MAGIC_NESTED: &[u8; 8] = b"MSTORE01";
pub(crate) const META_LEN: usize = 36;
pub(crate) const LIST_MAGIC: &[u8; 8] = b"MSTLIST1";
pub(crate) const LIST_HEADER_LEN: usize = 8;
pub(crate) const INDEX_MAGIC: &[u8; 8] = b"MSTINDX1";
pub(crate) const INDEX_HEADER_LEN: usize = 28;
/// Chunk index of the second layout: presence and checksums per block.
pub(crate) const INDEX2_MAGIC: &[u8; 8] = b"MSTINDX2";
pub(crate) const INDEX2_HEADER_LEN: usize = 32;
/// Points per checksummed block in the second layout.
pub(crate) const BLOCK: u64 = 384;
/// Words of presence bits in one block record.
pub(crate) const BLOCK_WORDS: usize = (BLOCK / 64) as usize;
/// Bytes of one block record: 8 of them fill an aligned 512-byte sector.
pub(crate) const REC_LEN: usize = 64;
/// Block record flag: the block's points are being overwritten, its data
/// checksum is not in force until the next sync.
pub(crate) const UNCHECKED: u32 = 1;
pub(crate) const RECORD_TAG: u8 = b'R';
/// Bytes a record adds around its name: tag, type, length, checksum.
pub(crate) const RECORD_OVERHEAD: usize = 8;

/// Bench support: whether open chunks compute and check their block
/// checksums (always, outside benchmarks); set by [`set_checks`].
static CHECKS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether block checksums are computed and checked (see [`set_checks`]).
pub(crate) fn checks() -> bool {
    CHECKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Bench support: switches the block checksums of open chunks off (so
/// that a benchmark measures their cost in one run) or on again. Off, a
/// reader checks nothing and a writer writes records without checksums,
/// which a reader with checks on then reports as damaged.
pub(crate) fn set_checks(on: bool) {
    CHECKS.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// The store header, `mstore.meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub chunk_size: u64,
    pub resolution: u64,
    pub start_time: u64,
    /// The chunk files are in `chunks/` (a store of the first version's
    /// header, `MSTORE01`), not in the store's directory itself.
    pub nested: bool,
}

impl Meta {
    /// The directory that holds the chunk files of the store in `dir`.
    pub fn chunks_dir(&self, dir: &Path) -> std::path::PathBuf {
        if self.nested {
            dir.join(super::core::CHUNKS_DIR)
        } else {
            dir.to_path_buf()
        }
    }
}

pub(crate) fn encode_meta(m: &Meta) -> Vec<u8> {
    let mut v = Vec::with_capacity(META_LEN);
    v.extend_from_slice(if m.nested {
        META_MAGIC_NESTED
    } else {
        META_MAGIC
    });
    v.extend_from_slice(&m.chunk_size.to_le_bytes());
    v.extend_from_slice(&m.resolution.to_le_bytes());
    v.extend_from_slice(&m.start_time.to_le_bytes());
    let c = crc(&v);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

pub(crate) fn decode_meta(path: &Path, b: &[u8]) -> Result<Meta> {
    let bad = |offset: u64, reason| Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    if b.len() < META_LEN {
        return Err(bad(b.len() as u64, "store header is truncated"));
    }
    let nested = match &b[..8] {
        m if m == META_MAGIC => false,
        m if m == META_MAGIC_NESTED => true,
        m if m.starts_with(b"MSTORE") => {
            return Err(bad(6, "store header of an unknown version"));
        }
        _ => return Err(bad(0, "not an mstore header (bad magic)")),
    };
    if crc(&b[..32]) != u32_at(b, 32) {
        return Err(bad(32, "store header checksum mismatch"));
    }
    let m = Meta {
        chunk_size: u64_at(b, 8),
        resolution: u64_at(b, 16),
        start_time: u64_at(b, 24),
        nested,
    };
    if m.chunk_size == 0 || m.chunk_size > super::MAX_CHUNK_SIZE {
        return Err(bad(8, "chunk size out of range"));
    }
    Ok(m)
}

pub(crate) fn encode_index2_header(chunk_size: u64, base: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(INDEX2_HEADER_LEN);
    v.extend_from_slice(INDEX2_MAGIC);
    v.extend_from_slice(&chunk_size.to_le_bytes());
    v.extend_from_slice(&base.to_le_bytes());
    v.extend_from_slice(&(BLOCK as u32).to_le_bytes());
    let c = crc(&v);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

/// The layout of a chunk, from its index header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `MSTINDX1`: plain presence bitmaps, no checksums (stores written
    /// before checksums; read and written as they are).
    V1,
    /// `MSTINDX2`: presence and checksums in block records.
    V2,
}

/// A decoded chunk index header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexHeader {
    pub chunk_size: u64,
    pub base: u64,
    pub layout: Layout,
    pub len: usize,
}

/// Checks a chunk index header of either layout.
pub(crate) fn decode_index_header(path: &Path, b: &[u8]) -> Result<IndexHeader> {
    let bad = |offset: u64, reason| Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    if b.len() < 8 {
        return Err(bad(b.len() as u64, "chunk index header is truncated"));
    }
    let (layout, len) = match &b[..8] {
        m if m == INDEX_MAGIC => (Layout::V1, INDEX_HEADER_LEN),
        m if m == INDEX2_MAGIC => (Layout::V2, INDEX2_HEADER_LEN),
        _ => return Err(bad(0, "not a chunk index (bad magic)")),
    };
    if b.len() < len {
        return Err(bad(b.len() as u64, "chunk index header is truncated"));
    }
    if crc(&b[..len - 4]) != u32_at(b, len - 4) {
        return Err(bad(len as u64 - 4, "chunk index header checksum mismatch"));
    }
    if layout == Layout::V2 && u32_at(b, 24) != BLOCK as u32 {
        return Err(bad(
            24,
            "chunk index names a block size this version does not use",
        ));
    }
    Ok(IndexHeader {
        chunk_size: u64_at(b, 8),
        base: u64_at(b, 16),
        layout,
        len,
    })
}

/// Where a block record belongs: its checksums cover this, so that a
/// record or data copied to another place, or a row reused by another
/// metric, fails them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockPos {
    pub base: u64,
    pub row: u32,
    pub block: u32,
    /// CRC-32 of the metric's name.
    pub name_crc: u32,
}

/// Bytes of a [`BlockPos`] as the checksums take it.
const POS_LEN: usize = 20;

impl BlockPos {
    fn put(&self, seed: &mut [u8]) {
        seed[..8].copy_from_slice(&self.base.to_le_bytes());
        seed[8..12].copy_from_slice(&self.row.to_le_bytes());
        seed[12..16].copy_from_slice(&self.block.to_le_bytes());
        seed[16..20].copy_from_slice(&self.name_crc.to_le_bytes());
    }
}

/// One block record: the presence of a block's points and the checksum of
/// their values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BlockRec {
    pub words: [u64; BLOCK_WORDS],
    pub data_crc: u32,
    pub flags: u32,
}

impl BlockRec {
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }
}

/// A block record as found on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecState {
    /// All zeros (never written, or a hole): no point is set.
    Empty,
    Valid(BlockRec),
    /// Fails its checksum.
    Bad,
}

pub(crate) fn encode_rec(rec: &BlockRec, pos: &BlockPos) -> [u8; REC_LEN] {
    let mut b = [0u8; REC_LEN];
    if rec.is_empty() {
        // An empty block is all zeros, like a block never written.
        return b;
    }
    for (i, w) in rec.words.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    b[48..52].copy_from_slice(&rec.data_crc.to_le_bytes());
    b[52..56].copy_from_slice(&rec.flags.to_le_bytes());
    if checks() {
        let c = rec_crc(&b, pos);
        b[60..64].copy_from_slice(&c.to_le_bytes());
    }
    b
}

/// A record's own checksum: the CRC-32 of the position, then bytes 0..60,
/// in one piece.
fn rec_crc(b: &[u8; REC_LEN], pos: &BlockPos) -> u32 {
    let mut all = [0u8; POS_LEN + 60];
    pos.put(&mut all);
    all[POS_LEN..].copy_from_slice(&b[..60]);
    crc(&all)
}

pub(crate) fn decode_rec(b: &[u8], pos: &BlockPos) -> RecState {
    match parse_rec(b) {
        RecState::Valid(_) if !rec_crc_ok(b, pos) => RecState::Bad,
        other => other,
    }
}

/// Whether a record's own checksum holds.
pub(crate) fn rec_crc_ok(b: &[u8], pos: &BlockPos) -> bool {
    let Some(b) = b
        .get(..REC_LEN)
        .and_then(|b| <&[u8; REC_LEN]>::try_from(b).ok())
    else {
        return false;
    };
    rec_crc(b, pos) == u32_at(b, 60)
}

/// Decodes a record without checking its own checksum: for a read that
/// checks the block's data checksum, which covers the record's presence
/// and flags too (the record's checksum is then checked only to tell which
/// file is damaged).
pub(crate) fn parse_rec(b: &[u8]) -> RecState {
    let Some(b) = b.get(..REC_LEN) else {
        return RecState::Bad;
    };
    if b.iter().all(|x| *x == 0) {
        return RecState::Empty;
    }
    if u32_at(b, 56) != 0 || u32_at(b, 52) & !UNCHECKED != 0 {
        return RecState::Bad;
    }
    let mut rec = BlockRec {
        data_crc: u32_at(b, 48),
        flags: u32_at(b, 52),
        ..BlockRec::default()
    };
    for (i, w) in rec.words.iter_mut().enumerate() {
        *w = u64_at(b, i * 8);
    }
    if rec.is_empty() {
        // Zero presence is written as an all-zero record, never like this.
        return RecState::Bad;
    }
    RecState::Valid(rec)
}

/// Checksum of a block's values and of the presence that vouches for
/// them: the position, the presence words and the flags (as in bytes
/// 0..48 and 52..56 of the record), then `data`, the block's `n` points
/// (little-endian, `n * 8` bytes), where points whose bit in `words` is
/// clear count as zero, so that writing into unset points leaves it valid.
pub(crate) fn data_crc(pos: &BlockPos, rec: &BlockRec, data: &[u8]) -> u32 {
    let words = &rec.words;
    // The position, presence and flags go to the hasher in one piece: each
    // `update` pays a fixed cost (a CRC fold's setup and reduction) that is
    // a good part of the time of one block's checksum.
    let mut head = [0u8; POS_LEN + BLOCK_WORDS * 8 + 4];
    pos.put(&mut head);
    for (i, w) in words.iter().enumerate() {
        let at = POS_LEN + i * 8;
        head[at..at + 8].copy_from_slice(&w.to_le_bytes());
    }
    head[POS_LEN + BLOCK_WORDS * 8..].copy_from_slice(&rec.flags.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&head);
    let mut masked = [0u8; 512];
    // Runs of fully set words go to the hasher in one piece (much faster
    // than word by word); a partly set word is masked first.
    let full_word = |i: usize, piece: &[u8]| {
        let k = piece.len() / 8;
        let full = if k >= 64 { u64::MAX } else { (1u64 << k) - 1 };
        words.get(i).is_some_and(|w| w & full == full)
    };
    let count = data.len().div_ceil(512);
    let piece = |i: usize| &data[i * 512..((i + 1) * 512).min(data.len())];
    let mut i = 0;
    while i < count {
        if full_word(i, piece(i)) {
            let start = i;
            while i < count && full_word(i, piece(i)) {
                i += 1;
            }
            h.update(&data[start * 512..(i * 512).min(data.len())]);
            continue;
        }
        let piece = piece(i);
        let w = words.get(i).copied().unwrap_or(0);
        let m = &mut masked[..piece.len()];
        for (j, (dst, src)) in m.chunks_exact_mut(8).zip(piece.chunks_exact(8)).enumerate() {
            if w >> j & 1 == 1 {
                dst.copy_from_slice(src);
            } else {
                dst.fill(0);
            }
        }
        h.update(m);
        i += 1;
    }
    h.finalize()
}

pub(crate) fn check_list_header(path: &Path, b: &[u8]) -> Result<()> {
    if b.len() < LIST_HEADER_LEN || &b[..LIST_HEADER_LEN] != LIST_MAGIC {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: "not a metric list (bad or truncated magic)",
        });
    }
    Ok(())
}

/// Encodes one name record (used by the metric list and chunk indexes).
/// The caller has checked the name's length.
pub(crate) fn encode_record(name: &str, ty: ValueType) -> Vec<u8> {
    let n = name.len();
    let mut v = Vec::with_capacity(n + RECORD_OVERHEAD);
    v.push(RECORD_TAG);
    v.push(ty.code());
    // The name length was checked against MAX_NAME_LEN (< 65536).
    v.extend_from_slice(&(n.min(MAX_NAME_LEN) as u16).to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    let c = crc(&v);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

/// Tries to decode a complete, valid record at `pos`.
pub(crate) fn try_record(b: &[u8], pos: usize) -> Option<(String, ValueType, usize)> {
    let head = b.get(pos..pos.checked_add(4)?)?;
    if head[0] != RECORD_TAG {
        return None;
    }
    let ty = ValueType::from_code(head[1])?;
    let n = u16::from_le_bytes([head[2], head[3]]) as usize;
    if n == 0 || n > MAX_NAME_LEN {
        return None;
    }
    let end = pos + 4 + n + 4;
    let rec = b.get(pos..end)?;
    if crc(&rec[..4 + n]) != u32_at(rec, 4 + n) {
        return None;
    }
    let name = std::str::from_utf8(&rec[4..4 + n]).ok()?;
    Some((name.to_owned(), ty, end))
}

/// Result of scanning a sequence of records.
#[derive(Debug, Default)]
pub(crate) struct Records {
    /// Valid records in file order.
    pub records: Vec<(String, ValueType)>,
    /// End of the last valid record: where the next append goes.
    pub valid_end: usize,
    /// Offset of the first invalid byte range that is followed by a valid
    /// record (damage, as opposed to a torn tail).
    pub damage: Option<usize>,
    /// True when bytes after `valid_end` were dropped as a torn append.
    pub torn_tail: bool,
}

/// Scans records from `start` to the end of `b`.
///
/// A record that is incomplete or fails its checksum and is followed by no
/// valid record is a torn append: it and everything after it are dropped. A
/// bad stretch followed by a valid record is damage: it is reported in
/// `damage`, and the scan resumes at the next valid record.
pub(crate) fn scan_records(b: &[u8], start: usize) -> Records {
    let mut out = Records {
        valid_end: start,
        ..Records::default()
    };
    let mut pos = start;
    while pos < b.len() {
        if let Some((name, ty, next)) = try_record(b, pos) {
            out.records.push((name, ty));
            pos = next;
            out.valid_end = pos;
            continue;
        }
        match (pos + 1..b.len()).find(|&p| try_record(b, p).is_some()) {
            Some(p) => {
                if out.damage.is_none() {
                    out.damage = Some(pos);
                }
                pos = p;
            }
            None => {
                out.torn_tail = true;
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_torn_tail() {
        let mut b = LIST_MAGIC.to_vec();
        b.extend(encode_record("a", ValueType::U64));
        b.extend(encode_record("bb", ValueType::F64));
        let full = b.len();
        let r = scan_records(&b, 8);
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.valid_end, full);
        assert!(!r.torn_tail && r.damage.is_none());
        for cut in 8..full {
            let r = scan_records(&b[..cut], 8);
            assert!(r.damage.is_none());
            assert!(r.valid_end <= cut);
            let expect = if cut >= 17 { 1 } else { 0 };
            assert_eq!(r.records.len(), expect, "cut {cut}");
        }
    }

    #[test]
    fn damage_in_middle_is_reported() {
        let mut b = LIST_MAGIC.to_vec();
        b.extend(encode_record("a", ValueType::U64));
        b.extend(encode_record("bb", ValueType::I64));
        b[12] ^= 0xff; // the name byte of "a"
        let r = scan_records(&b, 8);
        assert_eq!(r.damage, Some(8));
        assert_eq!(r.records, vec![("bb".to_string(), ValueType::I64)]);
    }

    /// The checksums as the layout documents them, computed the plain way:
    /// CRC-32 of the position's 20 bytes, then the presence words and
    /// flags, then the values with unset points as zeros (data); CRC-32 of
    /// the position, then bytes 0..60 (record). The store's faster ways of
    /// computing them must give exactly these, or stores already written
    /// would read as damaged.
    #[test]
    fn block_checksums_are_the_documented_crcs() {
        let pos = BlockPos {
            base: 0x0102_0304_0506_0708,
            row: 7,
            block: 3,
            name_crc: crc(b"some.metric"),
        };
        let mut pos_bytes = Vec::new();
        pos_bytes.extend_from_slice(&pos.base.to_le_bytes());
        pos_bytes.extend_from_slice(&pos.row.to_le_bytes());
        pos_bytes.extend_from_slice(&pos.block.to_le_bytes());
        pos_bytes.extend_from_slice(&pos.name_crc.to_le_bytes());
        let data: Vec<u8> = (0..BLOCK * 8).map(|i| (i * 131 % 251) as u8).collect();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut patterns = vec![[u64::MAX; BLOCK_WORDS], [1; BLOCK_WORDS]];
        for _ in 0..50 {
            let mut w = [0u64; BLOCK_WORDS];
            for word in &mut w {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Whole words set, clear or mixed.
                *word = match x % 3 {
                    0 => u64::MAX,
                    1 => 0,
                    _ => x,
                };
            }
            patterns.push(w);
        }
        for (i, words) in patterns.iter().enumerate() {
            for (n, flags) in [(BLOCK as usize, 0), (BLOCK as usize, UNCHECKED), (100, 0)] {
                let rec = BlockRec {
                    words: *words,
                    data_crc: 0,
                    flags,
                };
                let mut plain = pos_bytes.clone();
                for w in words {
                    plain.extend_from_slice(&w.to_le_bytes());
                }
                plain.extend_from_slice(&flags.to_le_bytes());
                for p in 0..n {
                    let set = words[p / 64] >> (p % 64) & 1 == 1;
                    let v = &data[p * 8..p * 8 + 8];
                    plain.extend_from_slice(if set { v } else { &[0; 8] });
                }
                let want = crc32fast::hash(&plain);
                assert_eq!(
                    data_crc(&pos, &rec, &data[..n * 8]),
                    want,
                    "pattern {i}, {n}"
                );
                let rec = BlockRec {
                    data_crc: want,
                    ..rec
                };
                let enc = encode_rec(&rec, &pos);
                if rec.is_empty() {
                    assert_eq!(enc, [0; REC_LEN]);
                    continue;
                }
                let mut plain = pos_bytes.clone();
                plain.extend_from_slice(&enc[..60]);
                assert_eq!(u32_at(&enc, 60), crc32fast::hash(&plain));
                assert!(rec_crc_ok(&enc, &pos));
                assert_eq!(decode_rec(&enc, &pos), RecState::Valid(rec));
            }
        }
    }

    #[test]
    fn meta_round_trip() {
        for nested in [false, true] {
            let m = Meta {
                chunk_size: 10,
                resolution: 1,
                start_time: 7,
                nested,
            };
            let e = encode_meta(&m);
            assert_eq!(&e[..8], if nested { b"MSTORE01" } else { b"MSTORE02" });
            assert_eq!(decode_meta(Path::new("x"), &e).unwrap(), m);
            for i in 0..e.len() {
                let mut g = e.clone();
                g[i] ^= 1;
                assert!(decode_meta(Path::new("x"), &g).is_err());
            }
        }
    }

    #[test]
    fn a_store_header_of_an_unknown_version_is_a_typed_error() {
        let m = Meta {
            chunk_size: 10,
            resolution: 1,
            start_time: 7,
            nested: false,
        };
        let mut e = encode_meta(&m);
        e[6..8].copy_from_slice(b"03");
        let c = crc(&e[..32]);
        e[32..36].copy_from_slice(&c.to_le_bytes());
        match decode_meta(Path::new("x"), &e) {
            Err(Error::Corrupt { offset, reason, .. }) => {
                assert_eq!(offset, 6);
                assert_eq!(reason, "store header of an unknown version");
            }
            other => panic!("{other:?}"),
        }
        e[..8].copy_from_slice(b"NOTMSTOR");
        match decode_meta(Path::new("x"), &e) {
            Err(Error::Corrupt { offset: 0, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
