//! The label sets of labelled families, in the syntax the file format fixes.
//!
//! A member of a family is an ordinary field whose label is the family's
//! label followed by a label set in the Prometheus text syntax,
//! `web.requests{method="get",status="2xx"}`; a field type that publishes
//! parts (a `Summary`'s `.count`, `.seq`, ...) appends them after the label
//! set, as it does after any label: `web.latency{method="get"}.count`. So a
//! sequence-guarded group stays the fields that start with its base, and old
//! readers see ordinary fields.
//!
//! This module is both sides of that syntax: [`LabelDims`] spells the label
//! sets at compile time (the layout's `const fn`s read them byte by byte),
//! and [`split`] parses them back from an untrusted label, bounded and
//! without panics.

/// The most labels (dimensions) one family can have: the length of a tuple
/// of [`Labels`](crate::Labels) types.
pub const MAX_LABEL_DIMS: usize = 4;

/// The most label pairs [`split`] reads in one label set.
pub const MAX_PARSED_PAIRS: usize = 32;

/// One label of a family: its key and, for each of its values in order, the
/// pair as the file spells it (`method="get"`, the value escaped).
#[derive(Clone, Copy, Debug)]
pub struct LabelDim {
    /// The label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub key: &'static str,
    /// `key="value"` for each value, escaped as [`escape`] does.
    pub pairs: &'static [&'static str],
}

const NO_DIM: LabelDim = LabelDim {
    key: "",
    pairs: &[],
};

/// The labels of a family: up to [`MAX_LABEL_DIMS`] dimensions whose
/// product is the family's members, the first dimension varying slowest.
///
/// A field type that is not a family has [`LabelDims::NONE`]: one member
/// and no label set.
#[derive(Clone, Copy, Debug)]
pub struct LabelDims {
    dims: [LabelDim; MAX_LABEL_DIMS],
    len: usize,
    /// `Some(n)` for the one dimension of a
    /// [`DynFamily`](crate::DynFamily): `n` members whose values are chosen
    /// at run time, spelled `#0` .. `#{n-1}` in the file, and the overflow
    /// member [`OVERFLOW_VALUE`]. Its key is the dimension's.
    dynamic: Option<usize>,
    /// Why these dimensions cannot make a family (two with the same key,
    /// too many), reported at compile time.
    pub error: Option<&'static str>,
}

/// The value of a [`DynFamily`](crate::DynFamily)'s overflow member: the
/// member that counts every value past the family's bound.
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// The first byte of the fixed value of a [`DynFamily`](crate::DynFamily)
/// member (`#3`), under which a reader that knows nothing of run-time
/// labels shows it.
pub const PLACEHOLDER_MARK: u8 = b'#';

/// Label names the tools put beside a family's own labels, which a family
/// must not use (the same list `#[derive(Labels)]` and a `DynFamily`'s
/// `key` are checked against): the exporter's `cmd`, `pid`, `tid`,
/// `owner`, a text's `value`, and a histogram's and a summary's `le` and
/// `quantile`.
pub const RESERVED_KEYS: [&str; 7] = ["cmd", "pid", "tid", "owner", "value", "le", "quantile"];

/// Whether `key` can be a family's label name: a label name
/// (`[a-zA-Z_][a-zA-Z0-9_]*`), not starting with `__`, not one of
/// [`RESERVED_KEYS`]; usable at compile time.
pub const fn is_family_key(key: &str) -> bool {
    let b = key.as_bytes();
    if b.is_empty() || b[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            return false;
        }
        i += 1;
    }
    if b.len() >= 2 && b[0] == b'_' && b[1] == b'_' {
        return false;
    }
    let mut r = 0;
    while r < RESERVED_KEYS.len() {
        if str_eq(key, RESERVED_KEYS[r]) {
            return false;
        }
        r += 1;
    }
    true
}

/// Decimal digits of `n`.
const fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

impl LabelDims {
    /// No labels: one member, whose label is the field's own.
    pub const NONE: LabelDims = LabelDims {
        dims: [NO_DIM; MAX_LABEL_DIMS],
        len: 0,
        dynamic: None,
        error: None,
    };

