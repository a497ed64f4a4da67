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

/// One window of a read at a step ([`read_step`]): what its set points
/// were. Values are taken as `f64` (a `u64` or `i64` beyond 2^53 loses its
/// lowest bits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// First slot of the window.
    pub start: u64,
    /// Set points in it.
    pub count: u64,
    /// Smallest, largest, mean and last value of its set points; `None`
    /// when it has none.
    pub min: Option<f64>,
    /// See `min`.
    pub max: Option<f64>,
    /// See `min`.
    pub mean: Option<f64>,
    /// See `min`.
    pub last: Option<f64>,
    /// For counters: the increase per second over the window, from the
    /// set point before each of its set points (the one before the
    /// window's first included), a value that went down counting from
    /// zero (a restart) as [`rate`] does; over the time from that first
    /// predecessor to the window's last set point. `None` without two
    /// points to compare.
    pub rate: Option<f64>,
}

/// What [`Window`] gives, by name (for `query --agg` and `?agg=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// [`Window::mean`].
    Mean,
    /// [`Window::min`].
    Min,
    /// [`Window::max`].
    Max,
    /// [`Window::last`].
    Last,
    /// [`Window::rate`].
    Rate,
    /// [`Window::count`].
    Count,
}

impl Agg {
    /// The aggregate named `name` (`mean`, `min`, `max`, `last`, `rate`,
    /// `count`).
    pub fn parse(name: &str) -> Option<Agg> {
        Some(match name {
            "mean" | "avg" => Agg::Mean,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "last" => Agg::Last,
            "rate" => Agg::Rate,
            "count" => Agg::Count,
            _ => return None,
        })
    }

    /// This aggregate of `w`.
    pub fn of(self, w: &Window) -> Option<f64> {
        match self {
            Agg::Mean => w.mean,
            Agg::Min => w.min,
            Agg::Max => w.max,
            Agg::Last => w.last,
            Agg::Rate => w.rate,
            Agg::Count => Some(w.count as f64),
        }
    }
}

/// Most windows one [`read_step`] returns.
pub const MAX_WINDOWS: u64 = 1 << 20;

/// Reads slots `from..to` of `metric` (of type `value_type`) in windows of
/// `step` slots (the first starting at `from`, the last cut at `to`), one
/// chunk at a time, and sums up each window. `seconds_per_slot` turns
/// slots into time for the rate. Fails on the first part that cannot be
/// read (the error names its file), on `step` 0, and on more than
/// [`MAX_WINDOWS`] windows.
pub fn read_step(
    reader: &mut Reader,
    metric: &str,
    value_type: ValueType,
    (from, to): (u64, u64),
    step: u64,
    seconds_per_slot: f64,
) -> mstore::Result<Vec<Window>> {
    if step == 0 || to.saturating_sub(from).div_ceil(step.max(1)) > MAX_WINDOWS {
        return Err(mstore::Error::InvalidOptions(
            "a step must be at least one slot, and give at most MAX_WINDOWS windows",
        ));
    }
    let empty = |start| Window {
        start,
        count: 0,
        min: None,
        max: None,
        mean: None,
        last: None,
        rate: None,
    };
    let n = to.saturating_sub(from).div_ceil(step) as usize;
    let mut out: Vec<Window> = (0..n as u64).map(|i| empty(from + i * step)).collect();
    let mut sums = vec![0f64; n];
    // Rate: per window, the first predecessor's slot and the increase.
    let mut rate_from: Vec<Option<u64>> = vec![None; n];
    let mut increase = vec![0f64; n];
    let mut last_slot: Vec<Option<u64>> = vec![None; n];
    let mut previous: Option<(u64, Point)> = None;
    for_each_chunk(reader, metric, value_type, (from, to), |piece| {
        let points = piece.points?;
        for (slot, value) in points {
            let Some(v) = value else { continue };
            let i = ((slot - from) / step) as usize;
            let (Some(w), Some(sum)) = (out.get_mut(i), sums.get_mut(i)) else {
                continue;
            };
            let x = match v {
                Point::U64(n) => n as f64,
                Point::I64(n) => n as f64,
                Point::F64(f) => f,
            };
            w.count += 1;
            *sum += x;
            w.min = Some(w.min.map_or(x, |m| m.min(x)));
            w.max = Some(w.max.map_or(x, |m| m.max(x)));
            w.last = Some(x);
            if let Some(ls) = last_slot.get_mut(i) {
                *ls = Some(slot);
            }
            if let Some((ps, pv)) = previous {
                // The change from the point before, as `rate` counts it.
                if let Some(Point::F64(r)) = rate(pv, v, 1.0) {
                    if let (Some(rf), Some(inc)) = (rate_from.get_mut(i), increase.get_mut(i)) {
                        rf.get_or_insert(ps);
                        *inc += r;
                    }
                }
            }
            previous = Some((slot, v));
        }
        Ok::<(), mstore::Error>(())
    })?;
    for (i, w) in out.iter_mut().enumerate() {
        if w.count > 0 {
            w.mean = Some(sums[i] / w.count as f64);
        }
        if let (Some(rf), Some(ls)) = (rate_from[i], last_slot[i]) {
            let seconds = ls.saturating_sub(rf) as f64 * seconds_per_slot;
            if seconds > 0.0 {
                w.rate = Some(increase[i] / seconds);
            }
        }
    }
    Ok(out)
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
    fn windows_sum_up_their_points_and_rates_handle_restarts() {
        let d = tempfile::tempdir().unwrap();
        let mut s = mstore::Store::create(
            d.path(),
            mstore::Options {
                chunk_size: 7,
                ..mstore::Options::default()
            },
        )
        .unwrap();
        // A counter going up by 2 a slot, restarting at slot 12 (to 1),
        // slot 5 unset.
        for t in 0..20u64 {
            if t == 5 {
                continue;
            }
            let v = if t < 12 {
                100 + 2 * t
            } else {
                1 + 2 * (t - 12)
            };
            s.put("c", t, &[v]).unwrap();
        }
        s.close().unwrap();
        let mut r = Reader::open(d.path()).unwrap();
        let w = read_step(&mut r, "c", ValueType::U64, (0, 20), 10, 0.5).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].start, w[0].count), (0, 9));
        assert_eq!(
            (w[0].min, w[0].max, w[0].last),
            (Some(100.0), Some(118.0), Some(118.0))
        );
        let mean0 = (0..10)
            .filter(|t| *t != 5)
            .map(|t| 100.0 + 2.0 * t as f64)
            .sum::<f64>()
            / 9.0;
        assert_eq!(w[0].mean, Some(mean0));
        // 2 per slot, 0.5 s a slot: 4 per second (the gap at 5 included).
        assert_eq!(w[0].rate, Some(4.0));
        // Window 1: slots 10 and 11 +2 each (from slot 9), the restart at
        // 12 counts its value (1), then +2 a slot to 19.
        assert_eq!(w[1].count, 10);
        let inc = 2.0 * 2.0 + 1.0 + 2.0 * 7.0;
        assert_eq!(w[1].rate, Some(inc / (10.0 * 0.5)));
        assert_eq!(w[1].min, Some(1.0));
        // A last, short window, and an empty one.
        let w = read_step(&mut r, "c", ValueType::U64, (15, 40), 20, 1.0).unwrap();
        assert_eq!((w.len(), w[0].count, w[1].count), (2, 5, 0));
        assert_eq!(w[1].mean, None);
        assert!(read_step(&mut r, "c", ValueType::U64, (0, 20), 0, 1.0).is_err());
    }

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
