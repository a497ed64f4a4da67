//! The reading tools (`slurp`, `poll`, `record`, `serve`) against files that
//! other users plant in the stats directory: files that shrink while they
//! are read, files made to exhaust a reader, and files that forge totals.
//! Every tool is the real binary in a real process; every planted file is
//! made byte by byte here, so every value asserted is known.
//!
//! The tests that need a second user (`nobody`) are ignored ("needs root");
//! the attacker is this test binary started again as `nobody` with
//! [`ATTACKER_ENV`] set (see [`attacker_process`]).

mod common;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mmstats::format::{META_MAGIC, META_VERSION};
use mmstats::{Gauge, Kind, MmStats, Summary};

/// The user the attacker runs as, and owns its files as.
const NOBODY: u32 = 65534;

/// The `mmstats` command, with no mmstats settings from the environment
/// and a fixed terminal width, so that output is the same on every machine.
fn mmstats() -> Command {
    let mut command = support::mmstats();
    command.env("COLUMNS", "200");
    command
}

/// Says `line` on standard error past the harness's capture, so that the
/// figures a test measured show in the CI log also when it passes.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "readers_hostile: {line}");
}

// ---------------------------------------------------------------------------
// Files made byte by byte.

/// A stats file as the format lays it out: the version byte, then fields.
struct Raw {
    bytes: Vec<u8>,
    kinds: Vec<Kind>,
}

impl Raw {
    fn new() -> Raw {
        Raw {
            bytes: vec![1],
            kinds: Vec::new(),
        }
    }

    /// Appends an unbuffered field; a number's value is aligned for its
    /// size by spaces before the signature, as writers do.
    fn field(&mut self, label: &str, signature: &str, value: &[u8], kind: Kind) -> &mut Raw {
        let align = match value.len() {
            2 | 4 | 8 if signature.len() == 1 => value.len(),
            _ => 1,
        };
        let unpadded = self.bytes.len() + 2 + label.len() + 2 + signature.len() + 1;
        let padding = (align - unpadded % align) % align;
        let signature = format!("{}{signature}", " ".repeat(padding));
        let b = &mut self.bytes;
        b.extend((label.len() as u16).to_ne_bytes());
        b.extend(label.as_bytes());
        b.extend((signature.len() as u16).to_ne_bytes());
        b.extend(signature.as_bytes());
        b.push(0xff);
        b.extend(value);
        self.kinds.push(kind);
        self
    }

    /// The file: the fields, the terminator, a metadata block with the
    /// fields' kinds when `meta`, and zeros up to `size` bytes.
    fn finish(&self, meta: bool, size: usize) -> Vec<u8> {
        let mut b = self.bytes.clone();
        b.extend([0, 0]);
        if meta {
            b.extend(META_MAGIC);
            b.push(META_VERSION);
            b.extend((self.kinds.len() as u16).to_ne_bytes());
            for kind in &self.kinds {
                b.push(kind.code());
                b.extend([0, 0, 0, 0]);
            }
        }
        if b.len() < size {
            b.resize(size, 0);
        }
        b
    }
}

// ---------------------------------------------------------------------------
// Running a tool with a safety net, and measuring its memory.

/// What one run of a tool came to.
#[derive(Debug)]
struct Run {
    /// The exit code, if it exited.
    code: Option<i32>,
    /// The signal that ended it, if one did (a run that is not killed by
    /// the safety net must not end by one).
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    /// The most memory it ever had resident, in KiB (`ru_maxrss`).
    max_rss_kib: i64,
    took: Duration,
}

