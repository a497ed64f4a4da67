use std::cell::Cell;

use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind, Signature};
use crate::raw::Slot;

/// A count that only goes up: requests served, bytes sent, errors seen.
///
/// Published as a `u64` (signature `Q`). The count is kept in the handle, so
/// an increment is an add in a register and one aligned store into the file.
///
/// ```
/// # use mmstats::{MmStats, Counter};
/// #[derive(MmStats)]
/// struct Stats { requests: Counter }
/// let stats = Stats::in_memory();
/// stats.requests.incr();
/// stats.requests.incr_by(10);
/// assert_eq!(stats.requests.get(), 11);
/// ```
#[derive(Debug)]
pub struct Counter {
    slot: Slot<u64>,
    count: Cell<u64>,
}

impl Counter {
    /// Adds one.
    #[inline]
    pub fn incr(&self) {
        self.incr_by(1);
    }

    /// Adds `n`; the count wraps around at `u64::MAX` like the C original.
    #[inline]
    pub fn incr_by(&self, n: u64) {
        let count = self.count.get().wrapping_add(n);
        self.count.set(count);
        self.slot.store(count);
    }

    /// The current count.
    #[inline]
    pub fn get(&self) -> u64 {
        self.count.get()
    }

    /// Sets the count, for example back to zero. Tools that show rates treat
    /// a count that goes down as a restart.
    #[inline]
    pub fn set(&self, count: u64) {
        self.count.set(count);
        self.slot.store(count);
    }
}

impl Field for Counter {
    const TYPE: FieldType = FieldType {
        signature: Signature::code(b'Q'),
        value_size: 8,
        align: 8,
        buffered: false,
        kind: Kind::Counter,
        default_unit: "",
        error: None,
    };

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        let slot = place.slot::<u64>()?;
        let count = Cell::new(slot.load());
        Ok(Counter { slot, count })
    }
}
