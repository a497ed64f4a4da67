use std::marker::PhantomData;

use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind, Signature};
use crate::map::{Slot, Word};

mod sealed {
    pub trait Sealed {}
}

/// A number type a [`Gauge`] or [`Static`](crate::Static) can hold.
///
/// | type | signature |
/// | --- | --- |
/// | `u8` / `i8` | `B` / `b` |
/// | `u16` / `i16` | `H` / `h` |
/// | `u32` / `i32` | `I` / `i` |
/// | `u64` / `i64` | `Q` / `q` |
/// | `f32` / `f64` | `f` / `d` |
pub trait GaugeValue: Copy + Default + PartialEq + std::fmt::Debug + sealed::Sealed {
    #[doc(hidden)]
    /// The machine word the value is stored as.
    type Word: Word;
    #[doc(hidden)]
    /// The letter of the type signature.
    const CODE: u8;
    #[doc(hidden)]
    /// The value's bits as its word.
    fn to_word(self) -> Self::Word;
    #[doc(hidden)]
    /// The value from its word.
    fn from_word(word: Self::Word) -> Self;
    /// `self + delta`; integers wrap around.
    fn plus(self, delta: Self) -> Self;
    /// `self - delta`; integers wrap around.
    fn minus(self, delta: Self) -> Self;
}

macro_rules! int_value {
    ($t:ty, $word:ty, $code:literal) => {
        impl sealed::Sealed for $t {}
        impl GaugeValue for $t {
            type Word = $word;
            const CODE: u8 = $code;
            #[inline(always)]
            fn to_word(self) -> $word {
                self as $word
            }
            #[inline(always)]
            fn from_word(word: $word) -> Self {
                word as $t
            }
            #[inline(always)]
            fn plus(self, delta: Self) -> Self {
                self.wrapping_add(delta)
            }
            #[inline(always)]
            fn minus(self, delta: Self) -> Self {
                self.wrapping_sub(delta)
            }
        }
    };
}

int_value!(u8, u8, b'B');
int_value!(i8, u8, b'b');
int_value!(u16, u16, b'H');
int_value!(i16, u16, b'h');
int_value!(u32, u32, b'I');
int_value!(i32, u32, b'i');
int_value!(u64, u64, b'Q');
int_value!(i64, u64, b'q');

macro_rules! float_value {
    ($t:ty, $word:ty, $code:literal) => {
        impl sealed::Sealed for $t {}
        impl GaugeValue for $t {
            type Word = $word;
            const CODE: u8 = $code;
            #[inline(always)]
            fn to_word(self) -> $word {
                self.to_bits()
            }
            #[inline(always)]
            fn from_word(word: $word) -> Self {
                <$t>::from_bits(word)
            }
            #[inline(always)]
            fn plus(self, delta: Self) -> Self {
                self + delta
            }
            #[inline(always)]
            fn minus(self, delta: Self) -> Self {
                self - delta
            }
        }
    };
}

float_value!(f32, u32, b'f');
float_value!(f64, u64, b'd');

/// The field type of a number `T` stored in its own width.
pub(crate) const fn number_type<T: GaugeValue>(kind: Kind) -> FieldType {
    let size = std::mem::size_of::<T>();
    FieldType {
        signature: Signature::code(T::CODE),
        value_size: size,
        align: size,
        buffered: false,
        kind,
        default_unit: "",
        error: None,
    }
}

/// A value that goes up and down: queue length, temperature, last latency.
///
/// `T` is any of `u8`, `i8`, `u16`, `i16`, `u32`, `i32`, `u64`, `i64`,
/// `f32`, `f64` (see [`GaugeValue`] for their signatures).
///
/// ```
/// # use mmstats::{MmStats, Gauge};
/// #[derive(MmStats)]
/// struct Stats { queue: Gauge<u32>, load: Gauge<f64> }
/// let stats = Stats::in_memory();
/// stats.queue.set(5);
/// stats.queue.add(2);
/// stats.queue.sub(3);
/// stats.load.set(0.75);
/// assert_eq!(stats.queue.get(), 4);
/// ```
#[derive(Debug)]
pub struct Gauge<T: GaugeValue> {
    // No copy of the value in the handle: `set` is then one store, and `add`
    // a load and a store of the slot, which only this handle writes.
    slot: Slot<T::Word>,
    _value: PhantomData<T>,
}

impl<T: GaugeValue> Gauge<T> {
    /// Publishes `value`.
    #[inline]
    pub fn set(&self, value: T) {
        self.slot.store(value.to_word());
    }

    /// Adds `delta` (integers wrap around).
    #[inline]
    pub fn add(&self, delta: T) {
        self.set(self.get().plus(delta));
    }

    /// Subtracts `delta` (integers wrap around).
    #[inline]
    pub fn sub(&self, delta: T) {
        self.set(self.get().minus(delta));
    }

    /// The value last set.
    #[inline]
    pub fn get(&self) -> T {
        T::from_word(self.slot.load())
    }
}

impl<T: GaugeValue + Send> Field for Gauge<T> {
    const TYPE: FieldType = number_type::<T>(Kind::Gauge);

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        Ok(Gauge {
            slot: place.slot::<T::Word>()?,
            _value: PhantomData,
        })
    }
}

/// A yes/no state: up, degraded, leader. Stored as one byte, 0 or 1
/// (signature `?`).
///
/// ```
/// # use mmstats::{MmStats, Flag};
/// #[derive(MmStats)]
/// struct Stats { ready: Flag }
/// let stats = Stats::in_memory();
/// stats.ready.set(true);
/// assert!(stats.ready.get());
/// ```
#[derive(Debug)]
pub struct Flag {
    slot: Slot<u8>,
}

impl Flag {
    /// Publishes `value`.
    #[inline]
    pub fn set(&self, value: bool) {
        self.slot.store(u8::from(value));
    }

    /// The value last set.
    #[inline]
    pub fn get(&self) -> bool {
        self.slot.load() != 0
    }
}

impl Field for Flag {
    const TYPE: FieldType = FieldType {
        signature: Signature::code(b'?'),
        value_size: 1,
        align: 1,
        buffered: false,
        kind: Kind::Flag,
        default_unit: "",
        error: None,
    };

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        Ok(Flag {
            slot: place.slot::<u8>()?,
        })
    }
}
