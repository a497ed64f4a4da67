use std::cell::Cell;

use super::gauge::number_type;
use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind};
use crate::raw::Slot;

/// The mean of every value added since the file was made (signature `d`).
///
/// The count and the total stay in the handle; the file holds the mean.
///
/// ```
/// # use mmstats::{MmStats, Average};
/// #[derive(MmStats)]
/// struct Stats { body_size: Average }
/// let stats = Stats::in_memory();
/// for size in [1.0, 2.0, 6.0] {
///     stats.body_size.add(size);
/// }
/// assert_eq!(stats.body_size.get(), 3.0);
/// assert_eq!(stats.body_size.count(), 3);
/// ```
#[derive(Debug)]
pub struct Average {
    slot: Slot<u64>,
    count: Cell<u64>,
    total: Cell<f64>,
}

impl Average {
    /// Adds a value and publishes the new mean.
    #[inline]
    pub fn add(&self, value: f64) {
        let count = self.count.get() + 1;
        let total = self.total.get() + value;
        self.count.set(count);
        self.total.set(total);
        self.slot.store((total / count as f64).to_bits());
    }

    /// The mean of the values added, 0 before the first.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.slot.load())
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.count.get()
    }
}

impl Field for Average {
    const TYPE: FieldType = number_type::<f64>(Kind::Average);

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        Ok(Average {
            slot: place.slot::<u64>()?,
            count: Cell::new(0),
            total: Cell::new(0.0),
        })
    }
}

/// The last `N` values and their mean, kept by the writer.
#[derive(Debug)]
pub(crate) struct Window<const N: usize> {
    values: [Cell<f64>; N],
    next: Cell<usize>,
    full: Cell<bool>,
}

impl<const N: usize> Window<N> {
    pub(crate) fn new() -> Self {
        Window {
            values: std::array::from_fn(|_| Cell::new(0.0)),
            next: Cell::new(0),
            full: Cell::new(false),
        }
    }

    /// Adds a value, dropping the oldest once full, and returns the mean.
    #[inline]
    pub(crate) fn push(&self, value: f64) -> f64 {
        let next = self.next.get();
        if let Some(cell) = self.values.get(next) {
            cell.set(value);
        }
        let filled = if self.full.get() { N } else { next + 1 };
        if next + 1 >= N {
            self.next.set(0);
            self.full.set(true);
        } else {
            self.next.set(next + 1);
        }
        // Summing the window afresh keeps the mean exact over a long run; a
        // running total would drift as values are added and taken away.
        let sum: f64 = self.values[..filled].iter().map(Cell::get).sum();
        sum / filled as f64
    }

    /// The most recent value, 0 before the first.
    pub(crate) fn last(&self) -> f64 {
        if !self.full.get() && self.next.get() == 0 {
            return 0.0;
        }
        let index = self
            .next
            .get()
            .checked_sub(1)
            .unwrap_or(N.saturating_sub(1));
        self.values.get(index).map_or(0.0, Cell::get)
    }
}

pub(crate) const fn window_type(window: usize, kind: Kind, unit: &'static str) -> FieldType {
    let mut ty = number_type::<f64>(kind);
    ty.default_unit = unit;
    if window == 0 {
        ty.error = Some("a moving average needs a window of at least one value: use 1 or more");
    }
    ty
}

/// The mean of the last `N` values added (signature `d`; 100 by default as
/// in the original).
///
/// ```
/// # use mmstats::{MmStats, MovingAverage};
/// #[derive(MmStats)]
/// struct Stats { batch: MovingAverage<3> }
/// let stats = Stats::in_memory();
/// for size in 1..=5 {
///     stats.batch.add(f64::from(size));
/// }
/// assert_eq!(stats.batch.get(), 4.0); // (3 + 4 + 5) / 3
/// ```
#[derive(Debug)]
pub struct MovingAverage<const N: usize = 100> {
    slot: Slot<u64>,
    window: Window<N>,
}

impl<const N: usize> MovingAverage<N> {
    /// Adds a value and publishes the mean of the last `N`.
    #[inline]
    pub fn add(&self, value: f64) {
        self.slot.store(self.window.push(value).to_bits());
    }

    /// The mean of the last `N` values, 0 before the first.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.slot.load())
    }

    /// The value added last, 0 before the first.
    pub fn last(&self) -> f64 {
        self.window.last()
    }
}

impl<const N: usize> Field for MovingAverage<N> {
    const TYPE: FieldType = window_type(N, Kind::Average, "");

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        Ok(MovingAverage {
            slot: place.slot::<u64>()?,
            window: Window::new(),
        })
    }
}
