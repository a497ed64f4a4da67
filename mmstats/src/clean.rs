//! The cleaner's policy: which stats files belong to processes that are
//! gone, decided without following links, without trusting other users'
//! files, and without removing a file that a writer still holds.
//!
//! A file is stale only when all of these hold: it is a regular file (a
//! symbolic link is never followed), it belongs to the user running the
//! cleaner, it reads as an mmstats file, no process holds the lock every
//! writer of this crate keeps on its file, and its process is provably
//! gone.
//!
//! Which process wrote a file, and whether it is gone, is told by the
//! file's [`Identity`] record when it has one (every
//! file of this crate): the process id, its PID namespace, its start time
//! and the boot. The process is gone when the record is of an earlier boot,
//! when no process has that id, when the process that has it started at
//! another time (the id was reused), when every one of its threads has
//! ended (a zombie: a process whose main thread has ended while another
//! thread runs is alive), or, seen from the initial PID namespace, when the
//! record's namespace has no process left. A file of another namespace that
//! cannot be judged so is kept. A file without the record (of the original
//! implementation) is judged by its `sys.pid` and `sys.created` fields: no
//! process has that pid, or all its threads have ended, or the process that
//! has it started after the file was created.
//!
//! ```no_run
//! use mmstats::clean::{examine, Verdict};
//! for path in mmstats::discover::candidates::<&str>(&[]).files {
//!     match examine(&path) {
//!         Verdict::Remove(stale) => {
//!             println!("{}: {}", path.display(), stale.reason());
//!             stale.remove(&path)?;
//!         }
//!         Verdict::Keep(why, detail) => println!("kept {}: {}: {detail}", path.display(), why.name()),
//!         Verdict::Gone => {}
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::file::{self, Identity, Owner, Seen};
use crate::reader::{self, Snapshot};

/// Why a file is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Its writer still runs (or holds its lock).
    Alive,
    /// It belongs to another user.
    NotOurs,
    /// It could not be opened or read.
    PermissionDenied,
    /// It is not an mmstats file (or not a regular file).
    NotMmstats,
    /// It is a symbolic link, which is never followed.
    Link,
    /// It does not say which process wrote it.
    Unknown,
    /// Something went wrong while looking at it.
    Failed,
}

impl Kept {
    /// Every reason, in the order the cleaner reports them.
    pub const ALL: [Kept; 7] = [
        Kept::Alive,
        Kept::NotOurs,
        Kept::PermissionDenied,
        Kept::NotMmstats,
        Kept::Link,
        Kept::Unknown,
        Kept::Failed,
    ];

    /// How the reason is shown.
    pub fn name(self) -> &'static str {
        match self {
            Kept::Alive => "alive",
            Kept::NotOurs => "not ours",
            Kept::PermissionDenied => "permission denied",
            Kept::NotMmstats => "not an mmstats file",
            Kept::Link => "symbolic link",
            Kept::Unknown => "owner unknown",
            Kept::Failed => "failed",
        }
    }
}

/// What to do with one file.
#[derive(Debug)]
pub enum Verdict {
    /// Stale: remove it (see [`Stale::remove`]).
    Remove(Stale),
    /// Keep it, for this reason, with a detail.
    Keep(Kept, String),
    /// It vanished while being looked at: nothing to report.
    Gone,
}

/// A stale file, held open and exclusively locked until it is removed, so
/// that no writer can take it over in between.
#[derive(Debug)]
pub struct Stale {
    reason: String,
    file: File,
    id: (u64, u64),
}

impl Stale {
    /// Why the file is stale.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Removes the file if `path` still names the same file (device and
    /// inode) that was examined; the lock goes with it, after the removal.
    pub fn remove(self, path: &Path) -> io::Result<()> {
        let result = remove(path, self.id);
        drop(self.file);
        result
    }
}

/// Margin for comparing a file's creation time with its process's start
/// time: the start time is known to a clock tick, the boot time it is
/// counted from to a second, and both move when the wall clock is set.
const START_TIME_SLACK: f64 = 2.0;

