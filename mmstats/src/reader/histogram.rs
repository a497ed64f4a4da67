//! A histogram assembled from the fields of its group (see
//! [`crate::Histogram`] for the layout): counts, geometry, quantiles,
//! exact merging and windows.

// Runs on whatever files users give: nothing here may panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt;

use super::types::{Snapshot, Value};
use crate::fields::histogram::{upper_bound, MAX_BUCKETS, MAX_EXPONENT, MAX_SCHEMA};
use crate::format::Kind;

/// The suffixes of a histogram's parts, in file order after its count.
pub const PARTS: [&str; 6] = [".sum", ".invalid", ".schema", ".first", ".buckets", ".seq"];

/// A histogram as read: the geometry, the count in each bucket, the count
/// and the sum of the values.
///
/// Bucket `i` (from [`Histogram::first`]) holds the values in
/// `(bound(i-1), bound(i)]`, where `bound(i) = 2^(i/2^schema)` (as
/// [`crate::fields::histogram::upper_bound`] computes it); the zero bucket
/// holds zero and every value up to `bound(first - 1)`, the overflow bucket
/// every value above the last bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// 2^schema buckets per doubling.
    pub schema: u8,
    /// The index of the first regular bucket.
    pub first: i64,
    /// Values at or below the lowest bound.
    pub zero: u64,
    /// The regular buckets, from `first` on.
    pub buckets: Vec<u64>,
    /// Values above the highest bound.
    pub overflow: u64,
    /// How many values were recorded: exact, 64 bits.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// How many values were NaN or below zero: in no bucket, not in the count.
    pub invalid: u64,
}

/// Why a histogram could not be read or merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistogramError {
    /// A part is missing or of the wrong type.
    Missing {
        /// The histogram's label.
        label: String,
        /// The part's suffix.
        part: &'static str,
    },
    /// The group never settled (see [`Snapshot::unsettled`]).
    Unsettled {
        /// The histogram's label.
        label: String,
    },
    /// A schema beyond 8, or bounds beyond what `f64` holds.
    Geometry {
        /// The histogram's label.
        label: String,
    },
    /// The buckets do not add up to the count (modulo 2^32, see
    /// [`Histogram::wrapped`]), or add up to more.
    Inconsistent {
        /// The histogram's label.
        label: String,
        /// The count.
        count: u64,
        /// The sum of the buckets.
        buckets: u64,
    },
    /// Two histograms of different schemas or ranges cannot be merged
    /// exactly.
    Mismatch,
}

impl fmt::Display for HistogramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistogramError::Missing { label, part } => {
                write!(
                    f,
                    "histogram {label}: part {part} missing or of the wrong type"
                )
            }
            HistogramError::Unsettled { label } => {
                write!(f, "histogram {label}: its group never settled")
            }
            HistogramError::Geometry { label } => {
                write!(f, "histogram {label}: schema or range out of bounds")
            }
            HistogramError::Inconsistent {
                label,
                count,
                buckets,
            } => write!(
                f,
                "histogram {label}: the buckets hold {buckets} values but the count is {count}"
            ),
            HistogramError::Mismatch => f.write_str("histograms of different schemas or ranges"),
        }
    }
}

impl std::error::Error for HistogramError {}

impl Histogram {
    /// The histogram labelled `label` in `snapshot`, if the snapshot has a
    /// field of that label of [`Kind::Histogram`]; validated by its group's
    /// sequence number (a group that never settled is an error) and by its
    /// buckets adding up to its count.
    pub fn read(snapshot: &Snapshot, label: &str) -> Option<Result<Histogram, HistogramError>> {
        let at = snapshot
            .stats
            .iter()
            .position(|s| s.label == label && s.kind == Kind::Histogram)?;
        Some(Histogram::from_parts(snapshot, at))
    }

