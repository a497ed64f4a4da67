//! A pretend web server: worker threads serve made-up requests and publish
//! their statistics, each thread in its own file; once a second the main
//! thread reads every file of this process back, as any tool would, and
//! prints what it sees.
//!
//! ```text
//! cargo run --example webserver                    # until Ctrl-C
//! cargo run --example webserver -- --duration 10s  # for ten seconds
//! cargo run --example webserver -- --threads 8
//! ```
//!
//! Files go to `$MMSTATS_PATH` (the temporary directory by default), named
//! `webserver-<pid>-<tid>-web_stats.mmstats`. On Ctrl-C, or when its output
//! is closed (`| head`), it stops and removes them; if the process is killed
//! they stay until `mmstats clean` takes them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mmstats::reader::{self, Value};
use mmstats::{Counter, Family, Flag, Gauge, Histogram, Labels, MmStats, Static, Text, Timer};

// ANCHOR: model
/// The request's method: a label of the `responses` family.
#[derive(Labels, Clone, Copy)]
#[mmstats(key = "method")]
enum Method {
    Get,
    Post,
}

/// The class of the response's status.
#[derive(Labels, Clone, Copy)]
#[mmstats(key = "status")]
enum Status {
    #[mmstats(value = "2xx")]
    Ok,
    #[mmstats(value = "5xx")]
    Error,
}

/// What every worker thread publishes.
#[derive(MmStats)]
#[mmstats(prefix = "web.")]
struct WebStats {
    /// Requests served.
    requests: Counter,
    /// Responses, by method and status.
    ///
    /// One field per member: `web.responses{method="get",status="2xx"}`, ...
    responses: Family<(Method, Status), Counter>,
    /// Bytes sent in response bodies.
    #[mmstats(unit = "bytes")]
    bytes_sent: Counter,
    /// Requests being served right now.
    in_flight: Gauge<u32>,
    /// Time to serve a request, mean of the last 100.
    latency: Timer<100>,
    /// Time to serve a request, all of them: readers give any quantile
    /// (`mmstats poll response_time:p99`), over any interval.
    #[mmstats(unit = "seconds")]
    response_time: Histogram,
    /// Whether the worker takes requests.
    up: Flag,
    /// The path of the last request.
    last_path: Text<64>,
    /// How many workers the server runs.
    #[mmstats(value = workers())]
    workers: Static<u32>,
}
// ANCHOR_END: model

fn workers() -> u32 {
    options().threads
}

struct Options {
    threads: u32,
    duration: Option<Duration>,
}

fn options() -> Options {
    let mut opts = Options {
        threads: 4,
        duration: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--threads", Some(n)) => match n.parse() {
                Ok(n) if n > 0 => opts.threads = n,
                _ => usage(&format!("--threads takes a number above zero, not {n:?}")),
            },
            ("--duration", Some(d)) => match parse_duration(&d) {
                Some(d) => opts.duration = Some(d),
                None => usage(&format!("--duration takes 10s, 2m or 500ms, not {d:?}")),
            },
            (other, _) => usage(&format!("unknown argument {other:?}")),
        }
    }
    opts
}

fn usage(problem: &str) -> ! {
    eprintln!("webserver: {problem}\nusage: webserver [--threads N] [--duration 10s]");
    std::process::exit(2)
}

fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

// ANCHOR: worker
/// One worker: serves requests until told to stop. `with_thread` gives each
/// thread its own stats file, made on first use.
fn worker(id: u32, stop: &AtomicBool) {
    let paths = ["/", "/search", "/api/items", "/static/app.js"];
    let mut n: u64 = 0;
    WebStats::with_thread(|s| s.up.set(true));
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let path = paths[(n as usize + id as usize) % paths.len()];
        WebStats::with_thread(|s| {
            s.in_flight.add(1);
            let _timing = s.latency.start();
            let _distribution = s.response_time.start();
            // "Serve" the request: a little work, now and then a slow one.
            let work = if n.is_multiple_of(50) { 3_000 } else { 300 };
            std::thread::sleep(Duration::from_micros(work));
            s.requests.incr();
            let method = if n.is_multiple_of(4) {
                Method::Post
            } else {
                Method::Get
            };
            let status = if n.is_multiple_of(97) {
                Status::Error
            } else {
                Status::Ok
            };
            s.responses[(method, status)].incr();
            s.bytes_sent.incr_by(512 + n % 1024);
            s.last_path.set(path);
            s.in_flight.sub(1);
        });
    }
    WebStats::with_thread(|s| s.up.set(false));
}
// ANCHOR_END: worker

