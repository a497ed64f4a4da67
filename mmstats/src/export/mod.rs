//! Exporters: the stats of many files rendered as text for other systems,
//! with no HTTP in them, so that a program serving its own HTTP can answer
//! `/metrics` itself.
//!
//! - [`series`]: the series model every exporter renders: which series a
//!   set of files makes (one per process by default) and their values;
//! - [`prometheus`]: the Prometheus text exposition format;
//! - `protobuf` (feature `serve` or `push`): the Prometheus protobuf
//!   exposition, with native histograms;
//! - `json` (feature `json`): the JSON of `mmstats slurp --json` and of the
//!   server's API;
//! - `remote_write` (feature `push`): Prometheus remote write 1.0 of the
//!   same series, with a bounded queue and retries.

#[cfg(feature = "json")]
pub mod json;
pub mod prometheus;
#[cfg(any(feature = "serve", feature = "push"))]
pub mod protobuf;
#[cfg(feature = "push")]
pub mod remote_write;
pub mod series;
