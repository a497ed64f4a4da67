//! Naming stats files, creating them safely, and removing them.
//!
//! A file is made in four steps, so that no reader ever sees it half built
//! and no planted file or link is ever written through:
//!
//! 1. Look at what is at the final path without following links: nothing is
//!    fine; a stale mmstats file of this user that no live writer holds may
//!    be replaced; anything else (a link, a directory, another user's file,
//!    a live writer's file, a file that is not an mmstats file) is an error
//!    and is left untouched.
//! 2. Create a new file under a hidden temporary name in the same directory
//!    with `O_CREAT | O_EXCL | O_NOFOLLOW` and an explicit mode, and reserve
//!    its blocks, so that a full disk is an error now and not a crash later.
//! 3. Map it and write every header and static value.
//! 4. Give it its final name: a hard link, which never replaces anything,
//!    or a rename over the stale file of step 1. Remove the temporary name.
//!
//! The writer keeps the file open with a shared `flock` for its whole life,
//! so a cleaner can tell a live writer's file from a dead one's.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::format::VERSION;
use crate::map::Region;

/// The environment variable naming the directory of stats files.
pub const ENV_PATH: &str = "MMSTATS_PATH";
/// The environment variable holding the file name template.
pub const ENV_FILES: &str = "MMSTATS_FILES";
/// The environment variable holding the glob that readers scan.
pub const ENV_GLOB: &str = "MMSTATS_GLOB";
/// The file name template used when neither code nor environment sets one.
pub const DEFAULT_FILE_TEMPLATE: &str = "{CMD}-{PID}-{TID}.mmstats";
/// The permission bits of a new stats file unless configured.
pub const DEFAULT_MODE: u32 = 0o644;

/// The directory for stats files: `MMSTATS_PATH`, else the system's
/// temporary directory.
pub fn default_dir() -> PathBuf {
    match std::env::var_os(ENV_PATH) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::temp_dir(),
    }
}

/// The file name template: `MMSTATS_FILES`, else `{CMD}-{PID}-{TID}.mmstats`.
pub fn default_file_template() -> String {
    match std::env::var(ENV_FILES) {
        Ok(template) if !template.is_empty() => template,
        _ => DEFAULT_FILE_TEMPLATE.to_string(),
    }
}

/// The glob readers scan: `MMSTATS_GLOB`, else `<directory>/*.mmstats`.
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
}

impl Vars {
    /// The values for the calling thread.
    pub fn current() -> Vars {
        Vars {
            cmd: program_name(),
            pid: std::process::id(),
            tid: thread_id(),
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

/// Substitutes `{CMD}`, `{PID}` and `{TID}` in `template`.
///
/// `{{` and `}}` stand for literal braces; any other `{...}` is an error.
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
                "PID" => out.push_str(&vars.pid.to_string()),
                "TID" => match tid {
                    Some(pattern) => out.push_str(pattern),
                    None => out.push_str(&vars.tid.to_string()),
                },
                other => {
                    return Err(bad(format!(
                        "unknown placeholder `{{{other}}}`; use {{CMD}}, {{PID}} or {{TID}}"
                    )))
                }
            }
            rest = &tail[close + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// What sits at the path a new file should take.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Nothing: the new file takes the name with a link.
    Absent,
    /// A stats file of this user that no live writer holds: the new file
    /// replaces it with a rename.
    Stale,
}

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
    let mut file = match open_no_follow(path) {
        Ok(file) => file,
        Err(e) => return Err(Error::io("open", path, e)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(Error::InUse { path: path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
    }
    let mut first = [0u8; 1];
    let is_stats = matches!(file.read(&mut first), Ok(1)) && first[0] == VERSION;
    if !is_stats || meta.len() == 0 {
        return Err(Error::NotStatsFile { path: path_buf() });
    }
    Ok(Target::Stale)
}

/// Opens an existing file for reading without following a final symlink.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A file that is built but not yet visible under its final name.
pub(crate) struct Pending {
    /// The open file and its mapping; taken when published.
    inner: Option<(File, Region)>,
    temp: PathBuf,
    path: PathBuf,
    target: Target,
}

/// Steps 1 and 2 of the module docs: a fresh file of `size` bytes, mapped,
/// under a temporary name beside `path`.
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
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".{}.{}.{}.tmp",
        std::process::id(),
        thread_id(),
        TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = dir.join(temp_name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC).bits() as i32)
        .open(&temp)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::io("create a stats file in directory", &dir, e),
            _ => Error::io("create", &temp, e),
        })?;
    let cleanup = TempGuard(&temp);
    let len = u64::try_from(size)
        .map_err(|_| Error::io("size", &temp, io::ErrorKind::InvalidInput.into()))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set the mode of", &temp, e))?;
    reserve(&file, len).map_err(|e| Error::io("reserve space for", &temp, e))?;
    let region = Region::map_file(&file, size).map_err(|e| Error::io("map", &temp, e))?;
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
            use std::os::unix::fs::FileExt;
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

    /// Step 4 of the module docs: gives the file its final name.
    pub(crate) fn publish(mut self) -> Result<(File, Region, PathBuf), Error> {
        match self.target {
            Target::Absent => {
                if let Err(e) = std::fs::hard_link(&self.temp, &self.path) {
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        // Something took the name meanwhile: say what it is.
                        inspect_target(&self.path)?;
                    }
                    return Err(Error::io("publish", &self.path, e));
                }
                let _ = std::fs::remove_file(&self.temp);
            }
            Target::Stale => {
                std::fs::rename(&self.temp, &self.path)
                    .map_err(|e| Error::io("replace", &self.path, e))?;
            }
        }
        let path = std::mem::take(&mut self.path);
        match self.inner.take() {
            Some((file, region)) => Ok((file, region, path)),
            None => Err(Error::io("publish", path, io::ErrorKind::NotFound.into())),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Still holding the file means it was never published.
        if self.inner.is_some() {
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
/// belong to this user, and that no live writer holds. Only when the
/// template holds both `{PID}` and `{TID}`, so that no other process's files
/// can match. Returns the paths removed.
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
        let Ok(file) = open_no_follow(&path) else {
            continue;
        };
        if file.try_lock().is_ok() && std::fs::remove_file(&path).is_ok() {
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
}
