//! `fork()` under the `metrics` recorder: a child's updates through the
//! parent's handles go to a file of the child's own. Alone in its binary,
//! so that no other test's threads are running when the process forks.

use std::path::Path;

fn counts(dir: &Path) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| mmstats::reader::read_path(&e.unwrap().path()).unwrap())
        .map(|s| {
            let pid = s.get("sys.pid").unwrap().value.to_string().parse().unwrap();
            (pid, s.get("forked").unwrap().value.to_string())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_forked_child_counts_in_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let _recorder = mmstats::metrics::Builder::new()
        .dir(dir.path())
        .install()
        .unwrap();
    let forked = metrics::counter!("forked");
    forked.increment(10);
    assert_eq!(
        counts(dir.path()),
        [(u64::from(std::process::id()), "10".into())]
    );

    // SAFETY: the child only increments through the recorder (which makes
    // a new file), then leaves with `_exit`, running no destructors or
    // atexit handlers of the parent's.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        forked.increment(5);
        metrics::counter!("forked").increment(1);
        // SAFETY: ending the child at once is the point.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child, with a valid pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);

    forked.increment(1);
    let mut expected = vec![
        (u64::from(std::process::id()), "11".to_string()),
        (pid as u64, "6".to_string()),
    ];
    expected.sort();
    assert_eq!(counts(dir.path()), expected);
}
