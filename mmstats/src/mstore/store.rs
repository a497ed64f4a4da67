//! The writer.

use std::io;
use std::path::{Path, PathBuf};

use super::chunk::{all_bases, chunk_paths, list_bases, Chunk};
use super::core::{self, check_name, slot_limit, Core, MetricList};
use super::error::{Error, IoContext, Result};
use super::format::{self, Meta};
use super::sealed::{self, list_sealed, sealed_path, SealedChunk};
use super::types::{
    make_splits, MetricInfo, OpenOptions, Options, Points, Run, StoreInfo, Value, ValueType,
};
use super::vfs::{self, sync_dir, write_atomic, FsRef, Mode, VFile, Vfs};
use super::MAX_CHUNK_SIZE;

/// A chunk deleted by [`Store::retain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// The chunk's base (its first slot).
    pub base: u64,
    /// First slot of the chunk.
    pub first: u64,
    /// Last slot of the chunk (included).
    pub last: u64,
    /// Bytes its files took.
    pub bytes: u64,
}

/// The writer of a store: one per store at a time, enforced by an exclusive
/// `flock` on the store's `lock` file, held until the `Store` is dropped.
///
/// Dropping a `Store` syncs it, ignoring errors; call
/// [`close`](Store::close) to see them.
pub struct Store {
    core: Core,
    list_file: Box<dyn VFile>,
    _lock: Box<dyn VFile>,
    closed: bool,
    /// Chunks with an index and no sealed file.
    unsealed: std::collections::BTreeSet<u64>,
    /// Base of the newest chunk that exists.
    newest: Option<u64>,
    /// Whether `sync` seals the chunks the writer has moved past.
    sealing: bool,
    /// Chunks that could not be sealed (damage): left as they are.
    unsealable: std::collections::BTreeSet<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.core.dir)
            .finish_non_exhaustive()
    }
}

fn lock(fs: &dyn Vfs, dir: &Path) -> Result<Box<dyn VFile>> {
    let path = dir.join(core::LOCK_FILE);
    let f = vfs::open_file(fs, &path, Mode::Create)?;
    // An exclusive lock that does not wait, held until the file is closed.
    match f.try_lock() {
        Ok(true) => Ok(f),
        Ok(false) => Err(Error::Locked { path }),
        Err(e) => Err(e).ctx(&path, "flock"),
    }
}

fn validate(o: &Options) -> Result<()> {
    if o.chunk_size == 0 || o.chunk_size > MAX_CHUNK_SIZE {
        return Err(Error::InvalidOptions(
            "chunk_size must be 1 to MAX_CHUNK_SIZE",
        ));
    }
    if o.resolution == 0 {
        return Err(Error::InvalidOptions("resolution must not be zero"));
    }
    if o.max_open_chunks == 0 {
        return Err(Error::InvalidOptions("max_open_chunks must be at least 1"));
    }
    Ok(())
}

impl Store {
    /// Creates a new store in `dir` (made if missing) and opens it for
    /// writing. Fails with [`Error::AlreadyExists`] if `dir` holds a store.
    pub fn create(dir: impl AsRef<Path>, options: Options) -> Result<Store> {
        Store::create_in(vfs::real(), dir.as_ref(), options)
    }