/// Runs `command` to its end and measures its peak memory; kills it (and
/// fails the test) if it is not done within `limit`, which is only a safety
/// net: the tests assert on what the tool says, never on its speed.
#[allow(clippy::zombie_processes)] // reaped by wait4, which std cannot do
fn run_measured(command: &mut Command, limit: Duration) -> Run {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = from.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain integers and timevals, for which all zero
    // bytes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut killed = false;
    loop {
        // SAFETY: `pid` is our own child, not yet waited for (nothing
        // else waits for it: the `Child` is never waited on); `status` and
        // `usage` are valid for writes.
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(done >= 0, "wait4: {}", std::io::Error::last_os_error());
        if done == pid {
            break;
        }
        if !killed && started.elapsed() > limit {
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = started.elapsed();
    let run = Run {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        max_rss_kib: usage.ru_maxrss,
        took,
    };
    assert!(
        !killed,
        "not done after {limit:?} (killed): {:?}",
        run.stderr
    );
    assert_eq!(run.signal, None, "{run:?}");
    run
}

/// Most memory a tool may take for one planted file: a few times what the
/// command needs with no file at all, far below what an unbounded reader
/// takes for these files (gigabytes).
const MAX_RSS_KIB: i64 = 192 * 1024;

/// The safety net for a run that takes milliseconds.
const SAFETY_NET: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Bounded cost per file.

#[test]
fn a_file_of_two_million_tiny_fields_is_refused_past_the_field_limit() {
    let dir = tempfile::tempdir().unwrap();
    // 16 MiB: two million fields of eight bytes, each a one-byte number.
    let mut raw = Raw::new();
    raw.bytes.reserve(16 << 20);
    for _ in 0..2_000_000 {
        raw.field("a", "B", &[1], Kind::Gauge);
    }
    let path = dir.path().join("many-1-1.mmstats");
    std::fs::write(&path, raw.finish(false, 16 << 20)).unwrap();

    let run = run_measured(mmstats().args(["slurp", "--json"]).arg(&path), SAFETY_NET);
    report(&format!(
        "slurp --json of 2M fields: exit {:?}, {} KiB peak, {:?}",
        run.code, run.max_rss_kib, run.took
    ));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("has more than 65536 fields, the most a reader takes"),
        "{}",
        run.stderr
    );
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["files"], serde_json::json!([]));
    assert_eq!(document["errors"].as_array().unwrap().len(), 1);
    assert!(
        run.max_rss_kib < MAX_RSS_KIB,
        "{} KiB for one file",
        run.max_rss_kib
    );

    // The limit is the user's to change: a small one refuses a small file.
    let small = dir.path().join("small-1-1.mmstats");
    let mut raw = Raw::new();
    for label in ["a", "b", "c"] {
        raw.field(label, "Q", &7u64.to_ne_bytes(), Kind::Gauge);
    }
    std::fs::write(&small, raw.finish(true, 4096)).unwrap();
    let run = run_measured(mmstats().arg("slurp").arg(&small), SAFETY_NET);
    assert_eq!(run.code, Some(0), "{run:?}");
    let run = run_measured(
        mmstats().args(["slurp", "--max-fields", "2"]).arg(&small),
        SAFETY_NET,
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("more than 2 fields"), "{}", run.stderr);
}

#[test]
fn a_sparse_file_is_refused_past_the_byte_limit_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    // 1 GiB that takes a few pages of disk: a number, then texts of 10 MB
    // each, whose values are holes, up to the end of the file.
    let mut raw = Raw::new();
    raw.field("a", "Q", &7u64.to_ne_bytes(), Kind::Gauge);
    let size: u64 = 1 << 30;
    let path = dir.path().join("sparse-1-1.mmstats");
    let file = std::fs::File::create(&path).unwrap();
    file.write_all_at(&raw.bytes, 0).unwrap();
    let mut at = raw.bytes.len() as u64;
    let mut texts = 0;
    while at + 20 + 10_000_000 + 2 <= size {
        let mut header = Vec::new();
        header.extend(1u16.to_ne_bytes());
        header.push(b't');
        header.extend(9u16.to_ne_bytes());
        header.extend(b"10000000s");
        header.push(0xff);
        file.write_all_at(&header, at).unwrap();
        at += header.len() as u64 + 10_000_000;
        texts += 1;
    }
    assert!(texts > 100, "{texts}");
    file.set_len(size).unwrap();
    drop(file);
    let on_disk = std::fs::metadata(&path).unwrap().blocks() * 512;
    report(&format!("a sparse file of 1 GiB: {on_disk} bytes on disk"));
    assert!(on_disk <= 1 << 20, "{on_disk} bytes on disk");

    for json in [false, true] {
        let mut command = mmstats();
        command.arg("slurp");
        if json {
            command.arg("--json");
        }
        let run = run_measured(command.arg(&path), SAFETY_NET);
        report(&format!(
            "slurp (json {json}) of a sparse 1 GiB file: exit {:?}, {} KiB peak, {} bytes out, {:?}",
            run.code,
            run.max_rss_kib,
            run.stdout.len(),
            run.took
        ));
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(
            run.stderr
                .contains("more than 67108864 bytes, the most a reader takes"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.len() < 4096, "{} bytes out", run.stdout.len());
        assert!(
            run.max_rss_kib < MAX_RSS_KIB,
            "{} KiB for one file",
            run.max_rss_kib
        );
    }

    // A larger limit reads it (the text is empty: its bytes are zeros).
    let run = run_measured(
        mmstats()
            .args(["slurp", "--max-file-bytes", "2G"])
            .arg(&path),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("  a  7\n"), "{}", run.stdout);
    assert_eq!(run.stdout.matches("  t  \n").count(), texts);
}