/// Files larger than this are not stats files (those are a few pages), and
/// are not read whole.
const MAX_STATS_FILE: u64 = 64 << 20;

/// Removes `path` if it is still the file `id` (device, inode) names.
///
/// Between the look and the removal another file can take the name only in
/// a directory where others may rename this user's files; the removal then
/// takes that name away, never following a link and never touching the
/// file a link points to.
fn remove(path: &Path, id: (u64, u64)) -> io::Result<()> {
    let now = std::fs::symlink_metadata(path)?;
    if (now.dev(), now.ino()) != id {
        return Err(io::Error::other("it was replaced while being examined"));
    }
    crate::file::race_point("clean: about to remove the file", path);
    std::fs::remove_file(path)
}

/// Looks at one file and decides whether it is stale.
pub fn examine(path: &Path) -> Verdict {
    let keep = |why, detail: &str| Verdict::Keep(why, detail.to_string());
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Verdict::Gone,
        Err(e) => return io_verdict(&e),
    };
    if meta.file_type().is_symlink() {
        return keep(Kept::Link, "links are never followed");
    }
    if !meta.is_file() {
        return keep(Kept::NotMmstats, "not a regular file");
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Verdict::Keep(
            Kept::NotOurs,
            format!("it belongs to user {}, not to user {me}", meta.uid()),
        );
    }
    if meta.len() > MAX_STATS_FILE {
        return keep(Kept::NotMmstats, "far too large for one");
    }
    crate::file::race_point("clean: looked at the file", path);
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let mut file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Verdict::Gone,
        Err(e) => return io_verdict(&e),
    };
    let opened = match file.metadata() {
        Ok(opened) => opened,
        Err(e) => return io_verdict(&e),
    };
    let id = (meta.dev(), meta.ino());
    if (opened.dev(), opened.ino()) != id || !opened.is_file() {
        return keep(Kept::Failed, "it was replaced while being examined");
    }
    // Read the bytes (a few pages) instead of mapping them: nothing another
    // process does to the file can then stop this one.
    let mut bytes = Vec::new();
    if let Err(e) = (&mut file).take(MAX_STATS_FILE).read_to_end(&mut bytes) {
        return io_verdict(&e);
    }
    let snapshot = match reader::read_bytes(&bytes) {
        Ok(snapshot) => snapshot,
        Err(e) => return Verdict::Keep(Kept::NotMmstats, refusal(&e)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return keep(Kept::Alive, "a writer holds its lock");
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Verdict::Keep(Kept::Failed, format!("cannot lock it: {e}"));
        }
    }
    let recorded = (bytes.len() as u64 == opened.len())
        .then(|| Identity::of_file(&bytes))
        .flatten();
    match stale(&snapshot, recorded.as_ref()) {
        Ok(reason) => Verdict::Remove(Stale { reason, file, id }),
        Err((why, detail)) => Verdict::Keep(why, detail),
    }
}

/// Why the reader refused a file, said without repeating "not an mmstats file".
fn refusal(error: &reader::ReadError) -> String {
    match error {
        reader::ReadError::Empty => "it is empty".into(),
        reader::ReadError::UnsupportedVersion { found } => {
            format!("its first byte is {found:#04x}, not the version byte 0x01")
        }
        other => format!("the reader refuses it: {other}"),
    }
}

fn io_verdict(e: &io::Error) -> Verdict {
    match e.kind() {
        io::ErrorKind::PermissionDenied => Verdict::Keep(Kept::PermissionDenied, e.to_string()),
        _ if e.raw_os_error() == Some(libc::ELOOP) => {
            Verdict::Keep(Kept::Link, "links are never followed".into())
        }
        _ => Verdict::Keep(Kept::Failed, e.to_string()),
    }
}

