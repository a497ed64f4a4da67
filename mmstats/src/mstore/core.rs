//! State and read paths shared by the writer and readers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::chunk::{self, Chunk};
use super::error::{Error, IoContext, Result};
use super::format::{self, Meta};
use super::sealed::{Decoded, SealedChunk};
use super::types::sealed::Sealed;
use super::types::{make_splits, MetricInfo, Points, Run, Value, ValueType};
use super::vfs::{self, FsRef, Mode, Vfs};
use super::{bits, MAX_NAME_LEN, MAX_READ_POINTS};

/// Names with their types.
pub(crate) type Names = Vec<(String, ValueType)>;

pub(crate) const META_FILE: &str = "mstore.meta";
pub(crate) const LIST_FILE: &str = "metrics.list";
pub(crate) const LOCK_FILE: &str = "lock";
/// The subdirectory of the chunk files in a store of the first header
/// version (see [`Meta::chunks_dir`]); stores made now have none.
pub(crate) const CHUNKS_DIR: &str = "chunks";

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::NameTooLong {
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    Ok(())
}

/// First slot a store with chunk size `s` cannot hold: the end of its last
/// whole chunk that fits in `u64`.
pub(crate) fn slot_limit(s: u64) -> u64 {
    u64::MAX / s * s
}

pub(crate) fn read_meta(fs: &dyn Vfs, dir: &Path) -> Result<Meta> {
    let path = dir.join(META_FILE);
    let bytes = vfs::read_file(fs, &path)?;
    format::decode_meta(&path, &bytes)
}

/// The store's metadata, checked against the chunk size the caller expects
/// (if any): the one check every way of opening a store makes.
pub(crate) fn read_meta_expecting(
    fs: &dyn Vfs,
    dir: &Path,
    expected_chunk_size: Option<u64>,
) -> Result<Meta> {
    let meta = read_meta(fs, dir)?;
    match expected_chunk_size {
        Some(expected) if expected != meta.chunk_size => Err(Error::ChunkSizeMismatch {
            path: dir.join(META_FILE),
            expected,
            found: meta.chunk_size,
        }),
        _ => Ok(meta),
    }
}

/// The store-wide metric list as loaded.
#[derive(Default)]
pub(crate) struct MetricList {
    pub order: Vec<(String, ValueType)>,
    pub by_name: HashMap<String, ValueType>,
    /// Bytes of the file covered by valid records (append position).
    pub valid_end: u64,
    pub torn_tail: bool,
    pub damage: Option<u64>,
    /// ((device, inode), length) of the file last read, to skip needless
    /// re-reads.
    pub seen: ((u64, u64), u64),
}

impl MetricList {
    pub fn load(fs: &dyn Vfs, path: &Path) -> Result<MetricList> {
        let f = vfs::open_file(fs, path, Mode::Read)?;
        let md = f.stat().ctx(path, "stat")?;
        let bytes = vfs::read_all(f.as_ref(), path)?;
        format::check_list_header(path, &bytes)?;
        let recs = format::scan_records(&bytes, format::LIST_HEADER_LEN);
        let mut l = MetricList {
            valid_end: recs.valid_end as u64,
            torn_tail: recs.torn_tail,
            damage: recs.damage.map(|d| d as u64),
            seen: (md.id, md.len),
            ..MetricList::default()
        };
        for (name, ty) in recs.records {
            l.push(name, ty);
        }
        Ok(l)
    }

    /// Like `load`, but a bad header reads as an empty, damaged list.
    pub fn load_tolerant(fs: &dyn Vfs, path: &Path) -> Result<MetricList> {
        match MetricList::load(fs, path) {
            Err(Error::Corrupt { offset, .. }) => {
                let seen = fs.stat(path).map(|m| (m.id, m.len)).unwrap_or_default();
                Ok(MetricList {
                    damage: Some(offset),
                    seen,
                    ..MetricList::default()
                })
            }
            other => other,
        }
    }

    /// True when records may be missing: damage, or bytes after the last
    /// valid record (a torn append, or damage to the last record).
    pub fn incomplete(&self) -> bool {
        self.damage.is_some() || self.torn_tail
    }

