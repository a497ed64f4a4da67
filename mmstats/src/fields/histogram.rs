//! The [`Histogram`] field: geometric buckets, and the arithmetic of their
//! bounds that the writer and the readers share.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::gauge::number_type;
use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind, Part, Signature};
use crate::map::{Slot, Slots};
use crate::seqlock;

/// The `LOWEST` of a [`Histogram`] that follows the field's unit: `2^-30`
/// seconds (0.93 ns) for `unit = "seconds"`, else `2^-1` (half a byte, so
/// that 1 is a bucket of its own).
pub const AUTO: i16 = i16::MIN;

/// The lowest bound, as a power of two, that [`AUTO`] gives a field in
/// seconds.
pub const AUTO_LOWEST_SECONDS: i16 = -30;

/// The lowest bound, as a power of two, that [`AUTO`] gives any other field.
pub const AUTO_LOWEST_OTHER: i16 = -1;

/// The finest precision: `2^8` buckets per doubling.
pub const MAX_SCHEMA: u8 = 8;

/// The most regular buckets a histogram may have (64 KiB of counts).
pub const MAX_BUCKETS: usize = 16384;

/// How far from `2^0` a bound may be: well inside `f64`'s normal numbers.
pub const MAX_EXPONENT: i32 = 1000;

/// A distribution of values (latencies, sizes): how many fell in each of
/// a fixed set of geometric buckets, so that readers compute any quantile
/// within a known relative error, over the whole run or over any interval.
///
/// The buckets are those of Prometheus native histograms (and OpenTelemetry
/// exponential histograms) of schema `SCHEMA`: bucket `i` holds the values
/// in `(2^((i-1)/2^SCHEMA), 2^(i/2^SCHEMA)]`, each bound a factor
/// `2^(2^-SCHEMA)` above the one before. A histogram keeps `DOUBLINGS <<
/// SCHEMA` of them, from `2^LOWEST` up to `2^(LOWEST + DOUBLINGS)`, with a
/// zero bucket below (zero and everything up to `2^LOWEST`) and an
/// overflow bucket above (and `+inf`).
///
/// The defaults, `Histogram<4, 47, AUTO>`: 16 buckets per doubling
/// (factor 1.0443), so a quantile reported as the geometric middle of its
/// bucket is within 2.2 % of the exact one; 47 doublings, which cover
/// 0.93 ns to 36 h for `unit = "seconds"` and 0.5 to 7·10^13 (70 TB) for
/// anything else; 754 counts of 4 bytes, 3016 bytes in the file.
///
/// ```
/// # use mmstats::{Histogram, MmStats};
/// #[derive(MmStats)]
/// struct Stats {
///     #[mmstats(unit = "seconds")]
///     latency: Histogram,
///     #[mmstats(unit = "bytes")]
///     response_size: Histogram,
/// }
/// let stats = Stats::in_memory();
/// stats.latency.record(0.0123);
/// {
///     let _timing = stats.latency.start(); // recorded when dropped
/// }
/// let answer = stats.latency.time(|| 6 * 7);
/// stats.response_size.record(1500.0);
/// assert_eq!((answer, stats.latency.count()), (42, 3));
/// stats.latency.record(f64::NAN); // not a value: counted apart
/// assert_eq!((stats.latency.count(), stats.latency.invalid()), (3, 1));
/// ```
///
/// # In the file
///
/// One group of seven fields: the count under the field's own label (what
/// the original reader shows), then `.sum` (`d`), `.invalid` (`Q`, values
/// that are NaN or below zero, which are in no bucket, the count or the
/// sum), `.schema` and `.first` (`q`: the schema, and the index of the
/// first regular bucket, so that readers compute every bound without
/// guessing), `.buckets` (`754I`: the zero bucket, the regular buckets,
/// the overflow bucket) and `.seq`, the group's sequence number.
///
/// A bucket count is 32 bits and wraps around after 2^32 values in one
/// bucket of one thread's file; the count is 64 bits and exact. Readers
/// take the change of a bucket between two reads with wrapping arithmetic,
/// which is exact as long as fewer than 2^32 values fall in one bucket of
/// one file between the two reads; a single read whose buckets add up to
/// less than the count (by a multiple of 2^32) reports the count exact and
/// its quantiles over the values the buckets still hold (see
/// [`reader::Histogram::wrapped`](crate::reader::Histogram::wrapped)).
#[derive(Debug)]
pub struct Histogram<const SCHEMA: u8 = 4, const DOUBLINGS: u16 = 47, const LOWEST: i16 = AUTO> {
    count: Slot<u64>,
    sum: Slot<u64>,
    invalid: Slot<u64>,
    /// The zero bucket, the regular buckets, the overflow bucket.
    buckets: Slots<u32>,
    seq: Slot<u64>,
    /// The index of the first regular bucket.
    first: i32,
    state: Cell<State>,
}

