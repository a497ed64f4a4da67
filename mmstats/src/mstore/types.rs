//! Public value types: value types, points, runs, splits, options.

use std::fmt;

use super::bits;

/// The type of a metric's values, fixed at its first write and recorded on
/// disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Unsigned 64-bit integers.
    U64,
    /// Signed 64-bit integers.
    I64,
    /// 64-bit IEEE 754 floats, stored bit for bit (NaN payloads included).
    F64,
}

impl ValueType {
    /// The byte that stands for this type in the store's files.
    pub fn code(self) -> u8 {
        match self {
            ValueType::U64 => 1,
            ValueType::I64 => 2,
            ValueType::F64 => 3,
        }
    }

    /// The type a code byte stands for, if any.
    pub fn from_code(c: u8) -> Option<ValueType> {
        match c {
            1 => Some(ValueType::U64),
            2 => Some(ValueType::I64),
            3 => Some(ValueType::F64),
            _ => None,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::U64 => "u64",
            ValueType::I64 => "i64",
            ValueType::F64 => "f64",
        })
    }
}

pub(crate) mod sealed {
    /// Byte views of value slices; implemented for `u64`, `i64`, `f64` only.
    pub trait Sealed: Sized + Copy {
        fn bytes(s: &[Self]) -> &[u8];
        fn bytes_mut(s: &mut [Self]) -> &mut [u8];
        fn zero() -> Self;
        /// Converts values read as little-endian to native order.
        fn fix_endian(s: &mut [Self]);
        /// Little-endian encoding of `s` (borrowed on little-endian hosts).
        fn le_bytes(s: &[Self]) -> std::borrow::Cow<'_, [u8]>;
    }
}

macro_rules! value_impl {
    ($t:ty, $vt:expr, $bits:ty) => {
        impl sealed::Sealed for $t {
            fn bytes(s: &[Self]) -> &[u8] {
                bytemuck::cast_slice(s)
            }
            fn bytes_mut(s: &mut [Self]) -> &mut [u8] {
                bytemuck::cast_slice_mut(s)
            }
            fn zero() -> Self {
                <$t>::from_le_bytes([0; 8])
            }
            fn fix_endian(s: &mut [Self]) {
                if cfg!(target_endian = "big") {
                    for v in s {
                        *v = <$t>::from_le_bytes(v.to_ne_bytes());
                    }
                }
            }
            fn le_bytes(s: &[Self]) -> std::borrow::Cow<'_, [u8]> {
                if cfg!(target_endian = "little") {
                    std::borrow::Cow::Borrowed(bytemuck::cast_slice(s))
                } else {
                    std::borrow::Cow::Owned(s.iter().flat_map(|v| v.to_le_bytes()).collect())
                }
            }
        }
        impl Value for $t {
            const TYPE: ValueType = $vt;
        }
    };
}

/// A type a metric's values can have: `u64`, `i64` or `f64` (sealed).
pub trait Value: sealed::Sealed + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The [`ValueType`] recorded on disk for this Rust type.
    const TYPE: ValueType;
}

value_impl!(u64, ValueType::U64, u64);
value_impl!(i64, ValueType::I64, u64);
value_impl!(f64, ValueType::F64, u64);

/// The result of a range read: one entry per slot of `from..to`, each
/// either set (with its value) or unset.
#[derive(Debug, Clone, PartialEq)]
pub struct Points<V> {
    pub(crate) from: u64,
    pub(crate) values: Vec<V>,
    pub(crate) present: Vec<u64>,
}

impl<V: Value> Points<V> {
    /// The first slot of the range.
    pub fn from(&self) -> u64 {
        self.from
    }

    /// Number of slots in the range.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True for an empty range.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Value of the `i`-th slot of the range, `None` if it is unset or out
    /// of the range.
    pub fn get(&self, i: usize) -> Option<V> {
        if bits::get(&self.present, i) {
            self.values.get(i).copied()
        } else {
            None
        }
    }

    /// Value at absolute slot `slot`, `None` if unset or outside the range.
    pub fn at(&self, slot: u64) -> Option<V> {
        let i = usize::try_from(slot.checked_sub(self.from)?).ok()?;
        self.get(i)
    }

    /// Whether the `i`-th slot of the range is set.
    pub fn is_set(&self, i: usize) -> bool {
        i < self.values.len() && bits::get(&self.present, i)
    }

    /// Number of set slots.
    pub fn count_set(&self) -> u64 {
        bits::count(&self.present, self.values.len())
    }

    /// `(slot, value)` for every slot of the range; `None` for unset slots.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Option<V>)> + '_ {
        (0..self.values.len()).map(move |i| (self.from + i as u64, self.get(i)))
    }

    /// The raw value array. Entries of unset slots hold unspecified
    /// values: check [`is_set`](Self::is_set) or use [`get`](Self::get).
    pub fn raw_values(&self) -> &[V] {
        &self.values
    }

    /// The presence bitmap: bit `i % 64` of word `i / 64` tells whether the
    /// `i`-th slot is set.
    pub fn presence(&self) -> &[u64] {
        &self.present
    }
}