    /// The one dimension of a [`DynFamily`](crate::DynFamily) of `n`
    /// members chosen at run time and an overflow member, whose key is
    /// given later ([`LabelDims::keyed`]).
    pub const fn dynamic(n: usize) -> LabelDims {
        let mut out = LabelDims::NONE;
        out.len = 1;
        out.dynamic = Some(n);
        out.error = Some("a run-time family needs a key: #[mmstats(key = \"...\")]");
        out
    }

    /// These dimensions with the key of a run-time family set to `key`;
    /// other dimensions as they are. An error if `key` cannot be a label
    /// name (see [`is_family_key`]).
    pub const fn keyed(&self, key: &'static str) -> LabelDims {
        let mut out = *self;
        if out.dynamic.is_some() {
            out.dims[0].key = key;
            out.error = if is_family_key(key) {
                None
            } else {
                Some("a run-time family's key must be a label name ([a-zA-Z_][a-zA-Z0-9_]*), not start with `__`, and not be one of cmd, pid, tid, owner, value, le, quantile")
            };
        }
        out
    }

    /// Whether the labels are those of a run-time family.
    pub const fn is_dynamic(&self) -> bool {
        self.dynamic.is_some()
    }

    /// The fixed value of member `member` of a run-time family: `#3`, or
    /// the overflow's; `None` for other labels.
    pub fn fixed_value(&self, member: usize) -> Option<String> {
        let n = self.dynamic?;
        Some(if member < n {
            format!("#{member}")
        } else {
            OVERFLOW_VALUE.to_string()
        })
    }

    /// One dimension.
    pub const fn one(dim: LabelDim) -> LabelDims {
        let mut out = LabelDims::NONE;
        out.dims[0] = dim;
        out.len = 1;
        if dim.pairs.is_empty() {
            out.error = Some("a set of labels needs at least one value");
        }
        out
    }

    /// The dimensions of `a` followed by those of `b`: the labels of a
    /// tuple. An error if they have a key in common or are too many.
    pub const fn concat(a: &LabelDims, b: &LabelDims) -> LabelDims {
        let mut out = *a;
        if out.error.is_none() {
            out.error = b.error;
        }
        if a.len + b.len > MAX_LABEL_DIMS {
            out.error =
                Some("a family can have at most 4 labels: use a tuple of at most 4 Labels types");
            return out;
        }
        let mut i = 0;
        while i < b.len {
            let mut j = 0;
            while j < a.len {
                if str_eq(a.dims[j].key, b.dims[i].key) {
                    out.error = Some(
                        "two labels of this tuple have the same key: a label set names each key once",
                    );
                }
                j += 1;
            }
            out.dims[a.len + i] = b.dims[i];
            i += 1;
        }
        out.len = a.len + b.len;
        out
    }

    /// How many dimensions there are.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none (a field that is not a family).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Dimension `i`.
    pub const fn dim(&self, i: usize) -> Option<&LabelDim> {
        if i < self.len && i < MAX_LABEL_DIMS {
            Some(&self.dims[i])
        } else {
            None
        }
    }

    /// How many members: the product of the dimensions' value counts
    /// (saturating), 1 without dimensions.
    pub const fn members(&self) -> usize {
        if let Some(n) = self.dynamic {
            return n.saturating_add(1);
        }
        let mut n: usize = 1;
        let mut i = 0;
        while i < self.len && i < MAX_LABEL_DIMS {
            n = n.saturating_mul(self.dims[i].pairs.len());
            i += 1;
        }
        n
    }

    /// The index of dimension `dim`'s value in member `member`.
    const fn digit(&self, member: usize, dim: usize) -> usize {
        let mut stride: usize = 1;
        let mut i = dim + 1;
        while i < self.len && i < MAX_LABEL_DIMS {
            stride = stride.saturating_mul(self.dims[i].pairs.len());
            i += 1;
        }
        let count = self.dims[dim].pairs.len();
        if count == 0 {
            0
        } else {
            (member / stride) % count
        }
    }