    fn from_parts(snapshot: &Snapshot, at: usize) -> Result<Histogram, HistogramError> {
        let main = snapshot.stats.get(at).ok_or(HistogramError::Mismatch)?;
        let label = main.label.as_str();
        let missing = |part| HistogramError::Missing {
            label: label.to_string(),
            part,
        };
        // The parts follow the count in file order.
        let part = |i: usize| {
            let suffix = *PARTS.get(i).unwrap_or(&"");
            snapshot
                .stats
                .get(at.saturating_add(1).saturating_add(i))
                .filter(|s| {
                    s.label.len() == label.len().saturating_add(suffix.len())
                        && s.label.starts_with(label)
                        && s.label.ends_with(suffix)
                })
                .map(|s| &s.value)
                .ok_or_else(|| missing(suffix))
        };
        let seq_label = format!("{label}.seq");
        if snapshot.unsettled.contains(&seq_label) {
            return Err(HistogramError::Unsettled {
                label: label.to_string(),
            });
        }
        let count = match main.value {
            Value::Unsigned(n) => n,
            _ => return Err(missing("")),
        };
        let sum = match part(0)? {
            Value::Float(x) => *x,
            _ => return Err(missing(".sum")),
        };
        let invalid = match part(1)? {
            Value::Unsigned(n) => *n,
            _ => return Err(missing(".invalid")),
        };
        let schema = match part(2)? {
            Value::Signed(n) => *n,
            _ => return Err(missing(".schema")),
        };
        let first = match part(3)? {
            Value::Signed(n) => *n,
            _ => return Err(missing(".first")),
        };
        let counts = match part(4)? {
            Value::Counts(c) => c,
            _ => return Err(missing(".buckets")),
        };
        part(5)?;
        let geometry = || HistogramError::Geometry {
            label: label.to_string(),
        };
        let schema = u8::try_from(schema)
            .ok()
            .filter(|&s| s <= MAX_SCHEMA)
            .ok_or_else(geometry)?;
        let (zero, rest) = counts.split_first().ok_or_else(geometry)?;
        let (overflow, regular) = rest.split_last().ok_or_else(geometry)?;
        let n = i64::try_from(regular.len()).map_err(|_| geometry())?;
        let limit = i64::from(MAX_EXPONENT) << schema;
        let last = first.checked_add(n).ok_or_else(geometry)?;
        if regular.len() > MAX_BUCKETS
            || first.saturating_sub(1) < limit.saturating_neg()
            || last > limit
        {
            return Err(geometry());
        }
        let histogram = Histogram {
            schema,
            first,
            zero: u64::from(*zero),
            buckets: regular.iter().map(|&c| u64::from(c)).collect(),
            overflow: u64::from(*overflow),
            count,
            sum,
            invalid,
        };
        let total = histogram.total();
        // Every bucket wraps modulo 2^32, the count does not.
        if total > count || (count.wrapping_sub(total)) % (1 << 32) != 0 {
            return Err(HistogramError::Inconsistent {
                label: label.to_string(),
                count,
                buckets: total,
            });
        }
        Ok(histogram)
    }

