//! Members of run-time families ([`DynFamily`](crate::DynFamily)): after a
//! file's groups are read whole, each member whose label value was published
//! is shown under it (`web.routes{route="/api/items"}` instead of its fixed
//! `web.routes{route="#3"}`), unused members are left out, and the label
//! value's own fields (`….label`, `….label.seq`) are dropped: they are the
//! member's machinery, not values. A member whose label value is damaged or
//! forged is left out and reported ([`DamagedMember`]), so that no two
//! members ever show one label.

use std::collections::HashSet;

use super::frame::{Frame, ValueRef};
use super::mem;
use super::text::Span;
use crate::format::Kind;
use crate::labels::{self, OVERFLOW_VALUE};

/// What is wrong with the label value of a run-time family's member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum MemberProblem {
    /// The label value's fields are not where the format puts them: no
    /// sequence field right after it, or a fixed label that is not one
    /// `{key="..."}` label set.
    #[error("the member's label value is not laid out as a run-time family's")]
    Malformed,
    /// The sequence number stayed odd: the writer never finished
    /// publishing the value (or the file is forged).
    #[error("the member's label value never settled")]
    Unsettled,
    /// The text fills its field with no terminating NUL: longer than any
    /// value a writer publishes.
    #[error("the member's label value is too long")]
    TooLong,
    /// Bytes after the NUL that ends the value: a NUL inside a value.
    #[error("the member's label value has a NUL inside")]
    Nul,
    /// Published, but empty.
    #[error("the member's label value is empty")]
    Empty,
    /// The bytes are not UTF-8.
    #[error("the member's label value is not UTF-8")]
    NotUtf8,
    /// Another member (or field) already has this label.
    #[error("another member of the family already has this label value")]
    Duplicate,
}

/// A member of a run-time family left out of a read, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{label}: {problem}")]
pub struct DamagedMember {
    /// The member's fixed label, as in the file (`web.routes{route="#3"}`).
    pub label: String,
    /// What is wrong.
    pub problem: MemberProblem,
}

/// One member's fate.
enum Fate {
    /// Shown under a new label set (`{key="value"}`, escaped).
    Renamed(String),
    /// Its own fields shown as they are (the overflow).
    Kept,
    /// Left out (unused or damaged).
    Hidden,
}

