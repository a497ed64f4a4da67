//! mmstats: always-on application statistics in memory-mapped files.
pub mod format;
pub mod mstore;