/// Twenty summaries: twenty groups guarded by a sequence field.
#[derive(MmStats)]
#[mmstats(defaults = false)]
struct Summaries {
    s00: Summary,
    s01: Summary,
    s02: Summary,
    s03: Summary,
    s04: Summary,
    s05: Summary,
    s06: Summary,
    s07: Summary,
    s08: Summary,
    s09: Summary,
    s10: Summary,
    s11: Summary,
    s12: Summary,
    s13: Summary,
    s14: Summary,
    s15: Summary,
    s16: Summary,
    s17: Summary,
    s18: Summary,
    s19: Summary,
}

#[test]
fn twenty_groups_left_unsettled_are_reported_without_waiting_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Summaries::builder()
        .dir(dir.path())
        .file("groups-1-1.mmstats")
        .create()
        .unwrap();
    stats.s07.add(4.0);
    let path = stats.path().unwrap().to_path_buf();
    // What a writer killed inside `Summary::add` leaves: every sequence
    // number odd.
    let bytes = std::fs::read(&path).unwrap();
    let (fields, _) = common::walk(&bytes);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let mut odd = 0;
    for field in &fields {
        if field.label.ends_with(b".seq") {
            file.write_all_at(&3u64.to_ne_bytes(), field.value_offset as u64)
                .unwrap();
            odd += 1;
        }
    }
    assert_eq!(odd, 20);
    assert!(bytes.len() <= 4096 * 2, "{} bytes", bytes.len());

    let run = run_measured(mmstats().arg("slurp").arg(&path), SAFETY_NET);
    report(&format!(
        "slurp of 20 unsettled groups: exit {:?}, {:?}",
        run.code, run.took
    ));
    assert_eq!(run.code, Some(0), "{run:?}");
    // The values are shown, and each unsettled group is named.
    assert!(run.stdout.contains("  s07.count  1\n"), "{}", run.stdout);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("did not settle"))
        .collect();
    assert_eq!(warnings.len(), 20, "{}", run.stderr);
    assert!(
        warnings.iter().any(|w| w.contains("s07.seq")),
        "{}",
        run.stderr
    );
    let run = run_measured(mmstats().args(["slurp", "--json"]).arg(&path), SAFETY_NET);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        document["files"][0]["unsettled"].as_array().map(Vec::len),
        Some(20),
        "{}",
        run.stdout
    );
    drop(stats);
}

#[test]
fn record_bounds_the_series_of_a_file_of_twenty_thousand_labels() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let mut raw = Raw::new();
    for i in 0..20_000u64 {
        raw.field(&format!("g{i:05}"), "Q", &i.to_ne_bytes(), Kind::Gauge);
    }
    let bytes = raw.finish(true, 0);
    report(&format!("a file of 20,000 labels: {} bytes", bytes.len()));
    std::fs::write(files.join("labels-1-1.mmstats"), bytes).unwrap();

    for (flag, expected) in [(None, 10_000usize), (Some("100"), 100)] {
        let store = dir.path().join(format!("store-{expected}"));
        let mut command = mmstats();
        command
            .args([
                "record",
                "--quiet",
                "--duration",
                "1s",
                "--chunk-size",
                "10",
            ])
            .arg("--store")
            .arg(&store);
        if let Some(n) = flag {
            command.args(["--max-series", n]);
        }
        let run = run_measured(command.arg(&files), Duration::from_secs(60));
        report(&format!(
            "record of 20,000 labels, limit {expected}: exit {:?}, {} KiB peak, {:?}",
            run.code, run.max_rss_kib, run.took
        ));
        assert_eq!(run.code, Some(1), "{run:?}");
        let left_out = 20_000 - expected;
        assert!(
            run.stderr.contains(&format!(
                "{left_out} series left out: a chunk of the store takes at most {expected} series"
            )),
            "{}",
            run.stderr
        );
        let mut reader = mmstats::mstore::Reader::open(&store).unwrap();
        let metrics = reader.metrics().unwrap();
        assert_eq!(metrics.len(), expected);
        // The series recorded hold their values.
        assert!(metrics.iter().any(|m| m.name == "cmd:labels:g00001"));
        // In the first slot that began after record started: 0 or 1.
        let points = reader.get::<i64>("cmd:labels:g00001", 0, 3).unwrap();
        let found = points.iter().find_map(|(_, v)| v);
        assert_eq!(found, Some(1));
    }
}

