//! Turning what a user typed (files, directories, globs) into stats files.
//!
//! Every tool takes the same arguments: a path names one file; a directory
//! stands for the `*.mmstats` files directly in it; anything else is a glob
//! pattern (`/tmp/web-*.mmstats`). No argument at all means the default glob
//! ([`file::default_glob`]: `MMSTATS_GLOB`, else
//! `MMSTATS_PATH/*.mmstats`).
//!
//! [`candidates`] expands the arguments without looking at what the paths
//! are, for a tool that checks each path itself (the cleaner); [`discover`]
//! keeps the regular files and the symbolic links to regular files, and says
//! why it left out the rest. Neither ever reaches a file through a symbolic
//! link that a wildcard matched, nor expands a link to a directory; the
//! directories a user names (the literal part of a pattern) are taken as they
//! are, links or not, so that `MMSTATS_PATH=/var/run/app` works where
//! `/var/run` links to `/run`. [`discover`] follows a link only to a regular
//! file.

// Runs on whatever files and arguments users give: nothing here may panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::io;
use std::path::{Path, PathBuf};

use crate::file;

/// Why an argument, or a path it expanded to, gave no file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Skip {
    /// A path or pattern that matches nothing.
    #[error("{arg}: no such file, and no file matches it as a pattern")]
    NoMatch {
        /// The argument as given.
        arg: String,
    },
    /// A glob pattern that does not parse.
    #[error("{arg}: not a valid pattern: {reason}")]
    BadPattern {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Something that is not a regular file, or a link to something that is
    /// not one.
    #[error("{}: {what}, not a regular file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is instead (`a directory`, `a symbolic link to a directory`, ...).
        what: &'static str,
    },
    /// A pattern matched a path through a symbolic link to a directory.
    #[error("{}: reached through the symbolic link {}, which is not followed", path.display(), link.display())]
    BehindLink {
        /// The path matched.
        path: PathBuf,
        /// The link on the way.
        link: PathBuf,
    },
    /// The path or a directory could not be looked at.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// What [`candidates`] or [`discover`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// The paths, sorted, each once.
    pub files: Vec<PathBuf>,
    /// Arguments and paths that gave no file, and why.
    pub skipped: Vec<Skip>,
}

/// Whether `arg` holds a glob metacharacter.
fn is_pattern(arg: &str) -> bool {
    arg.contains(['*', '?', '['])
}

/// Expands `args` (the default glob when empty) into paths: a path that
/// exists as given is taken as it is, except that a real directory (not a
/// link to one) stands for its `*.mmstats` entries; anything else is
/// matched as a glob pattern. The paths are not checked further: they may
/// be links, directories matched by a pattern, or anything else.
pub fn candidates<S: AsRef<str>>(args: &[S]) -> Found {
    let mut found = Found::default();
    if args.is_empty() {
        expand_glob(&file::default_glob(), false, &mut found);
    }
    for arg in args {
        let arg = arg.as_ref();
        match std::fs::symlink_metadata(arg) {
            Ok(meta) if meta.is_dir() => {
                // The directory's name is literal; only `*` is a wildcard.
                let dir = glob::Pattern::escape(&Path::new(arg).to_string_lossy());
                let pattern = format!("{}/*.mmstats", dir.trim_end_matches('/'));
                expand_glob(&pattern, false, &mut found);
            }
            Ok(_) => found.files.push(PathBuf::from(arg)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && is_pattern(arg) => {
                expand_glob(arg, true, &mut found)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                found.skipped.push(Skip::NoMatch { arg: arg.into() })
            }
            Err(source) => found.skipped.push(Skip::Io {
                path: arg.into(),
                source,
            }),
        }
    }
    found.files.sort();
    found.files.dedup();
    found
}

fn expand_glob(pattern: &str, must_match: bool, found: &mut Found) {
    let paths = match glob::glob(pattern) {
        Ok(paths) => paths,
        Err(e) => {
            found.skipped.push(Skip::BadPattern {
                arg: pattern.into(),
                reason: e.msg.to_string(),
            });
            return;
        }
    };
    let literal = literal_components(pattern);
    let mut matched = false;
    for entry in paths {
        matched = true;
        match entry {
            Ok(path) => match linked_directory(&path, literal) {
                None => found.files.push(path),
                Some(link) => found.skipped.push(Skip::BehindLink { path, link }),
            },
            Err(e) => {
                let path = e.path().to_path_buf();
                found.skipped.push(Skip::Io {
                    path,
                    source: e.into(),
                });
            }
        }
    }
    if must_match && !matched {
        found.skipped.push(Skip::NoMatch {
            arg: pattern.into(),
        });
    }
}

/// The components of `path` that count: all but `.`.
fn components(path: &Path) -> impl Iterator<Item = std::path::Component<'_>> {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
}

/// How many leading components of `pattern` hold no wildcard: the
/// directories the user named, taken as they are even if they are links.
fn literal_components(pattern: &str) -> usize {
    components(Path::new(pattern))
        .take_while(|c| !is_pattern(&c.as_os_str().to_string_lossy()))
        .count()
}

