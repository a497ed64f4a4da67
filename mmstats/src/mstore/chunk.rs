//! One chunk: its index, data and presence files.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::bits;
use super::error::{Error, IoContext, Result};
use super::format::{
    self, BlockPos, BlockRec, Layout, RecState, BLOCK, BLOCK_WORDS, REC_LEN, UNCHECKED,
};
use super::vfs::{self, FsRef, Kind, Mode, VFile, Vfs};
use super::ValueType;

/// A metric's row in a chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub row: u32,
    pub ty: ValueType,
}

/// Paths of a chunk's three files.
pub(crate) fn chunk_paths(chunks_dir: &Path, base: u64) -> [PathBuf; 3] {
    let stem = format!("{base:020}");
    [
        chunks_dir.join(format!("{stem}.idx")),
        chunks_dir.join(format!("{stem}.dat")),
        chunks_dir.join(format!("{stem}.bit")),
    ]
}

/// Bases of every chunk that has an index file, in ascending order.
pub(crate) fn list_bases(fs: &dyn Vfs, chunks_dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let names = match fs.list_dir(chunks_dir) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).ctx(chunks_dir, "list directory"),
    };
    for name in names {
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".idx") {
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

/// Bases of every chunk, open (with an index) or sealed, ascending, each
/// once.
pub(crate) fn all_bases(fs: &dyn Vfs, chunks_dir: &Path) -> Result<Vec<u64>> {
    let mut out = list_bases(fs, chunks_dir)?;
    out.extend(super::sealed::list_sealed(fs, chunks_dir)?);
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Most bytes the writer buffers for one row before writing them.
const ROW_BUFFER: usize = 64 * 1024;
/// Most bytes the writer buffers for one chunk in all.
const CHUNK_BUFFER: usize = 4 * 1024 * 1024;
/// How often a reader reads a block again whose values fail their
/// checksum, in case the writer was changing it at that moment.
const REREADS: usize = 3;

/// Outcome of one attempt to open a chunk.
enum Opened {
    Chunk(Box<Chunk>),
    Missing,
    /// The index was replaced or removed while the files were opened.
    Changed,
}

/// The writer's state of one row written since the last flush.
#[derive(Clone)]
struct Pending {
    /// Presence of the whole row as it will be after the flush.
    bits: Vec<u64>,
    /// Layout 2: blocks changed since the last flush (a bitset).
    dirty: Vec<u64>,
    /// Layout 2: blocks whose record failed its checksum when the row was
    /// loaded; never written over.
    damaged: Vec<u64>,
    /// The row was given out since the last flush: its old records, if
    /// any, belonged to a metric whose index record was lost.
    fresh: bool,
}

/// An open chunk. The writer keeps the presence of each row it wrote since
/// the last flush in memory (`pending`) and writes it to the `.bit` file
/// only after the data it describes is durable; other rows, and every row
/// for a reader, are read from the file.
pub(crate) struct Chunk {
    fs: FsRef,
    chunk_size: u64,
    base: u64,
    layout: Layout,
    words_per_row: usize,
    blocks_per_row: u64,
    pub idx_path: PathBuf,
    pub dat_path: PathBuf,
    pub bit_path: PathBuf,
    idx: Box<dyn VFile>,
    dat: Option<Box<dyn VFile>>,
    bit: Option<Box<dyn VFile>>,
    rows: HashMap<String, Row>,
    /// Row number -> (name, type).
    pub names: Vec<(String, ValueType)>,
    /// Row number -> CRC-32 of the name (layout 2 checksums cover it).
    name_crcs: Vec<u32>,
    idx_len: u64,
    writable: bool,
    /// Writer only, one entry per row.
    pending: Vec<Option<Pending>>,
    /// Writer only, one entry per row: values written but not yet handed
    /// to the kernel, as (first chunk offset, little-endian bytes).
    wbuf: Vec<Option<(u64, Vec<u8>)>>,
    /// Bytes held in `wbuf`.
    wbuf_bytes: usize,
    pub unsynced: bool,
    /// Index records appended since the last flush.
    idx_unsynced: bool,
    /// Files created since the last flush: their directory entries must be
    /// durable before any presence bit is.
    new_files: bool,
    pub last_used: u64,
    scratch: Vec<u8>,
    /// Reader: the blocks whose values this open chunk has checked, by
    /// `row * blocks_per_row + block`, each with a fingerprint of the
    /// record it was checked under ([`fingerprint`]; 0: not checked). A
    /// block read again under a record of the same fingerprint is not
    /// checked again. A writer that
    /// changes a block changes its record first, so the block is then
    /// checked anew.
    verified: Vec<u64>,
    /// When the oldest entry of `verified` was made: after [`RECHECK`]
    /// every block is checked anew, so that a long-lived reader (`serve`)
    /// finds damage done under it within that time.
    verified_since: Option<std::time::Instant>,
}

/// How many blocks of one open chunk are remembered as checked, at most
/// (8 bytes each: 8 MiB).
const MAX_VERIFIED: usize = 1 << 20;

/// A fingerprint of a record's bytes: a change to any one of its 8-byte
/// words (any number of flipped bits in it) always changes it, because each
/// step below is a bijection of the state for a given word and of the word
/// for a given state; changes to several words collide with odds of about
/// 2^-64.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.chunks(8).fold(0x243F_6A88_85A3_08D3, |h: u64, word| {
        let mut w = [0u8; 8];
        w[..word.len()].copy_from_slice(word);
        (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    })
}

/// Layout 2, what a read found of blocks' records: presence words from
/// the first block on, each record as decoded, and the records' bytes.
type BlockRecs = (Vec<u64>, Vec<Seen>, Vec<u8>);

