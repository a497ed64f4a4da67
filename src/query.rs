//! `mmstats query` and `mmstats metrics`: read a history store.
//!
//! Both open the store with `mstore::Reader`: no lock, nothing written, so
//! they run beside `mmstats record` and see every point it has reported.

use std::path::{Path, PathBuf};

use mmstats::history;
use mmstats::mstore::{Point, Reader, StoreInfo, ValueType};

use crate::out::{self, Out, Status, Stop};
use mmstats::time as when;

/// Print the points of one series of a history store, in time order.
///
/// Times (--from, --to) are Unix seconds, RFC 3339 (2026-11-22T03:00:00Z),
/// relative to now (-10m, -2h, -30s) or `now`; both ends are included. By
/// default a table of time (RFC 3339, UTC) and value, unset points shown as
/// `-`. With --rate every point shows the change per second from the
/// series' previous set point (the first has none); where a value went down
/// (its writer restarted) the rate is the new value over the time between
/// the points.
#[derive(clap::Args)]
pub struct Args {
    /// The store's directory.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// The series, as `mmstats metrics` lists it (`cmd:webserver:web.requests`).
    #[arg(value_name = "SERIES")]
    metric: String,
    /// First time shown; by default the store's start.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    from: Option<String>,
    /// Last time shown; by default now, showing points up to the last set
    /// one.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    to: Option<String>,
    /// Show the change per second instead of the value.
    #[arg(long)]
    rate: bool,
    /// Read at a coarser resolution: one row per window of this length
    /// (`1m`, `10m`, `1h`; rounded up to whole intervals), showing --agg of
    /// its set points (a window without any shows as unset).
    #[arg(long, value_name = "DURATION", value_parser = when::parse_duration_ms, conflicts_with = "rate")]
    step: Option<u64>,
    /// With --step: what each window shows: mean, min, max, last, rate (the
    /// change per second, restarts handled as --rate does) or count.
    #[arg(long, value_name = "AGG", default_value = "mean", value_parser = parse_agg, requires = "step")]
    agg: history::Agg,
    /// Leave out unset points instead of showing them.
    #[arg(long)]
    skip_unset: bool,
    /// JSON: an object with the series, its type, its interval in
    /// milliseconds and its points (time, unix_ms, value; null if unset).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// CSV with a header: time,unix_ms,value (empty if unset).
    #[arg(long)]
    csv: bool,
}

/// List the series of a history store with their types and the times of
/// their first and last points.
#[derive(clap::Args)]
pub struct MetricsArgs {
    /// The store's directory.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// JSON: an array of objects (name, type, points, first, last).
    #[arg(long)]
    json: bool,
}

/// Opens a store read-only, saying plainly when there is none.
fn open(dir: &Path) -> Result<Reader, Stop> {
    let shown = dir.display();
    if !dir.is_dir() {
        return Err(Stop::Fatal(format!("{shown}: no such directory")));
    }
    if !dir.join("mstore.meta").exists() {
        return Err(Stop::Fatal(format!(
            "{shown}: not a history store (it has no mstore.meta); \
             `mmstats record --store {shown}` makes one"
        )));
    }
    Reader::open(dir).map_err(|e| Stop::Fatal(e.to_string()))
}

/// A point as JSON: a number (a float that is not finite as `null`).
fn point_json(point: Point) -> serde_json::Value {
    match point {
        Point::U64(v) => v.into(),
        Point::I64(v) => v.into(),
        Point::F64(v) => v.into(),
    }
}

