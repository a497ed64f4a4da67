//! Reading many stats files again and again: the one collection policy of
//! every tool.
//!
//! A [`Collector`] is made once from the paths, directories and glob
//! patterns a user names (the default glob when none), and each
//! [`Collector::collect`] then:
//!
//! 1. finds the files ([`discover::discover`]: regular files only, links to
//!    directories not followed);
//! 2. leaves out the files of other users (their owner is not the user the
//!    collector runs as), listing them in [`Collection::others`], unless
//!    asked for every user's ([`Collector::all_users`]): another user can
//!    plant a file under any name, and its counts must not add up with this
//!    user's. Each snapshot says its file's owner ([`Snapshot::owner`]);
//! 3. reads each file as it is at that moment, within the collector's
//!    [`Limits`], into snapshots whose buffers are reused, so that a steady
//!    set of files is read without allocating. A file that only the
//!    reading user and root can shrink is mapped, and the mapping kept
//!    from one collection to the next while the file stays the same file
//!    (same device, inode and size); any other file is read through
//!    bounded copies into the same reused buffers, opened anew each time
//!    (so that no descriptor is kept for it), see [`MappedFile`];
//! 4. skips a file that vanished between being listed and being read, as if
//!    it had never been listed (a writer that exits removes its file);
//! 5. reports every other failure with its path ([`Collection::failed`]),
//!    and every argument that gave no file ([`Collection::skipped`]).
//!
//! `slurp`, `poll`, `record`, `serve` and the library's exporters all go
//! through it, so they agree on which files count.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # use mmstats::MmStats;
//! # #[derive(MmStats)]
//! # struct S { hits: mmstats::Counter }
//! # let stats = S::builder().dir(dir.path()).create()?;
//! # stats.hits.incr();
//! # let arg = dir.path().display().to_string();
//! let mut collector = mmstats::collect::Collector::new(vec![arg]);
//! let collection = collector.collect();
//! assert_eq!(collection.files.len(), 1);
//! assert_eq!(collection.files[0].get("hits").unwrap().value.to_string(), "1");
//! assert!(collection.failed.is_empty());
//! # Ok(()) }
//! ```

// Runs on whatever files and arguments users give: nothing here may panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::discover::{self, Skip};
use crate::reader::{Field, Frame, Limits, MappedFile, ReadError, Snapshot, Stat, Value, ValueRef};

/// A file that exists but could not be read.
#[derive(Debug)]
pub struct Failure {
    /// The file.
    pub path: PathBuf,
    /// Why it could not be read; the message names the path.
    pub error: ReadError,
}

/// A file left out because another user owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Other {
    /// The file.
    pub path: PathBuf,
    /// Its owner's user id.
    pub owner: u32,
}

/// What one [`Collector::collect`] found.
#[derive(Debug)]
pub struct Collection<'a> {
    /// The files read whole, in path order.
    pub files: &'a [Snapshot],
    /// The files that could not be read.
    pub failed: &'a [Failure],
    /// The arguments, and paths they expanded to, that gave no file.
    pub skipped: &'a [Skip],
    /// The files left out because another user owns them (none with
    /// [`Collector::all_users`]).
    pub others: &'a [Other],
}

impl Collection<'_> {
    /// Whether nothing at all was found: no file read, none failed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.failed.is_empty()
    }
}

/// A mapping kept between collections, with what identified its file
/// (files read through copies are not kept).
struct Source {
    map: MappedFile,
    /// Device, inode and size of the file when it was mapped.
    id: (u64, u64, u64),
    /// The collection that last saw it.
    seen: u64,
}

/// Reads the files named by a fixed set of arguments, again and again,
/// reusing mappings and buffers (see the [module docs](self)).
pub struct Collector {
    args: Vec<String>,
    sources: HashMap<PathBuf, Source>,
    frame: Frame,
    /// The snapshots; the first `read` of them hold this collection's files.
    snapshots: Vec<Snapshot>,
    read: usize,
    failed: Vec<Failure>,
    skipped: Vec<Skip>,
    others: Vec<Other>,
    round: u64,
    limits: Limits,
    all_users: bool,
    /// The user the collector reads for (its effective user id).
    me: u32,
    /// Whether a path that is itself a symbolic link is read through.
    follow_links: bool,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("args", &self.args)
            .field("mapped", &self.sources.len())
            .field("limits", &self.limits)
            .field("all_users", &self.all_users)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// A collector of the files that `args` (files, directories, glob
    /// patterns) name, or of the default glob when `args` is empty: this
    /// user's files only, within the default [`Limits`].
    pub fn new(args: Vec<String>) -> Collector {
        Collector {
            args,
            sources: HashMap::new(),
            frame: Frame::new(),
            snapshots: Vec::new(),
            read: 0,
            failed: Vec::new(),
            skipped: Vec::new(),
            others: Vec::new(),
            round: 0,
            limits: Limits::default(),
            all_users: false,
            me: rustix::process::geteuid().as_raw(),
            follow_links: true,
        }
    }

