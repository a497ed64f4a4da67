//! `mmstats push`: send the series of `/metrics` to a Prometheus
//! remote-write receiver. The protocol, the queue and the retries are the
//! library's (`mmstats::export::remote_write`); this file holds the
//! arguments, the timing, the command's own stats file and the printing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mmstats::export::remote_write::{Config, Figures, Pusher};
use mmstats::export::series::{Options, Per};
use mmstats::{Counter, Gauge, MmStats, Text};

use crate::out::{self, Out, Status, Stop};
use crate::reading::LimitArgs;
use mmstats::time as when;

/// Sample the files at each interval and send their series to a Prometheus
/// remote-write receiver (Prometheus with --web.enable-remote-write-receiver,
/// Mimir, Thanos Receive, VictoriaMetrics).
///
/// The series are those of `mmstats serve`'s /metrics (one per process by
/// default), with an `instance` label (the host name unless --instance is
/// given). Samples wait in a bounded queue (--max-queue samples, none older
/// than --max-age) until the receiver takes them: a request answered 5xx or
/// 429, or that gets no answer, is sent again after a pause that doubles up
/// to 10 s; one answered with another 4xx is dropped at once and counted. A
/// series whose process went away gets a stale marker. The command's own
/// figures (samples sent, retried, dropped, queued) are in its stats file,
/// `mmstats-push-<pid>-<tid>.mmstats` in MMSTATS_PATH, which `mmstats slurp`
/// shows, and on standard output at the end. Ctrl-C (or SIGTERM) sends what
/// is queued, for at most --flush-timeout, and stops.
#[derive(clap::Args)]
pub struct Args {
    /// The receiver's URL, such as http://127.0.0.1:9090/api/v1/write.
    #[arg(long, value_name = "URL")]
    remote_write: String,
    /// Time between samples (`15s`, `1s`, `500ms`).
    #[arg(short, long, default_value = "15s", value_parser = parse_interval)]
    interval: u64,
    /// A header sent with every request (repeatable): `'X-Scope-OrgID:
    /// team-a'`, `'Authorization: Bearer TOKEN'`.
    #[arg(long, value_name = "NAME: VALUE", value_parser = parse_header)]
    header: Vec<(String, String)>,
    /// The value of the `instance` label; the host name by default.
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
    /// What one series stands for: `process` (the default) or `thread`, as
    /// `mmstats serve --per`.
    #[arg(long, value_name = "process|thread", default_value = "process", value_parser = per)]
    per: Per,
    /// The most samples queued while the receiver does not take them; the
    /// oldest are dropped beyond (and counted).
    #[arg(long, value_name = "N", default_value_t = 500_000)]
    max_queue: usize,
    /// The oldest a queued sample may be (`15m`); older ones are dropped.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = when::parse_duration_ms)]
    max_age: u64,
    /// How long Ctrl-C waits for the queue to be sent.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = when::parse_duration_ms)]
    flush_timeout: u64,
    /// Stop after this long (`10s`, `2h`), sending what is queued as on
    /// Ctrl-C; by default run until Ctrl-C.
    #[arg(short, long, value_parser = when::parse_duration_ms)]
    duration: Option<u64>,
    /// Read the files of every user, each labelled with its owner.
    #[arg(long)]
    all_users: bool,
    #[command(flatten)]
    limits: LimitArgs,
    /// Files, directories (their *.mmstats files) or glob patterns.
    #[arg(value_name = "PATH|DIR|GLOB")]
    paths: Vec<String>,
}

/// What `mmstats push` publishes about itself.
#[derive(MmStats)]
#[mmstats(prefix = "push.")]
struct PushStats {
    /// Samples taken from the files and queued (stale markers included).
    samples_queued: Counter,
    /// Samples the receiver took.
    samples_sent: Counter,
    /// Samples sent again after a 5xx, a 429 or no answer, once per try.
    samples_retried: Counter,
    /// Samples dropped: by the queue's bounds, or refused by the receiver.
    samples_dropped: Counter,
    /// Of the samples dropped, those the receiver refused (4xx).
    samples_refused: Counter,
    /// Stale markers sent for series that went away.
    stale_markers: Counter,
    /// Requests sent, every try.
    requests: Counter,
    /// Requests that failed.
    requests_failed: Counter,
    /// Samples waiting in the queue.
    queue: Gauge<u64>,
    /// Why the last failed request failed.
    last_error: Text<200>,
}

