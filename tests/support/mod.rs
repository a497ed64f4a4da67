//! What the tools' tests share: the child-process [`Guard`] and
//! [`free_port`] ([`process`]), HTTP GETs ([`http`]), a real Prometheus
//! ([`prometheus`]), a real headless Chromium ([`chromium`]), and a writer
//! process.
//!
//! The writer process that the tools' tests read: this test binary started
//! again with [`WRITER_ENV`] set, running [`writer_role`] only. It creates its
//! files, prints `ready`, and obeys one command per line on its standard
//! input (`incr N`, `queue N`), answering `ok`, until its input ends. The
//! tests decide every value, so every number they assert is known.
#![allow(dead_code)]

pub mod chromium;
pub mod http;
pub mod process;
pub mod prometheus;

#[allow(unused_imports)]
pub use process::{free_port, mmstats, run, Guard};

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use mmstats::{Counter, Flag, Gauge, MmStats, Text, Timer};

/// Set in the writer process: what it publishes.
pub const WRITER_ENV: &str = "MMSTATS_TEST_WRITER";

/// Separates the parts of [`WRITER_ENV`]: the state text may hold commas.
const SEP: char = '\u{1f}';

/// What each test writer publishes, per thread.
#[derive(MmStats)]
#[mmstats(prefix = "t.")]
pub struct TestStats {
    /// Requests handled.
    pub hits: Counter,
    /// Jobs waiting.
    pub queue: Gauge<u32>,
    /// Time to handle a request.
    pub latency: Timer<10>,
    /// Whether the worker takes requests.
    pub up: Flag,
    /// What the worker does.
    pub state: Text<16>,
}

/// Creates one writer's file `dir/name-<pid>-<tid>.mmstats`.
pub fn create(dir: &Path, name: &str, hits: u64, state: &str) -> mmstats::Stats<TestStats> {
    let stats = TestStats::builder()
        .dir(dir)
        .cmd(name)
        .file("{CMD}-{PID}-{TID}.mmstats")
        .create()
        .unwrap();
    stats.hits.incr_by(hits);
    stats.queue.set(3);
    stats.latency.record_seconds(0.25);
    stats.up.set(true);
    stats.state.set(state);
    stats
}

/// The writer role: call it from a `#[test] #[ignore] fn writer_process()`
/// of the test file; it does nothing unless [`WRITER_ENV`] is set.
pub fn writer_role() {
    let Ok(spec) = std::env::var(WRITER_ENV) else {
        return;
    };
    let mut parts = spec.split(SEP);
    let mut next = || parts.next().unwrap().to_string();
    let (dir, name, threads, hits, state) = (next(), next(), next(), next(), next());
    let dir = PathBuf::from(dir);
    let threads: u32 = threads.parse().unwrap();
    let hits: u64 = hits.parse().unwrap();
    let main = create(&dir, &name, hits, &state);
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 1..threads {
        let (tx, dir, name, state) = (tx.clone(), dir.clone(), name.clone(), state.clone());
        std::thread::spawn(move || {
            let _stats = create(&dir, &name, hits, &state);
            tx.send(()).unwrap();
            loop {
                std::thread::park();
            }
        });
    }
    for _ in 1..threads {
        rx.recv().unwrap();
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready").unwrap();
    stdout.flush().unwrap();
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        match line.split_once(' ') {
            Some(("incr", n)) => main.hits.incr_by(n.parse().unwrap()),
            Some(("queue", n)) => main.queue.set(n.parse().unwrap()),
            _ => panic!("unknown command {line:?}"),
        }
        writeln!(stdout, "ok").unwrap();
        stdout.flush().unwrap();
    }
    std::process::exit(0);
}

/// A writer process, killed when dropped.
pub struct Writer {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Writer {
    /// Starts a writer with `threads` threads, each publishing its own file
    /// `dir/name-<pid>-<tid>.mmstats` with `t.hits` = `hits`, `t.queue` = 3,
    /// `t.state` = "serving", and waits until every file is there.
    pub fn start(dir: &Path, name: &str, threads: u32, hits: u64) -> Writer {
        Writer::with_state(dir, name, threads, hits, "serving")
    }

    /// Like [`Writer::start`], with another `t.state`.
    pub fn with_state(dir: &Path, name: &str, threads: u32, hits: u64, state: &str) -> Writer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "writer_process",
                "--exact",
                "--include-ignored",
                "--nocapture",
                "--quiet",
            ])
            .env(
                WRITER_ENV,
                format!(
                    "{}{SEP}{name}{SEP}{threads}{SEP}{hits}{SEP}{state}",
                    dir.display()
                ),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.find(|l| l.as_ref().is_ok_and(|l| l == "ready"));
        assert!(ready.is_some(), "the writer did not start");
        Writer {
            child,
            stdin,
            lines,
        }
    }

    /// The writer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a command and waits until it is done.
    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        let answer = self.lines.next().unwrap().unwrap();
        assert_eq!(answer, "ok");
    }

    /// SIGKILL: the files stay, with nobody holding them.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The writer's files, sorted.
    pub fn files(&self, dir: &Path) -> Vec<PathBuf> {
        let marker = format!("-{}-", self.pid());
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(&marker))
            .collect();
        files.sort();
        files
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
