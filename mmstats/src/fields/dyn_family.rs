use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

use super::gauge::number_type;
use super::text::text_type;
use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind, Part, Signature, MAX_FIELDS};
use crate::labels::{LabelDims, OVERFLOW_VALUE};
use crate::map::{Bytes, Slot};
use crate::seqlock;

/// Bytes of the text that holds a member's label value: a value takes at
/// most one less (the text always ends with a NUL).
pub(crate) const LABEL_VALUE_BYTES: usize = 128;

/// The most parts a [`DynFamily`]'s field type may publish (a histogram
/// publishes six).
const MAX_PARTS: usize = 14;

/// One field `F` per label value chosen at run time, at most `N` of them per
/// file, plus one overflow member: requests by route, bytes by tenant.
///
/// The family has one label, whose name is the field attribute
/// `#[mmstats(key = "route")]` (by default the field's name; the rules of
/// [`Labels`](crate::Labels)' keys apply). [`DynFamily::member`] finds the
/// member of a value, or takes the next free one and publishes its label
/// value first; past `N` values, and for a value that cannot be a label
/// value (longer than [`DynFamily::MAX_VALUE_LEN`] bytes, with a NUL, or
/// spelled `__overflow__`), it gives the overflow member, labelled
/// `{route="__overflow__"}`.
///
/// In the file, member `i` is an ordinary `F` labelled `web.routes{route="#i"}`
/// (what readers that know nothing of run-time labels show), followed by a
/// text `web.routes{route="#i"}.label` (kind
/// [`Kind::LabelValue`]) with the value and its sequence number `….label.seq`,
/// a group read together that the writer publishes once, before the member
/// is used. This crate's reader shows a published member as
/// `web.routes{route="/api/items"}`, hides unused ones and the label fields.
///
/// A lookup by string hashes the value; keep the `&F` it returns to update
/// at the cost of a plain `F`.
///
/// ```
/// use mmstats::{Counter, DynFamily, MmStats};
///
/// #[derive(MmStats)]
/// #[mmstats(prefix = "web.")]
/// struct WebStats {
///     #[mmstats(key = "route")]
///     routes: DynFamily<Counter, 2>,
/// }
///
/// let stats = WebStats::in_memory();
/// let items = stats.routes.member("/api/items");
/// items.incr();
/// stats.routes.member("/api/items").incr();
/// stats.routes.member("/health").incr();
/// stats.routes.member("/api/users").incr(); // a third value: the overflow
/// assert_eq!(items.get(), 2);
/// assert_eq!(stats.routes.overflow().get(), 1);
/// let labels: Vec<String> = WebStats::MODEL.fields.iter().map(|f| f.file_label()).collect();
/// assert_eq!(labels[0], r##"web.routes{route="#0"}"##);
/// assert_eq!(labels[1], r##"web.routes{route="#0"}.label"##);
/// assert_eq!(labels[6], r#"web.routes{route="__overflow__"}"#);
/// ```
pub struct DynFamily<F, const N: usize> {
    members: DynMembers<F>,
}

/// The members of a run-time family whose capacity is a value: what a
/// [`DynFamily<F, N>`] holds, and what a schema's run-time family
/// (`RuntimeDynFamily`) holds, so both find, take and
/// bind members with the same code.
pub(crate) struct DynMembers<F> {
    members: Box<[Member<F>]>,
    overflow: Member<F>,
    /// The member of each published value.
    index: RefCell<HashMap<Box<str>, usize>>,
    /// The first member never published.
    next: Cell<usize>,
}

struct Member<F> {
    field: F,
    label: Bytes,
    seq: Slot<u64>,
}

/// Whether `value` can be a member's label value.
fn fits(value: &str) -> bool {
    !value.is_empty()
        && value.len() < LABEL_VALUE_BYTES
        && !value.as_bytes().contains(&0)
        && value != OVERFLOW_VALUE
}

impl<F> DynMembers<F> {
    /// The member for `value`: see [`DynFamily::member`].
    pub(crate) fn member(&self, value: &str) -> &F {
        if let Some(&at) = self.index.borrow().get(value) {
            return self.field(at);
        }
        let at = self.next.get();
        let Some(member) = self.members.get(at).filter(|_| fits(value)) else {
            return &self.overflow.field;
        };
        // The label text whole first, then the even sequence number with
        // release: a reader that sees the number sees the text.
        let next = seqlock::begin(&member.seq, member.seq.load());
        member.label.write_c_string(value.as_bytes());
        seqlock::end(&member.seq, next);
        self.next.set(at + 1);
        self.index.borrow_mut().insert(value.into(), at);
        &member.field
    }