/// Whether the process that wrote a file is gone: `Ok(reason)` if so.
/// Called only once no writer holds the file's lock, which files of the
/// original implementation never take. `recorded` is the file's identity
/// record, if it has one.
fn stale(snapshot: &Snapshot, recorded: Option<&Identity>) -> Result<String, (Kept, String)> {
    let ours = Identity::current();
    if let Some(them) = recorded.filter(|r| r.is_complete() && ours.is_complete()) {
        return match file::judge(
            Some(them),
            &ours,
            file::look_up,
            file::namespace_has_processes,
        ) {
            Owner::Gone(reason) => Ok(reason),
            Owner::Ours => Err((Kept::Alive, "it is this process's own file".into())),
            Owner::Runs(reason) => Err((Kept::Alive, reason)),
            Owner::Unseen(reason) => Err((Kept::Unknown, reason)),
        };
    }
    stale_by_fields(snapshot)
}

/// [`stale`] for a file without a usable identity record: by its `sys.pid`
/// and `sys.created` fields.
fn stale_by_fields(snapshot: &Snapshot) -> Result<String, (Kept, String)> {
    let Some(pid) = snapshot.pid() else {
        return Err((
            Kept::Unknown,
            "it has no sys.pid field to tell its process by".into(),
        ));
    };
    let Some(raw) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return Err((Kept::Unknown, format!("its sys.pid {pid} is no process id")));
    };
    match rustix::process::test_kill_process(raw) {
        Err(rustix::io::Errno::SRCH) => return Ok(format!("process {pid} is gone")),
        Ok(()) | Err(rustix::io::Errno::PERM) => {}
        Err(e) => {
            return Err((
                Kept::Failed,
                format!("cannot tell whether process {pid} runs: {e}"),
            ))
        }
    }
    // A process that has exited but was not yet reaped by its parent still
    // answers to its pid; it has closed its files and will never write again.
    // Its main thread alone having ended (the leader is a zombie) is not
    // that: the process lives while any of its threads runs.
    if let Seen::Exists { alive: false, .. } = file::look_up(pid) {
        return Ok(format!("process {pid} has exited (not yet reaped)"));
    }
    let created = snapshot
        .stats
        .iter()
        .find(|s| s.label.ends_with("sys.created"))
        .and_then(|s| s.value.as_f64());
    match (created, process_start(pid)) {
        (Some(created), Some(started)) if created + START_TIME_SLACK < started => Ok(format!(
            "process {pid} is gone; its pid now belongs to a process that started {:.0} s after the file was created",
            started - created
        )),
        (Some(_), Some(_)) => Err((
            Kept::Alive,
            format!("process {pid} runs and started before the file was created"),
        )),
        _ => Err((
            Kept::Alive,
            format!("process {pid} runs (its start time or the file's creation time is unknown)"),
        )),
    }
}

/// The state letter of process `pid` (field 3 of `/proc/<pid>/stat`: `R`,
/// `S`, `Z` for a zombie, ...).
#[cfg(test)]
fn process_state(pid: u32) -> Option<char> {
    file::proc_stat(Path::new(&format!("/proc/{pid}/stat"))).map(|s| s.state)
}

