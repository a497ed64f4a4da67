//! Sealed chunks: one compressed, immutable file per chunk the writer has
//! moved past (`<base>.sea`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::codec;
use super::error::{Error, IoContext, Result};
use super::format;
use super::vfs::{self, FsRef, Mode, VFile, Vfs};
use super::ValueType;

/// Magic of the current layout (rows split into blocks).
pub(crate) const SEAL_MAGIC: &[u8; 8] = b"MSTSEAL2";
/// Magic of the first layout (one encoded payload per row), still read.
pub(crate) const SEAL_MAGIC_V1: &[u8; 8] = b"MSTSEAL1";
/// Points in a block of a sealed row, as the writer makes them (the last
/// block of a row may be shorter; a chunk smaller than this is one
/// block). Recorded in each file's header, so a reader takes any.
pub(crate) const SEAL_BLOCK: u64 = 4096;

/// The writer's block size and layout (bench support: the mstore bench
/// measures block sizes and the first layout beside the default).
static WRITE_BLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(SEAL_BLOCK);
static WRITE_V1: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Bench support: the block size sealing writes (0: the first layout,
/// one payload per row).
pub(crate) fn set_write_block(points: u64) {
    use std::sync::atomic::Ordering::Relaxed;
    WRITE_V1.store(points == 0, Relaxed);
    WRITE_BLOCK.store(if points == 0 { SEAL_BLOCK } else { points }, Relaxed);
}
/// Bytes a block takes in a row's block table: its length and CRC-32.
const BLOCK_ENTRY: usize = 8;
/// Fixed header: magic, chunk size, base, metrics, directory length,
/// block size, CRC.
pub(crate) const SEAL_HEADER_LEN: usize = 40;
/// The first layout's header: no block size.
const SEAL_HEADER_LEN_V1: usize = 36;
/// Bytes a directory entry adds to its name record.
pub(crate) const ENTRY_TAIL: usize = 20;
/// Longest name record.
const MAX_NAME_LEN_RECORD: usize = super::MAX_NAME_LEN + format::RECORD_OVERHEAD;

/// Path of the sealed file of chunk `base`.
pub(crate) fn sealed_path(chunks_dir: &Path, base: u64) -> PathBuf {
    chunks_dir.join(format!("{base:020}.sea"))
}

/// Bases of every sealed chunk, ascending.
pub(crate) fn list_sealed(fs: &dyn Vfs, chunks_dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let names = match fs.list_dir(chunks_dir) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).ctx(chunks_dir, "list directory"),
    };
    for name in names {
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".sea") {
            if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(base) = stem.parse::<u64>() {
                    out.push(base);
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// One metric's row, decoded: presence words and all values (unset 0).
pub(crate) struct Decoded {
    pub present: Vec<u64>,
    pub values: Vec<u64>,
}

/// The checksum of a payload: CRC-32 of the base, the CRC-32 of the name,
/// then the payload, so that a payload moved to another metric or chunk
/// fails it.
fn payload_crc(base: u64, name: &str, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&base.to_le_bytes());
    h.update(&format::crc(name.as_bytes()).to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// The checksum of block `block` of a row: as [`payload_crc`], with the
/// block's number before its bytes.
fn block_crc(base: u64, name: &str, block: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&base.to_le_bytes());
    h.update(&format::crc(name.as_bytes()).to_le_bytes());
    h.update(&block.to_le_bytes());
    h.update(bytes);
    h.finalize()
}

/// Points per block for chunk size `s`, and the number of blocks.
fn block_shape(s: u64, block: u64) -> (u64, u64) {
    let bl = block.clamp(1, s.max(1));
    (bl, s.div_ceil(bl))
}

/// Encodes one row as the current layout's payload: the block table
/// (length and CRC-32 of each block), then the blocks, each encoded on
/// its own. Returns the payload and the table's length.
fn encode_blocks(
    block: u64,
    base: u64,
    name: &str,
    ty: ValueType,
    n: usize,
    p: &[u64],
    v: &[u64],
) -> (Vec<u8>, usize) {
    let (bl, nb) = block_shape(n as u64, block);
    let (bl, nb) = (bl as usize, nb as usize);
    let mut table = Vec::with_capacity(nb * BLOCK_ENTRY);
    let mut blocks = Vec::new();
    for b in 0..nb {
        let start = b * bl;
        let len = bl.min(n - start);
        let mut words = vec![0u64; len.div_ceil(64)];
        super::bits::or_bits(p, start, &mut words, 0, len);
        let enc = codec::encode_row(ty, len, &words, &v[start..start + len]);
        table.extend_from_slice(&(enc.len() as u32).to_le_bytes());
        table.extend_from_slice(&block_crc(base, name, b as u32, &enc).to_le_bytes());
        blocks.extend_from_slice(&enc);
    }
    let t = table.len();
    table.extend_from_slice(&blocks);
    (table, t)
}

/// Encodes a sealed chunk from its rows `(name, type, presence, values)`.
pub(crate) fn encode(
    chunk_size: u64,
    base: u64,
    rows: &[(String, ValueType, Vec<u64>, Vec<u64>)],
) -> Vec<u8> {
    use std::sync::atomic::Ordering::Relaxed;
    if WRITE_V1.load(Relaxed) {
        return encode_v1(chunk_size, base, rows);
    }
    let n = chunk_size as usize;
    let (block, _) = block_shape(chunk_size, WRITE_BLOCK.load(Relaxed));
    let payloads: Vec<(Vec<u8>, usize)> = rows
        .iter()
        .map(|(name, ty, p, v)| encode_blocks(block, base, name, *ty, n, p, v))
        .collect();
    assemble(Some(block), chunk_size, base, rows, payloads)
}

/// Encodes a sealed chunk in the first layout (one payload per row), as
/// the version before blocks wrote it: for the tests and the bench.
pub(crate) fn encode_v1(
    chunk_size: u64,
    base: u64,
    rows: &[(String, ValueType, Vec<u64>, Vec<u64>)],
) -> Vec<u8> {
    let n = chunk_size as usize;
    let payloads: Vec<(Vec<u8>, usize)> = rows
        .iter()
        .map(|(_, ty, p, v)| {
            let e = codec::encode_row(*ty, n, p, v);
            let l = e.len();
            (e, l)
        })
        .collect();
    assemble(None, chunk_size, base, rows, payloads)
}

/// Header, directory and payloads; an entry's CRC covers the first
/// `checked` bytes of its payload (the block table, or all of it in the
/// first layout).
fn assemble(
    block: Option<u64>,
    chunk_size: u64,
    base: u64,
    rows: &[(String, ValueType, Vec<u64>, Vec<u64>)],
    payloads: Vec<(Vec<u8>, usize)>,
) -> Vec<u8> {
    let n = chunk_size as usize;
    let mut dir = Vec::new();
    let dir_len: usize = rows
        .iter()
        .map(|(name, ..)| name.len() + format::RECORD_OVERHEAD + ENTRY_TAIL)
        .sum();
    let head = if block.is_some() {
        SEAL_HEADER_LEN
    } else {
        SEAL_HEADER_LEN_V1
    };
    let mut off = (head + dir_len + 4) as u64;
    for ((name, ty, p, _), (payload, checked)) in rows.iter().zip(&payloads) {
        dir.extend(format::encode_record(name, *ty));
        dir.extend_from_slice(&off.to_le_bytes());
        dir.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        dir.extend_from_slice(&(super::bits::count(p, n) as u32).to_le_bytes());
        dir.extend_from_slice(&payload_crc(base, name, &payload[..*checked]).to_le_bytes());
        off += payload.len() as u64;
    }
    let mut out = Vec::with_capacity(off as usize);
    out.extend_from_slice(if block.is_some() {
        SEAL_MAGIC
    } else {
        SEAL_MAGIC_V1
    });
    out.extend_from_slice(&chunk_size.to_le_bytes());
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dir.len() as u32).to_le_bytes());
    if let Some(b) = block {
        out.extend_from_slice(&(b as u32).to_le_bytes());
    }
    let c = format::crc(&out);
    out.extend_from_slice(&c.to_le_bytes());
    out.extend_from_slice(&dir);
    out.extend_from_slice(&format::crc(&dir).to_le_bytes());
    for (p, _) in payloads {
        out.extend_from_slice(&p);
    }
    out
}