    /// Bytes of member `member`'s label set: `{a="x",b="y"}`, or nothing
    /// without dimensions.
    pub const fn text_len(&self, member: usize) -> usize {
        if self.len == 0 {
            return 0;
        }
        if let Some(n) = self.dynamic {
            // `{key="#m"}` or `{key="__overflow__"}`.
            let value = if member < n {
                1 + digits(member)
            } else {
                OVERFLOW_VALUE.len()
            };
            return self.dims[0].key.len() + 5 + value;
        }
        // The braces and a comma between pairs.
        let mut n = 2 + (self.len - 1);
        let mut d = 0;
        while d < self.len && d < MAX_LABEL_DIMS {
            n += self.dims[d].pairs[self.digit(member, d)].len();
            d += 1;
        }
        n
    }

    /// Byte `i` of member `member`'s label set.
    pub const fn text_byte(&self, member: usize, i: usize) -> u8 {
        if i == 0 {
            return b'{';
        }
        if let Some(n) = self.dynamic {
            let key = self.dims[0].key.as_bytes();
            let len = self.text_len(member);
            return if i < 1 + key.len() {
                key[i - 1]
            } else if i == 1 + key.len() {
                b'='
            } else if i == 2 + key.len() || i == len - 2 {
                b'"'
            } else if i >= len - 1 {
                b'}'
            } else {
                let at = i - 3 - key.len();
                if member >= n {
                    OVERFLOW_VALUE.as_bytes()[at]
                } else if at == 0 {
                    PLACEHOLDER_MARK
                } else {
                    // Digit `at - 1` of `member`, most significant first.
                    let mut rest = member;
                    let mut k = digits(member) - at;
                    while k > 0 {
                        rest /= 10;
                        k -= 1;
                    }
                    b'0' + (rest % 10) as u8
                }
            };
        }
        let mut at = 1;
        let mut d = 0;
        while d < self.len && d < MAX_LABEL_DIMS {
            let pair = self.dims[d].pairs[self.digit(member, d)].as_bytes();
            if i < at + pair.len() {
                return pair[i - at];
            }
            at += pair.len();
            if i == at {
                return if d + 1 == self.len { b'}' } else { b',' };
            }
            at += 1;
            d += 1;
        }
        b'}'
    }

    /// Member `member`'s label set as text.
    pub fn text(&self, member: usize) -> String {
        let len = self.text_len(member);
        let bytes: Vec<u8> = (0..len).map(|i| self.text_byte(member, i)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `key` is a label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A label value as the file spells it: `\`, `"` and newline escaped as
/// `\\`, `\"` and `\n` (the escapes of the Prometheus text format).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A member's label taken apart: the family's label and the label set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberLabel<'a> {
    /// The family's label: what comes before the label set, then what comes
    /// after it (a part's suffix such as `.count`), so that the members of a
    /// summary's `.count` parts share the family `web.latency.count`.
    pub family: String,
    /// The text before the label set.
    pub base: &'a str,
    /// What follows the label set (a part's suffix), often empty.
    pub suffix: &'a str,
    /// The pairs, in the file's order, values unescaped.
    pub labels: Vec<(String, String)>,
}

/// Why a label set could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelSetError {
    /// Something other than the syntax expected at byte `at` of the label.
    #[error("malformed label set at byte {at}: expected {expected}")]
    Syntax {
        /// Offset in the label.
        at: usize,
        /// What should have been there.
        expected: &'static str,
    },
    /// A label name twice in one set.
    #[error("the label set names `{key}` twice")]
    DuplicateKey {
        /// The name.
        key: String,
    },
    /// More pairs than [`MAX_PARSED_PAIRS`].
    #[error("the label set has more than {MAX_PARSED_PAIRS} labels")]
    TooMany,
}

/// Takes a field's label apart into family and label set.
///
/// `Ok(None)`: the label has no `{`, it is an ordinary field. `Err`: it has
/// one, but what follows is not a well-formed label set; the field is best
/// shown as the ordinary field it also is. The label set is the first `{`
/// whose text parses; at most [`MAX_PARSED_PAIRS`] pairs are read.
// Parsing runs on labels from files anyone can write: nothing may panic.
#[deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
pub fn split(label: &str) -> Result<Option<MemberLabel<'_>>, LabelSetError> {
    let Some(open) = label.find('{') else {
        return Ok(None);
    };
    let (base, rest) = label.split_at(open);
    let (labels, used) = parse_set(rest, open)?;
    let suffix = rest.get(used..).unwrap_or("");
    let mut family = String::with_capacity(base.len().saturating_add(suffix.len()));
    family.push_str(base);
    family.push_str(suffix);
    Ok(Some(MemberLabel {
        family,
        base,
        suffix,
        labels,
    }))
}

