//! `mmstats record`, `query` and `metrics`, run for real: a writer process
//! publishes stats, `record` keeps their history, `query` reads it back.
//!
//! The writer is this test binary itself, started again with
//! `MMSTATS_HISTORY_TEST_WRITER` set: it publishes one file per thread and
//! obeys `incr N` lines on its standard input. `record --on-input` takes a
//! sample for each line the test sends it, so every recorded value is
//! decided by the test, not by timing.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

use mmstats::{Counter, Flag, Gauge, MmStats, Text, Timer};
use serde_json::Value as Json;

mod support;

use support::mmstats;

const WRITER_ENV: &str = "MMSTATS_HISTORY_TEST_WRITER";

/// What each test writer publishes, per thread.
#[derive(MmStats)]
#[mmstats(prefix = "t.")]
struct TestStats {
    /// Requests handled.
    hits: Counter,
    /// Jobs waiting.
    queue: Gauge<i32>,
    /// Time to handle a request.
    latency: Timer<10>,
    /// Whether the worker takes requests.
    up: Flag,
    /// What the worker does.
    state: Text<16>,
}

fn create(dir: &Path, hits: u64) -> mmstats::Stats<TestStats> {
    let stats = TestStats::builder()
        .dir(dir)
        .cmd("app")
        .file("{CMD}-{PID}-{TID}.mmstats")
        .create()
        .unwrap();
    stats.hits.incr_by(hits);
    stats.queue.set(3);
    stats.latency.record_seconds(0.25);
    stats.up.set(true);
    stats.state.set("serving");
    stats
}

/// A writer whose `t.hits` holds a float: the same label as
/// [`TestStats`], another type.
#[derive(MmStats)]
#[mmstats(prefix = "t.")]
struct FloatStats {
    /// Requests handled, as a float.
    hits: Gauge<f64>,
}

