//! `mmstats serve`, run for real: a real server process on a loopback port,
//! real writer processes, and for the ignored tests a real Prometheus,
//! `promtool` and a real headless browser.
//!
//! The writers are this test binary started again with
//! `MMSTATS_SERVE_TEST_WRITER` set (see [`writer_process`]); they obey
//! `incr N` lines on standard input, so every value asserted is known.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

mod support;

use support::chromium::rendered_dom;
use support::http::{get, parse_response};
use support::prometheus::Prometheus;
use support::{Guard, Writer};

/// The writer: runs only in a process started by [`Writer::start`].
#[test]
#[ignore = "not a test on its own: the tests of this file start it as a writer process"]
fn writer_process() {
    support::writer_role();
}

/// A writer whose `t.state` holds quotes, which the exporter must escape.
fn quoting_writer(dir: &Path, name: &str, threads: u32, hits: u64) -> Writer {
    Writer::with_state(dir, name, threads, hits, "serving \"all\"")
}

/// `mmstats serve` on a free loopback port, killed when dropped.
struct Server {
    guard: Guard,
    address: SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let (guard, address) = support::process::serve(args);
        Server { guard, address }
    }

    fn pid(&self) -> u32 {
        self.guard.0.id()
    }

    fn port(&self) -> u16 {
        self.address.port()
    }

    fn get(&self, path: &str) -> (u16, String) {
        get(self.address, path)
    }

    /// A 200 answer to `path`, as JSON.
    fn json(&self, path: &str) -> Json {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// Says `line` on standard error directly, past the test harness's
/// capture, so that the figures a test measured show in the CI log also
/// when it passes.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "serve test: {line}");
}

fn dir_arg(dir: &Path) -> String {
    dir.display().to_string()
}

#[test]
fn json_api_reads_the_files_afresh_on_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut alpha = quoting_writer(dir.path(), "alpha", 2, 5);
    let _beta = quoting_writer(dir.path(), "beta", 1, 1);
    let server = Server::start(&[&dir_arg(dir.path())]);

    let labels = server.json("/stats/");
    let labels: Vec<&str> = labels["stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(labels.contains(&"t.hits"), "{labels:?}");
    assert!(labels.is_sorted());
    assert_eq!(labels.iter().filter(|l| **l == "t.hits").count(), 1);

    // Prefix match, one value per file, in file order (alpha's two, beta's).
    let hits = server.json("/stats/t.hi");
    assert_eq!(hits, serde_json::json!({ "t.hits": [5, 5, 1] }));
    assert_eq!(server.json("/stats/t.hi?exact=1"), serde_json::json!({}));
    assert_eq!(
        server.json("/stats/t.hits?exact=1&aggr=sum"),
        serde_json::json!({ "t.hits": 11 })
    );
    // Every request reads the files again.
    alpha.send("incr 100");
    // `one` is the first file's value, in path order.
    let per_file = server.json("/stats/t.hits")["t.hits"].clone();
    let mut sorted: Vec<u64> = per_file
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    sorted.sort();
    assert_eq!(sorted, [1, 5, 105]);
    let cases = [
        ("sum", serde_json::json!(111)),
        ("max", serde_json::json!(105)),
        ("min", serde_json::json!(1)),
        ("one", per_file[0].clone()),
        ("avg", serde_json::json!(37.0)),
        ("nonzero-min", serde_json::json!(1)),
        ("nonzero-avg", serde_json::json!(37.0)),
    ];
    for (aggr, expected) in cases {
        let got = server.json(&format!("/stats/t.hits?aggr={aggr}"));
        assert_eq!(got["t.hits"], expected, "aggr={aggr}");
    }
    let texts = server.json("/stats/t.state?aggr=one");
    assert_eq!(texts["t.state"], "serving \"all\"");

    // Files, all or by a glob relative to the stats directory.
    let files = server.json("/files/");
    assert_eq!(files["files"].as_array().unwrap().len(), 3, "{files}");
    let beta = server.json("/files/beta-*");
    let beta = beta["files"].as_array().unwrap();
    assert_eq!(beta.len(), 1);
    assert!(beta[0].as_str().unwrap().contains("/beta-"), "{beta:?}");
    let only_beta = server.json("/stats/t.hits?glob=beta-*.mmstats");
    assert_eq!(only_beta["t.hits"], serde_json::json!([1]));
    let none = server.json("/files/zeta-*");
    assert_eq!(none["files"], serde_json::json!([]));

    // The dashboard's document: every view, combined by the library's rules.
    let snapshot = server.json("/snapshot");
    let views = snapshot["views"].as_array().unwrap();
    let view = |id: &str| {
        views
            .iter()
            .find(|v| v["id"] == id)
            .unwrap_or_else(|| panic!("no view {id}"))
    };
    let value = |id: &str, label: &str| {
        view(id)["stats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["label"] == label)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value("all", "t.hits"), 111);
    assert_eq!(value("cmd:alpha", "t.hits"), 110);
    assert_eq!(value(&format!("pid:{}", alpha.pid()), "t.hits"), 110);
    assert_eq!(value("cmd:beta", "t.queue"), 3);
    assert_eq!(view("all")["files"], 3);
    // Where each view's history is in a store `mmstats record` wrote.
    assert_eq!(view("all")["series"], Json::Null);
    assert_eq!(view("cmd:alpha")["series"], "cmd:alpha");
    let pid_view = format!("pid:{}", alpha.pid());
    assert_eq!(view(&pid_view)["series"], pid_view.as_str());
    let file_views: Vec<&Json> = views
        .iter()
        .filter(|v| v["id"].as_str().unwrap().starts_with("file:"))
        .collect();
    assert_eq!(file_views.len(), 3);
    for v in file_views {
        let path = v["id"].as_str().unwrap().strip_prefix("file:").unwrap();
        let stem = Path::new(path).file_stem().unwrap().to_str().unwrap();
        assert_eq!(v["series"], format!("file:{stem}"));
    }
    assert_eq!(snapshot["meta"]["t.hits"]["help"], "Requests handled.");
    assert_eq!(snapshot["history"], false);
}

#[test]
fn bad_requests_get_a_status_and_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let _writer = quoting_writer(dir.path(), "alpha", 1, 5);
    let _other = quoting_writer(outside.path(), "secret", 1, 5);
    let secret = std::fs::read_dir(outside.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // A link to a file outside, and one to a directory outside.
    std::os::unix::fs::symlink(&secret, dir.path().join("link.mmstats")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("away")).unwrap();
    let server = Server::start(&[&dir_arg(dir.path())]);

    let error = |path: &str, status: u16| {
        let (got, body) = server.get(path);
        assert_eq!(got, status, "{path}: {body}");
        let body: Json = serde_json::from_str(&body).unwrap();
        body["error"].as_str().unwrap().to_string()
    };
    assert!(error("/nothing/here", 404).contains("no such route"));
    assert!(error("/stats", 404).contains("no such route"));
    assert!(error("/stats/t.hits?aggr=median", 400).contains("not one of avg"));
    assert!(error("/stats/t.state?aggr=sum", 400).contains("t.state"));
    assert!(error("/stats/t.hits?exact=maybe", 400).contains("exact=maybe"));
    assert!(error("/stats/t.hits?glob=../*", 400).contains(".."));
    assert!(error("/files/..%2F*", 400).contains(".."));
    let absolute = format!("/stats/t?glob={}/*", outside.path().display());
    assert!(error(&absolute, 400).contains("relative"));
    // Links are not followed, and patterns do not go into directories.
    assert_eq!(
        server.json("/files/link.mmstats")["files"],
        serde_json::json!([])
    );
    assert_eq!(
        server.json("/files/*")["files"].as_array().unwrap().len(),
        1
    );
    assert!(error("/stats/t?glob=away/*.mmstats", 400).contains("subdirectories"));
    assert!(error("/stats/t?glob=*/*.mmstats", 400).contains("subdirectories"));
    assert!(error("/files/[", 400).contains("not a valid pattern"));
    assert!(error("/stats/%ff", 400).contains("UTF-8"));
    assert!(error("/stats/%zz", 400).contains("escape"));
    assert!(error("/history/t.hits", 404).contains("--store"));
    // The stats directory's own files still read.
    let mine = server.json("/files/alpha-*");
    assert_eq!(mine["files"].as_array().unwrap().len(), 1);

    // Other methods.
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream
        .write_all(
            b"POST /stats/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert_eq!(parse_response(&response).0, 405);

    // A request head far larger than the limit: 431, or the connection
    // closed, but never an answer.
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let huge = format!(
        "GET /stats/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let _ = stream.write_all(huge.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let status = parse_response(&response).0;
    assert!(status == 431 || status == 0, "status {status}");
    // The server still answers.
    assert_eq!(server.get("/stats/").0, 200);
}

#[test]
fn a_non_loopback_address_must_be_asked_for() {
    let output = Command::new(env!("CARGO_BIN_EXE_mmstats"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}

#[test]
fn metrics_name_type_and_label_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut alpha = quoting_writer(dir.path(), "alpha", 2, 5);
    let server = Server::start(&[&dir_arg(dir.path())]);
    alpha.send("incr 10");
    let (status, text) = server.get("/metrics");
    assert_eq!(status, 200);
    let pid = alpha.pid();
    let expect = |line: &str| assert!(text.contains(line), "no {line:?} in\n{text}");
    expect("# TYPE mmstats_t_hits_total counter\n");
    expect("# HELP mmstats_t_hits_total Requests handled. (mmstats field t.hits, counter)\n");
    // One series per process: the main thread's file (15) and the other
    // thread's (5) summed, no thread id.
    expect(&format!(
        "mmstats_t_hits_total{{cmd=\"alpha\",pid=\"{pid}\"}} 20\n"
    ));
    expect(&format!(
        "mmstats_t_state_info{{cmd=\"alpha\",pid=\"{pid}\",value=\"serving \\\"all\\\"\"}} 1\n"
    ));
    assert!(!text.contains("tid="), "{text}");
    assert!(!text.contains("_by_cmd"), "{text}");
    // Gauges add up, timers are the mean of the threads' values.
    expect(&format!(
        "mmstats_t_queue{{cmd=\"alpha\",pid=\"{pid}\"}} 6\n"
    ));
    expect(&format!(
        "mmstats_t_latency_seconds{{cmd=\"alpha\",pid=\"{pid}\"}} 0.25\n"
    ));
    expect("# TYPE mmstats_t_queue gauge\n");
    expect("# TYPE mmstats_t_latency_seconds gauge\n");
    expect("# TYPE mmstats_t_state_info gauge\n");
    expect("mmstats_exporter_files 2\n");
    // Every sample line belongs to the family its TYPE line announced last.
    let mut family = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().unwrap().to_string();
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(name, family, "{line}");
        }
    }
    // --per thread: one series per file, by thread id.
    let threads = Server::start(&["--per", "thread", &dir_arg(dir.path())]);
    let (status, text) = threads.get("/metrics");
    assert_eq!(status, 200);
    let start = format!("mmstats_t_hits_total{{cmd=\"alpha\",pid=\"{pid}\",tid=\"");
    let mut values: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&start))
        .map(|rest| {
            let (tid, value) = rest.split_once('"').unwrap();
            assert!(tid.parse::<u32>().is_ok(), "{rest}");
            value.to_string()
        })
        .collect();
    values.sort();
    assert_eq!(values, ["} 15", "} 5"], "{text}");
}

/// `promtool check metrics` on the exposition of live files: no errors, no
/// lint problems.
#[test]
#[ignore = "needs promtool (Debian package prometheus)"]
fn metrics_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let _alpha = quoting_writer(dir.path(), "alpha", 2, 5);
    let _beta = quoting_writer(dir.path(), "beta-app", 1, 5);
    let server = Server::start(&[&dir_arg(dir.path())]);
    let (_, text) = server.get("/metrics");
    support::prometheus::promtool_check(&text);
    report(&format!(
        "promtool check metrics: clean, {} lines",
        text.lines().count()
    ));
}