    pub(crate) fn create_in(fs: FsRef, dir: &Path, options: Options) -> Result<Store> {
        validate(&options)?;
        let f = fs.as_ref();
        // The directories this makes must have durable entries in their
        // parents too, or a power cut could take the whole store away.
        let mut made = Vec::new();
        let mut at = Some(dir);
        while let Some(d) = at.filter(|d| !d.as_os_str().is_empty()) {
            if vfs::exists(f, d)? {
                break;
            }
            made.push(d);
            at = d.parent();
        }
        f.create_dir_all(dir).ctx(dir, "create directory")?;
        for d in made.iter().rev() {
            if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(f, parent)?;
            }
        }
        let lock = lock(f, dir)?;
        let meta_path = dir.join(core::META_FILE);
        if vfs::exists(f, &meta_path)? {
            return Err(Error::AlreadyExists { path: meta_path });
        }
        // The chunk files go into `dir` itself: one directory, not two
        // (a store of an earlier version keeps its `chunks/`).
        write_atomic(f, &dir.join(core::LIST_FILE), format::LIST_MAGIC)?;
        let meta = Meta {
            chunk_size: options.chunk_size,
            resolution: options.resolution,
            start_time: options.start_time,
            nested: false,
        };
        // The header goes last: a store exists once it is in place.
        write_atomic(f, &meta_path, &format::encode_meta(&meta))?;
        sync_dir(f, dir)?;
        Store::open_locked(fs, dir, lock, options.max_open_chunks)
    }

    /// Opens an existing store for writing, with default [`OpenOptions`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(dir, OpenOptions::default())
    }

    /// Opens an existing store for writing. Fails with [`Error::Locked`] if
    /// another writer has it, and with [`Error::ChunkSizeMismatch`] if
    /// `options.expected_chunk_size` differs from the store's.
    pub fn open_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Store> {
        Store::open_in(vfs::real(), dir.as_ref(), options)
    }

    pub(crate) fn open_in(fs: FsRef, dir: &Path, options: OpenOptions) -> Result<Store> {
        core::read_meta_expecting(fs.as_ref(), dir, options.expected_chunk_size)?;
        let lock = lock(fs.as_ref(), dir)?;
        Store::open_locked(fs, dir, lock, options.max_open_chunks)
    }

    /// Opens the store in `dir`, creating it with `options` if it does not
    /// exist. An existing store must have `options.chunk_size`.
    pub fn open_or_create(dir: impl AsRef<Path>, options: Options) -> Result<Store> {
        let dir = dir.as_ref();
        if vfs::exists(vfs::real().as_ref(), &dir.join(core::META_FILE))? {
            Store::open_with(
                dir,
                OpenOptions {
                    expected_chunk_size: Some(options.chunk_size),
                    max_open_chunks: options.max_open_chunks,
                },
            )
        } else {
            Store::create(dir, options)
        }
    }

    fn open_locked(fs: FsRef, dir: &Path, lock: Box<dyn VFile>, max_open: usize) -> Result<Store> {
        let f = fs.as_ref();
        let meta = core::read_meta(f, dir)?;
        let chunks_dir = meta.chunks_dir(dir);
        if meta.nested {
            f.create_dir_all(&chunks_dir)
                .ctx(&chunks_dir, "create directory")?;
        }
        cleanup(f, dir, &chunks_dir)?;
        let list_path = dir.join(core::LIST_FILE);
        let list = match MetricList::load_tolerant(f, &list_path) {
            Ok(l) => l,
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                MetricList {
                    damage: Some(0),
                    ..MetricList::default()
                }
            }
            Err(e) => return Err(e),
        };
        // Every name in a chunk index must be in the list, so that its type
        // stays reserved. The writer appends to the list before it appends
        // to an index, so a name can only be missing after damage.
        let mut chunk_names = Vec::new();
        for base in all_bases(f, &chunks_dir)? {
            // A damaged chunk index adds no names; it reports itself when
            // read.
            if let Ok(Some(c)) = Chunk::open_index(&fs, &chunks_dir, base, meta.chunk_size) {
                chunk_names.extend(c.names);
            } else if let Ok(Some(c)) = SealedChunk::open(&fs, &chunks_dir, base, meta.chunk_size) {
                chunk_names.extend(c.names);
            }
        }
        let missing = chunk_names
            .iter()
            .any(|(n, _)| !list.by_name.contains_key(n));
        let list = if list.torn_tail || list.damage.is_some() || missing {
            rebuild_list(f, dir, list, chunk_names)?
        } else {
            list
        };
        let list_file = vfs::open_file(f, &list_path, Mode::Write)?;
        let sealed: std::collections::BTreeSet<u64> =
            list_sealed(f, &chunks_dir)?.into_iter().collect();
        let unsealed: std::collections::BTreeSet<u64> = list_bases(f, &chunks_dir)?
            .into_iter()
            .filter(|b| !sealed.contains(b))
            .collect();
        let newest = sealed.iter().chain(unsealed.iter()).max().copied();
        let mut core = Core::new(fs, dir, meta, true, max_open, list);
        core.sealed_bases = sealed;
        Ok(Store {
            core,
            list_file,
            _lock: lock,
            closed: false,
            unsealed,
            newest,
            sealing: true,
            unsealable: std::collections::BTreeSet::new(),
        })
    }

    /// The parameters the store was created with.
    pub fn info(&self) -> StoreInfo {
        StoreInfo {
            chunk_size: self.core.meta.chunk_size,
            resolution: self.core.meta.resolution,
            start_time: self.core.meta.start_time,
        }
    }

    /// The slot that holds `time` (in the creator's units):
    /// `(time - start_time) / resolution`. Fails with
    /// [`Error::BeforeStart`] for a time before the start time.
    pub fn slot_at(&self, time: u64) -> Result<u64> {
        slot_at(&self.core.meta, time)
    }

    /// Writes `values` to the consecutive slots `start..start + values.len()`
    /// of `metric`. The metric's type is fixed by its first write; a later
    /// write of another type fails with [`Error::WrongType`] and writes
    /// nothing. Slots already set are overwritten.
    ///
    /// Written points become visible to this store's `get` at once, and to
    /// readers after the next [`sync`](Store::sync) (or when the chunk is
    /// closed to stay within `max_open_chunks`).
    pub fn put<V: Value>(&mut self, metric: &str, start: u64, values: &[V]) -> Result<()> {
        check_name(metric)?;
        let len = values.len() as u64;
        let limit = slot_limit(self.core.meta.chunk_size);
        let end = start
            .checked_add(len)
            .filter(|e| *e <= limit)
            .ok_or(Error::SlotOverflow { start, len, limit })?;
        match self.core.list.by_name.get(metric) {
            Some(t) if *t != V::TYPE => {
                return Err(Error::WrongType {
                    name: metric.to_owned(),
                    stored: *t,
                    given: V::TYPE,
                })
            }
            Some(_) => {}
            None if values.is_empty() => return Ok(()),
            None => self.append_metric(metric, V::TYPE)?,
        }
        for sp in make_splits(start, end, self.core.meta.chunk_size) {
            if self.core.sealed_bases.contains(&sp.base) {
                self.unseal(sp.base)?;
            }
            if !self.unsealed.contains(&sp.base) {
                self.unsealed.insert(sp.base);
            }
            self.newest = self.newest.max(Some(sp.base));
            let Some(c) = self.core.chunk(sp.base, true)? else {
                return Err(Error::Corrupt {
                    path: chunk_paths(&self.core.chunks_dir, sp.base)[0].clone(),
                    offset: 0,
                    reason: "chunk could not be created",
                });
            };
            let row = match c.row(metric) {
                Some(r) => r,
                None => c.add_row(metric, V::TYPE)?,
            };
            if row.ty != V::TYPE {
                return Err(Error::WrongType {
                    name: metric.to_owned(),
                    stored: row.ty,
                    given: V::TYPE,
                });
            }
            let i = sp.index as usize;
            let bytes = V::le_bytes(&values[i..i + sp.len as usize]);
            c.write(row.row, sp.offset, &bytes)?;
        }
        Ok(())
    }

    fn append_metric(&mut self, name: &str, ty: ValueType) -> Result<()> {
        let rec = format::encode_record(name, ty);
        let at = self.core.list.valid_end;
        if let Err(e) = self.list_file.write_all_at(&rec, at) {
            let _ = self.list_file.set_len(at);
            return Err(e).ctx(&self.core.list_path, "append metric record");
        }
        self.core.list.valid_end += rec.len() as u64;
        self.core.list.push(name.to_owned(), ty);
        Ok(())
    }

    /// Reads slots `from..to` (end exclusive) of `metric`. Fails with
    /// [`Error::UnknownMetric`] for a metric never written and
    /// [`Error::WrongType`] if `V` is not its type. Never creates files.
    pub fn get<V: Value>(&mut self, metric: &str, from: u64, to: u64) -> Result<Points<V>> {
        self.core.get(metric, from, to)
    }

    /// The type of `metric`, if it exists.
    pub fn value_type(&self, metric: &str) -> Option<ValueType> {
        self.core.list.by_name.get(metric).copied()
    }

    /// Every metric with its type, in order of first write.
    pub fn metrics(&mut self) -> Result<Vec<MetricInfo>> {
        self.core.metrics()
    }

    /// Number of metrics in the store.
    pub fn count(&self) -> usize {
        self.core.list.order.len()
    }

    /// Number of chunks currently open (at most `max_open_chunks`).
    pub fn open_chunks(&self) -> usize {
        self.core.open_chunks()
    }

    /// Calls `f(acc, metric, first_slot, run)` for every maximal run of
    /// consecutive set points inside one chunk. Chunks are visited in
    /// ascending time, and within a chunk metrics in row order, so every
    /// metric's runs come in time order; a run that crosses a chunk
    /// boundary is reported as two runs.
    pub fn fold<A, F>(&mut self, init: A, f: F) -> Result<A>
    where
        F: FnMut(A, &str, u64, Run<'_>) -> A,
    {
        self.core.fold(init, f)
    }

    /// Deletes every chunk that lies wholly before `slot`, that is every
    /// chunk whose base is below `floor(slot / S) * S`. Points from that
    /// rounded-down boundary on are kept, so up to `S - 1` points before
    /// `slot` survive; no point at or after `slot` is ever deleted. Returns
    /// the number of chunks deleted. The deletion is durable on return.
    pub fn delete_before(&mut self, slot: u64) -> Result<u64> {
        let s = self.core.meta.chunk_size;
        let cutoff = slot / s * s;
        let f = self.core.fs.clone();
        let doomed: Vec<u64> = all_bases(f.as_ref(), &self.core.chunks_dir)?
            .into_iter()
            .filter(|b| *b < cutoff)
            .collect();
        self.delete_bases(&doomed)
    }

    /// Bytes of each chunk's files, oldest chunk first, as `(base, bytes)`.
    pub fn chunk_bytes(&self) -> Result<Vec<(u64, u64)>> {
        let f = self.core.fs.as_ref();
        let dir = &self.core.chunks_dir;
        let len = |p: &Path| match f.stat(p) {
            Ok(m) => Ok(m.len),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e).ctx(p, "stat"),
        };
        let mut out = Vec::new();
        for base in all_bases(f, dir)? {
            let mut n = len(&sealed_path(dir, base))?;
            for p in &chunk_paths(dir, base) {
                n += len(p)?;
            }
            out.push((base, n));
        }
        Ok(out)
    }

    /// Retention: deletes whole chunks, oldest first, that lie wholly
    /// before slot `keep_from` (if given), then more of the oldest while
    /// the chunks' files (apparent sizes) and the metric list take more
    /// than `max_bytes` (if given). The newest chunk is never deleted, so
    /// a store can stay over `max_bytes` by that chunk. Returns what was
    /// deleted; the deletion is durable on return. Readers that hold a
    /// deleted chunk open keep reading it; others read its slots as unset.
    pub fn retain(
        &mut self,
        keep_from: Option<u64>,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Deleted>> {
        let s = self.core.meta.chunk_size;
        let sizes = self.chunk_bytes()?;
        let list = self
            .core
            .fs
            .stat(&self.core.list_path)
            .map(|m| m.len)
            .unwrap_or(0);
        let mut total: u64 = list + sizes.iter().map(|(_, n)| n).sum::<u64>();
        let mut doomed = Vec::new();
        for (i, (base, n)) in sizes.iter().enumerate() {
            let old = keep_from.is_some_and(|k| base.saturating_add(s) <= k);
            let over = max_bytes.is_some_and(|m| total > m);
            if i + 1 == sizes.len() || !(old || over) {
                break;
            }
            doomed.push(Deleted {
                base: *base,
                first: *base,
                last: base.saturating_add(s - 1),
                bytes: *n,
            });
            total -= n;
        }
        let bases: Vec<u64> = doomed.iter().map(|d| d.base).collect();
        self.delete_bases(&bases)?;
        Ok(doomed)
    }

    fn delete_bases(&mut self, doomed: &[u64]) -> Result<u64> {
        let f = self.core.fs.clone();
        let remove = |p: &Path| match f.remove_file(p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx(p, "remove"),
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        // The indexes go first, durably: without its index a chunk does not
        // exist, and a power cut cannot keep a chunk's index while losing
        // its data file, whatever order the removals reach the disk in.
        for base in doomed {
            self.core.forget_chunk(*base);
            self.core.forget_sealed(*base);
            remove(&sealed_path(&self.core.chunks_dir, *base))?;
            remove(&chunk_paths(&self.core.chunks_dir, *base)[0])?;
            self.core.sealed_bases.remove(base);
            self.unsealed.remove(base);
        }
        sync_dir(f.as_ref(), &self.core.chunks_dir)?;
        // Then the rest, durably too: were an old data or presence file to
        // come back after a power cut, a chunk made again with this base
        // could find it beside its new index.
        for base in doomed {
            for p in &chunk_paths(&self.core.chunks_dir, *base)[1..] {
                remove(p)?;
            }
        }
        sync_dir(f.as_ref(), &self.core.chunks_dir)?;
        let n = doomed.len() as u64;
        Ok(n)
    }

    /// Makes every point written so far durable and visible to readers:
    /// the metric list, then each chunk's data and index (and the chunks
    /// directory if a chunk file is new), then its presence bits, each
    /// with `fdatasync`.
    pub fn sync(&mut self) -> Result<()> {
        self.list_file
            .sync_data()
            .ctx(&self.core.list_path, "fsync")?;
        self.core.flush_all()?;
        if self.sealing {
            self.seal_passed()?;
        }
        Ok(())
    }

    /// Whether [`sync`](Store::sync) seals (compresses) the chunks the
    /// writer has moved past; on by default.
    pub fn set_sealing(&mut self, on: bool) {
        self.sealing = on;
    }

    /// Number of sealed (compressed) chunks.
    pub fn sealed_chunks(&self) -> usize {
        self.core.sealed_bases.len()
    }

    /// Seals every chunk older than the newest one, as `sync` does when
    /// sealing is on. Returns how many were sealed. A chunk whose points
    /// fail their checksums is left as it is (its reads keep reporting
    /// the damage).
    pub fn seal_passed(&mut self) -> Result<usize> {
        let Some(newest) = self.newest else {
            return Ok(0);
        };
        self.seal_below(newest)
    }

    /// Syncs, then seals every chunk, the newest too: for a writer that is
    /// done (a write into a sealed chunk later unseals it). Returns how
    /// many were sealed; damaged chunks are left as they are.
    pub fn seal_all(&mut self) -> Result<usize> {
        self.sync()?;
        self.seal_below(u64::MAX)
    }

    fn seal_below(&mut self, below: u64) -> Result<usize> {
        self.core.flush_all()?;
        let todo: Vec<u64> = self
            .unsealed
            .range(..below)
            .filter(|b| !self.unsealable.contains(b))
            .copied()
            .collect();
        let mut n = 0;
        for base in todo {
            match self.seal(base) {
                Ok(()) => n += 1,
                Err(Error::Damaged { .. } | Error::Corrupt { .. }) => {
                    self.unsealable.insert(base);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Rewrites chunk `base` into a sealed file: flush it, read every row
    /// (checking checksums), encode, write `<base>.sea.tmp`, fsync, rename,
    /// fsync the directory; then remove the index, fsync the directory,
    /// remove the data and presence files, fsync it again.
    fn seal(&mut self, base: u64) -> Result<()> {
        self.core.close_chunk(base)?;
        let fs = self.core.fs.clone();
        let dir = self.core.chunks_dir.clone();
        let s = self.core.meta.chunk_size;
        let Some(mut c) = Chunk::open(&fs, &dir, base, s, false)? else {
            self.unsealed.remove(&base);
            return Ok(());
        };
        let n = s as usize;
        let mut rows = Vec::new();
        for r in 0..c.names.len() {
            let (name, ty) = c.names[r].clone();
            if c.row(&name).map(|x| x.row as usize) != Some(r) {
                continue;
            }
            let mut raw = vec![0u8; n * 8];
            let mut present = vec![0u64; n.div_ceil(64)];
            c.read(r as u32, 0, &mut raw, &mut present, 0)?;
            let values: Vec<u64> = raw
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect();
            rows.push((name, ty, present, values));
        }
        drop(c);
        let bytes = sealed::encode(s, base, &rows);
        let path = sealed_path(&dir, base);
        write_atomic(fs.as_ref(), &path, &bytes)?;
        sync_dir(fs.as_ref(), &dir)?;
        // Check what is in place before the open chunk goes; if it is not
        // right (never expected), the sealed file goes and the open chunk
        // stays.
        let checked = (|| {
            let check = SealedChunk::open(&fs, &dir, base, s)?.ok_or(Error::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: "sealed chunk vanished right after it was written",
            })?;
            for (name, _, present, values) in &rows {
                let d = check.decode(name)?;
                if d.as_ref().map(|d| (&d.present, &d.values)) != Some((present, values)) {
                    return Err(Error::Corrupt {
                        path: path.clone(),
                        offset: 0,
                        reason: "sealed chunk does not read back as the chunk it seals",
                    });
                }
            }
            Ok(())
        })();
        if let Err(e) = checked {
            remove_quiet(fs.as_ref(), &path)?;
            sync_dir(fs.as_ref(), &dir)?;
            return Err(e);
        }
        let [idx, dat, bit] = chunk_paths(&dir, base);
        remove_quiet(fs.as_ref(), &idx)?;
        sync_dir(fs.as_ref(), &dir)?;
        remove_quiet(fs.as_ref(), &dat)?;
        remove_quiet(fs.as_ref(), &bit)?;
        sync_dir(fs.as_ref(), &dir)?;
        self.unsealed.remove(&base);
        self.core.sealed_bases.insert(base);
        Ok(())
    }

    /// Turns sealed chunk `base` back into an open chunk, for a write
    /// into it: make the chunk anew from the sealed points, flush it, then
    /// remove the sealed file (until then it is the one that counts).
    fn unseal(&mut self, base: u64) -> Result<()> {
        let fs = self.core.fs.clone();
        let dir = self.core.chunks_dir.clone();
        let s = self.core.meta.chunk_size;
        self.core.forget_sealed(base);
        let path = sealed_path(&dir, base);
        let Some(sc) = SealedChunk::open(&fs, &dir, base, s)? else {
            self.core.sealed_bases.remove(&base);
            return Ok(());
        };
        let mut rows = Vec::new();
        for r in 0..sc.names.len() as u32 {
            if !sc.is_current(r) {
                continue;
            }
            let Some((name, ty)) = sc.names.get(r as usize).cloned() else {
                continue;
            };
            let d = sc.decode(&name)?;
            rows.push((name, ty, d));
        }
        drop(sc);
        self.core.forget_chunk(base);
        let mut c = Chunk::create(&fs, &dir, base, s)?;
        for (name, ty, d) in rows {
            let row = c.add_row(&name, ty)?;
            let Some(d) = d else { continue };
            for (start, n) in super::bits::runs(&d.present, s as usize) {
                let bytes: Vec<u8> = d.values[start..start + n]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
                c.write(row.row, start as u64, &bytes)?;
            }
        }
        c.flush()?;
        drop(c);
        remove_quiet(fs.as_ref(), &path)?;
        sync_dir(fs.as_ref(), &dir)?;
        self.core.sealed_bases.remove(&base);
        self.unsealed.insert(base);
        Ok(())
    }

    /// Syncs and closes the store, releasing the writer lock.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        self.sync()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.sync();
        }
    }
}

pub(crate) fn slot_at(meta: &Meta, time: u64) -> Result<u64> {
    let d = time
        .checked_sub(meta.start_time)
        .ok_or(Error::BeforeStart {
            time,
            start: meta.start_time,
        })?;
    Ok(d / meta.resolution.max(1))
}

fn remove_quiet(fs: &dyn Vfs, p: &Path) -> Result<()> {
    match fs.remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx(p, "remove"),
    }
}

/// Removes temporary files, the data/presence files of chunks that have
/// no index (left by a crash during create or delete), and the files of an
/// open chunk beside a sealed file of the same base (left by a crash while
/// sealing or unsealing: the sealed file is whole, and is the one that
/// counts).
fn cleanup(fs: &dyn Vfs, dir: &Path, chunks_dir: &Path) -> Result<()> {
    let sealed = list_sealed(fs, chunks_dir)?;
    let beside: Vec<u64> = list_bases(fs, chunks_dir)?
        .into_iter()
        .filter(|b| sealed.binary_search(b).is_ok())
        .collect();
    if !beside.is_empty() {
        for b in &beside {
            remove_quiet(fs, &chunk_paths(chunks_dir, *b)[0])?;
        }
        sync_dir(fs, chunks_dir)?;
    }
    // One directory in a store made now, two in a store of the first
    // header version (the store's and its `chunks/`).
    let dirs: &[&Path] = if dir == chunks_dir {
        &[dir]
    } else {
        &[dir, chunks_dir]
    };
    for &d in dirs {
        let mut removed = false;
        for name in fs.list_dir(d).ctx(d, "list directory")? {
            let p: PathBuf = d.join(&name);
            let Some(name) = name.to_str() else {
                continue;
            };
            let orphan = (is_chunk_file(name, "dat") || is_chunk_file(name, "bit"))
                && !vfs::exists(fs, &p.with_extension("idx"))?;
            if name.ends_with(".tmp") || (d == chunks_dir && orphan) {
                match fs.remove_file(&p) {
                    Ok(()) => removed = true,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).ctx(&p, "remove leftover"),
                }
            }
        }
        // Durably: a leftover data or presence file that came back after a
        // power cut could sit beside the index of a chunk made again.
        if removed && d == chunks_dir {
            sync_dir(fs, d)?;
        }
    }
    Ok(())
}

/// Whether `name` is a chunk's file with extension `ext`: 20 decimal
/// digits (the base), a dot, `ext`. Nothing else in the store's directory
/// is taken for a leftover of a chunk.
fn is_chunk_file(name: &str, ext: &str) -> bool {
    name.strip_suffix(ext)
        .and_then(|n| n.strip_suffix('.'))
        .is_some_and(|stem| stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
}

/// Rewrites the metric list from its valid records plus the names found in
/// chunk indexes, through a temporary file, fsync and rename.
fn rebuild_list(
    fs: &dyn Vfs,
    dir: &Path,
    mut list: MetricList,
    chunk_names: Vec<(String, ValueType)>,
) -> Result<MetricList> {
    for (n, t) in chunk_names {
        list.push(n, t);
    }
    let mut bytes = format::LIST_MAGIC.to_vec();
    for (n, t) in &list.order {
        bytes.extend(format::encode_record(n, *t));
    }
    let path = dir.join(core::LIST_FILE);
    write_atomic(fs, &path, &bytes)?;
    sync_dir(fs, dir)?;
    list.valid_end = bytes.len() as u64;
    list.torn_tail = false;
    list.damage = None;
    Ok(list)
}