    /// Every histogram of `snapshot`: its label and the histogram, or why
    /// it could not be read.
    pub fn all(snapshot: &Snapshot) -> Vec<(&str, Result<Histogram, HistogramError>)> {
        snapshot
            .stats
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == Kind::Histogram)
            .map(|(i, s)| (s.label.as_str(), Histogram::from_parts(snapshot, i)))
            .collect()
    }

    /// The values the buckets hold: the count, less what wrapped around
    /// (see [`Histogram::wrapped`]).
    pub fn total(&self) -> u64 {
        self.buckets
            .iter()
            .fold(self.zero.saturating_add(self.overflow), |a, &b| {
                a.saturating_add(b)
            })
    }

    /// How many values the buckets no longer hold because a bucket's 32-bit
    /// count wrapped around (a multiple of 2^32; 0 unless more than 2^32
    /// values fell in one bucket of one file). Quantiles are over the
    /// values the buckets hold; the count stays exact.
    pub fn wrapped(&self) -> u64 {
        self.count.saturating_sub(self.total())
    }

    /// The mean of the values, `None` when there is none.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// The upper bound of regular bucket `i` of this histogram (0 is the
    /// first); `i = -1` gives the lowest bound (the zero bucket's top).
    pub fn bound(&self, i: i64) -> f64 {
        upper_bound(self.schema, self.first.saturating_add(i)).unwrap_or(f64::INFINITY)
    }

    /// Every bucket with its lower and upper bounds and its count, the zero
    /// bucket (`[0, lowest]`) first and the overflow bucket (`(highest,
    /// +inf]`) last.
    pub fn bounded(&self) -> impl Iterator<Item = (f64, f64, u64)> + '_ {
        let n = self.buckets.len() as i64;
        std::iter::once((0.0, self.bound(-1), self.zero))
            .chain(self.buckets.iter().enumerate().map(|(i, &c)| {
                (
                    self.bound((i as i64).saturating_sub(1)),
                    self.bound(i as i64),
                    c,
                )
            }))
            .chain(std::iter::once((
                self.bound(n.saturating_sub(1)),
                f64::INFINITY,
                self.overflow,
            )))
    }

    /// The buckets that hold values, as their upper bound and count
    /// (`+inf` for the overflow bucket).
    pub fn non_empty(&self) -> Vec<(f64, u64)> {
        self.bounded()
            .filter(|&(_, _, c)| c > 0)
            .map(|(_, upper, c)| (upper, c))
            .collect()
    }

    /// The `q`-quantile (`q` in `[0, 1]`, clamped) of the values, by
    /// nearest rank: the value of rank `ceil(q * n)` (at least 1) of the
    /// `n` values the buckets hold, reported as the geometric middle of its
    /// bucket, so within `sqrt(2^(2^-schema)) - 1` (2.2 % at schema 4) of
    /// the exact value for every value within the range; `0.0` for a value
    /// in the zero bucket, the highest bound for one above it. `None`
    /// when the buckets hold no value.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.total();
        if n == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for (lower, upper, c) in self.bounded() {
            seen = seen.saturating_add(c);
            if seen >= rank {
                return Some(if lower == 0.0 {
                    0.0
                } else if upper.is_infinite() {
                    lower
                } else {
                    (lower * upper).sqrt()
                });
            }
        }
        None
    }

    /// The bucket that holds the smallest value, as its lower and upper
    /// bounds.
    pub fn min_bounds(&self) -> Option<(f64, f64)> {
        self.bounded()
            .find(|&(_, _, c)| c > 0)
            .map(|(l, u, _)| (l, u))
    }

    /// The bucket that holds the largest value, as its lower and upper
    /// bounds (`+inf` above the range).
    pub fn max_bounds(&self) -> Option<(f64, f64)> {
        self.bounded()
            .filter(|&(_, _, c)| c > 0)
            .last()
            .map(|(l, u, _)| (l, u))
    }

    /// One number by its name, as tools take it after a label
    /// (`latency:p99`): `count`, `sum`, `mean`, `invalid`, `min` and `max`
    /// (the lower and upper bounds of the buckets of the smallest and the
    /// largest value), or a quantile such as `p50`, `p99`, `p999` (see
    /// [`quantile_of`]). `None` for another name; `Some(None)` when there is
    /// no value (no value recorded).
    pub fn statistic(&self, name: &str) -> Option<Option<f64>> {
        Some(match name {
            "count" => Some(self.count as f64),
            "sum" => Some(self.sum),
            "mean" => self.mean(),
            "invalid" => Some(self.invalid as f64),
            "min" => self.min_bounds().map(|(lower, _)| lower),
            "max" => self.max_bounds().map(|(_, upper)| upper),
            other => self.quantile(quantile_of(other)?),
        })
    }

    /// Whether `name` is one of the names [`Histogram::statistic`] knows.
    pub fn is_statistic(name: &str) -> bool {
        matches!(name, "count" | "sum" | "mean" | "invalid" | "min" | "max")
            || quantile_of(name).is_some()
    }

    /// Whether `other` has the same buckets, so that the two merge exactly.
    pub fn same_buckets(&self, other: &Histogram) -> bool {
        self.schema == other.schema
            && self.first == other.first
            && self.buckets.len() == other.buckets.len()
    }

    /// Adds `other` in, bucket by bucket (exact, saturating).
    pub fn merge(&mut self, other: &Histogram) -> Result<(), HistogramError> {
        if !self.same_buckets(other) {
            return Err(HistogramError::Mismatch);
        }
        self.zero = self.zero.saturating_add(other.zero);
        self.overflow = self.overflow.saturating_add(other.overflow);
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.invalid = self.invalid.saturating_add(other.invalid);
        Ok(())
    }

    /// The values recorded between `earlier` and this read of the same
    /// file: each bucket's change taken modulo 2^32 (exact while fewer than
    /// 2^32 values fall in one bucket between the two reads). `None` when
    /// the two cannot be of one writer in that order (other buckets, or
    /// a count that went down: the writer restarted), in which case this
    /// read's values are all new.
    pub fn since(&self, earlier: &Histogram) -> Option<Histogram> {
        if !self.same_buckets(earlier) || self.count < earlier.count {
            return None;
        }
        let delta = |now: u64, before: u64| u64::from((now as u32).wrapping_sub(before as u32));
        Some(Histogram {
            schema: self.schema,
            first: self.first,
            zero: delta(self.zero, earlier.zero),
            buckets: self
                .buckets
                .iter()
                .zip(&earlier.buckets)
                .map(|(&a, &b)| delta(a, b))
                .collect(),
            overflow: delta(self.overflow, earlier.overflow),
            count: self.count.saturating_sub(earlier.count),
            sum: self.sum - earlier.sum,
            invalid: self.invalid.saturating_sub(earlier.invalid),
        })
    }
}