    /// The member that already has `value`, without taking one.
    pub(crate) fn get(&self, value: &str) -> Option<&F> {
        let at = *self.index.borrow().get(value)?;
        Some(self.field(at))
    }

    /// The overflow member.
    pub(crate) fn overflow(&self) -> &F {
        &self.overflow.field
    }

    /// How many label values were taken.
    pub(crate) fn len(&self) -> usize {
        self.next.get()
    }

    /// The most label values, besides the overflow.
    pub(crate) fn capacity(&self) -> usize {
        self.members.len()
    }

    /// Every member taken, with its label value, in file order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (String, &F)> + '_ {
        let index = self.index.borrow();
        let mut taken: Vec<(usize, String)> =
            index.iter().map(|(v, &at)| (at, v.to_string())).collect();
        taken.sort();
        taken
            .into_iter()
            .map(move |(at, value)| (value, self.field(at)))
    }

    fn field(&self, at: usize) -> &F {
        self.members
            .get(at)
            .map_or(&self.overflow.field, |m| &m.field)
    }

    /// The members' map entries: each taken value, then the overflow.
    pub(crate) fn debug_map(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        F: fmt::Debug,
    {
        f.debug_map()
            .entries(self.iter())
            .entry(&OVERFLOW_VALUE, &self.overflow.field)
            .finish()
    }
}

impl<F: Field> DynMembers<F> {
    /// Binds `capacity` members and the overflow, laid out from `place` (the
    /// first member's main value) as [`dyn_parts`] and
    /// [`LabelDims::dynamic`] say: member `m` is `F`'s fields and the two
    /// label fields, `m` strides after the first.
    pub(crate) fn bind(place: &Place<'_>, capacity: usize) -> Result<Self, Error> {
        let own = F::PARTS.len();
        let stride = 1 + own + 2;
        let mut members = Vec::with_capacity(capacity.min(MAX_FIELDS));
        let mut overflow = None;
        for m in 0..=capacity {
            let member = match m.checked_mul(stride).and_then(|at| at.checked_sub(1)) {
                None => Place {
                    region: place.region,
                    spec: place.spec,
                    layout: place.layout,
                    rest: place.rest,
                },
                Some(at) => place.part(at)?,
            };
            let label = member.part(own)?.of_type(&LABEL_TYPE)?.bytes()?;
            let seq = member.part(own + 1)?.slot::<u64>()?;
            let field = F::bind(&member.of_type(&F::TYPE)?)?;
            let made = Member { field, label, seq };
            if m < capacity {
                members.push(made);
            } else {
                overflow = Some(made);
            }
        }
        let overflow = overflow.ok_or_else(|| Error::Layout {
            label: place.label().to_string(),
        })?;
        // A file bound again keeps the values it published.
        let mut index = HashMap::new();
        let mut next = 0;
        for (at, member) in members.iter().enumerate() {
            let seq = member.seq.load();
            if seq == 0 || seq % 2 == 1 {
                continue;
            }
            let raw = member.label.read();
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            if let Ok(value) = std::str::from_utf8(raw.get(..end).unwrap_or_default()) {
                if fits(value) && !index.contains_key(value) {
                    index.insert(Box::from(value), at);
                    next = at + 1;
                }
            }
        }
        Ok(DynMembers {
            members: members.into_boxed_slice(),
            overflow,
            index: RefCell::new(index),
            next: Cell::new(next),
        })
    }
}

impl<F, const N: usize> DynFamily<F, N> {
    /// The most label values the family takes, besides the overflow.
    pub const CAPACITY: usize = N;

    /// The longest label value in bytes: one less than the text that holds
    /// it, which always ends with a NUL.
    pub const MAX_VALUE_LEN: usize = LABEL_VALUE_BYTES - 1;

    /// The member for `value`: the one that already has it, else the next
    /// free one, whose label is published before this returns; the overflow
    /// member when all `N` are taken or `value` cannot be a label value
    /// (see the type's docs).
    pub fn member(&self, value: &str) -> &F {
        self.members.member(value)
    }

    /// The member that already has `value`, without taking one.
    pub fn get(&self, value: &str) -> Option<&F> {
        self.members.get(value)
    }

    /// The overflow member.
    pub fn overflow(&self) -> &F {
        self.members.overflow()
    }

    /// How many label values the family has taken.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no label value was taken yet.
    pub fn is_empty(&self) -> bool {
        self.members.len() == 0
    }

    /// Every member taken, with its label value, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (String, &F)> + '_ {
        self.members.iter()
    }
}

