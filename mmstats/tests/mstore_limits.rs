//! Resource limits in real child processes: a full disk (RLIMIT_FSIZE with
//! SIGXFSZ ignored, so writes fail with EFBIG) and a read-only store
//! directory (the child drops root, which would ignore file modes).
//!
//! The children are this test binary run again with `MSTORE_LIMITS_CHILD`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mmstats::mstore::{Error, Options, Reader, Store};

const S: u64 = 64;
const FSIZE_LIMIT: u64 = 32 * 1024;
/// Bytes of one metric-list or index record of a long name.
const LONG_RECORD: u64 = 2506 + 8;

fn name(round: u64, long: bool) -> String {
    let pad = if long { 2500 } else { 4 };
    format!("m{round:04}-{}", "p".repeat(pad))
}

fn vals(round: u64) -> Vec<u64> {
    (0..S).map(|i| round * 1000 + i).collect()
}

fn run_child(mode: &str, dir: &Path, long: bool, limit: u64) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "limits_child",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MSTORE_LIMITS_CHILD", mode)
        .env("MSTORE_DIR", dir)
        .env("MSTORE_LONG", if long { "1" } else { "0" })
        .env("MSTORE_FSIZE", limit.to_string())
        .output()
        .unwrap();
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Opens the writer in a child. The parent test process may have forked
/// another child (for a test running in parallel) while it held the lock;
/// that fork keeps a copy of the lock until it execs, so wait it out.
fn open_writer(dir: &Path) -> Store {
    for _ in 0..1000 {
        match Store::open(dir) {
            Err(Error::Locked { .. }) => std::thread::sleep(std::time::Duration::from_millis(5)),
            other => return other.unwrap(),
        }
    }
    panic!("store stayed locked");
}

#[test]
#[ignore = "not a test on its own: the full-disk and read-only tests start it in a limited child process"]
fn limits_child() {
    let Ok(mode) = std::env::var("MSTORE_LIMITS_CHILD") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("MSTORE_DIR").unwrap());
    let long = std::env::var("MSTORE_LONG").unwrap() == "1";
    let limit: u64 = std::env::var("MSTORE_FSIZE").unwrap().parse().unwrap();
    match mode.as_str() {
        "fsize" => {
            let lim = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            // SAFETY: plain libc calls with a valid handler constant and a
            // pointer to a live rlimit.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
            }
            let mut s = open_writer(&dir);
            for round in 0..10_000 {
                let r = s
                    .put(&name(round, long), 0, &vals(round))
                    .and_then(|()| s.sync());
                match r {
                    Ok(()) => println!("SYNC {round}"),
                    Err(Error::Io { path, source, op }) => {
                        eprintln!("child: {op} failed on {}", path.display());
                        println!(
                            "ERR {} {}",
                            source.raw_os_error().unwrap_or(0),
                            path.display()
                        );
                        break;
                    }
                    Err(e) => {
                        println!("OTHER {e}");
                        break;
                    }
                }
            }
        }
        "readonly" => {
            // SAFETY: plain libc calls without pointers.
            unsafe {
                if libc::geteuid() == 0 {
                    assert_eq!(libc::setgid(65534), 0);
                    assert_eq!(libc::setuid(65534), 0);
                }
            }
            let mut r = Reader::open(&dir).unwrap();
            let p = r.get::<u64>("a", 0, 10 * S).unwrap();
            println!("READ {}", p.count_set());
            let q = r.get::<u64>("a", 100 * S, 101 * S).unwrap();
            println!("EMPTY {}", q.count_set());
            match Store::open(&dir) {
                Ok(_) => println!("WRITER opened"),
                Err(Error::Io { path, source, .. }) => {
                    println!("WRITER {:?} {}", source.kind(), path.display())
                }
                Err(e) => println!("WRITER other {e}"),
            }
        }
        _ => panic!("unknown mode"),
    }
}

