//! `mmstats push` run for real: into the Debian `prometheus` with its
//! remote-write receiver (a value becomes queryable; a 10 s outage loses
//! no sample), and into a receiver that refuses everything (no retry, the
//! drop counted).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mmstats::reader::Value;

mod common;
mod support;

use support::prometheus::{ask, Prometheus};
use support::{free_port, Guard};

/// Says `line` on standard error past the harness's capture, so that the
/// figures show in the CI log.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "push test: {line}");
}

/// `mmstats push ARGS` with its stats file in `own`, standard output piped.
fn push(own: &Path, args: &[&str]) -> Guard {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mmstats"));
    for var in ["MMSTATS_GLOB", "MMSTATS_FILES"] {
        command.env_remove(var);
    }
    Guard(
        command
            .env("MMSTATS_PATH", own)
            .arg("push")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// The push's own figures, from its stats file in `own`.
fn own_figures(own: &Path) -> Option<std::collections::HashMap<String, u64>> {
    let entry = std::fs::read_dir(own)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("mmstats-push-"))?;
    let snapshot = mmstats::reader::read_path(&entry.path()).ok()?;
    Some(
        snapshot
            .stats
            .iter()
            .filter_map(|s| match s.value {
                Value::Unsigned(n) => Some((s.label.clone(), n)),
                _ => None,
            })
            .collect(),
    )
}

/// The Debian `prometheus` with its remote-write receiver on `port`, its
/// data in `data`, scraping nothing.
fn prometheus(work: &Path, data: &Path, port: u16) -> Prometheus {
    Prometheus::start_at(
        work,
        "global:\n  evaluation_interval: 1s\nscrape_configs: []\n",
        data,
        port,
        &["--web.enable-remote-write-receiver"],
    )
}

/// `mmstats_t_hits_total{cmd="CMD",instance="test"}`, URL-encoded.
fn hits_query(cmd: &str) -> String {
    format!("mmstats_t_hits_total%7Bcmd%3D%22{cmd}%22%2Cinstance%3D%22test%22%7D")
}

struct Setup {
    _files: tempfile::TempDir,
    files: PathBuf,
    own: tempfile::TempDir,
    work: tempfile::TempDir,
    port: u16,
}

fn setup() -> Setup {
    let files = tempfile::tempdir().unwrap();
    Setup {
        files: files.path().to_path_buf(),
        _files: files,
        own: tempfile::tempdir().unwrap(),
        work: tempfile::tempdir().unwrap(),
        port: free_port(),
    }
}

impl Setup {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    fn address(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.port).parse().unwrap()
    }
}

