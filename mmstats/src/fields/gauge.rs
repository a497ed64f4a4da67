use std::marker::PhantomData;

use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind, Signature};
use crate::map::{Slot, Word};
use crate::seqlock;

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

/// Whether a gauge of `T` is double-buffered: values of 2 bytes are, so
/// that the original reader, which copies a 2-byte value with a `memcpy`
/// that may load its two bytes at two moments, never sees half of an old
/// value and half of a new one (it copies both buffers with one 4-byte
/// load). A 1-byte value cannot tear, and aligned values of 4 and 8 bytes
/// were never seen torn by any reader; they are stored once.
pub(crate) const fn gauge_buffered<T: GaugeValue>() -> bool {
    std::mem::size_of::<T>() == 2
}

/// The field type of a gauge of `T` (see [`gauge_buffered`]).
const fn gauge_type<T: GaugeValue>() -> FieldType {
    let mut ty = number_type::<T>(Kind::Gauge);
    ty.buffered = gauge_buffered::<T>();
    ty
}

/// A value that goes up and down: queue length, temperature, last latency.
///
/// `T` is any of `u8`, `i8`, `u16`, `i16`, `u32`, `i32`, `u64`, `i64`,
/// `f32`, `f64` (see [`GaugeValue`] for their signatures). A 16-bit gauge
/// is double-buffered as in the original (see the book's "Field types"
/// chapter); every other one is stored once.
///
/// ```
/// # use mmstats::{MmStats, Gauge};
/// #[derive(MmStats)]
/// struct Stats { queue: Gauge<u32>, load: Gauge<f64>, temperature: Gauge<i16> }
/// let stats = Stats::in_memory();
/// stats.queue.set(5);
/// stats.queue.add(2);
/// stats.queue.sub(3);
/// stats.load.set(0.75);
/// stats.temperature.set(-12);
/// assert_eq!(stats.queue.get(), 4);
/// assert_eq!(stats.temperature.get(), -12);
/// ```
#[derive(Debug)]
pub struct Gauge<T: GaugeValue> {
    // No copy of the value in the handle: `set` is then one store, and `add`
    // a load and a store of the slot, which only this handle writes. For a
    // double-buffered gauge, `slot` is buffer 0.
    slot: Slot<T::Word>,
    buffers: Option<Buffers<T::Word>>,
    _value: PhantomData<T>,
}

/// The rest of a double-buffered value: its write-buffer byte and buffer 1.
#[derive(Debug)]
struct Buffers<W: Word> {
    index: Slot<u8>,
    second: Slot<W>,
}

impl<T: GaugeValue> Gauge<T> {
    /// Publishes `value`.
    #[inline]
    pub fn set(&self, value: T) {
        // A constant: the branch is gone from every other gauge's code.
        if gauge_buffered::<T>() {
            if let Some(buffers) = &self.buffers {
                // Into the buffer readers do not read, then flip the index
                // (the double buffer of `crate::seqlock`).
                seqlock::flip(&buffers.index, buffers.index.load(), |index| {
                    if index == 0 {
                        self.slot.store(value.to_word());
                    } else {
                        buffers.second.store(value.to_word());
                    }
                });
                return;
            }
        }
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
        if gauge_buffered::<T>() {
            if let Some(buffers) = &self.buffers {
                // The published buffer is the one the index does not name.
                let word = if buffers.index.load() == 0 {
                    buffers.second.load()
                } else {
                    self.slot.load()
                };
                return T::from_word(word);
            }
        }
        T::from_word(self.slot.load())
    }
}

impl<T: GaugeValue + Send> Field for Gauge<T> {
    const TYPE: FieldType = gauge_type::<T>();

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        if Self::TYPE.buffered {
            let (index, [first, second]) = place.buffers::<T::Word>()?;
            Ok(Gauge {
                slot: first,
                buffers: Some(Buffers { index, second }),
                _value: PhantomData,
            })
        } else {
            Ok(Gauge {
                slot: place.slot::<T::Word>()?,
                buffers: None,
                _value: PhantomData,
            })
        }
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
