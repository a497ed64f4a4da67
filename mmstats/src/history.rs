//! Reading a history store back: series as [`Point`]s chunk by chunk,
//! rates of counters, and names that look like a mistyped one. The
//! library side of `mmstats query`.

use crate::mstore::{self, make_splits, MetricInfo, Point, Reader, ValueType};

/// The points of one chunk's part of a range, or why that part could not
/// be read (the error names the chunk's file).
#[derive(Debug)]
pub struct Piece {
    /// First slot of the part.
    pub start: u64,
    /// One past its last slot.
    pub end: u64,
    /// Each slot with its point, `None` where it is unset.
    pub points: mstore::Result<Vec<(u64, Option<Point>)>>,
}

/// Reads slots `from..to` of `metric` (of type `value_type`) one chunk at a
/// time and calls `each` with every part, in order, so that a damaged
/// chunk leaves out its own slots only. Stops at the first error `each`
/// returns.
pub fn for_each_chunk<E>(
    reader: &mut Reader,
    metric: &str,
    value_type: ValueType,
    (from, to): (u64, u64),
    mut each: impl FnMut(Piece) -> Result<(), E>,
) -> Result<(), E> {
    let chunk_size = reader.info().chunk_size;
    for split in make_splits(from, to, chunk_size) {
        let start = split.base.saturating_add(split.offset);
        let end = start.saturating_add(split.len);
        let points = match value_type {
            ValueType::U64 => reader
                .get::<u64>(metric, start, end)
                .map(|p| p.iter().map(|(s, v)| (s, v.map(Point::U64))).collect()),
            ValueType::I64 => reader
                .get::<i64>(metric, start, end)
                .map(|p| p.iter().map(|(s, v)| (s, v.map(Point::I64))).collect()),
            ValueType::F64 => reader
                .get::<f64>(metric, start, end)
                .map(|p| p.iter().map(|(s, v)| (s, v.map(Point::F64))).collect()),
        };
        each(Piece { start, end, points })?;
    }
    Ok(())
}

/// The change per second from `before` to `now`, `seconds` apart; a value
/// that went down counts from zero (a restart).
pub fn rate(before: Point, now: Point, seconds: f64) -> Option<Point> {
    let change = match (before, now) {
        (Point::U64(b), Point::U64(n)) => n.checked_sub(b).unwrap_or(n) as f64,
        (Point::I64(b), Point::I64(n)) if n >= b => {
            i128::from(n).saturating_sub(i128::from(b)) as f64
        }
        (Point::I64(_), Point::I64(n)) => n as f64,
        (Point::F64(b), Point::F64(n)) if n >= b => n - b,
        (Point::F64(_), Point::F64(n)) => n,
        _ => return None,
    };
    (seconds > 0.0).then(|| Point::F64(change / seconds))
}

/// Names of `metrics` that look like `wanted`: containing it or contained
/// in it (for three characters or more), or at most three edits away, as
/// whole names or as labels; the closest first, at most five.
pub fn similar<'a>(wanted: &str, metrics: &'a [MetricInfo]) -> Vec<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(usize, &str)> = metrics
        .iter()
        .filter_map(|m| {
            let name = m.name.as_str();
            let lower = name.to_lowercase();
            // Also the labels alone, as a user may give a label or mistype
            // the command in front of it.
            let distance = edit_distance(&wanted_lower, &lower)
                .min(edit_distance(label_of(&wanted_lower), label_of(&lower)));
            // Containment means little for a name of a letter or two.
            let related = wanted_lower.chars().count() >= 3
                && (lower.contains(&wanted_lower) || wanted_lower.contains(&lower));
            (related || distance <= 3).then_some((distance, name))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

/// The label part of a series name (`cmd:webserver:web.requests` gives
/// `web.requests`), or the whole name if it has no `kind:key:` in front.
fn label_of(name: &str) -> &str {
    let mut parts = name.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("cmd" | "pid" | "file"), Some(_), Some(label)) => label,
        _ => name,
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for ca in a.chars() {
        let mut diagonal = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = first.saturating_add(1);
        }
        for (j, cb) in b.iter().enumerate() {
            let up = row.get(j.saturating_add(1)).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let cost = usize::from(ca != *cb);
            let best = diagonal
                .saturating_add(cost)
                .min(up.saturating_add(1))
                .min(left.saturating_add(1));
            diagonal = up;
            if let Some(cell) = row.get_mut(j.saturating_add(1)) {
                *cell = best;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(
            rate(Point::U64(10), Point::U64(30), 2.0),
            Some(Point::F64(10.0))
        );
        assert_eq!(
            rate(Point::U64(30), Point::U64(4), 2.0),
            Some(Point::F64(2.0))
        );
        assert_eq!(
            rate(Point::I64(-4), Point::I64(6), 1.0),
            Some(Point::F64(10.0))
        );
        assert_eq!(
            rate(Point::F64(1.0), Point::F64(1.5), 0.5),
            Some(Point::F64(1.0))
        );
        assert_eq!(rate(Point::U64(1), Point::U64(2), 0.0), None);
    }

    #[test]
    fn suggestions() {
        let m = |n: &str| MetricInfo {
            name: n.into(),
            value_type: ValueType::U64,
        };
        let names = [
            m("cmd:webserver:web.requests"),
            m("cmd:webserver:web.latency"),
            m("pid:12:web.requests"),
        ];
        assert_eq!(
            similar("web.requests", &names),
            ["cmd:webserver:web.requests", "pid:12:web.requests"]
        );
        assert_eq!(
            similar("cmd:webserver:web.reqests", &names),
            ["cmd:webserver:web.requests", "pid:12:web.requests"]
        );
        assert!(similar("zzz", &names).is_empty());
        assert!(similar("x", &names).is_empty());
        assert_eq!(
            similar("cmd:webserver:web.requsts", &names),
            ["cmd:webserver:web.requests", "pid:12:web.requests"]
        );
        assert_eq!(similar("web.latncy", &names), ["cmd:webserver:web.latency"]);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
