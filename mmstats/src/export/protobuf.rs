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

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::proto::{BucketSpan, MetricFamily, MetricType};
    use super::*;
    use crate::fields::histogram::{index_of, upper_bound};
    use crate::MmStats;

    #[derive(crate::MmStats)]
    #[mmstats(crate = "crate", prefix = "web.")]
    struct Web {
        /// Requests answered.
        requests: crate::Counter,
        /// Connections open.
        open: crate::Gauge<i64>,
        /// The build.
        version: crate::Text,
        /// Time to answer.
        #[mmstats(unit = "seconds")]
        latency: crate::Histogram,
    }

    fn histogram(first: i64, zero: u64, buckets: Vec<u64>, overflow: u64) -> Histogram {
        let count = zero + overflow + buckets.iter().sum::<u64>();
        Histogram {
            schema: 4,
            first,
            zero,
            buckets,
            overflow,
            count,
            sum: 12.5,
            invalid: 0,
        }
    }

    /// The native index of a bucket is the index whose upper bound is
    /// `2^(index / 2^schema)`, and the writer sorts a value into the
    /// bucket of that index: known bounds of schemas 4 and 2, known values.
    #[test]
    fn a_bucket_has_the_native_index_of_its_bounds() {
        // Exact powers of two and the bounds client_golang lists for schema 4.
        let known = [
            (4, 0, 1.0),
            (4, 16, 2.0),
            (4, -16, 0.5),
            (4, -480, 2f64.powi(-30)),
            (4, 8, std::f64::consts::SQRT_2),
            (4, -15, 0.5221368912137069),
            (4, -14, 0.5452538663326288),
            (4, -1, 0.9576032806985737),
            (2, 1, 1.189207115002721),
            (2, -3, 0.5946035575013605),
        ];
        for (schema, index, bound) in known {
            let ours = upper_bound(schema, index).unwrap();
            assert!(
                (ours / bound - 1.0).abs() < 4.0 * f64::EPSILON,
                "schema {schema} index {index}: {ours} vs {bound}"
            );
            let formula = (index as f64 / f64::from(1u32 << schema)).exp2();
            assert!((ours / formula - 1.0).abs() < 4.0 * f64::EPSILON);
        }
        // Upper bounds are inclusive: 1.0 is in bucket 0, just above it in 1.
        assert_eq!(index_of(4, 1.0), Some(0));
        assert_eq!(index_of(4, 1.0 + 1e-12), Some(1));
        assert_eq!(index_of(4, 2.0), Some(16));
        assert_eq!(index_of(4, 3.0), Some(26)); // 2^(25/16) = 2.95 < 3 <= 2^(26/16) = 3.08
        assert_eq!(index_of(4, 0.099), Some(-53));
        let b = |i| upper_bound(4, i).unwrap();
        assert!(b(-54) < 0.099 && 0.099 <= b(-53), "{} {}", b(-54), b(-53));
        // A written histogram's buckets land at those native indexes.
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        for v in [1.0, 2.0, 3.0, 3.0, 0.099] {
            stats.latency.record(v);
        }
        let snapshot = crate::reader::read_path(stats.path().unwrap()).unwrap();
        let h = Histogram::read(&snapshot, "web.latency").unwrap().unwrap();
        let native = native(&h).unwrap();
        assert_eq!(native.schema, 4);
        assert_eq!(native.zero_threshold, 2f64.powi(-30));
        let indexes: Vec<i32> = expand(&native.positive_span);
        assert_eq!(indexes, [-53, 0, 16, 26]);
        assert_eq!(counts(&native.positive_delta), [1, 1, 1, 2]);
        for index in &indexes {
            let at = usize::try_from(i64::from(*index) - h.first).unwrap();
            assert!(h.buckets[at] > 0);
            assert_eq!(native_index(&h, at), Some(*index));
            assert_eq!(
                h.bound(at as i64),
                upper_bound(4, i64::from(*index)).unwrap()
            );
        }
    }

    /// The native indexes the spans stand for.
    fn expand(spans: &[BucketSpan]) -> Vec<i32> {
        let mut out = Vec::new();
        let mut next = 0i32;
        for (n, span) in spans.iter().enumerate() {
            next = if n == 0 {
                span.offset
            } else {
                next + span.offset
            };
            for _ in 0..span.length {
                out.push(next);
                next += 1;
            }
        }
        out
    }

    /// The counts the deltas stand for.
    fn counts(deltas: &[i64]) -> Vec<i64> {
        deltas
            .iter()
            .scan(0i64, |c, d| {
                *c += d;
                Some(*c)
            })
            .collect()
    }

    #[test]
    fn a_sparse_histogram_is_spans_of_its_runs_and_deltas_of_its_counts() {
        // Regular buckets from index -10: filled at -9, -8, -5, 0, 1, 2;
        // the overflow bucket just above the last (index 2): index 3.
        let mut buckets = vec![0u64; 13];
        for (index, count) in [(-9, 4), (-8, 1), (-5, 7), (0, 3), (1, 3), (2, 10)] {
            buckets[(index + 10) as usize] = count;
        }
        let h = histogram(-10, 5, buckets, 2);
        let n = native(&h).unwrap();
        assert_eq!(
            n.positive_span,
            [
                BucketSpan {
                    offset: -9,
                    length: 2
                },
                BucketSpan {
                    offset: 2,
                    length: 1
                },
                BucketSpan {
                    offset: 4,
                    length: 4
                },
            ]
        );
        assert_eq!(n.positive_delta, [4, -3, 6, -4, 0, 7, -8]);
        assert_eq!(expand(&n.positive_span), [-9, -8, -5, 0, 1, 2, 3]);
        assert_eq!(counts(&n.positive_delta), [4, 1, 7, 3, 3, 10, 2]);
        assert_eq!((n.zero_count, n.sample_count, n.sample_sum), (5, 35, 12.5));
        assert_eq!(n.zero_threshold, upper_bound(4, -11).unwrap());
        assert!(n.negative_span.is_empty() && n.negative_delta.is_empty());
        // The classic buckets: every fourth bound (schema 4), cumulative,
        // no +Inf (the count stands for it), as the text format's `le`s.
        let classic: Vec<(f64, u64)> = n
            .bucket
            .iter()
            .map(|b| (b.upper_bound, b.cumulative_count))
            .collect();
        let expected: Vec<(f64, u64)> = series::classic_buckets(&h)
            .into_iter()
            .filter(|(le, _)| le.is_finite())
            .collect();
        assert_eq!(classic, expected);
        assert_eq!(
            classic,
            [
                (upper_bound(4, -11).unwrap(), 5),
                (upper_bound(4, -8).unwrap(), 10),
                (upper_bound(4, -4).unwrap(), 17),
                (upper_bound(4, 0).unwrap(), 20)
            ]
        );
    }

    #[test]
    fn an_empty_histogram_has_no_span_but_keeps_its_zero_bucket() {
        let h = histogram(-479, 0, vec![0; 752], 0);
        let n = native(&h).unwrap();
        assert!(n.positive_span.is_empty() && n.positive_delta.is_empty());
        assert_eq!((n.sample_count, n.zero_count), (0, 0));
        // A zero threshold above 0: Prometheus takes it for a native
        // histogram even with no value yet.
        assert_eq!(n.zero_threshold, 2f64.powi(-30));
        assert!(n.bucket.iter().all(|b| b.cumulative_count == 0));
        // Only the zero bucket: no span either.
        let n = native(&histogram(-479, 3, vec![0; 752], 0)).unwrap();
        assert!(n.positive_span.is_empty());
        assert_eq!((n.sample_count, n.zero_count), (3, 3));
    }

    #[test]
    fn indexes_beyond_32_bits_give_no_histogram() {
        let h = histogram(i64::from(i32::MAX) - 1, 0, vec![1, 1], 0);
        assert_eq!(native(&h), None);
    }

    /// The answer decodes, with the same messages, into the model's
    /// families: names, types, labels and values as the text format has
    /// them, the histogram whole.
    #[test]
    fn the_exposition_decodes_into_the_models_families() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        stats.requests.incr_by(41);
        stats.open.set(-3);
        stats.version.set("1.2");
        for us in [5u32, 5, 70, 900, 12_000] {
            stats.latency.record(f64::from(us) * 1e-6);
        }
        let snapshot = crate::reader::read_path(stats.path().unwrap()).unwrap();
        let (model, _) = series::model(&[snapshot], 0, &series::Options::default(), None);
        let bytes = render(&model);
        let mut rest = bytes.as_slice();
        let mut decoded = Vec::new();
        while !rest.is_empty() {
            decoded.push(MetricFamily::decode_length_delimited(&mut rest).unwrap());
        }
        assert_eq!(decoded, families(&model));
        let by_name = |name: &str| decoded.iter().find(|f| f.name == name).unwrap();
        let requests = by_name("mmstats_web_requests_total");
        assert_eq!(requests.r#type, MetricType::Counter as i32);
        assert_eq!(
            requests.help,
            "Requests answered. (mmstats field web.requests, counter)"
        );
        let metric = &requests.metric[0];
        assert_eq!(metric.counter.as_ref().unwrap().value, 41.0);
        let names: Vec<&str> = metric.label.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["cmd", "pid"]);
        let open = by_name("mmstats_web_open");
        assert_eq!(open.r#type, MetricType::Gauge as i32);
        assert_eq!(open.metric[0].gauge.as_ref().unwrap().value, -3.0);
        let version = by_name("mmstats_web_version_info");
        assert_eq!(version.r#type, MetricType::Gauge as i32);
        let info = &version.metric[0];
        assert_eq!(info.gauge.as_ref().unwrap().value, 1.0);
        assert!(info
            .label
            .iter()
            .any(|l| l.name == "value" && l.value == "1.2"));
        let files = by_name("mmstats_exporter_files");
        assert_eq!(files.metric[0].gauge.as_ref().unwrap().value, 1.0);
        let latency = by_name("mmstats_web_latency_seconds");
        assert_eq!(latency.r#type, MetricType::Histogram as i32);
        let h = latency.metric[0].histogram.as_ref().unwrap();
        assert_eq!((h.sample_count, h.schema, h.zero_count), (5, 4, 0));
        assert!((h.sample_sum - 0.01298).abs() < 1e-12);
        let indexes = expand(&h.positive_span);
        let expected: Vec<i32> = [5e-6, 70e-6, 900e-6, 12e-3]
            .iter()
            .map(|&v| i32::try_from(index_of(4, v).unwrap()).unwrap())
            .collect();
        assert_eq!(indexes, expected);
        assert_eq!(counts(&h.positive_delta), [2, 1, 1, 1]);
        // The text format's `le` bounds, the +Inf one aside.
        let text = crate::export::prometheus::render(&model, &[]);
        let les = text
            .lines()
            .filter(|l| l.starts_with("mmstats_web_latency_seconds_bucket{"))
            .count();
        assert_eq!(h.bucket.len() + 1, les);
        for b in &h.bucket {
            let le = format!("le=\"{:?}\"}} {}", b.upper_bound, b.cumulative_count);
            assert!(text.contains(&le), "{le}");
        }
    }
}