/// One block record as a read found it.
struct Seen {
    st: RecState,
    /// Its [`fingerprint`].
    fp: u64,
    /// This chunk checked the block's values under this very record.
    known: bool,
}

/// How long an open chunk trusts the blocks it has checked.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

fn bad_bits(path: &Path, first: u64, last: u64) -> Error {
    Error::Damaged {
        path: path.to_path_buf(),
        first,
        last,
        reason: "presence record fails its checksum",
    }
}

fn bad_data(path: &Path, first: u64, last: u64) -> Error {
    Error::Damaged {
        path: path.to_path_buf(),
        first,
        last,
        reason: "stored points fail their checksum",
    }
}

fn bit_get(set: &[u64], i: u64) -> bool {
    bits::get(set, i as usize)
}

fn bit_set(set: &mut [u64], i: u64) {
    bits::set_range(set, i as usize, 1);
}

fn le_words(raw: &[u8]) -> Vec<u64> {
    raw.chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect()
}

impl Chunk {
    /// Opens an existing chunk; `Ok(None)` if it has no index file. A
    /// writer drops a torn tail of the index; a reader ignores it.
    pub fn open(
        fs: &FsRef,
        chunks_dir: &Path,
        base: u64,
        chunk_size: u64,
        writable: bool,
    ) -> Result<Option<Chunk>> {
        let mut tries = 0;
        loop {
            match Chunk::open_inner(fs, chunks_dir, base, chunk_size, writable, true)? {
                Opened::Chunk(c) => return Ok(Some(*c)),
                Opened::Missing => return Ok(None),
                Opened::Changed if tries < 8 => tries += 1,
                Opened::Changed => {
                    return Err(Error::Corrupt {
                        path: chunk_paths(chunks_dir, base)[0].clone(),
                        offset: 0,
                        reason: "chunk index keeps being replaced while it is opened",
                    })
                }
            }
        }
    }

    /// Reads just the index (for the names it holds).
    pub fn open_index(
        fs: &FsRef,
        chunks_dir: &Path,
        base: u64,
        chunk_size: u64,
    ) -> Result<Option<Chunk>> {
        match Chunk::open_inner(fs, chunks_dir, base, chunk_size, false, false)? {
            Opened::Chunk(c) => Ok(Some(*c)),
            Opened::Missing | Opened::Changed => Ok(None),
        }
    }

