//! Series that Prometheus can trust: `/metrics` of a real `mmstats serve`
//! gives one series per process, and a process's counters never go down
//! while it lives, whatever its threads do.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
mod support;

use support::process::serve;
use support::prometheus::{ask, scraping, Prometheus};
use support::Guard;

/// `GET /metrics`: its body.
fn metrics(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(20)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// The value of the sample `series` (name and labels, as written).
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Every sample of a counter family (`# TYPE NAME counter`), by series.
fn counters(text: &str) -> HashMap<String, f64> {
    let mut family = None;
    let mut out = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split(' ');
            let name = words.next().unwrap_or("");
            let ty = words.next().unwrap_or("");
            family = (ty == "counter" || ty == "histogram").then(|| name.to_string());
        } else if line.starts_with('#') {
            continue;
        } else if let Some(family) = &family {
            let (series, value) = line.rsplit_once(' ').unwrap();
            if series.starts_with(family.as_str()) && !series.contains("_sum") {
                out.insert(series.to_string(), value.parse().unwrap());
            }
        }
    }
    out
}

fn dir_arg(dir: &Path) -> String {
    dir.display().to_string()
}

#[test]
fn a_thread_that_ends_keeps_its_counts_in_its_process_total() {
    let dir = tempfile::tempdir().unwrap();
    let main = support::create(dir.path(), "churn", 10, "main");
    let (_server, address) = serve(&[&dir_arg(dir.path())]);
    let series = format!(
        "mmstats_t_hits_total{{cmd=\"churn\",pid=\"{}\"}}",
        std::process::id()
    );
    // A worker thread counts 5, is scraped, and ends, removing its file.
    let (started, done) = std::sync::mpsc::channel();
    let (scraped, end) = std::sync::mpsc::channel::<()>();
    let path = dir.path().to_path_buf();
    let worker = std::thread::spawn(move || {
        let stats = support::create(&path, "churn", 5, "worker");
        started.send(()).unwrap();
        end.recv().unwrap();
        stats.remove().unwrap();
    });
    done.recv().unwrap();
    let before = metrics(address);
    assert_eq!(sample(&before, &series), Some(15), "{before}");
    assert!(!before.contains("tid="), "{before}");
    scraped.send(()).unwrap();
    worker.join().unwrap();
    assert_eq!(common::stats_files(dir.path()).len(), 1);
    // Its file is gone; its 5 stay in the process's total.
    let after = metrics(address);
    assert_eq!(sample(&after, &series), Some(15), "{after}");
    assert!(after.contains("\nmmstats_exporter_files 1\n"), "{after}");
    main.hits.incr_by(2);
    // A new thread (perhaps with the ended one's id) starts at 3.
    let path = dir.path().to_path_buf();
    let second = std::thread::spawn(move || support::create(&path, "churn", 3, "again"));
    let _second = second.join().unwrap();
    let again = metrics(address);
    assert_eq!(sample(&again, &series), Some(20), "{again}");
}

/// The webserver demo, scraped again and again while it runs: one series
/// per process, no `tid` label, no counter that goes down.
#[test]
fn the_webserver_demos_metrics_are_one_series_per_process_and_never_go_down() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Command::new(common::example("webserver"))
        .args(["--duration", "60s", "--threads", "3"])
        .env("MMSTATS_PATH", dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = demo.id();
    let _demo = Guard(demo);
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::stats_files(dir.path()).len() < 4 {
        assert!(Instant::now() < deadline, "the demo made no files");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_server, address) = serve(&[&dir_arg(dir.path())]);
    let requests = format!("mmstats_web_requests_total{{cmd=\"webserver\",pid=\"{pid}\"}}");
    let mut last: HashMap<String, f64> = HashMap::new();
    let mut firsts = Vec::new();
    for _ in 0..10 {
        let text = metrics(address);
        assert!(!text.contains("tid="), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with(&requests)).count(),
            1,
            "{text}"
        );
        firsts.push(sample(&text, &requests).unwrap());
        let now = counters(&text);
        assert!(!now.is_empty(), "{text}");
        for (series, value) in &now {
            if let Some(before) = last.get(series) {
                assert!(value >= before, "{series} went from {before} to {value}");
            }
        }
        last = now;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(firsts.last() > firsts.first(), "{firsts:?}");
}

/// `/metrics` answers OpenMetrics when asked, and a real Prometheus, which
/// asks for it first, reads a counter's value and a gauge's unit.
#[test]
#[ignore = "needs prometheus (Debian package prometheus)"]
fn prometheus_scrapes_openmetrics_and_reads_counters_and_units() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let _main = support::create(dir.path(), "om", 4242, "scraped");
    let (_server, address) = serve(&[&dir_arg(dir.path())]);
    // The server answers OpenMetrics to an OpenMetrics Accept header.
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{answer}"
    );
    assert!(answer.ends_with("# EOF\n"), "{answer}");
    assert!(
        answer.contains("# UNIT mmstats_t_latency_seconds seconds\n"),
        "{answer}"
    );
    let prometheus = Prometheus::start(work.path(), &scraping(&[address]), &[]);
    let prom = prometheus.address;
    let query = format!(
        "/api/v1/query?query=mmstats_t_hits_total%7Bcmd%3D%22om%22%2Cpid%3D%22{}%22%7D",
        std::process::id()
    );
    let value = ask(prom, work.path(), &query, |a| {
        a["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_string)
    });
    assert_eq!(value, "4242");
    // The unit, which only OpenMetrics carries.
    let unit = ask(
        prom,
        work.path(),
        "/api/v1/metadata?metric=mmstats_t_latency_seconds",
        |a| {
            a["data"]["mmstats_t_latency_seconds"][0]["unit"]
                .as_str()
                .map(str::to_string)
        },
    );
    assert_eq!(unit, "seconds");
    let ty = ask(
        prom,
        work.path(),
        "/api/v1/metadata?metric=mmstats_t_hits",
        |a| {
            a["data"]["mmstats_t_hits"][0]["type"]
                .as_str()
                .map(str::to_string)
        },
    );
    assert_eq!(ty, "counter");
    // The scrape itself was healthy.
    let health = ask(prom, work.path(), "/api/v1/targets", |a| {
        a["data"]["activeTargets"][0]["health"]
            .as_str()
            .map(str::to_string)
    });
    assert_eq!(health, "up");
}
