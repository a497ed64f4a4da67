//! The field types a model is made of.
//!
//! | type | signature | kind | what it publishes |
//! | --- | --- | --- | --- |
//! | [`Counter`] | `Q` | counter | a count that goes up |
//! | [`Gauge<T>`] | by `T`: `B b H h I i Q q f d` | gauge | the last value set |
//! | [`Flag`] | `?` | flag | true or false |
//! | [`Text<N>`] | `Ns` (255 by default) | text | UTF-8 text of at most `N` bytes |
//! | [`Average`] | `d` | average | the mean of every value added |
//! | [`MovingAverage<N>`] | `d` | average | the mean of the last `N` values |
//! | [`Timer<N>`] | `d` | timer | the mean of the last `N` durations, in seconds |
//! | [`Static<T>`] | by `T` | static | a number set once when the file is made |
//! | [`StaticText<N>`] | `Ns` (256 by default) | static | text set once when the file is made |
//! | [`Summary`] | `d` and five more fields | average | count, sum, mean, min and max, read together |
//! | [`Histogram`] | `Q` and six more fields | histogram | counts in geometric buckets: any quantile, read together |
//! | [`Family<L, F>`] | those of `F`, once per member | those of `F` | one `F` per value of the labels `L` |
//! | [`DynFamily<F, N>`] | those of `F` and a `128s` label value, once per member | those of `F`, label value | one `F` per label value chosen at run time, at most `N`, and an overflow |
//!
//! Every value is stored with one aligned store of its width (see the book's
//! "Field types" chapter for why the original's double buffer is not needed
//! for values of 4 and 8 bytes), except a 16-bit gauge: the original reader
//! copies 2-byte values with a `memcpy` that may load the two bytes at two
//! moments, so it is double-buffered as in the original. A text is a group
//! with a sequence number (see [`Text`]). A counter, gauge or flag keeps
//! no copy of its value: the slot it alone writes is its state, so an update
//! is one store (or one add to memory, like `*p += 1`). Fields whose value is
//! computed from more than itself (an average's count and total, a moving
//! window) keep that state in the handle and only store the result.

mod average;
mod counter;
mod dyn_family;
mod family;
mod gauge;
pub mod histogram;
mod statics;
mod summary;
mod text;
mod timer;

pub use average::{Average, MovingAverage};
pub use counter::Counter;
pub use dyn_family::DynFamily;
pub(crate) use dyn_family::{
    capacity_problem, dyn_parts, member_problem, DynMembers, LABEL_VALUE_BYTES,
};
pub use family::{Family, Labels};
pub use gauge::{Flag, Gauge, GaugeValue};
pub use histogram::{Histogram, HistogramTimer};
pub use statics::{Static, StaticText, StaticValue};
pub use summary::Summary;
pub use text::Text;
pub use timer::{Timer, TimerGuard};

use crate::error::Error;
use crate::format::{FieldLayout, FieldSpec, FieldType, Part, UNBUFFERED};
use crate::labels::LabelDims;
use crate::map::{Bytes, Region, Slot, Word};

/// A type that can be a field of an `#[derive(MmStats)]` struct.
///
/// Implemented by the field types of this crate; the constant says what the
/// type stores, so the derive needs no table of sizes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an mmstats field type",
    label = "not a stats field",
    note = "every field of a `#[derive(MmStats)]` struct must be one of `Counter`, `Gauge<T>`, `Flag`, `Text<N>`, `Average`, `MovingAverage<N>`, `Timer<N>`, `Summary`, `Histogram`, `Family<L, F>`, `DynFamily<F, N>`, `Static<T>` or `StaticText<N>`"
)]
pub trait Field: Sized + Send {
    /// What this type stores: signature, size, alignment, buffering, kind.
    const TYPE: FieldType;

    /// Further values the type publishes beside its main one, each as a
    /// field of its own placed right after it (see [`Part`]). Most types
    /// publish one value and have none.
    const PARTS: &'static [Part] = &[];

    /// The labels of the members the type stands for, if it is a family
    /// (see [`Family`]): each member is the main value and its parts again,
    /// labelled with the member's label set. Other types are one member
    /// with no label set.
    const MEMBERS: &'static LabelDims = &LabelDims::NONE;

    #[doc(hidden)]
    /// Makes the handle for a field that has been laid out in a region.
    fn bind(place: &Place<'_>) -> Result<Self, Error>;
}

/// A field whose value is set once, when the file is created, from the
/// `#[mmstats(value = ...)]` attribute.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a static field, so it cannot take `value = ...`",
    label = "`value` is only for `Static<T>` and `StaticText<N>`",
    note = "other fields start at zero (or empty) and are set through their handle"
)]
pub trait StaticField: Field {
    /// The type of the value the attribute gives.
    type Value: ?Sized;