/// A real Prometheus scrapes the server and reads back the writer's counter.
#[test]
#[ignore = "needs prometheus (Debian package prometheus)"]
fn prometheus_scrapes_the_counter() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut writer = quoting_writer(dir.path(), "scraped", 1, 0);
    writer.send("incr 4242");
    let server = Server::start(&[&dir_arg(dir.path())]);
    let prometheus = Prometheus::start(
        work.path(),
        &support::prometheus::scraping(&[server.address]),
        &[],
    );
    let query = format!(
        "/api/v1/query?query=mmstats_t_hits_total%7Bcmd%3D%22scraped%22%2Cpid%3D%22{}%22%7D",
        writer.pid()
    );
    let value = prometheus.ask(&query, |answer| {
        answer["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_string)
    });
    report(&format!(
        "Prometheus read back mmstats_t_hits_total = {value}"
    ));
    assert_eq!(value, "4242");
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// The largest resident memory a process has had, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// 200 connections at once, most of them idle, half-open or trickling a
/// byte at a time, while other clients keep asking: every answer comes, and
/// the server's memory stays small.
#[test]
fn many_slow_connections_do_not_block_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = quoting_writer(dir.path(), "busy", 2, 5);
    let server = Server::start(&[&dir_arg(dir.path())]);
    let before = rss_kib(server.pid());
    let mut held = Vec::new();
    for i in 0..200 {
        let mut stream = TcpStream::connect(server.address).unwrap();
        match i % 3 {
            // Connects and says nothing.
            0 => {}
            // Starts a request and never finishes it.
            1 => stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .unwrap(),
            // Sends a whole request and never reads the answer.
            _ => stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .unwrap(),
        }
        held.push(stream);
    }
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let address = server.address;
            std::thread::spawn(move || {
                let mut slowest = Duration::ZERO;
                for i in 0..25 {
                    let path = if i % 2 == 0 { "/metrics" } else { "/snapshot" };
                    let start = Instant::now();
                    let (status, body) = get(address, path);
                    slowest = slowest.max(start.elapsed());
                    assert_eq!(status, 200, "{body}");
                    assert!(body.contains("t.hits") || body.contains("mmstats_t_hits"));
                }
                slowest
            })
        })
        .collect();
    // One slow client trickles a request while the others are served.
    let mut trickle = TcpStream::connect(server.address).unwrap();
    for b in b"GET /stats/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" {
        trickle.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let slowest = clients
        .into_iter()
        .map(|c| c.join().unwrap())
        .max()
        .unwrap();
    trickle.write_all(b"Connection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    trickle
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    trickle.read_to_end(&mut response).unwrap();
    assert_eq!(parse_response(&response).0, 200);
    let after = rss_kib(server.pid());
    report(&format!(
        "200 connections held; 100 requests from 4 clients answered, slowest in {slowest:?}; \
         server RSS {before} KiB before, {after} KiB after"
    ));
    assert!(after < 64 * 1024, "the server grew to {after} KiB");
    drop(held);
    assert_eq!(server.get("/stats/").0, 200);
}

#[test]
fn history_from_the_store() {
    use mmstats::mstore::{Options, Store};
    let stats = tempfile::tempdir().unwrap();
    let history = tempfile::tempdir().unwrap();
    let store_dir = history.path().join("store");
    let mut store = Store::create(
        &store_dir,
        Options {
            chunk_size: 64,
            resolution: 1,
            start_time: 1000,
            ..Options::default()
        },
    )
    .unwrap();
    store.put("t.hits", 5, &[10u64, 20, 30]).unwrap();
    store.put("t.latency", 6, &[0.5f64]).unwrap();
    store.sync().unwrap();
    let server = Server::start(&[
        "--store",
        &store_dir.display().to_string(),
        &dir_arg(stats.path()),
    ]);
    let list = server.json("/history/");
    assert_eq!(
        list["metrics"],
        serde_json::json!([{"name": "t.hits", "type": "u64"}, {"name": "t.latency", "type": "f64"}])
    );
    assert_eq!(list["start_time"], 1000);
    let points = server.json("/history/t.hits?from=1&to=1.1");
    assert_eq!(
        points["points"],
        serde_json::json!([[1005, 10], [1006, 20], [1007, 30]])
    );
    let points = server.json("/history/t.latency?from=1.006&to=1.007");
    assert_eq!(points["points"], serde_json::json!([[1006, 0.5]]));
    assert_eq!(server.get("/history/t.hits?from=0.009&to=0.009").0, 400);
    assert_eq!(server.get("/history/t.hits?from=x").0, 400);
    assert_eq!(server.get("/history/nope?from=1&to=1.001").0, 404);
    assert_eq!(
        server
            .get("/history/t.hits?from=0&to=18446744073709551.615")
            .0,
        400
    );
    assert_eq!(server.json("/snapshot")["history"], true);
    // At a step: one point per window, its mean (or ?agg=).
    let w = server.json("/history/t.hits?from=1.004&to=1.008&step=2");
    assert_eq!(w["step"], 2);
    assert_eq!(w["points"], serde_json::json!([[1004, 10.0], [1006, 25.0]]));
    let w = server.json("/history/t.hits?from=1.004&to=1.008&step=2&agg=max");
    assert_eq!(w["points"], serde_json::json!([[1004, 10.0], [1006, 30.0]]));
    assert_eq!(
        server
            .get("/history/t.hits?from=1.004&to=1.008&step=2&agg=median")
            .0,
        400
    );
    assert_eq!(
        server.get("/history/t.hits?from=1.004&to=1.008&step=x").0,
        400
    );
    // A wide range without a step: the server chooses one, and answers.
    let w = server.json("/history/t.hits?from=1&to=1000");
    assert!(w["step"].as_u64().unwrap() >= 400, "{w}");
    assert_eq!(w["points"].as_array().unwrap().len(), 1, "{w}");
}

#[test]
fn a_damaged_metric_list_leaves_the_history_listed_and_says_so() {
    use mmstats::mstore::{Options, Store};
    let stats = tempfile::tempdir().unwrap();
    let history = tempfile::tempdir().unwrap();
    let store_dir = history.path().join("store");
    let mut store = Store::create(
        &store_dir,
        Options {
            chunk_size: 64,
            resolution: 1,
            start_time: 1000,
            ..Options::default()
        },
    )
    .unwrap();
    store.put("t.hits", 5, &[10u64, 20, 30]).unwrap();
    store.put("t.latency", 6, &[0.5f64]).unwrap();
    store.close().unwrap();
    // One byte of the metric list flipped.
    let list = store_dir.join("metrics.list");
    let mut bytes = std::fs::read(&list).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&list, bytes).unwrap();
    let server = Server::start(&[
        "--store",
        &store_dir.display().to_string(),
        &dir_arg(stats.path()),
    ]);
    let (status, body) = server.get("/history/");
    assert_eq!(status, 200, "{body}");
    let answer: Json = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = answer["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"t.hits"), "{answer}");
    assert!(
        answer["damage"][0]
            .as_str()
            .unwrap()
            .contains("metrics.list"),
        "{answer}"
    );
    // The series still read.
    let points = server.json("/history/t.hits?from=1&to=1.1");
    assert_eq!(points["points"].as_array().unwrap().len(), 3, "{points}");
}

#[test]
fn history_takes_times_as_query_does() {
    // A store as `mmstats record` makes it: milliseconds since the epoch,
    // a point a second, the last ten seconds set.
    use mmstats::mstore::{Options, Store};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let start = now / 1000 * 1000 - 60_000;
    let stats = tempfile::tempdir().unwrap();
    let history = tempfile::tempdir().unwrap();
    let store_dir = history.path().join("store");
    let mut store = Store::create(
        &store_dir,
        Options {
            chunk_size: 3600,
            resolution: 1000,
            start_time: start,
            ..Options::default()
        },
    )
    .unwrap();
    store.put("t.hits", 50, &[1u64; 10]).unwrap();
    store.sync().unwrap();
    let server = Server::start(&[
        "--store",
        &store_dir.display().to_string(),
        &dir_arg(stats.path()),
    ]);
    // Relative times, as `query --from -10s` takes them.
    let recent = server.json("/history/t.hits?from=-30s&to=now");
    assert_eq!(recent["points"].as_array().unwrap().len(), 10, "{recent}");
    let older = server.json("/history/t.hits?from=-2m&to=-30s");
    assert_eq!(older["points"].as_array().unwrap().len(), 0, "{older}");
    // RFC 3339, and plain numbers as Unix seconds, as `query` takes them.
    let at = |ms: u64| {
        let secs = ms / 1000;
        let (days, rest) = (secs / 86400, secs % 86400);
        // Days since 1970-01-01 to a civil date (proleptic Gregorian).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        )
    };
    let first = start + 50_000;
    let by_date = server.json(&format!(
        "/history/t.hits?from={}&to={}",
        at(first),
        at(first + 3000)
    ));
    assert_eq!(by_date["points"][0][0], first, "{by_date}");
    assert_eq!(by_date["points"].as_array().unwrap().len(), 3, "{by_date}");
    // Whole seconds (the slots are whole seconds), and with decimals.
    assert_eq!(first % 1000, 0);
    let seconds = |ms: u64| format!("{}", ms / 1000);
    let by_number = server.json(&format!(
        "/history/t.hits?from={}&to={}",
        seconds(first),
        seconds(first + 2000)
    ));
    assert_eq!(by_number["points"][0][0], first, "{by_number}");
    let with_decimals = server.json(&format!(
        "/history/t.hits?from={}.000&to={}.5",
        first / 1000,
        (first + 1000) / 1000
    ));
    assert_eq!(
        with_decimals["points"].as_array().unwrap().len(),
        2,
        "{with_decimals}"
    );
    assert_eq!(
        by_number["points"].as_array().unwrap().len(),
        2,
        "{by_number}"
    );
    let (status, body) = server.get("/history/t.hits?from=yesterday");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("from=yesterday"), "{body}");
}