    /// With `false`, a path that is itself a symbolic link is not read
    /// through but fails to read (`ELOOP`), decided as the file is opened
    /// ([`MappedFile::open_no_follow`]). The default, `true`, follows it.
    pub fn follow_links(mut self, follow: bool) -> Collector {
        self.follow_links = follow;
        self
    }

    /// The same collector, reading each file within `limits`.
    pub fn limits(mut self, limits: Limits) -> Collector {
        self.limits = limits;
        self.frame.set_limits(limits);
        self.sources.clear();
        self
    }

    /// The same collector, reading every user's files (`true`) or only
    /// those of the user it runs as (`false`, the default). Another user's
    /// files are then read too, through copies, and each snapshot says
    /// whose it is ([`Snapshot::owner`]): group by owner before adding
    /// values up ([`crate::aggregate::by_owner_and_command`]).
    pub fn all_users(mut self, all: bool) -> Collector {
        self.all_users = all;
        self
    }

    /// The user whose files are read when not [`Collector::all_users`]:
    /// the effective user id of this process.
    pub fn user(&self) -> u32 {
        self.me
    }

    fn admits(&self, owner: u32) -> bool {
        self.all_users || owner == self.me
    }

    /// The arguments the collector was made with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Finds and reads the files as they are now.
    pub fn collect(&mut self) -> Collection<'_> {
        let found = discover::discover(&self.args);
        self.collect_paths(found.files, found.skipped)
    }

    /// Reads `paths` (already found, for example by a glob of the caller's
    /// own) with the same policy and reuse as [`Collector::collect`].
    pub fn collect_paths(&mut self, paths: Vec<PathBuf>, skipped: Vec<Skip>) -> Collection<'_> {
        self.round = self.round.wrapping_add(1);
        self.read = 0;
        self.failed.clear();
        self.others.clear();
        self.skipped = skipped;
        for path in paths {
            match self.read_one(&path) {
                Ok(()) => {}
                // Gone between the listing and the read: as if never listed.
                Err(ReadError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => self.failed.push(Failure { path, error }),
            }
        }
        let round = self.round;
        self.sources.retain(|_, source| source.seen == round);
        self.last()
    }

    /// What the last collection found (empty before the first).
    pub fn last(&self) -> Collection<'_> {
        Collection {
            files: self.snapshots.get(..self.read).unwrap_or_default(),
            failed: &self.failed,
            skipped: &self.skipped,
            others: &self.others,
        }
    }

    fn read_one(&mut self, path: &Path) -> Result<(), ReadError> {
        let io_error = |source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = if self.follow_links {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        };
        let meta = meta.map_err(io_error)?;
        if !self.admits(meta.uid()) {
            self.sources.remove(path);
            self.others.push(Other {
                path: path.to_path_buf(),
                owner: meta.uid(),
            });
            return Ok(());
        }
        let id = (meta.dev(), meta.ino(), meta.len());
        let reuse = self.sources.get(path).is_some_and(|s| s.id == id);
        if !reuse {
            self.sources.remove(path);
            let file = MappedFile::open_options(path, self.limits, self.follow_links)?;
            // The owner of the file opened, which may not be the one the
            // path named a moment ago.
            if !self.admits(file.owner()) {
                self.others.push(Other {
                    path: path.to_path_buf(),
                    owner: file.owner(),
                });
                return Ok(());
            }
            if !file.is_mapped() {
                // Read through copies now, and closed: nothing kept.
                file.read_into(&mut self.frame)?;
                self.keep(path);
                return Ok(());
            }
            self.sources.insert(
                path.to_path_buf(),
                Source {
                    map: file,
                    id,
                    seen: self.round,
                },
            );
        }
        let Some(source) = self.sources.get_mut(path) else {
            return Ok(());
        };
        source.seen = self.round;
        source.map.read_into(&mut self.frame)?;
        self.keep(path);
        Ok(())
    }

    /// Keeps the file the frame holds, read from `path`, as the next
    /// snapshot of this collection.
    fn keep(&mut self, path: &Path) {
        if self.snapshots.len() <= self.read {
            self.snapshots.push(self.frame.to_snapshot());
        }
        if let Some(snapshot) = self.snapshots.get_mut(self.read) {
            fill(&self.frame, path, snapshot);
            self.read = self.read.saturating_add(1);
        }
    }
}

