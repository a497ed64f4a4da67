//! One chunk: its index, data and presence files.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::bits;
use super::error::{Error, IoContext, Result};
use super::format;
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
pub(crate) fn list_bases(chunks_dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(chunks_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).ctx(chunks_dir, "list directory"),
    };
    for entry in rd {
        let entry = entry.ctx(chunks_dir, "list directory")?;
        let name = entry.file_name();
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

/// Reads at `off` until `buf` is full or the file ends; returns bytes read.
pub(crate) fn read_full_at(
    f: &File,
    path: &Path,
    mut buf: &mut [u8],
    mut off: u64,
) -> Result<usize> {
    let mut total = 0;
    while !buf.is_empty() {
        match f.read_at(buf, off) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                off += n as u64;
                buf = &mut buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).ctx(path, "read"),
        }
    }
    Ok(total)
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut f = File::open(path).ctx(path, "open")?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).ctx(path, "read")?;
    Ok(v)
}

/// Writes `bytes` to `path` through `path.tmp`: write, fsync, rename. The
/// caller fsyncs the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .ctx(&tmp, "create")?;
    f.write_all_at(bytes, 0).ctx(&tmp, "write")?;
    f.sync_all().ctx(&tmp, "fsync")?;
    drop(f);
    fs::rename(&tmp, path).ctx(path, "rename into place")?;
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .ctx(dir, "open directory")?
        .sync_all()
        .ctx(dir, "fsync directory")
}

/// Most bytes the writer buffers for one row before writing them.
const ROW_BUFFER: usize = 64 * 1024;
/// Most bytes the writer buffers for one chunk in all.
const CHUNK_BUFFER: usize = 4 * 1024 * 1024;

/// Outcome of one attempt to open a chunk.
enum Opened {
    Chunk(Box<Chunk>),
    Missing,
    /// The index was replaced or removed while the files were opened.
    Changed,
}

/// An open chunk. The writer keeps the presence bits of each row it wrote
/// since the last flush in memory (`pending`) and writes them to the `.bit`
/// file only after the data they describe is durable; other rows, and
/// every row for a reader, are read from the file.
pub(crate) struct Chunk {
    chunk_size: u64,
    words_per_row: usize,
    pub idx_path: PathBuf,
    pub dat_path: PathBuf,
    pub bit_path: PathBuf,
    idx: File,
    dat: Option<File>,
    bit: Option<File>,
    rows: HashMap<String, Row>,
    /// Row number -> (name, type).
    pub names: Vec<(String, ValueType)>,
    idx_len: u64,
    writable: bool,
    /// Writer only, one entry per row: the row's whole bitmap if it was
    /// written since the last flush.
    pending: Vec<Option<Vec<u64>>>,
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
}