/// A row's block table: (offset in the file, length, CRC-32) per block.
type Table = Vec<(u64, u32, u32)>;

#[derive(Clone, Copy)]
struct Entry {
    row: u32,
    ty: ValueType,
    off: u64,
    len: u32,
    count: u32,
    crc: u32,
}

/// An open sealed chunk. The file never changes once in place: it is only
/// ever replaced by a new file (unsealing) or removed (deletion), so what
/// an open handle reads stays whole.
pub(crate) struct SealedChunk {
    path: PathBuf,
    file: Box<dyn VFile>,
    pub id: (u64, u64),
    base: u64,
    chunk_size: u64,
    /// Points per block (the chunk size in the first layout).
    block_len: u64,
    /// Blocks per row (1 in the first layout).
    blocks: u64,
    /// Whether rows have block tables (the current layout).
    blocked: bool,
    /// Row number -> (name, type), in the order the chunk held them.
    pub names: Vec<(String, ValueType)>,
    entries: HashMap<String, Entry>,
    /// Block tables read and checked, by row: (offset, length, CRC-32)
    /// of each block.
    tables: std::sync::Mutex<HashMap<u32, Arc<Table>>>,
    pub last_used: u64,
}

fn corrupt(path: &Path, offset: u64, reason: &'static str) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

impl SealedChunk {
    /// Opens the sealed file of chunk `base`; `Ok(None)` if there is none.
    pub fn open(
        fs: &FsRef,
        chunks_dir: &Path,
        base: u64,
        chunk_size: u64,
    ) -> Result<Option<SealedChunk>> {
        let path = sealed_path(chunks_dir, base);
        let Some(file) = vfs::open_existing(fs.as_ref(), &path, Mode::Read)? else {
            return Ok(None);
        };
        let md = file.stat().ctx(&path, "stat")?;
        // Either layout's file is at least 40 bytes long (its header, and
        // the directory's checksum after it).
        let mut head = [0u8; SEAL_HEADER_LEN];
        let got = vfs::read_full_at(file.as_ref(), &path, &mut head, 0)?;
        if got < SEAL_HEADER_LEN {
            return Err(corrupt(
                &path,
                got as u64,
                "sealed chunk shorter than its header",
            ));
        }
        let blocked = match &head[..8] {
            m if m == SEAL_MAGIC => true,
            m if m == SEAL_MAGIC_V1 => false,
            m if m.starts_with(b"MSTSEAL") => {
                return Err(corrupt(&path, 7, "sealed chunk of an unknown version"))
            }
            _ => return Err(corrupt(&path, 0, "bad magic in sealed chunk")),
        };
        let hl = if blocked {
            SEAL_HEADER_LEN
        } else {
            SEAL_HEADER_LEN_V1
        };
        if u32_at(&head, hl - 4) != Some(format::crc(&head[..hl - 4])) {
            return Err(corrupt(
                &path,
                (hl - 4) as u64,
                "sealed chunk header fails its checksum",
            ));
        }
        let s = u64_at(&head, 8).unwrap_or(0);
        if s != chunk_size {
            return Err(Error::ChunkSizeMismatch {
                path,
                expected: chunk_size,
                found: s,
            });
        }
        if u64_at(&head, 16) != Some(base) {
            return Err(corrupt(
                &path,
                16,
                "sealed chunk records another base than its file name",
            ));
        }
        let m = u32_at(&head, 24).unwrap_or(0) as usize;
        let dir_len = u32_at(&head, 28).unwrap_or(0) as usize;
        let max_entry = MAX_NAME_LEN_RECORD + ENTRY_TAIL;
        if dir_len > m.saturating_mul(max_entry) || (hl + dir_len + 4) as u64 > md.len {
            return Err(corrupt(
                &path,
                28,
                "sealed chunk directory length is impossible",
            ));
        }
        let mut dir = vec![0u8; dir_len + 4];
        let got = vfs::read_full_at(file.as_ref(), &path, &mut dir, hl as u64)?;
        if got < dir.len() {
            return Err(corrupt(
                &path,
                (hl + got) as u64,
                "sealed chunk ends in its directory",
            ));
        }
        if u32_at(&dir, dir_len) != Some(format::crc(&dir[..dir_len])) {
            return Err(corrupt(
                &path,
                hl as u64,
                "sealed chunk directory fails its checksum",
            ));
        }
        let mut names = Vec::with_capacity(m);
        let mut entries = HashMap::with_capacity(m);
        let mut pos = 0usize;
        let (block_len, blocks) = if blocked {
            let b = u64::from(u32_at(&head, 32).unwrap_or(0));
            if b == 0 || b > chunk_size {
                return Err(corrupt(&path, 32, "sealed chunk block size is impossible"));
            }
            block_shape(chunk_size, b)
        } else {
            (chunk_size, 1)
        };
        let max_payload = chunk_size
            .saturating_mul(20)
            .saturating_add(blocks.saturating_mul(80))
            .saturating_add(64);
        for row in 0..m {
            let bad = || {
                corrupt(
                    &path,
                    (hl + pos) as u64,
                    "bad entry in sealed chunk directory",
                )
            };
            let (name, ty, next) = format::try_record(&dir[..dir_len], pos).ok_or_else(bad)?;
            let e = Entry {
                row: row as u32,
                ty,
                off: u64_at(&dir, next).ok_or_else(bad)?,
                len: u32_at(&dir, next + 8).ok_or_else(bad)?,
                count: u32_at(&dir, next + 12).ok_or_else(bad)?,
                crc: u32_at(&dir, next + 16).ok_or_else(bad)?,
            };
            if next + ENTRY_TAIL > dir_len
                || u64::from(e.len) > max_payload
                || u64::from(e.count) > chunk_size
                || e.off
                    .checked_add(u64::from(e.len))
                    .is_none_or(|end| end > md.len)
            {
                return Err(bad());
            }
            pos = next + ENTRY_TAIL;
            entries.entry(name.clone()).or_insert(e);
            names.push((name, ty));
        }
        if pos != dir_len {
            return Err(corrupt(
                &path,
                (hl + pos) as u64,
                "sealed chunk directory has bytes after its entries",
            ));
        }
        Ok(Some(SealedChunk {
            path,
            file,
            id: md.id,
            base,
            chunk_size,
            block_len,
            blocks,
            blocked,
            names,
            entries,
            tables: std::sync::Mutex::new(HashMap::new()),
            last_used: 0,
        }))
    }

    /// Whether the file was unlinked (deleted, or replaced by unsealing).
    pub fn is_deleted(&self) -> bool {
        self.file.stat().map(|m| m.nlink == 0).unwrap_or(true)
    }

    /// The row and type of `name`, if this chunk holds it.
    pub fn row(&self, name: &str) -> Option<(u32, ValueType)> {
        self.entries.get(name).map(|e| (e.row, e.ty))
    }

    /// Whether row `row` is the one `name` is read from (a name recorded
    /// twice keeps its first row).
    pub fn is_current(&self, row: u32) -> bool {
        self.names
            .get(row as usize)
            .and_then(|(n, _)| self.entries.get(n))
            .is_some_and(|e| e.row == row)
    }

    /// Points per block, and blocks per row.
    pub fn block_shape(&self) -> (u64, u64) {
        (self.block_len, self.blocks)
    }

    fn damaged(&self, block: u64, reason: &'static str) -> Error {
        let first = self.base + block * self.block_len;
        let last = (first + self.block_len).min(self.base + self.chunk_size) - 1;
        Error::Damaged {
            path: self.path.clone(),
            first,
            last,
            reason,
        }
    }

    /// Block `block` is encoded with what only a build with `feature`
    /// reads (its checksum passed: the points are there, whole).
    fn needs_feature(&self, block: u64, feature: &'static str) -> Error {
        let first = self.base + block * self.block_len;
        let last = (first + self.block_len).min(self.base + self.chunk_size) - 1;
        Error::NeedsFeature {
            path: self.path.clone(),
            first,
            last,
            feature,
        }
    }

    fn damaged_row(&self, reason: &'static str) -> Error {
        Error::Damaged {
            path: self.path.clone(),
            first: self.base,
            last: self.base + self.chunk_size - 1,
            reason,
        }
    }

    fn read_at(&self, off: u64, len: usize) -> Result<Option<Vec<u8>>> {
        let mut b = vec![0u8; len];
        let got = vfs::read_full_at(self.file.as_ref(), &self.path, &mut b, off)?;
        Ok((got == len).then_some(b))
    }

    /// The block table of `name`'s row (entry `e`), read and checked once.
    fn table(&self, name: &str, e: &Entry) -> Result<Arc<Table>> {
        if let Some(t) = self.tables.lock().ok().and_then(|m| m.get(&e.row).cloned()) {
            return Ok(t);
        }
        let t = (self.blocks as usize) * BLOCK_ENTRY;
        let raw = self
            .read_at(e.off, t)?
            .filter(|t| payload_crc(self.base, name, t) == e.crc)
            .ok_or_else(|| self.damaged_row("sealed block table fails its checksum"))?;
        let mut at = e.off + t as u64;
        let mut table = Vec::with_capacity(self.blocks as usize);
        for c in raw.chunks_exact(BLOCK_ENTRY) {
            let len = u32_at(c, 0).unwrap_or(0);
            table.push((at, len, u32_at(c, 4).unwrap_or(0)));
            at += u64::from(len);
        }
        if at != e.off + u64::from(e.len) {
            return Err(self.damaged_row("sealed block table fails its checksum"));
        }
        let table = Arc::new(table);
        if let Ok(mut m) = self.tables.lock() {
            m.insert(e.row, table.clone());
        }
        Ok(table)
    }

    /// Reads, checks and decodes block `block` of the row of `name`: the
    /// points `block * block_len ..` of the chunk.
    pub fn decode_block(&self, name: &str, block: u64) -> Result<Option<Arc<Decoded>>> {
        let Some(e) = self.entries.get(name).copied() else {
            return Ok(None);
        };
        if block >= self.blocks {
            return Ok(None);
        }
        let start = block * self.block_len;
        let n = self.block_len.min(self.chunk_size - start) as usize;
        let (bytes, count) = if self.blocked {
            let table = self.table(name, &e)?;
            let this = table
                .get(block as usize)
                .copied()
                .ok_or_else(|| self.damaged_row("sealed block table fails its checksum"))?;
            let (off, len, crc) = this;
            let b = self
                .read_at(off, len as usize)?
                .filter(|b| block_crc(self.base, name, block as u32, b) == crc)
                .ok_or_else(|| self.damaged(block, "sealed points fail their checksum"))?;
            (b, None)
        } else {
            let b = self
                .read_at(e.off, e.len as usize)?
                .filter(|b| payload_crc(self.base, name, b) == e.crc)
                .ok_or_else(|| self.damaged(block, "sealed points fail their checksum"))?;
            (b, Some(e.count as usize))
        };
        let mut d = Decoded {
            present: vec![0u64; n.div_ceil(64)],
            values: vec![0u64; n],
        };
        match codec::decode_row(e.ty, &bytes, n, &mut d.present, &mut d.values) {
            Ok(c) if count.is_none_or(|k| k == c) => Ok(Some(Arc::new(d))),
            Err(codec::Undecodable::NeedsPco) => Err(self.needs_feature(block, "pco")),
            _ => Err(self.damaged(block, "sealed points do not decode")),
        }
    }

    /// Reads, checks and decodes the whole row of `name`, block by block.
    pub fn decode(&self, name: &str) -> Result<Option<Arc<Decoded>>> {
        let Some(e) = self.entries.get(name).copied() else {
            return Ok(None);
        };
        let n = self.chunk_size as usize;
        let mut d = Decoded {
            present: vec![0u64; n.div_ceil(64)],
            values: vec![0u64; n],
        };
        for b in 0..self.blocks {
            let Some(part) = self.decode_block(name, b)? else {
                return Ok(None);
            };
            d.add_block(&part, (b * self.block_len) as usize);
        }
        if super::bits::count(&d.present, n) != u64::from(e.count) {
            return Err(self.damaged_row("sealed points do not decode"));
        }
        Ok(Some(Arc::new(d)))
    }
}

#[cfg(test)]
impl SealedChunk {
    /// The value encoding (kind, the high nibble of its first byte) of
    /// each block of `name`'s row.
    fn block_kinds(&self, name: &str) -> Vec<u8> {
        let e = self.entries[name];
        self.table(name, &e)
            .unwrap()
            .iter()
            .map(|(off, len, _)| self.read_at(*off, *len as usize).unwrap().unwrap()[0] >> 4)
            .collect()
    }
}

impl Decoded {
    /// Copies a decoded block into this row at point `at`.
    pub fn add_block(&mut self, part: &Decoded, at: usize) {
        let n = part.values.len();
        if let Some(dst) = self.values.get_mut(at..at + n) {
            dst.copy_from_slice(&part.values);
        }
        super::bits::or_bits(&part.present, 0, &mut self.present, at, n);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::needless_range_loop)]

    use super::*;
    use crate::mstore::{Options, Reader, Store, ValueType};

    /// Chunk size of three whole blocks and a partial one.
    const S: u64 = 3 * SEAL_BLOCK + 500;

    fn rows() -> Vec<(String, ValueType, Vec<u64>, Vec<u64>)> {
        let n = S as usize;
        let mut out = Vec::new();
        let mut x = 7u64;
        for (name, ty) in [
            ("c", ValueType::U64),
            ("g", ValueType::I64),
            ("f", ValueType::F64),
        ] {
            let mut p = vec![0u64; n.div_ceil(64)];
            let mut v = vec![0u64; n];
            for i in 0..n {
                if (i / 700) % 4 == 3 {
                    continue;
                }
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                crate::mstore::bits::set_range(&mut p, i, 1);
                v[i] = match ty {
                    ValueType::U64 => i as u64 * 3,
                    ValueType::I64 => x % 100,
                    ValueType::F64 => (i as f64 / 10.0).sin().to_bits(),
                };
            }
            out.push((name.to_owned(), ty, p, v));
        }
        out
    }

    fn open(dir: &Path, bytes: &[u8]) -> Result<Option<SealedChunk>> {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(sealed_path(dir, S), bytes).unwrap();
        SealedChunk::open(&vfs::real(), dir, S, S)
    }

    /// Both layouts decode to the points sealed, whole rows and block by
    /// block; a block holds exactly its slice of the row.
    #[test]
    fn both_layouts_decode_to_the_points_sealed() {
        let rows = rows();
        for v1 in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let bytes = if v1 {
                encode_v1(S, S, &rows)
            } else {
                encode(S, S, &rows)
            };
            let c = open(d.path(), &bytes).unwrap().unwrap();
            let (bl, nb) = c.block_shape();
            assert_eq!((bl, nb), if v1 { (S, 1) } else { (SEAL_BLOCK, 4) });
            for (name, _, p, v) in &rows {
                let whole = c.decode(name).unwrap().unwrap();
                assert_eq!((&whole.present, &whole.values), (p, v));
                for b in 0..nb {
                    let part = c.decode_block(name, b).unwrap().unwrap();
                    let s = (b * bl) as usize;
                    let n = part.values.len();
                    assert_eq!(n, (bl as usize).min(S as usize - s));
                    assert_eq!(part.values, v[s..s + n]);
                    for i in 0..n {
                        assert_eq!(
                            crate::mstore::bits::get(&part.present, i),
                            crate::mstore::bits::get(p, s + i)
                        );
                    }
                }
                assert!(c.decode_block(name, nb).unwrap().is_none());
            }
        }
    }

    /// A byte flipped in one block fails that block's points with a typed
    /// error naming them; the row's other blocks still read exactly.
    #[test]
    fn a_damaged_block_fails_only_its_points() {
        let rows = rows();
        let good = encode(S, S, &rows);
        let d = tempfile::tempdir().unwrap();
        let c = open(d.path(), &good).unwrap().unwrap();
        let e = c.entries["g"];
        let t = 4 * BLOCK_ENTRY as u64;
        let len0 = u64::from(u32_at(&good, e.off as usize).unwrap());
        let len1 = u64::from(u32_at(&good, e.off as usize + BLOCK_ENTRY).unwrap());
        drop(c);
        let mut bad = good.clone();
        let at = (e.off + t + len0 + len1 / 2) as usize;
        bad[at] ^= 0x10;
        let c = open(d.path(), &bad).unwrap().unwrap();
        match c.decode_block("g", 1) {
            Err(Error::Damaged { first, last, .. }) => {
                assert_eq!((first, last), (S + SEAL_BLOCK, S + 2 * SEAL_BLOCK - 1))
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(matches!(c.decode("g"), Err(Error::Damaged { .. })));
        for b in [0u64, 2, 3] {
            let part = c.decode_block("g", b).unwrap().unwrap();
            let s = (b * SEAL_BLOCK) as usize;
            assert_eq!(part.values, rows[1].3[s..s + part.values.len()]);
        }
        // The table damaged: the whole row is an error, other rows read.
        let mut bad = good.clone();
        bad[e.off as usize + 1] ^= 1;
        let c = open(d.path(), &bad).unwrap().unwrap();
        assert!(matches!(
            c.decode_block("g", 2),
            Err(Error::Damaged { first, last, .. }) if first == S && last == 2 * S - 1
        ));
        assert_eq!(c.decode("c").unwrap().unwrap().values, rows[0].3);
    }

    /// A store whose sealed files have the first layout (what the version
    /// before blocks wrote) opens and reads the same; a writer's unsealing
    /// and sealing again turns them into the current layout.
    #[test]
    fn a_store_with_sealed_files_of_the_first_layout_reads_the_same() {
        let d = tempfile::tempdir().unwrap();
        let opts = Options {
            chunk_size: S,
            ..Options::default()
        };
        let mut s = Store::create(d.path(), opts).unwrap();
        for t in 0..2 * S + 10 {
            s.put("c", t, &[t * 3]).unwrap();
            if t % 5 != 0 {
                s.put("f", t, &[(t as f64).sqrt()]).unwrap();
            }
        }
        s.close().unwrap();
        let mut r = Reader::open(d.path()).unwrap();
        let c0 = r.get::<u64>("c", 0, 2 * S + 10).unwrap();
        let f0 = r.get::<f64>("f", 0, 2 * S + 10).unwrap();
        drop(r);
        // Rewrite every sealed file in the first layout.
        let chunks = d.path().to_path_buf();
        let fs = vfs::real();
        let bases = list_sealed(fs.as_ref(), &chunks).unwrap();
        assert!(bases.len() >= 2, "{bases:?}");
        for base in bases {
            let c = SealedChunk::open(&fs, &chunks, base, S).unwrap().unwrap();
            let rows: Vec<_> = c
                .names
                .iter()
                .map(|(n, ty)| {
                    let d = c.decode(n).unwrap().unwrap();
                    (n.clone(), *ty, d.present.clone(), d.values.clone())
                })
                .collect();
            drop(c);
            let path = sealed_path(&chunks, base);
            std::fs::write(&path, encode_v1(S, base, &rows)).unwrap();
            assert_eq!(&std::fs::read(&path).unwrap()[..8], SEAL_MAGIC_V1);
        }
        let mut r = Reader::open(d.path()).unwrap();
        assert_eq!(r.get::<u64>("c", 0, 2 * S + 10).unwrap(), c0);
        assert_eq!(r.get::<f64>("f", 0, 2 * S + 10).unwrap(), f0);
        let w = r.get::<u64>("c", S - 300, S + 300).unwrap();
        assert!(w.iter().all(|(t, v)| v == Some(t * 3)));
        // A late write unseals chunk 0; sealing again writes the current layout.
        let mut s = Store::open(d.path()).unwrap();
        s.put("c", 5, &[15u64]).unwrap();
        s.sync().unwrap();
        s.close().unwrap();
        let first = std::fs::read(sealed_path(&chunks, 0)).unwrap();
        assert_eq!(&first[..8], SEAL_MAGIC);
        let mut r = Reader::open(d.path()).unwrap();
        assert_eq!(r.get::<u64>("c", 0, 2 * S + 10).unwrap(), c0);
        assert_eq!(r.get::<f64>("f", 0, 2 * S + 10).unwrap(), f0);
    }

    /// A sealed file of a version this one does not know is a typed error
    /// naming it, for the chunk; other chunks read.
    #[test]
    fn an_unknown_sealed_version_is_a_typed_error() {
        let mut bytes = encode(S, S, &rows());
        bytes[7] = b'9';
        let c = format::crc(&bytes[..36]);
        bytes[36..40].copy_from_slice(&c.to_le_bytes());
        let d = tempfile::tempdir().unwrap();
        match open(d.path(), &bytes) {
            Err(Error::Corrupt {
                reason,
                offset,
                path,
            }) => {
                assert_eq!(reason, "sealed chunk of an unknown version");
                assert_eq!(offset, 7);
                assert!(path.ends_with(format!("{S:020}.sea")));
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        // A block size of 0 or more than the chunk, checksum and all.
        for bad in [0u32, S as u32 + 1] {
            let mut bytes = encode(S, S, &rows());
            bytes[32..36].copy_from_slice(&bad.to_le_bytes());
            let c = format::crc(&bytes[..36]);
            bytes[36..40].copy_from_slice(&c.to_le_bytes());
            assert!(matches!(
                open(d.path(), &bytes),
                Err(Error::Corrupt {
                    reason: "sealed chunk block size is impossible",
                    ..
                })
            ));
        }
    }

    /// 64 points of a float average, and the `pco` standalone encoding of
    /// their values as a build with feature `pco` seals them (kind 4 wins
    /// for these: 83 bytes against 87 for Gorilla XOR). Kept as bytes so
    /// that a build without `pco` can be given a block it cannot decode.
    fn pts<V: crate::mstore::Value>(p: crate::mstore::Points<V>) -> Vec<(u64, Option<V>)> {
        p.iter().collect()
    }

    fn pco_fixture() -> (Vec<u64>, Vec<u8>) {
        const PCO_BODY: [u8; 79] = [
            0x70, 0x63, 0x6f, 0x21, 0x03, 0x00, 0x06, 0x10, 0x04, 0x01, 0x06, 0x3f, 0x00, 0x00,
            0x12, 0x8f, 0x36, 0x8e, 0x58, 0x8b, 0x4f, 0xee, 0x1b, 0x51, 0x02, 0x00, 0xd0, 0xc3,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x07, 0xf0, 0x25, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x80, 0x00, 0x08, 0x00, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05,
            0x00, 0xe0, 0xab, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x21, 0x68, 0x06, 0x40, 0x42,
            0x92, 0x24, 0x49, 0xdb, 0xb6, 0x6d, 0x4b, 0x02, 0x00,
        ];
        let values = (0..64u64)
            .map(|i| (0.44 + ((i * 37) % 1000) as f64 / 1e5).to_bits())
            .collect();
        // Kind 4, then the presence: two runs, 0 unset and 64 set.
        let mut row = vec![codec::KIND_PCO << 4, 2, 0, 64];
        row.extend_from_slice(&PCO_BODY);
        (values, row)
    }

    /// Seals `rows` as chunk `base` in blocks of `block` points, each block
    /// with the store's own encoding except those of `replace`: (row
    /// name, block, encoded bytes).
    fn seal_replacing(
        chunk_size: u64,
        base: u64,
        block: u64,
        rows: &[(String, ValueType, Vec<u64>, Vec<u64>)],
        replace: (&str, usize, &[u8]),
    ) -> Vec<u8> {
        let n = chunk_size as usize;
        let bl = block as usize;
        let payloads = rows
            .iter()
            .map(|(name, ty, p, v)| {
                let (mut table, mut blocks) = (Vec::new(), Vec::new());
                for b in 0..n.div_ceil(bl) {
                    let (start, len) = (b * bl, bl.min(n - b * bl));
                    let mut words = vec![0u64; len.div_ceil(64)];
                    crate::mstore::bits::or_bits(p, start, &mut words, 0, len);
                    let enc = if (name.as_str(), b) == (replace.0, replace.1) {
                        replace.2.to_vec()
                    } else {
                        codec::encode_row(*ty, len, &words, &v[start..start + len])
                    };
                    table.extend_from_slice(&(enc.len() as u32).to_le_bytes());
                    table.extend_from_slice(&block_crc(base, name, b as u32, &enc).to_le_bytes());
                    blocks.extend_from_slice(&enc);
                }
                let t = table.len();
                table.extend_from_slice(&blocks);
                (table, t)
            })
            .collect();
        assemble(Some(block), chunk_size, base, rows, payloads)
    }

    /// A block sealed with `pco`, read by a build without feature `pco`,
    /// is a typed error naming the feature, for that block's points only:
    /// the row's other blocks and the other series read exactly, a write
    /// into the chunk fails with the same error and changes nothing. A
    /// build with `pco` reads the block exactly, and the write goes in.
    #[test]
    fn a_block_sealed_with_pco_reads_only_in_a_build_with_pco() {
        const C: u64 = 3 * 64;
        let (fixture, pco_row) = pco_fixture();
        let d = tempfile::tempdir().unwrap();
        let opts = Options {
            chunk_size: C,
            ..Options::default()
        };
        let mut s = Store::create(d.path(), opts).unwrap();
        let f = |t: u64| match t {
            64..128 => f64::from_bits(fixture[t as usize - 64]),
            _ => (t as f64 / 7.0).sin(),
        };
        for t in 0..C {
            s.put("f", t, &[f(t)]).unwrap();
            s.put("c", t, &[t * 3]).unwrap();
        }
        s.put("c", C, &[C * 3]).unwrap();
        s.close().unwrap();
        // Chunk 0 sealed again in blocks of 64, block 1 of "f" with pco.
        let chunks = d.path().to_path_buf();
        let fs = vfs::real();
        let sealed = SealedChunk::open(&fs, &chunks, 0, C).unwrap().unwrap();
        let rows: Vec<_> = sealed
            .names
            .iter()
            .map(|(n, ty)| {
                let d = sealed.decode(n).unwrap().unwrap();
                (n.clone(), *ty, d.present.clone(), d.values.clone())
            })
            .collect();
        drop(sealed);
        let path = sealed_path(&chunks, 0);
        let bytes = seal_replacing(C, 0, 64, &rows, ("f", 1, &pco_row));
        std::fs::write(&path, &bytes).unwrap();
        let sealed = SealedChunk::open(&fs, &chunks, 0, C).unwrap().unwrap();
        assert_eq!(sealed.block_kinds("f")[1], codec::KIND_PCO);
        drop(sealed);

        let mut r = Reader::open(d.path()).unwrap();
        let exact = |from: u64, to: u64| -> Vec<(u64, Option<f64>)> {
            (from..to).map(|t| (t, Some(f(t)))).collect()
        };
        // The blocks around it read exactly in either build.
        assert_eq!(pts(r.get::<f64>("f", 0, 64).unwrap()), exact(0, 64));
        assert_eq!(pts(r.get::<f64>("f", 128, C).unwrap()), exact(128, C));
        let c: Vec<_> = (0..=C).map(|t| (t, Some(t * 3))).collect();
        assert_eq!(pts(r.get::<u64>("c", 0, C + 1).unwrap()), c);
        let mut w = Store::open(d.path()).unwrap();
        if codec::HAS_PCO {
            assert_eq!(pts(r.get::<f64>("f", 0, C).unwrap()), exact(0, C));
            w.put("c", 5, &[1u64]).unwrap();
            w.close().unwrap();
            let mut r = Reader::open(d.path()).unwrap();
            assert_eq!(pts(r.get::<f64>("f", 0, C).unwrap()), exact(0, C));
            assert_eq!(pts(r.get::<u64>("c", 5, 6).unwrap()), vec![(5, Some(1))]);
            return;
        }
        for (from, to) in [(64, 128), (100, 101), (0, C)] {
            match r.get::<f64>("f", from, to) {
                Err(e @ Error::NeedsFeature { .. }) => {
                    let Error::NeedsFeature {
                        ref path,
                        first,
                        last,
                        feature,
                    } = e
                    else {
                        unreachable!()
                    };
                    assert_eq!((first, last, feature), (64, 127, "pco"));
                    assert_eq!(path, &sealed_path(&chunks, 0));
                    let text = e.to_string();
                    assert!(
                        text.contains("this build has no pco support; build with feature pco"),
                        "{text}"
                    );
                }
                other => panic!("{from}..{to}: {other:?}"),
            }
        }
        // A write into the chunk would unseal it: it fails the same way,
        // and the sealed file and every point stay as they were.
        assert!(matches!(
            w.put("c", 5, &[1u64]),
            Err(Error::NeedsFeature {
                first: 64,
                last: 127,
                ..
            })
        ));
        w.close().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let mut r = Reader::open(d.path()).unwrap();
        assert_eq!(pts(r.get::<u64>("c", 0, C + 1).unwrap()), c);
        assert_eq!(pts(r.get::<f64>("f", 128, C).unwrap()), exact(128, C));
    }

    /// Sealing a store of series that `pco` compresses best: with feature
    /// `pco` some blocks are kind 4, without it none is (the store's own
    /// encodings only); in both, everything reads back exactly.
    #[test]
    fn stores_sealed_with_or_without_pco_read_back_identically() {
        let d = tempfile::tempdir().unwrap();
        let opts = Options {
            chunk_size: S,
            ..Options::default()
        };
        let mut s = Store::create(d.path(), opts).unwrap();
        let avg = |t: u64| 0.44 + ((t * 37) % 1000) as f64 / 1e5;
        let noisy = |t: u64| ((t * 0x9E37_79B9) >> 7) % 1000;
        for t in 0..S + 10 {
            s.put("avg", t, &[avg(t)]).unwrap();
            s.put("noisy", t, &[noisy(t)]).unwrap();
            if t % 700 < 600 {
                s.put("c", t, &[t * 3]).unwrap();
            }
        }
        s.close().unwrap();
        let chunks = d.path().to_path_buf();
        let sealed = SealedChunk::open(&vfs::real(), &chunks, 0, S)
            .unwrap()
            .unwrap();
        let kinds: Vec<u8> = ["avg", "noisy", "c"]
            .iter()
            .flat_map(|n| sealed.block_kinds(n))
            .collect();
        assert_eq!(
            kinds.contains(&codec::KIND_PCO),
            codec::HAS_PCO,
            "{kinds:?}"
        );
        drop(sealed);
        let mut r = Reader::open(d.path()).unwrap();
        let all = S + 10;
        let want: Vec<_> = (0..all).map(|t| (t, Some(avg(t)))).collect();
        assert_eq!(pts(r.get::<f64>("avg", 0, all).unwrap()), want);
        let want: Vec<_> = (0..all).map(|t| (t, Some(noisy(t)))).collect();
        assert_eq!(pts(r.get::<u64>("noisy", 0, all).unwrap()), want);
        let want: Vec<_> = (0..all)
            .map(|t| (t, (t % 700 < 600).then_some(t * 3)))
            .collect();
        assert_eq!(pts(r.get::<u64>("c", 0, all).unwrap()), want);
    }
}
