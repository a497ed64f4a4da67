//! Errors of the writer side: creating, flushing and removing stats files.

use std::io;
use std::path::PathBuf;

/// What went wrong while creating, flushing or removing a stats file.
///
/// Every variant that concerns a file names it. `Debug` prints the same
/// readable message as `Display`, so that `fn main() -> Result<(),
/// mmstats::Error>` reports `Error: cannot create stats file ...` rather
/// than a structure; `{:#?}` adds the underlying errors.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A symbolic link sits where the stats file should go. Links are never
    /// followed, so that a planted link cannot make a writer overwrite another
    /// file.
    #[error("cannot create stats file {}: a symbolic link is in the way (links are never followed)", path.display())]
    Symlink {
        /// The file that was to be created.
        path: PathBuf,
    },
    /// Something that is not a regular file (a directory, a socket, ...)
    /// sits where the stats file should go.
    #[error("cannot create stats file {}: something that is not a regular file is in the way", path.display())]
    NotAFile {
        /// The file that was to be created.
        path: PathBuf,
    },
    /// A file of another user sits where the stats file should go; it is left
    /// untouched.
    #[error("cannot create stats file {}: a file of another user (uid {owner}) is in the way", path.display())]
    ForeignFile {
        /// The file that was to be created.
        path: PathBuf,
        /// The owner of the file in the way.
        owner: u32,
    },
    /// A live writer holds the file that sits where the stats file should go.
    #[error("cannot create stats file {}: a live writer holds a file of that name", path.display())]
    InUse {
        /// The file that was to be created.
        path: PathBuf,
    },
    /// A finished stats file sits where the stats file should go, but it is
    /// not provably this process's or a gone process's: it may belong to a
    /// process that still runs (one in another PID namespace, such as
    /// another container sharing the directory), whose counts must not be
    /// lost. It is left untouched.
    #[error("cannot create stats file {}: the file in the way may be another process's: {reason}", path.display())]
    Occupied {
        /// The file that was to be created.
        path: PathBuf,
        /// Why the file in the way is not taken over.
        reason: String,
    },
    /// A file that is not an mmstats file sits where the stats file should
    /// go; it is left untouched.
    #[error("cannot create stats file {}: a file that is not an mmstats file is in the way", path.display())]
    NotStatsFile {
        /// The file that was to be created.
        path: PathBuf,
    },
    /// The operating system refused an operation on a file.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done: "create", "map", "flush", ...
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A file name or directory template is malformed.
    #[error("bad file name template {template:?}: {reason}")]
    Template {
        /// The template as given.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field's layout does not fit its type. This would be a bug in mmstats.
    #[error("internal error: the layout of field {label:?} does not match its type")]
    Layout {
        /// The field's label.
        label: String,
    },
}

impl std::fmt::Debug for Error {
    /// The message, as `Display` writes it; `{:#?}` adds the chain of
    /// underlying errors, one per line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)?;
        if f.alternate() {
            let mut source = std::error::Error::source(self);
            while let Some(cause) = source {
                write!(f, "\ncaused by: {cause:?}")?;
                source = cause.source();
            }
        }
        Ok(())
    }
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_reads_like_the_message() {
        let e = Error::io(
            "create a stats file in directory",
            "/nonexistent/dir",
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(format!("{e:?}"), e.to_string());
        assert_eq!(
            format!("{e:?}"),
            "cannot create a stats file in directory /nonexistent/dir: entity not found"
        );
        let chain = format!("{e:#?}");
        assert!(chain.starts_with(&e.to_string()), "{chain}");
        assert!(chain.contains("\ncaused by: Kind(NotFound)"), "{chain}");
    }
}
