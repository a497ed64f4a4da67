//! A program that answers Prometheus's `/metrics` itself: a tiny HTTP loop on
//! `std::net::TcpListener`, no HTTP library, with the library's exporter
//! rendering the stats files. The program writes stats of its own (requests
//! answered, scrapes, render time), so `/metrics` always shows something.
//!
//! ```text
//! cargo run --example metrics_server                          # until Ctrl-C, on 127.0.0.1:9718
//! cargo run --example metrics_server -- --duration 10s        # for ten seconds
//! cargo run --example metrics_server -- --listen 127.0.0.1:0  # on any free port
//! cargo run --example metrics_server -- '/tmp/webserver-*.mmstats'  # other programs' files
//! curl http://127.0.0.1:9718/metrics
//! ```
//!
//! With no path it serves the files of its own stats directory
//! (`$MMSTATS_PATH`, the temporary directory by default), its own file
//! among them; a path, directory or glob pattern serves those files
//! instead. `GET /metrics` is answered with the text exposition format;
//! any other request is a 404. The loop answers one connection at a time,
//! and a client gets two seconds and 8 KiB to send its request head (else
//! a 408 or a 431; a malformed one gets a 400), so a slow or hostile one
//! cannot hold it for long. There is no authentication: listen on another
//! address than loopback only where everyone who reaches it may read every
//! stat.
//!
//! It prints `listening on http://ADDR/` once the socket is bound. On
//! Ctrl-C or at the end of `--duration` it removes its file.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mmstats::collect::Collector;
use mmstats::export::prometheus;
use mmstats::{Counter, MmStats, Timer};

/// What the server publishes about itself.
#[derive(MmStats)]
#[mmstats(prefix = "metrics_server.")]
struct ServerStats {
    /// HTTP requests answered, whatever the status.
    requests: Counter,
    /// Requests for /metrics answered with the exposition.
    scrapes: Counter,
    /// Requests answered with 404 Not Found.
    not_found: Counter,
    /// Requests that were malformed, too large or too slow to arrive.
    bad_requests: Counter,
    /// Time to read the files and render the exposition, mean of the last 10.
    render_time: Timer<10>,
}

/// The content type of the Prometheus text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The most a request head may take, in bytes.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client has to send its request head, and to take the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

struct Options {
    listen: String,
    duration: Option<Duration>,
    paths: Vec<String>,
}

const USAGE: &str =
    "usage: metrics_server [--listen ADDR:PORT] [--duration 10s] [PATH|DIR|GLOB]...";

fn options() -> Options {
    let mut opts = Options {
        listen: "127.0.0.1:9718".into(),
        duration: None,
        paths: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            "--listen" => match args.next() {
                Some(addr) => opts.listen = addr,
                None => usage("--listen takes an address such as 127.0.0.1:9718"),
            },
            "--duration" => match args.next().as_deref().map(|d| (d, parse_duration(d))) {
                Some((_, Some(d))) => opts.duration = Some(d),
                Some((d, None)) => usage(&format!("--duration takes 10s, 2m or 500ms, not {d:?}")),
                None => usage("--duration takes 10s, 2m or 500ms"),
            },
            "--" => opts.paths.extend(args.by_ref()),
            other if other.starts_with('-') => usage(&format!("unknown argument {other:?}")),
            path => opts.paths.push(path.into()),
        }
    }
    opts
}