    pub fn push(&mut self, name: String, ty: ValueType) {
        if !self.by_name.contains_key(&name) {
            self.by_name.insert(name.clone(), ty);
            self.order.push((name, ty));
        }
    }
}

pub(crate) struct Core {
    pub fs: FsRef,
    pub dir: PathBuf,
    pub chunks_dir: PathBuf,
    pub list_path: PathBuf,
    pub meta: Meta,
    pub writable: bool,
    pub list: MetricList,
    cache: std::collections::BTreeMap<u64, Chunk>,
    /// Open sealed chunks (at most `max_open`, least recently used closed
    /// first).
    sealed: std::collections::BTreeMap<u64, SealedChunk>,
    /// Writer only: the bases of the sealed chunks on disk.
    pub sealed_bases: std::collections::BTreeSet<u64>,
    /// Decoded rows of sealed chunks, by (base, file id, row), each with
    /// when it was last used; at most [`DECODED_BYTES`] in all.
    decoded: HashMap<DecodedKey, (Arc<Decoded>, u64)>,
    decoded_bytes: usize,
    tick: u64,
    max_open: usize,
}

/// (base, file id, row) of a decoded sealed row.
type DecodedKey = (u64, (u64, u64), u32, u64);

/// Most bytes of decoded sealed rows kept in memory by one writer or
/// reader.
const DECODED_BYTES: usize = 64 << 20;

/// Where a chunk's points are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Loc {
    Open,
    Sealed,
    Missing,
}

impl Core {
    pub fn new(
        fs: FsRef,
        dir: &Path,
        meta: Meta,
        writable: bool,
        max_open: usize,
        list: MetricList,
    ) -> Core {
        Core {
            fs,
            dir: dir.to_path_buf(),
            chunks_dir: meta.chunks_dir(dir),
            list_path: dir.join(LIST_FILE),
            meta,
            writable,
            list,
            cache: std::collections::BTreeMap::new(),
            sealed: std::collections::BTreeMap::new(),
            sealed_bases: std::collections::BTreeSet::new(),
            decoded: HashMap::new(),
            decoded_bytes: 0,
            tick: 0,
            max_open: max_open.max(1),
        }
    }

    /// Reader: re-reads the metric list if the file changed.
    pub fn refresh_list(&mut self) -> Result<()> {
        if self.writable {
            return Ok(());
        }
        let md = self.fs.stat(&self.list_path).ctx(&self.list_path, "stat")?;
        if (md.id, md.len) != self.list.seen {
            self.list = MetricList::load_tolerant(self.fs.as_ref(), &self.list_path)?;
        }
        Ok(())
    }

    /// The type of `name`: from the metric list, or, when the list may be
    /// missing records (damage, a torn end), from the chunk indexes, which
    /// repeat every name and type.
    pub fn lookup_type(&mut self, name: &str) -> Result<Option<ValueType>> {
        if let Some(t) = self.list.by_name.get(name) {
            return Ok(Some(*t));
        }
        self.refresh_list()?;
        if let Some(t) = self.list.by_name.get(name) {
            return Ok(Some(*t));
        }
        if self.writable || !self.list.incomplete() {
            return Ok(None);
        }
        let (found, _) = self.index_names()?;
        Ok(found.into_iter().find(|(n, _)| n == name).map(|(_, t)| t))
    }

