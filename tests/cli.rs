//! The `mmstats` binary, run for real against files that real writer
//! processes publish.
//!
//! The writers are this test binary itself, started again as a writer
//! process (see the `support` module): every value they publish is the
//! test's choice.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

use mmstats::{Gauge, MmStats};

mod support;

use support::Writer;

/// The writer: runs only in a process started by [`Writer::start`].
#[test]
#[ignore = "not a test on its own: the tests of this file start it as a writer process"]
fn writer_process() {
    support::writer_role();
}

/// The `mmstats` command, with no mmstats settings from the environment
/// and a fixed terminal width, so that output is the same on every machine.
fn mmstats() -> Command {
    let mut command = support::mmstats();
    command.env("COLUMNS", "80");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().unwrap();
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    (output, stdout, stderr)
}

/// Snapshot settings that hide what changes from run to run: the directory,
/// pids and thread ids in file names, and the values of the fields that
/// hold them.
fn redactions(dir: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&dir.display().to_string()), "[DIR]");
    settings.add_filter(r"-\d+-\d+\.mmstats", "-[PID]-[TID].mmstats");
    settings.add_filter(r"(t\.sys\.(pid|tid|uid|gid) +)\d+", "${1}[redacted]");
    settings.add_filter(r"(t\.sys\.created +)\S+", "${1}[redacted]");
    settings.add_filter(r"(t\.org\.rust-lang\.version +).*", "${1}[redacted]");
    settings.add_filter(r"(process|sys\.pid) \d+", "$1 [PID]");
    settings.add_filter(r"user \d+", "user [UID]");
    settings.add_filter(r"started \d+ s after", "started [N] s after");
    settings
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Two processes: `alpha` with two threads (files) and `beta` with one.
fn two_processes(dir: &Path) -> (Writer, Writer) {
    (
        Writer::start(dir, "alpha", 2, 10),
        Writer::start(dir, "beta", 1, 5),
    )
}

#[test]
fn slurp_prints_every_field_of_every_process_and_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (alpha, beta) = two_processes(dir.path());
    assert_eq!(alpha.files(dir.path()).len(), 2);
    assert_eq!(beta.files(dir.path()).len(), 1);

    let (output, stdout, stderr) = run(mmstats().arg("slurp").arg(dir.path()));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr, "");
    assert_eq!(stdout.matches("==> ").count(), 3, "{stdout}");
    redactions(dir.path()).bind(|| insta::assert_snapshot!("slurp", stdout));

    // No argument: the default glob, under MMSTATS_PATH.
    let (_, default, _) = run(mmstats().arg("slurp").env("MMSTATS_PATH", dir.path()));
    assert_eq!(default, stdout);
    // MMSTATS_GLOB wins over MMSTATS_PATH.
    let glob = format!("{}/beta-*.mmstats", dir.path().display());
    let (_, only_beta, _) = run(mmstats().arg("slurp").env("MMSTATS_GLOB", &glob));
    assert_eq!(only_beta.matches("==> ").count(), 1, "{only_beta}");
    assert!(only_beta.contains("beta-"), "{only_beta}");

    // --filter keeps the fields that start with any of the prefixes.
    let (output, filtered, _) = run(mmstats()
        .args(["slurp", "--filter", "t.hits", "-f", "t.queue"])
        .arg(dir.path()));
    assert!(output.status.success());
    let fields: Vec<&str> = filtered
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(
        fields,
        [
            "t.hits   10",
            "t.queue  3",
            "t.hits   10",
            "t.queue  3",
            "t.hits   5",
            "t.queue  3"
        ]
    );
}