/// The writer: runs only in a process started by [`writer`]. Two threads,
/// each with `t.hits` = 10; `incr N` adds N in the main thread. With
/// `float:` before the directory, one file whose `t.hits` is 0.5 instead.
#[test]
#[ignore = "not a test on its own: the tests of this file start it as a writer process"]
fn writer_process() {
    let Ok(spec) = std::env::var(WRITER_ENV) else {
        return;
    };
    if let Some(dir) = spec.strip_prefix("float:") {
        let stats = FloatStats::builder()
            .dir(dir)
            .cmd("app")
            .file("{CMD}-{PID}-{TID}.mmstats")
            .create()
            .unwrap();
        stats.hits.set(0.5);
        println!("ready");
        for _ in std::io::stdin().lines() {}
        std::process::exit(0);
    }
    let dir = PathBuf::from(spec);
    let main = create(&dir, 10);
    let (tx, rx) = std::sync::mpsc::channel();
    let worker_dir = dir.clone();
    std::thread::spawn(move || {
        let _stats = create(&worker_dir, 10);
        tx.send(()).unwrap();
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready").unwrap();
    stdout.flush().unwrap();
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        match line.split_once(' ') {
            Some(("incr", n)) => main.hits.incr_by(n.parse().unwrap()),
            _ => panic!("unknown command {line:?}"),
        }
        writeln!(stdout, "ok").unwrap();
        stdout.flush().unwrap();
    }
    std::process::exit(0);
}

/// A child process whose standard input and output the test drives; killed
/// when dropped.
struct Driven {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Driven {
    fn spawn(mut command: Command) -> Driven {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Driven {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn next_line(&mut self) -> String {
        self.lines.next().unwrap().unwrap()
    }

    /// Closes standard input, reads the rest of the output and waits.
    fn finish(mut self) -> (Output, Vec<String>) {
        drop(self.stdin.take());
        let rest: Vec<String> = self.lines.by_ref().map(|l| l.unwrap()).collect();
        let mut stderr = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let status = self.child.wait().unwrap();
        let output = Output {
            status,
            stdout: rest.join("\n").into_bytes(),
            stderr: stderr.into_bytes(),
        };
        (output, rest)
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a writer publishing in `dir` and waits until its files are there.
fn writer(dir: &Path) -> Driven {
    writer_with(dir.to_str().unwrap())
}

fn writer_with(spec: &str) -> Driven {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "writer_process",
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--quiet",
        ])
        .env(WRITER_ENV, spec);
    let mut w = Driven::spawn(command);
    loop {
        if w.next_line() == "ready" {
            return w;
        }
    }
}

fn incr(writer: &mut Driven, n: u64) {
    writer.send(&format!("incr {n}"));
    assert_eq!(writer.next_line(), "ok");
}

/// The `mmstats` command, with no mmstats settings from the environment.
fn run(args: &[&str]) -> (Output, String, String) {
    let output = mmstats().args(args).output().unwrap();
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    (output, stdout, stderr)
}

/// `query --json`, parsed; fails the test if the command fails.
fn query_json(store: &Path, metric: &str, extra: &[&str]) -> Json {
    let store = store.to_str().unwrap();
    let mut args = vec!["query", "--store", store, metric, "--json"];
    args.extend_from_slice(extra);
    let (output, stdout, stderr) = run(&args);
    assert!(output.status.success(), "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// The set points of a `query --json` answer: (unix_ms, value).
fn set_points(answer: &Json) -> Vec<(u64, Json)> {
    answer["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["value"].is_null())
        .map(|p| (p["unix_ms"].as_u64().unwrap(), p["value"].clone()))
        .collect()
}

fn values_u64(answer: &Json) -> Vec<u64> {
    set_points(answer)
        .iter()
        .map(|(_, v)| v.as_u64().unwrap())
        .collect()
}

/// Records five samples of a writer whose main thread gains 5 hits after
/// each sample: `cmd:app:t.hits` goes 20, 25, ... 40 (two threads of 10).
/// Returns the store and the writer's pid.
fn record_five_samples(files: &Path, store: &Path, by: &str) -> u32 {
    record_five_samples_with(files, store, by, &[])
}

/// The same, with more arguments for `record`.
fn record_five_samples_with(files: &Path, store: &Path, by: &str, extra: &[&str]) -> u32 {
    let mut w = writer(files);
    let pid = w.child.id();
    let mut record = mmstats();
    record.args([
        "record",
        "--on-input",
        "--interval",
        "100ms",
        "--chunk-size",
        "2",
        "--by",
        by,
        "--store",
        store.to_str().unwrap(),
        files.to_str().unwrap(),
    ]);
    record.args(extra);
    let mut r = Driven::spawn(record);
    assert!(r.next_line().starts_with("recording into "));
    for i in 0..5 {
        r.send("sample");
        let line = r.next_line();
        assert!(line.contains(" 2 files, "), "{line}");
        if i < 4 {
            incr(&mut w, 5);
        }
    }
    let (output, rest) = r.finish();
    assert!(output.status.success(), "{output:?}");
    let last = rest.last().unwrap();
    assert!(last.starts_with("stopped after 5 samples: "), "{rest:?}");
    pid
}

#[test]
fn record_follows_a_writer_and_query_reads_every_format_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    let pid = record_five_samples(&files, &store, "cmd,pid,file");

    // Counters: the running total of both threads; per process the same;
    // per file only the main thread's.
    let hits = query_json(&store, "cmd:app:t.hits", &[]);
    assert_eq!(hits["type"], "u64");
    assert_eq!(hits["interval_ms"], 100);
    assert_eq!(values_u64(&hits), [20, 25, 30, 35, 40]);
    let per_pid = query_json(&store, &format!("pid:{pid}:t.hits"), &[]);
    assert_eq!(values_u64(&per_pid), [20, 25, 30, 35, 40]);
    // The writer's two threads each have a file; the one that counted has
    // its own history.
    let (_, list, _) = run(&["metrics", "--store", store.to_str().unwrap()]);
    let mut per_file: Vec<Vec<u64>> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("file:app-{pid}-")) && n.ends_with(":t.hits"))
        .map(|n| values_u64(&query_json(&store, n, &[])))
        .collect();
    per_file.sort();
    assert_eq!(per_file, [vec![10; 5], vec![10, 15, 20, 25, 30]]);

    // Gauges (summed, i64), timers (mean, f64), flags (0/1, u64).
    let queue = query_json(&store, "cmd:app:t.queue", &[]);
    assert_eq!(queue["type"], "i64");
    assert!(set_points(&queue)
        .iter()
        .all(|(_, v)| v.as_i64() == Some(6)));
    let latency = query_json(&store, "cmd:app:t.latency", &[]);
    assert_eq!(latency["type"], "f64");
    assert!(set_points(&latency)
        .iter()
        .all(|(_, v)| v.as_f64() == Some(0.25)));
    let up = query_json(&store, "cmd:app:t.up", &[]);
    assert_eq!(values_u64(&up), [1, 1, 1, 1, 1]);

    // metrics: texts and statics are not recorded; every series has its
    // five points.
    let (output, stdout, stderr) = run(&["metrics", "--store", store.to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{stderr}");
    let metrics: Json = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"cmd:app:t.hits"));
    assert!(!names.iter().any(|n| n.ends_with("t.state")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("t.sys.")), "{names:?}");
    for m in metrics.as_array().unwrap() {
        assert_eq!(m["points"], 5, "{m}");
    }
    let (_, table, _) = run(&["metrics", "--store", store.to_str().unwrap()]);
    assert!(table.lines().any(|l| l.starts_with("cmd:app:t.hits ")
        && l.split_whitespace().nth(1) == Some("u64")
        && l.split_whitespace().nth(2) == Some("5")));

    // CSV and the table hold the same points as JSON.
    let s = store.to_str().unwrap();
    let (output, csv, _) = run(&["query", "--store", s, "cmd:app:t.hits", "--csv"]);
    assert!(output.status.success());
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("time,unix_ms,value"));
    let csv_points: Vec<(u64, u64)> = rows
        .filter_map(|r| {
            let cells: Vec<&str> = r.split(',').collect();
            assert_eq!(cells.len(), 3, "{r}");
            Some((cells[1].parse().unwrap(), cells[2].parse().ok()?))
        })
        .collect();
    let json_points: Vec<(u64, u64)> = set_points(&hits)
        .iter()
        .map(|(t, v)| (*t, v.as_u64().unwrap()))
        .collect();
    assert_eq!(csv_points, json_points);
    let (_, table, _) = run(&["query", "--store", s, "cmd:app:t.hits", "--skip-unset"]);
    let table_values: Vec<u64> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(table_values, [20, 25, 30, 35, 40]);

    // Rates: the change over the time between two set points.
    let rates = query_json(&store, "cmd:app:t.hits", &["--rate"]);
    assert_eq!(rates["type"], "f64");
    let rate_points = set_points(&rates);
    assert_eq!(rate_points.len(), 4, "{rates}");
    for (i, (t, r)) in rate_points.iter().enumerate() {
        let (before, after) = (json_points[i], json_points[i + 1]);
        assert_eq!(*t, after.0);
        let expected = (after.1 - before.1) as f64 / ((after.0 - before.0) as f64 / 1000.0);
        assert!(
            (r.as_f64().unwrap() - expected).abs() < 1e-9,
            "{r} {expected}"
        );
    }

    // Times: relative, RFC 3339 (both ends included), Unix seconds.
    assert_eq!(
        values_u64(&query_json(&store, "cmd:app:t.hits", &["--from", "-1h"])),
        [20, 25, 30, 35, 40]
    );
    assert!(values_u64(&query_json(&store, "cmd:app:t.hits", &["--to", "-1h"])).is_empty());
    let third = hits["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["value"].is_null())
        .nth(2)
        .unwrap()
        .clone();
    let third_time = third["time"].as_str().unwrap();
    assert_eq!(
        values_u64(&query_json(
            &store,
            "cmd:app:t.hits",
            &["--from", third_time]
        )),
        [30, 35, 40]
    );
    assert_eq!(
        values_u64(&query_json(&store, "cmd:app:t.hits", &["--to", third_time])),
        [20, 25, 30]
    );
    let third_unix = format!("{:.3}", third["unix_ms"].as_u64().unwrap() as f64 / 1000.0);
    assert_eq!(
        values_u64(&query_json(
            &store,
            "cmd:app:t.hits",
            &["--from", &third_unix, "--to", &third_unix]
        )),
        [30]
    );
}

#[test]
fn ctrl_c_ends_record_after_a_final_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    let _w = writer(&files);
    let mut record = mmstats();
    record.args([
        "record",
        "--interval",
        "200ms",
        "--store",
        store.to_str().unwrap(),
        files.to_str().unwrap(),
    ]);
    let mut r = Driven::spawn(record);
    assert!(r.next_line().starts_with("recording into "));
    let mut samples = 0;
    while samples < 2 {
        assert!(r.next_line().ends_with(" points written"));
        samples += 1;
    }
    let pid = libc::pid_t::try_from(r.child.id()).unwrap();
    // SAFETY: kill(2) on a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (output, rest) = r.finish();
    assert!(output.status.success(), "{output:?}");
    // A sample in progress when the signal came is finished and printed.
    samples += rest
        .iter()
        .filter(|l| l.ends_with(" points written"))
        .count();
    let last = rest.last().unwrap();
    assert!(
        last.starts_with(&format!("stopped after {samples} samples: ")),
        "{rest:?}"
    );
    // Every sample printed is on disk: one point each, all 20.
    let hits = query_json(&store, "cmd:app:t.hits", &[]);
    assert_eq!(values_u64(&hits), vec![20; samples]);
}

#[test]
fn a_damaged_chunk_names_its_file_and_spares_other_series() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    // The open chunks' files are damaged by hand: no compression.
    record_five_samples_with(&files, &store, "cmd", &["--no-compress"]);
    // The first chunk's data file keeps only its first row: the first
    // series written (`t.hits`, the first label). The next rows' points
    // are gone, which their presence bits reveal.
    let mut data: Vec<PathBuf> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .collect();
    data.sort();
    let damaged = &data[0];
    std::fs::OpenOptions::new()
        .write(true)
        .open(damaged)
        .unwrap()
        .set_len(2 * 8)
        .unwrap();
    let s = store.to_str().unwrap();

    let hits = query_json(&store, "cmd:app:t.hits", &[]);
    assert_eq!(values_u64(&hits), [20, 25, 30, 35, 40]);

    let (output, stdout, stderr) = run(&["query", "--store", s, "cmd:app:t.queue", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&damaged.display().to_string()), "{stderr}");
    // The other chunks' points are still shown.
    let queue: Json = serde_json::from_str(&stdout).unwrap();
    let shown = set_points(&queue).len();
    assert!((1..5).contains(&shown), "{queue}");

    let (output, stdout, stderr) = run(&["metrics", "--store", s]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains(&damaged.display().to_string()), "{stderr}");
    assert!(stdout.contains("cmd:app:t.queue"), "{stdout}");
}

#[test]
fn a_damaged_metric_list_or_a_flipped_bit_is_named_and_the_rest_still_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    // The open chunks' files are damaged by hand: no compression.
    record_five_samples_with(&files, &store, "cmd", &["--no-compress"]);
    let s = store.to_str().unwrap();
    // One byte of the first record of the metric list.
    let list = store.join("metrics.list");
    let mut bytes = std::fs::read(&list).unwrap();
    bytes[12] ^= 0x5a;
    std::fs::write(&list, bytes).unwrap();
    let (output, stdout, stderr) = run(&["metrics", "--store", s]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&list.display().to_string()), "{stderr}");
    assert!(stdout.contains("cmd:app:t.hits"), "{stdout}");
    assert!(stdout.contains("cmd:app:t.queue"), "{stdout}");
    let hits = query_json(&store, "cmd:app:t.hits", &[]);
    assert_eq!(values_u64(&hits), [20, 25, 30, 35, 40]);
    // A bit of every stored value of the first chunk: the command fails
    // naming the file, the other chunks' points are still shown, and no
    // wrong value is. (The samples' slots follow the clock, so which of the
    // five points the first chunk holds, and which of its slots are set,
    // depends on the machine's pace: every value of it is damaged, and the
    // points shown are compared with those read before.)
    let before = set_points(&query_json(&store, "cmd:app:t.hits", &[]));
    let dat = store.join(format!("{:020}.dat", 0));
    let mut bytes = std::fs::read(&dat).unwrap();
    for at in (0..bytes.len()).step_by(8) {
        bytes[at] ^= 0x10;
    }
    std::fs::write(&dat, bytes).unwrap();
    let (output, stdout, stderr) = run(&["query", "--store", s, "cmd:app:t.hits", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&dat.display().to_string()), "{stderr}");
    let shown = set_points(&serde_json::from_str(&stdout).unwrap());
    assert!(shown.len() < before.len(), "{shown:?} against {before:?}");
    assert!(!shown.is_empty(), "only the first chunk is damaged");
    // The points left are the last ones, exactly as they were.
    assert_eq!(shown[..], before[before.len() - shown.len()..]);
}

