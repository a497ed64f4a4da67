use super::gauge::{number_type, GaugeValue};
use super::text::{decode, fit, text_type};
use super::{Field, Place, StaticField};
use crate::error::Error;
use crate::format::{FieldType, Kind};
use crate::map::{Bytes, Slot};

/// A number set once, when the file is created, and never changed: a
/// configuration value, a build number, a start time.
///
/// The value comes from the field's `#[mmstats(value = ...)]` attribute, an
/// expression evaluated when the stats object is created.
///
/// ```
/// # use mmstats::{MmStats, Static};
/// #[derive(MmStats)]
/// struct Stats {
///     #[mmstats(value = 64)]
///     workers: Static<u32>,
/// }
/// let stats = Stats::in_memory();
/// assert_eq!(stats.workers.get(), 64);
/// ```
#[derive(Debug)]
pub struct Static<T: StaticValue> {
    slot: Slot<T::Word>,
}

/// A number type a [`Static`] can hold: every [`GaugeValue`].
pub trait StaticValue: GaugeValue {}
impl<T: GaugeValue> StaticValue for T {}

impl<T: StaticValue> Static<T> {
    /// The value set when the file was created.
    pub fn get(&self) -> T {
        T::from_word(self.slot.load())
    }
}

impl<T: StaticValue + Send> Field for Static<T> {
    const TYPE: FieldType = number_type::<T>(Kind::Static);

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        Ok(Static {
            slot: place.slot::<T::Word>()?,
        })
    }
}

impl<T: StaticValue + Send> StaticField for Static<T> {
    type Value = T;

    fn write_value(place: &Place<'_>, value: &T) -> Result<(), Error> {
        place.slot::<T::Word>()?.store(value.to_word());
        Ok(())
    }
}

/// Text set once, when the file is created (signature `Ns`, 256 bytes by
/// default as in the original); cut at a character boundary to fit.
///
/// ```
/// # use mmstats::{MmStats, StaticText};
/// #[derive(MmStats)]
/// struct Stats {
///     #[mmstats(value = env!("CARGO_PKG_VERSION"))]
///     version: StaticText<32>,
/// }
/// let stats = Stats::in_memory();
/// assert_eq!(stats.version.get(), env!("CARGO_PKG_VERSION"));
/// ```
#[derive(Debug)]
pub struct StaticText<const N: usize = 256> {
    bytes: Bytes,
}

impl<const N: usize> StaticText<N> {
    /// The text set when the file was created.
    pub fn get(&self) -> String {
        decode(&self.bytes.read())
    }
}

impl<const N: usize> Field for StaticText<N> {
    const TYPE: FieldType = text_type(N, Kind::Static);

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        Ok(StaticText {
            bytes: place.bytes()?,
        })
    }
}

impl<const N: usize> StaticField for StaticText<N> {
    type Value = str;

    fn write_value(place: &Place<'_>, value: &str) -> Result<(), Error> {
        place.bytes()?.write_c_string(fit(value, N).as_bytes());
        Ok(())
    }
}
