//! Reading mmstats files, the way the original Python reader does.
//!
//! [`read_path`] reads a file (mapped read-only when no other user can
//! shrink it, else through bounded copies: see [`MappedFile`]);
//! [`read_bytes`] parses bytes already in memory. Both return a
//! [`Snapshot`]: every field in file order with its label, decoded value,
//! type signature and, where the file carries the metadata block (see
//! [`format::META_MAGIC`]), its kind, unit and help text. A read takes at
//! most what its [`Limits`] allow.
//!
//! The semantics are those of the reference reader (mmstats 0.8.0): fields are
//! walked one after the other until a label size of zero, the end of the file,
//! or a single zero byte left before the end; labels and texts are decoded as
//! UTF-8 with invalid sequences dropped, a text ends at its first NUL, and a
//! double-buffered field is read from the buffer the writer is not writing.
//! Where the reference raises whatever Python exception comes up, this reader
//! returns a typed [`ReadError`] that says what is wrong and where, and it
//! re-checks a double-buffered value against the write index so that the
//! value is never half old, half new.
//!
//! Files the reference reads but this reader refuses, none of which any
//! writer produces: a type signature of several items or with a byte-order
//! prefix (`QQ`, `2I`, `<Q`; the reference returns the first item), or a
//! letter [`format::parse_signature`] does not know; and a double-buffered
//! field at the very end of a truncated file whose unused buffer is cut off.
//!
//! [`format::META_MAGIC`]: crate::format::META_MAGIC
//! [`format::parse_signature`]: crate::format::parse_signature

// The reader runs on files anyone can write: nothing in it may panic on their
// contents, and these lints keep it that way, in every module of the reader
// (the tests opt out).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::fmt;
use std::path::{Path, PathBuf};

// The reader by responsibility: what a read returns (`types`), the reusable
// parse buffers and the views they lend (`frame`), the text buffer a frame
// keeps (`text`), the grammar of a file (`parse`), the metadata block
// (`meta`), reading values whole while a writer changes them (`groups`),
// what can go wrong (`error`), and the memory a file is parsed from (`mem`).
mod dynamic;
mod error;
mod frame;
mod groups;
mod histogram;
mod limits;
mod mem;
mod meta;
mod parse;
#[cfg(test)]
mod testing;
mod text;
mod types;

pub use dynamic::{DamagedMember, MemberProblem};
pub use error::ReadError;
pub use frame::{Field, Frame, ValueRef};
pub use groups::{GROUP_ATTEMPTS, GROUP_PAUSE, MAX_BUFFER_ATTEMPTS, RETRY_BUDGET};
pub use histogram::{quantile_of, Histogram, HistogramError, QUANTILES};
pub use limits::Limits;
pub use types::{EndMarker, Snapshot, Stat, Value};

use crate::map::ReadMap;
use mem::{Fault, FileCopy};
use parse::{parse, parse_into};

/// Reads an mmstats file that is already in memory, within the default
/// [`Limits`].
///
/// The result does not name a path ([`Snapshot::path`] is `None`).
pub fn read_bytes(bytes: &[u8]) -> Result<Snapshot, ReadError> {
    parse(bytes, Limits::default())
}

/// Reads an mmstats file in memory as it was written: the members of
/// run-time families under their fixed labels, with their label values as
/// fields, for a writer that continues a finished file.
pub(crate) fn read_bytes_as_written(bytes: &[u8]) -> Result<Snapshot, ReadError> {
    let mut frame = Frame::new();
    frame.as_written = true;
    parse_into(bytes, &mut frame)?;
    Ok(frame.to_snapshot())
}

/// Reads an mmstats file that is already in memory into `frame`, reusing its
/// buffers (see [`Frame`]), within the frame's [`Limits`]. On an error the
/// frame is left empty.
pub fn read_bytes_into(bytes: &[u8], frame: &mut Frame) -> Result<(), ReadError> {
    parse_into(bytes, frame)
}

/// Reads the mmstats file at `path`, within the default [`Limits`].
///
/// The file is read as [`MappedFile`] reads it: without a lock and without
/// ever writing to it, so it can be read while its writer is still
/// updating it; mapped when no other user can shrink it, else through
/// bounded copies, so that a file that shrinks while it is read is a typed
/// error ([`ReadError::Shrunk`]), never a signal. Every error names the
/// path. Anything but a regular file (a directory, a named pipe, a device)
/// is refused without being read.
pub fn read_path(path: &Path) -> Result<Snapshot, ReadError> {
    MappedFile::open(path)?.read()
}

/// How a [`MappedFile`] reaches the bytes of its file.
enum Source {
    /// A mapping, for a file that no other user can shrink.
    Map(ReadMap),
    /// The open file, read through copies each time, and its size when it
    /// was opened.
    Copy(std::fs::File, usize),
}