fn usage(problem: &str) -> ! {
    eprintln!("metrics_server: {problem}\n{USAGE}");
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

/// Answers one connection: reads the request head, then writes the
/// exposition, a 404, or an error status, and closes.
fn answer(
    mut stream: TcpStream,
    stats: &ServerStats,
    collector: &mut Collector,
    tracker: &mut prometheus::Tracker,
) {
    // The listener does not wait; the connection does, within its timeouts.
    if stream.set_nonblocking(false).is_err()
        || stream.set_write_timeout(Some(CLIENT_TIMEOUT)).is_err()
    {
        return;
    }
    let (status, content_type, body) = match read_head(&mut stream) {
        Ok(head) => match request_target(&head) {
            Some(("GET", "/metrics")) => {
                stats.requests.incr();
                stats.scrapes.incr();
                let body = stats.render_time.time(|| {
                    let collection = collector.collect();
                    // The tracker keeps the counts of threads whose files went
                    // away, so that a process's counters never go down.
                    prometheus::exposition_with(
                        collection.files,
                        collection.failed.len(),
                        &prometheus::Options::default(),
                        Some(tracker),
                    )
                });
                ("200 OK", CONTENT_TYPE, body)
            }
            Some(_) => {
                stats.requests.incr();
                stats.not_found.incr();
                (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "not found: try /metrics\n".into(),
                )
            }
            None => bad(stats, "400 Bad Request"),
        },
        Err(Head::TooLarge) => bad(stats, "431 Request Header Fields Too Large"),
        Err(Head::Slow) => bad(stats, "408 Request Timeout"),
        // The client left, or the connection failed: nobody to answer.
        Err(Head::Gone) => return,
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    // A client that does not take the answer is not waited for.
    let _ = stream.write_all(&response).and_then(|()| stream.flush());
}

fn bad(stats: &ServerStats, status: &'static str) -> (&'static str, &'static str, String) {
    stats.requests.incr();
    stats.bad_requests.incr();
    (status, "text/plain; charset=utf-8", format!("{status}\n"))
}

/// Why a request head was not read.
enum Head {
    TooLarge,
    Slow,
    Gone,
}

/// Reads up to the blank line that ends the request head, at most
/// [`MAX_HEAD`] bytes within [`CLIENT_TIMEOUT`] in all.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Head> {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Head::Slow);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| Head::Gone)?;
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(Head::Gone),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Head::Slow)
            }
            Err(_) => return Err(Head::Gone),
        };
        // Only the new bytes, and the three before them, can complete the end.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
        if let Some(end) = find_end(head.get(from..).unwrap_or_default()) {
            head.truncate(from + end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(Head::TooLarge);
        }
    }
}

/// Where the blank line ending a head starts in `bytes` (`\r\n\r\n`, or a
/// bare `\n\n` from a lenient client).
fn find_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The method and path (without query) of a request head, if its first line
/// is `METHOD TARGET HTTP/x`.
fn request_target(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut words = line.split(' ');
    let (method, target, version) = (words.next()?, words.next()?, words.next()?);
    if words.next().is_some() || !version.starts_with("HTTP/") {
        return None;
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    Some((method, path))
}

fn run() -> Result<(), String> {
    let opts = options();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))
            .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    }
    let stats = ServerStats::create().map_err(|e| e.to_string())?;
    // By default, the files beside this one; a directory whose name is not
    // UTF-8 cannot be an argument, so the default glob stands for it.
    let paths = if opts.paths.is_empty() {
        stats
            .path()
            .and_then(Path::parent)
            .and_then(Path::to_str)
            .map(|dir| vec![dir.to_string()])
            .unwrap_or_default()
    } else {
        opts.paths
    };
    let mut collector = Collector::new(paths);
    let mut tracker = prometheus::Tracker::new();

    let listener = TcpListener::bind(&opts.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Not blocking in accept, so that Ctrl-C and --duration are seen.
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    if let Some(path) = stats.path() {
        println!("metrics_server: writing {}", path.display());
    }
    println!("listening on http://{addr}/");
    io::stdout().flush().map_err(|e| e.to_string())?;

    // A duration too long to add is no bound.
    let deadline = opts.duration.and_then(|d| Instant::now().checked_add(d));
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|end| Instant::now() < end) {
        match listener.accept() {
            Ok((stream, _)) => answer(stream, &stats, &mut collector, &mut tracker),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of file descriptors, say: wait instead of spinning.
                eprintln!("metrics_server: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let served = stats.scrapes.get();
    let removed = stats.remove().map_err(|e| e.to_string())?;
    println!(
        "metrics_server: stopped; scrapes answered: {served}, stats files removed: {}",
        removed.len()
    );
    Ok(())
}

fn main() {
    if let Err(problem) = run() {
        eprintln!("metrics_server: {problem}");
        std::process::exit(1);
    }
}
