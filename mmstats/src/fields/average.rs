use std::cell::Cell;

use super::gauge::number_type;
use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind};
use crate::map::Slot;

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
    /// The sum of the window, kept up to date with each value added and
    /// removed, and summed afresh once per lap round the window.
    total: Cell<f64>,
}

impl<const N: usize> Window<N> {
    pub(crate) fn new() -> Self {
        Window {
            values: std::array::from_fn(|_| Cell::new(0.0)),
            next: Cell::new(0),
            full: Cell::new(false),
            total: Cell::new(0.0),
        }
    }

    /// Adds a value, dropping the oldest once full, and returns the mean.
    #[inline]
    pub(crate) fn push(&self, value: f64) -> f64 {
        let next = self.next.get();
        let full = self.full.get();
        let mut total = self.total.get() + value;
        if let Some(cell) = self.values.get(next) {
            if full {
                total -= cell.get();
            }
            cell.set(value);
        }
        let filled = if full { N } else { next + 1 };
        let lap_done = next + 1 >= N;
        if lap_done {
            self.next.set(0);
            self.full.set(true);
        } else {
            self.next.set(next + 1);
        }
        // A running total drifts as values are added and taken away: summing
        // the window afresh once per lap bounds that to one lap, for one add
        // per value on average instead of N. An infinity or NaN cannot be
        // taken away again, so while the total is not finite it is summed
        // afresh every time.
        if lap_done || !total.is_finite() {
            total = self.values[..filled].iter().map(Cell::get).sum();
        }
        self.total.set(total);
        total / filled as f64
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

#[cfg(test)]
mod tests {
    use super::Window;

    fn fresh_mean(values: &[f64]) -> f64 {
        values.iter().sum::<f64>() / values.len() as f64
    }

    #[test]
    fn the_running_total_is_summed_afresh_every_lap() {
        let window = Window::<3>::new();
        let values: Vec<f64> = (0..100).map(|i| 0.1 * f64::from(i) + 1e-3).collect();
        for (i, &v) in values.iter().enumerate() {
            let mean = window.push(v);
            let start = (i + 1).saturating_sub(3);
            if (i + 1) % 3 == 0 || i < 3 {
                assert_eq!(mean, fresh_mean(&values[start..=i]), "after value {i}");
            } else {
                assert!((mean - fresh_mean(&values[start..=i])).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn an_infinity_stops_counting_once_it_leaves_the_window() {
        let window = Window::<3>::new();
        assert_eq!(window.push(f64::INFINITY), f64::INFINITY);
        window.push(1.0);
        assert_eq!(window.push(2.0), f64::INFINITY);
        assert_eq!(window.push(3.0), 2.0);
        assert!(window.push(f64::NAN).is_nan());
        window.push(4.0);
        window.push(5.0);
        assert_eq!(window.push(6.0), 5.0);
    }
}