/// Runs a writer under a file size limit of `limit` bytes until a write
/// fails; checks the error names `expect_file` and that nothing synced is
/// lost.
fn check_full_disk(long: bool, limit: u64, expect_file: &str) {
    let d = tempfile::tempdir().unwrap();
    Store::create(
        d.path(),
        Options {
            chunk_size: S,
            ..Options::default()
        },
    )
    .unwrap()
    .close()
    .unwrap();
    let out = run_child("fsize", d.path(), long, limit);
    // libtest may print its "test ... " prefix on the same line.
    let tail = |l: &str, tag: &str| l.find(tag).map(|i| l[i..].to_string());
    let synced = out
        .lines()
        .filter_map(|l| tail(l, "SYNC "))
        .map(|l| l[5..].parse::<u64>().unwrap() + 1)
        .max()
        .unwrap_or(0);
    let err = out
        .lines()
        .find_map(|l| tail(l, "ERR "))
        .unwrap_or_else(|| panic!("no error: {out}"));
    eprintln!("child stopped with: {err} after {synced} syncs");
    let mut parts = err.splitn(3, ' ');
    parts.next();
    assert_eq!(parts.next().unwrap(), libc::EFBIG.to_string(), "{err}");
    let path = PathBuf::from(parts.next().unwrap());
    assert!(path.starts_with(d.path()), "{err}");
    assert!(path.to_str().unwrap().ends_with(expect_file), "{err}");
    assert!(synced > 0, "{out}");
    // Everything synced reads back exactly; the failed round reads exactly
    // or not at all.
    let mut r = Reader::open(d.path()).unwrap();
    for round in 0..=synced {
        match r.get::<u64>(&name(round, long), 0, S) {
            Ok(p) => {
                for i in 0..S as usize {
                    match p.get(i) {
                        Some(v) => assert_eq!(v, vals(round)[i]),
                        None => assert_eq!(round, synced, "round {round} synced but unset"),
                    }
                }
            }
            Err(Error::UnknownMetric { .. }) => assert_eq!(round, synced),
            Err(e) => panic!("{e}"),
        }
    }
    // Without the limit the store takes writes again: no torn record was
    // left in front of new ones.
    let mut s = Store::open(d.path()).unwrap();
    for round in synced..synced + 5 {
        s.put(&name(round, long), 0, &vals(round)).unwrap();
    }
    s.close().unwrap();
    let mut r = Reader::open(d.path()).unwrap();
    for round in 0..synced + 5 {
        assert_eq!(
            r.get::<u64>(&name(round, long), 0, S).unwrap().raw_values(),
            &vals(round)[..]
        );
    }
    assert_eq!(r.metrics().unwrap().len() as u64, synced + 5);
}

#[test]
fn full_disk_on_data_file_gives_efbig_and_loses_nothing_synced() {
    check_full_disk(false, FSIZE_LIMIT, ".dat");
}

#[test]
fn full_disk_on_metric_list_append_leaves_no_torn_record() {
    check_full_disk(true, FSIZE_LIMIT, "metrics.list");
}

#[test]
fn full_disk_on_index_append_leaves_no_torn_record() {
    // Room for 14 list records (8-byte header) but 13 index records
    // (28-byte header): the 14th index append is the first write to fail.
    check_full_disk(true, 8 + 14 * LONG_RECORD + 10, ".idx");
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = e.metadata().unwrap();
        out.insert(e.path(), (md.len(), md.modified().unwrap()));
    }
    out
}

#[test]
fn read_only_directory_reads_and_refuses_the_writer_with_a_path() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("store");
    let mut s = Store::create(
        &dir,
        Options {
            chunk_size: S,
            ..Options::default()
        },
    )
    .unwrap();
    s.put("a", 3, &[5u64; 100]).unwrap();
    s.close().unwrap();
    for p in [d.path(), dir.as_path()] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let before = snapshot(&dir);
    let out = run_child("readonly", &dir, false, 0);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(out.contains("READ 100"), "{out}");
    assert!(out.contains("EMPTY 0"), "{out}");
    let w = out
        .lines()
        .find_map(|l| l.find("WRITER ").map(|i| &l[i..]))
        .unwrap();
    assert!(w.starts_with("WRITER PermissionDenied "), "{w}");
    assert!(w.contains(dir.to_str().unwrap()), "{w}");
    assert_eq!(before, snapshot(&dir));
}