    /// Every name in the chunk indexes, in order of chunks and rows, each
    /// once, with the errors of indexes that could not be read.
    pub fn index_names(&self) -> Result<(Names, Vec<Error>)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for base in chunk::all_bases(self.fs.as_ref(), &self.chunks_dir)? {
            let names =
                match Chunk::open_index(&self.fs, &self.chunks_dir, base, self.meta.chunk_size) {
                    Ok(Some(c)) => Ok(Some(c.names)),
                    Ok(None) => {
                        SealedChunk::open(&self.fs, &self.chunks_dir, base, self.meta.chunk_size)
                            .map(|s| s.map(|s| s.names))
                    }
                    Err(e) => Err(e),
                };
            match names {
                Ok(Some(names)) => {
                    for (n, t) in names {
                        if seen.insert(n.clone()) {
                            out.push((n, t));
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        Ok((out, errors))
    }

    /// Every metric that can be found, with the damage met on the way: the
    /// metric list's valid records, and when the list may be missing some,
    /// the names in the chunk indexes after them.
    pub fn salvage_metrics(&mut self) -> Result<(Vec<MetricInfo>, Vec<Error>)> {
        self.refresh_list()?;
        let mut errors = Vec::new();
        if let Some(offset) = self.list.damage {
            errors.push(Error::Corrupt {
                path: self.list_path.clone(),
                offset,
                reason: "damaged metric list; the metrics are also taken from the chunk indexes",
            });
        }
        let mut all: Vec<(String, ValueType)> = self.list.order.clone();
        if self.list.incomplete() {
            let (names, bad) = self.index_names()?;
            errors.extend(bad);
            for (n, t) in names {
                if !self.list.by_name.contains_key(&n) {
                    all.push((n, t));
                }
            }
        }
        let infos = all
            .into_iter()
            .map(|(name, value_type)| MetricInfo { name, value_type })
            .collect();
        Ok((infos, errors))
    }

    /// Open chunk `base`, from the cache or from disk. `create` (writer
    /// only) makes it if missing; otherwise a missing chunk is `None` and
    /// nothing is created.
    pub fn chunk(&mut self, base: u64, create: bool) -> Result<Option<&mut Chunk>> {
        self.tick += 1;
        let tick = self.tick;
        let stale = match self.cache.get(&base) {
            Some(c) => !self.writable && c.is_deleted(),
            None => true,
        };
        if stale {
            self.cache.remove(&base);
            let c = match Chunk::open(
                &self.fs,
                &self.chunks_dir,
                base,
                self.meta.chunk_size,
                self.writable,
            )? {
                Some(c) => c,
                None if create && self.writable => {
                    Chunk::create(&self.fs, &self.chunks_dir, base, self.meta.chunk_size)?
                }
                None => return Ok(None),
            };
            if self.cache.len() >= self.max_open {
                self.evict_one()?;
            }
            self.cache.insert(base, c);
        }
        match self.cache.get_mut(&base) {
            Some(c) => {
                c.last_used = tick;
                Ok(Some(c))
            }
            None => Ok(None),
        }
    }

    /// Open sealed chunk `base`, from the cache or from disk; `None` if
    /// it has no sealed file.
    pub fn sealed_chunk(&mut self, base: u64) -> Result<Option<&mut SealedChunk>> {
        self.tick += 1;
        let tick = self.tick;
        let stale = match self.sealed.get(&base) {
            Some(c) => !self.writable && c.is_deleted(),
            None => true,
        };
        if stale {
            self.sealed.remove(&base);
            let Some(c) =
                SealedChunk::open(&self.fs, &self.chunks_dir, base, self.meta.chunk_size)?
            else {
                return Ok(None);
            };
            if self.sealed.len() >= self.max_open {
                let victim = self
                    .sealed
                    .iter()
                    .min_by_key(|(_, c)| c.last_used)
                    .map(|(b, _)| *b);
                if let Some(b) = victim {
                    self.sealed.remove(&b);
                }
            }
            self.sealed.insert(base, c);
        }
        let mut c = self.sealed.get_mut(&base);
        if let Some(c) = c.as_mut() {
            c.last_used = tick;
        }
        Ok(c)
    }

    /// Forgets an open sealed chunk (the writer replaced or removed it).
    pub fn forget_sealed(&mut self, base: u64) {
        self.sealed.remove(&base);
        let gone: Vec<_> = self
            .decoded
            .keys()
            .filter(|k| k.0 == base)
            .copied()
            .collect();
        for k in gone {
            if let Some((d, _)) = self.decoded.remove(&k) {
                self.decoded_bytes -= decoded_size(&d);
            }
        }
    }

    /// Where the points of chunk `base` are: an open chunk (now in the
    /// cache), a sealed chunk (now in the sealed cache), or nowhere.
    fn locate(&mut self, base: u64) -> Result<Loc> {
        if self.writable {
            if self.sealed_bases.contains(&base) {
                return Ok(match self.sealed_chunk(base)? {
                    Some(_) => Loc::Sealed,
                    None => Loc::Missing,
                });
            }
            return Ok(match self.chunk(base, false)? {
                Some(_) => Loc::Open,
                None => Loc::Missing,
            });
        }
        // A reader keeps using what it has open while it is in place.
        if self.cache.get(&base).is_some_and(|c| !c.is_deleted()) {
            return Ok(Loc::Open);
        }
        if self.sealed.get(&base).is_some_and(|c| !c.is_deleted()) {
            return Ok(Loc::Sealed);
        }
        // What this reader held and the writer has since removed: read on
        // from it if nothing took its place (a deleted chunk's files stay
        // whole while they are open).
        let held_open = self.cache.remove(&base);
        let held_sealed = self.sealed.remove(&base);
        // The writer creates a sealed file before it removes the chunk's
        // index, and an index before it removes the sealed file it
        // replaces: looking twice for each finds the chunk whichever step
        // the writer is at. A sealed file beside an index wins.
        for _ in 0..2 {
            if self.sealed_chunk(base)?.is_some() {
                return Ok(Loc::Sealed);
            }
            if self.chunk(base, false)?.is_some() {
                return Ok(Loc::Open);
            }
        }
        if let Some(c) = held_sealed {
            self.sealed.insert(base, c);
            return Ok(Loc::Sealed);
        }
        if let Some(c) = held_open {
            self.cache.insert(base, c);
            return Ok(Loc::Open);
        }
        Ok(Loc::Missing)
    }

    /// The open chunk `locate` found, without looking at the disk again.
    fn located(&mut self, base: u64) -> Option<&mut Chunk> {
        self.tick += 1;
        let tick = self.tick;
        let mut c = self.cache.get_mut(&base);
        if let Some(c) = c.as_mut() {
            c.last_used = tick;
        }
        c
    }

    /// The decoded row of `name` in sealed chunk `base` (which `locate`
    /// put in the cache), with its type: all its blocks, put together.
    fn sealed_row(&mut self, base: u64, name: &str) -> Result<Option<(ValueType, Arc<Decoded>)>> {
        let Some((bl, nb)) = self.sealed.get(&base).map(|c| c.block_shape()) else {
            return Ok(None);
        };
        let n = self.meta.chunk_size as usize;
        let mut d = Decoded {
            present: vec![0u64; n.div_ceil(64)],
            values: vec![0u64; n],
        };
        let mut ty = None;
        for b in 0..nb {
            let Some((t, part)) = self.sealed_block(base, name, b)? else {
                return Ok(None);
            };
            ty = Some(t);
            d.add_block(&part, (b * bl) as usize);
        }
        Ok(ty.map(|t| (t, Arc::new(d))))
    }

    /// Block `block` of the row of `name` in sealed chunk `base` (which
    /// `locate` put in the cache), decoded, with its type.
    fn sealed_block(
        &mut self,
        base: u64,
        name: &str,
        block: u64,
    ) -> Result<Option<(ValueType, Arc<Decoded>)>> {
        self.tick += 1;
        let tick = self.tick;
        let Some(c) = self.sealed.get(&base) else {
            return Ok(None);
        };
        let Some((row, ty)) = c.row(name) else {
            return Ok(None);
        };
        let key = (base, c.id, row, block);
        if let Some((d, used)) = self.decoded.get_mut(&key) {
            *used = tick;
            return Ok(Some((ty, d.clone())));
        }
        let Some(d) = c.decode_block(name, block)? else {
            return Ok(None);
        };
        let size = decoded_size(&d);
        while self.decoded_bytes + size > DECODED_BYTES && !self.decoded.is_empty() {
            let victim = self
                .decoded
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k);
            if let Some(k) = victim {
                if let Some((old, _)) = self.decoded.remove(&k) {
                    self.decoded_bytes -= decoded_size(&old);
                }
            }
        }
        if size <= DECODED_BYTES {
            self.decoded_bytes += size;
            self.decoded.insert(key, (d.clone(), tick));
        }
        Ok(Some((ty, d)))
    }

    fn evict_one(&mut self) -> Result<()> {
        let victim = self
            .cache
            .iter()
            .min_by_key(|(_, c)| c.last_used)
            .map(|(b, _)| *b);
        if let Some(b) = victim {
            if let Some(c) = self.cache.get_mut(&b) {
                c.flush()?;
            }
            self.cache.remove(&b);
        }
        Ok(())
    }

    pub fn open_chunks(&self) -> usize {
        self.cache.len()
    }

    pub fn forget_chunk(&mut self, base: u64) {
        self.cache.remove(&base);
    }

    /// Writer: flushes chunk `base` if it is open, and closes it.
    pub fn close_chunk(&mut self, base: u64) -> Result<()> {
        if let Some(c) = self.cache.get_mut(&base) {
            c.flush()?;
        }
        self.cache.remove(&base);
        Ok(())
    }

    /// Flushes every open chunk: all values first, then one directory sync
    /// if a chunk file is new, then all index records, then all presence.
    pub fn flush_all(&mut self) -> Result<()> {
        let mut new_files = false;
        for c in self.cache.values_mut() {
            new_files |= c.flush_values()?;
        }
        if new_files {
            vfs::sync_dir(self.fs.as_ref(), &self.chunks_dir)?;
        }
        for c in self.cache.values_mut() {
            c.flush_index()?;
        }
        for c in self.cache.values_mut() {
            c.flush_bits()?;
        }
        Ok(())
    }

    pub fn check_range(&self, from: u64, to: u64) -> Result<u64> {
        if to < from {
            return Err(Error::ReversedRange { from, to });
        }
        let len = to - from;
        let limit = slot_limit(self.meta.chunk_size);
        if to > limit {
            return Err(Error::SlotOverflow {
                start: from,
                len,
                limit,
            });
        }
        if len > MAX_READ_POINTS {
            return Err(Error::RangeTooLarge {
                len,
                max: MAX_READ_POINTS,
            });
        }
        Ok(len)
    }

    pub fn get<V: Value>(&mut self, name: &str, from: u64, to: u64) -> Result<Points<V>> {
        check_name(name)?;
        let len = self.check_range(from, to)? as usize;
        let listed = self.lookup_type(name)?;
        if let Some(t) = listed {
            if t != V::TYPE {
                return Err(Error::WrongType {
                    name: name.to_owned(),
                    stored: t,
                    given: V::TYPE,
                });
            }
        }
        let mut values = vec![V::zero(); len];
        let mut present = vec![0u64; len.div_ceil(64)];
        let mut found = false;
        let writable = self.writable;
        for sp in make_splits(from, to, self.meta.chunk_size) {
            let i = sp.index as usize;
            match self.locate(sp.base)? {
                Loc::Missing => continue,
                Loc::Sealed => {
                    let Some((bl, _)) = self.sealed.get(&sp.base).map(|c| c.block_shape()) else {
                        continue;
                    };
                    // Only the blocks that overlap the split are decoded.
                    let (lo, hi) = (sp.offset, sp.offset + sp.len);
                    for b in lo / bl..hi.div_ceil(bl) {
                        let Some((ty, d)) = self.sealed_block(sp.base, name, b)? else {
                            break;
                        };
                        if ty != V::TYPE {
                            return Err(Error::WrongType {
                                name: name.to_owned(),
                                stored: ty,
                                given: V::TYPE,
                            });
                        }
                        found = true;
                        let (s, e) = (lo.max(b * bl), hi.min((b + 1) * bl));
                        let at = i + (s - lo) as usize;
                        let k = (e - s) as usize;
                        let off = (s - b * bl) as usize;
                        let out = V::bytes_mut(&mut values[at..at + k]);
                        let src = d.values.get(off..off + k).unwrap_or(&[]);
                        for (o, v) in out.chunks_exact_mut(8).zip(src) {
                            o.copy_from_slice(&v.to_le_bytes());
                        }
                        bits::or_bits(&d.present, off, &mut present, at, k);
                    }
                    continue;
                }
                Loc::Open => {}
            }
            let Some(c) = self.located(sp.base) else {
                continue;
            };
            let mut row = c.row(name);
            if row.is_none() && !writable {
                c.refresh()?;
                row = c.row(name);
            }
            let Some(row) = row else { continue };
            if row.ty != V::TYPE {
                return Err(Error::WrongType {
                    name: name.to_owned(),
                    stored: row.ty,
                    given: V::TYPE,
                });
            }
            found = true;
            let out = V::bytes_mut(&mut values[i..i + sp.len as usize]);
            c.read(row.row, sp.offset, out, &mut present, i)?;
        }
        if listed.is_none() && !found {
            return Err(Error::UnknownMetric {
                name: name.to_owned(),
            });
        }
        V::fix_endian(&mut values);
        Ok(Points {
            from,
            values,
            present,
        })
    }

    pub fn fold<A, F>(&mut self, init: A, mut f: F) -> Result<A>
    where
        F: FnMut(A, &str, u64, Run<'_>) -> A,
    {
        let mut acc = init;
        for base in chunk::all_bases(self.fs.as_ref(), &self.chunks_dir)? {
            match self.locate(base)? {
                Loc::Missing => continue,
                Loc::Sealed => {
                    let names = match self.sealed.get(&base) {
                        Some(c) => (0..c.names.len() as u32)
                            .filter(|r| c.is_current(*r))
                            .filter_map(|r| c.names.get(r as usize).cloned())
                            .collect::<Vec<_>>(),
                        None => Vec::new(),
                    };
                    for (name, _) in names {
                        let Some((ty, d)) = self.sealed_row(base, &name)? else {
                            continue;
                        };
                        for (start, n) in bits::runs(&d.present, self.meta.chunk_size as usize) {
                            let raw = &d.values[start..start + n];
                            acc = emit(acc, &mut f, &name, base + start as u64, ty, raw);
                        }
                    }
                    continue;
                }
                Loc::Open => {}
            }
            let Some(c) = self.located(base) else {
                continue;
            };
            if !c.writable_view() {
                c.refresh()?;
            }
            for r in 0..c.names.len() {
                let row = r as u32;
                let (name, ty) = c.names[r].clone();
                if c.row(&name).map(|x| x.row) != Some(row) {
                    continue;
                }
                let words = c.full_row_bits(row)?;
                for (start, n) in bits::runs(&words, c.chunk_size() as usize) {
                    let mut raw = vec![0u64; n];
                    let mut scratch = vec![0u64; n.div_ceil(64)];
                    c.read(row, start as u64, u64::bytes_mut(&mut raw), &mut scratch, 0)?;
                    u64::fix_endian(&mut raw);
                    let slot = base + start as u64;
                    acc = emit(acc, &mut f, &name, slot, ty, &raw);
                }
            }
        }
        Ok(acc)
    }

    pub fn metrics(&mut self) -> Result<Vec<MetricInfo>> {
        self.refresh_list()?;
        if let Some(offset) = self.list.damage {
            return Err(Error::Corrupt {
                path: self.list_path.clone(),
                offset,
                reason: "damaged record in metric list",
            });
        }
        if self.list.torn_tail && !self.writable {
            // The last record may be damaged rather than torn: the chunk
            // indexes tell which metrics it may have held.
            return Ok(self.salvage_metrics()?.0);
        }
        Ok(self
            .list
            .order
            .iter()
            .map(|(n, t)| MetricInfo {
                name: n.clone(),
                value_type: *t,
            })
            .collect())
    }
}

fn decoded_size(d: &Decoded) -> usize {
    (d.values.len() + d.present.len()) * 8
}

/// Calls a fold's closure with a run of raw values typed as `ty`.
fn emit<A, F>(acc: A, f: &mut F, name: &str, slot: u64, ty: ValueType, raw: &[u64]) -> A
where
    F: FnMut(A, &str, u64, Run<'_>) -> A,
{
    match ty {
        ValueType::U64 => f(acc, name, slot, Run::U64(raw)),
        ValueType::I64 => {
            let v: Vec<i64> = raw.iter().map(|x| *x as i64).collect();
            f(acc, name, slot, Run::I64(&v))
        }
        ValueType::F64 => {
            let v: Vec<f64> = raw.iter().map(|x| f64::from_bits(*x)).collect();
            f(acc, name, slot, Run::F64(&v))
        }
    }
}