impl fmt::Display for Histogram {
    /// `count=N p50=.. p90=.. p99=.. p999=.. max=..` (the max as the upper
    /// bound of the highest bucket that holds a value).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "count={}", self.count)?;
        for (name, q) in QUANTILES {
            match self.quantile(q) {
                Some(v) => write!(f, " {name}={}", Sig(v))?,
                None => write!(f, " {name}=-")?,
            }
        }
        match self.max_bounds() {
            Some((_, upper)) => write!(f, " max<={}", Sig(upper))?,
            None => f.write_str(" max=-")?,
        }
        if self.invalid > 0 {
            write!(f, " invalid={}", self.invalid)?;
        }
        if self.wrapped() > 0 {
            write!(f, " wrapped={}", self.wrapped())?;
        }
        Ok(())
    }
}

/// A number to 4 significant digits (the quantiles are within 2.2 %).
struct Sig(f64);

impl fmt::Display for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x == 0.0 || !x.is_finite() {
            return write!(f, "{x}");
        }
        let digits = 3i32.saturating_sub(x.abs().log10().floor() as i32);
        let scale = 10f64.powi(digits);
        let rounded = (x * scale).round() / scale;
        write!(f, "{rounded}")
    }
}

/// The quantiles tools show by default, with their names.
pub const QUANTILES: [(&str, f64); 4] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