#[test]
fn bad_input_is_reported_and_fails_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    let s = store.to_str().unwrap();
    let fails = |args: &[&str], says: &str| {
        let (output, stdout, stderr) = run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    fails(&["query", "--store", s, "x"], "no such directory");
    // A directory with other files in it does not become a store.
    let (output, _, stderr) = run(&[
        "record",
        "--store",
        files.parent().unwrap().to_str().unwrap(),
        "--duration",
        "1s",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("not a history store, and not empty"),
        "{stderr}"
    );
    assert!(!tmp.path().join("mstore.meta").exists());
    assert!(!tmp.path().join("metrics.list").exists());
    fails(
        &["metrics", "--store", files.to_str().unwrap()],
        "not a history store",
    );

    record_five_samples(&files, &store, "cmd");
    fails(
        &["query", "--store", s, "web.hits"],
        "did you mean cmd:app:t.hits?",
    );
    fails(
        &[
            "query",
            "--store",
            s,
            "cmd:app:t.hits",
            "--from",
            "now",
            "--to",
            "-1h",
        ],
        "is before --from",
    );
    fails(
        &[
            "query",
            "--store",
            s,
            "cmd:app:t.hits",
            "--from",
            "yesterday",
        ],
        "is not a time",
    );
    fails(
        &[
            "record",
            "--store",
            s,
            "--interval",
            "1s",
            "--duration",
            "1s",
        ],
        "takes a point every 100ms, not every 1s",
    );
    // The store is untouched by all this.
    assert_eq!(
        values_u64(&query_json(&store, "cmd:app:t.hits", &[])),
        [20, 25, 30, 35, 40]
    );
}

#[test]
fn a_point_of_another_type_is_reported_and_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    let mut w = writer(&files);
    let mut record = mmstats();
    record.args([
        "record",
        "--on-input",
        "--interval",
        "100ms",
        "--store",
        store.to_str().unwrap(),
        files.to_str().unwrap(),
    ]);
    let mut r = Driven::spawn(record);
    r.next_line();
    r.send("sample");
    assert!(r.next_line().contains(" 2 files, "));
    // A second process of the same command publishes `t.hits` as a float:
    // the sum is a float now, and the series holds u64.
    let _float = writer_with(&format!("float:{}", files.display()));
    incr(&mut w, 5);
    for _ in 0..2 {
        r.send("sample");
        assert!(r.next_line().contains(" 3 files, "));
    }
    let (output, rest) = r.finish();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{rest:?} {stderr}");
    assert_eq!(
        stderr.matches("cmd:app:t.hits").count(),
        1,
        "said once: {stderr}"
    );
    assert!(stderr.contains("holds u64 values, not f64"), "{stderr}");
    assert!(rest
        .last()
        .unwrap()
        .starts_with("stopped after 3 samples: "));
    // The series keeps its first point; the others go on.
    assert_eq!(values_u64(&query_json(&store, "cmd:app:t.hits", &[])), [20]);
    assert_eq!(
        values_u64(&query_json(&store, "cmd:app:t.up", &[])),
        [1, 1, 1]
    );
}

