//! Naming stats files, creating them safely, and removing them.
//!
//! A file is made in four steps, so that no reader ever sees it half built
//! and no planted file or link is ever written through:
//!
//! 1. Look at what is at the final path without following links. Nothing is
//!    fine. An mmstats file of this user that no live writer holds is taken
//!    over when its [`Identity`] record says whose it is: a file of this very
//!    process (a finished thread's, whose thread id was given to a new
//!    thread) is continued, its counters keeping their totals; a file of a
//!    process that is gone is replaced. Anything else (a link, a directory,
//!    another user's file, a live writer's file, a file that is not an
//!    mmstats file, a file of a process that may still run, such as one in
//!    another PID namespace) is an error and is left untouched.
//! 2. Create a new file under a hidden temporary name in the same directory
//!    that holds 64 random bits, with `O_CREAT | O_EXCL | O_NOFOLLOW` and an
//!    explicit mode, trying another random name if one is taken; then
//!    reserve its blocks, so that a full disk is an error now and not a crash
//!    later. No name can be planted in advance.
//! 3. Map it and write every header, static value and the identity record.
//! 4. Give it its final name: a hard link, which never replaces anything,
//!    or a rename over the file of step 1, still locked. Check that the
//!    final name is this file, and remove the temporary name.
//!
//! The writer keeps the file open with a shared `flock` for its whole life,
//! so a cleaner can tell a live writer's file from a dead one's.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::Error;
use crate::format::VERSION;
use crate::map::Region;
use crate::reader::{self, Snapshot};

/// The environment variable naming the directory of stats files.
pub const ENV_PATH: &str = "MMSTATS_PATH";
/// The environment variable holding the file name template.
pub const ENV_FILES: &str = "MMSTATS_FILES";
/// The environment variable holding the glob that readers scan.
pub const ENV_GLOB: &str = "MMSTATS_GLOB";
/// The file name template used when neither code nor environment sets one.
pub const DEFAULT_FILE_TEMPLATE: &str = "{CMD}-{PID}-{TID}-{MODEL}.mmstats";
/// The permission bits of a new stats file unless configured.
pub const DEFAULT_MODE: u32 = 0o644;
/// The RAM-backed directory that is the default where it is a tmpfs.
pub const RAM_DIR: &str = "/dev/shm";

/// `statfs` type of tmpfs (`TMPFS_MAGIC`).
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// `statfs` type of ramfs (`RAMFS_MAGIC`).
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// The directory for stats files: `MMSTATS_PATH`, else [`RAM_DIR`]
/// (`/dev/shm`) when it is RAM-backed (a tmpfs), else the system's
/// temporary directory.
///
/// Writers and readers use the same default, so tools find the files
/// without settings. Why RAM: a file on a disk is written back by the
/// kernel now and then, and each write-back makes the writer's next store
/// to a page go through the file system (a page fault); on a tmpfs it never
/// does (see the book's Files chapter).
pub fn default_dir() -> PathBuf {
    match std::env::var_os(ENV_PATH) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => ram_dir().unwrap_or_else(std::env::temp_dir),
    }
}

/// [`RAM_DIR`] if it is a directory on a RAM-backed file system.
pub fn ram_dir() -> Option<PathBuf> {
    let dir = Path::new(RAM_DIR);
    (dir.is_dir() && is_ram_backed(dir)).then(|| dir.to_path_buf())
}

/// Whether `dir` is on a file system that lives in memory only (tmpfs or
/// ramfs), where the kernel never writes pages back to a disk.
pub fn is_ram_backed(dir: &Path) -> bool {
    rustix::fs::statfs(dir).is_ok_and(|fs| {
        // The word is i64 on some targets and narrower on others.
        #[allow(clippy::useless_conversion)]
        let kind = i64::from(fs.f_type);
        kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
    })
}

/// [`default_dir`] for a writer: says once on standard error when the
/// default is not RAM-backed (no `MMSTATS_PATH`, no tmpfs at `/dev/shm`).
pub(crate) fn default_dir_for_writer() -> PathBuf {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let dir = default_dir();
    let from_env = std::env::var_os(ENV_PATH).is_some_and(|d| !d.is_empty());
    if !from_env && !is_ram_backed(&dir) && !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "mmstats: {RAM_DIR} is not a tmpfs, so stats files go to {}, which is not in memory: \
             the kernel's write-back can then make updates wait for the file system; \
             set {ENV_PATH} to a tmpfs directory",
            dir.display()
        );
    }
    dir
}

/// The file name template: `MMSTATS_FILES`, else
/// `{CMD}-{PID}-{TID}-{MODEL}.mmstats`.
pub fn default_file_template() -> String {
    match std::env::var(ENV_FILES) {
        Ok(template) if !template.is_empty() => template,
        _ => DEFAULT_FILE_TEMPLATE.to_string(),
    }
}

/// The glob readers scan: `MMSTATS_GLOB`, else `<directory>/*.mmstats`
/// with the directory of [`default_dir`].
pub fn default_glob() -> String {
    match std::env::var(ENV_GLOB) {
        Ok(glob) if !glob.is_empty() => glob,
        _ => default_dir()
            .join("*.mmstats")
            .to_string_lossy()
            .into_owned(),
    }
}

/// The values substituted into a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vars {
    /// `{CMD}`: the program's file name.
    pub cmd: String,
    /// `{PID}`: the process id.
    pub pid: u32,
    /// `{TID}`: the operating system's id of the calling thread.
    pub tid: i64,
    /// `{MODEL}`: the name of the model the file is for
    /// ([`Model::short_name`](crate::stats::Model::short_name)); empty
    /// where there is none.
    pub model: String,
    /// The inode number of the process's PID namespace, if known. When it
    /// is not the initial namespace's ([`INITIAL_PID_NAMESPACE`]), as in a
    /// container, `{PID}` becomes `ns<inode>-<pid>`: process ids are only
    /// unique within a namespace, and two containers sharing a directory
    /// both have a process 1.
    pub pid_namespace: Option<u64>,
}