/// The text of the table cell of class `class` in the row of `label`.
fn cell(dom: &str, label: &str, class: &str) -> Option<String> {
    let row = dom.split(&format!("<tr data-label=\"{label}\"")).nth(1)?;
    let row = row.split("</tr>").next()?;
    let cell = row.split(&format!("<td class=\"{class}\">")).nth(1)?;
    Some(cell.split("</td>").next()?.to_string())
}

/// The points and `d` of the path of class `class` in the graph of `label`.
fn graph_paths(dom: &str, label: &str, class: &str) -> (usize, String) {
    let Some(chart) = dom
        .split(&format!("<div class=\"chart\" data-label=\"{label}\""))
        .nth(1)
    else {
        return (0, String::new());
    };
    let chart = chart.split("</svg>").next().unwrap_or("");
    for path in chart.split("<path ").skip(1) {
        let path = path.split('>').next().unwrap_or("");
        if path.contains(&format!("class=\"{class}\"")) {
            let attr = |name: &str| {
                path.split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|v| v.split('"').next())
                    .unwrap_or("")
                    .to_string()
            };
            return (attr("data-points").parse().unwrap_or(0), attr("d"));
        }
    }
    (0, String::new())
}

/// A real browser loads the dashboard against a live writer whose counter
/// keeps moving: the values are in the table, the graphs have points, and
/// both change from one load to the next. The third load picks the
/// writer's process and filters by a prefix, from the page's address, and
/// its graph starts from the process's history in the `--store`.
#[test]
#[ignore = "needs chromium (Debian package chromium)"]
fn dashboard_shows_live_values_and_graphs_in_a_browser() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let writer = quoting_writer(dir.path(), "shown", 2, 5);
    let _other = quoting_writer(dir.path(), "other", 1, 1_000_000);
    let pid = writer.pid();
    // Half a minute of the process's t.hits, as `mmstats record --by pid`
    // keeps it: Unix milliseconds, a slot a second.
    let history = tempfile::tempdir().unwrap();
    let store_dir = history.path().join("store");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut store = mmstats::mstore::Store::create(
        &store_dir,
        mmstats::mstore::Options {
            chunk_size: 3600,
            resolution: 1000,
            start_time: now_ms / 1000 * 1000 - 60_000,
            ..Default::default()
        },
    )
    .unwrap();
    let past: Vec<u64> = (0..30).map(|i| 500 + i * 10).collect();
    store.put(&format!("pid:{pid}:t.hits"), 30, &past).unwrap();
    store.close().unwrap();
    let server = Server::start(&[
        "--store",
        &store_dir.display().to_string(),
        &dir_arg(dir.path()),
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let moving = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut writer = writer;
            while !stop.load(Ordering::Relaxed) {
                writer.send("incr 7");
                std::thread::sleep(Duration::from_millis(20));
            }
            writer
        })
    };
    let base = format!("http://{}/", server.address);
    let first = rendered_dom(&base);
    let second = rendered_dom(&base);
    let third = rendered_dom(&format!("{base}?view=pid:{pid}&filter=t.h"));
    stop.store(true, Ordering::Relaxed);
    let _writer = moving.join().unwrap();

    let hits = |dom: &str| -> u64 {
        let text =
            cell(dom, "t.hits", "value").unwrap_or_else(|| panic!("no t.hits row in\n{dom}"));
        text.parse().unwrap()
    };
    let (before, after) = (hits(&first), hits(&second));
    // All files: the other writer's million, two files of 5, and 7 at a
    // time into one of them.
    let shown = before - 1_000_000;
    assert_eq!(shown % 7, 10 % 7, "{before}");
    assert!(shown > 10, "{before}");
    assert!(after > before, "{before} then {after}");
    assert_eq!(cell(&first, "t.hits", "kind").as_deref(), Some("counter"));
    assert_eq!(cell(&first, "t.queue", "value").as_deref(), Some("9"));
    assert_eq!(
        cell(&first, "t.state", "value").as_deref(),
        Some("serving \"all\"")
    );
    // The third load shows one process, and only labels under t.h.
    let process = hits(&third);
    assert!(process < 1_000_000 && process % 7 == 10 % 7, "{process}");
    assert!(process > after - 1_000_000, "{after} then {process}");
    assert!(
        cell(&third, "t.queue", "value").is_none(),
        "the filter let t.queue through"
    );
    assert!(
        third.contains(&format!("process {pid} (2 files)")),
        "{third}"
    );
    assert!(
        cell(&third, "t.hits", "kind").is_some(),
        "the filter dropped t.hits"
    );

    // The live part of the graph (red, class "line") has points in both
    // loads, and moved between them.
    let live = |dom: &str, label: &str| {
        let (points, d) = graph_paths(dom, label, "line");
        assert!(
            points >= 2 && d.starts_with('M') && d.contains('L'),
            "no live {label} graph with points: {points} {d:?}"
        );
        (points, d)
    };
    let (first_points, first_d) = live(&first, "t.hits");
    let (second_points, second_d) = live(&second, "t.hits");
    assert_ne!(first_d, second_d, "the graph did not change");
    live(&first, "t.queue");
    // With --store, the process's graph starts from its stored history
    // (blue); all files together are two commands, which have none.
    let (history_points, _) = graph_paths(&third, "t.hits", "line history");
    assert!(
        history_points >= 2,
        "no history in the process's t.hits graph"
    );
    assert_eq!(graph_paths(&first, "t.hits", "line history").0, 0);
    live(&third, "t.hits");
    report(&format!(
        "chromium rendered t.hits = {before}, then {after} (all files), then {process} \
         (process {pid}, filter t.h); live graph paths of {first_points} and \
         {second_points} points, after {history_points} points of history"
    ));
}

