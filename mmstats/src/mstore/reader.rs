//! Read-only access.

use std::path::Path;

use super::core::{self, Core, MetricList};
use super::error::{Error, Result};
use super::store::slot_at;
use super::types::{MetricInfo, OpenOptions, Points, Run, StoreInfo, Value, ValueType};
use super::vfs::{self, FsRef};

/// Read-only access to a store, from any number of processes at once and
/// beside the writer. A `Reader` takes no lock, so it never waits for the
/// writer, and it opens every file read-only: it never creates, changes or
/// removes anything, also when asked for a range where no chunk exists.
///
/// A reader sees points the writer has synced (see
/// [`Store::sync`](super::Store::sync)). It keeps up to `max_open_chunks`
/// chunks open and picks up metrics and rows added since it last looked.
pub struct Reader {
    core: Core,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("dir", &self.core.dir)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Opens the store in `dir` read-only, with default [`OpenOptions`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Reader> {
        Reader::open_with(dir, OpenOptions::default())
    }

    /// Opens the store in `dir` read-only.
    ///
    /// A damaged metric list does not stop the open: [`metrics`](Self::metrics)
    /// then reports it, and [`get`](Self::get) takes types from the chunk
    /// indexes.
    pub fn open_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Reader> {
        Reader::open_in(vfs::real(), dir.as_ref(), options)
    }

    pub(crate) fn open_in(fs: FsRef, dir: &Path, options: OpenOptions) -> Result<Reader> {
        let meta = core::read_meta_expecting(fs.as_ref(), dir, options.expected_chunk_size)?;
        let list = MetricList::load_tolerant(fs.as_ref(), &dir.join(core::LIST_FILE))?;
        Ok(Reader {
            core: Core::new(fs, dir, meta, false, options.max_open_chunks, list),
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

    /// The slot that holds `time`; see [`Store::slot_at`](super::Store::slot_at).
    pub fn slot_at(&self, time: u64) -> Result<u64> {
        slot_at(&self.core.meta, time)
    }

    /// Reads slots `from..to` (end exclusive) of `metric`; see
    /// [`Store::get`](super::Store::get).
    pub fn get<V: Value>(&mut self, metric: &str, from: u64, to: u64) -> Result<Points<V>> {
        self.core.get(metric, from, to)
    }

    /// The type of `metric`, if it exists: from the metric list, or, if
    /// the list is damaged or ends in an incomplete record, from the chunk
    /// indexes (which repeat every name and type), so that a damaged list
    /// does not hide a metric whose points can be read.
    pub fn value_type(&mut self, metric: &str) -> Result<Option<ValueType>> {
        self.core.lookup_type(metric)
    }

    /// Every metric with its type, in order of first write. Fails with
    /// [`Error::Corrupt`](super::Error::Corrupt) naming the metric list if
    /// it is damaged (the writer repairs it on its next open);
    /// [`salvage_metrics`](Self::salvage_metrics) lists what can still be
    /// found.
    pub fn metrics(&mut self) -> Result<Vec<MetricInfo>> {
        self.core.metrics()
    }

    /// Every metric that can be found, with the damage met on the way: the
    /// metric list's valid records in order, then, if the list is damaged
    /// or ends in an incomplete record, the names only the chunk indexes
    /// hold. The errors name the damaged metric list and any chunk index
    /// that could not be read; an `Err` means the store could not be read
    /// at all.
    pub fn salvage_metrics(&mut self) -> Result<(Vec<MetricInfo>, Vec<Error>)> {
        self.core.salvage_metrics()
    }

    /// Number of metrics in the metric list.
    pub fn count(&mut self) -> Result<usize> {
        self.core.refresh_list()?;
        Ok(self.core.list.order.len())
    }

    /// Visits every stored run; see [`Store::fold`](super::Store::fold).
    pub fn fold<A, F>(&mut self, init: A, f: F) -> Result<A>
    where
        F: FnMut(A, &str, u64, Run<'_>) -> A,
    {
        self.core.fold(init, f)
    }
}