impl Vars {
    /// The values for the calling thread.
    pub fn current() -> Vars {
        let identity = Identity::current();
        Vars {
            cmd: program_name(),
            pid: std::process::id(),
            tid: thread_id(),
            model: String::new(),
            pid_namespace: (identity.pid_namespace != 0).then_some(identity.pid_namespace),
        }
    }

    /// What `{PID}` stands for: the process id, qualified by the PID
    /// namespace when that is not the initial one.
    pub fn pid_text(&self) -> String {
        match self.pid_namespace {
            Some(ns) if ns != INITIAL_PID_NAMESPACE => format!("ns{ns}-{}", self.pid),
            _ => self.pid.to_string(),
        }
    }
}

/// The operating system's id of the calling thread.
pub fn thread_id() -> i64 {
    i64::from(rustix::thread::gettid().as_raw_nonzero().get())
}

/// The program's file name, as `{CMD}` substitutes it.
pub fn program_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Substitutes `{CMD}`, `{PID}`, `{TID}` and `{MODEL}` in `template`.
///
/// `{{` and `}}` stand for literal braces; any other `{...}` is an error.
/// `{PID}` is [`Vars::pid_text`].
pub fn expand(template: &str, vars: &Vars) -> Result<String, Error> {
    expand_with(template, vars, None)
}