type Pairs = Vec<(String, String)>;

/// Parses `{k="v",...}` at the start of `text` (which starts at byte
/// `offset` of the label); returns the pairs and the bytes used.
// Parsing runs on labels from files anyone can write: nothing may panic.
#[deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
fn parse_set(text: &str, offset: usize) -> Result<(Pairs, usize), LabelSetError> {
    let bytes = text.as_bytes();
    let err = |at: usize, expected| LabelSetError::Syntax {
        at: offset.saturating_add(at),
        expected,
    };
    let mut pairs: Pairs = Vec::new();
    // After the `{`.
    let mut at = 1;
    if bytes.get(at) == Some(&b'}') {
        return Err(err(at, "a label name"));
    }
    loop {
        let start = at;
        while bytes
            .get(at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            at = at.saturating_add(1);
        }
        let key = text.get(start..at).unwrap_or("");
        if !is_label_name(key) {
            return Err(err(start, "a label name"));
        }
        if bytes.get(at) != Some(&b'=') {
            return Err(err(at, "`=`"));
        }
        at = at.saturating_add(1);
        if bytes.get(at) != Some(&b'"') {
            return Err(err(at, "`\"`"));
        }
        at = at.saturating_add(1);
        let mut value = String::new();
        loop {
            let Some(c) = text.get(at..).and_then(|s| s.chars().next()) else {
                return Err(err(at, "the closing `\"`"));
            };
            match c {
                '"' => {
                    at = at.saturating_add(1);
                    break;
                }
                '\\' => {
                    match bytes.get(at.saturating_add(1)) {
                        Some(b'\\') => value.push('\\'),
                        Some(b'"') => value.push('"'),
                        Some(b'n') => value.push('\n'),
                        _ => return Err(err(at, "an escape: \\\\, \\\" or \\n")),
                    }
                    at = at.saturating_add(2);
                }
                '\n' => return Err(err(at, "a newline escaped as \\n")),
                c => {
                    value.push(c);
                    at = at.saturating_add(c.len_utf8());
                }
            }
        }
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(LabelSetError::DuplicateKey {
                key: key.to_string(),
            });
        }
        if pairs.len() >= MAX_PARSED_PAIRS {
            return Err(LabelSetError::TooMany);
        }
        pairs.push((key.to_string(), value));
        match bytes.get(at) {
            Some(b',') => at = at.saturating_add(1),
            Some(b'}') => return Ok((pairs, at.saturating_add(1))),
            _ => return Err(err(at, "`,` or `}`")),
        }
    }
}

/// A comma-separated list of selectors taken apart at the commas that are
/// not inside a label set: `a,b{k="x",j="y"},c` is three.
pub fn split_list(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut depth, mut quoted, mut escaped) = (0, 0usize, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' if depth > 0 => quoted = !quoted,
            '{' if !quoted => depth = depth.saturating_add(1),
            '}' if !quoted => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(text.get(start..i).unwrap_or(""));
                start = i.saturating_add(1);
            }
            _ => {}
        }
    }
    out.push(text.get(start..).unwrap_or(""));
    out
}

