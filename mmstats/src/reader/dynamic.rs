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