    fn open_inner(
        fs: &FsRef,
        chunks_dir: &Path,
        base: u64,
        chunk_size: u64,
        writable: bool,
        open_data: bool,
    ) -> Result<Opened> {
        let [idx_path, dat_path, bit_path] = chunk_paths(chunks_dir, base);
        let mode = if writable { Mode::Write } else { Mode::Read };
        let Some(idx) = vfs::open_existing(fs.as_ref(), &idx_path, mode)? else {
            return Ok(Opened::Missing);
        };
        let bytes = vfs::read_all(idx.as_ref(), &idx_path)?;
        let head = format::decode_index_header(&idx_path, &bytes)?;
        if head.chunk_size != chunk_size {
            return Err(Error::ChunkSizeMismatch {
                path: idx_path,
                expected: chunk_size,
                found: head.chunk_size,
            });
        }
        if head.base != base {
            return Err(Error::Corrupt {
                path: idx_path,
                offset: 16,
                reason: "chunk index records another base than its file name",
            });
        }
        let recs = format::scan_records(&bytes, head.len);
        if let Some(at) = recs.damage {
            return Err(Error::Corrupt {
                path: idx_path,
                offset: at as u64,
                reason: "damaged record in chunk index",
            });
        }
        if writable && recs.torn_tail {
            idx.set_len(recs.valid_end as u64)
                .ctx(&idx_path, "truncate torn record")?;
        }
        // A writer makes a data or presence file that is missing (a power
        // cut can take a name whose directory was not synced yet); its
        // name must then be made durable before any presence is.
        let mut made = false;
        let mut open_other = |p: &Path| -> Result<Option<Box<dyn VFile>>> {
            if writable {
                if let Some(f) = vfs::open_existing(fs.as_ref(), p, Mode::Write)? {
                    return Ok(Some(f));
                }
                made = true;
                vfs::open_file(fs.as_ref(), p, Mode::Create).map(Some)
            } else {
                vfs::open_existing(fs.as_ref(), p, Mode::Read)
            }
        };
        let (dat, bit) = if writable || open_data {
            (open_other(&dat_path)?, open_other(&bit_path)?)
        } else {
            (None, None)
        };
        if !writable {
            // The writer may have deleted (and even re-created) the chunk
            // while we opened its files one by one. It removes the index
            // first and creates it last, so if the index we hold is still
            // the one at its path, the other two files belong to it.
            let held = idx.stat().ctx(&idx_path, "stat")?;
            match fs.stat(&idx_path) {
                Ok(now) if now.id == held.id && now.kind == Kind::File => {}
                Ok(_) => return Ok(Opened::Changed),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Opened::Missing),
                Err(e) => return Err(e).ctx(&idx_path, "stat"),
            }
        }
        let words_per_row = (chunk_size as usize).div_ceil(64);
        let mut c = Chunk {
            fs: fs.clone(),
            chunk_size,
            base,
            layout: head.layout,
            words_per_row,
            blocks_per_row: chunk_size.div_ceil(BLOCK),
            idx_path,
            dat_path,
            bit_path,
            idx,
            dat,
            bit,
            rows: HashMap::new(),
            names: Vec::new(),
            name_crcs: Vec::new(),
            idx_len: recs.valid_end as u64,
            writable,
            pending: Vec::new(),
            wbuf: Vec::new(),
            wbuf_bytes: 0,
            unsynced: false,
            idx_unsynced: false,
            new_files: made,
            last_used: 0,
            scratch: Vec::new(),
            verified: Vec::new(),
            verified_since: None,
        };
        c.add_records(recs.records)?;
        if writable {
            c.pending = vec![None; c.names.len()];
            c.wbuf = vec![None; c.names.len()];
        }
        Ok(Opened::Chunk(Box::new(c)))
    }

    /// Creates a new, empty chunk (writer only), in the layout with
    /// checksums. Leftover data and presence files of an earlier chunk
    /// with this base are replaced by new ones first, then the index
    /// appears atomically by rename.
    pub fn create(fs: &FsRef, chunks_dir: &Path, base: u64, chunk_size: u64) -> Result<Chunk> {
        let [idx_path, dat_path, bit_path] = chunk_paths(chunks_dir, base);
        for p in [&dat_path, &bit_path] {
            // Fresh files, not old ones emptied: an emptied file's old
            // content could come back after a power cut, beside the new
            // index.
            match fs.remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx(p, "remove leftover"),
            }
            vfs::open_file(fs.as_ref(), p, Mode::Create)?;
        }
        vfs::write_atomic(
            fs.as_ref(),
            &idx_path,
            &format::encode_index2_header(chunk_size, base),
        )?;
        let mut c = Chunk::open(fs, chunks_dir, base, chunk_size, true)?.ok_or(Error::Corrupt {
            path: idx_path,
            offset: 0,
            reason: "chunk index vanished right after it was created",
        })?;
        c.new_files = true;
        Ok(c)
    }

    fn add_records(&mut self, recs: Vec<(String, ValueType)>) -> Result<()> {
        for (name, ty) in recs {
            let row = u32::try_from(self.names.len()).map_err(|_| Error::ChunkFull {
                path: self.idx_path.clone(),
            })?;
            // A name recorded twice keeps its first row; the later record
            // still takes a row number so that rows never shift.
            self.rows.entry(name.clone()).or_insert(Row { row, ty });
            self.name_crcs.push(format::crc(name.as_bytes()));
            self.names.push((name, ty));
        }
        Ok(())
    }

    /// Reader: whether the files were unlinked (the chunk was deleted).
    pub fn is_deleted(&self) -> bool {
        self.idx.stat().map(|m| m.nlink == 0).unwrap_or(true)
    }

    /// Reader: picks up index records appended since the last look.
    pub fn refresh(&mut self) -> Result<()> {
        let mut tail = Vec::new();
        let f = self.idx.as_ref();
        let len = f.stat().ctx(&self.idx_path, "stat")?.len;
        if len <= self.idx_len {
            return Ok(());
        }
        tail.resize((len - self.idx_len) as usize, 0);
        let n = vfs::read_full_at(f, &self.idx_path, &mut tail, self.idx_len)?;
        tail.truncate(n);
        let recs = format::scan_records(&tail, 0);
        if let Some(at) = recs.damage {
            return Err(Error::Corrupt {
                path: self.idx_path.clone(),
                offset: self.idx_len + at as u64,
                reason: "damaged record in chunk index",
            });
        }
        self.idx_len += recs.valid_end as u64;
        self.add_records(recs.records)
    }

    /// True for a writer's chunk (presence bits held in memory).
    pub fn writable_view(&self) -> bool {
        self.writable
    }

    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    pub fn row(&self, name: &str) -> Option<Row> {
        self.rows.get(name).copied()
    }

    fn row_offset(&self, row: u32) -> Option<u64> {
        u64::from(row).checked_mul(self.chunk_size)?.checked_mul(8)
    }

    fn pos(&self, row: u32, block: u64) -> BlockPos {
        BlockPos {
            base: self.base,
            row,
            block: block as u32,
            name_crc: self.name_crcs.get(row as usize).copied().unwrap_or(0),
        }
    }

    /// Chunk offsets `first..end` of block `k`.
    fn block_span(&self, k: u64) -> (u64, u64) {
        (k * BLOCK, ((k + 1) * BLOCK).min(self.chunk_size))
    }

    /// Absolute first and last slot of block `k`, for errors.
    fn block_slots(&self, k: u64) -> (u64, u64) {
        let (a, b) = self.block_span(k);
        (self.base + a, self.base + b - 1)
    }

    /// Writer: gives `name` a new row: clears any stale presence the row
    /// may have on disk, then appends the index record. A failed append is
    /// cut off again so that it cannot sit in front of later records.
    pub fn add_row(&mut self, name: &str, ty: ValueType) -> Result<Row> {
        let row = u32::try_from(self.names.len()).map_err(|_| Error::ChunkFull {
            path: self.idx_path.clone(),
        })?;
        if self
            .row_offset(row)
            .and_then(|o| o.checked_add(self.chunk_size * 8))
            .is_none()
        {
            return Err(Error::ChunkFull {
                path: self.idx_path.clone(),
            });
        }
        let row_bytes = self.row_bit_bytes();
        let at = u64::from(row) * row_bytes;
        let mut stale = false;
        if let Some(bit) = &self.bit {
            let len = bit.stat().ctx(&self.bit_path, "stat")?.len;
            if len > at {
                stale = true;
                bit.write_all_at(&vec![0u8; row_bytes as usize], at)
                    .ctx(&self.bit_path, "write")?;
            }
        }
        let rec = format::encode_record(name, ty);
        if let Err(e) = self.idx.write_all_at(&rec, self.idx_len) {
            let _ = self.idx.set_len(self.idx_len);
            return Err(e).ctx(&self.idx_path, "append index record");
        }
        self.idx_len += rec.len() as u64;
        self.idx_unsynced = true;
        let r = Row { row, ty };
        self.rows.insert(name.to_owned(), r);
        self.name_crcs.push(format::crc(name.as_bytes()));
        self.names.push((name.to_owned(), ty));
        let blocks = self.blocks_per_row as usize;
        let mut dirty = vec![0u64; blocks.div_ceil(64)];
        if stale {
            // The first flush writes every record of the row, over
            // whatever the row's place in the file held.
            bits::set_range(&mut dirty, 0, blocks);
        }
        // All zeros and pending: in layout 1 the first flush writes the
        // whole row's bitmap.
        self.pending.push(Some(Pending {
            bits: vec![0; self.words_per_row],
            dirty,
            damaged: vec![0; blocks.div_ceil(64)],
            fresh: true,
        }));
        self.wbuf.push(None);
        Ok(r)
    }

    /// Bytes of one row in the `.bit` file.
    fn row_bit_bytes(&self) -> u64 {
        match self.layout {
            Layout::V1 => (self.words_per_row * 8) as u64,
            Layout::V2 => self.blocks_per_row * REC_LEN as u64,
        }
    }

    /// Layout 2: the records of blocks `b0..b1` of `row`, from the file
    /// (raw bytes, `REC_LEN` each; past the end of the file, zeros).
    fn read_records(&self, row: u32, b0: u64, b1: u64) -> Result<Vec<u8>> {
        let mut raw = vec![0u8; ((b1 - b0) as usize) * REC_LEN];
        if let Some(bit) = &self.bit {
            let at = (u64::from(row) * self.blocks_per_row + b0) * REC_LEN as u64;
            vfs::read_full_at(bit.as_ref(), &self.bit_path, &mut raw, at)?;
        }
        Ok(raw)
    }

    fn decode(&self, row: u32, k: u64, raw: &[u8]) -> RecState {
        if !format::checks() {
            return format::parse_rec(raw);
        }
        format::decode_rec(raw, &self.pos(row, k))
    }

    /// Loads the writer's state of `row` from the file if it has none.
    fn ensure_pending(&mut self, row: u32) -> Result<()> {
        let r = row as usize;
        if !matches!(self.pending.get(r), Some(None)) {
            return Ok(());
        }
        let blocks = self.blocks_per_row as usize;
        let mut p = Pending {
            bits: vec![0; self.words_per_row],
            dirty: vec![0; blocks.div_ceil(64)],
            damaged: vec![0; blocks.div_ceil(64)],
            fresh: false,
        };
        match self.layout {
            Layout::V1 => {
                p.bits = self.file_bits_v1(row, 0, self.chunk_size as usize)?.0;
            }
            Layout::V2 => {
                let raw = self.read_records(row, 0, self.blocks_per_row)?;
                for k in 0..self.blocks_per_row {
                    let at = k as usize * REC_LEN;
                    match self.decode(row, k, &raw[at..at + REC_LEN]) {
                        RecState::Empty => {}
                        RecState::Valid(rec) => {
                            let w = k as usize * BLOCK_WORDS;
                            for (i, word) in rec.words.iter().enumerate() {
                                if let Some(dst) = p.bits.get_mut(w + i) {
                                    *dst = *word;
                                }
                            }
                        }
                        RecState::Bad => bit_set(&mut p.damaged, k),
                    }
                }
            }
        }
        self.pending[r] = Some(p);
        Ok(())
    }

    /// Writer: writes little-endian values at `off` of `row` and marks them
    /// present in memory.
    pub fn write(&mut self, row: u32, off: u64, le_bytes: &[u8]) -> Result<()> {
        let n = (le_bytes.len() / 8) as u64;
        if n == 0 {
            return Ok(());
        }
        self.ensure_pending(row)?;
        if self.layout == Layout::V2 {
            self.before_write_v2(row, off, n)?;
        }
        let r = row as usize;
        let appended = match self.wbuf.get_mut(r) {
            Some(Some((start, buf)))
                if *start + (buf.len() / 8) as u64 == off
                    && buf.len() + le_bytes.len() <= ROW_BUFFER =>
            {
                buf.extend_from_slice(le_bytes);
                true
            }
            _ => false,
        };
        if appended {
            self.wbuf_bytes += le_bytes.len();
        } else {
            // Whatever is buffered for the row is older: it goes first.
            self.write_row_buffer(r)?;
            if le_bytes.len() >= ROW_BUFFER / 2 || r >= self.wbuf.len() {
                self.write_at(row, off, le_bytes)?;
            } else {
                let mut buf = Vec::with_capacity(ROW_BUFFER);
                buf.extend_from_slice(le_bytes);
                self.wbuf_bytes += le_bytes.len();
                self.wbuf[r] = Some((off, buf));
            }
        }
        if self.wbuf_bytes > CHUNK_BUFFER {
            self.write_buffers()?;
        }
        self.unsynced = true;
        if let Some(Some(p)) = self.pending.get_mut(r) {
            bits::set_range(&mut p.bits, off as usize, n as usize);
            let (b0, b1) = (off / BLOCK, (off + n - 1) / BLOCK + 1);
            bits::set_range(&mut p.dirty, b0 as usize, (b1 - b0) as usize);
        }
        Ok(())
    }

    /// Layout 2, before values of `off..off + n` reach the data file:
    /// refuses to write into a block whose record is damaged, and marks
    /// the blocks whose durable points are about to be overwritten as
    /// unchecked, durably, so that neither the old nor the new values fail
    /// a checksum after a crash.
    fn before_write_v2(&mut self, row: u32, off: u64, n: u64) -> Result<()> {
        let (b0, b1) = (off / BLOCK, (off + n - 1) / BLOCK + 1);
        let Some(Some(p)) = self.pending.get(row as usize) else {
            return Ok(());
        };
        if let Some(k) = (b0..b1).find(|k| bit_get(&p.damaged, *k)) {
            let (first, last) = self.block_slots(k);
            return Err(bad_bits(&self.bit_path, first, last));
        }
        let overlap = bits::any_in(&p.bits, off as usize, n as usize);
        if p.fresh || !overlap {
            return Ok(());
        }
        let raw = self.read_records(row, b0, b1)?;
        let mut changed = false;
        for k in b0..b1 {
            let at = ((k - b0) as usize) * REC_LEN;
            let RecState::Valid(mut rec) = self.decode(row, k, &raw[at..at + REC_LEN]) else {
                continue;
            };
            if rec.flags & UNCHECKED != 0 {
                continue;
            }
            let (s, e) = self.block_span(k);
            let (lo, hi) = (off.max(s), (off + n).min(e));
            let hit = lo < hi && bits::any_in(&rec.words, (lo - s) as usize, (hi - lo) as usize);
            if !hit || !format::checks() {
                continue;
            }
            // Its checksum is about to be set aside: damage found now is
            // reported, not made valid by the next flush.
            let mut vals = vec![0u8; ((e - s) * 8) as usize];
            let row_at = self.row_offset(row).unwrap_or(0);
            self.read_data(&mut vals, row_at + s * 8)?;
            if format::data_crc(&self.pos(row, k), &rec, &vals) != rec.data_crc {
                let (first, last) = self.block_slots(k);
                return Err(bad_data(&self.dat_path, first, last));
            }
            rec.flags |= UNCHECKED;
            let bytes = format::encode_rec(&rec, &self.pos(row, k));
            if let Some(bit) = &self.bit {
                let at = (u64::from(row) * self.blocks_per_row + k) * REC_LEN as u64;
                bit.write_all_at(&bytes, at).ctx(&self.bit_path, "write")?;
                changed = true;
            }
        }
        if changed {
            if let Some(bit) = &self.bit {
                bit.sync_data().ctx(&self.bit_path, "fsync")?;
            }
        }
        Ok(())
    }

    fn write_at(&self, row: u32, off: u64, le_bytes: &[u8]) -> Result<()> {
        let at = self
            .row_offset(row)
            .and_then(|o| o.checked_add(off * 8))
            .ok_or_else(|| Error::ChunkFull {
                path: self.idx_path.clone(),
            })?;
        if let Some(dat) = &self.dat {
            dat.write_all_at(le_bytes, at)
                .ctx(&self.dat_path, "write")?;
        }
        Ok(())
    }

    /// Hands the buffered values of row `r` to the kernel. On failure the
    /// buffer is kept, to be tried again.
    fn write_row_buffer(&mut self, r: usize) -> Result<()> {
        let Some(Some((start, buf))) = self.wbuf.get(r) else {
            return Ok(());
        };
        self.write_at(r as u32, *start, buf)?;
        self.wbuf_bytes -= buf.len();
        self.wbuf[r] = None;
        Ok(())
    }

    fn write_buffers(&mut self) -> Result<()> {
        for r in 0..self.wbuf.len() {
            self.write_row_buffer(r)?;
        }
        Ok(())
    }

    /// Layout 1: presence bits of `row` for chunk offsets `off..off + n`
    /// from the bit file, as words plus the bit position of `off` in them.
    fn file_bits_v1(&self, row: u32, off: u64, n: usize) -> Result<(Vec<u64>, usize)> {
        let w = self.words_per_row;
        let first = off as usize / 64;
        let last = (off as usize + n).div_ceil(64).min(w);
        let mut raw = vec![0u8; last.saturating_sub(first) * 8];
        if let Some(bit) = &self.bit {
            let at = (u64::from(row) * w as u64 + first as u64) * 8;
            vfs::read_full_at(bit.as_ref(), &self.bit_path, &mut raw, at)?;
        }
        Ok((le_words(&raw), off as usize % 64))
    }

    /// Layout 2: presence of blocks `b0..b1` of `row` from their records,
    /// as words from block `b0` on, plus the records (checked: a record
    /// that fails its checksum is an error).
    fn file_bits_v2(
        &self,
        row: u32,
        b0: u64,
        b1: u64,
        range: Option<(u64, u64)>,
    ) -> Result<BlockRecs> {
        let raw = self.read_records(row, b0, b1)?;
        let mut words = vec![0u64; ((b1 - b0) as usize) * BLOCK_WORDS];
        let mut recs = Vec::with_capacity((b1 - b0) as usize);
        for k in b0..b1 {
            let i = (k - b0) as usize;
            let bytes = &raw[i * REC_LEN..(i + 1) * REC_LEN];
            let fp = fingerprint(bytes);
            let known = self.was_verified(row, k, fp);
            let mut st = format::parse_rec(bytes);
            if let RecState::Valid(rec) = &st {
                let (s, e) = self.block_span(k);
                // A record whose values a read checks is checked with them
                // (the data checksum covers its presence and flags); any
                // other, by its own checksum.
                // A record this chunk checked with its values before, and
                // unchanged since, needs neither.
                let checked_with_data = rec.flags & UNCHECKED == 0
                    && !known
                    && range.is_some_and(|(lo, hi)| {
                        let (a, b) = (lo.max(s), hi.min(e));
                        a < b && bits::any_in(&rec.words, (a - s) as usize, (b - a) as usize)
                    });
                if !known
                    && !checked_with_data
                    && format::checks()
                    && !format::rec_crc_ok(bytes, &self.pos(row, k))
                {
                    st = RecState::Bad;
                }
            }
            match st {
                RecState::Empty => {}
                RecState::Valid(rec) => {
                    let (s, e) = self.block_span(k);
                    let n = (e - s) as usize;
                    // Bits past the end of a short last block: not written
                    // by the store.
                    if bits::any_in(&rec.words, n, BLOCK_WORDS * 64 - n) {
                        let (first, last) = self.block_slots(k);
                        return Err(bad_bits(&self.bit_path, first, last));
                    }
                    words[i * BLOCK_WORDS..(i + 1) * BLOCK_WORDS].copy_from_slice(&rec.words);
                }
                RecState::Bad => {
                    let (first, last) = self.block_slots(k);
                    return Err(bad_bits(&self.bit_path, first, last));
                }
            }
            recs.push(Seen { st, fp, known });
        }
        Ok((words, recs, raw))
    }

    /// Reads points `off..off + n` of `row`: values (little-endian) into
    /// `out` (n * 8 bytes), presence ORed into `dst` from bit `dst_off`.
    /// Returns how many points are set.
    pub fn read(
        &mut self,
        row: u32,
        off: u64,
        out: &mut [u8],
        dst: &mut [u64],
        dst_off: usize,
    ) -> Result<u64> {
        let n = out.len() / 8;
        if n == 0 {
            return Ok(0);
        }
        let mut tries = 0;
        loop {
            match self.read_once(row, off, out, dst, dst_off)? {
                Some(c) => return Ok(c),
                // A block failed its checksum but its record changed while
                // it was read: the writer was at work; read it again.
                None if tries < REREADS => tries += 1,
                None => {
                    return Err(Error::Corrupt {
                        path: self.bit_path.clone(),
                        offset: 0,
                        reason: "presence records keep changing while they are read",
                    })
                }
            }
        }
    }

    fn read_once(
        &mut self,
        row: u32,
        off: u64,
        out: &mut [u8],
        dst: &mut [u64],
        dst_off: usize,
    ) -> Result<Option<u64>> {
        let n = out.len() / 8;
        if self.verified_since.is_some_and(|t| t.elapsed() > RECHECK) {
            self.verified.clear();
            self.verified_since = None;
        }
        let pending = match self.pending.get(row as usize) {
            Some(Some(p)) => Some(&p.bits),
            _ => None,
        };
        // Presence of the range, and for layout 2 read from the file, the
        // blocks and records whose values are to be checked.
        let (b0, b1) = (off / BLOCK, (off + n as u64 - 1) / BLOCK + 1);
        let (words, shift, recs) = match (self.layout, pending) {
            (_, Some(m)) => {
                let first = off as usize / 64;
                let last = (off as usize + n).div_ceil(64).min(self.words_per_row);
                let v = m.get(first..last).map(<[u64]>::to_vec).unwrap_or_default();
                (v, off as usize % 64, None)
            }
            (Layout::V1, None) => {
                let (v, s) = self.file_bits_v1(row, off, n)?;
                (v, s, None)
            }
            (Layout::V2, None) => {
                let (v, recs, raw) = self.file_bits_v2(row, b0, b1, Some((off, off + n as u64)))?;
                (v, (off - b0 * BLOCK) as usize, Some((recs, raw)))
            }
        };
        let mut set = vec![0u64; n.div_ceil(64)];
        bits::or_bits(&words, shift, &mut set, 0, n);
        let count = bits::count(&set, n);
        if count == 0 {
            return Ok(Some(0));
        }
        let row_at = self.row_offset(row).ok_or_else(|| Error::ChunkFull {
            path: self.idx_path.clone(),
        })?;
        let at = row_at + off * 8;
        // Which blocks' values are checked: those with set points whose
        // record is in force.
        let check: Vec<(u64, BlockRec)> = match &recs {
            Some((seen, _)) if format::checks() => (b0..b1)
                .zip(seen.iter())
                .filter_map(|(k, seen)| match &seen.st {
                    RecState::Valid(rec) if rec.flags & UNCHECKED == 0 && !seen.known => {
                        // Only blocks with points in the range are checked
                        // (and must be: their records were taken on trust).
                        let (s, e) = self.block_span(k);
                        let (a, b) = (off.max(s), (off + n as u64).min(e));
                        (a < b && bits::any_in(&rec.words, (a - s) as usize, (b - a) as usize))
                            .then_some((k, *rec))
                    }
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let got;
        if check.is_empty() {
            got = match &self.dat {
                Some(dat) => vfs::read_full_at(dat.as_ref(), &self.dat_path, out, at)?,
                None => 0,
            };
            out[got..].fill(0);
        } else {
            // The whole blocks are read to check them: straight into `out`
            // when the range is made of whole blocks, else through scratch.
            let (s0, _) = self.block_span(b0);
            let (_, e1) = self.block_span(b1 - 1);
            let span_at = row_at + s0 * 8;
            let skip = ((off - s0) * 8) as usize;
            let bad = if s0 == off && e1 == off + n as u64 {
                got = self.read_data(out, span_at)?;
                self.missing_points(&set, got, n, at)?;
                self.check_blocks(row, s0, &check, out)
            } else {
                let mut scratch = std::mem::take(&mut self.scratch);
                // Reused without being cleared first: the read fills the
                // span (and zeros past the end of the file).
                let span = ((e1 - s0) * 8) as usize;
                if scratch.len() < span {
                    scratch.resize(span, 0);
                }
                let g = self.read_data(&mut scratch[..span], span_at);
                let g = match g {
                    Ok(g) => g,
                    Err(e) => {
                        self.scratch = scratch;
                        return Err(e);
                    }
                };
                got = g.saturating_sub(skip).min(n * 8);
                out.copy_from_slice(&scratch[skip..skip + n * 8]);
                let bad = self
                    .missing_points(&set, got, n, at)
                    .map(|()| self.check_blocks(row, s0, &check, &scratch[..span]));
                self.scratch = scratch;
                bad?
            };
            if let Some(k) = bad {
                // The writer may have changed the record meanwhile.
                let again = self.read_records(row, k, k + 1)?;
                let at = (k - b0) as usize * REC_LEN;
                let before = recs.as_ref().and_then(|(_, raw)| raw.get(at..at + REC_LEN));
                if before != Some(&again[..]) {
                    return Ok(None);
                }
                let (first, last) = self.block_slots(k);
                if !format::rec_crc_ok(&again, &self.pos(row, k)) {
                    return Err(bad_bits(&self.bit_path, first, last));
                }
                return Err(bad_data(&self.dat_path, first, last));
            }
            if !check.is_empty() {
                self.verified_since
                    .get_or_insert_with(std::time::Instant::now);
            }
            if let Some((seen, _)) = &recs {
                for (k, _) in &check {
                    if let Some(s) = seen.get((k - b0) as usize) {
                        self.set_verified(row, *k, s.fp);
                    }
                }
            }
        }
        // Values still in the writer's buffer are newer than the file's.
        let mut covered = 0..0;
        if let Some(Some((start, buf))) = self.wbuf.get(row as usize) {
            let (bs, be) = (*start, *start + (buf.len() / 8) as u64);
            let (a, b) = (bs.max(off), be.min(off + n as u64));
            if a < b {
                let src = &buf[((a - bs) * 8) as usize..((b - bs) * 8) as usize];
                out[((a - off) * 8) as usize..((b - off) * 8) as usize].copy_from_slice(src);
                covered = (a - off) as usize..(b - off) as usize;
            }
        }
        if got < out.len() {
            let first_missing = got / 8;
            if (first_missing..n).any(|i| bits::get(&set, i) && !covered.contains(&i)) {
                return Err(Error::Corrupt {
                    path: self.dat_path.clone(),
                    offset: at + got as u64,
                    reason: "data file ends before points its presence bits mark as set",
                });
            }
        }
        bits::or_bits(&set, 0, dst, dst_off, n);
        Ok(Some(count))
    }

    /// Reads the data file at `at` into `buf`, zeros past its end; returns
    /// the bytes that were in the file.
    fn read_data(&self, buf: &mut [u8], at: u64) -> Result<usize> {
        let got = match &self.dat {
            Some(dat) => vfs::read_full_at(dat.as_ref(), &self.dat_path, buf, at)?,
            None => 0,
        };
        buf[got..].fill(0);
        Ok(got)
    }

    /// Fails if a point set in `set` (of `n`) lies past the `got` bytes
    /// read from `at`.
    fn missing_points(&self, set: &[u64], got: usize, n: usize, at: u64) -> Result<()> {
        if got < n * 8 && (got / 8..n).any(|i| bits::get(set, i)) {
            return Err(Error::Corrupt {
                path: self.dat_path.clone(),
                offset: at + got as u64,
                reason: "data file ends before points its presence bits mark as set",
            });
        }
        Ok(())
    }

    /// Whether block `k` of `row` was checked under the record of
    /// fingerprint `fp`.
    fn was_verified(&self, row: u32, k: u64, fp: u64) -> bool {
        let i = u64::from(row) * self.blocks_per_row + k;
        usize::try_from(i)
            .ok()
            .and_then(|i| self.verified.get(i))
            .is_some_and(|&known| known != 0 && known == fp)
    }

    /// Notes that block `k` of `row` was checked under the record of
    /// fingerprint `fp`.
    fn set_verified(&mut self, row: u32, k: u64, fp: u64) {
        let i = u64::from(row) * self.blocks_per_row + k;
        let Ok(i) = usize::try_from(i) else {
            return;
        };
        if i >= MAX_VERIFIED {
            // Past the bound, blocks are checked on every read.
            return;
        }
        if self.verified.len() <= i {
            self.verified.resize(i + 1, 0);
        }
        self.verified[i] = fp;
    }

    /// Checks the values of blocks `check` in `span` (which starts at chunk
    /// offset `s0`); returns the first block that fails.
    fn check_blocks(
        &self,
        row: u32,
        s0: u64,
        check: &[(u64, BlockRec)],
        span: &[u8],
    ) -> Option<u64> {
        check.iter().find_map(|(k, rec)| {
            let (s, e) = self.block_span(*k);
            let vals = span.get(((s - s0) * 8) as usize..((e - s0) * 8) as usize)?;
            (format::data_crc(&self.pos(row, *k), rec, vals) != rec.data_crc).then_some(*k)
        })
    }

    /// Presence of every point of `row`, for fold.
    pub fn full_row_bits(&self, row: u32) -> Result<Vec<u64>> {
        if let Some(Some(p)) = self.pending.get(row as usize) {
            return Ok(p.bits.clone());
        }
        match self.layout {
            Layout::V1 => Ok(self.file_bits_v1(row, 0, self.chunk_size as usize)?.0),
            Layout::V2 => {
                let (mut words, _, _) = self.file_bits_v2(row, 0, self.blocks_per_row, None)?;
                words.truncate(self.words_per_row);
                Ok(words)
            }
        }
    }

    /// Writer: makes the data durable, then writes and syncs the presence
    /// bits of the rows written since the last flush.
    pub fn flush(&mut self) -> Result<()> {
        if self.flush_values()? {
            if let Some(dir) = self.idx_path.parent() {
                vfs::sync_dir(self.fs.as_ref(), dir)?;
            }
        }
        self.flush_index()?;
        self.flush_bits()
    }

    /// First step of a flush: writes out gathered values and makes them
    /// durable. Returns true if a file of the chunk is new since the last
    /// flush: the directory must then be synced before the index records
    /// are (so that no index row can be durable beside a file name that is
    /// not) and before any presence is.
    pub fn flush_values(&mut self) -> Result<bool> {
        if !self.unsynced {
            // A file made when the chunk was opened (for a read, say)
            // still needs its name made durable.
            return Ok(self.new_files);
        }
        self.write_buffers()?;
        if let Some(dat) = &self.dat {
            dat.sync_data().ctx(&self.dat_path, "fsync")?;
        }
        Ok(self.new_files)
    }

    /// Second step of a flush: makes the index records durable.
    pub fn flush_index(&mut self) -> Result<()> {
        if self.idx_unsynced {
            self.idx.sync_data().ctx(&self.idx_path, "fsync")?;
            self.idx_unsynced = false;
        }
        Ok(())
    }

    /// Last step of a flush: writes and syncs the presence bits. Call
    /// only after the steps before.
    pub fn flush_bits(&mut self) -> Result<()> {
        self.new_files = false;
        if !self.unsynced {
            return Ok(());
        }
        let mut first_error = None;
        if self.bit.is_some() {
            for r in 0..self.pending.len() {
                let Some(p) = self.pending[r].take() else {
                    continue;
                };
                let res = match self.layout {
                    Layout::V1 => self.write_row_v1(r as u32, &p),
                    Layout::V2 => self.write_row_v2(r as u32, &p),
                };
                match res {
                    Ok(()) => {}
                    // Damage is reported, and the other rows still go out.
                    Err(e @ Error::Damaged { .. }) => {
                        first_error.get_or_insert(e);
                    }
                    Err(e) => {
                        self.pending[r] = Some(p);
                        return Err(e);
                    }
                }
            }
            if let Some(bit) = &self.bit {
                bit.sync_data().ctx(&self.bit_path, "fsync")?;
            }
        }
        self.pending.iter_mut().for_each(|p| *p = None);
        self.unsynced = false;
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn write_row_v1(&self, r: u32, p: &Pending) -> Result<()> {
        let w = self.words_per_row as u64;
        let bytes: Vec<u8> = p.bits.iter().flat_map(|x| x.to_le_bytes()).collect();
        if let Some(bit) = &self.bit {
            bit.write_all_at(&bytes, u64::from(r) * w * 8)
                .ctx(&self.bit_path, "write")?;
        }
        Ok(())
    }

    /// Layout 2: writes the records of the row's dirty blocks, each with
    /// the checksum of the values now durable in the data file. A block
    /// whose old record vouched for values that no longer match it is
    /// left as it is and reported: the damage is never made valid.
    fn write_row_v2(&mut self, row: u32, p: &Pending) -> Result<()> {
        let blocks = self.blocks_per_row;
        let row_at = self.row_offset(row).unwrap_or(0);
        let mut first_error = None;
        let mut k = 0;
        while k < blocks {
            if !bit_get(&p.dirty, k) {
                k += 1;
                continue;
            }
            let k0 = k;
            while k < blocks && bit_get(&p.dirty, k) {
                k += 1;
            }
            let k1 = k;
            let (s0, _) = self.block_span(k0);
            let (_, e1) = self.block_span(k1 - 1);
            let old = if p.fresh {
                vec![0u8; ((k1 - k0) as usize) * REC_LEN]
            } else {
                self.read_records(row, k0, k1)?
            };
            let mut data = std::mem::take(&mut self.scratch);
            data.clear();
            data.resize(((e1 - s0) * 8) as usize, 0);
            if let Some(dat) = self.dat.as_ref().filter(|_| format::checks()) {
                let g =
                    vfs::read_full_at(dat.as_ref(), &self.dat_path, &mut data, row_at + s0 * 8)?;
                data[g..].fill(0);
            }
            let mut out = old.clone();
            for k in k0..k1 {
                let i = (k - k0) as usize;
                let (s, e) = self.block_span(k);
                let vals = &data[((s - s0) * 8) as usize..((e - s0) * 8) as usize];
                let pos = self.pos(row, k);
                if bit_get(&p.damaged, k) {
                    continue;
                }
                if !p.fresh && format::checks() {
                    match format::decode_rec(&old[i * REC_LEN..(i + 1) * REC_LEN], &pos) {
                        RecState::Valid(rec)
                            if rec.flags & UNCHECKED == 0
                                && format::data_crc(&pos, &rec, vals) != rec.data_crc =>
                        {
                            let (first, last) = self.block_slots(k);
                            first_error.get_or_insert(bad_data(&self.dat_path, first, last));
                            continue;
                        }
                        RecState::Bad => {
                            let (first, last) = self.block_slots(k);
                            first_error.get_or_insert(bad_bits(&self.bit_path, first, last));
                            continue;
                        }
                        _ => {}
                    }
                }
                let mut rec = BlockRec::default();
                let w = k as usize * BLOCK_WORDS;
                for (j, word) in rec.words.iter_mut().enumerate() {
                    *word = p.bits.get(w + j).copied().unwrap_or(0);
                }
                if !rec.is_empty() && format::checks() {
                    rec.data_crc = format::data_crc(&pos, &rec, vals);
                }
                out[i * REC_LEN..(i + 1) * REC_LEN]
                    .copy_from_slice(&format::encode_rec(&rec, &pos));
            }
            self.scratch = data;
            if out != old || p.fresh {
                if let Some(bit) = &self.bit {
                    let at = (u64::from(row) * blocks + k0) * REC_LEN as u64;
                    bit.write_all_at(&out, at).ctx(&self.bit_path, "write")?;
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
