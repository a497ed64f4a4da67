//! The examples, run as a user runs them: real processes, real files.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use mmstats::reader::{self, Value};

/// The path of a compiled example (`cargo test` builds them beside the tests).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = debug_dir.join("examples").join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

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
            for file in files {
                let snapshot = reader::read_path(&file.path()).unwrap();
                assert_eq!(snapshot.pid(), Some(pid as u32));
                if let Some(Value::Unsigned(n)) =
                    snapshot.get("web.requests").map(|s| s.value.clone())
                {
                    requests += n;
                }
            }
            assert!(requests > 0);
        }
    }
}