/// A model whose only field is a clock: the writer's wall-clock time in
/// milliseconds, kept up to date by a thread.
#[derive(MmStats)]
#[mmstats(defaults = false)]
struct Clock {
    now_ms: Gauge<u64>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn every_point_is_taken_at_the_start_of_its_slot() {
    // Each point is stamped with its slot's start time, so it must be read
    // then: a first sample read in the middle of its slot but stamped with
    // its start gives the first rate a wrong time span.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let stats_dir = dir.path().join("stats");
    std::fs::create_dir(&stats_dir).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clock = {
        let (stop, stats_dir) = (stop.clone(), stats_dir.clone());
        std::thread::spawn(move || {
            let clock = Clock::builder()
                .dir(&stats_dir)
                .cmd("clock")
                .file("{CMD}-{PID}-{TID}.mmstats")
                .create()
                .unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                clock.now_ms.set(now_ms());
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    // Start in the middle of a 500 ms slot (slots start at multiples of
    // the interval since the epoch).
    while now_ms() % 500 != 250 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let (output, _, stderr) = run(&[
        "record",
        "--store",
        store.to_str().unwrap(),
        "--interval",
        "500ms",
        "--duration",
        "2s",
        "--quiet",
        stats_dir.to_str().unwrap(),
    ]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    clock.join().unwrap();
    assert!(output.status.success(), "{stderr}");
    let answer = query_json(&store, "cmd:clock:now_ms", &[]);
    let points = set_points(&answer);
    assert!(points.len() >= 3, "{answer}");
    for (slot_ms, value) in &points {
        let read_at = value.as_u64().unwrap();
        // Read after its slot began, and well before the slot's middle.
        assert!(
            read_at + 5 >= *slot_ms && read_at < slot_ms + 200,
            "the point of the slot at {slot_ms} was read at {read_at}: {answer}"
        );
    }
}

/// `--max-bytes` and `--retain` delete the oldest whole chunks after a
/// sample, log each deletion, and keep the newest; what is kept reads back.
#[test]
fn retention_deletes_old_chunks_and_says_so() {
    for limit in [["--max-bytes", "1"], ["--retain", "200ms"]] {
        let tmp = tempfile::tempdir().unwrap();
        let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
        std::fs::create_dir(&files).unwrap();
        let mut w = writer(&files);
        let mut record = mmstats();
        record.args([
            "record",
            "--on-input",
            "--interval",
            "100ms",
            "--chunk-size",
            "2",
            "--store",
            store.to_str().unwrap(),
            files.to_str().unwrap(),
        ]);
        record.args(limit);
        let mut r = Driven::spawn(record);
        assert!(r.next_line().starts_with("recording into "));
        for _ in 0..8 {
            r.send("sample");
            let line = r.next_line();
            assert!(line.contains(" points written"), "{line}");
            incr(&mut w, 1);
            // Slots are the clock's: let one pass between samples.
            std::thread::sleep(std::time::Duration::from_millis(110));
        }
        let (output, _) = r.finish();
        assert!(output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(
            stderr.contains("retention: deleted the chunk of "),
            "{limit:?}: {stderr}"
        );
        let chunks = chunk_files(&store).len();
        assert!(chunks <= 2, "{limit:?}: {chunks} chunk files left");
        // The newest points are still there, exactly.
        let hits = query_json(&store, "cmd:app:t.hits", &[]);
        let v = values_u64(&hits);
        assert!(
            !v.is_empty() && v.windows(2).all(|p| p[0] < p[1]),
            "{limit:?}: {v:?}"
        );
    }
}

/// `query --step` sums up windows: counts add up to the points, min, max
/// and last are the points', and the rate is the counter's (5 hits every
/// 100 ms: 50 a second).
#[test]
fn query_at_a_step_sums_up_windows() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    record_five_samples(&files, &store, "cmd");
    let windows = |agg: &str| -> Vec<(u64, Option<f64>)> {
        let answer = query_json(&store, "cmd:app:t.hits", &["--step", "200ms", "--agg", agg]);
        assert_eq!(answer["step_ms"], 200, "{answer}");
        answer["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["count"].as_u64().unwrap(), p["value"].as_f64()))
            .collect()
    };
    let max = windows("max");
    assert_eq!(max.iter().map(|w| w.0).sum::<u64>(), 5, "{max:?}");
    let top = max.iter().filter_map(|w| w.1).fold(f64::MIN, f64::max);
    assert_eq!(top, 40.0);
    let low = windows("min")
        .iter()
        .filter_map(|w| w.1)
        .fold(f64::MAX, f64::min);
    assert_eq!(low, 20.0);
    let last = windows("last");
    assert_eq!(last.iter().filter_map(|w| w.1).next_back(), Some(40.0));
    let rates: Vec<f64> = windows("rate").iter().filter_map(|w| w.1).collect();
    // 50 a second when the samples took consecutive slots; less if a busy
    // machine made one skip a slot.
    assert!(
        !rates.is_empty() && rates.iter().all(|r| *r > 0.0 && *r <= 50.0 + 1e-9),
        "{rates:?}"
    );
    // A bad aggregate, or --agg without --step, is a usage error.
    let s = store.to_str().unwrap();
    let (output, _, _) = run(&[
        "query",
        "--store",
        s,
        "cmd:app:t.hits",
        "--step",
        "1s",
        "--agg",
        "median",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let (output, _, _) = run(&["query", "--store", s, "cmd:app:t.hits", "--agg", "max"]);
    assert_eq!(output.status.code(), Some(2));
}

/// `record | head`: when its output closes, `record` stops as at the end
/// of a run, so its chunks are sealed, not left in the open layout.
/// The names of a store's chunk files (20 digits, a dot, an extension).
fn chunk_files(store: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.split('.')
                .next()
                .is_some_and(|s| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    names.sort();
    names
}

#[test]
fn a_new_store_takes_its_first_sample_in_slot_0() {
    // Slot 0 of a new store begins at the next multiple of the interval:
    // the first sample is slot 0's, and a recording of one chunk's worth of
    // slots fills one chunk, not two.
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    let _w = writer(&files);
    let record = |extra: &[&str]| {
        let mut args = vec![
            "record",
            "--interval",
            "333ms",
            "--chunk-size",
            "4",
            "--quiet",
            "--store",
            store.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(files.to_str().unwrap());
        let (output, _, stderr) = run(&args);
        assert!(output.status.success(), "{stderr}");
    };
    record(&["--duration", "1332ms"]);
    let answer = query_json(&store, "cmd:app:t.hits", &[]);
    let points = answer["points"].as_array().unwrap();
    // The answer runs from slot 0; a busy machine may miss a later sample,
    // never the first.
    assert!(!points[0]["value"].is_null(), "slot 0 is empty: {answer}");
    let start = points[0]["unix_ms"].as_u64().unwrap();
    assert_eq!(start % 333, 0, "{answer}");
    let set = set_points(&answer);
    assert!(
        set.iter().all(|(ms, _)| *ms < start + 4 * 333),
        "a point beyond the first chunk: {answer}"
    );
    assert_eq!(chunk_files(&store), ["00000000000000000000.sea"]);
    // Recording into it again keeps its slot 0.
    record(&["--duration", "333ms"]);
    let again = query_json(&store, "cmd:app:t.hits", &[]);
    assert_eq!(
        again["points"][0]["unix_ms"].as_u64(),
        Some(start),
        "{again}"
    );
    assert!(set_points(&again).len() > set.len(), "{again}");
}

#[test]
fn ctrl_c_ends_record_while_slot_0_is_still_to_come() {
    // An hour's interval: slot 0 of the new store is up to an hour away.
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    let _w = writer(&files);
    let mut record = mmstats();
    record.args([
        "record",
        "--interval",
        "1h",
        "--store",
        store.to_str().unwrap(),
        files.to_str().unwrap(),
    ]);
    let mut r = Driven::spawn(record);
    let first = r.next_line();
    assert!(first.starts_with("recording into "), "{first}");
    let pid = libc::pid_t::try_from(r.child.id()).unwrap();
    // SAFETY: kill(2) on a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (output, rest) = r.finish();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].starts_with("stopped after 0 samples: "), "{rest:?}");
    // The store exists, with nothing in it yet.
    assert!(store.join("mstore.meta").is_file());
}

#[test]
fn record_whose_output_closes_seals_its_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, store) = (tmp.path().join("files"), tmp.path().join("store"));
    std::fs::create_dir(&files).unwrap();
    let _w = writer(&files);
    let mut record = mmstats()
        .args(["record", "--interval", "10ms", "--store"])
        .arg(&store)
        .arg(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(record.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        lines.next().unwrap().unwrap();
    }
    // As `head -3` does.
    drop(lines);
    let status = record.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let names = chunk_files(&store);
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.ends_with(".sea")),
        "not sealed: {names:?}"
    );
}