#[derive(Clone, Copy, Debug)]
struct State {
    count: u64,
    sum: f64,
    invalid: u64,
    seq: u64,
}

/// The bound tables of one schema: `bound[k]` is the mantissa (the 52
/// fraction bits) of `2^(k/2^schema)` for `k` in `0..2^schema`, and `2^52`
/// (the mantissa of 2, one past them all) at `k = 2^schema`; `lin[t]` is
/// the first `k` whose bound is at or above `t << (52 - schema - 2)`, for
/// the `2^(schema+2)` values of the top `schema + 2` fraction bits `t`.
/// The bounds are this crate's definition of the buckets: the writer sorts
/// values by them and readers compute the same bounds from them.
#[derive(Debug)]
pub(crate) struct Table {
    /// Padded with `2^52` to a power of two, so that a masked index needs
    /// no bounds check.
    bound: [u64; BOUND_SLOTS],
    lin: [u16; 1 << (MAX_SCHEMA + 2)],
}

const BOUND_SLOTS: usize = 2 << MAX_SCHEMA;
const FRACTION_BITS: u32 = 52;
const FRACTION: u64 = (1 << FRACTION_BITS) - 1;

/// The square root of `a` in `[1, 2]`, in a `const`: Newton's iteration
/// from above, which decreases until it stops.
const fn sqrt(a: f64) -> f64 {
    let mut x = a;
    let mut i = 0;
    while i < 100 {
        let next = (x + a / x) / 2.0;
        if next >= x {
            break;
        }
        x = next;
        i += 1;
    }
    x
}

const fn table(schema: u8) -> Table {
    let s = schema as usize;
    // roots[b] = 2^(2^b / 2^s) = 2^(1/2^(s-b)), for the bits b of k: the
    // square root of 2, taken s - b times.
    let mut roots = [0.0f64; MAX_SCHEMA as usize];
    let mut r = 2.0;
    let mut t = s;
    while t > 0 {
        r = sqrt(r);
        roots[t - 1] = r;
        t -= 1;
    }
    let per = 1usize << s;
    let mut bound = [1u64 << FRACTION_BITS; BOUND_SLOTS];
    let mut k = 0;
    while k < per {
        let mut x = 1.0f64;
        let mut bit = 0;
        while bit < s {
            if k & (1 << bit) != 0 {
                x *= roots[bit];
            }
            bit += 1;
        }
        bound[k] = x.to_bits() & FRACTION;
        k += 1;
    }
    bound[per] = 1 << FRACTION_BITS;
    let lin_bits = s + 2;
    let mut lin = [0u16; 1 << (MAX_SCHEMA + 2)];
    let mut t = 0;
    let mut k = 0;
    while t < (1 << lin_bits) {
        let start = (t as u64) << (FRACTION_BITS as usize - lin_bits);
        while bound[k] < start {
            k += 1;
        }
        lin[t] = k as u16;
        t += 1;
    }
    Table { bound, lin }
}

/// The tables of every schema, `0..=MAX_SCHEMA`.
pub(crate) static TABLES: [Table; MAX_SCHEMA as usize + 1] = [
    table(0),
    table(1),
    table(2),
    table(3),
    table(4),
    table(5),
    table(6),
    table(7),
    table(8),
];

/// The upper bound of bucket `index` of schema `schema`: `2^(index /
/// 2^schema)` as this crate computes it (the bound the writer sorts by).
/// `None` for a schema beyond [`MAX_SCHEMA`] or a bound beyond `f64`'s
/// normal numbers.
pub fn upper_bound(schema: u8, index: i64) -> Option<f64> {
    let table = TABLES.get(usize::from(schema))?;
    let per = 1i64 << schema;
    let exponent = index.div_euclid(per);
    let k = usize::try_from(index.rem_euclid(per)).ok()?;
    if !(-1022..=1023).contains(&exponent) {
        return None;
    }
    let fraction = *table.bound.get(k)?;
    let biased = u64::try_from(exponent + 1023).ok()?;
    Some(f64::from_bits((biased << FRACTION_BITS) | fraction))
}

