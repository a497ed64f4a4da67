//! `mmstats serve`, run for real: a real server process on a loopback port,
//! real writer processes, and for the ignored tests a real Prometheus,
//! `promtool` and a real headless browser.
//!
//! The writers are this test binary started again with
//! `MMSTATS_SERVE_TEST_WRITER` set (see [`writer_process`]); they obey
//! `incr N` lines on standard input, so every value asserted is known.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

mod support;

use support::Writer;

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

/// A child process killed when dropped: the server, Prometheus, a browser.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mmstats serve` on a free loopback port, killed when dropped.
struct Server {
    guard: Guard,
    address: SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mmstats"));
        for var in ["MMSTATS_PATH", "MMSTATS_GLOB", "MMSTATS_FILES"] {
            command.env_remove(var);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let guard = Guard(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
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

/// One GET over a new connection: the status and the body.
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(20)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    parse_response(&response)
}

fn parse_response(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
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
    // Links out of the stats directory: refused, not followed.
    assert!(error("/files/link.mmstats", 400).contains("leads out of"));
    assert!(error("/files/*", 400).contains("leads out of"));
    assert!(error("/stats/t?glob=away/*.mmstats", 400).contains("leads out of"));
    assert!(error("/stats/t?glob=*/*.mmstats", 400).contains("symbolic link"));
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
            b"POST /stats/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
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
        "GET /stats/ HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
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
    // The main thread's file (15) and the other thread's (5), by thread id.
    let per_file = |family: &str| -> Vec<String> {
        let start = format!("{family}{{cmd=\"alpha\",pid=\"{pid}\",tid=\"");
        let mut values: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix(&start))
            .map(|rest| {
                let (tid, value) = rest.split_once("\"").unwrap();
                assert!(tid.parse::<u32>().is_ok(), "{rest}");
                value.to_string()
            })
            .collect();
        values.sort();
        values
    };
    assert_eq!(per_file("mmstats_t_hits_total"), ["} 15", "} 5"]);
    assert_eq!(
        per_file("mmstats_t_state_info"),
        [
            ",value=\"serving \\\"all\\\"\"} 1",
            ",value=\"serving \\\"all\\\"\"} 1"
        ]
    );
    expect("mmstats_t_hits_by_cmd_total{cmd=\"alpha\"} 20\n");
    expect("# TYPE mmstats_t_queue gauge\n");
    expect("mmstats_t_queue_by_cmd{cmd=\"alpha\"} 6\n");
    expect("# TYPE mmstats_t_latency gauge\n");
    expect("mmstats_t_latency_by_cmd{cmd=\"alpha\"} 0.25\n");
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
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed for this test (Debian package prometheus)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool: {said}\n{text}");
    assert_eq!(said.trim(), "", "promtool: {said}\n{text}");
    report(&format!(
        "promtool check metrics: clean, {} lines",
        text.lines().count()
    ));
}

/// A free loopback port: bound, then released for another process to take.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
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
    let config = work.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: mmstats\n    static_configs:\n      \
             - targets: ['127.0.0.1:{}']\n",
            server.port()
        ),
    )
    .unwrap();
    let port = free_port();
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            work.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.path().join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus must be installed for this test (Debian package prometheus)");
    let _prometheus = Guard(prometheus);
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let query = format!(
        "/api/v1/query?query=mmstats_t_hits_total%7Bcmd%3D%22scraped%22%2Cpid%3D%22{}%22%7D",
        writer.pid()
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    let value = loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not report the counter in time; last answer: {last}\nlog: {}",
            std::fs::read_to_string(work.path().join("prometheus.log")).unwrap_or_default()
        );
        if TcpStream::connect(address).is_ok() {
            let (status, body) = get(address, &query);
            last = body.clone();
            if status == 200 {
                let answer: Json = serde_json::from_str(&body).unwrap();
                if let Some(value) = answer["data"]["result"][0]["value"][1].as_str() {
                    break value.to_string();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    report(&format!(
        "Prometheus read back mmstats_t_hits_total = {value}"
    ));
    assert_eq!(value, "4242");
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
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
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .unwrap(),
            // Sends a whole request and never reads the answer.
            _ => stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
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
    for b in b"GET /stats/ HTTP/1.1\r\nHost: x\r\n" {
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
    let points = server.json("/history/t.hits?from=1000&to=1100");
    assert_eq!(
        points["points"],
        serde_json::json!([[1005, 10], [1006, 20], [1007, 30]])
    );
    let points = server.json("/history/t.latency?from=1006&to=1007");
    assert_eq!(points["points"], serde_json::json!([[1006, 0.5]]));
    assert_eq!(server.get("/history/t.hits?from=9&to=9").0, 400);
    assert_eq!(server.get("/history/t.hits?from=x").0, 400);
    assert_eq!(server.get("/history/nope?from=1000&to=1001").0, 404);
    assert_eq!(
        server
            .get("/history/t.hits?from=0&to=18446744073709551615")
            .0,
        400
    );
    assert_eq!(server.json("/snapshot")["history"], true);
}

/// The page as a headless Chromium renders it after five seconds of
/// (virtual) time, as HTML.
fn rendered_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = profile.path().join("dom.html");
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium must be installed for this test (Debian package chromium)");
    let mut browser = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = browser.0.try_wait().unwrap() {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "chromium did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(out).unwrap()
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
                    .write_all(b"GET /stats/ HTTP/1.1\r\nHost: x\r\n")
                    .unwrap(),
                "idle after an answer" => {
                    stream
                        .write_all(b"GET /stats/ HTTP/1.1\r\nHost: x\r\n\r\n")
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