/// A client that connects and sends nothing, or half a request head, or
/// keeps a connection open after its answer, is let go by the server (after
/// the 10 s it has to send a head) instead of holding on to it.
#[test]
fn silent_and_half_sent_clients_are_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[&dir_arg(dir.path())]);
    let clients: Vec<(&str, TcpStream)> = ["silent", "half a head", "idle after an answer"]
        .into_iter()
        .map(|what| {
            let mut stream = TcpStream::connect(server.address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            match what {
                "half a head" => stream
                    .write_all(b"GET /stats/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    .unwrap(),
                "idle after an answer" => {
                    stream
                        .write_all(b"GET /stats/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                        .unwrap();
                }
                _ => {}
            }
            (what, stream)
        })
        .collect();
    for (what, mut stream) in clients {
        let mut received = Vec::new();
        // Ends when the server closes the connection; a read timeout (60 s)
        // fails the test.
        let result = stream.read_to_end(&mut received);
        assert!(result.is_ok(), "{what}: {result:?}");
        let text = String::from_utf8_lossy(&received);
        if what == "idle after an answer" {
            assert!(text.starts_with("HTTP/1.1 200"), "{what}: {text}");
        } else {
            assert!(!text.contains(" 200 "), "{what}: {text}");
        }
    }
}

/// A sustained load from this process: 50 clients asking without pause for
/// at least 20 s and at least 5000 requests in all (so that a slow or busy
/// machine makes the run longer, not weaker; 180 s at most), against a
/// server in its own process reading a live writer's files. No request may
/// fail; the latency percentiles and the server's largest memory are
/// recorded for the guide.
#[test]
fn fifty_clients_for_twenty_seconds_get_every_answer() {
    const CLIENTS: usize = 50;
    const RUN: Duration = Duration::from_secs(20);
    const MIN_REQUESTS: usize = 5000;
    const GIVE_UP_AFTER: Duration = Duration::from_secs(180);
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let going = {
        let answered = answered.clone();
        move |started: Instant| {
            let done = answered.load(std::sync::atomic::Ordering::Relaxed);
            started.elapsed() < GIVE_UP_AFTER && (started.elapsed() < RUN || done < MIN_REQUESTS)
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let _writer = quoting_writer(dir.path(), "busy", 2, 5);
    let server = Server::start(&[&dir_arg(dir.path())]);
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let address = server.address;
            let (going, answered) = (going.clone(), answered.clone());
            std::thread::spawn(move || {
                let paths = ["/metrics", "/stats/t.hits?aggr=sum", "/snapshot", "/stats/"];
                let mut latencies = Vec::new();
                let mut failures = Vec::new();
                let mut n = i;
                while going(started) && latencies.len() < 100_000 {
                    n += 1;
                    let path = paths[n % paths.len()];
                    let start = Instant::now();
                    let (status, body) = get(address, path);
                    latencies.push(start.elapsed());
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if status != 200 || body.is_empty() {
                        failures.push(format!("{path}: {status} {body}"));
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    // The server's memory, sampled while the clients run.
    let mut rss_max = 0;
    while going(started) {
        rss_max = rss_max.max(rss_kib(server.pid()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    for client in clients {
        let (l, f) = client.join().unwrap();
        latencies.extend(l);
        failures.extend(f);
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    report(&format!(
        "{CLIENTS} clients for {:?}: {} requests, {} failed; latency p50 {:?}, p99 {:?}, \
         max {:?}; server RSS at most {rss_max} KiB",
        started.elapsed(),
        latencies.len(),
        failures.len(),
        at(0.5),
        at(0.99),
        at(1.0),
    ));
    assert!(
        failures.is_empty(),
        "{:?}",
        &failures[..failures.len().min(5)]
    );
    assert!(
        latencies.len() >= MIN_REQUESTS,
        "only {} requests in {GIVE_UP_AFTER:?}",
        latencies.len()
    );
    assert!(rss_max < 64 * 1024, "the server grew to {rss_max} KiB");
}

// ---------------------------------------------------------------------------
// Hostile files and hostile clients.

/// One request over a new connection, written as given: the status and the
/// body (status 0 when the server closed the connection without answering).
fn raw(address: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(20)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    parse_response(&response)
}

/// A GET of `path` with the given `Host` header.
fn get_as(address: SocketAddr, host: &str, path: &str) -> (u16, String) {
    raw(
        address,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

/// A value no file of the stats directory holds: it shows only if the
/// server read the secret file.
const SECRET_HITS: u64 = 987_654_321_987;

/// Every route that reads files, for the checks that nothing leaks.
const READING_ROUTES: [&str; 9] = [
    "/metrics",
    "/snapshot",
    "/snapshot?glob=*",
    "/stats/",
    "/stats/t.hits",
    "/stats/t?glob=*",
    "/files/",
    "/files/*",
    "/files/**",
];

/// A root-only stats file and a root-only text elsewhere, linked into the
/// stats directory by another user, and a root-only subdirectory of the
/// stats directory with a stats file in it: no route shows their values,
/// their names, the first byte of the text, or where the links lead.
#[test]
fn links_out_and_subdirectories_are_never_served() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let _mine = support::create(dir.path(), "mine", 5, "serving");
    let secret = support::create(outside.path(), "secret", SECRET_HITS, "classified");
    let secret_path = secret.path().unwrap().to_path_buf();
    let private = std::fs::Permissions::from_mode(0o600);
    std::fs::set_permissions(&secret_path, private.clone()).unwrap();
    let text = outside.path().join("shadow");
    std::fs::write(&text, "Sx root:classified").unwrap();
    std::fs::set_permissions(&text, private).unwrap();
    symlink(&secret_path, dir.path().join("link-1-1.mmstats")).unwrap();
    symlink(&text, dir.path().join("text-2-2.mmstats")).unwrap();
    // A link to a file of the directory itself is not followed either.
    let own = _mine.path().unwrap().to_path_buf();
    symlink(&own, dir.path().join("again-3-3.mmstats")).unwrap();
    let sub = dir.path().join("private");
    std::fs::create_dir(&sub).unwrap();
    let _hidden = support::create(&sub, "hidden", SECRET_HITS, "classified");
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
    let server = Server::start(&[&dir_arg(dir.path())]);

    let outside_name = outside.path().display().to_string();
    for path in READING_ROUTES {
        let (status, body) = server.get(path);
        assert!(status == 200 || status == 400, "{path}: {status} {body}");
        for leak in [
            &SECRET_HITS.to_string(),
            "classified",
            "hidden",
            "secret",
            "0x53",
            &outside_name,
        ] {
            assert!(!body.contains(leak), "{path} shows {leak:?}: {body}");
        }
    }
    // Exactly the directory's own regular file, once.
    assert_eq!(
        server.json("/stats/t.hits?exact=1"),
        serde_json::json!({ "t.hits": [5] })
    );
    let files = server.json("/files/*");
    assert_eq!(
        files["files"],
        serde_json::json!([own.display().to_string()]),
        "{files}"
    );
    // The links are reported by their own names, as links.
    let errors = server.json("/snapshot")["errors"].to_string();
    for name in ["link-1-1.mmstats", "text-2-2.mmstats", "again-3-3.mmstats"] {
        let about = errors.split("},{").find(|e| e.contains(name));
        let about = about.unwrap_or_else(|| panic!("{name} not reported: {errors}"));
        assert!(about.contains("symbolic link"), "{about}");
    }
    // Patterns that would go down into a directory are refused.
    for glob in ["**/*", "private/*", "*/*.mmstats", "./private/*"] {
        let (status, body) = server.get(&format!("/files/{glob}"));
        assert_eq!(status, 400, "{glob}: {body}");
        assert!(body.contains("subdirector"), "{glob}: {body}");
        assert!(!body.contains("hidden"), "{glob}: {body}");
    }
    assert_eq!(
        server.json("/files/private")["files"],
        serde_json::json!([])
    );
}

/// A file of the stats directory swapped again and again between a regular
/// file and a link to a root-only stats file while the server reads it:
/// the server never reads through the link, whenever it is swapped in.
#[test]
fn a_link_swapped_in_while_the_server_reads_is_never_followed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let mine = support::create(dir.path(), "mine", 5, "serving");
    let secret = support::create(outside.path(), "secret", SECRET_HITS, "classified");
    let secret_path = secret.path().unwrap().to_path_buf();
    let copy = std::fs::read(mine.path().unwrap()).unwrap();
    let server = Server::start(&[&dir_arg(dir.path())]);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, dir) = (Arc::clone(&stop), dir.path().to_path_buf());
        std::thread::spawn(move || {
            let target = dir.join("swap-9-9.mmstats");
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let link = dir.join(".link");
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&secret_path, &link).unwrap();
                std::fs::rename(&link, &target).unwrap();
                let file = dir.join(".file");
                std::fs::write(&file, &copy).unwrap();
                std::fs::rename(&file, &target).unwrap();
                swaps += 2;
            }
            swaps
        })
    };
    let mut answers = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) || answers < 200 {
        let path = ["/stats/t.hits", "/metrics", "/snapshot"][answers % 3];
        let (status, body) = server.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            !body.contains(&SECRET_HITS.to_string()),
            "{path} read through the link: {body}"
        );
        answers += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    report(&format!(
        "{answers} answers while the file was swapped {swaps} times: the link was never followed"
    ));
}

/// A page of another site whose name is made to resolve to 127.0.0.1 (DNS
/// rebinding) sends its own name as `Host`: refused. The addresses the
/// server listens on, `localhost` and names given with --allow-host are
/// served, whatever the port (a tunnel may change it).
#[test]
fn the_host_header_must_name_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = support::create(dir.path(), "mine", 5, "serving");
    let server = Server::start(&["--allow-host", "stats.example", &dir_arg(dir.path())]);
    let port = server.port();
    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
        format!("localhost:{port}"),
        "LocalHost".to_string(),
        "localhost:8080".to_string(),
        format!("stats.example:{port}"),
        "STATS.example".to_string(),
    ] {
        let (status, body) = get_as(server.address, &host, "/stats/t.hits");
        assert_eq!(status, 200, "Host: {host}: {body}");
    }
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_string(),
        format!("127.0.0.1.attacker.example:{port}"),
        format!("localhost.attacker.example:{port}"),
        format!("127.0.0.2:{port}"),
        format!("[::1]:{port}"),
        "".to_string(),
        "stats.example.attacker.example".to_string(),
    ] {
        for path in ["/stats/t.hits", "/", "/metrics"] {
            let (status, body) = get_as(server.address, &host, path);
            assert_eq!(status, 421, "Host: {host:?} {path}: {body}");
            assert!(body.contains("Host"), "{body}");
            assert!(!body.contains("t.hits"), "{body}");
        }
    }
    // HTTP/1.1 requires a Host; HTTP/1.0 did not (and no browser omits it).
    let (status, _) = raw(
        server.address,
        "GET /stats/ HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 400);
    let (status, _) = raw(server.address, "GET /stats/ HTTP/1.0\r\n\r\n");
    assert_eq!(status, 200);
    // An absolute request target names the host itself.
    let (status, _) = raw(
        server.address,
        &format!(
            "GET http://attacker.example:{port}/stats/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 421);
}

/// A connection from `source` (a loopback address of 127.0.0.0/8) to the
/// server.
fn connect_from(source: std::net::IpAddr, to: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(source, 0).into()).unwrap();
    socket
        .connect_timeout(&to.into(), Duration::from_secs(20))
        .unwrap();
    socket.into()
}

/// How many of `streams` the server still holds open: a closed one reads
/// the end of the stream (or a reset), an open one times out.
fn still_open(streams: &mut [TcpStream]) -> usize {
    let mut open = 0;
    for stream in streams.iter_mut() {
        stream
            .set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let mut byte = [0u8; 1];
        let waiting = matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            || e.kind() == std::io::ErrorKind::TimedOut);
        open += usize::from(waiting);
    }
    open
}

/// 100 requests from 127.0.0.1, each on a new connection: how many were
/// answered with 200.
fn answered(address: SocketAddr) -> usize {
    (0..100)
        .filter(|i| {
            let path = ["/stats/t.hits", "/metrics"][i % 2];
            let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(20)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let _ = write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            );
            let mut response = Vec::new();
            let _ = stream.read_to_end(&mut response);
            parse_response(&response).0 == 200
        })
        .count()
}

/// 1,100 idle connections from one client address (127.0.0.2) take no
/// more than that client's share of the slots: 100 requests from another
/// address (127.0.0.1) are all answered meanwhile.
#[test]
fn idle_connections_from_one_address_leave_room_for_others() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = support::create(dir.path(), "mine", 5, "serving");
    let server = Server::start(&[&dir_arg(dir.path())]);
    let attacker: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let started = Instant::now();
    let mut idle: Vec<TcpStream> = (0..1100)
        .map(|_| connect_from(attacker, server.address))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let ok = answered(server.address);
    let open = still_open(&mut idle);
    report(&format!(
        "1100 idle connections from 127.0.0.2: {open} still open; {ok} of 100 requests \
         from 127.0.0.1 answered, {:?} in all",
        started.elapsed()
    ));
    assert_eq!(ok, 100, "requests from another address were turned away");
    assert!(open <= 256, "{open} idle connections of one client held");
}

/// The same from the very address legitimate clients use: a new
/// connection takes the place of the client's oldest idle one, so 1,100
/// idle connections from 127.0.0.1 do not stop 100 requests from
/// 127.0.0.1.
#[test]
fn idle_connections_give_way_to_new_requests_from_the_same_address() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = support::create(dir.path(), "mine", 5, "serving");
    let server = Server::start(&[&dir_arg(dir.path())]);
    let started = Instant::now();
    let mut idle: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect_timeout(&server.address, Duration::from_secs(20)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let ok = answered(server.address);
    let open = still_open(&mut idle);
    report(&format!(
        "1100 idle connections from 127.0.0.1: {open} still open; {ok} of 100 requests \
         from 127.0.0.1 answered, {:?} in all",
        started.elapsed()
    ));
    assert_eq!(ok, 100, "new requests were turned away");
    assert!(open <= 256, "{open} idle connections of one client held");
}

/// A store with a FIFO in place of a chunk's data file: `/history` requests
/// of that chunk may wait, but never more of them at once than the history
/// share of the server, so `/metrics` and `/stats/` keep answering; a range
/// wider than the server serves is a 400 that names the limit.
#[test]
fn history_is_bounded_and_a_fifo_in_the_store_stalls_nothing_else() {
    use mmstats::mstore::{Options, Store};
    let stats = tempfile::tempdir().unwrap();
    let _writer = support::create(stats.path(), "mine", 5, "serving");
    let history = tempfile::tempdir().unwrap();
    let store_dir = history.path().join("store");
    let mut store = Store::create(
        &store_dir,
        Options {
            chunk_size: 64,
            resolution: 1,
            start_time: 1000,
            ..Options::default()
        },
    )
    .unwrap();
    store.put("t.hits", 5, &[10u64, 20, 30]).unwrap();
    store.put("t.hits", 200, &[40u64]).unwrap();
    store.close().unwrap();
    let server = Server::start(&[
        "--store",
        &store_dir.display().to_string(),
        &dir_arg(stats.path()),
    ]);
    // The widest range served, and one slot more.
    let started = Instant::now();
    let widest = server.json("/history/t.hits?from=1&to=101");
    let widest_took = started.elapsed();
    assert_eq!(
        widest["points"],
        serde_json::json!([[1005, 10], [1006, 20], [1007, 30], [1200, 40]])
    );
    // One slot more: the server chooses a step that keeps the answer
    // within AUTO_HISTORY_WINDOWS windows.
    let wider = server.json("/history/t.hits?from=1&to=101.001");
    assert_eq!(wider["step"], 51, "{wider}");
    assert_eq!(
        wider["points"],
        serde_json::json!([[1000, 20.0], [1153, 40.0]])
    );
    // Past what a stepped answer reads: refused before anything is read.
    let (status, body) = server.get("/history/t.hits?from=0&to=67108.864");
    assert_eq!(status, 400, "{body}");
    // Without `from`, 300 slots before `to`.
    let recent = server.json("/history/t.hits?to=1.4");
    assert_eq!(recent["points"], serde_json::json!([[1200, 40]]));

    // The data file of the chunk that holds slot 200 becomes a FIFO.
    let dat = walk(&store_dir)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy() == "00000000000000000192.dat")
        .expect("no data file of chunk 192");
    std::fs::remove_file(&dat).unwrap();
    let made = Command::new("mkfifo").arg(&dat).status().unwrap();
    assert!(made.success());
    let address = server.address;
    let stalled: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(address).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let _ = stream.write_all(
                    b"GET /history/t.hits?from=1.19&to=1.21 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                );
                let mut response = Vec::new();
                let _ = stream.read_to_end(&mut response);
                parse_response(&response).0
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    for path in ["/metrics", "/stats/t.hits", "/snapshot", "/files/"] {
        let (status, body) = server.get(path);
        assert_eq!(status, 200, "{path} while /history waits: {body}");
    }
    let others = started.elapsed();
    // At most the history share waits on the FIFO (no answer in 20 s); the
    // others are told to come back (503), or, with a store that refuses a
    // FIFO, given its error.
    let statuses: Vec<u16> = stalled.into_iter().map(|t| t.join().unwrap()).collect();
    report(&format!(
        "the widest /history range (100,000 slots) answered in {widest_took:?}; \
         6 /history requests on a FIFO in the store: the other routes answered in {others:?}; \
         the history requests got {statuses:?} (0: no answer in 20 s)"
    ));
    assert!(
        statuses.iter().filter(|s| **s == 0).count() <= 2,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 0 || *s >= 400),
        "{statuses:?}"
    );
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

mod floats {
    use mmstats::{Gauge, MmStats};

    #[derive(MmStats)]
    #[mmstats(prefix = "f.", defaults = false)]
    pub struct Floats {
        pub nan: Gauge<f64>,
        pub up: Gauge<f64>,
        pub down: Gauge<f64>,
        pub half: Gauge<f64>,
    }
}

/// NaN and the infinities keep their names in the JSON of the server and
/// of `slurp --json`, as Prometheus writes them, instead of one `null`.
#[test]
fn non_finite_floats_keep_their_names_in_json() {
    let dir = tempfile::tempdir().unwrap();
    use mmstats::MmStats;
    let stats = floats::Floats::builder()
        .dir(dir.path())
        .file("floats-1-1.mmstats")
        .create()
        .unwrap();
    stats.nan.set(f64::NAN);
    stats.up.set(f64::INFINITY);
    stats.down.set(f64::NEG_INFINITY);
    stats.half.set(0.5);
    let expected = serde_json::json!({
        "f.nan": ["NaN"], "f.up": ["+Inf"], "f.down": ["-Inf"], "f.half": [0.5]
    });
    let server = Server::start(&[&dir_arg(dir.path())]);
    assert_eq!(server.json("/stats/f."), expected);
    assert_eq!(server.json("/stats/f.up?aggr=max")["f.up"], "+Inf");
    let snapshot = server.json("/snapshot");
    let view = snapshot["views"][0]["stats"].to_string();
    for value in ["\"NaN\"", "\"+Inf\"", "\"-Inf\""] {
        assert!(view.contains(value), "{view}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_mmstats"))
        .args(["slurp", "--json", &dir_arg(dir.path())])
        .output()
        .unwrap();
    assert!(output.status.success());
    let document: Json = serde_json::from_slice(&output.stdout).unwrap();
    let values: serde_json::Map<String, Json> = document["files"][0]["stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["label"].as_str().unwrap().to_string(), s["value"].clone()))
        .collect();
    assert_eq!(values["f.nan"], "NaN");
    assert_eq!(values["f.up"], "+Inf");
    assert_eq!(values["f.down"], "-Inf");
    assert_eq!(values["f.half"], 0.5);
}

/// A stats file of `fields` one-byte fields labelled `{prefix}{i}`, as a
/// local user could plant it: 8 bytes a field.
fn planted(path: &Path, prefix: &str, fields: usize) {
    let mut out = vec![1u8];
    for i in 0..fields {
        let label = format!("{prefix}{i}");
        out.extend_from_slice(&(label.len() as u16).to_ne_bytes());
        out.extend_from_slice(label.as_bytes());
        out.extend_from_slice(&1u16.to_ne_bytes());
        out.extend_from_slice(b"b");
        out.push(0xff);
        out.push(7);
    }
    out.extend_from_slice(&[0, 0]);
    out.resize(out.len().div_ceil(4096) * 4096, 0);
    std::fs::write(path, out).unwrap();
}

/// Eight planted files of 40,000 fields each (320,000 in all, more than an
/// answer takes by default): the dashboard's document, the label list and
/// `/metrics` are built from the real writer's file and as many planted
/// ones as fit, say which files were left out, and the server's memory
/// stays bounded with two such requests at once.
#[test]
fn planted_fields_beyond_an_answers_limit_are_left_out_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = support::create(dir.path(), "mine", 5, "serving");
    for i in 0..8 {
        planted(
            &dir.path().join(format!("planted-{i}-{i}.mmstats")),
            &format!("p{i}."),
            40_000,
        );
    }
    let server = Server::start(&[&dir_arg(dir.path())]);
    let before = rss_kib(server.pid());
    let started = Instant::now();
    let address = server.address;
    let both: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || get(address, "/snapshot")))
        .collect();
    let mut largest = 0;
    for answer in both {
        let (status, body) = answer.join().unwrap();
        assert_eq!(status, 200, "{}", &body[..body.len().min(500)]);
        largest = largest.max(body.len());
        let snapshot: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(snapshot["truncated"], true);
        let mine = snapshot["views"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == "cmd:mine")
            .expect("the real writer's command is left out");
        let hits = mine["stats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["label"] == "t.hits")
            .unwrap();
        assert_eq!(hits["value"], 5);
        let left_out: Vec<&Json> = snapshot["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["error"].as_str().unwrap().contains("--max-answer-fields"))
            .collect();
        assert!(left_out.len() >= 6, "{}", snapshot["errors"]);
        assert!(left_out
            .iter()
            .all(|e| e["file"].as_str().unwrap().contains("/planted-")));
    }
    let elapsed = started.elapsed();
    let peak = peak_rss_kib(server.pid());
    let labels = server.json("/stats/");
    assert_eq!(labels["truncated"], true);
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("mmstats_t_hits_total{cmd=\"mine\""));
    assert!(
        metrics.contains("left out"),
        "no word of the files left out"
    );
    report(&format!(
        "8 planted files of 40,000 fields: two /snapshot at once in {elapsed:?}, the larger \
         {largest} bytes; server RSS {before} KiB before, at most {peak} KiB"
    ));
    assert!(peak < 512 * 1024, "the server grew to {peak} KiB");
}

/// With `--max-response-bytes`, a JSON answer never passes that size: a
/// document that can say so is cut and says `"truncated": true`; one that
/// cannot (`/stats/NAME`, `{LABEL: [VALUE, ...]}`) is a 400 that says why.
#[test]
fn json_answers_stop_at_their_byte_limit() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = support::create(dir.path(), "mine", 5, "serving");
    planted(&dir.path().join("planted-1-1.mmstats"), "p.", 20_000);
    let limit = 100_000;
    let server = Server::start(&[
        "--max-response-bytes",
        &limit.to_string(),
        &dir_arg(dir.path()),
    ]);
    for path in ["/snapshot", "/stats/", "/files/"] {
        let (status, body) = server.get(path);
        assert_eq!(status, 200, "{path}");
        assert!(body.len() <= limit, "{path}: {} bytes", body.len());
        let document: Json = serde_json::from_str(&body).unwrap();
        if path != "/files/" {
            assert_eq!(document["truncated"], true, "{path}");
        }
    }
    // The header says so too, on any route.
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream
        .write_all(b"GET /snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(head.contains("x-mmstats-truncated: true"), "{head}");
    let (status, body) = server.get("/stats/p.");
    assert_eq!(status, 400, "{}", &body[..body.len().min(300)]);
    assert!(body.contains("--max-response-bytes"), "{body}");
    // Small answers are whole.
    assert_eq!(
        server.json("/stats/t.hits?exact=1"),
        serde_json::json!({ "t.hits": [5] })
    );
}

/// A client that asks for large answers (15 MB) on 64 connections and
/// never reads them: the answers waiting for it take at most the server's
/// budget for held answers (256 MiB), the rest are refused with 503, and
/// small answers to others are still given meanwhile.
#[test]
fn answers_never_taken_hold_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = support::create(dir.path(), "mine", 5, "serving");
    planted(&dir.path().join("planted-1-1.mmstats"), "p.", 90_000);
    let server = Server::start(&[&dir_arg(dir.path())]);
    let (_, one) = server.get("/snapshot");
    let greedy: std::net::IpAddr = "127.0.0.3".parse().unwrap();
    let started = Instant::now();
    let held: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut stream = connect_from(greedy, server.address);
            stream
                .write_all(b"GET /snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();
    // The status line of each answer, and no more of it.
    let mut held = held;
    let mut statuses = std::collections::BTreeMap::new();
    for stream in &mut held {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut head = [0u8; 12];
        let status = match stream.read_exact(&mut head) {
            Ok(()) => String::from_utf8_lossy(&head[9..12]).into_owned(),
            Err(e) => format!("{e}"),
        };
        *statuses.entry(status).or_insert(0) += 1;
    }
    let (status, body) = server.get("/stats/t.hits?exact=1");
    assert_eq!(status, 200, "{body}");
    let peak = peak_rss_kib(server.pid());
    let kept = statuses.get("200").copied().unwrap_or(0);
    let refused = statuses.get("503").copied().unwrap_or(0);
    report(&format!(
        "64 answers of {} bytes never read: {kept} held, {refused} refused (503); \
         server RSS at most {peak} KiB, {:?}",
        one.len(),
        started.elapsed()
    ));
    assert_eq!(kept + refused, 64, "{statuses:?}");
    assert!(kept * one.len() <= 256 << 20, "{statuses:?}");
    // The held answers, and the four requests being built: not the 64.
    assert!(peak < 900 * 1024, "the server grew to {peak} KiB");
    drop(held);
    assert_eq!(server.get("/snapshot").0, 200);
}

mod latencies {
    use mmstats::MmStats;

    #[derive(MmStats)]
    #[mmstats(prefix = "h.")]
    pub struct Latencies {
        /// Time to answer.
        #[mmstats(unit = "seconds")]
        pub latency: mmstats::Histogram,
    }
}

/// Records, without pause until `stop`, 9 values of 10 ms then 1 of
/// 500 ms, over and over: any run of the values holds them 9 to 1, so the
/// p50 of any interval is 10 ms and its p99 500 ms.
fn nine_to_one(
    stats: mmstats::Stats<latencies::Latencies>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut recorded = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for _ in 0..100 {
                for _ in 0..9 {
                    stats.latency.record(0.010);
                }
                stats.latency.record(0.5);
            }
            recorded += 1000;
            std::thread::sleep(Duration::from_millis(1));
        }
        recorded
    })
}

