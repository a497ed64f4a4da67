use std::fmt;
use std::ops::Index;

use super::{Field, Place};
use crate::error::Error;
use crate::format::{FieldType, Kind, Part, MAX_FIELDS};
use crate::labels::LabelDims;

/// A set of label values known at compile time: the members of a
/// [`Family`].
///
/// Derive it for a fieldless enum with `#[derive(Labels)]`; a tuple of up
/// to four `Labels` types is one too, whose members are every combination
/// (the first element varying slowest). The attributes:
///
/// - on the enum, `#[mmstats(key = "method")]`: the label's name, which
///   must match `[a-zA-Z_][a-zA-Z0-9_]*`; by default the enum's name in
///   snake case (`HttpMethod` is `http_method`). The names that the tools
///   put beside a family's labels (`cmd`, `pid`, `tid`, `owner`, `value`,
///   `le`, `quantile`) and names starting with `__` are refused;
/// - on a variant, `#[mmstats(value = "2xx")]`: its value, any non-empty
///   text without a NUL; by default the variant's name in snake case
///   (`NotFound` is `not_found`). No two variants may have the same value.
///
/// ```
/// use mmstats::Labels;
///
/// #[derive(Labels, Clone, Copy, Debug, PartialEq)]
/// #[mmstats(key = "status")]
/// enum Status {
///     #[mmstats(value = "2xx")]
///     Ok,
///     #[mmstats(value = "5xx")]
///     Server,
/// }
/// assert_eq!(Status::COUNT, 2);
/// assert_eq!(Status::Server.index(), 1);
/// assert_eq!(Status::from_index(0), Some(Status::Ok));
/// ```
///
/// The items are what [`Family`] uses; a program only derives the trait.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a set of labels",
    label = "not `Labels`",
    note = "a family's labels are a fieldless enum with `#[derive(Labels)]`, or a tuple of up to four of them"
)]
pub trait Labels: Copy + Send + Sync + 'static {
    /// The label names and values, as the file spells them.
    const DIMS: LabelDims;

    /// How many members: the number of values (of combinations, for a
    /// tuple).
    const COUNT: usize;

    /// An array of one `T` per member, indexed by the label values: for an
    /// enum `[T; COUNT]`, for a tuple nested arrays. Indexing it by a value
    /// is an offset the compiler knows to be in bounds.
    type Members<T>;

    /// The member's position, `0..COUNT`, in file order.
    fn index(self) -> usize;

    /// The member at `index`, if there is one.
    fn from_index(index: usize) -> Option<Self>;

    /// The element of `members` that belongs to `at`.
    fn member<T>(members: &Self::Members<T>, at: Self) -> &T;

    /// The array whose element `i` is `make(i)`, made in order; the first
    /// error stops it.
    fn build<T, E>(make: &mut dyn FnMut(usize) -> Result<T, E>) -> Result<Self::Members<T>, E>;
}

/// One field `F` per value of the labels `L`: requests by method and
/// status, latency by route.
///
/// Each member is an ordinary `F` at a fixed place in the file, labelled
/// with the family's label and the member's label set in the Prometheus
/// syntax: `web.requests{method="get",status="2xx"}` (a type with parts
/// puts theirs after it: `web.latency{method="get"}.count`). Readers that
/// know families group the members; others see ordinary fields. Indexing by
/// a label value is an offset known at compile time, so an update costs
/// what it costs on a plain `F`.
///
/// ```
/// use mmstats::{Counter, Family, Labels, MmStats, Summary};
///
/// #[derive(Labels, Clone, Copy)]
/// #[mmstats(key = "method")]
/// enum Method { Get, Post, #[mmstats(value = "other")] Other }
///
/// #[derive(Labels, Clone, Copy)]
/// #[mmstats(key = "status")]
/// enum Status {
///     #[mmstats(value = "2xx")] Ok,
///     #[mmstats(value = "4xx")] Client,
///     #[mmstats(value = "5xx")] Server,
/// }
///
/// #[derive(MmStats)]
/// #[mmstats(prefix = "web.")]
/// struct WebStats {
///     requests: Family<(Method, Status), Counter>,
///     latency: Family<Method, Summary>,
/// }
///
/// let stats = WebStats::in_memory();
/// stats.requests[(Method::Get, Status::Ok)].incr();
/// stats.latency[Method::Post].add(0.25);
/// assert_eq!(stats.requests[(Method::Get, Status::Ok)].get(), 1);
/// assert_eq!(stats.requests.iter().map(|(_, c)| c.get()).sum::<u64>(), 1);
/// let labels: Vec<String> = WebStats::MODEL.fields.iter().map(|f| f.file_label()).collect();
/// assert_eq!(labels[0], r#"web.requests{method="get",status="2xx"}"#);
/// assert_eq!(labels[9], r#"web.latency{method="get"}"#);
/// assert_eq!(labels[10], r#"web.latency{method="get"}.count"#);
/// ```
pub struct Family<L: Labels, F> {
    members: L::Members<F>,
}

impl<L: Labels, F> Family<L, F> {
    /// How many members the family has.
    pub const LEN: usize = L::COUNT;