fn expand_with(template: &str, vars: &Vars, tid: Option<&str>) -> Result<String, Error> {
    let bad = |reason: String| Error::Template {
        template: template.to_string(),
        reason,
    };
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            return Err(bad("a lone `}` (write `}}` for a brace)".to_string()));
        } else {
            let close = tail
                .find('}')
                .ok_or_else(|| bad("a `{` is never closed (write `{{` for a brace)".to_string()))?;
            match &tail[1..close] {
                "CMD" => out.push_str(&vars.cmd),
                "PID" => out.push_str(&vars.pid_text()),
                "MODEL" => out.push_str(&vars.model),
                "TID" => match tid {
                    Some(pattern) => out.push_str(pattern),
                    None => out.push_str(&vars.tid.to_string()),
                },
                other => {
                    return Err(bad(format!(
                    "unknown placeholder `{{{other}}}`; use {{CMD}}, {{PID}}, {{TID}} or {{MODEL}}"
                )))
                }
            }
            rest = &tail[close + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The inode number of the initial PID namespace, the one a machine boots
/// with (`PROC_PID_INIT_INO` in Linux): a process in any other (a container)
/// sees a different number at `/proc/self/ns/pid`.
pub const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;

/// Bytes of the identity record at the end of every file this crate writes.
pub const IDENTITY_SIZE: usize = 64;

/// The first bytes of the identity record.
pub const IDENTITY_MAGIC: [u8; 8] = *b"mmstatID";

/// The version of the identity record's layout.
const IDENTITY_VERSION: u8 = 1;

/// Which process wrote a file: the identity record in the last
/// [`IDENTITY_SIZE`] bytes of every file this crate writes, after the field
/// list and the metadata block (where readers of the format never look).
///
/// | offset | bytes | |
/// | --- | --- | --- |
/// | 0 | 8 | [`IDENTITY_MAGIC`] |
/// | 8 | 1 | version, 1 |
/// | 9 | 3 | zero |
/// | 12 | 4 | process id (in its namespace), native byte order |
/// | 16 | 8 | inode of its PID namespace, 0 if unknown |
/// | 24 | 8 | its start time in clock ticks after boot (`/proc/<pid>/stat` field 22), 0 if unknown |
/// | 32 | 16 | the boot id (`/proc/sys/kernel/random/boot_id`), zero if unknown |
/// | 48 | 16 | zero, reserved |
///
/// Together these name one process of one boot exactly: process ids are
/// reused, and are only unique within a namespace. A writer continues a
/// finished thread's file only if its record is the writer's own process,
/// replaces it only if that process is provably gone, and `clean` judges
/// files by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The process id, as the process saw it.
    pub pid: u32,
    /// The inode number of the process's PID namespace; 0 if unknown.
    pub pid_namespace: u64,
    /// The process's start time in clock ticks after boot; 0 if unknown.
    pub start_ticks: u64,
    /// The boot id of the machine; all zero if unknown.
    pub boot_id: [u8; 16],
}

/// The calling process's identity, cached: the pid it was computed for,
/// 0 when not yet (a forked child has another pid, so computes its own).
static CACHED_PID: AtomicU32 = AtomicU32::new(0);
static CACHED_NAMESPACE: AtomicU64 = AtomicU64::new(0);
static CACHED_START: AtomicU64 = AtomicU64::new(0);
static CACHED_BOOT: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

impl Identity {
    /// The calling process's identity, from `/proc` (read once per process).
    pub fn current() -> Identity {
        let pid = std::process::id();
        if CACHED_PID.load(Ordering::Acquire) == pid {
            let boot = [
                CACHED_BOOT[0].load(Ordering::Relaxed).to_ne_bytes(),
                CACHED_BOOT[1].load(Ordering::Relaxed).to_ne_bytes(),
            ];
            let mut boot_id = [0u8; 16];
            boot_id[..8].copy_from_slice(&boot[0]);
            boot_id[8..].copy_from_slice(&boot[1]);
            return Identity {
                pid,
                pid_namespace: CACHED_NAMESPACE.load(Ordering::Relaxed),
                start_ticks: CACHED_START.load(Ordering::Relaxed),
                boot_id,
            };
        }
        let identity = Identity {
            pid,
            pid_namespace: own_pid_namespace().unwrap_or(0),
            start_ticks: proc_stat(Path::new("/proc/self/stat")).map_or(0, |s| s.start_ticks),
            boot_id: boot_id().unwrap_or([0; 16]),
        };
        // Every thread computes the same values: a race only stores them twice.
        CACHED_NAMESPACE.store(identity.pid_namespace, Ordering::Relaxed);
        CACHED_START.store(identity.start_ticks, Ordering::Relaxed);
        let (low, high) = identity.boot_id.split_at(8);
        for (cell, half) in CACHED_BOOT.iter().zip([low, high]) {
            let mut word = [0u8; 8];
            word.copy_from_slice(half);
            cell.store(u64::from_ne_bytes(word), Ordering::Relaxed);
        }
        CACHED_PID.store(pid, Ordering::Release);
        identity
    }

    /// Whether every part is known: only then can it be compared exactly.
    pub fn is_complete(&self) -> bool {
        self.pid_namespace != 0 && self.start_ticks != 0 && self.boot_id != [0; 16]
    }

    /// The record as written at the end of a file.
    pub fn to_bytes(&self) -> [u8; IDENTITY_SIZE] {
        let mut out = [0u8; IDENTITY_SIZE];
        out[..8].copy_from_slice(&IDENTITY_MAGIC);
        out[8] = IDENTITY_VERSION;
        out[12..16].copy_from_slice(&self.pid.to_ne_bytes());
        out[16..24].copy_from_slice(&self.pid_namespace.to_ne_bytes());
        out[24..32].copy_from_slice(&self.start_ticks.to_ne_bytes());
        out[32..48].copy_from_slice(&self.boot_id);
        out
    }

    /// Reads a record: exactly [`IDENTITY_SIZE`] bytes that start with
    /// [`IDENTITY_MAGIC`] and this version.
    pub fn from_bytes(record: &[u8]) -> Option<Identity> {
        let record: &[u8; IDENTITY_SIZE] = record.try_into().ok()?;
        let (head, rest) = record.split_first_chunk::<8>()?;
        if *head != IDENTITY_MAGIC || rest.first() != Some(&IDENTITY_VERSION) {
            return None;
        }
        let word = |at: usize| -> Option<u64> {
            Some(u64::from_ne_bytes(
                *record.get(at..at + 8)?.first_chunk::<8>()?,
            ))
        };
        let mut boot_id = [0u8; 16];
        boot_id.copy_from_slice(record.get(32..48)?);
        Some(Identity {
            pid: u32::from_ne_bytes(*record.get(12..16)?.first_chunk::<4>()?),
            pid_namespace: word(16)?,
            start_ticks: word(24)?,
            boot_id,
        })
    }

    /// The record at the end of a whole file's bytes, if it has one.
    pub fn of_file(bytes: &[u8]) -> Option<Identity> {
        let start = bytes.len().checked_sub(IDENTITY_SIZE)?;
        Identity::from_bytes(bytes.get(start..)?)
    }

    /// The record at the end of an open file, if it has one.
    fn of_open_file(file: &File, len: u64) -> Option<Identity> {
        let at = len.checked_sub(IDENTITY_SIZE as u64)?;
        let mut record = [0u8; IDENTITY_SIZE];
        file.read_exact_at(&mut record, at).ok()?;
        Identity::from_bytes(&record)
    }
}

/// The inode of this process's PID namespace.
fn own_pid_namespace() -> Option<u64> {
    std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// This boot's id: the 32 hex digits of `/proc/sys/kernel/random/boot_id`.
fn boot_id() -> Option<[u8; 16]> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let digits: Vec<u8> = text
        .trim()
        .bytes()
        .filter(|b| *b != b'-')
        .map(|b| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    if digits.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (byte, pair) in id.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (pair.first()? << 4) | pair.get(1)?;
    }
    Some(id)
}

/// What `/proc/<pid>/stat` says of a process or thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// The state letter (field 3): `R`, `S`, `Z` for a zombie, ...
    pub(crate) state: char,
    /// The start time in clock ticks after boot (field 22).
    pub(crate) start_ticks: u64,
}

impl ProcStat {
    /// Whether it has ended (a zombie waiting for its parent, or dead).
    pub(crate) fn ended(&self) -> bool {
        self.state == 'Z' || self.state == 'X'
    }
}

/// Parses a `stat` file of `/proc`.
pub(crate) fn proc_stat(path: &Path) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: count fields after the last `)`, which is field 3.
    let after = stat.get(stat.rfind(')')?.checked_add(1)?..)?;
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start_ticks = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_ticks })
}

/// What this process can tell of process `pid` of its own namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// No such process.
    Gone,
    /// It exists: when it started, and whether any of its threads still
    /// runs (a process whose main thread has ended is alive while any other
    /// thread is).
    Exists { start_ticks: u64, alive: bool },
    /// `/proc` cannot say (not mounted, or of another namespace).
    Unknown,
}

/// Whether `/proc` shows this process's own PID namespace: `/proc/self`
/// names the pid this process has.
pub(crate) fn proc_is_ours() -> bool {
    std::fs::read_link("/proc/self")
        .is_ok_and(|target| target.as_os_str() == std::process::id().to_string().as_str())
}