/// The first directory on the way to `path` that a wildcard matched and that
/// is a symbolic link, if any. The last component is the file itself and is
/// left to the caller.
fn linked_directory(path: &Path, literal: usize) -> Option<PathBuf> {
    let parts: Vec<_> = components(path).collect();
    let directories = parts.len().checked_sub(1)?;
    let mut prefix = PathBuf::new();
    for (i, part) in parts.iter().take(directories).enumerate() {
        prefix.push(part);
        if i >= literal
            && std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Some(prefix);
        }
    }
    None
}

/// Expands `args` as [`candidates`] does and keeps the regular files and the
/// symbolic links that end at a regular file; every other path is skipped
/// with the reason.
pub fn discover<S: AsRef<str>>(args: &[S]) -> Found {
    let Found { files, mut skipped } = candidates(args);
    let mut kept = Vec::with_capacity(files.len());
    for path in files {
        match regular(&path) {
            Ok(()) => kept.push(path),
            Err(skip) => skipped.push(skip),
        }
    }
    Found {
        files: kept,
        skipped,
    }
}

/// Whether `path` is a regular file or a link to one.
fn regular(path: &Path) -> Result<(), Skip> {
    let io_skip = |source| Skip::Io {
        path: path.to_path_buf(),
        source,
    };
    let own = std::fs::symlink_metadata(path).map_err(io_skip)?;
    let link = own.file_type().is_symlink();
    let meta = if link {
        match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Skip::NotRegular {
                    path: path.to_path_buf(),
                    what: "a symbolic link to nothing",
                })
            }
            Err(e) => return Err(io_skip(e)),
        }
    } else {
        own
    };
    if meta.is_file() {
        return Ok(());
    }
    let what = match (link, meta.is_dir()) {
        (false, true) => "a directory",
        (true, true) => "a symbolic link to a directory",
        (false, false) => "a special file",
        (true, false) => "a symbolic link to a special file",
    };
    Err(Skip::NotRegular {
        path: path.to_path_buf(),
        what,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn paths_directories_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["a.mmstats", "b.mmstats", "c.txt"] {
            std::fs::write(d.join(name), b"\x01").unwrap();
        }
        std::fs::create_dir(d.join("sub.mmstats")).unwrap();
        std::os::unix::fs::symlink(d.join("a.mmstats"), d.join("to-a.mmstats")).unwrap();
        std::os::unix::fs::symlink(d.join("sub.mmstats"), d.join("to-dir.mmstats")).unwrap();
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling.mmstats")).unwrap();
        let s = |p: &Path| p.to_string_lossy().into_owned();

        let found = candidates(&[s(d)]);
        let names: Vec<_> = found
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "a.mmstats",
                "b.mmstats",
                "dangling.mmstats",
                "sub.mmstats",
                "to-a.mmstats",
                "to-dir.mmstats"
            ]
        );
        assert!(found.skipped.is_empty());

        let found = discover(&[s(d)]);
        assert_eq!(
            found.files,
            [
                d.join("a.mmstats"),
                d.join("b.mmstats"),
                d.join("to-a.mmstats")
            ]
        );
        let reasons: Vec<String> = found.skipped.iter().map(|s| s.to_string()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].ends_with("a symbolic link to nothing, not a regular file"));
        assert!(reasons[1].ends_with("sub.mmstats: a directory, not a regular file"));
        assert!(reasons[2].ends_with("a symbolic link to a directory, not a regular file"));

        // A link to a directory given as an argument is not descended into.
        let found = discover(&[s(&d.join("to-dir.mmstats"))]);
        assert!(found.files.is_empty());
        assert_eq!(found.skipped.len(), 1);

        // Globs, explicit files (any name), duplicates, misses.
        let found = discover(&[
            format!("{}/b*", s(d)),
            s(&d.join("c.txt")),
            s(&d.join("b.mmstats")),
            s(&d.join("missing")),
            format!("{}/zz*", s(d)),
        ]);
        assert_eq!(found.files, [d.join("b.mmstats"), d.join("c.txt")]);
        let reasons: Vec<String> = found.skipped.iter().map(|s| s.to_string()).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons.iter().all(|r| r.contains("no such file")));
    }

    #[test]
    fn patterns_never_go_through_links_to_directories() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("real/app")).unwrap();
        std::fs::write(d.join("real/app/a.mmstats"), b"\x01").unwrap();
        std::fs::create_dir(d.join("other")).unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("other/linked")).unwrap();
        // Through a wildcard: the link is not followed.
        let found = candidates(&[format!("{}/other/*/app/*.mmstats", d.display())]);
        assert!(found.files.is_empty(), "{:?}", found.files);
        assert_eq!(found.skipped.len(), 1);
        assert!(
            found.skipped[0]
                .to_string()
                .contains("reached through the symbolic link"),
            "{}",
            found.skipped[0]
        );
        // Named by the user: taken as it is.
        let found = candidates(&[format!("{}/other/linked/app/*.mmstats", d.display())]);
        assert_eq!(found.files.len(), 1);
        let found = candidates(&[format!("{}/*/app/*.mmstats", d.display())]);
        assert_eq!(found.files, [d.join("real/app/a.mmstats")]);
    }

    #[test]
    fn directory_names_with_pattern_characters_are_literal() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("x[1]");
        std::fs::create_dir(&odd).unwrap();
        std::fs::write(odd.join("a.mmstats"), b"\x01").unwrap();
        let found = discover(&[odd.to_string_lossy().into_owned()]);
        assert_eq!(found.files, [odd.join("a.mmstats")]);
    }
}