/// Applies the rules of the module docs to `frame`, which holds a file
/// whose groups are settled. Does nothing, and allocates nothing, for a
/// file without run-time families.
pub(super) fn resolve<M: mem::Memory + ?Sized>(mem: &M, frame: &mut Frame) {
    if !frame.entries.iter().any(|e| e.kind == Kind::LabelValue) {
        return;
    }
    let mut keep = vec![true; frame.entries.len()];
    let mut taken: HashSet<String> = frame.fields().map(|f| f.label.to_owned()).collect();
    let mut renames: Vec<(usize, usize, String)> = Vec::new();
    for at in 0..frame.entries.len() {
        let Some(entry) = frame.entries.get(at).copied() else {
            continue;
        };
        if entry.kind != Kind::LabelValue {
            continue;
        }
        let label = frame.str(entry.label).to_owned();
        let seq_at = at.saturating_add(1);
        let Some(base) = label.strip_suffix(".label") else {
            continue;
        };
        // The member's fields: those right before whose label is the base
        // or the base and a part's suffix.
        let in_member = |l: &str| {
            l.strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        };
        let mut first = at;
        while let Some(previous) = first.checked_sub(1) {
            match frame.entries.get(previous) {
                Some(e) if in_member(frame.str(e.label)) => first = previous,
                _ => break,
            }
        }
        let seq = frame.entries.get(seq_at).copied().filter(|s| {
            s.kind == Kind::Sequence
                && frame
                    .str(s.label)
                    .strip_prefix(label.as_str())
                    .is_some_and(|rest| rest == ".seq")
        });
        let set = labels::split(base)
            .ok()
            .flatten()
            .filter(|m| m.suffix.is_empty() && m.labels.len() == 1 && !m.base.is_empty());
        let (fate, last) = match (seq, set) {
            (Some(_), Some(set)) => {
                let (key, fixed) = set.labels.first().cloned().unwrap_or_default();
                let number = match frame.field_at(seq_at).map(|f| f.value) {
                    Some(ValueRef::Unsigned(n)) => n,
                    _ => 1,
                };
                let fate = if fixed == OVERFLOW_VALUE {
                    Ok(Fate::Kept)
                } else if number == 0 {
                    Ok(Fate::Hidden)
                } else if number % 2 == 1 || frame.unsettled.contains(&seq_at) {
                    Err(MemberProblem::Unsettled)
                } else {
                    value_of(mem, frame, entry.value_at, entry.value_size).and_then(|value| {
                        let mut new = String::with_capacity(key.len().saturating_add(value.len()));
                        new.push('{');
                        new.push_str(&key);
                        new.push_str("=\"");
                        new.push_str(&labels::escape(&value));
                        new.push_str("\"}");
                        let whole = format!("{}{new}", set.base);
                        if value == OVERFLOW_VALUE || !taken.insert(whole) {
                            Err(MemberProblem::Duplicate)
                        } else {
                            Ok(Fate::Renamed(format!("{}{new}", set.base)))
                        }
                    })
                };
                (fate, seq_at)
            }
            _ => (Err(MemberProblem::Malformed), at),
        };
        // The label value and its number are never shown.
        for hidden in keep.get_mut(at..=last).into_iter().flatten() {
            *hidden = false;
        }
        match fate {
            Ok(Fate::Kept) => {}
            Ok(Fate::Renamed(new)) => renames.push((first, at, new)),
            Ok(Fate::Hidden) => {
                for hidden in keep.get_mut(first..at).into_iter().flatten() {
                    *hidden = false;
                }
            }
            Err(problem) => {
                for hidden in keep.get_mut(first..at).into_iter().flatten() {
                    *hidden = false;
                }
                frame.damaged.push(DamagedMember {
                    label: base.to_owned(),
                    problem,
                });
            }
        }
    }
    for (first, end, set) in renames {
        for index in first..end {
            let Some(entry) = frame.entries.get(index) else {
                continue;
            };
            let old = frame.str(entry.label);
            if !old.contains('{') {
                continue;
            }
            // What follows the fixed label set: a part's suffix.
            let rest = labels::split(old)
                .ok()
                .flatten()
                .map(|m| m.suffix.to_owned())
                .unwrap_or_default();
            let start = frame.text.len();
            frame.text.push_str(&set);
            frame.text.push_str(&rest);
            let span = Span {
                start,
                end: frame.text.len(),
            };
            if let Some(entry) = frame.entries.get_mut(index) {
                entry.label = span;
            }
        }
    }
    // Drop the hidden entries; the unsettled groups are named by index.
    let mut new_index = Vec::with_capacity(keep.len());
    let mut n = 0usize;
    for &kept in &keep {
        new_index.push(kept.then_some(n));
        if kept {
            n = n.saturating_add(1);
        }
    }
    let unsettled = std::mem::take(&mut frame.unsettled);
    frame.unsettled = unsettled
        .into_iter()
        .filter_map(|i| new_index.get(i).copied().flatten())
        .collect();
    let mut flags = keep.iter();
    frame
        .entries
        .retain(|_| flags.next().copied().unwrap_or(true));
}

