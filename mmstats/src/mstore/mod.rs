//! mstore: on-disk history of numeric metrics.
//!
//! (Full documentation below is being written.)

mod bits;
mod chunk;
mod core;
mod error;
mod format;
mod reader;
mod store;
mod types;

pub use error::{Error, Result};
pub use reader::Reader;
pub use store::Store;
pub use types::{
    make_splits, MetricInfo, OpenOptions, Options, Points, Run, Split, StoreInfo, Value, ValueType,
};

/// Longest metric name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 4096;

/// Largest chunk size (points per metric per chunk).
pub const MAX_CHUNK_SIZE: u64 = 1 << 24;

/// Most points one `get` returns.
pub const MAX_READ_POINTS: u64 = 1 << 26;
