//! Sealed chunks: one compressed, immutable file per chunk the writer has
//! moved past (`chunks/<base>.sea`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::codec;
use super::error::{Error, IoContext, Result};
use super::format;
use super::vfs::{self, FsRef, Mode, VFile, Vfs};
use super::ValueType;

pub(crate) const SEAL_MAGIC: &[u8; 8] = b"MSTSEAL1";
/// Fixed header: magic, chunk size, base, metrics, directory length, CRC.
pub(crate) const SEAL_HEADER_LEN: usize = 36;
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

/// Encodes a sealed chunk from its rows `(name, type, presence, values)`.
pub(crate) fn encode(
    chunk_size: u64,
    base: u64,
    rows: &[(String, ValueType, Vec<u64>, Vec<u64>)],
) -> Vec<u8> {
    let n = chunk_size as usize;
    let payloads: Vec<Vec<u8>> = rows
        .iter()
        .map(|(_, ty, p, v)| codec::encode_row(*ty, n, p, v))
        .collect();
    let mut dir = Vec::new();
    let dir_len: usize = rows
        .iter()
        .map(|(name, ..)| name.len() + format::RECORD_OVERHEAD + ENTRY_TAIL)
        .sum();
    let mut off = (SEAL_HEADER_LEN + dir_len + 4) as u64;
    for ((name, ty, p, _), payload) in rows.iter().zip(&payloads) {
        dir.extend(format::encode_record(name, *ty));
        dir.extend_from_slice(&off.to_le_bytes());
        dir.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        dir.extend_from_slice(&(super::bits::count(p, n) as u32).to_le_bytes());
        dir.extend_from_slice(&payload_crc(base, name, payload).to_le_bytes());
        off += payload.len() as u64;
    }
    let mut out = Vec::with_capacity(off as usize);
    out.extend_from_slice(SEAL_MAGIC);
    out.extend_from_slice(&chunk_size.to_le_bytes());
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dir.len() as u32).to_le_bytes());
    let c = format::crc(&out);
    out.extend_from_slice(&c.to_le_bytes());
    out.extend_from_slice(&dir);
    out.extend_from_slice(&format::crc(&dir).to_le_bytes());
    for p in payloads {
        out.extend_from_slice(&p);
    }
    out
}

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
    /// Row number -> (name, type), in the order the chunk held them.
    pub names: Vec<(String, ValueType)>,
    entries: HashMap<String, Entry>,
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
        let mut head = [0u8; SEAL_HEADER_LEN];
        let got = vfs::read_full_at(file.as_ref(), &path, &mut head, 0)?;
        if got < SEAL_HEADER_LEN {
            return Err(corrupt(
                &path,
                got as u64,
                "sealed chunk shorter than its header",
            ));
        }
        if &head[..8] != SEAL_MAGIC {
            return Err(corrupt(&path, 0, "bad magic in sealed chunk"));
        }
        if u32_at(&head, 32) != Some(format::crc(&head[..32])) {
            return Err(corrupt(&path, 32, "sealed chunk header fails its checksum"));
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
        if dir_len > m.saturating_mul(max_entry) || (dir_len as u64) + 40 > md.len {
            return Err(corrupt(
                &path,
                28,
                "sealed chunk directory length is impossible",
            ));
        }
        let mut dir = vec![0u8; dir_len + 4];
        let got = vfs::read_full_at(file.as_ref(), &path, &mut dir, SEAL_HEADER_LEN as u64)?;
        if got < dir.len() {
            return Err(corrupt(
                &path,
                (SEAL_HEADER_LEN + got) as u64,
                "sealed chunk ends in its directory",
            ));
        }
        if u32_at(&dir, dir_len) != Some(format::crc(&dir[..dir_len])) {
            return Err(corrupt(
                &path,
                SEAL_HEADER_LEN as u64,
                "sealed chunk directory fails its checksum",
            ));
        }
        let mut names = Vec::with_capacity(m);
        let mut entries = HashMap::with_capacity(m);
        let mut pos = 0usize;
        let max_payload = chunk_size.saturating_mul(20).saturating_add(64);
        for row in 0..m {
            let bad = || {
                corrupt(
                    &path,
                    (SEAL_HEADER_LEN + pos) as u64,
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
                (SEAL_HEADER_LEN + pos) as u64,
                "sealed chunk directory has bytes after its entries",
            ));
        }
        Ok(Some(SealedChunk {
            path,
            file,
            id: md.id,
            base,
            chunk_size,
            names,
            entries,
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

    /// Reads, checks and decodes the row of `name`.
    pub fn decode(&self, name: &str) -> Result<Option<Arc<Decoded>>> {
        let Some(e) = self.entries.get(name).copied() else {
            return Ok(None);
        };
        let mut payload = vec![0u8; e.len as usize];
        let got = vfs::read_full_at(self.file.as_ref(), &self.path, &mut payload, e.off)?;
        let (first, last) = (self.base, self.base + self.chunk_size - 1);
        let damaged = |reason| Error::Damaged {
            path: self.path.clone(),
            first,
            last,
            reason,
        };
        if got < payload.len() || payload_crc(self.base, name, &payload) != e.crc {
            return Err(damaged("sealed points fail their checksum"));
        }
        let n = self.chunk_size as usize;
        let mut d = Decoded {
            present: vec![0u64; n.div_ceil(64)],
            values: vec![0u64; n],
        };
        match codec::decode_row(e.ty, &payload, n, &mut d.present, &mut d.values) {
            Some(c) if c == e.count as usize => Ok(Some(Arc::new(d))),
            _ => Err(damaged("sealed points do not decode")),
        }
    }
}