// ---------------------------------------------------------------------------
// Another user's files.

/// Set in the attacker process: the directory, how many truncations to
/// make of each file, and the files to truncate.
const ATTACKER_ENV: &str = "MMSTATS_TEST_ATTACKER";

/// The attacker: runs only as a process started by [`Attacker::start`], as
/// `nobody`. It copies each template into a file of its own (owned by
/// `nobody`), opens the other files it may write (another user's, left
/// writable by all), says `ready`, and then truncates every file to its
/// first page and grows it back, again and again, rewriting its content
/// now and then; at the end it says how many truncations it made.
#[test]
#[ignore = "not a test on its own: the truncation test starts it as another user"]
fn attacker_process() {
    let Ok(spec) = std::env::var(ATTACKER_ENV) else {
        return;
    };
    let mut parts = spec.split('\u{1f}');
    let rounds: u64 = parts.next().unwrap().parse().unwrap();
    let mut files: Vec<(std::fs::File, Vec<u8>)> = Vec::new();
    for part in parts {
        let (target, template) = part.split_once('=').unwrap();
        let content = std::fs::read(template).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(!Path::new(target).exists())
            .open(target)
            .unwrap();
        file.write_all_at(&content, 0).unwrap();
        files.push((file, content));
    }
    println!("ready");
    let mut truncations: u64 = 0;
    for round in 0..rounds {
        for (file, content) in &files {
            file.set_len(4096).unwrap();
            truncations += 1;
            std::thread::sleep(Duration::from_micros(150));
            if round % 8 == 0 {
                file.write_all_at(content, 0).unwrap();
            } else {
                file.set_len(content.len() as u64).unwrap();
            }
        }
        std::thread::sleep(Duration::from_micros(150));
    }
    println!("truncations {truncations}");
}

/// The attacker process (see [`attacker_process`]), run as `nobody`.
struct Attacker {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Attacker {
    /// Starts it on `files` (target, template) and waits until it is
    /// ready.
    fn start(rounds: u64, files: &[(PathBuf, PathBuf)]) -> Attacker {
        let mut spec = rounds.to_string();
        for (target, template) in files {
            spec.push('\u{1f}');
            spec.push_str(&format!("{}={}", target.display(), template.display()));
        }
        let mut child = Command::new("setpriv")
            .args([
                "--reuid",
                &NOBODY.to_string(),
                "--regid",
                &NOBODY.to_string(),
                "--clear-groups",
                "--",
            ])
            .arg(std::env::current_exe().unwrap())
            .args([
                "attacker_process",
                "--exact",
                "--include-ignored",
                "--nocapture",
                "--quiet",
            ])
            .env(ATTACKER_ENV, spec)
            .stdout(Stdio::piped())
            .spawn()
            .expect("setpriv, to run the attacker as nobody");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.find(|l| l.as_ref().is_ok_and(|l| l == "ready"));
        assert!(ready.is_some(), "the attacker did not start");
        Attacker { child, lines }
    }