impl PushStats {
    /// Makes the file's counters the pusher's figures.
    fn show(&self, figures: &Figures, last_error: Option<&str>) {
        let set = |c: &Counter, n: u64| c.set(n);
        set(&self.samples_queued, figures.queued);
        set(&self.samples_sent, figures.sent);
        set(&self.samples_retried, figures.retried);
        set(&self.samples_dropped, figures.dropped);
        set(&self.samples_refused, figures.refused);
        set(&self.stale_markers, figures.stale_markers);
        set(&self.requests, figures.requests);
        set(&self.requests_failed, figures.failed_requests);
        self.queue.set(figures.queue);
        if let Some(why) = last_error {
            self.last_error.set(why);
        }
    }
}

pub fn run(args: &Args) -> Result<Status, Stop> {
    let stop = Arc::new(AtomicBool::new(false));
    let on_stop = Arc::clone(&stop);
    ctrlc::set_handler(move || on_stop.store(true, Ordering::SeqCst))
        .map_err(|e| Stop::Fatal(format!("cannot catch Ctrl-C: {e}")))?;
    let instance = args.instance.clone().unwrap_or_else(host_name);
    let mut config = Config::new(&args.remote_write, &instance);
    config.headers = args.header.clone();
    config.options = Options { per: args.per };
    config.max_samples = args.max_queue.max(1);
    config.max_age = Duration::from_millis(args.max_age);
    let mut pusher = Pusher::new(config).map_err(|e| Stop::Fatal(e.to_string()))?;
    let own = PushStats::builder()
        .cmd("mmstats-push")
        .create()
        .map_err(|e| Stop::Fatal(format!("cannot create the stats file: {e}")))?;
    let mut collector = args.limits.collector(&args.paths).all_users(args.all_users);
    let mut out = Out::new();
    out.line(&format!(
        "pushing to {} every {} as instance {instance:?}; Ctrl-C stops",
        args.remote_write,
        when::format_duration_ms(args.interval)
    ))?;
    out.flush()?;
    let interval = Duration::from_millis(args.interval);
    let began = Instant::now();
    let end = args
        .duration
        .map(|d| later(began, Duration::from_millis(d)));
    let mut next = began;
    let mut failed = false;
    let mut reported: Option<String> = None;
    while !stop.load(Ordering::SeqCst) && end.is_none_or(|e| Instant::now() < e) {
        let collection = collector.collect();
        failed |= !collection.failed.is_empty();
        pusher.sample(collection.files, collection.failed.len(), SystemTime::now());
        next = later(next, interval);
        let now = Instant::now();
        if next < now {
            // Sampling fell behind (the machine was busy): start afresh.
            next = later(now, interval);
        }
        // Send until the next sample, a little at a time so Ctrl-C is heard.
        while !stop.load(Ordering::SeqCst) && Instant::now() < next {
            let step = later(Instant::now(), Duration::from_millis(200)).min(next);
            let empty = pusher.send_until(step);
            own.show(&pusher.figures(), pusher.last_error());
            if let Some(why) = pusher.last_error() {
                if reported.as_deref() != Some(why) {
                    out::warn(why);
                    reported = Some(why.to_string());
                }
            }
            if empty {
                std::thread::sleep(
                    next.saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(200)),
                );
            }
        }
    }
    let flushed = pusher.send_until(later(
        Instant::now(),
        Duration::from_millis(args.flush_timeout),
    ));
    let figures = pusher.figures();
    own.show(&figures, pusher.last_error());
    out.line(&format!(
        "sent {} samples, retried {}, dropped {} ({} refused), {} left in the queue{}",
        figures.sent,
        figures.retried,
        figures.dropped,
        figures.refused,
        figures.queue,
        if flushed {
            ""
        } else {
            " (not sent in --flush-timeout)"
        }
    ))?;
    out.flush()?;
    let _ = own.remove();
    Ok(Status {
        failed: failed || figures.dropped > 0 || figures.queue > 0,
    })
}

/// `d` after `t`; a year after it (or `t`) for a `d` the clock cannot add.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(t)
}

/// The host name: the kernel's, else `localhost`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// An --interval: a duration of at least 1 ms.
fn parse_interval(text: &str) -> Result<u64, String> {
    match when::parse_duration_ms(text)? {
        0 => Err("the interval must be at least 1ms".to_string()),
        ms => Ok(ms),
    }
}

/// A --header `Name: value`.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not `Name: value`"))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{name:?} is not a header name"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// A `--per` value.
fn per(text: &str) -> Result<Per, String> {
    Per::parse(text).ok_or_else(|| "process or thread".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_intervals() {
        assert_eq!(
            parse_header("X-Scope-OrgID: team-a").unwrap(),
            ("X-Scope-OrgID".to_string(), "team-a".to_string())
        );
        assert_eq!(
            parse_header("Authorization:Bearer a:b").unwrap().1,
            "Bearer a:b"
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": v").is_err());
        assert!(parse_header("Bad Name: v").is_err());
        assert!(parse_interval("0s").is_err());
        assert_eq!(parse_interval("15s").unwrap(), 15_000);
    }
}
