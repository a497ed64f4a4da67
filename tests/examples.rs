//! The examples, run as a user runs them: real processes, real files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use mmstats::reader::{self, Value};

mod common;

use common::example;

#[test]
fn minimal_writes_a_file_that_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example("minimal"))
        .env("MMSTATS_PATH", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(path.parent(), Some(dir.path()));
    let snapshot = reader::read_path(&path).unwrap();
    assert_eq!(
        snapshot.get("minimal.jobs").unwrap().value,
        Value::Unsigned(5)
    );
    assert_eq!(
        snapshot.get("minimal.queue").unwrap().value,
        Value::Unsigned(1)
    );
    assert_eq!(
        snapshot.get("minimal.state").unwrap().value,
        Value::Text("done".into())
    );
    let Value::Float(job_time) = snapshot.get("minimal.job_time").unwrap().value else {
        panic!("a timer is a float")
    };
    assert!(
        job_time >= 0.010,
        "each job sleeps 10 ms, the mean was {job_time}"
    );
    assert!(snapshot.pid().is_some_and(|pid| pid != std::process::id()));
    assert_eq!(snapshot.get("minimal.jobs").unwrap().help, "Jobs finished.");
}

#[test]
fn webserver_runs_for_a_duration_reads_its_threads_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example("webserver"))
        .args(["--duration", "2s", "--threads", "3"])
        .env("MMSTATS_PATH", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<&str> = stdout.lines().filter(|l| l.contains("requests")).collect();
    assert!(reports.len() >= 2, "{stdout}");
    // Four files: three workers and the main thread.
    assert!(reports.iter().all(|l| l.contains("files  4")), "{stdout}");
    let total = |line: &str| -> u64 {
        line.split_whitespace()
            .skip_while(|w| *w != "requests")
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let totals: Vec<u64> = reports.iter().map(|l| total(l)).collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    assert!(totals.last().copied().unwrap_or(0) > 0, "{stdout}");
    assert!(stdout.contains("removed 4 stats files"), "{stdout}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The first line names the files as they are on disk, and a reader that
/// stops reading (`| head`) stops the demo as Ctrl-C does: no panic, files
/// removed.
#[test]
fn webserver_names_its_files_and_stops_quietly_when_its_output_closes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(example("webserver"))
        .args(["--threads", "2"])
        .env("MMSTATS_PATH", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next().unwrap().unwrap();
    let first_report = lines.next().unwrap().unwrap();
    assert!(first_report.contains("requests"), "{first_report}");
    // The banner's pattern, `<tid>` standing for any thread id, matches
    // every file in the directory.
    let pattern = banner
        .split_whitespace()
        .find(|w| w.contains("<tid>"))
        .unwrap_or_else(|| panic!("no file pattern in {banner:?}"))
        .trim_end_matches(';');
    let (before, after) = pattern.split_once("<tid>").unwrap();
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        let tid = file
            .strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .unwrap_or_else(|| panic!("{file} does not match {pattern}"));
        assert!(
            tid.parse::<u32>().is_ok(),
            "{file} does not match {pattern}"
        );
    }
    drop(lines);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn webserver_stops_cleanly_on_ctrl_c_and_a_killed_one_leaves_readable_files() {
    for (signal, cleans_up) in [(libc::SIGINT, true), (libc::SIGKILL, false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(example("webserver"))
            .args(["--threads", "2"])
            .env("MMSTATS_PATH", dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Wait for the first report: the workers are running.
        let first = lines.find(|l| l.as_ref().is_ok_and(|l| l.contains("requests")));
        assert!(first.is_some(), "no report");
        let pid = i32::try_from(child.id()).unwrap();
        // SAFETY: sending a signal to our own child has no memory effects.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let status = child.wait().unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        if cleans_up {
            assert!(status.success(), "{status}");
            assert!(files.is_empty(), "{files:?}");
        } else {
            assert_eq!(files.len(), 3, "{files:?}");
            let mut requests = 0;
            let mut get_2xx = 0;
            for file in files {
                let snapshot = reader::read_path(&file.path()).unwrap();
                assert_eq!(snapshot.pid(), Some(pid as u32));
                if let Some(Value::Unsigned(n)) =
                    snapshot.get("web.requests").map(|s| s.value.clone())
                {
                    requests += n;
                }
                // The status counters are a family: one field per member.
                if let Some(Value::Unsigned(n)) = snapshot
                    .get(r#"web.responses{method="get",status="2xx"}"#)
                    .map(|s| s.value.clone())
                {
                    get_2xx += n;
                }
            }
            assert!(requests > 0);
            assert!(
                get_2xx > 0 && get_2xx <= requests,
                "{get_2xx} of {requests}"
            );
        }
    }
}

/// Sends `GET path` to `port` on a fresh connection and returns the status
/// line, the head and the body.
fn http_get(port: u16, path: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap().to_string();
    (status, head.to_string(), body.to_string())
}

/// The value of the sample of `name` whose labels hold `labels`.
fn sample<'a>(exposition: &'a str, name: &str, labels: &str) -> Option<&'a str> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (got, value) = rest.split_once("} ")?;
        got.contains(labels).then_some(value)
    })
}

#[test]
fn metrics_server_serves_its_own_counter_over_http() {
    let dir = tempfile::tempdir().unwrap();
    // The duration only bounds a run whose test failed before stopping it.
    let mut child = Command::new(example("metrics_server"))
        .args(["--listen", "127.0.0.1:0", "--duration", "60s"])
        .env("MMSTATS_PATH", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = lines
        .find_map(|l| l.ok()?.strip_prefix("listening on ").map(str::to_string))
        .expect("no `listening on` line");
    let port: u16 = listening
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("not a loopback URL: {listening}"));
    let pid = format!("pid=\"{}\"", child.id());
    let requests = "mmstats_metrics_server_requests_total";

    let (status, head, body) = http_get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(
        body.lines()
            .any(|l| l == format!("# TYPE {requests} counter")),
        "{body}"
    );
    // The scrape counts itself: its file is read after the count.
    assert_eq!(sample(&body, requests, &pid), Some("1"), "{body}");
    assert!(body.contains("\nmmstats_exporter_files 1\n"), "{body}");

    let (status, _, _) = http_get(port, "/nothing-here");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    let (status, _, body) = http_get(port, "/metrics?again");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(sample(&body, requests, &pid), Some("3"), "{body}");
    assert_eq!(
        sample(&body, "mmstats_metrics_server_not_found_total", &pid),
        Some("1"),
        "{body}"
    );
    assert_eq!(
        sample(&body, "mmstats_metrics_server_scrapes_total", &pid),
        Some("2"),
        "{body}"
    );

    // Ctrl-C stops it and it removes its file.
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sending a signal to our own child has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("stats files removed: 1")),
        "{rest:?}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_failing_main_prints_a_readable_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no such directory");
    let out = Command::new(example("minimal"))
        .env("MMSTATS_PATH", &missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // What `main() -> Result<(), mmstats::Error>` prints is the message,
    // naming the directory, not a Debug structure.
    assert!(
        stderr.starts_with("Error: cannot create a stats file in directory "),
        "{stderr}"
    );
    assert!(stderr.contains("no such directory"), "{stderr}");
    assert!(!stderr.contains("Io {"), "{stderr}");
}

/// The newest modification time of the `.rs` files under `dir`.
fn newest_source(dir: &std::path::Path) -> std::time::SystemTime {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            std::fs::metadata(&path).unwrap().modified().unwrap()
        } else {
            continue;
        };
        newest = newest.max(time);
    }
    newest
}

#[test]
fn examples_run_are_built_from_the_current_sources() {
    // Whatever was built before, the example a test runs is no older than
    // any source it is made of: a test run on its own never runs a stale
    // binary after a change to the library or the example.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = example("stress_writer");
    let built = std::fs::metadata(&binary).unwrap().modified().unwrap();
    for dir in ["examples", "mmstats/src", "mmstats-derive/src"] {
        let source = newest_source(&root.join(dir));
        assert!(
            built >= source,
            "{} is older than the sources in {dir}",
            binary.display()
        );
    }
}
