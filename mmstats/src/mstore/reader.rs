//! Read-only access.

use std::path::Path;

use super::core::{self, Core, MetricList};
use super::error::Result;
use super::store::slot_at;
use super::types::{MetricInfo, OpenOptions, Points, Run, StoreInfo, Value, ValueType};

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
        let dir = dir.as_ref();
        let meta = core::read_meta_expecting(dir, options.expected_chunk_size)?;
        let list = MetricList::load_tolerant(&dir.join(core::LIST_FILE))?;
        Ok(Reader {
            core: Core::new(dir, meta, false, options.max_open_chunks, list),
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

    /// The type of `metric`, if the metric list knows it.
    pub fn value_type(&mut self, metric: &str) -> Result<Option<ValueType>> {
        self.core.lookup_type(metric)
    }

    /// Every metric with its type, in order of first write. Fails with
    /// [`Error::Corrupt`](super::Error::Corrupt) naming the metric list if it is damaged (the
    /// writer repairs it on its next open).
    pub fn metrics(&mut self) -> Result<Vec<MetricInfo>> {
        self.core.metrics()
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
