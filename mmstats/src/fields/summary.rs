use std::cell::Cell;
use std::time::{Duration, Instant};

use super::gauge::number_type;
use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind, Part};
use crate::map::Slot;
use crate::seqlock;

/// Several numbers about the values recorded, which readers can read
/// together: the count, the sum, the mean, the smallest and the largest.
///
/// It publishes six fields: the mean under the field's own label, then
/// `.count`, `.sum`, `.min`, `.max`, and `.seq`, a sequence number that is
/// odd while the writer updates the others. A reader that sees the same even
/// sequence number before and after reading the group has read values that
/// belong together (this crate's reader does it; see [`Kind::Sequence`]).
/// Readers that know nothing of this still read six ordinary fields.
///
/// ```
/// # use mmstats::{MmStats, Summary};
/// #[derive(MmStats)]
/// struct Stats { response_size: Summary }
/// let stats = Stats::in_memory();
/// for size in [200.0, 100.0, 600.0] {
///     stats.response_size.add(size);
/// }
/// assert_eq!(stats.response_size.count(), 3);
/// assert_eq!(stats.response_size.mean(), 300.0);
/// assert_eq!((stats.response_size.min(), stats.response_size.max()), (100.0, 600.0));
/// ```
///
/// It can time things too, in seconds, like a [`Timer`](crate::Timer) that
/// also publishes how many durations it saw:
///
/// ```
/// # use mmstats::{MmStats, Summary};
/// #[derive(MmStats)]
/// struct Stats { #[mmstats(unit = "seconds")] request: Summary }
/// let stats = Stats::in_memory();
/// stats.request.time(|| { /* work */ });
/// assert_eq!(stats.request.count(), 1);
/// ```
#[derive(Debug)]
pub struct Summary {
    mean: Slot<u64>,
    count: Slot<u64>,
    sum: Slot<u64>,
    min: Slot<u64>,
    max: Slot<u64>,
    seq: Slot<u64>,
    state: Cell<State>,
}

#[derive(Clone, Copy, Debug)]
struct State {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    seq: u64,
}

const PARTS: [Part; 5] = [
    Part {
        suffix: ".count",
        ty: number_type::<u64>(Kind::Counter),
        same_unit: false,
        help: "how many values were recorded",
    },
    Part {
        suffix: ".sum",
        ty: number_type::<f64>(Kind::Counter),
        same_unit: true,
        help: "the sum of the values recorded",
    },
    Part {
        suffix: ".min",
        ty: number_type::<f64>(Kind::Minimum),
        same_unit: true,
        help: "the smallest value recorded",
    },
    Part {
        suffix: ".max",
        ty: number_type::<f64>(Kind::Maximum),
        same_unit: true,
        help: "the largest value recorded",
    },
    Part {
        suffix: ".seq",
        ty: number_type::<u64>(Kind::Sequence),
        same_unit: false,
        help:
            "odd while the writer updates the group; read the group between two equal even values",
    },
];

impl Summary {
    /// Records a value and publishes the new count, sum, mean, min and max
    /// as one group.
    #[inline]
    pub fn add(&self, value: f64) {
        let old = self.state.get();
        let mut new = State {
            count: old.count + 1,
            sum: old.sum + value,
            min: if old.count == 0 {
                value
            } else {
                old.min.min(value)
            },
            max: if old.count == 0 {
                value
            } else {
                old.max.max(value)
            },
            seq: old.seq,
        };
        // Odd while the members change (the group protocol of
        // `crate::seqlock`), even again after them.
        new.seq = seqlock::begin(&self.seq, old.seq);
        self.state.set(new);
        self.count.store(new.count);
        self.sum.store(new.sum.to_bits());
        self.mean.store((new.sum / new.count as f64).to_bits());
        self.min.store(new.min.to_bits());
        self.max.store(new.max.to_bits());
        seqlock::end(&self.seq, new.seq);
    }

    /// Records a duration, in seconds.
    pub fn record(&self, elapsed: Duration) {
        self.add(elapsed.as_secs_f64());
    }

    /// Runs `f`, records how long it took in seconds, and returns its result.
    pub fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = f();
        self.record(started.elapsed());
        result
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.state.get().count
    }

    /// The sum of the values recorded.
    pub fn sum(&self) -> f64 {
        self.state.get().sum
    }

    /// The mean of the values recorded, 0 before the first.
    pub fn mean(&self) -> f64 {
        let state = self.state.get();
        if state.count == 0 {
            0.0
        } else {
            state.sum / state.count as f64
        }
    }

    /// The smallest value recorded, 0 before the first.
    pub fn min(&self) -> f64 {
        self.state.get().min
    }

    /// The largest value recorded, 0 before the first.
    pub fn max(&self) -> f64 {
        self.state.get().max
    }
}

impl Field for Summary {
    const TYPE: FieldType = number_type::<f64>(Kind::Average);
    const PARTS: &'static [Part] = &PARTS;

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        let summary = Summary {
            mean: place.slot::<u64>()?,
            count: place.part(0)?.slot::<u64>()?,
            sum: place.part(1)?.slot::<u64>()?,
            min: place.part(2)?.slot::<u64>()?,
            max: place.part(3)?.slot::<u64>()?,
            seq: place.part(4)?.slot::<u64>()?,
            state: Cell::new(State {
                count: 0,
                sum: 0.0,
                min: 0.0,
                max: 0.0,
                seq: 0,
            }),
        };
        // Start from what the file holds: zeros in a fresh file, or the
        // group a finished thread of this process left in the file this one
        // continues (see `Builder::create`). An odd sequence number (a
        // writer stopped mid-update) is rounded up to even.
        let seq = summary.seq.load();
        summary.state.set(State {
            count: summary.count.load(),
            sum: f64::from_bits(summary.sum.load()),
            min: f64::from_bits(summary.min.load()),
            max: f64::from_bits(summary.max.load()),
            seq: seq.wrapping_add(seq & 1),
        });
        Ok(summary)
    }
}