/// The reader's precision: a quantile is reported as the geometric middle
/// of its bucket, within `sqrt(2^(1/16)) - 1` (2.2 %) of the exact value.
fn within_precision(reported: f64, exact: f64) -> bool {
    (reported / exact - 1.0).abs() <= 2f64.powf(1.0 / 32.0) - 1.0 + 1e-9
}

/// `/snapshot?since=TIME` gives each histogram the quantiles of the values
/// recorded since the answer of that time, by the reader's rule; a time
/// the server has no answer of gives `null`, and one that is no number a
/// 400.
#[test]
fn snapshot_since_gives_each_histograms_window() {
    let dir = tempfile::tempdir().unwrap();
    let stats = <latencies::Latencies as mmstats::MmStats>::builder()
        .dir(dir.path())
        .cmd("windows")
        .create()
        .unwrap();
    for _ in 0..1000 {
        stats.latency.record(0.001);
    }
    let server = Server::start(&[&dir_arg(dir.path())]);
    let histogram = |doc: &Json| -> Json {
        let all = &doc["views"][0];
        assert_eq!(all["id"], "all", "{doc}");
        all["stats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["label"] == "h.latency")
            .unwrap_or_else(|| panic!("no h.latency in {doc}"))
            .clone()
    };
    let first = server.json("/snapshot");
    assert!(histogram(&first).get("window").is_none(), "{first}");
    for _ in 0..90 {
        stats.latency.record(0.010);
    }
    for _ in 0..10 {
        stats.latency.record(0.5);
    }
    let time = first["time"].as_u64().unwrap();
    let second = server.json(&format!("/snapshot?since={time}"));
    let window = &histogram(&second)["window"];
    assert_eq!(window["since"], time, "{second}");
    assert_eq!(window["count"], 100, "{second}");
    let p50 = window["p50"].as_f64().unwrap();
    let p99 = window["p99"].as_f64().unwrap();
    assert!(within_precision(p50, 0.010), "{window}");
    assert!(within_precision(p99, 0.5), "{window}");
    // The whole histogram still holds the first thousand values.
    assert_eq!(histogram(&second)["value"]["count"], 1100, "{second}");
    let third = server.json(&format!(
        "/snapshot?since={}",
        second["time"].as_u64().unwrap()
    ));
    let quiet = &histogram(&third)["window"];
    assert_eq!(quiet["count"], 0, "{third}");
    assert_eq!(quiet["p50"], Json::Null, "{third}");
    // The server keeps its last 16 answers: after 16 more (each in a
    // millisecond of its own), the second is forgotten.
    let kept_time = second["time"].as_u64().unwrap();
    for _ in 0..16 {
        std::thread::sleep(Duration::from_millis(3));
        server.json("/snapshot");
    }
    let forgotten = server.json(&format!("/snapshot?since={kept_time}"));
    assert_eq!(histogram(&forgotten)["window"], Json::Null, "{forgotten}");
    let unknown = server.json("/snapshot?since=12345");
    assert_eq!(histogram(&unknown)["window"], Json::Null, "{unknown}");
    let (status, body) = server.get("/snapshot?since=yesterday");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("since=yesterday"), "{body}");
}

