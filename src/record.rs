//! `mmstats record`: keep the history of every mmstats file in an mstore.
//!
//! # Series
//!
//! Each sample reads every file that matches, groups the files, combines
//! each group's values of every label by the rules of `mmstats::aggregate`
//! (the rules `poll` uses), and writes one point per group and label. The
//! metric ("series") name says which group:
//!
//! | `--by` | name | group |
//! | --- | --- | --- |
//! | `cmd` (the default) | `cmd:<command>:<label>` | every file of a command, all its processes and threads; the command comes from the file name (`webserver-812-815.mmstats` is `webserver`) |
//! | `pid` | `pid:<pid>:<label>` | every file of one process (its threads), by the file's `sys.pid` |
//! | `file` | `file:<name>:<label>` | one file, named without `.mmstats` |
//!
//! `--by cmd,pid` records both. Names hold no spaces unless a label or file
//! name does.
//!
//! # Values
//!
//! | kind | stored as |
//! | --- | --- |
//! | counter | `u64`, the sum of the files' counters as they stand (cumulative; `query --rate` turns it into a rate) |
//! | gauge | `i64`, the sum |
//! | average, timer | `f64`, the mean of the files' non-zero values |
//! | flag | `u64`, 1 if any file has it set, else 0 |
//! | text, static | not recorded |
//!
//! Integers of unknown kind (files without metadata) are gauges unless
//! `--unknown-as counter`; floats of unknown kind are averages. A float
//! counter or gauge is stored as `f64`. A series keeps the type of its
//! first point: a later point of another type is reported once and left
//! out, as is a gauge sum beyond the range of `i64`.
//!
//! # Time
//!
//! The store counts time in milliseconds since the Unix epoch: its
//! resolution is the interval and its start time the moment of its
//! creation, rounded down to a multiple of the interval, so slot `n` stands
//! for `start + n * interval`. A sample is taken at the start of each slot;
//! a slot whose sample could not be taken in time (the machine was busy,
//! the clock jumped) stays unset. Recording again into an existing store
//! continues it, and must use its interval.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mmstats::aggregate::{self, Aggregate, Combined, Rules};
use mmstats::discover;
use mmstats::mstore::{self, Options, Store};
use mmstats::reader::{self, Snapshot, Value};
use mmstats::Kind;

use crate::out::{self, Out, Status, Stop};
use mmstats::time as when;

