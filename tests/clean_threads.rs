//! `clean` and a process whose main thread has ended while another thread
//! still writes: the process is alive, and so are all its files. Alone in
//! its binary, because it forks (no other test's threads may run then).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mmstats::clean::{examine, Kept, Verdict};
use mmstats::reader::{self, Value};
use mmstats::{Counter, MmStats};

#[derive(MmStats)]
#[mmstats(prefix = "z.")]
struct Work {
    n: Counter,
}

/// Field 3 of `/proc/<pid>/stat`: the state letter.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

fn count(path: &Path) -> u64 {
    match reader::read_path(path).unwrap().get("z.n").unwrap().value {
        Value::Unsigned(n) => n,
        ref other => panic!("{other:?}"),
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_process_whose_main_thread_ended_keeps_its_files_while_a_worker_runs() {
    let dir = tempfile::tempdir().unwrap();
    let template = "zombie-{PID}-{TID}.mmstats";
    // SAFETY: the child only makes stats files, starts one thread and
    // ends its main thread; it never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let dir = dir.path().to_path_buf();
        // The main thread counts 100 and is done with its stats (as a
        // thread's stats are dropped when it ends): the file stays.
        let main = Work::builder().dir(&dir).file(template).create().unwrap();
        main.n.incr_by(100);
        drop(main);
        std::thread::spawn(move || {
            let stats = Work::builder().dir(&dir).file(template).create().unwrap();
            stats.n.incr_by(51);
            std::fs::write(dir.join("worker-ready"), b"").unwrap();
            // Keeps writing until the parent ends the process.
            loop {
                stats.n.incr_by(0);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        // End the main thread only, like `pthread_exit` from `main`: the
        // raw `exit` system call ends the calling thread, not the process,
        // and runs nothing of this thread's (no unwinding through the
        // harness's frames). The leader becomes a zombie; the worker runs on.
        // SAFETY: SYS_exit takes one int and does not return.
        unsafe { libc::syscall(libc::SYS_exit, 0) };
        unreachable!("SYS_exit returned");
    }
    let mut child = Killed(Some(pid));
    wait_for("the worker", || dir.path().join("worker-ready").exists());
    wait_for("the main thread to end", || state(pid) == Some('Z'));
    let files: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "mmstats"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(files.len(), 2, "{files:?}");
    let main_file = dir.path().join(format!("zombie-{pid}-{pid}.mmstats"));
    assert!(files.contains(&main_file), "{files:?}");
    assert_eq!(files.iter().map(|f| count(f)).sum::<u64>(), 151);

    // The leader is a zombie, but its worker runs: both files are kept.
    for file in &files {
        match examine(file) {
            Verdict::Keep(Kept::Alive, _) => {}
            other => panic!("{}: {other:?}", file.display()),
        }
    }
    assert_eq!(files.iter().map(|f| count(f)).sum::<u64>(), 151);

    // Once the whole process has ended (not yet reaped), the files go.
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    wait_for("the worker to end", || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks
                    .flatten()
                    .all(|t| state_of_task(pid, &t.file_name().to_string_lossy()))
            })
            .unwrap_or(true)
    });
    match examine(&main_file) {
        Verdict::Remove(stale) => {
            assert!(stale.reason().contains("has exited"), "{}", stale.reason())
        }
        other => panic!("{other:?}"),
    }
    let mut status = 0;
    // SAFETY: reaping our own child, with a valid pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    child.0 = None;
    match examine(&main_file) {
        Verdict::Remove(stale) => {
            assert!(stale.reason().contains("is gone"), "{}", stale.reason())
        }
        other => panic!("{other:?}"),
    }
}

/// Kills and reaps the child when dropped, so that a failed assertion
/// leaves no process behind.
struct Killed(Option<i32>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let mut status = 0;
            // SAFETY: signalling and reaping our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
        }
    }
}

/// Whether thread `tid` of `pid` has ended (or vanished).
fn state_of_task(pid: i32, tid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
        .map(|stat| {
            let s = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            s == "Z" || s == "X"
        })
        .unwrap_or(true)
}
