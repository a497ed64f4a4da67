use std::time::{Duration, Instant};

use super::average::{window_type, Window};
use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind};
use crate::map::Slot;

/// How long something takes: the mean of the last `N` durations, in seconds
/// (signature `d`; a window of 100 by default as in the original).
///
/// Time a block with a guard, a closure, or a duration measured elsewhere:
///
/// ```
/// # use mmstats::{MmStats, Timer};
/// # use std::time::Duration;
/// #[derive(MmStats)]
/// struct Stats { latency: Timer<100> }
/// let stats = Stats::in_memory();
/// {
///     let _timing = stats.latency.start(); // recorded when dropped
/// }
/// let answer = stats.latency.time(|| 6 * 7);
/// stats.latency.record(Duration::from_millis(250));
/// assert_eq!(answer, 42);
/// assert_eq!(stats.latency.count(), 3);
/// assert_eq!(stats.latency.last(), 0.25);
/// ```
///
/// Clock readings use `Instant` (the vDSO on Linux, no system call).
#[derive(Debug)]
pub struct Timer<const N: usize = 100> {
    slot: Slot<u64>,
    window: Window<N>,
    count: std::cell::Cell<u64>,
}

impl<const N: usize> Timer<N> {
    /// Starts timing; the time until the guard is dropped is recorded.
    #[must_use = "the time is recorded when the guard is dropped; an unused guard records nothing useful"]
    pub fn start(&self) -> TimerGuard<'_, N> {
        TimerGuard {
            timer: self,
            started: Instant::now(),
        }
    }

    /// Runs `f`, records how long it took and returns its result.
    pub fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.start();
        f()
    }

    /// Records a duration measured elsewhere.
    #[inline]
    pub fn record(&self, elapsed: Duration) {
        self.record_seconds(elapsed.as_secs_f64());
    }

    /// Records a duration given in seconds.
    #[inline]
    pub fn record_seconds(&self, seconds: f64) {
        self.count.set(self.count.get().wrapping_add(1));
        self.slot.store(self.window.push(seconds).to_bits());
    }

    /// The mean of the last `N` durations in seconds, 0 before the first.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.slot.load())
    }

    /// The duration recorded last, in seconds.
    pub fn last(&self) -> f64 {
        self.window.last()
    }

    /// How many durations were recorded in all.
    pub fn count(&self) -> u64 {
        self.count.get()
    }
}

/// Times the span of its own life for a [`Timer`]; made by [`Timer::start`].
#[derive(Debug)]
pub struct TimerGuard<'a, const N: usize> {
    timer: &'a Timer<N>,
    started: Instant,
}

impl<const N: usize> TimerGuard<'_, N> {
    /// The time since the guard was made.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops timing now and records the duration (the same as dropping).
    pub fn stop(self) {}
}

impl<const N: usize> Drop for TimerGuard<'_, N> {
    fn drop(&mut self) {
        self.timer.record(self.started.elapsed());
    }
}

impl<const N: usize> Field for Timer<N> {
    const TYPE: FieldType = window_type(N, Kind::Timer, "seconds");

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        Ok(Timer {
            slot: place.slot::<u64>()?,
            window: Window::new(),
            count: std::cell::Cell::new(0),
        })
    }
}
