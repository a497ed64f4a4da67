//! The Prometheus protobuf exposition (feature `serve` or `push`): the
//! series of [`crate::export::series`] as length-delimited `MetricFamily`
//! messages of `io.prometheus.client` (`metrics.proto`), the format
//! Prometheus asks for first when started with
//! `--enable-feature=native-histograms`. It carries what the text format
//! carries (counters, gauges, texts as `_info` gauges) and gives each
//! histogram as a *native histogram* besides its classic buckets.
//!
//! # Histograms
//!
//! A histogram's buckets are those of a native histogram of the same
//! schema (bucket `i` holds `(2^((i-1)/2^schema), 2^(i/2^schema)]`, see
//! [`crate::Histogram`]), so the native histogram sent is the histogram
//! exactly:
//!
//! - `schema`: the field's;
//! - `zero_threshold`: the field's lowest bound `2^LOWEST`, and
//!   `zero_count` its zero bucket (zero and everything up to it, which is
//!   Prometheus' zero bucket `[-threshold, threshold]` for values that are
//!   never negative);
//! - `positive_span` and `positive_delta`: the non-empty buckets, a span for
//!   each run of consecutive ones (the first span's offset is the index of
//!   its first bucket, a later span's the number of empty buckets since the
//!   previous span), each count as its difference from the count before;
//! - the overflow bucket (values above the highest bound) as the bucket
//!   just above the range, index `first + buckets`: a native histogram of
//!   a standard schema has no bucket for "everything above";
//! - no negative span or delta: a histogram holds no value below zero;
//! - `sample_count`: the buckets' total (as the text format's `_count`),
//!   `sample_sum` the sum;
//! - `bucket`: the classic buckets, at the same `le` bounds as the text
//!   format ([`series::classic_buckets`]) but the `+Inf` one, which the
//!   count stands for, so that a Prometheus without native histograms
//!   still reads them.

// Runs on whatever files users give: nothing here may panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use prost::Message as _;

use super::series::{self, Family, Type};
use crate::reader::Histogram;

/// The media type of the exposition, as Prometheus names it in `Accept`.
pub const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The messages of `io.prometheus.client` (`metrics.proto`) the exposition
/// uses, with their tags.
pub mod proto {
    /// The type of a family.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        /// `counter`.
        Counter = 0,
        /// `gauge`.
        Gauge = 1,
        /// `summary`.
        Summary = 2,
        /// `untyped`.
        Untyped = 3,
        /// `histogram`.
        Histogram = 4,
        /// `gaugehistogram`.
        GaugeHistogram = 5,
    }

    /// A family: its name, help, type and metrics (series).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricFamily {
        /// The name (a counter's with `_total`, a text's with `_info`).
        #[prost(string, tag = "1")]
        pub name: String,
        /// The help text.
        #[prost(string, tag = "2")]
        pub help: String,
        /// The type.
        #[prost(enumeration = "MetricType", tag = "3")]
        pub r#type: i32,
        /// The series.
        #[prost(message, repeated, tag = "4")]
        pub metric: Vec<Metric>,
    }

    /// One series: its labels and its value, in the field of its type.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        /// The labels.
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        /// A gauge's value.
        #[prost(message, optional, tag = "2")]
        pub gauge: Option<Gauge>,
        /// A counter's value.
        #[prost(message, optional, tag = "3")]
        pub counter: Option<Counter>,
        /// A histogram.
        #[prost(message, optional, tag = "7")]
        pub histogram: Option<Histogram>,
    }

    /// A label.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct LabelPair {
        /// Its name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Its value.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// A gauge's value.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Gauge {
        /// The value.
        #[prost(double, tag = "1")]
        pub value: f64,
    }

    /// A counter's value.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Counter {
        /// The value.
        #[prost(double, tag = "1")]
        pub value: f64,
    }

    /// A histogram: classic buckets and the native histogram's fields.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        /// How many values.
        #[prost(uint64, tag = "1")]
        pub sample_count: u64,
        /// Their sum.
        #[prost(double, tag = "2")]
        pub sample_sum: f64,
        /// The classic buckets, in increasing order of upper bound (no
        /// `+Inf` one: the count stands for it).
        #[prost(message, repeated, tag = "3")]
        pub bucket: Vec<Bucket>,
        /// The native histogram's schema: 2^schema buckets per doubling.
        #[prost(sint32, tag = "5")]
        pub schema: i32,
        /// The top of the zero bucket.
        #[prost(double, tag = "6")]
        pub zero_threshold: f64,
        /// The count of the zero bucket.
        #[prost(uint64, tag = "7")]
        pub zero_count: u64,
        /// The spans of the negative buckets.
        #[prost(message, repeated, tag = "9")]
        pub negative_span: Vec<BucketSpan>,
        /// The counts of the negative buckets, as differences.
        #[prost(sint64, repeated, tag = "10")]
        pub negative_delta: Vec<i64>,
        /// The spans of the positive buckets.
        #[prost(message, repeated, tag = "12")]
        pub positive_span: Vec<BucketSpan>,
        /// The counts of the positive buckets, each as its difference from
        /// the one before (the first from zero).
        #[prost(sint64, repeated, tag = "13")]
        pub positive_delta: Vec<i64>,
    }

    /// A classic bucket.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bucket {
        /// The values at or below the bound.
        #[prost(uint64, tag = "1")]
        pub cumulative_count: u64,
        /// The bound (`le`).
        #[prost(double, tag = "2")]
        pub upper_bound: f64,
    }

    /// A run of consecutive native buckets.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct BucketSpan {
        /// The first span's: the index of its first bucket; a later
        /// span's: the empty buckets between the previous one and this.
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        /// How many buckets.
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }
}