    /// The member for the label values `at`.
    #[inline]
    pub fn get(&self, at: L) -> &F {
        L::member(&self.members, at)
    }

    /// Every member with its label values, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (L, &F)> + '_ {
        (0..L::COUNT)
            .filter_map(L::from_index)
            .map(move |at| (at, self.get(at)))
    }
}

impl<L: Labels, F> Index<L> for Family<L, F> {
    type Output = F;

    #[inline]
    fn index(&self, at: L) -> &F {
        self.get(at)
    }
}

impl<L: Labels, F: fmt::Debug> fmt::Debug for Family<L, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(_, member)| member))
            .finish()
    }
}

/// The type of a family of `F` by `L`: `F`'s, unless the family cannot be.
const fn family_type<L: Labels, F: Field>() -> FieldType {
    let mut ty = F::TYPE;
    if ty.error.is_some() {
        return ty;
    }
    ty.error = if !F::MEMBERS.is_empty() {
        Some("a family's field type cannot be a family: use one family whose labels are a tuple")
    } else if L::DIMS.error.is_some() {
        L::DIMS.error
    } else if matches!(ty.kind, Kind::Static) {
        Some("a family of static fields is not supported: a static value is set once per file")
    } else if L::DIMS.members().saturating_mul(1 + F::PARTS.len()) > MAX_FIELDS {
        Some("this family is too large for a file: its members' fields (members times the fields of one member) exceed the 65535 fields a file can hold")
    } else {
        None
    };
    ty
}

impl<L: Labels, F: Field> Field for Family<L, F>
where
    L::Members<F>: Send,
{
    const TYPE: FieldType = family_type::<L, F>();
    const PARTS: &'static [Part] = F::PARTS;
    const MEMBERS: &'static LabelDims = &L::DIMS;

    fn bind(place: &Place<'_>) -> Result<Self, Error> {
        // Member `m` starts `m` times one member's fields after the first.
        let stride = 1 + F::PARTS.len();
        let members = L::build(&mut |m| {
            let member = match m.checked_mul(stride).and_then(|at| at.checked_sub(1)) {
                None => same_place(place),
                Some(at) => place.part(at)?,
            };
            F::bind(&member.of_type(&F::TYPE)?)
        })?;
        Ok(Family { members })
    }
}

fn same_place<'a>(place: &Place<'a>) -> Place<'a> {
    Place {
        region: place.region,
        spec: place.spec,
        layout: place.layout,
        rest: place.rest,
    }
}

impl<A: Labels, B: Labels> Labels for (A, B) {
    const DIMS: LabelDims = LabelDims::concat(&A::DIMS, &B::DIMS);
    const COUNT: usize = A::COUNT.saturating_mul(B::COUNT);
    type Members<T> = A::Members<B::Members<T>>;

    #[inline]
    fn index(self) -> usize {
        self.0.index() * B::COUNT + self.1.index()
    }

    fn from_index(index: usize) -> Option<Self> {
        let a = index.checked_div(B::COUNT)?;
        let b = index.checked_rem(B::COUNT)?;
        Some((A::from_index(a)?, B::from_index(b)?))
    }

    #[inline]
    fn member<T>(members: &Self::Members<T>, at: Self) -> &T {
        B::member(A::member(members, at.0), at.1)
    }

    fn build<T, E>(make: &mut dyn FnMut(usize) -> Result<T, E>) -> Result<Self::Members<T>, E> {
        A::build(&mut |a| B::build(&mut |b| make(a * B::COUNT + b)))
    }
}

/// Longer tuples are the pair of their first element and the rest, so
/// that their members come in the same order.
macro_rules! longer_tuple {
    ($first:ident $(, $rest:ident)+; $($index:tt),+) => {
        impl<$first: Labels $(, $rest: Labels)+> Labels for ($first $(, $rest)+) {
            const DIMS: LabelDims = <($first, ($($rest,)+)) as Labels>::DIMS;
            const COUNT: usize = <($first, ($($rest,)+)) as Labels>::COUNT;
            type Members<T> = <($first, ($($rest,)+)) as Labels>::Members<T>;

            #[inline]
            fn index(self) -> usize {
                (self.0, ($(self.$index,)+)).index()
            }

            fn from_index(index: usize) -> Option<Self> {
                let (first, ($($rest,)+)) = <($first, ($($rest,)+))>::from_index(index)?;
                Some((first $(, $rest)+))
            }

            #[inline]
            fn member<T>(members: &Self::Members<T>, at: Self) -> &T {
                <($first, ($($rest,)+))>::member(members, (at.0, ($(at.$index,)+)))
            }

            fn build<T, E>(
                make: &mut dyn FnMut(usize) -> Result<T, E>,
            ) -> Result<Self::Members<T>, E> {
                <($first, ($($rest,)+))>::build(make)
            }
        }
    };
}

#[allow(non_snake_case)]
mod tuples {
    use super::*;
    longer_tuple!(A, B, C; 1, 2);
    longer_tuple!(A, B, C, D; 1, 2, 3);
}