/// The quantile a name such as `p99`, `p999` or `p50` stands for: the
/// digits after `p` read as a fraction (`p999` is 0.999, `p5` is 0.5).
pub fn quantile_of(name: &str) -> Option<f64> {
    let digits = name.strip_prefix('p')?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    format!("0.{digits}").parse().ok()
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
    use super::*;

    use crate::MmStats;

    #[derive(crate::MmStats)]
    #[mmstats(crate = "crate", prefix = "web.")]
    struct Web {
        #[mmstats(unit = "seconds")]
        latency: crate::Histogram,
        #[mmstats(unit = "bytes")]
        size: crate::Histogram,
    }

    fn read(stats: &crate::Stats<Web>) -> Snapshot {
        super::super::read_path(stats.path().unwrap()).unwrap()
    }

    #[test]
    fn a_file_gives_its_histograms_whole() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        for us in 1..=100_000u32 {
            stats.latency.record(f64::from(us) * 1e-6);
        }
        stats.size.record(1.0);
        stats.size.record(1e12);
        let snapshot = read(&stats);
        // Under its own label, the count, as old readers show it.
        assert_eq!(
            snapshot.get("web.latency").unwrap().value,
            Value::Unsigned(100_000)
        );
        assert_eq!(
            snapshot.get("web.latency.buckets").unwrap().signature,
            "754I"
        );
        let h = Histogram::read(&snapshot, "web.latency").unwrap().unwrap();
        assert_eq!((h.schema, h.first, h.buckets.len()), (4, -479, 752));
        assert_eq!(
            (h.count, h.total(), h.wrapped(), h.invalid),
            (100_000, 100_000, 0, 0)
        );
        assert!((h.sum - 5000.05).abs() < 1e-6, "{}", h.sum);
        assert_eq!(h.bound(-1), 2f64.powi(-30));
        let p99 = h.quantile(0.99).unwrap();
        assert!((p99 / 0.099 - 1.0).abs() < 0.025, "{p99}");
        let (lo, hi) = h.min_bounds().unwrap();
        assert!(lo < 1e-6 && 1e-6 <= hi);
        let (lo, hi) = h.max_bounds().unwrap();
        assert!(lo < 0.1 && 0.1 <= hi);
        assert_eq!(h.mean(), Some(h.sum / 100_000.0));
        let size = Histogram::read(&snapshot, "web.size").unwrap().unwrap();
        assert_eq!(size.first, -15);
        assert_eq!(
            size.quantile(0.0),
            Some((size.bound(14) * size.bound(15)).sqrt())
        );
        assert_eq!(size.non_empty().len(), 2);
        assert!((size.quantile(1.0).unwrap() / 1e12 - 1.0).abs() < 0.022);
    }

    #[test]
    fn nan_and_negative_values_are_counted_apart_never_in_a_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        stats.latency.record(0.5);
        for bad in [f64::NAN, -1.0, f64::NEG_INFINITY, -f64::NAN] {
            stats.latency.record(bad);
        }
        stats.latency.record(-0.0);
        stats.latency.record(f64::INFINITY);
        stats.latency.record(1e9);
        let h = Histogram::read(&read(&stats), "web.latency")
            .unwrap()
            .unwrap();
        assert_eq!((h.count, h.invalid, h.zero, h.overflow), (4, 4, 1, 2));
        assert_eq!(stats.latency.invalid(), 4);
        assert_eq!(h.sum, f64::INFINITY);
        assert_eq!(h.quantile(0.0), Some(0.0));
        assert_eq!(h.quantile(1.0), Some(2f64.powi(17)));
        assert_eq!(h.max_bounds(), Some((2f64.powi(17), f64::INFINITY)));
    }

    fn forged(count: u64, buckets: &[(usize, u32)]) -> Snapshot {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        stats.latency.record(1.0);
        let mut snapshot = read(&stats);
        for stat in &mut snapshot.stats {
            if stat.label == "web.latency" {
                stat.value = Value::Unsigned(count);
            }
            if stat.label == "web.latency.buckets" {
                let Value::Counts(c) = &mut stat.value else {
                    panic!()
                };
                c.iter_mut().for_each(|c| *c = 0);
                for &(i, n) in buckets {
                    c[i] = n;
                }
            }
        }
        snapshot
    }

    #[test]
    fn buckets_that_do_not_add_up_to_the_count_are_an_error() {
        let snapshot = forged(5, &[(10, 4)]);
        assert_eq!(
            Histogram::read(&snapshot, "web.latency").unwrap(),
            Err(HistogramError::Inconsistent {
                label: "web.latency".into(),
                count: 5,
                buckets: 4
            })
        );
        let snapshot = forged(3, &[(10, 4)]);
        assert!(Histogram::read(&snapshot, "web.latency").unwrap().is_err());
        let mut snapshot = forged(1, &[(10, 1)]);
        snapshot.unsettled.push("web.latency.seq".into());
        assert_eq!(
            Histogram::read(&snapshot, "web.latency").unwrap(),
            Err(HistogramError::Unsettled {
                label: "web.latency".into()
            })
        );
        let mut snapshot = forged(1, &[(10, 1)]);
        for stat in &mut snapshot.stats {
            if stat.label == "web.latency.schema" {
                stat.value = Value::Signed(9);
            }
        }
        assert!(matches!(
            Histogram::read(&snapshot, "web.latency").unwrap(),
            Err(HistogramError::Geometry { .. })
        ));
        snapshot.stats.retain(|s| s.label != "web.latency.sum");
        assert!(matches!(
            Histogram::read(&snapshot, "web.latency").unwrap(),
            Err(HistogramError::Missing { part: ".sum", .. })
        ));
    }

    #[test]
    fn a_bucket_that_wrapped_keeps_the_count_exact_and_windows_exact() {
        // 2^32 + 3 values, of which 2^32 + 1 in one bucket that wrapped to 1.
        let before = forged((1 << 32) + 3, &[(10, 1), (11, 2)]);
        let before = Histogram::read(&before, "web.latency").unwrap().unwrap();
        assert_eq!(
            (before.count, before.total(), before.wrapped()),
            ((1 << 32) + 3, 3, 1 << 32)
        );
        assert!(before.to_string().contains("wrapped=4294967296"));
        // Then 10 more in that bucket (it reads 11) and 5 in another one
        // that wraps on the way (u32::MAX - 2 + 5 = 2 modulo 2^32).
        let earlier = forged(u64::from(u32::MAX), &[(10, 2), (12, u32::MAX - 2)]);
        let earlier = Histogram::read(&earlier, "web.latency").unwrap().unwrap();
        let later = forged(u64::from(u32::MAX) + 15, &[(10, 12), (12, 2)]);
        let later = Histogram::read(&later, "web.latency").unwrap().unwrap();
        let window = later.since(&earlier).unwrap();
        assert_eq!(window.count, 15);
        assert_eq!(window.total(), 15);
        assert_eq!((window.buckets[9], window.buckets[11]), (10, 5));
        // A count that went down is a new writer: no window.
        assert_eq!(earlier.since(&later), None);
    }

    #[test]
    fn merging_is_exact_and_needs_the_same_buckets() {
        let a = Histogram::read(&forged(3, &[(10, 1), (11, 2)]), "web.latency")
            .unwrap()
            .unwrap();
        let mut b = Histogram::read(&forged(2, &[(11, 1), (700, 1)]), "web.latency")
            .unwrap()
            .unwrap();
        b.merge(&a).unwrap();
        assert_eq!(
            (
                b.count,
                b.total(),
                b.buckets[9],
                b.buckets[10],
                b.buckets[699]
            ),
            (5, 5, 1, 3, 1)
        );
        let mut other = a.clone();
        other.schema = 3;
        assert_eq!(b.merge(&other), Err(HistogramError::Mismatch));
        assert_eq!(b.count, 5);
    }

    /// `forged` with another geometry: `schema`, `first` and `n` regular
    /// buckets, all empty, and a count of 0.
    fn shaped(schema: i64, first: i64, n: usize) -> Snapshot {
        let mut snapshot = forged(0, &[]);
        for stat in &mut snapshot.stats {
            match stat.label.as_str() {
                "web.latency.schema" => stat.value = Value::Signed(schema),
                "web.latency.first" => stat.value = Value::Signed(first),
                "web.latency.buckets" => stat.value = Value::Counts(vec![0; n + 2]),
                _ => {}
            }
        }
        snapshot
    }

    fn geometry_of(snapshot: &Snapshot) -> Result<(u8, i64, usize), HistogramError> {
        Histogram::read(snapshot, "web.latency")
            .unwrap()
            .map(|h| (h.schema, h.first, h.buckets.len()))
    }

    #[test]
    fn a_range_that_reaches_the_limits_is_read_and_one_beyond_them_is_not() {
        let refused = |snapshot: &Snapshot| {
            matches!(geometry_of(snapshot), Err(HistogramError::Geometry { .. }))
        };
        // The most buckets, and one more.
        assert_eq!(
            geometry_of(&shaped(8, 0, MAX_BUCKETS)),
            Ok((8, 0, MAX_BUCKETS))
        );
        assert!(refused(&shaped(8, 0, MAX_BUCKETS + 1)));
        // The zero bucket's top at 2^-1000, and one bucket lower.
        assert_eq!(geometry_of(&shaped(0, -999, 1)), Ok((0, -999, 1)));
        assert!(refused(&shaped(0, -1000, 1)));
        assert!(refused(&shaped(2, -4001, 3)));
        // The highest bound at 2^1000, and one bucket higher.
        assert_eq!(geometry_of(&shaped(0, 999, 1)), Ok((0, 999, 1)));
        assert!(refused(&shaped(0, 1000, 1)));
        assert_eq!(geometry_of(&shaped(3, 7990, 10)), Ok((3, 7990, 10)));
        assert!(refused(&shaped(3, 7991, 10)));
        // No bucket at all (not even the zero and overflow buckets).
        let mut snapshot = shaped(0, 0, 0);
        for stat in &mut snapshot.stats {
            if stat.label == "web.latency.buckets" {
                stat.value = Value::Counts(vec![0]);
            }
        }
        assert!(refused(&snapshot));
    }

    #[test]
    fn a_part_is_found_only_under_its_own_label() {
        for wrong in ["web.latency.x.sum", "web.latencz.sum", "web.latency.sun"] {
            let mut snapshot = forged(1, &[(10, 1)]);
            for stat in &mut snapshot.stats {
                if stat.label == "web.latency.sum" {
                    stat.label = wrong.into();
                }
            }
            assert_eq!(
                Histogram::read(&snapshot, "web.latency").unwrap(),
                Err(HistogramError::Missing {
                    label: "web.latency".into(),
                    part: ".sum"
                }),
                "{wrong}"
            );
        }
    }

    #[test]
    fn buckets_that_hold_more_than_the_count_are_an_error_even_by_a_multiple_of_2_32() {
        // 2^32 + 1 values in the buckets, a count of 1: the buckets cannot
        // have wrapped to more than they held.
        let snapshot = forged(1, &[(10, u32::MAX), (11, 2)]);
        assert_eq!(
            Histogram::read(&snapshot, "web.latency").unwrap(),
            Err(HistogramError::Inconsistent {
                label: "web.latency".into(),
                count: 1,
                buckets: (1 << 32) + 1
            })
        );
    }

    #[test]
    fn every_histogram_of_a_file_is_listed_under_its_label() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        stats.latency.record(0.25);
        let snapshot = read(&stats);
        let all = Histogram::all(&snapshot);
        let labels: Vec<&str> = all.iter().map(|(label, _)| *label).collect();
        assert_eq!(labels, ["web.latency", "web.size"]);
        let counts: Vec<u64> = all.iter().map(|(_, h)| h.as_ref().unwrap().count).collect();
        assert_eq!(counts, [1, 0]);
    }

    /// Schema 0 from bucket 0: regular bucket `i` holds `(2^(i-1), 2^i]`,
    /// the zero bucket `[0, 1/2]`.
    fn doubling(zero: u64, buckets: &[u64], overflow: u64, sum: f64, invalid: u64) -> Histogram {
        let count = buckets.iter().sum::<u64>() + zero + overflow;
        Histogram {
            schema: 0,
            first: 0,
            zero,
            buckets: buckets.to_vec(),
            overflow,
            count,
            sum,
            invalid,
        }
    }

    #[test]
    fn the_smallest_and_largest_values_are_bounded_by_their_buckets() {
        let h = doubling(0, &[0, 0, 3, 0, 1], 0, 10.0, 0);
        assert_eq!(h.min_bounds(), Some((2.0, 4.0)));
        assert_eq!(h.max_bounds(), Some((8.0, 16.0)));
        let h = doubling(2, &[0, 1], 1, 10.0, 0);
        assert_eq!(h.min_bounds(), Some((0.0, 0.5)));
        assert_eq!(h.max_bounds(), Some((2.0, f64::INFINITY)));
        let empty = doubling(0, &[0, 0], 0, 0.0, 3);
        assert_eq!((empty.min_bounds(), empty.max_bounds()), (None, None));
        assert_eq!(empty.mean(), None);
    }

    #[test]
    fn each_statistic_by_its_name() {
        let h = doubling(1, &[0, 2, 0, 1], 0, 10.0, 2);
        let stat = |name| h.statistic(name);
        assert_eq!(stat("count"), Some(Some(4.0)));
        assert_eq!(stat("sum"), Some(Some(10.0)));
        assert_eq!(stat("mean"), Some(Some(2.5)));
        assert_eq!(stat("invalid"), Some(Some(2.0)));
        assert_eq!(stat("min"), Some(Some(0.0)));
        assert_eq!(stat("max"), Some(Some(8.0)));
        assert_eq!(stat("p50"), Some(Some(2f64.sqrt())));
        assert_eq!(stat("p99"), Some(Some(32f64.sqrt())));
        assert_eq!(stat("median"), None);
        assert_eq!(stat(""), None);
        let empty = doubling(0, &[0, 0], 0, 0.0, 0);
        assert_eq!(empty.statistic("count"), Some(Some(0.0)));
        assert_eq!(empty.statistic("mean"), Some(None));
        assert_eq!(empty.statistic("p50"), Some(None));
        assert_eq!(empty.statistic("max"), Some(None));
        for name in [
            "count", "sum", "mean", "invalid", "min", "max", "p50", "p999",
        ] {
            assert!(Histogram::is_statistic(name), "{name}");
        }
        for name in ["median", "", "p", "p9x", "Count"] {
            assert!(!Histogram::is_statistic(name), "{name}");
        }
    }

    #[test]
    fn merging_adds_the_sums() {
        let mut a = doubling(0, &[1, 0], 0, 1.5, 1);
        a.merge(&doubling(0, &[0, 1], 0, 2.0, 2)).unwrap();
        assert_eq!((a.count, a.sum, a.invalid), (2, 3.5, 3));
    }

    #[test]
    fn a_window_holds_what_changed_its_sum_included() {
        let earlier = doubling(1, &[2, 0], 0, 2.0, 1);
        let later = doubling(1, &[3, 4], 0, 5.0, 4);
        let window = later.since(&earlier).unwrap();
        assert_eq!(window, doubling(0, &[1, 4], 0, 3.0, 3));
        // Nothing recorded in between: an empty window, not a new writer.
        let none = later.since(&later).unwrap();
        assert_eq!((none.count, none.total(), none.sum), (0, 0, 0.0));
        assert_eq!(none.quantile(0.5), None);
    }

    #[test]
    fn a_histogram_is_shown_by_its_count_quantiles_and_max() {
        let h = doubling(1, &[0, 2, 0, 1], 0, 10.0, 0);
        assert_eq!(
            h.to_string(),
            "count=4 p50=1.414 p90=5.657 p99=5.657 p999=5.657 max<=8"
        );
        let h = doubling(2, &[0, 1], 0, 1.0, 2);
        assert_eq!(
            h.to_string(),
            "count=3 p50=0 p90=1.414 p99=1.414 p999=1.414 max<=2 invalid=2"
        );
        // Four significant digits of a large number; above the range.
        let mut buckets = vec![0; 21];
        buckets[20] = 1;
        let h = doubling(0, &buckets, 1, 1e6, 0);
        assert_eq!(
            h.to_string(),
            "count=2 p50=741500 p90=1049000 p99=1049000 p999=1049000 max<=inf"
        );
        let empty = doubling(0, &[0], 0, 0.0, 0);
        assert_eq!(empty.to_string(), "count=0 p50=- p90=- p99=- p999=- max=-");
    }

    #[test]
    fn each_error_says_what_is_wrong_with_which_histogram() {
        let label = || "web.latency".to_string();
        let messages = [
            HistogramError::Missing {
                label: label(),
                part: ".sum",
            }
            .to_string(),
            HistogramError::Unsettled { label: label() }.to_string(),
            HistogramError::Geometry { label: label() }.to_string(),
            HistogramError::Inconsistent {
                label: label(),
                count: 5,
                buckets: 4,
            }
            .to_string(),
            HistogramError::Mismatch.to_string(),
        ];
        assert_eq!(
            messages,
            [
                "histogram web.latency: part .sum missing or of the wrong type",
                "histogram web.latency: its group never settled",
                "histogram web.latency: schema or range out of bounds",
                "histogram web.latency: the buckets hold 4 values but the count is 5",
                "histograms of different schemas or ranges",
            ]
        );
    }

    #[test]
    fn quantile_names() {
        assert_eq!(quantile_of("p99"), Some(0.99));
        assert_eq!(quantile_of("p999"), Some(0.999));
        assert_eq!(quantile_of("p5"), Some(0.5));
        assert_eq!(quantile_of("p"), None);
        assert_eq!(quantile_of("count"), None);
        assert_eq!(quantile_of("p9x"), None);
        // Nine digits at most.
        assert_eq!(quantile_of("p123456789"), Some(0.123456789));
        assert_eq!(quantile_of("p1234567890"), None);
    }
}