/// Makes `snapshot` the file that `frame` holds, read from `path`, reusing
/// the snapshot's strings and vectors.
pub fn fill(frame: &Frame, path: &Path, snapshot: &mut Snapshot) {
    let own = snapshot.path.get_or_insert_with(PathBuf::new);
    let os = own.as_mut_os_string();
    os.clear();
    os.push(path.as_os_str());
    snapshot.version = frame.version();
    snapshot.file_size = frame.file_size();
    snapshot.end = frame.end();
    snapshot.fields_end = frame.fields_end();
    snapshot.meta = frame.has_meta();
    snapshot.owner = frame.owner();
    snapshot.stats.truncate(frame.len());
    let kept = snapshot.stats.len();
    for (i, field) in frame.fields().enumerate() {
        match snapshot.stats.get_mut(i) {
            Some(stat) if i < kept => set_stat(stat, &field),
            _ => snapshot.stats.push(field.to_stat()),
        }
    }
    snapshot.unsettled.clear();
    snapshot
        .unsettled
        .extend(frame.unsettled().map(str::to_owned));
}

fn set_str(to: &mut String, from: &str) {
    to.clear();
    to.push_str(from);
}

fn set_stat(stat: &mut Stat, field: &Field<'_>) {
    set_str(&mut stat.label, field.label);
    stat.kind = field.kind;
    match (&mut stat.value, field.value) {
        (Value::Text(text), ValueRef::Text(from)) => set_str(text, from),
        (value, from) => *value = from.to_value(),
    }
    set_str(&mut stat.signature, field.signature);
    stat.buffered = field.buffered;
    set_str(&mut stat.unit, field.unit);
    set_str(&mut stat.help, field.help);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::{Counter, MmStats, Text};

    #[derive(MmStats)]
    #[mmstats(crate = "crate")]
    struct Small {
        hits: Counter,
        state: Text<16>,
    }

    #[derive(MmStats)]
    #[mmstats(crate = "crate")]
    struct Other {
        jobs: Counter,
    }

    fn arg(dir: &Path) -> Vec<String> {
        vec![dir.display().to_string()]
    }

    #[test]
    fn reads_keep_up_with_the_writer_and_reuse_mappings() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Small::builder().dir(dir.path()).create().unwrap();
        let mut collector = Collector::new(arg(dir.path()));
        for n in 1..=3u64 {
            stats.hits.incr();
            stats.state.set(&format!("round {n}"));
            let collection = collector.collect();
            assert_eq!(collection.files.len(), 1);
            let file = &collection.files[0];
            assert_eq!(file.get("hits").unwrap().value, Value::Unsigned(n));
            assert_eq!(
                file.get("state").unwrap().value,
                Value::Text(format!("round {n}"))
            );
            assert_eq!(file.path.as_deref(), stats.path());
        }
        assert_eq!(collector.sources.len(), 1);
        // The snapshot equals a fresh read of the same file.
        let fresh = crate::reader::read_path(stats.path().unwrap()).unwrap();
        assert_eq!(collector.collect().files, [fresh]);
    }

    #[test]
    fn a_file_replaced_by_another_model_is_read_anew() {
        let dir = tempfile::tempdir().unwrap();
        let small = Small::builder()
            .dir(dir.path())
            .file("x.mmstats")
            .create()
            .unwrap();
        small.hits.incr_by(5);
        let path = small.path().unwrap().to_path_buf();
        let mut collector = Collector::new(arg(dir.path()));
        assert_eq!(collector.collect().files[0].stats.len(), small_len());
        drop(small);
        let _ = std::fs::remove_file(&path);
        let other = Other::builder()
            .dir(dir.path())
            .file("x.mmstats")
            .create()
            .unwrap();
        other.jobs.incr_by(7);
        let collection = collector.collect();
        assert_eq!(collection.files.len(), 1);
        let file = &collection.files[0];
        assert_eq!(file.get("jobs").unwrap().value, Value::Unsigned(7));
        assert!(file.get("hits").is_none());
        assert_eq!(
            file.stats,
            crate::reader::read_path(&path).unwrap().stats,
            "stats left over from the old file"
        );
    }

    fn small_len() -> usize {
        let dir = tempfile::tempdir().unwrap();
        let s = Small::builder().dir(dir.path()).create().unwrap();
        crate::reader::read_path(s.path().unwrap())
            .unwrap()
            .stats
            .len()
    }

    #[test]
    fn vanished_files_are_skipped_and_bad_ones_reported() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Small::builder().dir(dir.path()).create().unwrap();
        std::fs::write(dir.path().join("bad.mmstats"), b"\x07 not mmstats").unwrap();
        let mut collector = Collector::new(arg(dir.path()));
        let collection = collector.collect();
        assert_eq!(collection.files.len(), 1);
        assert_eq!(collection.failed.len(), 1);
        assert!(collection.failed[0].path.ends_with("bad.mmstats"));
        assert!(
            collection.failed[0]
                .error
                .to_string()
                .contains("bad.mmstats"),
            "{}",
            collection.failed[0].error
        );
        // A path listed but gone by the time it is read is not a failure.
        let gone = dir.path().join("gone.mmstats");
        let mut paths = vec![gone];
        paths.extend(stats.path().map(Path::to_path_buf));
        let collection = collector.collect_paths(paths, Vec::new());
        assert_eq!(collection.files.len(), 1);
        assert!(collection.failed.is_empty());
        // Files that went away release their mappings.
        let path = stats.path().unwrap().to_path_buf();
        drop(stats);
        std::fs::remove_file(path).unwrap();
        std::fs::remove_file(dir.path().join("bad.mmstats")).unwrap();
        let collection = collector.collect();
        assert!(collection.is_empty(), "{collection:?}");
        assert!(collector.sources.is_empty());
    }

    #[test]
    fn links_are_read_through_unless_asked_not_to() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let stats = Small::builder().dir(outside.path()).create().unwrap();
        stats.hits.incr_by(3);
        let link = dir.path().join("link.mmstats");
        std::os::unix::fs::symlink(stats.path().unwrap(), &link).unwrap();
        let mut following = Collector::new(arg(dir.path()));
        let collection = following.collect();
        assert_eq!(collection.files.len(), 1);
        let mut not_following = Collector::new(arg(dir.path())).follow_links(false);
        let collection = not_following.collect_paths(vec![link.clone()], Vec::new());
        assert!(collection.files.is_empty());
        assert_eq!(collection.failed.len(), 1);
        let error = &collection.failed[0].error;
        assert!(
            matches!(error, ReadError::Io { path, source }
                if path == &link && source.raw_os_error() == Some(libc::ELOOP)),
            "{error}"
        );
        // A regular file reads the same either way.
        let direct = vec![stats.path().unwrap().to_path_buf()];
        let collection = not_following.collect_paths(direct, Vec::new());
        assert_eq!(
            collection.files[0].get("hits").unwrap().value,
            Value::Unsigned(3)
        );
    }

    #[test]
    fn nothing_named_is_a_skip() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nothing-*.mmstats").display().to_string();
        let mut collector = Collector::new(vec![missing]);
        let collection = collector.collect();
        assert!(collection.is_empty());
        assert!(matches!(collection.skipped, [Skip::NoMatch { .. }]));
    }

    #[test]
    fn a_collection_with_a_file_or_a_failure_is_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.mmstats");
        std::fs::write(&bad, b"\x07 not mmstats").unwrap();
        let mut collector = Collector::new(arg(dir.path()));
        let collection = collector.collect();
        assert_eq!((collection.files.len(), collection.failed.len()), (0, 1));
        assert!(!collection.is_empty());
        std::fs::remove_file(&bad).unwrap();
        let _stats = Small::builder().dir(dir.path()).create().unwrap();
        let collection = collector.collect();
        assert_eq!((collection.files.len(), collection.failed.len()), (1, 0));
        assert!(!collection.is_empty());
    }

    #[test]
    fn a_collector_shows_its_arguments_and_mappings() {
        let dir = tempfile::tempdir().unwrap();
        let _stats = Small::builder().dir(dir.path()).create().unwrap();
        let mut collector = Collector::new(arg(dir.path()));
        assert_eq!(collector.args(), arg(dir.path()));
        collector.collect();
        let shown = format!("{collector:?}");
        assert!(shown.starts_with("Collector {"), "{shown}");
        assert!(shown.contains("mapped: 1"), "{shown}");
        assert!(
            shown.contains(&format!("{:?}", dir.path().display().to_string())),
            "{shown}"
        );
        assert_eq!(collector.user(), rustix::process::geteuid().as_raw());
    }

    #[test]
    fn another_users_files_are_left_out_unless_all_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Small::builder().dir(dir.path()).create().unwrap();
        stats.hits.incr_by(2);
        let owner = rustix::process::geteuid().as_raw();
        // A collector for another user: this user's file is another's.
        let mut collector = Collector::new(arg(dir.path()));
        collector.me = owner.wrapping_add(1);
        let collection = collector.collect();
        assert!(collection.files.is_empty());
        assert_eq!(
            collection.others,
            [super::Other {
                path: stats.path().unwrap().to_path_buf(),
                owner
            }]
        );
        let mut all = Collector::new(arg(dir.path())).all_users(true);
        all.me = owner.wrapping_add(1);
        let collection = all.collect();
        assert!(collection.others.is_empty());
        assert_eq!(
            collection.files[0].get("hits").unwrap().value,
            Value::Unsigned(2)
        );
    }
}