/// The index of the bucket `value` falls in, by schema `schema` (for a
/// value that is not NaN and not below zero): the exponent and the top
/// fraction bits give the bucket within one of the table, one comparison
/// with the exact bound the other. Zero, subnormals and `+inf` give
/// indexes far below and above every histogram's range.
#[inline(always)]
fn bucket_index(table: &Table, schema: u8, bits: u64) -> i32 {
    let lin_bits = u32::from(schema) + 2;
    let exponent = ((bits >> FRACTION_BITS) & 0x7ff) as i32 - 1023;
    let fraction = bits & FRACTION;
    let top = (fraction >> (FRACTION_BITS - lin_bits)) as usize;
    let guess = table.lin.get(top).copied().unwrap_or(0);
    // Masked: within the table whatever the guess (it is at most 2^schema).
    let above = table
        .bound
        .get(usize::from(guess) & (BOUND_SLOTS - 1))
        .is_some_and(|&b| fraction > b);
    (exponent << schema) + i32::from(guess) + i32::from(above)
}

/// The index of bucket `value` would be counted in (for tests and readers
/// that sort values as the writer does): `None` for NaN and values below
/// zero, which no bucket holds.
pub fn index_of(schema: u8, value: f64) -> Option<i64> {
    let table = TABLES.get(usize::from(schema))?;
    (value >= 0.0).then(|| i64::from(bucket_index(table, schema, value.to_bits())))
}

/// The help texts and types of a histogram's parts; `.buckets` differs
/// by size and is made by [`parts`].
const fn parts(buckets: FieldType) -> [Part; 6] {
    [
        Part {
            suffix: ".sum",
            ty: number_type::<f64>(Kind::HistogramPart),
            same_unit: true,
            help: "the sum of the values recorded",
        },
        Part {
            suffix: ".invalid",
            ty: number_type::<u64>(Kind::HistogramPart),
            same_unit: false,
            help: "how many values were NaN or below zero (in no bucket, not counted)",
        },
        Part {
            suffix: ".schema",
            ty: number_type::<i64>(Kind::HistogramPart),
            same_unit: false,
            help: "the buckets' schema: 2^schema buckets per doubling, as Prometheus native histograms",
        },
        Part {
            suffix: ".first",
            ty: number_type::<i64>(Kind::HistogramPart),
            same_unit: false,
            help: "the index of the first regular bucket; bucket i holds (2^((i-1)/2^schema), 2^(i/2^schema)]",
        },
        Part {
            suffix: ".buckets",
            ty: buckets,
            same_unit: false,
            help: "the zero bucket, the regular buckets from .first on, the overflow bucket",
        },
        Part {
            suffix: ".seq",
            ty: number_type::<u64>(Kind::Sequence),
            same_unit: false,
            help:
                "odd while the writer updates the group; read the group between two equal even values",
        },
    ]
}

/// Why histogram parameters cannot be used, if they cannot.
const fn check(schema: u8, doublings: u16, lowest: i16) -> Option<&'static str> {
    if schema > MAX_SCHEMA {
        return Some(
            "a Histogram's SCHEMA (its precision) must be 0..=8: 2^SCHEMA buckets per doubling",
        );
    }
    if doublings == 0 {
        return Some("a Histogram's DOUBLINGS (its range) must be at least 1");
    }
    if ((doublings as usize) << schema) > MAX_BUCKETS {
        return Some("a Histogram may have at most 16384 buckets (DOUBLINGS << SCHEMA)");
    }
    let (low, high) = if lowest == AUTO {
        let low = if AUTO_LOWEST_SECONDS < AUTO_LOWEST_OTHER {
            AUTO_LOWEST_SECONDS
        } else {
            AUTO_LOWEST_OTHER
        };
        let high = if AUTO_LOWEST_SECONDS > AUTO_LOWEST_OTHER {
            AUTO_LOWEST_SECONDS
        } else {
            AUTO_LOWEST_OTHER
        };
        (low as i32, high as i32 + doublings as i32)
    } else {
        (lowest as i32, lowest as i32 + doublings as i32)
    };
    if low < -MAX_EXPONENT || high > MAX_EXPONENT {
        return Some(
            "a Histogram's range 2^LOWEST..2^(LOWEST+DOUBLINGS) must stay within 2^-1000..2^1000",
        );
    }
    None
}

/// The number of counts in the `.buckets` field: the regular buckets and
/// the zero and overflow buckets.
const fn slots(schema: u8, doublings: u16) -> usize {
    if schema > MAX_SCHEMA || ((doublings as usize) << schema) > MAX_BUCKETS {
        2
    } else {
        ((doublings as usize) << schema) + 2
    }
}