/// A stats file opened once, to be read again and again (a tool polling a
/// file, a stress test) without opening it anew each time.
///
/// Like [`read_path`], it takes no lock and never writes; each
/// [`MappedFile::read`] parses the file as it is at that moment. How it
/// reads depends on who could change the file's size, which it checks on
/// the open file (`fstat`), so that the answer is about the file read:
///
/// * a regular file owned by the reading user or root, with no group or
///   other write permission, on a local file system, is mapped read-only
///   (no one else can shrink it, so a load from the mapping never faults);
///   the mapping keeps the file's data alive even after the file is
///   deleted, and holds no descriptor;
/// * any other file is kept open and read through bounded copies (`pread`
///   into the reader's reused buffers, with double buffers and sequence
///   groups read again the same way): a file that shrinks during a read
///   gives [`ReadError::Shrunk`], a file that grows is read up to the size
///   it had when it was opened.
///
/// Either way a read takes at most what the [`Limits`] allow, and a
/// mapping covers at most [`Limits::max_bytes`] of the file.
pub struct MappedFile {
    path: PathBuf,
    source: Source,
    owner: u32,
    limits: Limits,
}

impl fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mapped, len) = match &self.source {
            Source::Map(map) => (true, map.file_size()),
            Source::Copy(_, len) => (false, *len),
        };
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("len", &len)
            .field("mapped", &mapped)
            .field("owner", &self.owner)
            .finish()
    }
}

impl MappedFile {
    /// Opens the file at `path` for reads within the default [`Limits`].
    /// Anything but a regular file (a directory, a named pipe, a device) is
    /// refused without being read; an empty file is [`ReadError::Empty`].
    pub fn open(path: &Path) -> Result<MappedFile, ReadError> {
        MappedFile::open_options(path, Limits::default(), true)
    }

    /// Like [`MappedFile::open`], but a symbolic link at `path` itself is
    /// not followed: it is an error (`ELOOP`) decided when the file is
    /// opened, so a link swapped in after a check is never read through.
    pub fn open_no_follow(path: &Path) -> Result<MappedFile, ReadError> {
        MappedFile::open_options(path, Limits::default(), false)
    }

    /// Opens the file at `path` for reads within `limits` (see
    /// [`MappedFile::open`]).
    pub fn open_with(path: &Path, limits: Limits) -> Result<MappedFile, ReadError> {
        MappedFile::open_options(path, limits, true)
    }