/// The files of this process: `<cmd>-<pid>-*.mmstats` in the stats directory.
fn own_files(dir: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}-{}-", mmstats::file::program_name(), std::process::id());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".mmstats"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

// ANCHOR: read
/// Reads every file of this process and sums what the threads published.
/// An error is standard output's: whoever read it has gone.
fn report(dir: &Path, started: Instant, last_requests: &mut u64) -> std::io::Result<()> {
    let mut requests = 0;
    let mut errors = 0;
    let mut latency = 0.0;
    let mut timed = 0;
    let mut files = 0;
    for path in own_files(dir) {
        let Ok(snapshot) = reader::read_path(&path) else {
            continue;
        };
        files += 1;
        for stat in &snapshot.stats {
            match (stat.label.as_str(), &stat.value) {
                ("web.requests", Value::Unsigned(n)) => requests += n,
                (label, Value::Unsigned(n))
                    if label.starts_with("web.responses{") && label.contains("status=\"5xx\"") =>
                {
                    errors += n
                }
                ("web.latency", Value::Float(mean)) if *mean > 0.0 => {
                    latency += mean;
                    timed += 1;
                }
                _ => {}
            }
        }
    }
    writeln!(
        std::io::stdout(),
        "{:>5.1}s  files {:>2}  requests {:>7} (+{:>5})  5XX {:>4}  latency {:>6.3} ms",
        started.elapsed().as_secs_f64(),
        files,
        requests,
        requests.saturating_sub(*last_requests),
        errors,
        latency / f64::from(timed.max(1)) * 1000.0,
    )?;
    *last_requests = requests;
    Ok(())
}
// ANCHOR_END: read

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = options();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))?;
    }
    let dir = mmstats::file::default_dir();
    // Until its output is closed: then it stops as on Ctrl-C.
    let banner = writeln!(
        std::io::stdout(),
        "webserver: {} workers writing {}/{}-{}-<tid>-{}.mmstats; Ctrl-C stops",
        opts.threads,
        dir.display(),
        mmstats::file::program_name(),
        std::process::id(),
        <WebStats as MmStats>::MODEL.short_name,
    );
    if banner.is_err() {
        stop.store(true, Ordering::Relaxed);
    }

    // The main thread has a file too: it makes `remove` below find the
    // workers' files, and it says the server is up.
    let main_stats = WebStats::create()?;
    main_stats.up.set(true);

    let mut handles = Vec::new();
    for id in 0..opts.threads {
        let stop_worker = Arc::clone(&stop);
        match std::thread::Builder::new().spawn(move || worker(id, &stop_worker)) {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                eprintln!("webserver: cannot start worker {id}: {e}; running with {id}");
                break;
            }
        }
    }

    let started = Instant::now();
    let mut next_report = started + Duration::from_secs(1);
    let mut last = 0;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if Instant::now() >= next_report {
            if report(&dir, started, &mut last).is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            next_report += Duration::from_secs(1);
        }
        if opts.duration.is_some_and(|d| started.elapsed() >= d) {
            stop.store(true, Ordering::Relaxed);
        }
    }
    for handle in handles {
        let _ = handle.join();
    }
    // Standard output may be gone by now; the files are removed anyway.
    let _ = report(&dir, started, &mut last);
    main_stats.up.set(false);
    let removed = main_stats.remove()?;
    let _ = writeln!(
        std::io::stdout(),
        "webserver: stopped; removed {} stats files",
        removed.len()
    );
    Ok(())
}