const fn buckets_type(schema: u8, doublings: u16) -> FieldType {
    let n = slots(schema, doublings);
    FieldType {
        signature: Signature::repeat(n, b'I'),
        value_size: 4 * n,
        align: 4,
        buffered: false,
        kind: Kind::HistogramPart,
        default_unit: "",
        error: None,
    }
}

impl<const SCHEMA: u8, const DOUBLINGS: u16, const LOWEST: i16>
    Histogram<SCHEMA, DOUBLINGS, LOWEST>
{
    const SLOTS: usize = slots(SCHEMA, DOUBLINGS);
    const PARTS_OF: [Part; 6] = parts(buckets_type(SCHEMA, DOUBLINGS));

    /// Records one value. NaN and values below zero are in no bucket and
    /// not in the count or the sum: they are counted in `.invalid`.
    /// `-0.0` is zero; `+inf` goes to the overflow bucket (and makes the
    /// sum infinite).
    #[inline]
    pub fn record(&self, value: f64) {
        // Always there: the parameters are checked at compile time.
        let Some(table) = TABLES.get(usize::from(SCHEMA)) else {
            return;
        };
        let old = self.state.get();
        // The group's protocol (`crate::seqlock`): odd before any member
        // changes, even after.
        let mut new = old;
        new.seq = seqlock::begin(&self.seq, old.seq);
        // False for NaN and below zero; true for -0.0.
        if value >= 0.0 {
            let index = bucket_index(table, SCHEMA, value.to_bits());
            let at = index
                .wrapping_sub(self.first)
                .wrapping_add(1)
                .clamp(0, Self::SLOTS as i32 - 1) as usize;
            self.buckets.update(at, |n| n.wrapping_add(1));
            new.count = old.count.wrapping_add(1);
            new.sum = old.sum + value;
            self.count.store(new.count);
            self.sum.store(new.sum.to_bits());
        } else {
            new.invalid = old.invalid.wrapping_add(1);
            self.invalid.store(new.invalid);
        }
        seqlock::end(&self.seq, new.seq);
        self.state.set(new);
    }

    /// Records a duration, in seconds.
    #[inline]
    pub fn record_duration(&self, elapsed: Duration) {
        self.record(elapsed.as_secs_f64());
    }

    /// Starts timing; the time until the guard is dropped is recorded, in
    /// seconds.
    #[must_use = "the time is recorded when the guard is dropped; an unused guard records nothing useful"]
    pub fn start(&self) -> HistogramTimer<'_, SCHEMA, DOUBLINGS, LOWEST> {
        HistogramTimer {
            histogram: self,
            started: Instant::now(),
        }
    }

    /// Runs `f`, records how long it took in seconds, and returns its result.
    pub fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.start();
        f()
    }

    /// How many values were recorded (NaN and negative ones left out).
    pub fn count(&self) -> u64 {
        self.state.get().count
    }

    /// The sum of the values recorded.
    pub fn sum(&self) -> f64 {
        self.state.get().sum
    }

    /// How many values were NaN or below zero.
    pub fn invalid(&self) -> u64 {
        self.state.get().invalid
    }

    /// The index of the first regular bucket (see the type's docs).
    pub fn first_index(&self) -> i32 {
        self.first
    }
}

/// Times a block for a [`Histogram`]: the seconds from
/// [`Histogram::start`] until it is dropped are recorded.
#[derive(Debug)]
pub struct HistogramTimer<'a, const SCHEMA: u8, const DOUBLINGS: u16, const LOWEST: i16> {
    histogram: &'a Histogram<SCHEMA, DOUBLINGS, LOWEST>,
    started: Instant,
}

impl<const SCHEMA: u8, const DOUBLINGS: u16, const LOWEST: i16> Drop
    for HistogramTimer<'_, SCHEMA, DOUBLINGS, LOWEST>
{
    fn drop(&mut self) {
        self.histogram.record_duration(self.started.elapsed());
    }
}

/// The power of two of the lowest bound for `lowest` ([`AUTO`]: by `unit`).
fn resolve_lowest(lowest: i16, unit: &str) -> i16 {
    if lowest != AUTO {
        return lowest;
    }
    match unit {
        "seconds" | "second" | "s" => AUTO_LOWEST_SECONDS,
        _ => AUTO_LOWEST_OTHER,
    }
}