/// Looks process `pid` up in `/proc`.
pub(crate) fn look_up(pid: u32) -> Seen {
    if !proc_is_ours() {
        return Seen::Unknown;
    }
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let Some(leader) = proc_stat(&dir.join("stat")) else {
        return match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Seen::Gone,
            _ => Seen::Unknown,
        };
    };
    let alive = !leader.ended() || any_thread_runs(&dir);
    Seen::Exists {
        start_ticks: leader.start_ticks,
        alive,
    }
}

/// Whether any thread of the process at `dir` (`/proc/<pid>`) has not ended.
/// When the threads cannot be listed, it says yes: a cleaner must not take a
/// process for dead on a guess.
fn any_thread_runs(dir: &Path) -> bool {
    let Ok(tasks) = std::fs::read_dir(dir.join("task")) else {
        return true;
    };
    let mut seen = false;
    for task in tasks.flatten() {
        seen = true;
        match proc_stat(&task.path().join("stat")) {
            Some(stat) if stat.ended() => {}
            // Running, or vanished meanwhile (then it has ended, but a
            // thread that ends now was running a moment ago): alive.
            Some(_) => return true,
            None => {}
        }
    }
    !seen
}

/// Whether any process of `/proc` is in PID namespace `ns`: `Some(true)` as
/// soon as one is, `Some(false)` if every process could be looked at and
/// none is, `None` if `/proc` is not this namespace's or some process could
/// not be looked at (another user's, to a user who is not root).
///
/// One look at `/proc` serves the calls of the next second (a cleaner may
/// ask for every file of a directory).
pub(crate) fn namespace_has_processes(ns: u64) -> Option<bool> {
    type Seen = Option<(std::time::Instant, Option<(HashSet<u64>, bool)>)>;
    static CACHE: Mutex<Seen> = Mutex::new(None);
    let fresh = |at: &std::time::Instant| at.elapsed() < std::time::Duration::from_secs(1);
    let answer = |seen: &Option<(HashSet<u64>, bool)>| {
        let (namespaces, complete) = seen.as_ref()?;
        if namespaces.contains(&ns) {
            Some(true)
        } else {
            complete.then_some(false)
        }
    };
    // Never wait for the lock: another thread may hold it at a fork.
    match CACHE.try_lock() {
        Ok(mut cache) => {
            if let Some((at, seen)) = cache.as_ref() {
                if fresh(at) {
                    return answer(seen);
                }
            }
            let seen = pid_namespaces();
            let result = answer(&seen);
            *cache = Some((std::time::Instant::now(), seen));
            result
        }
        Err(_) => answer(&pid_namespaces()),
    }
}

/// The PID namespaces of every process in `/proc`, and whether every one
/// could be looked at; `None` if `/proc` is not this namespace's.
fn pid_namespaces() -> Option<(HashSet<u64>, bool)> {
    if !proc_is_ours() {
        return None;
    }
    let mut namespaces = HashSet::new();
    let mut complete = true;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        match std::fs::metadata(entry.path().join("ns/pid")) {
            Ok(meta) => {
                namespaces.insert(meta.ino());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => complete = false,
        }
    }
    Some((namespaces, complete))
}

/// Whose a finished file is, judged by its identity record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// This very process's (a finished thread's, or the same process before
    /// an `exec`).
    Ours,
    /// A process that is gone: why we know.
    Gone(String),
    /// A process that still runs: which.
    Runs(String),
    /// A process this one cannot see (of another PID namespace, or with
    /// no `/proc` to look it up in): why.
    Unseen(String),
}

/// Judges `recorded` (the file's identity record, if any) against `ours`,
/// looking other processes up with `look_up`, and other PID namespaces
/// with `namespace_has_processes` (see [`namespace_has_processes`]).
pub(crate) fn judge(
    recorded: Option<&Identity>,
    ours: &Identity,
    look_up: impl Fn(u32) -> Seen,
    namespace_has_processes: impl Fn(u64) -> Option<bool>,
) -> Owner {
    let Some(them) = recorded else {
        return Owner::Gone(
            "it has no identity record (an older writer's file), so it is taken for a finished one"
                .into(),
        );
    };
    let pid = them.pid;
    match (them.is_complete(), ours.is_complete()) {
        (true, true) => {}
        (false, false) => {
            // Neither side could read /proc: as good as no record (a
            // process id alone may be a reused one).
            return Owner::Gone(
                "neither its writer nor this process can see /proc, so it is taken for a finished one"
                    .into(),
            );
        }
        _ => {
            return Owner::Unseen(format!(
                "it was written by process {pid}, which cannot be compared with this one (/proc is missing on one side)"
            ))
        }
    }
    if them.boot_id != ours.boot_id {
        return Owner::Gone("it was written before the machine last started".into());
    }
    if them.pid_namespace != ours.pid_namespace {
        let ns = them.pid_namespace;
        // Only from the initial namespace is every process in view.
        if ours.pid_namespace == INITIAL_PID_NAMESPACE && namespace_has_processes(ns) == Some(false)
        {
            return Owner::Gone(format!(
                "it was written by process {pid} of PID namespace {ns}, which has no process left"
            ));
        }
        return Owner::Unseen(format!(
            "it was written by process {pid} of PID namespace {ns}, not of this one ({}), whose processes cannot be told apart from here",
            ours.pid_namespace
        ));
    }
    if them.pid == ours.pid && them.start_ticks == ours.start_ticks {
        return Owner::Ours;
    }
    match look_up(pid) {
        Seen::Gone => Owner::Gone(format!("process {pid} is gone")),
        Seen::Exists { start_ticks, .. } if start_ticks != them.start_ticks => Owner::Gone(
            format!("process {pid} is gone; its id now belongs to a later process"),
        ),
        Seen::Exists { alive: false, .. } => {
            Owner::Gone(format!("process {pid} has exited (not yet reaped)"))
        }
        Seen::Exists { .. } => Owner::Runs(format!("process {pid} still runs")),
        Seen::Unknown => Owner::Unseen(format!(
            "cannot tell whether process {pid} still runs (/proc does not show this namespace)"
        )),
    }
}