/// The messages of a model ([`series::model`]), one per family.
pub fn families(families: &[Family]) -> Vec<proto::MetricFamily> {
    families.iter().map(family).collect()
}

/// The exposition of a model: each family's message, preceded by its length
/// as a varint.
pub fn render(model: &[Family]) -> Vec<u8> {
    let mut out = Vec::new();
    for message in families(model) {
        // Writing into a Vec cannot run out of room.
        let _ = message.encode_length_delimited(&mut out);
    }
    out
}

fn labels(labels: &[(String, String)]) -> Vec<proto::LabelPair> {
    labels
        .iter()
        .map(|(name, value)| proto::LabelPair {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn family(family: &Family) -> proto::MetricFamily {
    let help = describe(family);
    let (name, ty) = match family.ty {
        Type::Counter => (format!("{}_total", family.name), proto::MetricType::Counter),
        Type::Info => (format!("{}_info", family.name), proto::MetricType::Gauge),
        Type::Gauge => (family.name.clone(), proto::MetricType::Gauge),
        Type::Histogram => (family.name.clone(), proto::MetricType::Histogram),
    };
    let metric = match family.ty {
        Type::Histogram => family
            .histograms
            .iter()
            .filter_map(|(l, h)| {
                Some(proto::Metric {
                    label: labels(l),
                    histogram: Some(native(h)?),
                    ..proto::Metric::default()
                })
            })
            .collect(),
        _ => family
            .samples
            .iter()
            .filter_map(|sample| {
                let value = sample.value.as_f64()?;
                let mut metric = proto::Metric {
                    label: labels(&sample.labels),
                    ..proto::Metric::default()
                };
                if family.ty == Type::Counter {
                    metric.counter = Some(proto::Counter { value });
                } else {
                    metric.gauge = Some(proto::Gauge { value });
                }
                Some(metric)
            })
            .collect(),
    };
    proto::MetricFamily {
        name,
        help,
        r#type: ty as i32,
        metric,
    }
}

/// The help text as the text format gives it (unescaped: protobuf needs no
/// escapes): the field's, then its label, kind and unit.
fn describe(family: &Family) -> String {
    if family.label.is_empty() {
        return family.help.clone();
    }
    let mut text = String::new();
    if !family.help.is_empty() {
        text.push_str(family.help.trim_end());
        text.push(' ');
    }
    text.push_str(&format!("(mmstats field {}, {}", family.label, family.kind));
    if !family.unit.is_empty() {
        text.push_str(&format!(", in {}", family.unit));
    }
    text.push(')');
    text
}

/// The native index of regular bucket `i` (0 is the first) of `h`:
/// `h.first + i`, the index whose upper bound is `2^(index / 2^schema)`.
/// `None` beyond `i32`.
pub fn native_index(h: &Histogram, i: usize) -> Option<i32> {
    i32::try_from(h.first.checked_add(i64::try_from(i).ok()?)?).ok()
}

/// `h` as a protobuf histogram: the native histogram's fields and the
/// classic buckets (see the [module docs](self)). `None` for a geometry
/// whose indexes do not fit the protocol's 32 bits (no histogram this crate
/// writes or reads).
pub fn native(h: &Histogram) -> Option<proto::Histogram> {
    // The non-empty buckets by native index, the overflow bucket just
    // above the range.
    let overflow = native_index(h, h.buckets.len())?;
    let mut filled: Vec<(i32, u64)> = Vec::new();
    for (i, &c) in h.buckets.iter().enumerate() {
        if c > 0 {
            filled.push((native_index(h, i)?, c));
        }
    }
    if h.overflow > 0 {
        filled.push((overflow, h.overflow));
    }
    let mut spans: Vec<proto::BucketSpan> = Vec::new();
    let mut deltas = Vec::with_capacity(filled.len());
    let mut previous: Option<(i32, u64)> = None;
    for &(index, count) in &filled {
        let count_i = i64::try_from(count).unwrap_or(i64::MAX);
        match previous {
            Some((p, _)) if p.checked_add(1) == Some(index) => {
                if let Some(last) = spans.last_mut() {
                    last.length = last.length.saturating_add(1);
                }
            }
            Some((p, _)) => spans.push(proto::BucketSpan {
                offset: index.checked_sub(p)?.checked_sub(1)?,
                length: 1,
            }),
            None => spans.push(proto::BucketSpan {
                offset: index,
                length: 1,
            }),
        }
        let before = previous.map_or(0, |(_, c)| i64::try_from(c).unwrap_or(i64::MAX));
        deltas.push(count_i.saturating_sub(before));
        previous = Some((index, count));
    }
    let bucket = series::classic_buckets(h)
        .into_iter()
        .filter(|(le, _)| le.is_finite())
        .map(|(upper_bound, cumulative_count)| proto::Bucket {
            cumulative_count,
            upper_bound,
        })
        .collect();
    Some(proto::Histogram {
        sample_count: h.total(),
        sample_sum: h.sum,
        bucket,
        schema: i32::from(h.schema),
        zero_threshold: h.bound(-1),
        zero_count: h.zero,
        negative_span: Vec::new(),
        negative_delta: Vec::new(),
        positive_span: spans,
        positive_delta: deltas,
    })
}