#[test]
fn slurp_json_reads_back_as_the_files_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let (alpha, beta) = two_processes(dir.path());
    let (output, stdout, stderr) = run(mmstats().args(["slurp", "--json"]).arg(dir.path()));
    assert!(output.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["errors"], serde_json::json!([]));
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    let mut pids: Vec<u64> = files.iter().map(|f| f["pid"].as_u64().unwrap()).collect();
    pids.sort();
    let mut expected = [alpha.pid(), alpha.pid(), beta.pid()];
    expected.sort();
    assert_eq!(
        pids,
        expected.iter().map(|p| u64::from(*p)).collect::<Vec<_>>()
    );
    for file in files {
        let path = PathBuf::from(file["file"].as_str().unwrap());
        assert_eq!(path.parent(), Some(dir.path()));
        let pid = file["pid"].as_u64().unwrap();
        let field = |label: &str| {
            file["stats"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["label"] == label)
                .unwrap_or_else(|| panic!("no {label}"))
                .clone()
        };
        let hits = if pid == u64::from(alpha.pid()) { 10 } else { 5 };
        assert_eq!(
            field("t.hits"),
            serde_json::json!({"label": "t.hits", "kind": "counter", "value": hits, "unit": ""})
        );
        assert_eq!(field("t.queue")["kind"], "gauge");
        assert_eq!(field("t.latency")["kind"], "timer");
        assert_eq!(field("t.latency")["value"], 0.25);
        assert_eq!(field("t.up")["value"], true);
        assert_eq!(field("t.state")["value"], "serving");
        assert_eq!(field("t.sys.pid")["value"], pid);
        assert_eq!(field("t.sys.pid")["kind"], "static");
    }
    // The pid is still given when --filter leaves out sys.pid.
    let (_, stdout, _) = run(mmstats()
        .args(["slurp", "--json", "--filter", "t.hits"])
        .arg(dir.path()));
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for file in doc["files"].as_array().unwrap() {
        assert!(file["pid"].as_u64().is_some(), "{file}");
        assert_eq!(file["stats"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn slurp_reports_unreadable_files_and_prints_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = Writer::start(dir.path(), "alpha", 1, 10);
    let junk = dir.path().join("junk.mmstats");
    std::fs::write(&junk, "hello\n").unwrap();
    let missing = dir.path().join("missing.mmstats");
    let (output, stdout, stderr) = run(mmstats().args(["slurp"]).arg(dir.path()).arg(&missing));
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stdout.matches("==> ").count(), 1, "{stdout}");
    assert!(stdout.contains("t.hits"), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines
        .iter()
        .any(|l| l.contains(&*missing.to_string_lossy()) && l.contains("no such file")));
    assert!(lines
        .iter()
        .any(|l| l.contains(&*junk.to_string_lossy()) && l.contains("not an mmstats file")));
    // JSON lists them too, and still fails.
    let (output, stdout, _) = run(mmstats().args(["slurp", "--json"]).arg(&junk));
    assert_eq!(output.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["errors"][0]["file"], junk.to_string_lossy().as_ref());
    assert!(doc["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("version byte"));
}

#[test]
fn slurp_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Writer::start(dir.path(), "alpha", 1, 10);
    let file = writer.files(dir.path()).remove(0);
    // Far more output than a pipe holds, so a write must meet the closed end.
    for i in 0..300 {
        std::fs::copy(&file, dir.path().join(format!("copy{i:03}.mmstats"))).unwrap();
    }
    let mut child = mmstats()
        .arg("slurp")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr, "");
    assert_eq!(output.status.code(), Some(0));
}

/// `mmstats poll` taking a sample for each line the test sends it.
struct Poll {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Poll {
    fn start(args: &[&str], dir: &Path) -> Poll {
        let mut child = mmstats()
            .arg("poll")
            .args(args)
            .arg("--on-input")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Poll {
            child,
            stdin,
            lines,
        }
    }

    /// Takes a sample; returns the lines it printed (a header, then the row).
    fn sample(&mut self, with_header: bool) -> Vec<String> {
        writeln!(self.stdin, "next").unwrap();
        let n = if with_header { 2 } else { 1 };
        (0..n)
            .map(|_| self.lines.next().unwrap().unwrap())
            .collect()
    }

    fn row(&mut self) -> Vec<String> {
        let line = self.sample(false).remove(0);
        line.split_whitespace().map(String::from).collect()
    }

    fn finish(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
        assert!(self.lines.next().is_none());
    }
}

#[test]
fn poll_shows_counter_changes_and_gauge_values_summed_over_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::start(dir.path(), "alpha", 2, 10);
    let mut poll = Poll::start(
        &[
            "hits,queue,latency,up,state,nothing",
            "--prefix",
            "t.",
            "--count",
            "3",
        ],
        dir.path(),
    );
    let mut text = poll.sample(true);
    // Two threads: 10 + 10 hits, 3 + 3 queued.
    assert_eq!(
        text[1].split_whitespace().collect::<Vec<_>>(),
        ["20", "6", "0.250000", "true", "serving", "-"]
    );
    // Between samples, the main thread handles 7 requests and its queue
    // drops to 1; the other thread does nothing.
    writer.send("incr 7");
    writer.send("queue 1");
    let row = poll.sample(false);
    assert_eq!(
        row[0].split_whitespace().collect::<Vec<_>>(),
        ["7", "4", "0.250000", "true", "serving", "-"]
    );
    text.extend(row);
    writer.send("incr 7");
    let row = poll.sample(false);
    assert_eq!(
        row[0].split_whitespace().take(2).collect::<Vec<_>>(),
        ["7", "4"]
    );
    text.extend(row);
    poll.finish();
    insta::assert_snapshot!("poll", text.join("\n"));
}

/// `FIELD:rate` divides a counter's change by the time between the two
/// samples; the first line has no rate, and a gauge has none.
#[test]
fn poll_shows_rates_per_second_of_counters() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::start(dir.path(), "alpha", 1, 10);
    let mut poll = Poll::start(
        &["hits,hits:rate,queue:rate", "-p", "t.", "--count", "2"],
        dir.path(),
    );
    let sent_first = std::time::Instant::now();
    let first = poll.sample(true);
    let read_first = std::time::Instant::now();
    assert_eq!(
        first[0].split_whitespace().collect::<Vec<_>>(),
        ["hits", "hits:rate", "queue:rate"]
    );
    assert_eq!(
        first[1].split_whitespace().collect::<Vec<_>>(),
        ["10", "-", "-"]
    );
    writer.send("incr 700");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let sent_second = std::time::Instant::now();
    let row = poll.row();
    let read_second = std::time::Instant::now();
    assert_eq!(row[0], "700");
    assert_eq!(row[2], "-", "a gauge has no rate");
    // poll took its samples somewhere between sending a line and the row
    // coming back, so the time it divides by lies within these bounds.
    let longest = read_second.duration_since(sent_first).as_secs_f64();
    let shortest = sent_second.duration_since(read_first).as_secs_f64();
    let rate: f64 = row[1].parse().unwrap();
    assert!(
        rate >= 700.0 / longest && rate <= 700.0 / shortest,
        "{rate} per second is not 700 over {shortest}..{longest} s"
    );
    poll.finish();
}