/// A point between a check and the step that relies on it. Tests hook it to
/// change the file system at exactly that moment (swap in a symbolic link)
/// and show that the step refuses what it finds; in other builds it does
/// nothing.
#[inline]
pub(crate) fn race_point(step: &'static str, path: &Path) {
    #[cfg(test)]
    testing::RACE_HOOK.with(|hook| {
        if let Some(hook) = hook.borrow_mut().as_mut() {
            hook(step, path);
        }
    });
    #[cfg(not(test))]
    let _ = (step, path);
}

#[cfg(test)]
pub(crate) mod testing {
    use std::cell::RefCell;
    use std::path::Path;

    type Hook = Box<dyn FnMut(&'static str, &Path)>;

    thread_local! {
        pub(crate) static RACE_HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Runs `f` with `hook` called at every [`race_point`](super::race_point)
    /// of this thread.
    pub(crate) fn with_race_hook<R>(
        hook: impl FnMut(&'static str, &Path) + 'static,
        f: impl FnOnce() -> R,
    ) -> R {
        RACE_HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
        let result = f();
        RACE_HOOK.with(|h| *h.borrow_mut() = None);
        result
    }
}

/// What sits at the path a new file should take.
#[derive(Debug)]
enum Target {
    /// Nothing: the new file takes the name with a link.
    Absent,
    /// A finished stats file of this user, held exclusively locked (so no
    /// other writer or cleaner takes it meanwhile) until the new file
    /// replaces it with a rename. `previous` holds what it read when it is
    /// this process's own, so the new file continues its counters.
    Taken {
        lock: File,
        previous: Option<Box<Snapshot>>,
    },
}

/// A finished file of this process larger than this is not continued (its
/// own files are a few pages).
const MAX_CONTINUED: u64 = 16 << 20;

fn inspect_target(path: &Path) -> Result<Target, Error> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Absent),
        Err(e) => return Err(Error::io("inspect", path, e)),
    };
    let path_buf = || path.to_path_buf();
    if meta.file_type().is_symlink() {
        return Err(Error::Symlink { path: path_buf() });
    }
    if !meta.is_file() {
        return Err(Error::NotAFile { path: path_buf() });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::ForeignFile {
            path: path_buf(),
            owner: meta.uid(),
        });
    }
    race_point("writer: looked at the final path", path);
    let file = match open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::Symlink { path: path_buf() })
        }
        // Gone meanwhile: the link of step 4 fails if something comes back.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Absent),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let opened = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) || !opened.is_file() {
        return Err(Error::Occupied {
            path: path_buf(),
            reason: "it was replaced while being looked at".into(),
        });
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(Error::InUse { path: path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
    }
    let mut first = [0u8; 1];
    let is_stats = file.read_exact_at(&mut first, 0).is_ok() && first[0] == VERSION;
    if !is_stats {
        return Err(Error::NotStatsFile { path: path_buf() });
    }
    let recorded = Identity::of_open_file(&file, opened.len());
    match judge(
        recorded.as_ref(),
        &Identity::current(),
        look_up,
        namespace_has_processes,
    ) {
        Owner::Ours => {
            let previous = read_previous(&file, opened.len()).map(Box::new);
            Ok(Target::Taken {
                lock: file,
                previous,
            })
        }
        Owner::Gone(_) => Ok(Target::Taken {
            lock: file,
            previous: None,
        }),
        Owner::Runs(reason) | Owner::Unseen(reason) => Err(Error::Occupied {
            path: path_buf(),
            reason,
        }),
    }
}

/// The values of a finished file of this process, read from a copy (never
/// a mapping), if it reads as a stats file.
fn read_previous(file: &File, len: u64) -> Option<Snapshot> {
    if len > MAX_CONTINUED {
        return None;
    }
    let mut bytes = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact_at(&mut bytes, 0).ok()?;
    reader::read_bytes_as_written(&bytes).ok()
}

/// Opens an existing file for reading without following a final symlink,
/// and without waiting if it is a named pipe.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
}

/// A file that is built but not yet visible under its final name.
pub(crate) struct Pending {
    /// The open file and its mapping; taken when published.
    inner: Option<(File, Region)>,
    temp: PathBuf,
    path: PathBuf,
    target: Target,
}

/// How many random temporary names are tried before giving up: each is
/// taken by chance with odds of one in 2^64, so only a bug or a directory
/// that refuses every name ever exhausts them.
const TEMP_ATTEMPTS: usize = 16;

/// Steps 1 and 2 of the module docs: a fresh file of `size` bytes, mapped,
/// under a temporary name beside `path`, its last [`IDENTITY_SIZE`] bytes
/// the identity record of this process.
pub(crate) fn prepare(path: &Path, size: usize, mode: u32) -> Result<Pending, Error> {
    let target = inspect_target(path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| Error::Template {
        template: path.to_string_lossy().into_owned(),
        reason: "the path has no file name".to_string(),
    })?;
    let (file, temp) = create_temp(&dir, name, mode)?;
    let cleanup = TempGuard(&temp);
    let len = u64::try_from(size)
        .map_err(|_| Error::io("size", &temp, io::ErrorKind::InvalidInput.into()))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set the mode of", &temp, e))?;
    reserve(&file, len).map_err(|e| Error::io("reserve space for", &temp, e))?;
    let mut region = Region::map_file(&file, size).map_err(|e| Error::io("map", &temp, e))?;
    let bytes = region.bytes_mut();
    if let Some(record) = bytes
        .len()
        .checked_sub(IDENTITY_SIZE)
        .and_then(|at| bytes.get_mut(at..))
    {
        record.copy_from_slice(&Identity::current().to_bytes());
    }
    file.lock_shared()
        .map_err(|e| Error::io("lock", &temp, e))?;
    // From here on, `Pending`'s drop removes the temporary file on failure.
    std::mem::forget(cleanup);
    Ok(Pending {
        inner: Some((file, region)),
        temp,
        path: path.to_path_buf(),
        target,
    })
}