/// Reads slots `from..to` of `metric` chunk by chunk, calling `each` for
/// every slot. A chunk that cannot be read is reported (the error names its
/// file) and its slots are left out; the rest is still shown.
fn read_points(
    reader: &mut Reader,
    metric: &str,
    value_type: ValueType,
    (from, to): (u64, u64),
    out: &mut Out,
    mut each: impl FnMut(&mut Out, u64, Option<Point>) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let info = reader.info();
    history::for_each_chunk(reader, metric, value_type, (from, to), |piece| {
        match piece.points {
            Ok(points) => {
                for (slot, value) in points {
                    each(out, slot, value)?;
                }
            }
            Err(e) => {
                out.flush()?;
                out::warn(&format!(
                    "{e}; the points from {} to {} are left out",
                    when::format_rfc3339(info.time_of(piece.start)),
                    when::format_rfc3339(info.time_of(piece.end.saturating_sub(1))),
                ));
                out.failed();
            }
        }
        Ok(())
    })
}

fn unknown_metric(reader: &mut Reader, dir: &Path, metric: &str) -> Stop {
    let shown = dir.display();
    let names = reader.salvage_metrics().map(|m| m.0).unwrap_or_default();
    let close = history::similar(metric, &names);
    let hint = if close.is_empty() {
        format!("`mmstats metrics --store {shown}` lists them")
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    Stop::Fatal(format!("{shown}: no series {metric:?}; {hint}"))
}

/// The slots `from..to` of the points whose times are within the range
/// the user gave (both ends included).
fn slot_range(args: &Args, info: &StoreInfo, now: u64) -> Result<(u64, u64), Stop> {
    let parse = |text: &Option<String>, default: u64, flag: &str| match text {
        Some(t) => when::parse_time(t, now).map_err(|e| Stop::Fatal(format!("{flag}: {e}"))),
        None => Ok(default),
    };
    let to_ms = parse(&args.to, now, "--to")?;
    // By default from the store's start, or from --to if that is earlier.
    let from_ms = parse(&args.from, info.start_time.min(to_ms), "--from")?;
    if to_ms < from_ms {
        return Err(Stop::Fatal(format!(
            "--to ({}) is before --from ({}); nothing can be between them",
            when::format_rfc3339(to_ms),
            when::format_rfc3339(from_ms)
        )));
    }
    let res = info.resolution;
    // First slot at or after `from_ms`; one past the last at or before `to_ms`.
    let from = from_ms.saturating_sub(info.start_time).div_ceil(res.max(1));
    let to = if to_ms < info.start_time {
        0
    } else {
        to_ms
            .saturating_sub(info.start_time)
            .checked_div(res)
            .unwrap_or(0)
            .saturating_add(1)
    };
    Ok((from, to.max(from)))
}

fn parse_agg(text: &str) -> Result<history::Agg, String> {
    history::Agg::parse(text).ok_or_else(|| "one of mean, min, max, last, rate, count".into())
}

/// `query --step`: one row per window.
fn run_step(
    args: &Args,
    reader: &mut Reader,
    value_type: ValueType,
    (from, to): (u64, u64),
    step_ms: u64,
) -> Result<Status, Stop> {
    let info = reader.info();
    let step = step_ms.div_ceil(info.resolution.max(1)).max(1);
    let windows = history::read_step(
        reader,
        &args.metric,
        value_type,
        (from, to),
        step,
        info.resolution as f64 / 1000.0,
    )
    .map_err(|e| Stop::Fatal(e.to_string()))?;
    let agg = format!("{:?}", args.agg).to_lowercase();
    let mut out = Out::new();
    if args.json {
        let head = serde_json::json!({
            "metric": args.metric,
            "type": "f64",
            "agg": agg,
            "interval_ms": info.resolution,
            "step_ms": step.saturating_mul(info.resolution),
        })
        .to_string();
        out.line(&format!(
            "{},\"points\":[",
            head.strip_suffix('}').unwrap_or(&head)
        ))?;
    } else if args.csv {
        out.line("time,unix_ms,value")?;
    } else {
        out.line(&format!("{:<24}  {agg}", "time"))?;
    }
    let mut first = true;
    for w in &windows {
        let value = args.agg.of(w);
        if value.is_none() && args.skip_unset {
            continue;
        }
        let ms = info.time_of(w.start);
        let time = when::format_rfc3339(ms);
        let shown = value.map(Point::F64);
        if args.json {
            let point = serde_json::json!({
                "time": time,
                "unix_ms": ms,
                "count": w.count,
                "value": shown.map_or(serde_json::Value::Null, point_json),
            });
            let comma = if first { "" } else { "," };
            out.line(&format!("{comma}{point}"))?;
        } else if args.csv {
            let value = shown.map(|p| p.to_string()).unwrap_or_default();
            out.line(&format!("{time},{ms},{value}"))?;
        } else {
            let value = shown.map_or_else(|| "-".to_string(), |p| p.to_string());
            out.line(&format!("{time:<24}  {value}"))?;
        }
        first = false;
    }
    if args.json {
        out.line("]}")?;
    }
    out.finish()
}

pub fn run(args: &Args) -> Result<Status, Stop> {
    let mut reader = open(&args.store)?;
    let info = reader.info();
    let value_type = match reader.value_type(&args.metric) {
        Ok(Some(t)) => t,
        Ok(None) => return Err(unknown_metric(&mut reader, &args.store, &args.metric)),
        Err(e) => return Err(Stop::Fatal(e.to_string())),
    };
    let (from, to) = slot_range(args, &info, when::now_ms())?;
    if let Some(step_ms) = args.step {
        return run_step(args, &mut reader, value_type, (from, to), step_ms);
    }
    let mut out = Out::new();
    let shown_type = if args.rate {
        "f64"
    } else {
        value_type_name(value_type)
    };
    if args.json {
        let head = serde_json::json!({
            "metric": args.metric,
            "type": shown_type,
            "rate": args.rate,
            "interval_ms": info.resolution,
        })
        .to_string();
        // The object is written open and closed by hand, so that any
        // number of points streams out.
        out.line(&format!(
            "{},\"points\":[",
            head.strip_suffix('}').unwrap_or(&head)
        ))?;
    } else if args.csv {
        out.line("time,unix_ms,value")?;
    } else {
        let column = if args.rate { "rate/s" } else { "value" };
        out.line(&format!("{:<24}  {column}", "time"))?;
    }
    let mut previous: Option<(u64, Point)> = None;
    let mut first = true;
    // For a rate, one slot before the range gives the first point its
    // predecessor.
    let read_from = if args.rate {
        from.saturating_sub(1)
    } else {
        from
    };
    // Without --to the range ends now, but the points are shown only up
    // to the last set one: unset points are held back until a set point
    // follows them.
    let hold_tail = args.to.is_none();
    // Runs of held slots (first slot, count); a chunk that could not be
    // read breaks a run.
    let mut held: Vec<(u64, u64)> = Vec::new();
    let mut row = |out: &mut Out, slot: u64, shown: Option<Point>| -> Result<(), Stop> {
        let ms = info.time_of(slot);
        let time = when::format_rfc3339(ms);
        if args.json {
            let point = serde_json::json!({
                "time": time,
                "unix_ms": ms,
                "value": shown.map_or(serde_json::Value::Null, point_json),
            });
            let comma = if first { "" } else { "," };
            out.line(&format!("{comma}{point}"))?;
        } else if args.csv {
            let value = shown.map(|p: Point| p.to_string()).unwrap_or_default();
            out.line(&format!("{time},{ms},{value}"))?;
        } else {
            let value = shown.map_or_else(|| "-".to_string(), |p: Point| p.to_string());
            out.line(&format!("{time:<24}  {value}"))?;
        }
        first = false;
        Ok(())
    };
    read_points(
        &mut reader,
        &args.metric,
        value_type,
        (read_from.min(to), to),
        &mut out,
        |out, slot, value| {
            let shown = if args.rate {
                let r = match (previous, value) {
                    (Some((ps, pv)), Some(v)) => {
                        let ms = slot.saturating_sub(ps).saturating_mul(info.resolution);
                        history::rate(pv, v, ms as f64 / 1000.0)
                    }
                    _ => None,
                };
                if let Some(v) = value {
                    previous = Some((slot, v));
                }
                r
            } else {
                value
            };
            if slot < from || (shown.is_none() && args.skip_unset) {
                return Ok(());
            }
            if shown.is_none() && hold_tail {
                match held.last_mut() {
                    Some((start, n)) if start.saturating_add(*n) == slot => {
                        *n = n.saturating_add(1);
                    }
                    _ => held.push((slot, 1)),
                }
                return Ok(());
            }
            for (start, n) in held.drain(..) {
                for unset in start..start.saturating_add(n) {
                    row(out, unset, None)?;
                }
            }
            row(out, slot, shown)
        },
    )?;
    if args.json {
        out.line("]}")?;
    }
    out.finish()
}

fn value_type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::U64 => "u64",
        ValueType::I64 => "i64",
        ValueType::F64 => "f64",
    }
}