/// Sample every mmstats file (or the given ones) at each interval and append
/// one point per series to a history store.
///
/// Series are named `cmd:<command>:<label>` (one per command, summed over
/// its processes and threads), `pid:<pid>:<label>` (one per process) or
/// `file:<name>:<label>` (one per file), as chosen with --by. Counters are
/// stored as u64 running totals, gauges as i64, averages and timers as f64,
/// flags as 0 or 1; texts and statics are not recorded. A line per sample
/// says how many series and points were written; each point is durable
/// (synced) before its line is printed. Ctrl-C (or SIGTERM) ends the run
/// after the sample in progress, with a final sync.
#[derive(clap::Args)]
pub struct Args {
    /// The store's directory; created if missing, continued if it exists.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// Time between samples (`1s`, `200ms`, `5m`); a store keeps the
    /// interval it was created with.
    #[arg(short, long, default_value = "1s", value_parser = parse_interval)]
    interval: u64,
    /// Stop after this long (`10s`, `2h`): as many samples as intervals fit
    /// in it, the first at once; by default run until Ctrl-C.
    #[arg(short, long, value_parser = when::parse_duration_ms)]
    duration: Option<u64>,
    /// Which series to write: any of cmd, pid, file, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cmd")]
    by: Vec<By>,
    /// How integers of unknown kind (files without metadata) are recorded.
    #[arg(long, value_enum, default_value = "gauge")]
    unknown_as: UnknownAs,
    /// Points per series in each chunk file of a new store.
    #[arg(long, default_value_t = 3600, value_name = "N")]
    chunk_size: u64,
    /// Take a sample each time a line arrives on standard input instead of
    /// at every interval (in the next slot not sampled yet); stop at the end
    /// of the input.
    #[arg(long)]
    on_input: bool,
    /// Print only warnings and the final summary.
    #[arg(short, long)]
    quiet: bool,
    /// Files, directories (their *.mmstats files) or glob patterns, looked
    /// up again at every sample; by default the default glob.
    #[arg(value_name = "PATH|DIR|GLOB")]
    paths: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum By {
    Cmd,
    Pid,
    File,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum UnknownAs {
    Gauge,
    Counter,
}

fn parse_interval(text: &str) -> Result<u64, String> {
    match when::parse_duration_ms(text)? {
        0 => Err("the interval must be at least 1ms".into()),
        ms => Ok(ms),
    }
}

/// What the main loop waits for.
enum Event {
    /// Ctrl-C or SIGTERM.
    Stop,
    /// A line on standard input (with --on-input).
    Input,
    /// The end of standard input (with --on-input).
    InputEnd,
}

/// One point, typed as it is stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Point {
    U64(u64),
    I64(i64),
    F64(f64),
}

/// The point to record for a combined value of a label, by the rules in the
/// module docs; `None` for what is not recorded.
fn point(kind: Kind, combined: &Combined) -> Option<Point> {
    let Combined::Value(value) = combined else {
        return None;
    };
    match (kind, value) {
        (Kind::Text | Kind::Static | Kind::Sequence | Kind::Unknown, _) | (_, Value::Text(_)) => {
            None
        }
        (_, Value::Float(x)) => Some(Point::F64(*x)),
        (Kind::Average | Kind::Timer | Kind::Minimum | Kind::Maximum, v) => {
            v.as_f64().map(Point::F64)
        }
        (Kind::Flag, v) => Some(Point::U64(u64::from(v.as_f64().is_some_and(|x| x != 0.0)))),
        (Kind::Counter, Value::Unsigned(n)) => Some(Point::U64(*n)),
        (Kind::Counter, Value::Bool(b)) => Some(Point::U64(u64::from(*b))),
        (Kind::Counter, Value::Signed(n)) => Some(Point::I64(*n)),
        // Gauges: one type whatever the sign, so a gauge that goes below
        // zero stays one series; a sum beyond i64 is left out (reported).
        (Kind::Gauge, Value::Unsigned(n)) => Some(Point::I64(i64::try_from(*n).ok()?)),
        (Kind::Gauge, Value::Signed(n)) => Some(Point::I64(*n)),
        (Kind::Gauge, Value::Bool(b)) => Some(Point::I64(i64::from(*b))),
    }
}

/// The series of one sample: name and point, in a stable order.
fn series(snapshots: &[Snapshot], by: &[By], rules: Rules) -> Vec<(String, Point)> {
    let mut out = Vec::new();
    let mut add = |prefix: String, aggregates: Vec<Aggregate>| {
        for a in aggregates {
            if let Some(p) = point(a.kind, &a.combined) {
                out.push((format!("{prefix}:{}", a.label), p));
            }
        }
    };
    if by.contains(&By::Cmd) {
        for group in aggregate::by_command(snapshots) {
            add(
                format!("cmd:{}", group.key),
                rules.combine(group.snapshots.iter().copied()),
            );
        }
    }
    if by.contains(&By::Pid) {
        for group in aggregate::by_process(snapshots) {
            // Files that name no process have no pid series.
            if let Some(pid) = group.key {
                add(
                    format!("pid:{pid}"),
                    rules.combine(group.snapshots.iter().copied()),
                );
            }
        }
    }
    if by.contains(&By::File) {
        for snapshot in snapshots {
            let name = snapshot
                .path
                .as_deref()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            let name = name.strip_suffix(".mmstats").unwrap_or(&name).to_string();
            add(format!("file:{name}"), rules.combine([snapshot]));
        }
    }
    out
}

/// Reads the files that match now, warning once about each that cannot be
/// read and each argument that gives no file.
fn sample(paths: &[String], warned: &mut HashSet<PathBuf>) -> Vec<Snapshot> {
    let found = discover::discover(paths);
    for skip in &found.skipped {
        // Keyed by the message: an argument that matches nothing is said
        // once, not at every sample.
        if warned.insert(PathBuf::from(skip.to_string())) {
            out::warn(&skip.to_string());
        }
    }
    let mut snapshots = Vec::new();
    for path in found.files {
        match reader::read_path(&path) {
            Ok(snapshot) => snapshots.push(snapshot),
            // Gone between the listing and the read: as if never listed.
            Err(reader::ReadError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                if warned.insert(path.clone()) {
                    out::warn(&e.to_string());
                }
            }
        }
    }
    snapshots
}

/// Opens the store, or creates it starting now; an existing store must have
/// been made with `interval`.
fn open_store(args: &Args, now: u64) -> Result<Store, Stop> {
    let dir = &args.store;
    let shown = dir.display();
    if dir.join("mstore.meta").exists() {
        let store = Store::open(dir).map_err(|e| Stop::Fatal(e.to_string()))?;
        let info = store.info();
        if info.resolution != args.interval {
            return Err(Stop::Fatal(format!(
                "{shown}: this store takes a point every {}, not every {}; \
                 record with --interval {} or into another store",
                when::format_duration_ms(info.resolution),
                when::format_duration_ms(args.interval),
                when::format_duration_ms(info.resolution),
            )));
        }
        return Ok(store);
    }
    // A new store goes into a new or empty directory (or one left by a
    // creation that was cut short), never among other files.
    if let Ok(entries) = std::fs::read_dir(dir) {
        let foreign = entries.filter_map(Result::ok).find(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !matches!(name.as_ref(), "chunks" | "metrics.list" | "lock") && !name.ends_with(".tmp")
        });
        if let Some(entry) = foreign {
            return Err(Stop::Fatal(format!(
                "{shown}: not a history store, and not empty ({} is there); \
                 give a new or empty directory",
                entry.file_name().to_string_lossy(),
            )));
        }
    }
    let start = now
        .checked_div(args.interval)
        .and_then(|n| n.checked_mul(args.interval))
        .unwrap_or(now);
    let options = Options {
        chunk_size: args.chunk_size,
        resolution: args.interval,
        start_time: start,
        max_open_chunks: 4,
    };
    Store::create(dir, options).map_err(|e| Stop::Fatal(e.to_string()))
}