/// What a tool is asked to show: a field's label, or a family's label with
/// some of its labels (`web.requests{status="5xx"}`), standing for every
/// member that has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// The text as given.
    pub text: String,
    /// The family's label: the text before its label set.
    pub family: String,
    /// The labels a member must have.
    pub labels: Vec<(String, String)>,
}

impl Selector {
    /// Reads `requests`, `requests{status="5xx"}` or a whole member's label;
    /// an error for a label set that does not parse.
    pub fn parse(text: &str) -> Result<Selector, LabelSetError> {
        match split(text)? {
            None => Ok(Selector {
                text: text.to_string(),
                family: text.to_string(),
                labels: Vec::new(),
            }),
            Some(member) => Ok(Selector {
                text: text.to_string(),
                family: member.family,
                labels: member.labels,
            }),
        }
    }

    /// Whether the field labelled `label` is selected: it is the text, or a
    /// member of the family with every label asked for.
    pub fn matches(&self, label: &str) -> bool {
        if label == self.text {
            return true;
        }
        match split(label) {
            Ok(Some(member)) => {
                member.family == self.family
                    && self.labels.iter().all(|want| member.labels.contains(want))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[test]
    fn lists_split_outside_label_sets() {
        assert_eq!(
            split_list(r#"a,b{k="x,}",j="y\","},c"#),
            ["a", r#"b{k="x,}",j="y\","}"#, "c"]
        );
        assert_eq!(split_list(""), [""]);
    }

    #[test]
    fn selectors_pick_members_by_some_of_their_labels() {
        let all = Selector::parse("web.requests").unwrap();
        let five = Selector::parse("web.requests{status=\"5xx\"}").unwrap();
        let one = Selector::parse("web.requests{status=\"5xx\",method=\"get\"}").unwrap();
        let get5 = "web.requests{method=\"get\",status=\"5xx\"}";
        let get2 = "web.requests{method=\"get\",status=\"2xx\"}";
        assert!(all.matches(get5) && all.matches(get2) && all.matches("web.requests"));
        assert!(five.matches(get5) && !five.matches(get2));
        // The order of the labels asked for does not matter.
        assert!(one.matches(get5) && !one.matches(get2));
        assert!(!all.matches("web.requests.other{method=\"get\"}"));
        assert!(!all.matches("web.requestsx{method=\"get\"}"));
        assert!(!all.matches("web.other"));
        // A part of a summary's members is a family of its own.
        let count = Selector::parse("web.latency.count").unwrap();
        assert!(count.matches("web.latency{method=\"get\"}.count"));
        assert!(!count.matches("web.latency{method=\"get\"}"));
        assert!(Selector::parse("web.requests{status=}").is_err());
    }

    use super::*;

    const METHOD: LabelDim = LabelDim {
        key: "method",
        pairs: &["method=\"get\"", "method=\"post\""],
    };
    const STATUS: LabelDim = LabelDim {
        key: "status",
        pairs: &["status=\"2xx\"", "status=\"4xx\"", "status=\"5xx\""],
    };

    #[test]
    fn members_are_the_product_first_dimension_slowest() {
        let dims = LabelDims::concat(&LabelDims::one(METHOD), &LabelDims::one(STATUS));
        assert_eq!(dims.error, None);
        assert_eq!(dims.members(), 6);
        let texts: Vec<String> = (0..6).map(|m| dims.text(m)).collect();
        assert_eq!(texts[0], "{method=\"get\",status=\"2xx\"}");
        assert_eq!(texts[2], "{method=\"get\",status=\"5xx\"}");
        assert_eq!(texts[3], "{method=\"post\",status=\"2xx\"}");
        for (m, text) in texts.iter().enumerate() {
            assert_eq!(dims.text_len(m), text.len());
        }
        assert_eq!(LabelDims::NONE.members(), 1);
        assert_eq!(LabelDims::NONE.text(0), "");
    }

    #[test]
    fn a_tuple_with_a_key_twice_or_too_many_labels_is_an_error() {
        let one = LabelDims::one(METHOD);
        assert!(LabelDims::concat(&one, &one).error.is_some());
        let four = LabelDims {
            len: 4,
            ..LabelDims::one(STATUS)
        };
        assert!(LabelDims::concat(&four, &one).error.is_some());
    }

    #[test]
    fn labels_split_into_family_and_set() {
        let m = split("web.requests{method=\"get\",status=\"2xx\"}")
            .unwrap()
            .unwrap();
        assert_eq!(m.family, "web.requests");
        assert_eq!(
            m.labels,
            [
                ("method".to_string(), "get".to_string()),
                ("status".to_string(), "2xx".to_string())
            ]
        );
        let part = split("web.latency{method=\"get\"}.count").unwrap().unwrap();
        assert_eq!(part.family, "web.latency.count");
        assert_eq!((part.base, part.suffix), ("web.latency", ".count"));
        assert_eq!(split("web.plain").unwrap(), None);
    }

    #[test]
    fn escapes_round_trip() {
        let value = "a\\b\"c\nd{}=,é";
        let label = format!("x{{k=\"{}\"}}", escape(value));
        let m = split(&label).unwrap().unwrap();
        assert_eq!(m.labels, [("k".to_string(), value.to_string())]);
    }

    #[test]
    fn malformed_sets_are_typed_errors() {
        for bad in [
            "x{",
            "x{}",
            "x{k}",
            "x{k=}",
            "x{k=\"v}",
            "x{k=\"v\"",
            "x{k=\"v\",}",
            "x{1k=\"v\"}",
            "x{k=\"\\t\"}",
            "x{k=\"a\nb\"}",
            "x{k=\"v\";j=\"w\"}",
        ] {
            assert!(
                matches!(split(bad), Err(LabelSetError::Syntax { .. })),
                "{bad:?}: {:?}",
                split(bad)
            );
        }
        assert_eq!(
            split("x{k=\"a\",k=\"b\"}"),
            Err(LabelSetError::DuplicateKey {
                key: "k".to_string()
            })
        );
        let many: Vec<String> = (0..40).map(|i| format!("k{i}=\"v\"")).collect();
        assert_eq!(
            split(&format!("x{{{}}}", many.join(","))),
            Err(LabelSetError::TooMany)
        );
    }

    proptest::proptest! {
        #[test]
        fn splitting_never_panics(label in "\\PC{0,64}") {
            let _ = split(&label);
        }

        #[test]
        fn splitting_bytes_with_braces_never_panics(label in "[a-z{}=\",\\\\\"n]{0,40}") {
            let _ = split(&label);
        }
    }

    #[test]
    fn a_run_time_family_spells_its_fixed_labels_byte_by_byte() {
        let dims = LabelDims::dynamic(12).keyed("route");
        assert!(dims.error.is_none());
        assert!(dims.is_dynamic());
        assert_eq!(dims.members(), 13);
        assert_eq!(dims.text(0), r##"{route="#0"}"##);
        assert_eq!(dims.text(9), r##"{route="#9"}"##);
        assert_eq!(dims.text(11), r##"{route="#11"}"##);
        assert_eq!(dims.text(12), r#"{route="__overflow__"}"#);
        for m in 0..13 {
            assert_eq!(dims.text_len(m), dims.text(m).len());
            let fixed = dims.fixed_value(m).unwrap();
            assert_eq!(
                split(&format!("x{}", dims.text(m)))
                    .unwrap()
                    .unwrap()
                    .labels,
                [("route".to_string(), fixed)]
            );
        }
        assert_eq!(
            LabelDims::dynamic(1000).keyed("r").text(999),
            r##"{r="#999"}"##
        );
        // Without a key, or with one the tools use, it is an error.
        assert!(LabelDims::dynamic(2).error.is_some());
        for bad in ["pid", "__x", "1a", "a-b", ""] {
            assert!(LabelDims::dynamic(2).keyed(bad).error.is_some(), "{bad}");
        }
        // Other labels are not changed by a key.
        assert!(LabelDims::NONE.keyed("x").error.is_none());
        assert_eq!(LabelDims::NONE.keyed("x").members(), 1);
    }
}