/// A run of consecutive set points handed to `fold`, typed like its metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Run<'a> {
    /// Values of a `u64` metric.
    U64(&'a [u64]),
    /// Values of an `i64` metric.
    I64(&'a [i64]),
    /// Values of an `f64` metric.
    F64(&'a [f64]),
}

impl Run<'_> {
    /// Number of points in the run.
    pub fn len(&self) -> usize {
        match self {
            Run::U64(v) => v.len(),
            Run::I64(v) => v.len(),
            Run::F64(v) => v.len(),
        }
    }

    /// True for an empty run (never passed by `fold`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The type of the run's values.
    pub fn value_type(&self) -> ValueType {
        match self {
            Run::U64(_) => ValueType::U64,
            Run::I64(_) => ValueType::I64,
            Run::F64(_) => ValueType::F64,
        }
    }
}

/// A piece of a range that stays inside one chunk (see [`make_splits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Base slot of the chunk.
    pub base: u64,
    /// First slot of the piece, as an offset from `base`.
    pub offset: u64,
    /// Number of slots in the piece.
    pub len: u64,
    /// Position of the piece's first slot in the whole range.
    pub index: u64,
}

/// Splits the slots `from..to` into pieces that each stay inside one chunk
/// of `chunk_size` slots: the first piece runs to the next chunk boundary,
/// then come whole chunks, then the rest. Empty if `to <= from` or
/// `chunk_size == 0`.
pub fn make_splits(from: u64, to: u64, chunk_size: u64) -> Vec<Split> {
    let mut out = Vec::new();
    if chunk_size == 0 {
        return out;
    }
    let mut t = from;
    while t < to {
        let base = t / chunk_size * chunk_size;
        let offset = t - base;
        let len = (chunk_size - offset).min(to - t);
        out.push(Split {
            base,
            offset,
            len,
            index: t - from,
        });
        t += len;
    }
    out
}

/// Parameters of a new store, given to [`Store::create`](super::Store::create).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Points per metric per chunk file, `S`. Fixed for the store's life;
    /// 1 to [`MAX_CHUNK_SIZE`](super::MAX_CHUNK_SIZE).
    pub chunk_size: u64,
    /// What one slot stands for, in units of the creator's choosing (for
    /// example 1 for "one slot per second"). Recorded, not interpreted,
    /// except by [`Store::slot_at`](super::Store::slot_at). Not zero.
    pub resolution: u64,
    /// The time of slot 0, in the same units. Recorded, not interpreted.
    pub start_time: u64,
    /// Most chunks kept open at once (at least 1); the least recently used
    /// is closed first. Not recorded: each open may choose.
    pub max_open_chunks: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chunk_size: 16_384,
            resolution: 1,
            start_time: 0,
            max_open_chunks: 16,
        }
    }
}

/// Parameters of [`Store::open_with`](super::Store::open_with) and
/// [`Reader::open_with`](super::Reader::open_with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// If set, opening fails with
    /// [`Error::ChunkSizeMismatch`](super::Error::ChunkSizeMismatch) unless
    /// the store has this chunk size.
    pub expected_chunk_size: Option<u64>,
    /// Most chunks kept open at once (at least 1).
    pub max_open_chunks: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            expected_chunk_size: None,
            max_open_chunks: 16,
        }
    }
}

/// A metric as listed by `metrics()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricInfo {
    /// The metric's name.
    pub name: String,
    /// The type of its values.
    pub value_type: ValueType,
}

/// The parameters a store was created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreInfo {
    /// Points per metric per chunk.
    pub chunk_size: u64,
    /// What one slot stands for (creator's units).
    pub resolution: u64,
    /// Time of slot 0 (creator's units).
    pub start_time: u64,
}

impl StoreInfo {
    /// The time slot `slot` stands for: `start_time + slot * resolution`
    /// (saturating), in the creator's units.
    pub fn time_of(&self, slot: u64) -> u64 {
        slot.saturating_mul(self.resolution)
            .saturating_add(self.start_time)
    }
}

/// One point of any of the store's value types: what a recorder writes and
/// a query reads back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Point {
    /// A `u64` point.
    U64(u64),
    /// An `i64` point.
    I64(i64),
    /// An `f64` point.
    F64(f64),
}

impl Point {
    /// The type of the series that holds it.
    pub fn value_type(self) -> ValueType {
        match self {
            Point::U64(_) => ValueType::U64,
            Point::I64(_) => ValueType::I64,
            Point::F64(_) => ValueType::F64,
        }
    }

    /// The point as a float (integers beyond 2^53 rounded).
    pub fn as_f64(self) -> f64 {
        match self {
            Point::U64(v) => v as f64,
            Point::I64(v) => v as f64,
            Point::F64(v) => v,
        }
    }
}

impl fmt::Display for Point {
    /// Integers in decimal, floats with the fewest digits that read back the
    /// same (always with a decimal point or an exponent).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Point::U64(v) => write!(f, "{v}"),
            Point::I64(v) => write!(f, "{v}"),
            Point::F64(v) => write!(f, "{v:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_range_and_stay_in_chunks() {
        assert_eq!(make_splits(5, 5, 10), vec![]);
        let s = make_splits(7, 35, 10);
        assert_eq!(
            s,
            vec![
                Split {
                    base: 0,
                    offset: 7,
                    len: 3,
                    index: 0
                },
                Split {
                    base: 10,
                    offset: 0,
                    len: 10,
                    index: 3
                },
                Split {
                    base: 20,
                    offset: 0,
                    len: 10,
                    index: 13
                },
                Split {
                    base: 30,
                    offset: 0,
                    len: 5,
                    index: 23
                },
            ]
        );
        let s = make_splits(u64::MAX - 3, u64::MAX, 10);
        assert_eq!(s.iter().map(|p| p.len).sum::<u64>(), 3);
    }
}
