//! `mmstats record`: keep the history of every mmstats file in an mstore.
//!
//! Series names and the values stored are the library's recorder's
//! (`mmstats::record`); this file holds the arguments, the timing and the
//! printing.
//!
//! # Time
//!
//! The store counts time in milliseconds since the Unix epoch: its
//! resolution is the interval and its start time the first multiple of
//! the interval from the moment of its creation on (with `--on-input`, the
//! moment rounded down), so slot `n` stands for `start + n * interval`. A sample is taken at the start of each slot;
//! a slot whose sample could not be taken in time (the machine was busy,
//! the clock jumped) stays unset. Recording again into an existing store
//! continues it, and must use its interval.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mmstats::aggregate::Rules;
use mmstats::record::{self, open_or_create, Recorder};
use mmstats::Kind;

use crate::out::{self, Out, Status, Stop};
use crate::reading::LimitArgs;
use mmstats::time as when;

/// Sample every mmstats file (or the given ones) at each interval and append
/// one point per series to a history store.
///
/// Series are named `cmd:<command>:<label>` (one per command, summed over
/// its processes and threads), `pid:<pid>:<label>` (one per process) or
/// `file:<name>:<label>` (one per file), as chosen with --by; only the files
/// of the user record runs as, unless --all-users is given, and then the
/// files of each other user have series of their own, named with
/// `@<uid>` after the group (`cmd:webserver@1000:hits`). Counters are
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
    /// in it, the first at the start of the next interval; by default run
    /// until Ctrl-C.
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
    /// Record the files of every user, each user's in series of their own,
    /// not only those of the user record runs as.
    #[arg(long)]
    all_users: bool,
    /// The most series one chunk of the store takes: points of further new
    /// series are left out (and reported) until the next chunk begins.
    #[arg(long, value_name = "N", default_value_t = record::MAX_SERIES)]
    max_series: usize,
    /// The quantiles recorded of every histogram over each interval, as
    /// series `<name>:<q>` beside `<name>:count` and `<name>:sum`
    /// (comma-separated; also max, min, mean).
    #[arg(long, value_name = "Q,...", value_delimiter = ',', default_value = "p50,p99",
          value_parser = parse_quantile)]
    quantiles: Vec<String>,
    /// Keep every chunk in the fixed layout instead of compressing the
    /// chunks left behind (and all of them at the end), for a file system
    /// that compresses by itself.
    #[arg(long)]
    no_compress: bool,
    /// Keep this much history (`7d`, `12h`): after each sample, whole
    /// chunks older than that are deleted, oldest first, and each deletion
    /// is logged.
    #[arg(long, value_name = "DURATION", value_parser = when::parse_duration_ms)]
    retain: Option<u64>,
    /// Keep the store's files under this size (`1G`, `500M`): after each
    /// sample, the oldest whole chunks are deleted while it is bigger (the
    /// newest chunk is always kept), and each deletion is logged.
    #[arg(long, value_name = "SIZE", value_parser = crate::reading::parse_size)]
    max_bytes: Option<usize>,
    #[command(flatten)]
    limits: LimitArgs,
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

