//! Exporters: the stats of many files rendered as text for other systems,
//! with no HTTP in them, so that a program serving its own HTTP can answer
//! `/metrics` itself.
//!
//! - [`prometheus`]: the Prometheus text exposition format.

pub mod prometheus;
