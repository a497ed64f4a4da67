//! `fork()` in a writer: the child must never write into its parent's files.
//! Alone in its binary, so that no other test's threads are running when the
//! process forks.

mod common;

use common::{decode, stats_files, walk, Expected};
use mmstats::{Counter, MmStats};

#[derive(MmStats)]
struct Forked {
    n: Counter,
}

#[test]
fn a_forked_child_gets_its_own_file_and_leaves_the_parents_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Read when the first file of this thread is made; nothing else runs.
    std::env::set_var("MMSTATS_PATH", dir.path());
    Forked::with_thread(|s| s.n.incr_by(10));
    let parent_files = stats_files(dir.path());
    assert_eq!(parent_files.len(), 1);

    // SAFETY: the child only touches the model through `with_thread` (which
    // makes a new file), then leaves with `_exit`, running no destructors or
    // atexit handlers of the parent's.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let n = Forked::with_thread(|s| {
            s.n.incr_by(5);
            s.n.get()
        });
        // SAFETY: ending the child at once is the point.
        unsafe { libc::_exit(if n == 5 { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child, with a valid pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );

    // The parent keeps counting in its own file.
    Forked::with_thread(|s| s.n.incr());
    let files = stats_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    for file in files {
        let (fields, _) = walk(&std::fs::read(&file).unwrap());
        let Expected::U(owner) = decode(&fields[1]) else {
            panic!()
        };
        let Expected::U(n) = decode(&fields[0]) else {
            panic!()
        };
        if owner == u64::from(std::process::id()) {
            assert_eq!(n, 11, "the parent's file");
            assert_eq!(file, parent_files[0]);
        } else {
            assert_eq!(owner, pid as u64);
            assert_eq!(n, 5, "the child's file");
        }
    }
}