    #[doc(hidden)]
    /// Writes the value into the fresh file, before anyone can see it.
    fn write_value(place: &Place<'_>, value: &Self::Value) -> Result<(), Error>;
}

/// Where one field of a model lives in its region, handed to [`Field::bind`].
#[doc(hidden)]
pub struct Place<'a> {
    pub(crate) region: &'a Region,
    pub(crate) spec: &'a FieldSpec,
    pub(crate) layout: &'a FieldLayout,
    /// The fields that follow this one, for [`Place::part`].
    pub(crate) rest: (&'a [FieldSpec], &'a [FieldLayout]),
}

impl<'a> Place<'a> {
    /// The place of part `index` of this field (see [`Field::PARTS`]).
    pub fn part(&self, index: usize) -> Result<Place<'a>, Error> {
        let (specs, layouts) = self.rest;
        match (specs.get(index), layouts.get(index)) {
            (Some(spec), Some(layout)) => Ok(Place {
                region: self.region,
                spec,
                layout,
                rest: (
                    specs.get(index + 1..).unwrap_or(&[]),
                    layouts.get(index + 1..).unwrap_or(&[]),
                ),
            }),
            _ => Err(self.mismatch()),
        }
    }
}

impl Place<'_> {
    /// The field's label.
    pub fn label(&self) -> &str {
        self.spec.label
    }

    /// The slot of an unbuffered value of width `W`.
    pub fn slot<W: Word>(&self) -> Result<Slot<W>, Error> {
        if self.spec.ty.buffered || self.spec.ty.value_size != std::mem::size_of::<W>() {
            return Err(self.mismatch());
        }
        self.region
            .slot::<W>(self.layout.value_offset)
            .ok_or_else(|| self.mismatch())
    }

    /// The write-buffer byte and the two buffers of a double-buffered
    /// value of width `W`.
    pub fn buffers<W: Word>(&self) -> Result<(Slot<u8>, [Slot<W>; 2]), Error> {
        let size = std::mem::size_of::<W>();
        if !self.spec.ty.buffered || self.spec.ty.value_size != size {
            return Err(self.mismatch());
        }
        let second = self.layout.value_offset.checked_add(size);
        match (
            self.region.slot::<u8>(self.layout.write_buffer_offset),
            self.region.slot::<W>(self.layout.value_offset),
            second.and_then(|at| self.region.slot::<W>(at)),
        ) {
            (Some(index), Some(first), Some(second)) => Ok((index, [first, second])),
            _ => Err(self.mismatch()),
        }
    }

    /// The bytes of an unbuffered text value.
    pub fn bytes(&self) -> Result<Bytes, Error> {
        if self.spec.ty.buffered {
            return Err(self.mismatch());
        }
        self.region
            .bytes(self.layout.value_offset, self.spec.ty.value_size)
            .ok_or_else(|| self.mismatch())
    }

    /// This place, if its field is of type `ty`; else a layout error, so
    /// that a value can never be written into another field's place.
    pub fn of_type(self, ty: &FieldType) -> Result<Self, Error> {
        let own = &self.spec.ty;
        let same = own.signature == ty.signature
            && own.value_size == ty.value_size
            && own.align == ty.align
            && own.buffered == ty.buffered
            && own.kind == ty.kind;
        if same {
            Ok(self)
        } else {
            Err(self.mismatch())
        }
    }

    fn mismatch(&self) -> Error {
        Error::Layout {
            label: self.spec.label.to_string(),
        }
    }
}

/// Checks, at compile time, that a field type can be used as a field; the derive calls
/// it once per field so that the error points at the field's type.
#[doc(hidden)]
pub const fn check_type(ty: FieldType, has_value: bool) {
    if let Some(message) = ty.error {
        panic!("{}", message);
    }
    if !has_value && matches!(ty.kind, crate::format::Kind::Static) {
        panic!("a static field is set once, when the file is created: give it a value with #[mmstats(value = ...)]");
    }
}

/// Checks, at compile time, the members of a field after the derive gave a
/// run-time family its key (`has_key`: the field has `#[mmstats(key = ...)]`).
#[doc(hidden)]
pub const fn check_members(members: &LabelDims, has_key: bool) {
    if has_key && !members.is_dynamic() {
        panic!("`key` is only for a `DynFamily` field: the key of a `Family` is given on its `Labels` type");
    }
    if members.is_dynamic() {
        if let Some(message) = members.error {
            panic!("{}", message);
        }
    }
}

/// The unbuffered write-buffer byte, for the writer that lays out headers.
pub(crate) const fn write_buffer_byte(ty: &FieldType) -> u8 {
    if ty.buffered {
        0
    } else {
        UNBUFFERED
    }
}

pub(crate) use text::fit as fit_text;

/// The type of a static text field of `size` bytes.
pub(crate) const fn text_field_type(size: usize) -> FieldType {
    text::text_type(size, crate::format::Kind::Static)
}