    /// Waits for it to finish; the truncations it made.
    fn finish(mut self) -> u64 {
        let count = self
            .lines
            .find_map(|l| {
                l.ok()?
                    .strip_prefix("truncations ")
                    .map(|n| n.parse().unwrap())
            })
            .expect("the attacker's count");
        assert!(self.child.wait().unwrap().success());
        count
    }
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Guard {
    /// Panics if the process has ended, saying how.
    fn assert_alive(&mut self, what: &str) {
        if let Some(status) = self.0.try_wait().unwrap() {
            panic!("{what} died: {status:?}");
        }
    }
}

/// A stats directory that every user may write, as `/tmp` is: on tmpfs
/// where there is one, so that the attacker's writes cost no disk.
fn shared_dir() -> tempfile::TempDir {
    let base = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm")
    } else {
        Path::new("/tmp")
    };
    let dir = tempfile::tempdir_in(base).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    dir
}

/// What the legitimate writer of the truncation test publishes.
#[derive(MmStats)]
#[mmstats(defaults = false)]
struct Legit {
    g: Gauge<u64>,
}

/// A file whose fields run to its end (1 MiB), so that a reader reads all
/// of it: the gauge `g` = `g`, then a text that takes the rest.
fn long_file(g: u64) -> Vec<u8> {
    let size = 1 << 20;
    let mut raw = Raw::new();
    raw.field("g", "Q", &g.to_ne_bytes(), Kind::Gauge);
    let text = size - raw.bytes.len() - (2 + 1 + 2 + 8 + 1) - 2 - (12 + 1 + 2 + 2 * 5);
    let signature = format!("{text}s");
    assert_eq!(signature.len(), 8);
    let mut value = vec![0; text];
    value[0] = b'x';
    raw.field("t", &signature, &value, Kind::Text);
    let bytes = raw.finish(true, size);
    assert_eq!(bytes.len(), size);
    bytes
}

/// One GET: the status and the body.
fn get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(20))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// The value of the sample `series` (name and labels, as written) in an
/// exposition.
fn sample(exposition: &str, series: &str) -> Option<u64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Whether `v` is a sum of some of `parts` (each used once at most).
fn is_subset_sum(v: u64, parts: &[u64]) -> bool {
    (0u32..1 << parts.len()).any(|mask| {
        parts
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| p)
            .sum::<u64>()
            == v
    })
}

#[test]
#[ignore = "needs root, to run the attacker as another user"]
fn the_tools_survive_files_that_shrink_while_they_read_them() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test must run as root"
    );
    let dir = shared_dir();
    let work = tempfile::tempdir().unwrap();
    // The legitimate writer's file: this process's, mapped by the readers.
    let legit = Legit::builder()
        .dir(dir.path())
        .cmd("legit")
        .file("{CMD}-{PID}-{TID}.mmstats")
        .create()
        .unwrap();
    legit.g.set(1);
    // Templates the attacker may read.
    let templates = tempfile::tempdir_in(dir.path()).unwrap();
    std::fs::set_permissions(templates.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut files = Vec::new();
    for (name, g) in [
        ("evil-1-1", 1000),
        ("evil-1-2", 1000),
        ("shared-1-1", 10),
        ("shared-1-2", 10),
    ] {
        let template = templates.path().join(name);
        std::fs::write(&template, long_file(g)).unwrap();
        std::fs::set_permissions(&template, std::fs::Permissions::from_mode(0o644)).unwrap();
        let target = dir.path().join(format!("{name}.mmstats"));
        if name.starts_with("shared") {
            // This user's own files, left writable by everyone.
            std::fs::write(&target, long_file(g)).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        files.push((target, template));
    }
    let attacker = Attacker::start(1000, &files);
    let started = Instant::now();
    for (target, _) in &files {
        let owner = std::fs::metadata(target).unwrap().uid();
        let expected = if target.to_string_lossy().contains("evil") {
            NOBODY
        } else {
            0
        };
        assert_eq!(owner, expected, "{}", target.display());
    }
    let arg = dir.path().display().to_string();

    // poll and record read every user's files, as asked; serve this
    // user's only.
    let mut poll = mmstats()
        .args([
            "poll",
            "g",
            "--all-users",
            "--delay",
            "0.005",
            "--headers",
            "0",
        ])
        .arg(&arg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let poll_out = BufReader::new(poll.stdout.take().unwrap());
    let poll_err = poll.stderr.take().unwrap();
    let mut poll = Guard(poll);
    let rows = std::thread::spawn(move || {
        poll_out
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .collect::<Vec<u64>>()
    });
    let poll_errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(poll_err).read_to_string(&mut text);
        text
    });
    let store = work.path().join("history");
    let mut record = Guard(
        mmstats()
            .args(["record", "--quiet", "--interval", "5ms", "--all-users"])
            .arg("--store")
            .arg(&store)
            .arg(&arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut serve = mmstats()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg(&arg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut serve = Guard(serve);
    let address: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(Mutex::new((0u64, Vec::<String>::new())));
    let legit_series = format!("mmstats_g{{cmd=\"legit\",pid=\"{}\"}}", std::process::id());
    let scraper = {
        let (stop, scrapes) = (Arc::clone(&stop), Arc::clone(&scrapes));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok((status, body)) = get(address, "/metrics") else {
                    // The server is gone: the test says so below.
                    return;
                };
                let mut s = scrapes.lock().unwrap();
                s.0 += 1;
                let legit = sample(&body, &legit_series);
                // Its two threads' files, one process.
                let shared = sample(&body, "mmstats_g{cmd=\"shared\",pid=\"1\"}");
                if status != 200 || legit != Some(1) || shared.is_some_and(|v| v != 10 && v != 20) {
                    s.1.push(format!("{status}: {legit:?} {shared:?}"));
                }
            }
        })
    };

    let truncations = attacker.finish();
    report(&format!(
        "the attacker made {truncations} truncations in {:?}",
        started.elapsed()
    ));
    assert!(truncations >= 1000, "{truncations} truncations");
    poll.assert_alive("poll");
    record.assert_alive("record");
    serve.assert_alive("serve");
    stop.store(true, Ordering::Relaxed);
    scraper.join().unwrap();

    // Every line of poll is a sum of the files read whole.
    let _ = poll.0.kill();
    let _ = poll.0.wait();
    let rows = rows.join().unwrap();
    let errors = poll_errors.join().unwrap();
    assert!(rows.len() > 20, "{} lines: {errors}", rows.len());
    for v in &rows {
        assert!(
            v.checked_sub(1)
                .is_some_and(|rest| is_subset_sum(rest, &[1000, 1000, 10, 10])),
            "poll showed {v}"
        );
    }
    for line in errors.lines() {
        assert!(line.starts_with("mmstats: "), "{line}");
        assert!(!line.contains("panicked"), "{line}");
    }
    // Every scrape answered, with the values of the files read whole.
    let (count, bad) = std::mem::take(&mut *scrapes.lock().unwrap());
    assert!(count > 20, "{count} scrapes");
    assert!(bad.is_empty(), "{bad:?}");
    // Every point recorded is a sum of files read whole.
    Command::new("kill")
        .args(["-TERM", &record.0.id().to_string()])
        .status()
        .unwrap();
    let status = record.0.wait().unwrap();
    assert!(status.code().is_some(), "record ended by {status:?}");
    let mut reader = mmstats::mstore::Reader::open(&store).unwrap();
    let last = reader.slot_at(mmstats::time::now_ms()).unwrap() + 1;
    let mut points = 0;
    for (series, parts) in [
        ("cmd:legit:g", &[1][..]),
        ("cmd:shared:g", &[10, 10][..]),
        ("cmd:evil@65534:g", &[1000, 1000][..]),
    ] {
        let got = reader.get::<i64>(series, 0, last).unwrap();
        for slot in 0..last as usize {
            if let Some(v) = got.get(slot) {
                points += 1;
                assert!(
                    v > 0 && is_subset_sum(v as u64, parts),
                    "{series}: {v} at slot {slot}"
                );
            }
        }
    }
    report(&format!(
        "{} poll lines, {count} scrapes, {points} points recorded",
        rows.len()
    ));
    assert!(points > 20, "{points} points");
    drop(legit);
}

