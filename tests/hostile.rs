//! A hostile file system: a full disk, a read-only directory, tmpfs and disk,
//! many threads and many files. Each case gives a typed error or works, and
//! never leaves a half-written file behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{dir_entries, AllTypes};
use mmstats::reader::{self, Value};
use mmstats::{Counter, Error, MmStats};

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    /// Needs root; fails (never skips) without it.
    fn tmpfs(options: &str) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("the mount command");
        assert!(
            status.success(),
            "mount -o {options} failed: this test needs root"
        );
        Mount { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
#[ignore = "needs root, to mount a small tmpfs"]
fn a_full_disk_is_a_typed_error_and_leaves_nothing_behind() {
    let mount = Mount::tmpfs("size=64k");
    // Fill the file system, keeping a file whose content must survive.
    let keep = mount.path().join("keep.dat");
    std::fs::write(&keep, vec![7u8; 4096]).unwrap();
    let mut n = 0;
    while std::fs::write(mount.path().join(format!("fill{n}")), vec![0u8; 4096]).is_ok() {
        n += 1;
    }
    let before = dir_entries(mount.path());
    let err = AllTypes::builder()
        .dir(mount.path())
        .file("full.mmstats")
        .create()
        .unwrap_err();
    match &err {
        Error::Io { source, path, .. } => {
            assert!(path.starts_with(mount.path()), "{err}");
            let code = source.raw_os_error();
            assert!(
                code == Some(libc::ENOSPC) || code == Some(libc::EFBIG),
                "{err}"
            );
        }
        other => panic!("expected an I/O error, got {other}"),
    }
    // No stats file, no temporary file; the other file is intact.
    assert_eq!(dir_entries(mount.path()), before);
    assert_eq!(std::fs::read(&keep).unwrap(), vec![7u8; 4096]);

    // Once there is room, the same call works, and its file reads back.
    for i in 0..n {
        std::fs::remove_file(mount.path().join(format!("fill{i}"))).unwrap();
    }
    let stats = AllTypes::builder()
        .dir(mount.path())
        .file("full.mmstats")
        .create()
        .unwrap();
    stats.apply_golden_updates();
    let snapshot = reader::read_path(stats.path().unwrap()).unwrap();
    assert_eq!(snapshot.get("counter").unwrap().value, Value::Unsigned(10));
}

#[test]
#[ignore = "needs root, to mount a read-only tmpfs"]
fn a_read_only_directory_is_a_typed_error_naming_it() {
    let mount = Mount::tmpfs("ro,size=64k");
    let err = AllTypes::builder().dir(mount.path()).create().unwrap_err();
    let Error::Io { path, source, .. } = &err else {
        panic!("expected an I/O error, got {err}")
    };
    assert_eq!(source.raw_os_error(), Some(libc::EROFS), "{err}");
    assert!(path.starts_with(mount.path()), "{err}");
    assert!(
        err.to_string()
            .contains(&mount.path().display().to_string()),
        "{err}"
    );
}

#[test]
#[ignore = "needs root, to mount a tmpfs"]
fn tmpfs_and_disk_directories_behave_the_same() {
    let mount = Mount::tmpfs("size=1m");
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    for dir in [mount.path(), disk.path()] {
        let stats = AllTypes::builder()
            .dir(dir)
            .file("same.mmstats")
            .create()
            .unwrap();
        stats.apply_golden_updates();
        stats.flush().unwrap();
        let snapshot = reader::read_path(stats.path().unwrap()).unwrap();
        assert_eq!(snapshot.stats.len(), common::all_types_expected().len());
        assert_eq!(
            snapshot.get("string").unwrap().value,
            Value::Text("hello, mmstats".into())
        );
        let removed = stats.remove().unwrap();
        assert_eq!(removed, [dir.join("same.mmstats")]);
        assert!(dir_entries(dir).is_empty());
    }
}

#[derive(MmStats)]
#[mmstats(prefix = "many.")]
struct Many {
    n: Counter,
}

#[test]
fn sixty_four_threads_each_write_their_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let template = "many-{PID}-{TID}.mmstats".to_string();
    let handles: Vec<_> = (0..64u64)
        .map(|i| {
            let (dir, template) = (dir.path().to_path_buf(), template.clone());
            std::thread::spawn(move || {
                let stats = Many::builder().dir(dir).file(template).create().unwrap();
                for _ in 0..1000 + i {
                    stats.n.incr();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let files = common::stats_files(dir.path());
    assert_eq!(files.len(), 64);
    let total: u64 = files
        .iter()
        .map(
            |f| match reader::read_path(f).unwrap().get("many.n").unwrap().value {
                Value::Unsigned(n) => n,
                ref other => panic!("{other:?}"),
            },
        )
        .sum();
    assert_eq!(total, (0..64).map(|i| 1000 + i).sum::<u64>());
}

/// The process's open file descriptors on files under `dir` (other tests of
/// this binary open descriptors of their own in parallel).
fn open_fds(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(dir)))
        .count()
}

#[test]
fn a_thousand_files_open_at_once_and_readers_hold_no_descriptors() {
    // Each live writer keeps one descriptor for its lock; make room for a
    // thousand of them within the hard limit.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to an rlimit for the call to fill in.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    assert!(
        limit.rlim_max >= 1200,
        "the hard limit on open files is {}",
        limit.rlim_max
    );
    limit.rlim_cur = limit.rlim_cur.max(1200);
    // SAFETY: a valid rlimit, within the hard limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);

    let dir = tempfile::tempdir().unwrap();
    let before = open_fds(dir.path());
    let all: Vec<_> = (0..1000)
        .map(|i| {
            let stats = Many::builder()
                .dir(dir.path())
                .file(format!("f{i:04}.mmstats"))
                .create()
                .unwrap();
            stats.n.incr_by(i);
            stats
        })
        .collect();
    assert_eq!(
        open_fds(dir.path()) - before,
        1000,
        "one descriptor per live writer"
    );

    // Reading every file, once or mapped for repeated reads, keeps no
    // descriptor open.
    let paths: Vec<PathBuf> = common::stats_files(dir.path());
    assert_eq!(paths.len(), 1000);
    let during = open_fds(dir.path());
    let mut sum = 0;
    let mapped: Vec<_> = paths
        .iter()
        .map(|p| reader::MappedFile::open(p).unwrap())
        .collect();
    for file in &mapped {
        if let Value::Unsigned(n) = file.read().unwrap().get("many.n").unwrap().value {
            sum += n;
        }
    }
    assert_eq!(
        open_fds(dir.path()),
        during,
        "mapped files hold no descriptors"
    );
    assert_eq!(sum, (0..1000).sum::<u64>());
    drop(mapped);
    drop(all);
    assert_eq!(open_fds(dir.path()), before);
}

/// What a local user plants before a writer starts: a regular file or a
/// link at each name.
#[derive(Debug)]
enum Planted {
    File(PathBuf, Vec<u8>),
    Link(PathBuf, PathBuf),
}

impl Planted {
    fn plant(path: PathBuf, i: usize, victim: &Path) -> Planted {
        if i.is_multiple_of(2) {
            let content = format!("planted {i}\n").into_bytes();
            std::fs::write(&path, &content).unwrap();
            Planted::File(path, content)
        } else {
            std::os::unix::fs::symlink(victim, &path).unwrap();
            Planted::Link(path, victim.to_path_buf())
        }
    }

    fn assert_untouched(&self) {
        match self {
            Planted::File(path, content) => {
                assert_eq!(&std::fs::read(path).unwrap(), content, "{}", path.display())
            }
            Planted::Link(path, target) => {
                assert_eq!(
                    &std::fs::read_link(path).unwrap(),
                    target,
                    "{}",
                    path.display()
                )
            }
        }
    }
}

#[test]
fn no_set_of_planted_names_stops_a_writer_or_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.mmstats");
    std::fs::write(&victim, b"precious\n").unwrap();
    let name = "planted.mmstats";
    let (pid, tid) = (std::process::id(), mmstats::file::thread_id());
    let mut planted = Vec::new();
    // Every temporary name the writer could once predict:
    // `.<name>.<pid>.<tid>.<sequence>.tmp`, for any sequence this process
    // may have reached, ...
    for seq in 0..2000 {
        let path = dir.path().join(format!(".{name}.{pid}.{tid}.{seq}.tmp"));
        planted.push(Planted::plant(path, seq, &victim));
    }
    // ... and the final name's neighbours.
    let neighbours = [
        format!(".{name}"),
        format!(".{name}.tmp"),
        format!("{name}.tmp"),
        format!("{name}~"),
        format!(".{name}.{pid}.tmp"),
        format!(".{name}.{pid}.{tid}.tmp"),
        format!("planted-{pid}-{tid}.mmstats"),
        format!("planted-{pid}-{}.mmstats", tid + 1),
    ];
    for (i, neighbour) in neighbours.iter().enumerate() {
        planted.push(Planted::plant(dir.path().join(neighbour), i, &victim));
    }
    let before = dir_entries(dir.path()).len();

    let stats = Many::builder()
        .dir(dir.path())
        .file(name)
        .create()
        .expect("no planted name stops the writer");
    stats.n.incr_by(7);
    let path = stats.path().unwrap().to_path_buf();
    assert_eq!(path, dir.path().join(name));
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.is_file());
    let snapshot = reader::read_path(&path).unwrap();
    assert_eq!(snapshot.get("many.n").unwrap().value, Value::Unsigned(7));
    // Nothing planted was touched, nothing was written through a link, and
    // the only new entry is the stats file (its temporary name is gone).
    for p in &planted {
        p.assert_untouched();
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
    assert_eq!(dir_entries(dir.path()).len(), before + 1);
}