/// What `metrics` shows of one series.
#[derive(Clone, Copy, Default)]
struct Span {
    points: u64,
    first: Option<u64>,
    last: Option<u64>,
}

pub fn run_metrics(args: &MetricsArgs) -> Result<Status, Stop> {
    let mut reader = open(&args.store)?;
    let info = reader.info();
    // A damaged metric list is reported, and what can be found is listed.
    let (metrics, damage) = reader
        .salvage_metrics()
        .map_err(|e| Stop::Fatal(e.to_string()))?;
    let mut out = Out::new();
    for e in &damage {
        out::warn(&e.to_string());
        out.failed();
    }
    // One pass over every stored point gives each series its span.
    let spans = reader.fold(
        std::collections::HashMap::<String, Span>::new(),
        |mut spans, name, slot, run| {
            let n = run.len() as u64;
            let span = spans.entry(name.to_string()).or_default();
            span.points = span.points.saturating_add(n);
            span.first = Some(span.first.map_or(slot, |f| f.min(slot)));
            let end = slot.saturating_add(n.saturating_sub(1));
            span.last = Some(span.last.map_or(end, |l| l.max(end)));
            spans
        },
    );
    let spans = match spans {
        Ok(spans) => Some(spans),
        Err(e) => {
            out::warn(&format!("{e}; the series are listed without their spans"));
            out.failed();
            None
        }
    };
    let time = |slot: Option<u64>| slot.map(|s| when::format_rfc3339(info.time_of(s)));
    if args.json {
        let list: Vec<serde_json::Value> = metrics
            .iter()
            .map(|m| {
                let span = spans
                    .as_ref()
                    .map(|s| s.get(&m.name).copied().unwrap_or_default());
                serde_json::json!({
                    "name": m.name,
                    "type": value_type_name(m.value_type),
                    "points": span.map(|s| s.points),
                    "first": span.and_then(|s| time(s.first)),
                    "last": span.and_then(|s| time(s.last)),
                })
            })
            .collect();
        out.line(&serde_json::Value::Array(list).to_string())?;
        return out.finish();
    }
    let width = metrics
        .iter()
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    out.line(&format!(
        "{:<width$}  type  {:>7}  {:<24}  last",
        "series", "points", "first"
    ))?;
    for m in &metrics {
        let span = spans
            .as_ref()
            .map(|s| s.get(&m.name).copied().unwrap_or_default());
        let points = span.map_or_else(|| "?".to_string(), |s| s.points.to_string());
        let first = span
            .and_then(|s| time(s.first))
            .unwrap_or_else(|| "-".into());
        let last = span
            .and_then(|s| time(s.last))
            .unwrap_or_else(|| "-".into());
        out.line(&format!(
            "{:<width$}  {:<4}  {points:>7}  {first:<24}  {last}",
            m.name,
            value_type_name(m.value_type),
        ))?;
    }
    out.line(&format!(
        "{} series, a point every {}, from {}",
        metrics.len(),
        when::format_duration_ms(info.resolution),
        when::format_rfc3339(info.start_time),
    ))?;
    out.finish()
}