/// A poll that runs until interrupted and matches nothing says so on
/// standard error at its first line, not only when it ends.
#[test]
fn poll_without_a_count_says_at_once_that_nothing_matches() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = mmstats()
        .args(["poll", "nosuch", "--interval", "10ms"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stderr).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(std::time::Duration::from_secs(30));
    child.kill().unwrap();
    child.wait().unwrap();
    let line = line.expect("no word on standard error after 30 s");
    assert!(
        line.contains("no file has any of the fields nosuch"),
        "{line}"
    );
}

#[test]
fn poll_picks_up_new_files_and_drops_vanished_ones_without_going_negative() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Writer::start(dir.path(), "a", 1, 100);
    let mut b = Writer::start(dir.path(), "b", 1, 40);
    let mut poll = Poll::start(
        &["hits", "-p", "t.", "-c", "4", "--headers", "2"],
        dir.path(),
    );
    assert_eq!(poll.sample(true)[1].trim(), "140");
    // b dies and its file goes; a handles 7 more.
    b.kill();
    for file in b.files(dir.path()) {
        std::fs::remove_file(file).unwrap();
    }
    a.send("incr 7");
    assert_eq!(poll.row(), ["7"]);
    // c starts with 5 already counted; a handles 1 more. The header comes
    // back after two rows (-n 2).
    let _c = Writer::start(dir.path(), "c", 1, 5);
    a.send("incr 1");
    let text = poll.sample(true);
    assert_eq!(text[0].trim(), "hits");
    assert_eq!(text[1].trim(), "6");
    assert_eq!(poll.row(), ["0"]);
    poll.finish();
}

/// A process with 1000 stats files open at once: `poll` sums all of them
/// and holds no descriptor for them between samples, and `slurp` prints
/// every one.
#[test]
fn poll_and_slurp_read_a_thousand_files_of_one_process() {
    use mmstats::MmStats;
    // This process keeps a descriptor per live writer (its lock); make room.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer for the call to fill in.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit.rlim_cur = limit.rlim_cur.max(1500).min(limit.rlim_max);
    // SAFETY: a valid rlimit within the hard limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let dir = tempfile::tempdir().unwrap();
    let writers: Vec<_> = (0..1000u64)
        .map(|i| {
            let stats = support::TestStats::builder()
                .dir(dir.path())
                .file(format!("many-{i}.mmstats"))
                .create()
                .unwrap();
            stats.hits.incr_by(i);
            stats
        })
        .collect();

    let mut poll = Poll::start(&["hits", "--prefix", "t.", "--count", "2"], dir.path());
    let first = poll.sample(true);
    assert_eq!(first[1].trim(), (0..1000u64).sum::<u64>().to_string());
    // Between samples poll holds no descriptor on the files it reads.
    let fds = std::fs::read_dir(format!("/proc/{}/fd", poll.child.id()))
        .unwrap()
        .flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.starts_with(dir.path())))
        .count();
    assert_eq!(fds, 0, "poll keeps files open between samples");
    writers[999].hits.incr_by(5);
    assert_eq!(poll.row(), ["5"]);
    poll.finish();

    let (output, stdout, stderr) = run(mmstats().arg("slurp").arg("--json").arg(dir.path()));
    assert!(output.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["files"].as_array().unwrap().len(), 1000);
    drop(writers);
}

