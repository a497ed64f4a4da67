//! Exporters: the stats of many files rendered as text for other systems,
//! with no HTTP in them, so that a program serving its own HTTP can answer
//! `/metrics` itself.
//!
//! - [`series`]: the series model every exporter renders: which series a
//!   set of files makes (one per process by default) and their values;
//! - [`prometheus`]: the Prometheus text exposition format;
//! - `json` (feature `json`): the JSON of `mmstats slurp --json` and of the
//!   server's API.

#[cfg(feature = "json")]
pub mod json;
pub mod prometheus;
pub mod series;
