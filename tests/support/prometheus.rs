//! A real Prometheus (the Debian package `prometheus`): started on a
//! loopback port with a configuration, asked through its query API until
//! it answers, stopped when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::http::try_get;
use super::process::{free_port, Guard};

/// A running Prometheus, killed when dropped.
pub struct Prometheus {
    /// Its process.
    pub guard: Guard,
    /// Where its HTTP API listens.
    pub address: SocketAddr,
    /// Its directory: the configuration and the log (standard error),
    /// shown when it does not answer in time.
    work: PathBuf,
}

/// A configuration that scrapes `targets` every second (with Prometheus's
/// default content negotiation, OpenMetrics first).
pub fn scraping(targets: &[SocketAddr]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: mmstats\n    static_configs:\n      \
         - targets: [{}]\n",
        targets.join(", ")
    )
}

impl Prometheus {
    /// Prometheus on a free loopback port with `config` (written to
    /// `work/prometheus.yml`), its data in `work/data`, its log in
    /// `work/prometheus.log`, with `extra` arguments.
    pub fn start(work: &Path, config: &str, extra: &[&str]) -> Prometheus {
        Prometheus::start_at(work, config, &work.join("data"), free_port(), extra)
    }

    /// Like [`Prometheus::start`], with its data in `data` and its API on
    /// `port`; the log is appended to, so that a restart keeps the first
    /// run's.
    pub fn start_at(
        work: &Path,
        config: &str,
        data: &Path,
        port: u16,
        extra: &[&str],
    ) -> Prometheus {
        let config_file = work.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(work.join("prometheus.log"))
            .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("prometheus must be installed for this test (Debian package prometheus)");
        Prometheus {
            guard: Guard(child),
            address: format!("127.0.0.1:{port}").parse().unwrap(),
            work: work.to_path_buf(),
        }
    }

    /// [`ask`] this Prometheus.
    pub fn ask<T>(&self, path: &str, found: impl Fn(&serde_json::Value) -> Option<T>) -> T {
        ask(self.address, &self.work, path, found)
    }
}

/// Asks the Prometheus at `prometheus` (started in `work`) `path` (e.g.
/// `/api/v1/query?query=...`) every half second until `found` finds
/// something in a 200 answer's JSON; fails after 90 s with the last answer
/// and the log.
pub fn ask<T>(
    prometheus: SocketAddr,
    work: &Path,
    path: &str,
    found: impl Fn(&serde_json::Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not answer {path} in time; last answer: {last}\nlog: {}",
            std::fs::read_to_string(work.join("prometheus.log")).unwrap_or_default()
        );
        if let Some((200, body)) = try_get(prometheus, path) {
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            if let Some(t) = found(&answer) {
                return t;
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `promtool check metrics` of `text`: asserts that it exits 0 and says
/// nothing (no lint either), naming what it said otherwise.
pub fn promtool_check(text: &str) {
    use std::io::Write as _;
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
}