#[test]
fn poll_every_delay_and_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let _a = Writer::start(dir.path(), "a", 1, 10);
    let _b = Writer::start(dir.path(), "b", 1, 1);
    let poll = |extra: &[&str]| {
        let (output, stdout, stderr) = run(mmstats()
            .args(["poll", "hits,queue", "-p", "t.", "--delay", "0.05"])
            .args(extra)
            .arg(dir.path()));
        assert!(output.status.success(), "{stderr}");
        stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    // Nobody writes: after the first row, the counters do not change.
    assert_eq!(
        poll(&["--count", "3"]),
        ["hits queue", "11 6", "0 6", "0 6"]
    );
    // A file must match every filter: a label prefix, or a label's value.
    assert_eq!(
        poll(&["-c", "1", "--filter", "t.hits=10"]),
        ["hits queue", "10 3"]
    );
    assert_eq!(
        poll(&["-c", "1", "-f", "t.sta", "-f", "t.state=serving"]),
        ["hits queue", "11 6"]
    );
    // A filter no file matches: a row of `-`, said, and status 1.
    let (output, stdout, stderr) = run(mmstats()
        .args([
            "poll",
            "hits,queue",
            "-p",
            "t.",
            "-c",
            "1",
            "-f",
            "t.nothing",
        ])
        .arg(dir.path()));
    assert_eq!(output.status.code(), Some(1));
    let rows: Vec<String> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(rows, ["hits queue", "- -"]);
    assert!(stderr.contains("matches every --filter"), "{stderr}");
}

/// Model for a file that names a pid and a creation time of the test's
/// choosing, like a file of a writer that takes no lock.
#[derive(MmStats)]
#[mmstats(defaults = false)]
struct Unlocked {
    #[mmstats(label = "sys.pid")]
    pid: Gauge<u32>,
    #[mmstats(label = "sys.created")]
    created: Gauge<f64>,
}