impl Chunk {
    /// Opens an existing chunk; `Ok(None)` if it has no index file. A
    /// writer drops a torn tail of the index; a reader ignores it.
    pub fn open(
        chunks_dir: &Path,
        base: u64,
        chunk_size: u64,
        writable: bool,
    ) -> Result<Option<Chunk>> {
        let mut tries = 0;
        loop {
            match Chunk::open_inner(chunks_dir, base, chunk_size, writable, true)? {
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
    pub fn open_index(chunks_dir: &Path, base: u64, chunk_size: u64) -> Result<Option<Chunk>> {
        match Chunk::open_inner(chunks_dir, base, chunk_size, false, false)? {
            Opened::Chunk(c) => Ok(Some(*c)),
            Opened::Missing | Opened::Changed => Ok(None),
        }
    }

    fn open_inner(
        chunks_dir: &Path,
        base: u64,
        chunk_size: u64,
        writable: bool,
        open_data: bool,
    ) -> Result<Opened> {
        let [idx_path, dat_path, bit_path] = chunk_paths(chunks_dir, base);
        let idx = match OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&idx_path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Opened::Missing),
            Err(e) => return Err(e).ctx(&idx_path, "open"),
        };
        let mut bytes = Vec::new();
        (&idx).read_to_end(&mut bytes).ctx(&idx_path, "read")?;
        let (cs, b) = format::decode_index_header(&idx_path, &bytes)?;
        if cs != chunk_size {
            return Err(Error::ChunkSizeMismatch {
                path: idx_path,
                expected: chunk_size,
                found: cs,
            });
        }
        if b != base {
            return Err(Error::Corrupt {
                path: idx_path,
                offset: 16,
                reason: "chunk index records another base than its file name",
            });
        }
        let recs = format::scan_records(&bytes, format::INDEX_HEADER_LEN);
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
        let open_other = |p: &Path| -> Result<Option<File>> {
            if writable {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(p)
                    .ctx(p, "open")
                    .map(Some)
            } else {
                match File::open(p) {
                    Ok(f) => Ok(Some(f)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).ctx(p, "open"),
                }
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
            let held = idx.metadata().ctx(&idx_path, "stat")?;
            match fs::metadata(&idx_path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {}
                Ok(_) => return Ok(Opened::Changed),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Opened::Missing),
                Err(e) => return Err(e).ctx(&idx_path, "stat"),
            }
        }
        let words_per_row = (chunk_size as usize).div_ceil(64);
        let mut c = Chunk {
            chunk_size,
            words_per_row,
            idx_path,
            dat_path,
            bit_path,
            idx,
            dat,
            bit,
            rows: HashMap::new(),
            names: Vec::new(),
            idx_len: recs.valid_end as u64,
            writable,
            pending: Vec::new(),
            wbuf: Vec::new(),
            wbuf_bytes: 0,
            unsynced: false,
            idx_unsynced: false,
            new_files: false,
            last_used: 0,
        };
        c.add_records(recs.records)?;
        if writable {
            c.pending = vec![None; c.names.len()];
            c.wbuf = vec![None; c.names.len()];
        }
        Ok(Opened::Chunk(Box::new(c)))
    }

    /// Creates a new, empty chunk (writer only). Leftover data and
    /// presence files of an earlier chunk with this base are emptied first,
    /// then the index appears atomically by rename.
    pub fn create(chunks_dir: &Path, base: u64, chunk_size: u64) -> Result<Chunk> {
        let [idx_path, dat_path, bit_path] = chunk_paths(chunks_dir, base);
        for p in [&dat_path, &bit_path] {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(p)
                .ctx(p, "create")?;
        }
        write_atomic(&idx_path, &format::encode_index_header(chunk_size, base))?;
        let mut c = Chunk::open(chunks_dir, base, chunk_size, true)?.ok_or(Error::Corrupt {
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
            self.names.push((name, ty));
        }
        Ok(())
    }

    /// Reader: whether the files were unlinked (the chunk was deleted).
    pub fn is_deleted(&self) -> bool {
        self.idx.metadata().map(|m| m.nlink() == 0).unwrap_or(true)
    }

    /// Reader: picks up index records appended since the last look.
    pub fn refresh(&mut self) -> Result<()> {
        let mut tail = Vec::new();
        let f = &self.idx;
        let len = f.metadata().ctx(&self.idx_path, "stat")?.len();
        if len <= self.idx_len {
            return Ok(());
        }
        tail.resize((len - self.idx_len) as usize, 0);
        let n = read_full_at(f, &self.idx_path, &mut tail, self.idx_len)?;
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

    /// Writer: gives `name` a new row: clears any stale presence bits the
    /// row may have on disk, then appends the index record. A failed append
    /// is cut off again so that it cannot sit in front of later records.
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
        let row_bytes = (self.words_per_row * 8) as u64;
        if let Some(bit) = &self.bit {
            let len = bit.metadata().ctx(&self.bit_path, "stat")?.len();
            let at = u64::from(row) * row_bytes;
            if len > at {
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
        self.names.push((name.to_owned(), ty));
        // All zeros and pending: the first flush overwrites whatever the
        // row's place in the bit file held.
        self.pending.push(Some(vec![0; self.words_per_row]));
        self.wbuf.push(None);
        Ok(r)
    }

    /// Writer: writes little-endian values at `off` of `row` and marks them
    /// present in memory.
    pub fn write(&mut self, row: u32, off: u64, le_bytes: &[u8]) -> Result<()> {
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
        let n = le_bytes.len() / 8;
        let r = row as usize;
        if matches!(self.pending.get(r), Some(None)) {
            let (words, _) = self.file_bits(row, 0, self.chunk_size as usize)?;
            self.pending[r] = Some(words);
        }
        if let Some(Some(words)) = self.pending.get_mut(r) {
            bits::set_range(words, off as usize, n);
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

    /// Presence bits of `row` for chunk offsets `off..off + n`, returned as
    /// words plus the bit position of `off` in them.
    fn row_bits(&self, row: u32, off: u64, n: usize) -> Result<(Vec<u64>, usize)> {
        let w = self.words_per_row;
        let first = off as usize / 64;
        let last = (off as usize + n).div_ceil(64).min(w);
        if let Some(Some(m)) = self.pending.get(row as usize) {
            let v = m.get(first..last).map(<[u64]>::to_vec).unwrap_or_default();
            return Ok((v, off as usize % 64));
        }
        self.file_bits(row, off, n)
    }

    /// Like `row_bits`, always from the bit file.
    fn file_bits(&self, row: u32, off: u64, n: usize) -> Result<(Vec<u64>, usize)> {
        let w = self.words_per_row;
        let first = off as usize / 64;
        let last = (off as usize + n).div_ceil(64).min(w);
        let mut raw = vec![0u8; (last - first) * 8];
        if let Some(bit) = &self.bit {
            let at = (u64::from(row) * w as u64 + first as u64) * 8;
            read_full_at(bit, &self.bit_path, &mut raw, at)?;
        }
        let v = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        Ok((v, off as usize % 64))
    }

    /// Reads points `off..off + n` of `row`: values (little-endian) into
    /// `out` (n * 8 bytes), presence ORed into `dst` from bit `dst_off`.
    /// Returns how many points are set.
    pub fn read(
        &self,
        row: u32,
        off: u64,
        out: &mut [u8],
        dst: &mut [u64],
        dst_off: usize,
    ) -> Result<u64> {
        let n = out.len() / 8;
        let (words, shift) = self.row_bits(row, off, n)?;
        let set = {
            let mut tmp = vec![0u64; n.div_ceil(64)];
            bits::or_bits(&words, shift, &mut tmp, 0, n);
            let c = bits::count(&tmp, n);
            if c == 0 {
                return Ok(0);
            }
            bits::or_bits(&tmp, 0, dst, dst_off, n);
            tmp
        };
        let at = self
            .row_offset(row)
            .and_then(|o| o.checked_add(off * 8))
            .ok_or_else(|| Error::ChunkFull {
                path: self.idx_path.clone(),
            })?;
        let got = match &self.dat {
            Some(dat) => read_full_at(dat, &self.dat_path, out, at)?,
            None => 0,
        };
        out[got..].fill(0);
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
        Ok(bits::count(&set, n))
    }

    /// Presence of every point of `row`, for fold.
    pub fn full_row_bits(&self, row: u32) -> Result<Vec<u64>> {
        Ok(self.row_bits(row, 0, self.chunk_size as usize)?.0)
    }

    /// Writer: makes the data durable, then writes and syncs the presence
    /// bits of the rows written since the last flush.
    pub fn flush(&mut self) -> Result<()> {
        if self.flush_data()? {
            if let Some(dir) = self.idx_path.parent() {
                sync_dir(dir)?;
            }
        }
        self.flush_bits()
    }

    /// First half of a flush: writes out gathered values and makes the data
    /// and index durable. Returns true if the chunk's files are new since
    /// the last flush, so that the directory must be synced before
    /// [`flush_bits`](Self::flush_bits).
    pub fn flush_data(&mut self) -> Result<bool> {
        if !self.unsynced {
            return Ok(false);
        }
        self.write_buffers()?;
        if let Some(dat) = &self.dat {
            dat.sync_data().ctx(&self.dat_path, "fsync")?;
        }
        if self.idx_unsynced {
            self.idx.sync_data().ctx(&self.idx_path, "fsync")?;
            self.idx_unsynced = false;
        }
        Ok(self.new_files)
    }

    /// Second half of a flush: writes and syncs the presence bits. Call
    /// only after `flush_data` (and the directory sync it asked for).
    pub fn flush_bits(&mut self) -> Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        self.new_files = false;
        let w = self.words_per_row as u64;
        if let Some(bit) = &self.bit {
            for (r, words) in self.pending.iter().enumerate() {
                let Some(words) = words else { continue };
                let bytes: Vec<u8> = words.iter().flat_map(|x| x.to_le_bytes()).collect();
                bit.write_all_at(&bytes, r as u64 * w * 8)
                    .ctx(&self.bit_path, "write")?;
            }
            bit.sync_data().ctx(&self.bit_path, "fsync")?;
        }
        self.pending.iter_mut().for_each(|p| *p = None);
        self.unsynced = false;
        Ok(())
    }
}