    /// Opens the file at `path` for reads within `limits`, following a
    /// symbolic link at `path` itself only if `follow`.
    pub fn open_options(
        path: &Path,
        limits: Limits,
        follow: bool,
    ) -> Result<MappedFile, ReadError> {
        use std::os::unix::fs::MetadataExt;
        let io_error = |source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        // A named pipe among the stats files must not make the reader wait
        // for a writer to open it; on regular files the flag changes nothing.
        let flags = if follow {
            libc::O_NONBLOCK
        } else {
            libc::O_NONBLOCK | libc::O_NOFOLLOW
        };
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, flags);
        let file = options.open(path).map_err(io_error)?;
        // Of the open file: the checks are about the file that is read.
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        if metadata.len() == 0 {
            // An empty file cannot be mapped; it is simply not an mmstats file.
            return Err(ReadError::File {
                path: path.to_path_buf(),
                error: Box::new(ReadError::Empty),
            });
        }
        let source = match ReadMap::map(&file, limits.max_bytes).map_err(io_error)? {
            Some(map) => Source::Map(map),
            None => Source::Copy(file, usize::try_from(metadata.len()).unwrap_or(usize::MAX)),
        };
        Ok(MappedFile {
            path: path.to_path_buf(),
            source,
            owner: metadata.uid(),
            limits,
        })
    }

    /// The path the file was opened as.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The user who owns the file (from the open file).
    pub fn owner(&self) -> u32 {
        self.owner
    }

    /// Whether the file is mapped (nobody else can shrink it), rather than
    /// read through copies.
    pub fn is_mapped(&self) -> bool {
        matches!(self.source, Source::Map(_))
    }

    /// Parses the file as it is now. Every error names the path.
    pub fn read(&self) -> Result<Snapshot, ReadError> {
        let mut frame = Frame::with_limits(self.limits);
        self.read_into(&mut frame)?;
        let mut snapshot = frame.to_snapshot();
        snapshot.path = Some(self.path.clone());
        Ok(snapshot)
    }

    /// Parses the file as it is now into `frame`, reusing its buffers (see
    /// [`Frame`]): what [`MappedFile::read`] does, without allocating once
    /// the frame has grown to the file's size, within both the frame's
    /// limits and those the file was opened with. On an error, which names
    /// the path, the frame is left empty.
    pub fn read_into(&self, frame: &mut Frame) -> Result<(), ReadError> {
        let in_file = |error| ReadError::File {
            path: self.path.clone(),
            error: Box::new(error),
        };
        let limits = frame.limits;
        frame.limits = Limits {
            max_bytes: limits.max_bytes.min(self.limits.max_bytes),
            max_fields: limits.max_fields.min(self.limits.max_fields),
        };
        let result = match &self.source {
            Source::Map(map) => parse_into(map, frame).map_err(in_file),
            Source::Copy(file, len) => {
                let copy = FileCopy::new(file, *len, std::mem::take(&mut frame.lines));
                let parsed = parse_into(&copy, frame);
                let fault = copy.take_fault();
                frame.lines = copy.into_lines();
                match fault {
                    None => parsed.map_err(in_file),
                    // Whatever the parse made of it, the file changed
                    // under the read: nothing of it is returned.
                    Some(Fault::Shrunk {
                        offset,
                        needed,
                        got,
                    }) => Err(in_file(ReadError::Shrunk {
                        offset,
                        needed,
                        got,
                    })),
                    Some(Fault::Io(source)) => Err(ReadError::Io {
                        path: self.path.clone(),
                        source,
                    }),
                }
            }
        };
        frame.limits = limits;
        match result {
            Ok(()) => {
                frame.owner = Some(self.owner);
                Ok(())
            }
            Err(error) => {
                frame.clear();
                Err(error)
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::testing::file;
    use super::*;

    #[test]
    fn read_path_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.mmstats");
        let e = read_path(&missing).unwrap_err();
        assert!(matches!(e, ReadError::Io { .. }));
        assert!(e.to_string().contains("missing.mmstats"), "{e}");
        let empty = dir.path().join("empty.mmstats");
        std::fs::write(&empty, b"").unwrap();
        let e = read_path(&empty).unwrap_err();
        assert!(matches!(e.without_path(), ReadError::Empty));
        assert_eq!(e.path(), Some(empty.as_path()));
        let e = read_path(dir.path()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo.mmstats");
            let mode = rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR;
            assert_eq!(rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, mode), Ok(()));
            let e = read_path(&fifo).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
        let bad = dir.path().join("bad.mmstats");
        std::fs::write(&bad, [1, 5]).unwrap();
        let e = read_path(&bad).unwrap_err();
        assert!(matches!(e.without_path(), ReadError::Truncated { .. }));
        assert!(e.to_string().starts_with(&bad.display().to_string()), "{e}");
    }

    #[test]
    fn read_path_matches_read_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = file(
            &[
                (
                    b"a",
                    b"Q",
                    1,
                    &[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0],
                ),
                (b"b", b"   I", 0xFF, &[3, 0, 0, 0]),
                (b"c", b"10s", 0xFF, b"hello\0\0\0\0\0"),
            ],
            4096,
        );
        let path = dir.path().join("x.mmstats");
        std::fs::write(&path, &bytes).unwrap();
        let mut from_path = read_path(&path).unwrap();
        assert_eq!(from_path.path.take(), Some(path.clone()));
        assert_eq!(from_path.owner.take(), Some(me()));
        assert_eq!(from_path, read_bytes(&bytes).unwrap());
        assert_eq!(from_path.stats[0].value, Value::Unsigned(1));
        // The same file, writable by others: read through copies, the same.
        set_mode(&path, 0o666);
        let copied = MappedFile::open(&path).unwrap();
        assert!(!copied.is_mapped());
        let mut snapshot = copied.read().unwrap();
        assert_eq!(snapshot.path.take(), Some(path.clone()));
        assert_eq!(snapshot.owner.take(), Some(me()));
        assert_eq!(snapshot, read_bytes(&bytes).unwrap());
        set_mode(&path, 0o644);
        assert!(MappedFile::open(&path).unwrap().is_mapped());
    }

    fn me() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A file with a number, then a text whose value takes `text` bytes.
    fn long_file(text: usize) -> Vec<u8> {
        let signature = format!("{text}s");
        let value = vec![b'x'; text];
        file(
            &[
                (b"n", b"  Q", 0xFF, &7u64.to_ne_bytes()),
                (b"t", signature.as_bytes(), 0xFF, &value),
            ],
            0,
        )
    }

    #[test]
    fn a_file_that_shrinks_while_read_through_copies_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shrinks.mmstats");
        let bytes = long_file(100_000);
        std::fs::write(&path, &bytes).unwrap();
        set_mode(&path, 0o666);
        let file = MappedFile::open(&path).unwrap();
        assert!(!file.is_mapped());
        let mut frame = Frame::new();
        file.read_into(&mut frame).unwrap();
        assert_eq!(frame.get("n").unwrap().value, ValueRef::Unsigned(7));
        // Another process cuts it to its first page: the next read says so,
        // and leaves nothing in the frame.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4096)
            .unwrap();
        let e = file.read_into(&mut frame).unwrap_err();
        match e.without_path() {
            ReadError::Shrunk { got, .. } => assert!(*got < bytes.len(), "{e}"),
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("shrank while it was read"), "{e}");
        assert_eq!(e.path(), Some(path.as_path()));
        assert!(frame.is_empty());
        // Grown back (with zeros past the first page), it reads again, up
        // to the size it had when it was opened.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(bytes.len() as u64 * 2)
            .unwrap();
        file.read_into(&mut frame).unwrap();
        assert_eq!(frame.get("n").unwrap().value, ValueRef::Unsigned(7));
        assert_eq!(frame.file_size(), bytes.len());
    }

    #[test]
    fn limits_stop_a_read_with_a_typed_error() {
        let bytes = long_file(100_000);
        let e = read_bytes_into(
            &bytes,
            &mut Frame::with_limits(Limits::default().max_bytes(50_000)),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::TooLarge {
                    limit: 50_000,
                    what: "value",
                    ..
                }
            ),
            "{e}"
        );
        let e = read_bytes_into(
            &bytes,
            &mut Frame::with_limits(Limits::default().max_fields(1)),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::TooManyFields {
                    limit: 1,
                    offset: 18
                }
            ),
            "{e}"
        );
        // Both from files, mapped or copied; a file larger than the limit
        // whose fields end within it reads, the mapping covering only the
        // limit.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.mmstats");
        std::fs::write(&path, &bytes).unwrap();
        let small = dir.path().join("small.mmstats");
        let mut padded = file(&[(b"n", b"  Q", 0xFF, &7u64.to_ne_bytes())], 0);
        padded.resize(1 << 20, 0);
        std::fs::write(&small, &padded).unwrap();
        for mode in [0o644, 0o666] {
            set_mode(&path, mode);
            set_mode(&small, mode);
            let limits = Limits::default().max_bytes(50_000);
            let long = MappedFile::open_with(&path, limits).unwrap();
            assert_eq!(long.is_mapped(), mode == 0o644);
            let e = long.read().unwrap_err();
            assert!(
                matches!(e.without_path(), ReadError::TooLarge { .. }),
                "{e}"
            );
            // A frame's own larger limit does not widen the file's.
            let mut frame = Frame::with_limits(Limits::default());
            assert!(long.read_into(&mut frame).is_err());
            let short = MappedFile::open_with(&small, limits).unwrap();
            let snapshot = short.read().unwrap();
            assert_eq!(snapshot.get("n").unwrap().value, Value::Unsigned(7));
            assert_eq!(snapshot.file_size, 1 << 20);
        }
    }
    /// `open_no_follow` refuses a symbolic link at the path itself (the
    /// flag that says so is the one `|` adds to the non-blocking one),
    /// where `open` follows it; the file opened says its path, its owner
    /// (from the open file: another user's where the tests run as root, so
    /// that it is not 0) and, shown, both.
    #[test]
    fn a_file_opened_without_following_links_refuses_one_and_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mmstats");
        std::fs::write(
            &path,
            file(&[(b"n", b"  Q", 0xFF, &7u64.to_ne_bytes())], 64),
        )
        .unwrap();
        let link = dir.path().join("link.mmstats");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let e = MappedFile::open_no_follow(&link).unwrap_err();
        match &e {
            ReadError::Io { path, source } => {
                assert_eq!(path, &link);
                assert_eq!(source.raw_os_error(), Some(libc::ELOOP), "{e}");
            }
            other => panic!("{other}"),
        }
        assert_eq!(MappedFile::open(&link).unwrap().path(), link.as_path());
        let owner = if me() == 0 {
            std::os::unix::fs::chown(&path, Some(4242), None).unwrap();
            4242
        } else {
            me()
        };
        let opened = MappedFile::open_no_follow(&path).unwrap();
        assert_eq!(opened.path(), path.as_path());
        assert_eq!(opened.owner(), owner);
        // Another user's file is read through copies.
        let mapped = owner == me();
        assert_eq!(opened.is_mapped(), mapped);
        let shown = format!("{opened:?}");
        assert!(shown.starts_with("MappedFile"), "{shown}");
        assert!(shown.contains("x.mmstats"), "{shown}");
        assert!(shown.contains(&format!("owner: {owner}")), "{shown}");
        assert!(shown.contains(&format!("mapped: {mapped}")), "{shown}");
        let mut frame = Frame::new();
        opened.read_into(&mut frame).unwrap();
        assert_eq!(frame.owner(), Some(owner));
        assert_eq!(frame.get("n").unwrap().value, ValueRef::Unsigned(7));
    }
}