/// The label value in the text at `value_at`, read again from the file:
/// the bytes before its NUL, which must be UTF-8 and followed only by NULs.
fn value_of<M: mem::Memory + ?Sized>(
    mem: &M,
    frame: &mut Frame,
    value_at: usize,
    size: usize,
) -> Result<String, MemberProblem> {
    let mut raw = std::mem::take(&mut frame.scratch);
    raw.clear();
    raw.resize(size, 0);
    let read = mem.copy(value_at, &mut raw);
    let result = if !read {
        Err(MemberProblem::Malformed)
    } else {
        match raw.iter().position(|&b| b == 0) {
            None => Err(MemberProblem::TooLong),
            Some(0) => Err(MemberProblem::Empty),
            Some(end) => {
                let (value, after) = raw.split_at(end);
                if after.iter().any(|&b| b != 0) {
                    Err(MemberProblem::Nul)
                } else {
                    std::str::from_utf8(value)
                        .map(str::to_owned)
                        .map_err(|_| MemberProblem::NotUtf8)
                }
            }
        }
    };
    frame.scratch = raw;
    result
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::MemberProblem;
    use crate::reader::{read_bytes, Snapshot, Value};
    use crate::{Counter, DynFamily, MmStats, Summary};

    #[derive(crate::MmStats)]
    #[mmstats(crate = "crate", prefix = "web.", defaults = false)]
    struct Web {
        #[mmstats(key = "route")]
        routes: DynFamily<Counter, 3>,
        tenant: DynFamily<Summary, 2>,
        after: Summary,
        plain: Counter,
    }

    /// The bytes of a file of `Web` with members `/a` (5) and `/b` (7) of
    /// `routes`, `acme` of `tenant`, one overflow, and `after`, `plain` set.
    fn clean() -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        stats.routes.member("/a").incr_by(5);
        stats.routes.member("/b").incr_by(7);
        stats.tenant.member("acme").add(2.0);
        stats.tenant.member("acme").add(4.0);
        stats.tenant.member("beta");
        stats.tenant.member("gamma").add(1.0); // the overflow
        stats.after.add(3.0);
        stats.plain.incr_by(9);
        std::fs::read(stats.path().unwrap()).unwrap()
    }

    /// Where the value of the field labelled `label` is.
    fn value_at(bytes: &[u8], label: &str) -> usize {
        let mut needle = u16::try_from(label.len()).unwrap().to_ne_bytes().to_vec();
        needle.extend_from_slice(label.as_bytes());
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("no field {label}"));
        let sig_at = at + needle.len();
        let sig_len = usize::from(u16::from_ne_bytes([bytes[sig_at], bytes[sig_at + 1]]));
        sig_at + 2 + sig_len + 1
    }

    fn set_u64(bytes: &mut [u8], label: &str, value: u64) {
        let at = value_at(bytes, label);
        bytes[at..at + 8].copy_from_slice(&value.to_ne_bytes());
    }

    fn set_text(bytes: &mut [u8], label: &str, text: &[u8]) {
        let at = value_at(bytes, label);
        bytes[at..at + text.len()].copy_from_slice(text);
    }

    fn labels(s: &Snapshot) -> Vec<&str> {
        s.stats.iter().map(|s| s.label.as_str()).collect()
    }

    fn read(bytes: &[u8]) -> Snapshot {
        read_bytes(bytes).unwrap()
    }

    #[test]
    fn members_show_under_their_values_and_the_machinery_is_dropped() {
        let s = read(&clean());
        assert_eq!(
            labels(&s),
            [
                r#"web.routes{route="/a"}"#,
                r#"web.routes{route="/b"}"#,
                r#"web.routes{route="__overflow__"}"#,
                r#"web.tenant{tenant="acme"}"#,
                r#"web.tenant{tenant="acme"}.count"#,
                r#"web.tenant{tenant="acme"}.sum"#,
                r#"web.tenant{tenant="acme"}.min"#,
                r#"web.tenant{tenant="acme"}.max"#,
                r#"web.tenant{tenant="acme"}.seq"#,
                r#"web.tenant{tenant="beta"}"#,
                r#"web.tenant{tenant="beta"}.count"#,
                r#"web.tenant{tenant="beta"}.sum"#,
                r#"web.tenant{tenant="beta"}.min"#,
                r#"web.tenant{tenant="beta"}.max"#,
                r#"web.tenant{tenant="beta"}.seq"#,
                r#"web.tenant{tenant="__overflow__"}"#,
                r#"web.tenant{tenant="__overflow__"}.count"#,
                r#"web.tenant{tenant="__overflow__"}.sum"#,
                r#"web.tenant{tenant="__overflow__"}.min"#,
                r#"web.tenant{tenant="__overflow__"}.max"#,
                r#"web.tenant{tenant="__overflow__"}.seq"#,
                "web.after",
                "web.after.count",
                "web.after.sum",
                "web.after.min",
                "web.after.max",
                "web.after.seq",
                "web.plain",
            ]
        );
        let value = |label: &str| s.get(label).unwrap().value.clone();
        assert_eq!(value(r#"web.routes{route="/a"}"#), Value::Unsigned(5));
        assert_eq!(value(r#"web.routes{route="/b"}"#), Value::Unsigned(7));
        assert_eq!(
            value(r#"web.tenant{tenant="acme"}.count"#),
            Value::Unsigned(2)
        );
        assert_eq!(value(r#"web.tenant{tenant="acme"}.max"#), Value::Float(4.0));
        assert_eq!(
            value(r#"web.tenant{tenant="__overflow__"}.count"#),
            Value::Unsigned(1)
        );
        assert_eq!(value("web.after.count"), Value::Unsigned(1));
        assert_eq!(value("web.plain"), Value::Unsigned(9));
        assert!(s.damaged.is_empty() && s.unsettled.is_empty());
    }

    #[test]
    fn a_file_without_run_time_families_is_left_as_it_is() {
        #[derive(crate::MmStats)]
        #[mmstats(crate = "crate", defaults = false)]
        struct Plain {
            a: Counter,
            b: Summary,
        }
        let dir = tempfile::tempdir().unwrap();
        let stats = Plain::builder().dir(dir.path()).create().unwrap();
        stats.a.incr();
        let s = read(&std::fs::read(stats.path().unwrap()).unwrap());
        assert_eq!(
            labels(&s),
            ["a", "b", "b.count", "b.sum", "b.min", "b.max", "b.seq"]
        );
    }

    /// Each forgery of member 1 of `routes` (`/b`) leaves it out, reported
    /// with its problem, and changes nothing else.
    #[test]
    fn each_damaged_label_value_is_left_out_with_its_problem() {
        let member = r##"web.routes{route="#1"}"##;
        let text = format!("{member}.label");
        let seq = format!("{member}.label.seq");
        type Forgery<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
        let cases: Vec<(MemberProblem, Forgery)> = vec![
            (
                MemberProblem::NotUtf8,
                Box::new(|b| set_text(b, &text, &[0xff])),
            ),
            (
                MemberProblem::TooLong,
                Box::new(|b| {
                    set_text(
                        b,
                        &text,
                        &[b'a'; DynFamily::<Counter, 1>::MAX_VALUE_LEN + 1],
                    )
                }),
            ),
            (
                MemberProblem::Nul,
                Box::new(|b| set_text(b, &text, b"/b\0z")),
            ),
            (
                MemberProblem::Empty,
                Box::new(|b| set_text(b, &text, b"\0\0")),
            ),
            (MemberProblem::Unsettled, Box::new(|b| set_u64(b, &seq, 3))),
            (
                MemberProblem::Duplicate,
                Box::new(|b| set_text(b, &text, b"/a\0")),
            ),
            (
                MemberProblem::Duplicate,
                Box::new(|b| set_text(b, &text, b"__overflow__\0")),
            ),
        ];
        for (problem, forge) in &cases {
            let mut bytes = clean();
            forge(&mut bytes);
            let s = read(&bytes);
            assert_eq!(s.damaged.len(), 1, "{problem:?}: {:?}", s.damaged);
            assert_eq!(s.damaged[0].problem, *problem);
            assert_eq!(s.damaged[0].label, member);
            let shown = labels(&s);
            assert!(
                !shown.iter().any(|l| l.contains("#1") || l.contains("/b")),
                "{problem:?}: {shown:?}"
            );
            assert!(
                !shown
                    .iter()
                    .any(|l| l.ends_with(".label") || l.ends_with(".label.seq")),
                "{shown:?}"
            );
            assert_eq!(shown.len(), 27, "{problem:?}: {shown:?}");
            assert_eq!(
                s.get(r#"web.routes{route="/a"}"#).unwrap().value,
                Value::Unsigned(5)
            );
            assert_eq!(s.get("web.plain").unwrap().value, Value::Unsigned(9));
        }
    }

    #[test]
    fn a_label_value_without_its_number_right_after_is_malformed() {
        let member = r##"web.routes{route="#1"}"##;
        let mut bytes = clean();
        // `….label.seq` renamed `….label.sex`: not the value's number.
        let label = format!("{member}.label.seq");
        let at = bytes
            .windows(label.len())
            .position(|w| w == label.as_bytes())
            .unwrap();
        bytes[at + label.len() - 1] = b'x';
        let s = read(&bytes);
        assert_eq!(s.damaged.len(), 1, "{:?}", s.damaged);
        assert_eq!(s.damaged[0].problem, MemberProblem::Malformed);
        assert_eq!(s.damaged[0].label, member);
        let shown = labels(&s);
        // The member and its label value are hidden; the stray field stays.
        assert!(!shown.contains(&member), "{shown:?}");
        assert!(!shown.iter().any(|l| l.ends_with(".label")), "{shown:?}");
        assert!(
            shown.contains(&format!("{member}.label.sex").as_str()),
            "{shown:?}"
        );
        assert_eq!(
            s.get(r#"web.routes{route="/a"}"#).unwrap().value,
            Value::Unsigned(5)
        );
        // A label value whose fixed label is no label set: the fields
        // `web.routes_route__#1__.label` and `….label.seq`.
        let mut bytes = clean();
        let (from, to) = (br##"{route="#1"}.label"##, br##"_route__#1__.label"##);
        while let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
            bytes[at..at + to.len()].copy_from_slice(to);
        }
        let s = read(&bytes);
        assert_eq!(s.damaged.len(), 1, "{:?}", s.damaged);
        assert_eq!(s.damaged[0].problem, MemberProblem::Malformed);
        assert_eq!(s.damaged[0].label, "web.routes_route__#1__");
        // A fixed label set of two labels is no member's either.
        let mut bytes = clean();
        let (from, to) = (br##"{route="#1"}.label"##, br##"{r="#",a=""}.label"##);
        while let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
            bytes[at..at + to.len()].copy_from_slice(to);
        }
        let two = read(&bytes);
        assert_eq!(two.damaged.len(), 1, "{:?}", two.damaged);
        assert_eq!(two.damaged[0].problem, MemberProblem::Malformed);
        assert_eq!(two.damaged[0].label, r##"web.routes{r="#",a=""}"##);
        // Only the label value itself is dropped: the fields around it are
        // not known to be its member's, and show as they are.
        let shown = labels(&s);
        assert!(!shown.iter().any(|l| l.ends_with(".label")), "{shown:?}");
        assert!(
            shown.contains(&"web.routes_route__#1__.label.seq"),
            "{shown:?}"
        );
        assert!(shown.contains(&r##"web.routes{route="#1"}"##), "{shown:?}");
    }

    /// A live file whose writer rewrites member 1's label value without
    /// end: each read of its number gives the next even one.
    struct Rewriting {
        bytes: Vec<u8>,
        seq_at: usize,
        number: std::cell::Cell<u64>,
    }

    impl super::super::mem::Memory for Rewriting {
        fn len(&self) -> usize {
            self.bytes.len()
        }

        fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
            let Some(from) = self.bytes.get(offset..offset + out.len()) else {
                return false;
            };
            out.copy_from_slice(from);
            if (offset..offset + out.len()).contains(&self.seq_at)
                && offset + out.len() >= self.seq_at + 8
            {
                let n = self.number.get() + 2;
                self.number.set(n);
                let at = self.seq_at - offset;
                out[at..at + 8].copy_from_slice(&n.to_ne_bytes());
            }
            true
        }
    }

    #[test]
    fn a_label_value_that_never_settles_is_left_out_even_when_its_number_is_even() {
        let bytes = clean();
        let seq_at = value_at(&bytes, r##"web.routes{route="#1"}.label.seq"##);
        let live = Rewriting {
            bytes,
            seq_at,
            number: std::cell::Cell::new(2),
        };
        let mut frame = super::super::Frame::new();
        super::super::parse::parse_into(&live, &mut frame).unwrap();
        let damaged = frame.damaged();
        assert_eq!(damaged.len(), 1, "{damaged:?}");
        assert_eq!(damaged[0].problem, MemberProblem::Unsettled);
        assert_eq!(damaged[0].label, r##"web.routes{route="#1"}"##);
        assert!(frame.get(r#"web.routes{route="/b"}"#).is_none());
        assert!(frame.get(r#"web.routes{route="/a"}"#).is_some());
    }

    #[test]
    fn a_member_whose_number_is_zero_is_unused_and_hidden_without_a_report() {
        let mut bytes = clean();
        set_u64(&mut bytes, r##"web.routes{route="#1"}.label.seq"##, 0);
        let s = read(&bytes);
        assert!(s.damaged.is_empty(), "{:?}", s.damaged);
        assert_eq!(labels(&s).len(), 27);
        assert!(s.get(r#"web.routes{route="/b"}"#).is_none());
    }

    #[test]
    fn a_torn_group_after_hidden_fields_is_still_named() {
        let mut bytes = clean();
        set_u64(&mut bytes, "web.after.seq", 5);
        let s = read(&bytes);
        assert_eq!(s.unsettled, ["web.after.seq"]);
        // And a torn member's group is named under its value.
        let mut bytes = clean();
        set_u64(&mut bytes, r##"web.tenant{tenant="#0"}.seq"##, 7);
        let s = read(&bytes);
        assert_eq!(s.unsettled, [r#"web.tenant{tenant="acme"}.seq"#]);
    }
}
