//! The error type of the store.

use std::io;
use std::path::PathBuf;

use super::ValueType;

/// Everything that can go wrong in [`Store`](super::Store) and
/// [`Reader`](super::Reader).
///
/// Variants caused by a file name the file at fault; variants caused by bad
/// input name the offending value. When an operation returns an input error,
/// nothing has been written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call on `path` failed.
    #[error("{path}: {op} failed: {source}")]
    Io {
        /// The file or directory the call was made on.
        path: PathBuf,
        /// What the store was doing (`"open"`, `"write"`, `"fsync"`, ...).
        op: &'static str,
        /// The error the operating system returned.
        #[source]
        source: io::Error,
    },
    /// Another process (or another `Store` in this process) holds the
    /// writer lock of the store.
    #[error("{path}: the store is locked by another writer")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// [`Store::create`](super::Store::create) found an existing store.
    #[error("{path}: a store already exists here")]
    AlreadyExists {
        /// The store's header file.
        path: PathBuf,
    },
    /// A file's content is not what the store wrote: bad magic, failed
    /// checksum, impossible length, or presence bits that point past the end
    /// of the data file.
    #[error("{path}: corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset where the damage was found.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// Stored points, or the presence record that vouches for them, fail
    /// their checksum: the file was changed by something other than the
    /// store (a flipped bit on the disk, a stray write). The points of
    /// those slots are not returned; other blocks, chunks and metrics read
    /// normally.
    #[error("{path}: {reason} (slots {first} to {last})")]
    Damaged {
        /// The file at fault: the data file if the points fail their
        /// checksum, the presence file if their presence record does.
        path: PathBuf,
        /// First slot of the damaged block.
        first: u64,
        /// Last slot of the damaged block (included).
        last: u64,
        /// What failed.
        reason: &'static str,
    },
    /// Sealed points encoded with what this build cannot decode: a store
    /// sealed by a build with the feature `feature` (`pco`), read by one
    /// without it. The points are in the file, whole (their checksum
    /// passed); a build with the feature reads them. Other blocks, chunks
    /// and metrics read normally.
    #[error("{path}: slots {first} to {last} are sealed with {feature}: this build has no {feature} support; build with feature {feature}")]
    NeedsFeature {
        /// The sealed chunk.
        path: PathBuf,
        /// First slot of the block.
        first: u64,
        /// Last slot of the block (included).
        last: u64,
        /// The cargo feature of the `mmstats` crate that reads it.
        feature: &'static str,
    },
    /// A path in the store names something other than a regular file (a
    /// FIFO, a device, a directory, a symbolic link). It is refused without
    /// being read, so it can neither block nor feed the store.
    #[error("{path}: not a regular file; the store uses only regular files")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The store (or one of its chunk files) was made with another chunk
    /// size than the one asked for.
    #[error("{path}: chunk size is {found}, but {expected} was expected")]
    ChunkSizeMismatch {
        /// The file that records the chunk size.
        path: PathBuf,
        /// The chunk size the caller (or the store header) expects.
        expected: u64,
        /// The chunk size recorded in the file.
        found: u64,
    },
    /// Options given to `create` are out of range.
    #[error("invalid option: {0}")]
    InvalidOptions(&'static str),
    /// A metric name is empty.
    #[error("metric name is empty")]
    EmptyName,
    /// A metric name is longer than [`MAX_NAME_LEN`](super::MAX_NAME_LEN).
    #[error("metric name is {len} bytes long; the limit is {max}")]
    NameTooLong {
        /// Length of the rejected name in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The metric exists with another value type.
    #[error("metric {name:?} holds {stored} values, not {given}")]
    WrongType {
        /// The metric.
        name: String,
        /// The type recorded on disk at its first write.
        stored: ValueType,
        /// The type of the rejected call.
        given: ValueType,
    },
    /// The metric has never been written.
    #[error("unknown metric {name:?}")]
    UnknownMetric {
        /// The metric.
        name: String,
    },
    /// `start + len` passes the last slot the store can hold.
    #[error("slots {start} + {len} pass the end of the representable range (slot {limit} and later are not)")]
    SlotOverflow {
        /// First slot asked for.
        start: u64,
        /// Number of slots asked for (saturated if it did not fit in u64).
        len: u64,
        /// The first slot the store cannot hold.
        limit: u64,
    },
    /// A read range whose end is before its start.
    #[error("range {from}..{to} is reversed")]
    ReversedRange {
        /// Start of the range.
        from: u64,
        /// End of the range (exclusive).
        to: u64,
    },
    /// A read range with more points than one call returns.
    #[error("{len} points asked for in one read; the limit is {max}")]
    RangeTooLarge {
        /// Points asked for.
        len: u64,
        /// The limit, [`MAX_READ_POINTS`](super::MAX_READ_POINTS).
        max: u64,
    },
    /// A time before the store's start time was given to a conversion.
    #[error("time {time} is before the store's start time {start}")]
    BeforeStart {
        /// The rejected time.
        time: u64,
        /// The store's start time.
        start: u64,
    },
    /// A chunk already has as many rows as its data file can address.
    #[error("{path}: no room for another metric in this chunk")]
    ChunkFull {
        /// The chunk's index file.
        path: PathBuf,
    },
}

/// Short form of `Result<T, mstore::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) trait IoContext<T> {
    fn ctx(self, path: &std::path::Path, op: &'static str) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, path: &std::path::Path, op: &'static str) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            op,
            source,
        })
    }
}