/// When process `pid` started, in Unix seconds: its start time in clock
/// ticks after boot (`/proc/<pid>/stat`, field 22) plus the boot time
/// (`btime` in `/proc/stat`).
fn process_start(pid: u32) -> Option<f64> {
    let stat = file::proc_stat(Path::new(&format!("/proc/{pid}/stat")))?;
    let ticks = stat.start_ticks as f64;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: f64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let hz = rustix::param::clock_ticks_per_second();
    if hz == 0 {
        return None;
    }
    Some(btime + ticks / hz as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_in_the_past_and_after_boot() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = process_start(std::process::id()).unwrap();
        assert!(started <= now + START_TIME_SLACK, "{started} > {now}");
        assert!(started > now - 86400.0 * 365.0, "{started}");
        assert_eq!(process_start(u32::MAX), None);
        assert!(process_state(std::process::id()).is_some_and(|s| s != 'Z'));
    }

    /// The bytes of a file whose `sys.pid` is `pid`.
    fn file_of(pid: u32) -> Vec<u8> {
        let mut b = vec![1u8];
        let label = b"sys.pid";
        b.extend_from_slice(&(label.len() as u16).to_ne_bytes());
        b.extend_from_slice(label);
        b.extend_from_slice(&1u16.to_ne_bytes());
        b.push(b'I');
        b.push(0xFF);
        b.extend_from_slice(&pid.to_ne_bytes());
        b.extend_from_slice(&[0, 0]);
        b
    }

    /// The bytes of a file with the given fields (label, type, value), each
    /// with the unbuffered write-buffer byte, and the end marker.
    fn file_with(fields: &[(&str, u8, &[u8])]) -> Vec<u8> {
        let mut b = vec![1u8];
        for (label, ty, value) in fields {
            b.extend_from_slice(&(label.len() as u16).to_ne_bytes());
            b.extend_from_slice(label.as_bytes());
            b.extend_from_slice(&1u16.to_ne_bytes());
            b.push(*ty);
            b.push(0xFF);
            b.extend_from_slice(value);
        }
        b.extend_from_slice(&[0, 0]);
        b
    }

    /// A file of process `pid` created at `created` (Unix seconds).
    fn file_created(pid: u32, created: f64) -> Vec<u8> {
        file_with(&[
            ("sys.pid", b'I', &pid.to_ne_bytes()),
            ("sys.created", b'd', &created.to_ne_bytes()),
        ])
    }

    fn kept(verdict: &Verdict) -> (Kept, &str) {
        match verdict {
            Verdict::Keep(why, detail) => (*why, detail.as_str()),
            other => panic!("kept, not {other:?}"),
        }
    }

    /// A pid that no process has: a child's, once reaped.
    fn gone_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn swap_for_link(path: &Path, target: &Path) {
        std::fs::remove_file(path).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    }

    #[test]
    fn a_link_swapped_in_after_the_look_is_refused_by_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.mmstats");
        let victim = dir.path().join("victim.mmstats");
        std::fs::write(&path, file_of(gone_pid())).unwrap();
        std::fs::write(&victim, file_of(gone_pid())).unwrap();
        let (swap, target) = (path.clone(), victim.clone());
        let verdict = crate::file::testing::with_race_hook(
            move |step, at| {
                if step == "clean: looked at the file" && at == swap {
                    swap_for_link(&swap, &target);
                }
            },
            || examine(&path),
        );
        assert!(
            matches!(verdict, Verdict::Keep(Kept::Link, _)),
            "{verdict:?}"
        );
        assert!(victim.exists());
        assert_eq!(std::fs::read_link(&path).unwrap(), victim);
    }

    #[test]
    fn a_link_swapped_in_before_the_removal_is_removed_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale.mmstats");
        let victim = dir.path().join("victim.mmstats");
        std::fs::write(&path, file_of(gone_pid())).unwrap();
        std::fs::write(&victim, b"precious").unwrap();
        let Verdict::Remove(stale) = examine(&path) else {
            panic!("a file of a gone process is stale")
        };
        let (swap, target) = (path.clone(), victim.clone());
        crate::file::testing::with_race_hook(
            move |step, at| {
                if step == "clean: about to remove the file" && at == swap {
                    swap_for_link(&swap, &target);
                }
            },
            || stale.remove(&path).unwrap(),
        );
        assert!(std::fs::symlink_metadata(&path).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_zombie_counts_as_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: wait until it has exited and is a zombie.
        let mut tries = 0;
        while process_state(pid) != Some('Z') {
            tries += 1;
            assert!(tries < 10_000, "process {pid} never became a zombie");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let bytes = {
            let mut b = vec![1u8];
            let label = b"sys.pid";
            b.extend_from_slice(&(label.len() as u16).to_ne_bytes());
            b.extend_from_slice(label);
            b.extend_from_slice(&1u16.to_ne_bytes());
            b.push(b'I');
            b.push(0xFF);
            b.extend_from_slice(&pid.to_ne_bytes());
            b.extend_from_slice(&[0, 0]);
            b
        };
        let snapshot = reader::read_bytes(&bytes).unwrap();
        assert_eq!(snapshot.pid(), Some(pid));
        let reason = stale(&snapshot, None).unwrap();
        assert!(reason.contains("has exited"), "{reason}");
        child.wait().unwrap();
    }

    #[test]
    fn every_reason_has_a_name_of_its_own() {
        let names: std::collections::HashSet<_> = Kept::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kept::ALL.len(), "{names:?}");
        assert_eq!(Kept::Link.name(), "symbolic link");
        assert_eq!(Kept::NotOurs.name(), "not ours");
    }

    #[test]
    fn a_file_of_a_gone_process_is_stale_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.mmstats");
        let pid = gone_pid();
        std::fs::write(&path, file_of(pid)).unwrap();
        let Verdict::Remove(stale) = examine(&path) else {
            panic!("a file of a gone process is stale")
        };
        assert_eq!(stale.reason(), format!("process {pid} is gone"));
        stale.remove(&path).unwrap();
        assert!(std::fs::symlink_metadata(&path).is_err());
    }

    #[test]
    fn a_file_replaced_after_the_look_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale.mmstats");
        let other = dir.path().join("other.mmstats");
        std::fs::write(&path, file_of(gone_pid())).unwrap();
        std::fs::write(&other, b"another file").unwrap();
        let Verdict::Remove(stale) = examine(&path) else {
            panic!("a file of a gone process is stale")
        };
        std::fs::rename(&other, &path).unwrap();
        let e = stale.remove(&path).unwrap_err();
        assert!(e.to_string().contains("replaced"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"another file");
    }

    #[test]
    fn a_file_replaced_between_the_look_and_the_open_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.mmstats");
        let other = dir.path().join("other.mmstats");
        std::fs::write(&path, file_of(gone_pid())).unwrap();
        std::fs::write(&other, file_of(gone_pid())).unwrap();
        let (swap, with) = (path.clone(), other.clone());
        let verdict = crate::file::testing::with_race_hook(
            move |step, at| {
                if step == "clean: looked at the file" && at == swap {
                    std::fs::rename(&with, &swap).unwrap();
                }
            },
            || examine(&path),
        );
        assert_eq!(
            kept(&verdict),
            (Kept::Failed, "it was replaced while being examined")
        );
        assert!(path.exists());
    }

    #[test]
    fn a_fifo_swapped_in_after_the_look_does_not_block_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo.mmstats");
        std::fs::write(&path, file_of(gone_pid())).unwrap();
        let (done, verdict) = std::sync::mpsc::channel();
        let swap = path.clone();
        // In a thread of its own: an open that blocks (no writer will ever
        // open the FIFO) fails the test instead of hanging it.
        std::thread::spawn(move || {
            let verdict = crate::file::testing::with_race_hook(
                |step, at| {
                    if step == "clean: looked at the file" {
                        std::fs::remove_file(at).unwrap();
                        let made = std::process::Command::new("mkfifo").arg(at).status();
                        assert!(made.unwrap().success());
                    }
                },
                || examine(&swap),
            );
            done.send(verdict).unwrap();
        });
        let verdict = verdict
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the open of a FIFO blocked");
        assert_eq!(
            kept(&verdict),
            (Kept::Failed, "it was replaced while being examined")
        );
    }

    #[test]
    fn a_file_that_vanishes_is_gone_before_or_after_the_look() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vanishing.mmstats");
        assert!(matches!(examine(&path), Verdict::Gone));
        std::fs::write(&path, file_of(gone_pid())).unwrap();
        let gone = path.clone();
        let verdict = crate::file::testing::with_race_hook(
            move |step, at| {
                if step == "clean: looked at the file" && at == gone {
                    std::fs::remove_file(&gone).unwrap();
                }
            },
            || examine(&path),
        );
        assert!(matches!(verdict, Verdict::Gone), "{verdict:?}");
    }

    #[test]
    fn what_cannot_be_looked_at_is_kept_as_failed() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        // A path through a regular file: ENOTDIR, neither gone nor a link.
        let verdict = examine(&plain.join("below.mmstats"));
        assert_eq!(kept(&verdict).0, Kept::Failed, "{verdict:?}");
    }

    #[test]
    fn a_directory_is_not_an_mmstats_file() {
        let dir = tempfile::tempdir().unwrap();
        let verdict = examine(dir.path());
        assert_eq!(kept(&verdict), (Kept::NotMmstats, "not a regular file"));
    }

    #[test]
    fn a_file_larger_than_any_stats_file_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.mmstats");
        let file = File::create(&path).unwrap();
        // Sparse: the largest size still read is read (its zero version
        // byte is refused), one byte more is not.
        file.set_len(MAX_STATS_FILE).unwrap();
        let verdict = examine(&path);
        assert_eq!(
            kept(&verdict),
            (
                Kept::NotMmstats,
                "its first byte is 0x00, not the version byte 0x01"
            )
        );
        file.set_len(MAX_STATS_FILE + 1).unwrap();
        let verdict = examine(&path);
        assert_eq!(kept(&verdict), (Kept::NotMmstats, "far too large for one"));
    }

    #[test]
    fn a_refused_file_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("refused.mmstats");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(kept(&examine(&path)), (Kept::NotMmstats, "it is empty"));
        std::fs::write(&path, [2u8, 0, 0]).unwrap();
        assert_eq!(
            kept(&examine(&path)),
            (
                Kept::NotMmstats,
                "its first byte is 0x02, not the version byte 0x01"
            )
        );
    }

    #[test]
    fn errors_are_kept_under_their_reason() {
        let error = |code| io::Error::from_raw_os_error(code);
        assert_eq!(
            kept(&io_verdict(&error(libc::EACCES))).0,
            Kept::PermissionDenied
        );
        assert_eq!(
            kept(&io_verdict(&error(libc::ELOOP))),
            (Kept::Link, "links are never followed")
        );
        assert_eq!(kept(&io_verdict(&error(libc::EIO))).0, Kept::Failed);
    }

    #[test]
    fn a_file_of_this_process_is_kept_by_its_record_or_its_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("own.mmstats");
        // Its identity record is this process's, its sys.pid a gone one: the
        // record decides.
        let mut bytes = file_of(gone_pid());
        bytes.extend_from_slice(&Identity::current().to_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            kept(&examine(&path)),
            (Kept::Alive, "it is this process's own file")
        );
        // No record: its sys.pid, this process's, decides.
        std::fs::write(&path, file_of(std::process::id())).unwrap();
        assert_eq!(kept(&examine(&path)).0, Kept::Alive);
    }

    #[test]
    fn an_incomplete_record_is_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incomplete.mmstats");
        let pid = gone_pid();
        let mut bytes = file_of(pid);
        let record = Identity {
            pid_namespace: 0,
            ..Identity::current()
        };
        bytes.extend_from_slice(&record.to_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let Verdict::Remove(stale) = examine(&path) else {
            panic!("judged by its sys.pid, a gone process's")
        };
        assert_eq!(stale.reason(), format!("process {pid} is gone"));
    }

    #[test]
    fn a_running_pid_is_stale_only_if_it_started_after_the_file_was_created() {
        let pid = std::process::id();
        let started = process_start(pid).unwrap();
        let judge = |created: f64| {
            stale(
                &reader::read_bytes(&file_created(pid, created)).unwrap(),
                None,
            )
        };
        let reason = judge(started - START_TIME_SLACK - 1.0).unwrap();
        assert!(
            reason.contains("now belongs to a process that started 3 s after"),
            "{reason}"
        );
        // Within the slack, and after the start: the process runs.
        for created in [started - 1.0, started + 1.0, started + 1000.0] {
            let (why, detail) = judge(created).unwrap_err();
            assert_eq!(why, Kept::Alive);
            assert!(
                detail.contains("started before the file was created"),
                "{detail}"
            );
        }
    }

    #[test]
    fn a_start_time_is_when_the_process_started() {
        let unix_now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        };
        let before = unix_now();
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let after = unix_now();
        let started = process_start(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        let started = started.unwrap();
        // The boot time is known to a second, the start to a clock tick.
        assert!(
            before - START_TIME_SLACK <= started && started <= after + START_TIME_SLACK,
            "{before} {started} {after}"
        );
    }
}