#[test]
#[ignore = "needs root, to give a file to another user"]
fn another_users_file_never_enters_this_users_totals() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test must run as root"
    );
    let dir = shared_dir();
    let work = tempfile::tempdir().unwrap();
    let arg = dir.path().display().to_string();
    #[derive(MmStats)]
    #[mmstats(defaults = false)]
    struct Web {
        hits: mmstats::Counter,
    }
    let mine = Web::builder()
        .dir(dir.path())
        .cmd("webserver")
        .file("{CMD}-{PID}-{TID}.mmstats")
        .create()
        .unwrap();
    mine.hits.incr_by(5);
    // Another user's file, named as one of root's webserver's threads
    // might be, holding a counter of 10^15.
    let forged = dir.path().join("webserver-4000000-4000000.mmstats");
    let mut raw = Raw::new();
    raw.field(
        "hits",
        "Q",
        &1_000_000_000_000_000u64.to_ne_bytes(),
        Kind::Counter,
    );
    std::fs::write(&forged, raw.finish(true, 4096)).unwrap();
    std::os::unix::fs::chown(&forged, Some(NOBODY), Some(NOBODY)).unwrap();
    // Read, when read at all, through copies: its owner could shrink it.
    let opened = mmstats::reader::MappedFile::open(&forged).unwrap();
    assert!(!opened.is_mapped());
    assert_eq!(opened.owner(), NOBODY);
    assert_eq!(opened.read().unwrap().owner, Some(NOBODY));

    // poll: this user's files only, unless asked.
    let run = run_measured(
        mmstats().args(["poll", "hits", "--count", "1"]).arg(&arg),
        SAFETY_NET,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout.lines().nth(1).map(str::trim),
        Some("5"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("1 file of another user left out"),
        "{}",
        run.stderr
    );
    let run = run_measured(
        mmstats()
            .args(["poll", "hits", "--count", "1", "--all-users"])
            .arg(&arg),
        SAFETY_NET,
    );
    assert_eq!(
        run.stdout.lines().nth(1).map(str::trim),
        Some("1000000000000005"),
        "{run:?}"
    );

    // record: no forged point in root's series; with --all-users, the
    // other user's files have series of their own.
    for all in [false, true] {
        let store = work.path().join(format!("store-{all}"));
        let mut command = mmstats();
        command
            .args(["record", "--quiet", "--duration", "1s"])
            .arg("--store")
            .arg(&store);
        if all {
            command.arg("--all-users");
        }
        let run = run_measured(command.arg(&arg), SAFETY_NET);
        assert_eq!(run.code, Some(0), "{run:?}");
        let mut reader = mmstats::mstore::Reader::open(&store).unwrap();
        let names: Vec<String> = reader
            .metrics()
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        let expected: &[&str] = if all {
            &["cmd:webserver:hits", "cmd:webserver@65534:hits"]
        } else {
            &["cmd:webserver:hits"]
        };
        assert_eq!(names, expected);
        // The first point is in the first slot that began after record
        // started: slot 0 or 1.
        let mut first = |name: &str| {
            let points = reader.get::<u64>(name, 0, 3).unwrap();
            let found = points.iter().find_map(|(_, v)| v);
            found
        };
        assert_eq!(first("cmd:webserver:hits"), Some(5));
        if all {
            assert_eq!(
                first("cmd:webserver@65534:hits"),
                Some(1_000_000_000_000_000)
            );
        }
    }

    // /metrics: root's totals are root's.
    let mut serve = mmstats()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg(&arg)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _serve = Guard(serve);
    let address: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap()
        .parse()
        .unwrap();
    let (status, body) = get(address, "/metrics").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(
            &body,
            &format!(
                "mmstats_hits_total{{cmd=\"webserver\",pid=\"{}\"}}",
                std::process::id()
            )
        ),
        Some(5),
        "{body}"
    );
    assert!(!body.contains("4000000"), "{body}");

    // slurp shows every file, the other user's with its owner.
    let run = run_measured(mmstats().arg("slurp").arg(&arg), SAFETY_NET);
    assert!(
        run.stdout
            .contains("webserver-4000000-4000000.mmstats (owned by user 65534)"),
        "{}",
        run.stdout
    );
    let run = run_measured(mmstats().args(["slurp", "--json"]).arg(&arg), SAFETY_NET);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mut owners: Vec<u64> = document["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["owner"].as_u64().unwrap())
        .collect();
    owners.sort();
    assert_eq!(owners, [0, u64::from(NOBODY)]);
    drop(mine);
}

