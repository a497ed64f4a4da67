//! The few file-system operations the store makes, behind one interface.
//!
//! Everything the store does to files goes through [`Vfs`] and [`VFile`]:
//! the real implementation, [`RealFs`], is `std::fs`; the tests put an
//! in-memory file system behind it that keeps what has been synced apart
//! from what has only been written, and so can simulate a power cut at any
//! call (see `sim.rs`).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use super::error::{Error, IoContext, Result};

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    Write,
    /// Read and write, created empty if missing.
    Create,
    /// Read and write, created if missing and emptied if not.
    Truncate,
}

/// What kind of thing a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    /// A FIFO, socket, device or symbolic link.
    Other,
}

/// What the store needs to know of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub len: u64,
    /// (device, inode): the file's identity.
    pub id: (u64, u64),
    pub nlink: u64,
    pub kind: Kind,
}

/// An open file.
pub(crate) trait VFile: Send + Sync {
    /// Reads at `off`; returns the bytes read (0 at the end of the file).
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `off`.
    fn write_all_at(&self, buf: &[u8], off: u64) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// `fdatasync`: the file's data and length are durable on return.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`.
    fn sync_all(&self) -> io::Result<()>;
    fn stat(&self) -> io::Result<Stat>;
    /// Takes an exclusive lock without waiting, held until the file is
    /// closed; `Ok(false)` if someone else holds it.
    fn try_lock(&self) -> io::Result<bool>;
}

/// The file system.
pub(crate) trait Vfs: Send + Sync {
    /// Opens a file. Never follows a symbolic link in the last component
    /// and never blocks (a FIFO opens at once; the caller refuses it).
    fn open(&self, path: &Path, mode: Mode) -> io::Result<Box<dyn VFile>>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    /// Like `lstat`: a symbolic link is described, not followed.
    fn stat(&self, path: &Path) -> io::Result<Stat>;
    /// Atomically replaces `to` by `from` (same directory).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals)
    /// durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// Shared handle on the file system a store uses.
pub(crate) type FsRef = Arc<dyn Vfs>;

/// The real file system.
pub(crate) fn real() -> FsRef {
    Arc::new(RealFs)
}

/// `std::fs`, with `O_NOFOLLOW` and `O_NONBLOCK` on every open.
#[derive(Debug)]
pub(crate) struct RealFs;

fn stat_of(m: &fs::Metadata) -> Stat {
    let t = m.file_type();
    let kind = if t.is_file() {
        Kind::File
    } else if t.is_dir() {
        Kind::Dir
    } else {
        // Symlinks, FIFOs, sockets, devices.
        Kind::Other
    };
    Stat {
        len: m.len(),
        id: (m.dev(), m.ino()),
        nlink: m.nlink(),
        kind,
    }
}

impl VFile for File {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, off)
    }
    fn write_all_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, off)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }
    fn stat(&self) -> io::Result<Stat> {
        self.metadata().map(|m| stat_of(&m))
    }
    fn try_lock(&self) -> io::Result<bool> {
        // std documents it as `flock` with `LOCK_EX | LOCK_NB` on Unix.
        match File::try_lock(self) {
            Ok(()) => Ok(true),
            Err(fs::TryLockError::WouldBlock) => Ok(false),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Vfs for RealFs {
    fn open(&self, path: &Path, mode: Mode) -> io::Result<Box<dyn VFile>> {
        let mut o = OpenOptions::new();
        o.read(true)
            // A FIFO would block `open` until a writer came; a link could
            // lead anywhere. O_NONBLOCK has no effect on regular files.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        match mode {
            Mode::Read => {}
            Mode::Write => {
                o.write(true);
            }
            Mode::Create => {
                o.write(true).create(true).truncate(false);
            }
            Mode::Truncate => {
                o.write(true).create(true).truncate(true);
            }
        }
        Ok(Box::new(o.open(path)?))
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect()
    }
    fn stat(&self, path: &Path) -> io::Result<Stat> {
        fs::symlink_metadata(path).map(|m| stat_of(&m))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let d = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
            .open(path)?;
        d.sync_all()
    }
}

/// Opens `path` and checks that it is a regular file: anything else (a
/// FIFO, a device, a directory) is refused with [`Error::NotAFile`].
pub(crate) fn open_file(fs: &dyn Vfs, path: &Path, mode: Mode) -> Result<Box<dyn VFile>> {
    let f = match fs.open(path, mode) {
        Ok(f) => f,
        // O_NOFOLLOW met a symbolic link.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::NotAFile {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(e).ctx(path, "open"),
    };
    let st = f.stat().ctx(path, "stat")?;
    if st.kind != Kind::File {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
        });
    }
    Ok(f)
}

/// Like [`open_file`], `Ok(None)` if the file does not exist.
pub(crate) fn open_existing(
    fs: &dyn Vfs,
    path: &Path,
    mode: Mode,
) -> Result<Option<Box<dyn VFile>>> {
    match open_file(fs, path, mode) {
        Ok(f) => Ok(Some(f)),
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `path` exists (as anything).
pub(crate) fn exists(fs: &dyn Vfs, path: &Path) -> Result<bool> {
    match fs.stat(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).ctx(path, "stat"),
    }
}

/// Reads at `off` until `buf` is full or the file ends; returns bytes read.
pub(crate) fn read_full_at(
    f: &dyn VFile,
    path: &Path,
    mut buf: &mut [u8],
    mut off: u64,
) -> Result<usize> {
    let mut total = 0;
    while !buf.is_empty() {
        match f.read_at(buf, off) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                off += n as u64;
                buf = &mut buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).ctx(path, "read"),
        }
    }
    Ok(total)
}

/// Most bytes read from one file of the store's own (header, list, index):
/// far more than any store writes, so that a planted huge file cannot
/// exhaust memory.
const MAX_SMALL_FILE: u64 = 1 << 30;

/// Reads a whole (small) file.
pub(crate) fn read_all(f: &dyn VFile, path: &Path) -> Result<Vec<u8>> {
    let len = f.stat().ctx(path, "stat")?.len;
    if len > MAX_SMALL_FILE {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            offset: MAX_SMALL_FILE,
            reason: "file is larger than the store ever writes it",
        });
    }
    let mut v = vec![0u8; len as usize];
    let n = read_full_at(f, path, &mut v, 0)?;
    v.truncate(n);
    Ok(v)
}

/// Reads the whole regular file at `path`.
pub(crate) fn read_file(fs: &dyn Vfs, path: &Path) -> Result<Vec<u8>> {
    let f = open_file(fs, path, Mode::Read)?;
    read_all(f.as_ref(), path)
}

/// Writes `bytes` to `path` through `path.tmp`: write, fsync, rename. The
/// caller fsyncs the directory.
pub(crate) fn write_atomic(fs: &dyn Vfs, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let f = open_file(fs, &tmp, Mode::Truncate)?;
    f.write_all_at(bytes, 0).ctx(&tmp, "write")?;
    f.sync_all().ctx(&tmp, "fsync")?;
    drop(f);
    fs.rename(&tmp, path).ctx(path, "rename into place")?;
    Ok(())
}

pub(crate) fn sync_dir(fs: &dyn Vfs, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).ctx(dir, "fsync directory")
}