#[test]
#[ignore = "needs prometheus (Debian package prometheus)"]
fn pushed_counters_become_queryable_in_prometheus() {
    let s = setup();
    let stats = support::create(&s.files, "pushed", 4242, "x");
    let _prometheus = prometheus(s.work.path(), &s.work.path().join("data"), s.port);
    let url = s.url();
    let files = s.files.display().to_string();
    let _push = push(
        s.own.path(),
        &[
            "--remote-write",
            &url,
            "--interval",
            "1s",
            "--instance",
            "test",
            &files,
        ],
    );
    let query = format!("/api/v1/query?query={}", hits_query("pushed"));
    let value = ask(s.address(), s.work.path(), &query, |a| {
        a["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_string)
    });
    assert_eq!(value, "4242");
    // The labels /metrics gives, and instance.
    let labels = ask(s.address(), s.work.path(), &query, |a| {
        a["data"]["result"][0]["metric"].as_object().cloned()
    });
    let mut names: Vec<&String> = labels.keys().collect();
    names.sort();
    assert_eq!(names, ["__name__", "cmd", "instance", "pid"], "{labels:?}");
    assert_eq!(labels["pid"], std::process::id().to_string());
    stats.hits.incr_by(8);
    ask(s.address(), s.work.path(), &query, |a| {
        (a["data"]["result"][0]["value"][1].as_str() == Some("4250")).then_some(())
    });
    // The webserver demo's request counter, pushed from its files.
    let demo_files = tempfile::tempdir().unwrap();
    let demo = Guard(
        Command::new(common::example("webserver"))
            .args(["--duration", "60s", "--threads", "2"])
            .env("MMSTATS_PATH", demo_files.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let demo_dir = demo_files.path().display().to_string();
    let _demo_push = push(
        s.own.path(),
        &[
            "--remote-write",
            &url,
            "--interval",
            "1s",
            "--instance",
            "test",
            &demo_dir,
        ],
    );
    let query = format!(
        "/api/v1/query?query=mmstats_web_requests_total%7Bcmd%3D%22webserver%22%2Cpid%3D%22{}%22%2Cinstance%3D%22test%22%7D",
        demo.0.id()
    );
    let served: f64 = ask(s.address(), s.work.path(), &query, |a| {
        let v: f64 = a["data"]["result"][0]["value"][1].as_str()?.parse().ok()?;
        (v > 0.0).then_some(v)
    });
    report(&format!(
        "the demo's request counter in Prometheus: {served}"
    ));
    // Its own figures, in its stats file.
    let own = own_figures(s.own.path()).unwrap();
    assert!(own["push.samples_sent"] > 0, "{own:?}");
    assert_eq!(own["push.samples_dropped"], 0, "{own:?}");
}

/// The receiver stopped for 10 s and started again on the same data: every
/// sample of the run is there afterwards, one a second with no gap.
#[test]
#[ignore = "needs prometheus (Debian package prometheus)"]
fn a_ten_second_outage_of_the_receiver_loses_no_sample() {
    let s = setup();
    let stats = support::create(&s.files, "outage", 1, "x");
    let data = s.work.path().join("data");
    let mut prometheus_run = prometheus(s.work.path(), &data, s.port);
    let url = s.url();
    let files = s.files.display().to_string();
    let _push = push(
        s.own.path(),
        &[
            "--remote-write",
            &url,
            "--interval",
            "1s",
            "--instance",
            "test",
            &files,
        ],
    );
    let query = format!("/api/v1/query?query={}", hits_query("outage"));
    ask(s.address(), s.work.path(), &query, |a| {
        a["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_string)
    });
    std::thread::sleep(Duration::from_secs(3));
    // Stopped as an operator would (SIGTERM, its data kept), for 10 s,
    // while the writer goes on counting.
    let pid = prometheus_run.guard.0.id();
    // SAFETY: kill(2) on the pid of a child this test started and has not
    // waited for yet.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let _ = prometheus_run.guard.0.wait();
    let stopped = Instant::now();
    while stopped.elapsed() < Duration::from_secs(10) {
        stats.hits.incr();
        std::thread::sleep(Duration::from_millis(100));
    }
    let during = own_figures(s.own.path()).unwrap();
    assert!(during["push.queue"] > 0, "{during:?}");
    assert!(during["push.samples_retried"] > 0, "{during:?}");
    prometheus_run = prometheus(s.work.path(), &data, s.port);
    // Once the queue is empty, the last 5 minutes hold a point a second.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let own = own_figures(s.own.path()).unwrap();
        if own["push.queue"] == 0 && own["push.samples_sent"] > during["push.samples_sent"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue never emptied: {own:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(2));
    let range = format!("/api/v1/query?query={}%5B5m%5D", hits_query("outage"));
    let points: Vec<(f64, u64)> = ask(s.address(), s.work.path(), &range, |a| {
        let values = a["data"]["result"][0]["values"].as_array()?;
        Some(
            values
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap(),
                        p[1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect(),
        )
    });
    let gaps: Vec<f64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let widest = gaps.iter().copied().fold(0.0, f64::max);
    let own = own_figures(s.own.path()).unwrap();
    report(&format!(
        "{} points over {:.1} s, widest gap {widest:.2} s; retried {}, dropped {}",
        points.len(),
        points.last().unwrap().0 - points[0].0,
        own["push.samples_retried"],
        own["push.samples_dropped"]
    ));
    // The run covers the outage: at least 3 s before it, 10 s in it.
    assert!(points.last().unwrap().0 - points[0].0 >= 14.0, "{points:?}");
    assert!(widest < 1.9, "a gap of {widest} s in {points:?}");
    assert!(points.windows(2).all(|w| w[0].1 <= w[1].1), "{points:?}");
    assert_eq!(own["push.samples_dropped"], 0, "{own:?}");
    drop(prometheus_run);
}

/// A receiver that answers 400 to everything: each sample is sent once,
/// never again, and counted as dropped.
#[test]
fn a_receiver_that_answers_400_gets_no_retry_and_the_drop_is_counted() {
    let s = setup();
    let _stats = support::create(&s.files, "refused", 3, "x");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let requests: Arc<Mutex<Vec<mmstats::export::remote_write::proto::WriteRequest>>> =
        Arc::default();
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let request = mmstats::export::remote_write::decode(&body).unwrap();
            seen.lock().unwrap().push(request);
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nout of order"
            );
        }
    });
    let files = s.files.display().to_string();
    let mut run = push(
        s.own.path(),
        &[
            "--remote-write",
            &url,
            "--interval",
            "500ms",
            "--duration",
            "3s",
            "--instance",
            "test",
            &files,
        ],
    );
    std::thread::sleep(Duration::from_millis(2000));
    let during = own_figures(s.own.path()).unwrap();
    assert!(during["push.samples_dropped"] > 0, "{during:?}");
    assert_eq!(during["push.samples_retried"], 0, "{during:?}");
    let status = run.0.wait().unwrap();
    let mut out = String::new();
    run.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    run.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // Dropped samples make the exit status 1.
    assert_eq!(status.code(), Some(1), "{out}{err}");
    assert!(err.contains("400 from"), "{err}");
    let requests = requests.lock().unwrap();
    let samples: usize = requests
        .iter()
        .flat_map(|r| &r.timeseries)
        .map(|t| t.samples.len())
        .sum();
    // Each sample once: no series has the same timestamp twice.
    let mut points: Vec<(String, i64)> = requests
        .iter()
        .flat_map(|r| &r.timeseries)
        .flat_map(|t| {
            let name = format!("{:?}", t.labels);
            t.samples.iter().map(move |p| (name.clone(), p.timestamp))
        })
        .collect();
    let all = points.len();
    points.sort();
    points.dedup();
    assert_eq!(points.len(), all, "a sample was sent twice");
    let line = out.lines().last().unwrap_or("");
    assert!(
        line.starts_with(&format!(
            "sent 0 samples, retried 0, dropped {samples} ({samples} refused)"
        )),
        "{out}"
    );
    report(&format!(
        "{} requests refused, {samples} samples dropped, none retried",
        requests.len()
    ));
}

/// A receiver that is down while samples queue up, then comes up as the
/// push is stopped with Ctrl-C: the queue is sent before it exits.
#[test]
fn ctrl_c_sends_what_is_queued_and_stops() {
    let s = setup();
    let _stats = support::create(&s.files, "flushed", 5, "x");
    let files = s.files.display().to_string();
    let url = s.url();
    let mut run = push(
        s.own.path(),
        &[
            "--remote-write",
            &url,
            "--interval",
            "200ms",
            "--instance",
            "test",
            &files,
        ],
    );
    // Nobody listens yet: samples queue up, requests are retried.
    std::thread::sleep(Duration::from_millis(1500));
    let queued = own_figures(s.own.path()).unwrap();
    assert!(queued["push.queue"] > 0, "{queued:?}");
    assert_eq!(queued["push.samples_sent"], 0, "{queued:?}");
    let listener = TcpListener::bind(s.address()).unwrap();
    let received = Arc::new(Mutex::new(0usize));
    let count = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let request = mmstats::export::remote_write::decode(&body).unwrap();
            *count.lock().unwrap() += request
                .timeseries
                .iter()
                .map(|t| t.samples.len())
                .sum::<usize>();
            let _ = write!(
                stream,
                "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
            );
        }
    });
    // SAFETY: kill(2) on the pid of a child this test started and has not
    // waited for yet.
    let rc = unsafe { libc::kill(run.0.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let started = Instant::now();
    let status = run.0.wait().unwrap();
    let mut out = String::new();
    run.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    // Within the default --flush-timeout of 5 s, and a little.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(0), "{out}");
    let last = out.lines().last().unwrap_or("");
    let sent: usize = last
        .strip_prefix("sent ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(last.ends_with(", 0 left in the queue"), "{out}");
    assert!(sent > 0 && sent == *received.lock().unwrap(), "{out}");
    report(&format!(
        "Ctrl-C: {sent} queued samples sent in {:?}",
        started.elapsed()
    ));
}