/// Leaves `dir/name` naming process `pid` and creation time `created`,
/// held by no one.
fn unlocked_file(dir: &Path, name: &str, pid: u32, created: f64) {
    let stats = Unlocked::builder().dir(dir).file(name).create().unwrap();
    stats.pid.set(pid);
    stats.created.set(created);
    // Dropping closes the file, and with it the lock; the file stays.
    drop(stats);
    // Without the identity record (which names this process), as the
    // original implementation writes it: judged by its fields alone.
    let path = dir.join(name);
    let mut bytes = std::fs::read(&path).unwrap();
    let start = bytes.len() - mmstats::file::IDENTITY_SIZE;
    bytes[start..].fill(0);
    std::fs::write(&path, bytes).unwrap();
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn clean_removes_only_the_files_of_gone_processes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let live = Writer::start(d, "a_live", 1, 1);
    // A live writer (this test) whose file names a process that is gone:
    // only the writer's lock tells that the file is in use.
    let mut done = Command::new("true").spawn().unwrap();
    let dead_pid = done.id();
    done.wait().unwrap();
    let locked = Unlocked::builder()
        .dir(d)
        .file("a_locked.mmstats")
        .create()
        .unwrap();
    locked.pid.set(dead_pid);
    locked.created.set(now());
    let mut killed = Writer::start(d, "b_killed", 2, 1);
    killed.kill();
    // A process that is alive and is not a writer.
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    // Its pid, in a file made an hour before it started: the pid was reused.
    unlocked_file(d, "c_reused.mmstats", sleeper.id(), now() - 3600.0);
    // Its pid, in a file made after it started: a writer without a lock,
    // such as the original implementation's, that is alive.
    unlocked_file(d, "c_unlocked.mmstats", sleeper.id(), now() + 1.0);
    // A link to a stale file, and a file that is no stats file.
    let killed_files = killed.files(d);
    std::os::unix::fs::symlink(&killed_files[0], d.join("d_link.mmstats")).unwrap();
    std::fs::write(d.join("e_text.mmstats"), "hello\n").unwrap();

    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .map(|n| n.split('-').next().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    let before = names();
    assert_eq!(
        before,
        [
            "a_live",
            "a_locked.mmstats",
            "b_killed",
            "b_killed",
            "c_reused.mmstats",
            "c_unlocked.mmstats",
            "d_link.mmstats",
            "e_text.mmstats"
        ]
    );

    let (output, dry, stderr) = run(mmstats().args(["clean", "--dry-run"]).arg(d));
    assert!(output.status.success(), "{dry}{stderr}");
    assert_eq!(names(), before);
    assert!(
        dry.ends_with("would remove 3, kept 5 (3 alive, 1 not an mmstats file, 1 symbolic link)\n"),
        "{dry}"
    );

    let (output, stdout, stderr) = run(mmstats().arg("clean").arg(d));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(
        names(),
        [
            "a_live",
            "a_locked.mmstats",
            "c_unlocked.mmstats",
            "d_link.mmstats",
            "e_text.mmstats"
        ],
        "{stdout}"
    );
    assert!(killed_files.iter().all(|f| !f.exists()));
    // The link was not followed: it is still a link (now to nothing).
    assert!(std::fs::symlink_metadata(d.join("d_link.mmstats"))
        .unwrap()
        .file_type()
        .is_symlink());
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.contains(start))
            .unwrap_or_else(|| panic!("no {start} in {stdout}"))
            .to_string()
    };
    assert!(line("a_live").starts_with("kept") && line("a_live").contains("alive"));
    assert!(line("a_locked").starts_with("kept") && line("a_locked").contains("holds its lock"));
    assert!(line("c_reused").starts_with("removed"));
    assert!(line("c_reused").contains("now belongs to a process that started"));
    assert!(line("c_unlocked").starts_with("kept"));
    assert!(line("d_link").contains("symbolic link"));
    assert!(line("e_text").contains("not an mmstats file"));
    redactions(d).bind(|| insta::assert_snapshot!("clean", stdout));

    // Nothing left to remove.
    let (_, again, _) = run(mmstats().arg("clean").arg(d));
    assert!(
        again.ends_with("removed 0, kept 5 (3 alive, 1 not an mmstats file, 1 symbolic link)\n"),
        "{again}"
    );
    drop(live);
    drop(locked);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
#[ignore = "needs root, to give a file to another user"]
fn clean_keeps_the_stale_file_of_another_user() {
    let me = rustix::process::geteuid();
    assert!(me.is_root(), "this test must run as root");
    let dir = tempfile::tempdir().unwrap();
    let mut killed = Writer::start(dir.path(), "killed", 1, 1);
    killed.kill();
    let file = killed.files(dir.path()).remove(0);
    // The file of a dead process, stale in every other way.
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
    let (output, stdout, stderr) = run(mmstats().arg("clean").arg(dir.path()));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(file.exists());
    assert!(
        stdout.contains("not ours: it belongs to user 65534"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("removed 0, kept 1 (1 not ours)\n"),
        "{stdout}"
    );
}

#[test]
fn arguments_that_match_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mmstats");
    // Named explicitly: an error, for every command.
    let (output, stdout, stderr) = run(mmstats().arg("clean").arg(&missing));
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("missing.mmstats: no such file"), "{stderr}");
    assert_eq!(stdout, "removed 0, kept 0\n");
    let (output, _, stderr) = run(mmstats().arg("slurp").arg(&missing));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("missing.mmstats: no such file"), "{stderr}");
    // The default glob finding nothing is said, and fails (status 1).
    let (output, stdout, stderr) = run(mmstats().arg("slurp").env("MMSTATS_PATH", dir.path()));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout, "");
    assert!(stderr.contains("no stats files match"), "{stderr}");
    // A bad interval is a usage error; one in the syntax of every command
    // is taken.
    let (output, _, stderr) = run(mmstats().args(["poll", "x", "--delay", "0"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("at least 1ms"), "{stderr}");
    // poll of a field no file has says so and fails, though it prints its
    // line of `-`; its interval takes a unit like record's.
    let (output, stdout, stderr) = run(mmstats().args([
        "poll",
        "nosuch",
        "--interval",
        "10ms",
        "--count",
        "2",
        &dir.path().display().to_string(),
    ]));
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains('-'), "{stdout}");
    assert!(
        stderr.contains("no file has any of the fields nosuch"),
        "{stderr}"
    );
}