/// Creates `.<name>.<16 random hex digits>.tmp` in `dir`, never opening
/// anything that was there: another random name when one is taken.
fn create_temp(dir: &Path, name: &std::ffi::OsStr, mode: u32) -> Result<(File, PathBuf), Error> {
    let mut taken = None;
    for _ in 0..TEMP_ATTEMPTS {
        let random = random_u64().map_err(|e| Error::io("draw a random name in", dir, e))?;
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{random:016x}.tmp"));
        let temp = dir.join(temp_name);
        race_point("writer: chose a temporary name", &temp);
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32,
            )
            .open(&temp);
        match opened {
            Ok(file) => return Ok((file, temp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => taken = Some((temp, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::io("create a stats file in directory", dir, e))
            }
            Err(e) => return Err(Error::io("create", &temp, e)),
        }
    }
    match taken {
        Some((temp, e)) => Err(Error::io("create", temp, e)),
        None => Err(Error::io(
            "create a stats file in directory",
            dir,
            io::ErrorKind::AlreadyExists.into(),
        )),
    }
}

/// 64 bits from the operating system's random source.
fn random_u64() -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    match rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()) {
        Ok(8) => {}
        // No getrandom (a very old kernel) or a short read: the device.
        _ => {
            use std::io::Read;
            File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        }
    }
    Ok(u64::from_ne_bytes(bytes))
}

/// Removes a temporary file unless forgotten.
struct TempGuard<'a>(&'a Path);

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