#[test]
fn slurp_json_is_written_file_by_file() {
    // Half a million fields in 50 files: each file within the limits, the
    // document tens of megabytes.
    let dir = tempfile::tempdir().unwrap();
    for f in 0..50 {
        let mut raw = Raw::new();
        for i in 0..10_000u64 {
            raw.field(&format!("f{i}"), "Q", &i.to_ne_bytes(), Kind::Gauge);
        }
        let path = dir.path().join(format!("big-{f}-1.mmstats"));
        std::fs::write(path, raw.finish(true, 0)).unwrap();
    }
    let run = run_measured(
        mmstats().args(["slurp", "--json"]).arg(dir.path()),
        Duration::from_secs(120),
    );
    report(&format!(
        "slurp --json of 500,000 fields in 50 files: {} bytes out, {} KiB peak, {:?}",
        run.stdout.len(),
        run.max_rss_kib,
        run.took
    ));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let files = document["files"].as_array().unwrap();
    assert_eq!(files.len(), 50);
    assert!(files
        .iter()
        .all(|f| f["stats"].as_array().unwrap().len() == 10_000));
    assert_eq!(files[7]["stats"][9_999]["value"], 9_999);
    // The snapshots are held, the document is not: a whole document of
    // JSON values takes about eight times this.
    assert!(
        run.max_rss_kib < 400 * 1024,
        "{} KiB for {} bytes of JSON",
        run.max_rss_kib,
        run.stdout.len()
    );
}