/// The `data-points`, `data-min` and `data-max` of the path of class
/// `class` in the histogram graph of `label`.
fn histogram_path(dom: &str, label: &str, class: &str) -> Option<(usize, f64, f64)> {
    let chart = dom
        .split(&format!(
            "<div class=\"chart histogram\" data-label=\"{label}\""
        ))
        .nth(1)?;
    let chart = chart.split("</svg>").next()?;
    for path in chart.split("<path ").skip(1) {
        let path = path.split('>').next().unwrap_or("");
        if path.contains(&format!("class=\"{class}\"")) {
            let attr = |name: &str| {
                path.split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|v| v.split('"').next())
                    .unwrap_or("")
                    .to_string()
            };
            return Some((
                attr("data-points").parse().ok()?,
                attr("data-min").parse().ok()?,
                attr("data-max").parse().ok()?,
            ));
        }
    }
    None
}

/// A real browser shows a histogram as one graph with a p50 and a p99
/// line: live, the quantiles of each interval between two polls (the
/// writer records 9 values of 10 ms to 1 of 500 ms without pause), every
/// point within the reader's precision of the exact 10 ms and 500 ms; from
/// history, the `:p50` and `:p99` series `mmstats record` keeps, as stored.
#[test]
#[ignore = "needs chromium (Debian package chromium)"]
fn dashboard_graphs_a_histograms_p50_and_p99_live_and_from_history() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let stats = <latencies::Latencies as mmstats::MmStats>::builder()
        .dir(dir.path())
        .cmd("histo")
        .create()
        .unwrap();
    let history = tempfile::tempdir().unwrap();
    let store_dir = history.path().join("store");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut store = mmstats::mstore::Store::create(
        &store_dir,
        mmstats::mstore::Options {
            chunk_size: 3600,
            resolution: 1000,
            start_time: now_ms / 1000 * 1000 - 60_000,
            ..Default::default()
        },
    )
    .unwrap();
    store
        .put("cmd:histo:h.latency:p50", 20, &[0.02f64; 30])
        .unwrap();
    store
        .put("cmd:histo:h.latency:p99", 20, &[0.8f64; 30])
        .unwrap();
    store.close().unwrap();
    let server = Server::start(&[
        "--store",
        &store_dir.display().to_string(),
        &dir_arg(dir.path()),
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = nine_to_one(stats, Arc::clone(&stop));
    let dom = rendered_dom(&format!("http://{}/", server.address));
    stop.store(true, Ordering::Relaxed);
    let recorded = writer.join().unwrap();

    let line = |class: &str| {
        histogram_path(&dom, "h.latency", class)
            .unwrap_or_else(|| panic!("no {class:?} line in the h.latency graph in\n{dom}"))
    };
    let (p50_points, p50_min, p50_max) = line("line p50");
    let (p99_points, p99_min, p99_max) = line("line p99");
    assert!(p50_points >= 2 && p99_points >= 2, "{dom}");
    for (v, exact) in [
        (p50_min, 0.010),
        (p50_max, 0.010),
        (p99_min, 0.5),
        (p99_max, 0.5),
    ] {
        assert!(within_precision(v, exact), "{v} is not {exact} in\n{dom}");
    }
    // The table shows the whole histogram's count and quantiles.
    let shown = cell(&dom, "h.latency", "value").unwrap_or_default();
    assert!(
        shown.starts_with("count ") && shown.contains(", p50 0.0") && shown.contains(", p99 0.4"),
        "{shown}"
    );
    assert_eq!(line("line history p50"), (30, 0.02, 0.02));
    assert_eq!(line("line history p99"), (30, 0.8, 0.8));
    report(&format!(
        "chromium drew h.latency: live p50 in [{p50_min}, {p50_max}] over {p50_points} \
         intervals, p99 in [{p99_min}, {p99_max}] over {p99_points} ({recorded} values \
         recorded), after 30 stored points of each"
    ));
}

/// The page asks `/history` for about one point per pixel whatever the
/// range: against a store of 10 ms slots, the five minutes a graph shows
/// are 30,000 stored points (within what one answer may hold without a
/// step), yet the history line a headless Chromium draws has a few hundred,
/// one per step of the page's request.
#[test]
#[ignore = "needs chromium (Debian package chromium)"]
fn dashboard_fetches_a_long_history_at_a_step() {
    const SLOTS: u64 = 30_000;
    let dir = tempfile::tempdir().unwrap();
    let _writer = quoting_writer(dir.path(), "long", 1, 5);
    let history = tempfile::tempdir().unwrap();
    let store_dir = history.path().join("store");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut store = mmstats::mstore::Store::create(
        &store_dir,
        mmstats::mstore::Options {
            chunk_size: 3600,
            resolution: 10,
            start_time: now_ms / 10 * 10 - SLOTS * 10,
            ..Default::default()
        },
    )
    .unwrap();
    let queue: Vec<u64> = (0..SLOTS).map(|i| i % 100).collect();
    store.put("cmd:long:t.queue", 0, &queue).unwrap();
    store.close().unwrap();
    let server = Server::start(&[
        "--store",
        &store_dir.display().to_string(),
        &dir_arg(dir.path()),
    ]);
    // What the server answers without a step: every stored point.
    let whole = server.json(&format!(
        "/history/cmd:long:t.queue?from={}&to={}",
        (now_ms - 300_000) as f64 / 1000.0,
        now_ms as f64 / 1000.0
    ));
    let stored = whole["points"].as_array().unwrap().len();
    assert!(
        stored > 25_000,
        "{stored} points stored in the five minutes"
    );
    let dom = rendered_dom(&format!("http://{}/", server.address));
    let (drawn, d) = graph_paths(&dom, "t.queue", "line history");
    assert!(
        (50..=2000).contains(&drawn) && d.starts_with('M'),
        "the history line has {drawn} points: {:?}",
        &d[..d.len().min(80)]
    );
    report(&format!(
        "chromium drew five minutes of t.queue history, {stored} points in the store, \
         as {drawn} points"
    ));
}