impl<const SCHEMA: u8, const DOUBLINGS: u16, const LOWEST: i16> Field
    for Histogram<SCHEMA, DOUBLINGS, LOWEST>
{
    const TYPE: FieldType = {
        let mut ty = number_type::<u64>(Kind::Histogram);
        ty.error = check(SCHEMA, DOUBLINGS, LOWEST);
        ty
    };
    const PARTS: &'static [Part] = &Self::PARTS_OF;

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        let lowest = resolve_lowest(LOWEST, place.spec.unit);
        let first = (i32::from(lowest) << SCHEMA) + 1;
        let buckets_place = place.part(4)?.of_type(&buckets_type(SCHEMA, DOUBLINGS))?;
        let buckets = buckets_place
            .region
            .slots::<u32>(buckets_place.layout.value_offset, Self::SLOTS)
            .ok_or_else(|| buckets_place.mismatch())?;
        let histogram = Histogram {
            count: place.slot::<u64>()?,
            sum: place.part(0)?.slot::<u64>()?,
            invalid: place.part(1)?.slot::<u64>()?,
            buckets,
            seq: place.part(5)?.slot::<u64>()?,
            first,
            state: Cell::new(State {
                count: 0,
                sum: 0.0,
                invalid: 0,
                seq: 0,
            }),
        };
        // The geometry, before any value is recorded: the first record's
        // release store publishes it with the group.
        place
            .part(2)?
            .slot::<u64>()?
            .store(i64::from(SCHEMA) as u64);
        place.part(3)?.slot::<u64>()?.store(i64::from(first) as u64);
        // Start from what the file holds (zeros in a fresh file); an odd
        // sequence number (a writer stopped mid-update) is rounded up.
        let seq = histogram.seq.load();
        histogram.state.set(State {
            count: histogram.count.load(),
            sum: f64::from_bits(histogram.sum.load()),
            invalid: histogram.invalid.load(),
            seq: seq.wrapping_add(seq & 1),
        });
        Ok(histogram)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// The bucket of `value` by the bounds alone: the first index whose
    /// upper bound is at or above it.
    fn by_bounds(schema: u8, value: f64) -> i64 {
        let guess = (value.log2() * f64::from(1u32 << schema)).ceil() as i64;
        let mut i = guess - 3;
        while upper_bound(schema, i).unwrap() < value {
            i += 1;
        }
        i
    }

    #[test]
    fn bounds_grow_by_the_schemas_factor() {
        for schema in 0..=MAX_SCHEMA {
            let per = 1i64 << schema;
            let factor = 2f64.powf(1.0 / per as f64);
            assert_eq!(upper_bound(schema, 0), Some(1.0));
            assert_eq!(upper_bound(schema, per), Some(2.0));
            assert_eq!(upper_bound(schema, -per * 30), Some(2f64.powi(-30)));
            for i in -3 * per..3 * per {
                let (a, b) = (
                    upper_bound(schema, i).unwrap(),
                    upper_bound(schema, i + 1).unwrap(),
                );
                assert!((b / a - factor).abs() < 1e-12, "schema {schema} index {i}");
            }
        }
    }

    #[test]
    fn the_index_from_the_bits_is_the_index_from_the_bounds() {
        for schema in 0..=MAX_SCHEMA {
            let mut x = 1e-9f64;
            while x < 1e13 {
                assert_eq!(
                    index_of(schema, x),
                    Some(by_bounds(schema, x)),
                    "{schema} {x}"
                );
                x *= 1.000_37;
            }
            // Exactly on a bound, and one step either side of it.
            for i in -40i64..40 {
                let b = upper_bound(schema, i).unwrap();
                assert_eq!(index_of(schema, b), Some(i));
                assert_eq!(
                    index_of(schema, f64::from_bits(b.to_bits() + 1)),
                    Some(i + 1)
                );
                assert_eq!(index_of(schema, f64::from_bits(b.to_bits() - 1)), Some(i));
            }
        }
    }

    #[test]
    fn nan_and_negative_values_have_no_bucket() {
        assert_eq!(index_of(4, f64::NAN), None);
        assert_eq!(index_of(4, -1.0), None);
        assert_eq!(index_of(4, f64::NEG_INFINITY), None);
        assert!(index_of(4, -0.0).unwrap() < -16 * 1000);
        assert!(index_of(4, f64::INFINITY).unwrap() > 16 * 1000);
    }

    #[test]
    fn parameters_are_checked() {
        assert_eq!(check(4, 47, AUTO), None);
        assert!(check(9, 47, AUTO).is_some());
        assert!(check(4, 0, AUTO).is_some());
        assert!(check(8, 65, AUTO).is_some());
        assert!(check(0, 100, 950).is_some());
        assert_eq!(slots(4, 47), 754);
    }
}
