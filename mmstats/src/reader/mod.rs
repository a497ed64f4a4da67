//! Reading mmstats files, the way the original Python reader does.
//!
//! [`read_path`] maps a file read-only and parses it in place; [`read_bytes`]
//! parses bytes already in memory. Both return a [`Snapshot`]: every field in
//! file order with its label, decoded value, type signature and, where the
//! file carries the metadata block (see [`format::META_MAGIC`]), its kind,
//! unit and help text.
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
mod error;
mod frame;
mod groups;
mod mem;
mod meta;
mod parse;
#[cfg(test)]
mod testing;
mod text;
mod types;

pub use error::ReadError;
pub use frame::{Field, Frame, ValueRef};
pub use groups::{GROUP_WAIT, MAX_BUFFER_ATTEMPTS};
pub use types::{EndMarker, Snapshot, Stat, Value};

use crate::map::ReadMap;
use parse::{parse, parse_into};

/// Reads an mmstats file that is already in memory.
///
/// The result does not name a path ([`Snapshot::path`] is `None`).
pub fn read_bytes(bytes: &[u8]) -> Result<Snapshot, ReadError> {
    parse(bytes)
}

/// Reads an mmstats file that is already in memory into `frame`, reusing its
/// buffers (see [`Frame`]). On an error the frame is left empty.
pub fn read_bytes_into(bytes: &[u8], frame: &mut Frame) -> Result<(), ReadError> {
    parse_into(bytes, frame)
}

/// Reads the mmstats file at `path`.
///
/// The file is mapped read-only and parsed in place, without a lock and
/// without ever writing to it, so it can be read while its writer is still
/// updating it. Every error names the path. Anything but a regular file
/// (a directory, a named pipe, a device) is refused without being read.
///
/// A file that another process truncates while it is being read can still
/// make the operating system stop this process (`SIGBUS`); writers never
/// truncate a file they publish.
pub fn read_path(path: &Path) -> Result<Snapshot, ReadError> {
    MappedFile::open(path)?.read()
}

/// A stats file mapped once, to be read again and again (a tool polling a
/// file, a stress test) without mapping it anew each time.
///
/// Like [`read_path`], it maps the file read-only, takes no lock and never
/// writes; each [`MappedFile::read`] parses the file as it is at that moment.
/// A mapping keeps the file's data alive even after the file is deleted.
pub struct MappedFile {
    path: PathBuf,
    map: ReadMap,
}

impl fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("len", &self.map.len())
            .finish()
    }
}

impl MappedFile {
    /// Maps the file at `path`. Anything but a regular file (a directory, a
    /// named pipe, a device) is refused without being read; an empty file
    /// is [`ReadError::Empty`].
    pub fn open(path: &Path) -> Result<MappedFile, ReadError> {
        MappedFile::open_with(path, true)
    }

    /// Like [`MappedFile::open`], but a symbolic link at `path` itself is
    /// not followed: it is an error (`ELOOP`) decided when the file is
    /// opened, so a link swapped in after a check is never read through.
    pub fn open_no_follow(path: &Path) -> Result<MappedFile, ReadError> {
        MappedFile::open_with(path, false)
    }

    fn open_with(path: &Path, follow: bool) -> Result<MappedFile, ReadError> {
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
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, flags);
        let file = options.open(path).map_err(io_error)?;
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
        let map = ReadMap::map(&file).map_err(io_error)?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            map,
        })
    }

    /// The path the file was opened as.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Parses the file as it is now. Every error names the path.
    ///
    /// A file that another process truncates while it is mapped can make the
    /// operating system stop this process (`SIGBUS`); writers never truncate
    /// a file they publish.
    pub fn read(&self) -> Result<Snapshot, ReadError> {
        let mut snapshot = parse(&self.map).map_err(|error| ReadError::File {
            path: self.path.clone(),
            error: Box::new(error),
        })?;
        snapshot.path = Some(self.path.clone());
        Ok(snapshot)
    }

    /// Parses the file as it is now into `frame`, reusing its buffers (see
    /// [`Frame`]): what [`MappedFile::read`] does, without allocating once
    /// the frame has grown to the file's size. On an error, which names the
    /// path, the frame is left empty.
    pub fn read_into(&self, frame: &mut Frame) -> Result<(), ReadError> {
        parse_into(&self.map, frame).map_err(|error| ReadError::File {
            path: self.path.clone(),
            error: Box::new(error),
        })
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
        assert_eq!(from_path.path.take(), Some(path));
        assert_eq!(from_path, read_bytes(&bytes).unwrap());
        assert_eq!(from_path.stats[0].value, Value::Unsigned(1));
    }
}