/// What a run did, for the lines it prints.
#[derive(Default)]
struct Totals {
    samples: u64,
    points: u64,
    series: HashSet<String>,
}

pub fn run(args: &Args) -> Result<Status, Stop> {
    let (events_tx, events) = mpsc::channel::<Event>();
    let on_stop = events_tx.clone();
    ctrlc::set_handler(move || {
        let _ = on_stop.send(Event::Stop);
    })
    .map_err(|e| Stop::Fatal(format!("cannot catch Ctrl-C: {e}")))?;
    if args.on_input {
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                if line.is_err() || events_tx.send(Event::Input).is_err() {
                    break;
                }
            }
            let _ = events_tx.send(Event::InputEnd);
        });
    }
    let rules = Rules {
        unknown_integer: match args.unknown_as {
            UnknownAs::Gauge => Kind::Gauge,
            UnknownAs::Counter => Kind::Counter,
        },
    };
    let began = Instant::now();
    let mut store = open_store(args, when::now_ms())?;
    let info = store.info();
    let mut out = Out::new();
    let first = store
        .slot_at(when::now_ms())
        .map_err(|e| Stop::Fatal(e.to_string()))?;
    // --duration D covers the slots of D from now: D / interval samples
    // (at least one), fewer if some are missed.
    let end_slot = args
        .duration
        .map(|d| first.saturating_add(d.div_ceil(info.resolution).max(1)));
    if !args.quiet {
        out.line(&format!(
            "recording into {} every {} (slot 0 is {}, now is slot {first}); Ctrl-C stops",
            args.store.display(),
            when::format_duration_ms(info.resolution),
            when::format_rfc3339(info.start_time),
        ))?;
        out.flush()?;
    }
    let mut totals = Totals::default();
    let mut warned_files = HashSet::new();
    let mut warned_series = HashSet::new();
    let mut next_slot: u64 = 0;
    let result = 'run: loop {
        if args.on_input {
            match events.recv() {
                Ok(Event::Input) => {}
                _ => break Ok(()),
            }
        }
        // Wait for the start of a slot not sampled yet, or for Ctrl-C.
        let slot = loop {
            let now = when::now_ms();
            let slot = match store.slot_at(now) {
                Ok(slot) => slot,
                Err(e) => break 'run Err(Stop::Fatal(e.to_string())),
            };
            if slot >= next_slot {
                break slot;
            }
            let due = next_slot
                .checked_mul(info.resolution)
                .and_then(|t| t.checked_add(info.start_time))
                .unwrap_or(u64::MAX);
            let wait = Duration::from_millis(due.saturating_sub(now).min(info.resolution));
            if args.on_input {
                // Ctrl-C waits in the queue behind the input that came first.
                std::thread::sleep(wait);
                continue;
            }
            if end_slot.is_some_and(|end| next_slot >= end) {
                break 'run Ok(());
            }
            match events.recv_timeout(wait) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => break 'run Ok(()),
            }
        };
        next_slot = slot.saturating_add(1);
        let snapshots = sample(&args.paths, &mut warned_files);
        let points = series(&snapshots, &args.by, rules);
        let mut written: u64 = 0;
        let mut fatal = None;
        for (name, p) in &points {
            let put = match *p {
                Point::U64(v) => store.put(name, slot, &[v]),
                Point::I64(v) => store.put(name, slot, &[v]),
                Point::F64(v) => store.put(name, slot, &[v]),
            };
            match put {
                Ok(()) => {
                    written = written.saturating_add(1);
                    if !totals.series.contains(name) {
                        totals.series.insert(name.clone());
                    }
                }
                Err(
                    e @ (mstore::Error::WrongType { .. }
                    | mstore::Error::NameTooLong { .. }
                    | mstore::Error::EmptyName),
                ) => {
                    if warned_series.insert(name.clone()) {
                        out::warn(&format!("{e}; its points are left out"));
                    }
                    out.failed();
                }
                Err(e) => {
                    fatal = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = fatal {
            break Err(Stop::Fatal(e.to_string()));
        }
        if let Err(e) = store.sync() {
            break Err(Stop::Fatal(e.to_string()));
        }
        totals.samples = totals.samples.saturating_add(1);
        totals.points = totals.points.saturating_add(written);
        if !args.quiet {
            let line = format!(
                "{}  slot {slot}: {} files, {} series, {written} points written",
                when::format_rfc3339(
                    slot.saturating_mul(info.resolution)
                        .saturating_add(info.start_time)
                ),
                snapshots.len(),
                points.len(),
            );
            out.line(&line)?;
            out.flush()?;
        }
        // A pending Ctrl-C ends the run here, after the sample.
        if !args.on_input && events.try_recv().is_ok() {
            break Ok(());
        }
        let over = if args.on_input {
            args.duration
                .is_some_and(|d| began.elapsed() >= Duration::from_millis(d))
        } else {
            end_slot.is_some_and(|end| next_slot >= end)
        };
        if over {
            break Ok(());
        }
    };
    // Whatever ended the run, what was written is made durable.
    let closed = store.close();
    result?;
    closed.map_err(|e| Stop::Fatal(e.to_string()))?;
    out.line(&format!(
        "stopped after {} samples: {} points in {} series, synced to {}",
        totals.samples,
        totals.points,
        totals.series.len(),
        args.store.display()
    ))?;
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_by_kind() {
        let v = |v| Combined::Value(v);
        assert_eq!(
            point(Kind::Counter, &v(Value::Unsigned(7))),
            Some(Point::U64(7))
        );
        assert_eq!(
            point(Kind::Gauge, &v(Value::Unsigned(7))),
            Some(Point::I64(7))
        );
        assert_eq!(point(Kind::Gauge, &v(Value::Unsigned(u64::MAX))), None);
        assert_eq!(
            point(Kind::Gauge, &v(Value::Signed(-2))),
            Some(Point::I64(-2))
        );
        assert_eq!(
            point(Kind::Timer, &v(Value::Float(0.5))),
            Some(Point::F64(0.5))
        );
        assert_eq!(
            point(Kind::Average, &v(Value::Unsigned(3))),
            Some(Point::F64(3.0))
        );
        assert_eq!(
            point(Kind::Flag, &v(Value::Bool(true))),
            Some(Point::U64(1))
        );
        assert_eq!(
            point(Kind::Flag, &v(Value::Bool(false))),
            Some(Point::U64(0))
        );
        assert_eq!(point(Kind::Text, &v(Value::Text("x".into()))), None);
        assert_eq!(point(Kind::Static, &v(Value::Unsigned(4))), None);
        assert_eq!(
            point(Kind::Counter, &Combined::Distinct(vec![Value::Unsigned(1)])),
            None
        );
    }
}
