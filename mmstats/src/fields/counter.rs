use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind, Signature};
use crate::map::Slot;

/// A count that only goes up: requests served, bytes sent, errors seen.
///
/// Published as a `u64` (signature `Q`). The file's value is the count: an
/// increment loads it, adds and stores it back with one aligned store, which
/// compiles to a single `add` to memory, the same as `*p += 1`.
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
    // The handle keeps no copy of the count: a copy would cost a second
    // store on every increment (see the book's Performance chapter). Only
    // this handle writes the slot, so what it loads is what it stored last.
    slot: Slot<u64>,
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
        self.slot.store(self.slot.load().wrapping_add(n));
    }

    /// The current count.
    #[inline]
    pub fn get(&self) -> u64 {
        self.slot.load()
    }

    /// Sets the count, for example back to zero. Tools that show rates treat
    /// a count that goes down as a restart.
    #[inline]
    pub fn set(&self, count: u64) {
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
        Ok(Counter {
            slot: place.slot::<u64>()?,
        })
    }
}