impl By {
    fn to_library(self) -> record::By {
        match self {
            By::Cmd => record::By::Cmd,
            By::Pid => record::By::Pid,
            By::File => record::By::File,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum UnknownAs {
    Gauge,
    Counter,
}

/// How late in its slot a sample may still be taken as the slot's own.
const START_SLACK_MS: u64 = 5;

/// Where slot 0 of a store made at `now` begins: at the next multiple of
/// the interval, so that the first sample is slot 0's. Slot 0 at the last
/// multiple would have begun already, the first sample would wait for
/// slot 1, and slot 0 would stay empty: a recording one chunk long would
/// then spill its last point into a second chunk. With `--on-input`, whose
/// first sample is taken as soon as a line comes, slot 0 is the slot under
/// way (`now`, which the store rounds down). An existing store keeps its
/// own start.
fn new_store_start(now: u64, interval: u64, on_input: bool) -> u64 {
    if on_input {
        return now;
    }
    let interval = interval.max(1);
    now.div_ceil(interval).checked_mul(interval).unwrap_or(now)
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
    let start = new_store_start(when::now_ms(), args.interval, args.on_input);
    let store = open_or_create(&args.store, args.interval, args.chunk_size, start)
        .map_err(|e| Stop::Fatal(e.to_string()))?;
    let info = store.info();
    let mut out = Out::new();
    let now = when::now_ms();
    // Slot 0 of a new store may not have begun yet: the first sample then
    // waits for it.
    let current = if now < info.start_time {
        0
    } else {
        store.slot_at(now).map_err(|e| Stop::Fatal(e.to_string()))?
    };
    // A point stands for the start of its slot, so it is read then: the
    // first sample waits for the next slot unless this one has only just
    // begun or is still to come (a sample read in the middle of its slot
    // would give the first rate a wrong time span).
    let first =
        if now < info.start_time || now.saturating_sub(info.time_of(current)) <= START_SLACK_MS {
            current
        } else {
            current.saturating_add(1)
        };
    // --duration D covers the slots of D from the first: D / interval
    // samples (at least one), fewer if some are missed.
    let end_slot = args
        .duration
        .map(|d| first.saturating_add(d.div_ceil(info.resolution).max(1)));
    if !args.quiet {
        out.line(&format!(
            "recording into {} every {} (slot 0 is {}, now is slot {current}); Ctrl-C stops",
            args.store.display(),
            when::format_duration_ms(info.resolution),
            when::format_rfc3339(info.start_time),
        ))?;
        out.flush()?;
    }
    let by: Vec<record::By> = args.by.iter().map(|b| b.to_library()).collect();
    let mut recorder = Recorder::new(store, args.paths.clone())
        .by(by)
        .rules(rules)
        .limits(args.limits.limits())
        .all_users(args.all_users)
        .max_series(args.max_series)
        .quantiles(args.quantiles.clone())
        .compress(!args.no_compress)
        .retain(
            args.retain.map(|ms| ms.div_ceil(info.resolution.max(1))),
            args.max_bytes.map(|b| b as u64),
        );
    let (mut samples, mut points): (u64, u64) = (0, 0);
    let mut next_slot: u64 = if args.on_input { 0 } else { first };
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
            if now >= info.start_time {
                let slot = match recorder.store().slot_at(now) {
                    Ok(slot) => slot,
                    Err(e) => break 'run Err(Stop::Fatal(e.to_string())),
                };
                if slot >= next_slot {
                    break slot;
                }
            }
            let due = info.time_of(next_slot);
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
        let sample = match recorder.sample(slot) {
            Ok(sample) => sample,
            Err(e) => break Err(Stop::Fatal(e.to_string())),
        };
        for warning in &sample.warnings {
            out::warn(warning);
        }
        if sample.left_out {
            out.failed();
        }
        for d in &sample.deleted {
            // Logged even with --quiet: data went away.
            out::warn(&format!(
                "retention: deleted the chunk of {} to {} (slots {} to {}, {} bytes)",
                when::format_rfc3339(info.time_of(d.first)),
                when::format_rfc3339(info.time_of(d.last)),
                d.first,
                d.last,
                d.bytes
            ));
        }
        samples = samples.saturating_add(1);
        points = points.saturating_add(sample.written);
        if !args.quiet {
            let line = format!(
                "{}  slot {slot}: {} files, {} series, {} points written",
                when::format_rfc3339(info.time_of(slot)),
                sample.files,
                sample.series,
                sample.written,
            );
            // Output closed (`record | head`) or failing: the run ends
            // here, as at its end, so the store is still sealed and closed.
            if let Err(stop) = out.line(&line).and_then(|()| out.flush()) {
                break Err(stop);
            }
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
    let series = recorder.series_written();
    let closed = recorder.close();
    result?;
    closed.map_err(|e| Stop::Fatal(e.to_string()))?;
    out.line(&format!(
        "stopped after {} samples: {} points in {} series, synced to {}",
        samples,
        points,
        series,
        args.store.display()
    ))?;
    out.finish()
}

fn parse_quantile(text: &str) -> Result<String, String> {
    if mmstats::reader::Histogram::is_statistic(text) {
        Ok(text.to_string())
    } else {
        Err("a quantile such as p50, p99 or p999 (or max, min, mean)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::new_store_start;

    #[test]
    fn a_new_store_begins_at_the_next_multiple_of_the_interval() {
        assert_eq!(new_store_start(1_000, 333, false), 1_332);
        assert_eq!(new_store_start(999, 333, false), 999);
        assert_eq!(new_store_start(1_001, 7, false), 1_001);
        assert_eq!(new_store_start(1_002, 7, false), 1_008);
        assert_eq!(new_store_start(0, 1_000, false), 0);
        // No multiple above: the store rounds `now` down instead.
        assert_eq!(new_store_start(u64::MAX - 1, 1_000, false), u64::MAX - 1);
        // `--on-input` samples at the first line: slot 0 is under way.
        assert_eq!(new_store_start(1_000, 333, true), 1_000);
    }
}