impl<F: fmt::Debug, const N: usize> fmt::Debug for DynFamily<F, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.members.debug_map(f)
    }
}

const LABEL_TYPE: FieldType = text_type(LABEL_VALUE_BYTES, Kind::LabelValue);

const EMPTY_PART: Part = Part {
    suffix: "",
    ty: Signature::EMPTY_TYPE,
    same_unit: false,
    help: "",
};

/// `F`'s parts, then the label text and its sequence number.
const fn parts_of<F: Field>() -> [Part; MAX_PARTS] {
    let mut out = [EMPTY_PART; MAX_PARTS];
    let own = F::PARTS;
    let mut i = 0;
    while i < own.len() && i + 2 < MAX_PARTS {
        out[i] = own[i];
        i += 1;
    }
    out[i] = Part {
        suffix: ".label",
        ty: LABEL_TYPE,
        same_unit: false,
        help: "the member's label value, chosen at run time; empty while the member is unused",
    };
    out[i + 1] = Part {
        suffix: ".label.seq",
        ty: number_type::<u64>(Kind::Sequence),
        same_unit: false,
        help: "0 while the member is unused; even once its label value is published",
    };
    out
}

const fn part_count<F: Field>() -> usize {
    let n = F::PARTS.len() + 2;
    if n > MAX_PARTS {
        MAX_PARTS
    } else {
        n
    }
}

/// Why `F` cannot be the member type of a run-time family (its own type
/// error aside), whatever the capacity.
pub(crate) const fn member_problem<F: Field>() -> Option<&'static str> {
    if !F::MEMBERS.is_empty() {
        Some("a run-time family's field type cannot be a family")
    } else if matches!(F::TYPE.kind, Kind::Static) {
        Some("a family of static fields is not supported: a static value is set once per file")
    } else if F::PARTS.len() + 2 > MAX_PARTS {
        Some("this field type publishes too many parts for a run-time family")
    } else {
        None
    }
}

/// Why a run-time family cannot take `capacity` label values of a member
/// type with `parts` parts of its own: none, or more fields than a file
/// holds (saturating, so any `usize` is a fair question).
pub(crate) const fn capacity_problem(capacity: usize, parts: usize) -> Option<&'static str> {
    if capacity == 0 {
        Some("a run-time family needs room for at least one label value: DynFamily<F, 1> or more")
    } else if capacity
        .saturating_add(1)
        .saturating_mul(parts.saturating_add(3))
        > MAX_FIELDS
    {
        Some("this family is too large for a file: its members' fields exceed the 65535 fields a file can hold")
    } else {
        None
    }
}

const fn dyn_type<F: Field, const N: usize>() -> FieldType {
    let mut ty = F::TYPE;
    if ty.error.is_some() {
        return ty;
    }
    ty.error = match member_problem::<F>() {
        Some(problem) => Some(problem),
        None => capacity_problem(N, F::PARTS.len()),
    };
    ty
}

/// The parts of a run-time family of `F`, whatever its capacity.
struct PartsOf<F>(std::marker::PhantomData<F>);

impl<F: Field> PartsOf<F> {
    const ALL: &'static [Part; MAX_PARTS] = &parts_of::<F>();
    const PARTS: &'static [Part] = Self::ALL.split_at(part_count::<F>()).0;
}

/// What follows each member's main value of a run-time family of `F`:
/// `F`'s parts, the label text and its sequence number.
pub(crate) const fn dyn_parts<F: Field>() -> &'static [Part] {
    PartsOf::<F>::PARTS
}

/// The compile-time labels of a `DynFamily<F, N>`.
struct Tables<F, const N: usize>(std::marker::PhantomData<F>);

impl<F: Field, const N: usize> Tables<F, N> {
    const MEMBERS: &'static LabelDims = &LabelDims::dynamic(N);
}

impl<F: Field, const N: usize> Field for DynFamily<F, N> {
    const TYPE: FieldType = dyn_type::<F, N>();
    const PARTS: &'static [Part] = dyn_parts::<F>();
    const MEMBERS: &'static LabelDims = Tables::<F, N>::MEMBERS;

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        Ok(DynFamily {
            members: DynMembers::bind(place, N)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_cannot_be_labels() {
        assert!(fits("/api/items"));
        assert!(!fits(""));
        assert!(!fits("a\0b"));
        assert!(!fits(OVERFLOW_VALUE));
        assert!(fits(&"x".repeat(LABEL_VALUE_BYTES - 1)));
        assert!(!fits(&"x".repeat(LABEL_VALUE_BYTES)));
    }
}