/// Sizes the file and allocates its blocks, so that writing into the mapping
/// later can never fail for want of space.
fn reserve(file: &File, len: u64) -> io::Result<()> {
    file.set_len(len)?;
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => {
            // The file system cannot reserve; write the zeros instead.
            let zeros = vec![0u8; 64 * 1024];
            let mut at = 0u64;
            while at < len {
                let n = (len - at).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..n], at)?;
                at += n as u64;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

impl Pending {
    /// The mapping, for writing headers and values before publishing.
    pub(crate) fn region_mut(&mut self) -> Option<&mut Region> {
        self.inner.as_mut().map(|(_, region)| region)
    }

    /// What the finished file of this process that the new file replaces
    /// held, so that the new file can continue its counters; `None` for a
    /// new name or another process's file.
    pub(crate) fn previous(&self) -> Option<&Snapshot> {
        match &self.target {
            Target::Taken {
                previous: Some(previous),
                ..
            } => Some(previous),
            _ => None,
        }
    }

    /// Step 4 of the module docs: gives the file its final name.
    pub(crate) fn publish(mut self) -> Result<(File, Region, PathBuf), Error> {
        match std::mem::replace(&mut self.target, Target::Absent) {
            Target::Absent => {
                if let Err(e) = std::fs::hard_link(&self.temp, &self.path) {
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        // Something took the name meanwhile: say what it is.
                        inspect_target(&self.path)?;
                    }
                    return Err(Error::io("publish", &self.path, e));
                }
                self.check_published()?;
                let _ = std::fs::remove_file(&self.temp);
            }
            Target::Taken { lock, .. } => {
                std::fs::rename(&self.temp, &self.path)
                    .map_err(|e| Error::io("replace", &self.path, e))?;
                // The replaced file's lock goes with its last descriptor.
                drop(lock);
                self.check_published()?;
            }
        }
        let path = std::mem::take(&mut self.path);
        match self.inner.take() {
            Some((file, region)) => Ok((file, region, path)),
            None => Err(Error::io("publish", path, io::ErrorKind::NotFound.into())),
        }
    }

    /// That the final name is now this file (and not one put in place of the
    /// temporary name, which can happen in a directory that is writable by
    /// others and not sticky). If not, the name is left as it is, the
    /// temporary name too, and this file is given up.
    fn check_published(&mut self) -> Result<(), Error> {
        let same = match (&self.inner, std::fs::symlink_metadata(&self.path)) {
            (Some((file, _)), Ok(there)) => file
                .metadata()
                .is_ok_and(|mine| (mine.dev(), mine.ino()) == (there.dev(), there.ino())),
            _ => false,
        };
        if same {
            return Ok(());
        }
        // Neither name is this file's to remove now.
        self.temp = PathBuf::new();
        Err(Error::Occupied {
            path: self.path.clone(),
            reason: "another file took the name while this one was being published".into(),
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Still holding the file means it was never published.
        if self.inner.is_some() && !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Removes `path` if it is still the file that `file` has open.
pub(crate) fn remove_own(path: &Path, file: &File) -> Result<(), Error> {
    let mine = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    match std::fs::symlink_metadata(path) {
        Ok(there) if there.dev() == mine.dev() && there.ino() == mine.ino() => {
            std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspect", path, e)),
    }
}

/// Removes the files that other, finished threads of this process left
/// under `dir`/`template`: files that match the template with any `{TID}`,
/// belong to this user, that no live writer holds, and whose identity
/// record is this process's. Only when the template holds both `{PID}` and
/// `{TID}`. Returns the paths removed.
pub(crate) fn remove_thread_leftovers(
    dir: &Path,
    template: &str,
    vars: &Vars,
) -> Result<Vec<PathBuf>, Error> {
    if !(template.contains("{PID}") && template.contains("{TID}")) {
        return Ok(Vec::new());
    }
    const MARK: &str = "\u{1}TID\u{1}";
    let pattern = expand_with(template, vars, Some(MARK))?;
    let Some((prefix, suffix)) = pattern.split_once(MARK) else {
        return Ok(Vec::new());
    };
    if suffix.contains(MARK) || prefix.contains('/') || suffix.contains('/') {
        return Ok(Vec::new());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let me = rustix::process::geteuid().as_raw();
    let ours = Identity::current();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(middle) = name
            .strip_prefix(prefix)
            .and_then(|n| n.strip_suffix(suffix))
        else {
            continue;
        };
        if middle.is_empty() || !middle.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.uid() != me {
            continue;
        }
        race_point("writer: looked at a finished thread's file", &path);
        let Ok(file) = open_no_follow(&path) else {
            continue;
        };
        let same = file
            .metadata()
            .is_ok_and(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino()));
        if !same || file.try_lock().is_err() {
            continue;
        }
        let recorded = Identity::of_open_file(&file, meta.len());
        let mine = match &recorded {
            // Neither side can see /proc: the process id is all there is.
            Some(them) if !them.is_complete() && !ours.is_complete() => them.pid == ours.pid,
            _ => judge(recorded.as_ref(), &ours, look_up, |_| None) == Owner::Ours,
        };
        if mine && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            cmd: "web".into(),
            pid: 42,
            tid: 43,
            model: "web_stats".into(),
            pid_namespace: None,
        }
    }

    #[test]
    fn templates_expand() {
        assert_eq!(
            expand("{CMD}-{PID}-{TID}.mmstats", &vars()).unwrap(),
            "web-42-43.mmstats"
        );
        assert_eq!(expand("a{{b}}c", &vars()).unwrap(), "a{b}c");
        assert_eq!(expand("plain", &vars()).unwrap(), "plain");
    }

    #[test]
    fn bad_templates_are_errors() {
        for bad in ["{HOST}.mmstats", "{PID", "a}b", "{}"] {
            assert!(
                matches!(expand(bad, &vars()), Err(Error::Template { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_pid_names_its_namespace_unless_it_is_the_initial_one() {
        let mut v = vars();
        v.pid_namespace = Some(INITIAL_PID_NAMESPACE);
        assert_eq!(expand("{CMD}-{PID}-{TID}", &v).unwrap(), "web-42-43");
        v.pid_namespace = Some(4_026_532_178);
        assert_eq!(
            expand("{CMD}-{PID}-{TID}", &v).unwrap(),
            "web-ns4026532178-42-43"
        );
        assert_eq!(
            crate::aggregate::command_of(Path::new("web-ns4026532178-42-43.mmstats")),
            "web"
        );
        // This process's own: the namespace it is in.
        let here = Vars::current();
        assert_eq!(here.pid_namespace, own_pid_namespace());
    }

    #[test]
    fn the_identity_record_reads_back_and_names_this_process() {
        let me = Identity::current();
        assert_eq!(me.pid, std::process::id());
        assert!(me.is_complete(), "{me:?}");
        let proc_start = proc_stat(Path::new(&format!("/proc/{}/stat", me.pid))).unwrap();
        assert_eq!(me.start_ticks, proc_start.start_ticks);
        let bytes = me.to_bytes();
        assert_eq!(Identity::from_bytes(&bytes), Some(me));
        let mut file = vec![0u8; 4096];
        file[4096 - IDENTITY_SIZE..].copy_from_slice(&bytes);
        assert_eq!(Identity::of_file(&file), Some(me));
        // Anything else is no record.
        assert_eq!(Identity::of_file(&file[..4000]), None);
        assert_eq!(Identity::from_bytes(&bytes[1..]), None);
        let mut other_version = bytes;
        other_version[8] = 2;
        assert_eq!(Identity::from_bytes(&other_version), None);
        assert_eq!(Identity::of_file(&[]), None);
    }

    fn me() -> Identity {
        Identity {
            pid: 100,
            pid_namespace: INITIAL_PID_NAMESPACE,
            start_ticks: 5000,
            boot_id: [7; 16],
        }
    }

    fn judged(them: Option<Identity>, seen: Seen, namespace: Option<bool>) -> Owner {
        judge(them.as_ref(), &me(), |_| seen, |_| namespace)
    }

    #[test]
    fn a_finished_file_is_judged_by_its_identity_record() {
        let runs = Seen::Exists {
            start_ticks: 4000,
            alive: true,
        };
        let other = |f: fn(&mut Identity)| {
            let mut id = me();
            f(&mut id);
            Some(id)
        };
        assert_eq!(judged(Some(me()), Seen::Unknown, None), Owner::Ours);
        assert!(matches!(judged(None, runs, None), Owner::Gone(_)));
        // Another boot, another process id, another start: gone.
        let gone = |owner: Owner| matches!(owner, Owner::Gone(_));
        assert!(gone(judged(other(|i| i.boot_id = [8; 16]), runs, None)));
        assert!(gone(judged(other(|i| i.pid = 200), Seen::Gone, None)));
        assert!(gone(judged(other(|i| i.start_ticks = 1), runs, None)));
        assert!(gone(judged(
            other(|i| {
                i.pid = 200;
                i.start_ticks = 4000;
            }),
            Seen::Exists {
                start_ticks: 4000,
                alive: false
            },
            None
        )));
        // A process that still runs (with a live thread) is not gone.
        let still = judged(
            other(|i| {
                i.pid = 200;
                i.start_ticks = 4000;
            }),
            runs,
            None,
        );
        assert_eq!(still, Owner::Runs("process 200 still runs".into()));
        // Another namespace: unseen, unless, from the initial one, the
        // namespace has no process left.
        let foreign = other(|i| i.pid_namespace = 4_026_532_999);
        assert!(matches!(
            judged(foreign, runs, Some(true)),
            Owner::Unseen(_)
        ));
        assert!(matches!(judged(foreign, runs, None), Owner::Unseen(_)));
        assert!(gone(judged(foreign, runs, Some(false))));
        let mut inside = me();
        inside.pid_namespace = 4_026_532_000;
        assert!(matches!(
            judge(foreign.as_ref(), &inside, |_| runs, |_| Some(false)),
            Owner::Unseen(_)
        ));
        // Without /proc on one side it cannot be compared; on both, the
        // process id alone is not trusted to be this process.
        let blind = other(|i| {
            i.pid_namespace = 0;
            i.start_ticks = 0;
        });
        assert!(matches!(judged(blind, runs, None), Owner::Unseen(_)));
        let mut blind_me = me();
        blind_me.pid_namespace = 0;
        blind_me.start_ticks = 0;
        assert!(matches!(
            judge(Some(&blind_me), &blind_me, |_| runs, |_| None),
            Owner::Gone(_)
        ));
        assert!(matches!(
            judge(Some(&me()), &blind_me, |_| runs, |_| None),
            Owner::Unseen(_)
        ));
    }

    #[test]
    fn the_namespaces_in_view_are_seen() {
        let here = own_pid_namespace().unwrap();
        assert_eq!(namespace_has_processes(here), Some(true));
        // No namespace has inode 1. Whether that can be said for sure
        // depends on whether every process can be looked at (some cannot,
        // even by root, under some sandboxes): never "yes".
        assert_ne!(namespace_has_processes(1), Some(true));
    }

    /// A finished stats file of this process at `path`, as a thread that
    /// ended leaves it: the version byte, zeros, and the identity record.
    fn finished_file(path: &Path) {
        let mut pending = prepare(path, 4096, 0o644).unwrap();
        pending.region_mut().unwrap().bytes_mut()[0] = VERSION;
        let (file, region, _) = pending.publish().unwrap();
        drop((region, file));
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
        finished_file(&path);
        finished_file(&victim);
        let before = std::fs::read(&victim).unwrap();
        let swap = path.clone();
        let victim_path = victim.clone();
        let result = testing::with_race_hook(
            move |step, at| {
                if step == "writer: looked at the final path" && at == swap {
                    swap_for_link(&swap, &victim_path);
                }
            },
            || prepare(&path, 4096, 0o644).map(|_| ()),
        );
        assert!(
            matches!(&result, Err(Error::Symlink { path: p }) if p == &path),
            "{result:?}"
        );
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&victim).unwrap(), before);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["race.mmstats", "victim.mmstats"]);
    }

    #[test]
    fn a_temporary_name_taken_at_the_last_moment_is_never_opened() {
        // Whatever appears at the random name just before it is created (a
        // file, a link to a file) is left alone; another name is drawn.
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let planted = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let record = planted.clone();
        let target = victim.clone();
        let path = dir.path().join("t.mmstats");
        let pending = testing::with_race_hook(
            move |step, at| {
                let mut planted = record.borrow_mut();
                if step == "writer: chose a temporary name" && planted.len() < 2 {
                    if planted.is_empty() {
                        std::fs::write(at, b"planted").unwrap();
                    } else {
                        std::os::unix::fs::symlink(&target, at).unwrap();
                    }
                    planted.push(at.to_path_buf());
                }
            },
            || prepare(&path, 4096, 0o644),
        )
        .unwrap();
        let planted = planted.borrow().clone();
        assert_eq!(planted.len(), 2);
        assert_eq!(std::fs::read(&planted[0]).unwrap(), b"planted");
        assert_eq!(std::fs::read_link(&planted[1]).unwrap(), victim);
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!planted.contains(&pending.temp));
        let (file, _region, published) = pending.publish().unwrap();
        assert_eq!(published, path);
        let there = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(there.ino(), file.metadata().unwrap().ino());
    }

    #[test]
    fn temporary_names_are_random() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.mmstats");
        let a = prepare(&path, 4096, 0o644).unwrap();
        let b = prepare(&path, 4096, 0o644).unwrap();
        assert_ne!(a.temp, b.temp);
        let name = a.temp.file_name().unwrap().to_str().unwrap().to_string();
        let random = name
            .strip_prefix(".r.mmstats.")
            .and_then(|n| n.strip_suffix(".tmp"))
            .unwrap();
        assert_eq!(random.len(), 16);
        assert!(random.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        assert!(!name.contains(&std::process::id().to_string()), "{name}");
        drop((a, b));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_default_directory_is_ram_backed_where_dev_shm_is_a_tmpfs() {
        assert!(is_ram_backed(Path::new("/dev/shm")) == ram_dir().is_some());
        // Tests of this binary run in parallel and do not change the
        // environment; with it unset, the default follows /dev/shm.
        if std::env::var_os(ENV_PATH).is_none() {
            let expected = ram_dir().unwrap_or_else(std::env::temp_dir);
            assert_eq!(default_dir(), expected);
            if std::env::var_os(ENV_GLOB).is_none() {
                assert_eq!(default_glob(), expected.join("*.mmstats").to_str().unwrap());
            }
        }
    }
}
