//! Why a file could not be read: [`ReadError`], and the quoting of labels
//! and signatures in its messages.

use std::path::{Path, PathBuf};

use crate::format;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened or mapped.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A problem in the contents of the file at `path`.
    #[error("{}: {error}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        error: Box<ReadError>,
    },
    /// There is not even a version byte.
    #[error("not an mmstats file: it is empty")]
    Empty,
    /// The first byte is not a version this reader knows.
    #[error(
        "not an mmstats file, or one of a newer format: the version byte is {found:#04x}, \
         this reader knows only version {}",
        format::VERSION
    )]
    UnsupportedVersion {
        /// The first byte of the file.
        found: u8,
    },
    /// A part of a field runs past the end of the file.
    #[error(
        "the file is cut short: the {what}{} at offset {offset} needs {needed} bytes, \
         only {available} are left",
        field_name(label)
    )]
    Truncated {
        /// Which part: `label size`, `label`, `type signature size`, ...
        what: &'static str,
        /// The field's label, once it is known.
        label: Option<String>,
        /// Offset where the part starts.
        offset: usize,
        /// Bytes the part needs.
        needed: usize,
        /// Bytes left in the file from `offset`.
        available: usize,
    },
    /// A field's type signature is not one this reader can decode.
    #[error(
        "field {} at offset {offset} has the type signature {}, \
         which this reader does not know",
        quoted(label),
        quoted(signature)
    )]
    UnknownSignature {
        /// The field's label.
        label: String,
        /// The signature as stored (invalid UTF-8 replaced).
        signature: String,
        /// Offset where the field starts.
        offset: usize,
    },
    /// A field's value (both buffers, if double-buffered) is larger than the
    /// whole file, so the signature cannot be right.
    #[error(
        "field {} at offset {offset} claims a value of {size} bytes, \
         more than the whole file ({file_size} bytes)",
        quoted(label)
    )]
    ValueTooLarge {
        /// The field's label.
        label: String,
        /// Offset where the field starts.
        offset: usize,
        /// Bytes the value part would take.
        size: usize,
        /// Size of the file.
        file_size: usize,
    },
    /// A double-buffered field's write-buffer byte is neither 0 nor 1.
    #[error(
        "field {} at offset {offset} has the write-buffer byte {found}; \
         only 0, 1 (double-buffered) and 255 (unbuffered) are valid",
        quoted(label)
    )]
    InvalidWriteBuffer {
        /// The field's label.
        label: String,
        /// Offset of the write-buffer byte.
        offset: usize,
        /// The byte found.
        found: u8,
    },
    /// The writer kept switching buffers while a double-buffered value was
    /// being copied, so no consistent value could be read.
    #[error(
        "field {} at offset {offset} changed during every one of {attempts} \
         attempts to read it; its writer may be updating it in a tight loop",
        quoted(label)
    )]
    UnstableBuffer {
        /// The field's label.
        label: String,
        /// Offset where the field starts.
        offset: usize,
        /// How many copies were tried.
        attempts: u32,
    },
    /// Reading the file would take more bytes than the reader's limit
    /// ([`Limits::max_bytes`](super::Limits::max_bytes)).
    #[error(
        "the file needs more than {limit} bytes, the most a reader takes: \
         the {what} at offset {offset} ends at byte {end}"
    )]
    TooLarge {
        /// The limit.
        limit: usize,
        /// Which part of the file runs past it.
        what: &'static str,
        /// Where that part starts.
        offset: usize,
        /// Where it ends.
        end: usize,
    },
    /// The file has more fields than the reader's limit
    /// ([`Limits::max_fields`](super::Limits::max_fields)).
    #[error(
        "the file has more than {limit} fields, the most a reader takes \
         (the next one is at offset {offset})"
    )]
    TooManyFields {
        /// The limit.
        limit: usize,
        /// Where the first field past the limit starts.
        offset: usize,
    },
    /// The file got shorter while it was read: another process truncated
    /// it. Nothing read from it is returned.
    #[error(
        "the file shrank while it was read: {needed} bytes at offset {offset} \
         were asked for, {got} were there"
    )]
    Shrunk {
        /// Where the read started.
        offset: usize,
        /// Bytes asked for.
        needed: usize,
        /// Bytes the file still had there.
        got: usize,
    },
}

impl ReadError {
    /// The file the error is about, if it came from [`read_path`].
    ///
    /// [`read_path`]: super::read_path
    pub fn path(&self) -> Option<&Path> {
        match self {
            ReadError::Io { path, .. } | ReadError::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The error without the path that [`read_path`] wraps around problems
    /// in a file's contents: for matching on what went wrong.
    ///
    /// [`read_path`]: super::read_path
    pub fn without_path(&self) -> &ReadError {
        match self {
            ReadError::File { error, .. } => error.without_path(),
            other => other,
        }
    }
}

/// ` of field "label"`, or nothing when the label is not known yet.
fn field_name(label: &Option<String>) -> String {
    match label {
        Some(label) => format!(" of field {}", quoted(label)),
        None => String::new(),
    }
}

/// Longest label or signature that error messages quote in full.
const QUOTE_LIMIT: usize = 60;

/// `text` quoted for an error message, cut short when it is long (a damaged
/// file can hold a signature of thousands of bytes).
fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!(
            "{:?}... ({} bytes)",
            text.get(..cut).unwrap_or_default(),
            text.len()
        ),
        None => format!("{text:?}"),
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
    use super::*;

    /// Messages name the field, quoted, once its label is known, and cut a
    /// long label or signature short, saying how long it was.
    #[test]
    fn messages_quote_labels_and_cut_long_ones_short() {
        let truncated = |label: Option<&str>| ReadError::Truncated {
            what: "value",
            label: label.map(String::from),
            offset: 10,
            needed: 8,
            available: 3,
        };
        assert_eq!(
            truncated(Some("hits")).to_string(),
            "the file is cut short: the value of field \"hits\" at offset 10 needs 8 bytes, \
             only 3 are left"
        );
        assert_eq!(
            truncated(None).to_string(),
            "the file is cut short: the value at offset 10 needs 8 bytes, only 3 are left"
        );
        let long = "é".repeat(61);
        let e = ReadError::UnknownSignature {
            label: "a\"b".into(),
            signature: long.clone(),
            offset: 0,
        };
        let cut = format!("{:?}... (122 bytes)", "é".repeat(60));
        assert_eq!(
            e.to_string(),
            format!(
                "field \"a\\\"b\" at offset 0 has the type signature {cut}, \
                 which this reader does not know"
            )
        );
        // Exactly at the limit, whole.
        assert_eq!(quoted(&long[2..]), format!("{:?}", "é".repeat(60)));
    }

    /// The path of an error is that of a read of a file, the one around a
    /// problem in its contents too, and `without_path` finds the problem
    /// however deep it is wrapped.
    #[test]
    fn an_error_names_its_path_and_unwraps_to_its_problem() {
        let path = PathBuf::from("/stats/x.mmstats");
        let io = ReadError::Io {
            path: path.clone(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(io.path(), Some(path.as_path()));
        assert!(matches!(io.without_path(), ReadError::Io { .. }));
        let inner = ReadError::File {
            path: PathBuf::from("/inner"),
            error: Box::new(ReadError::UnsupportedVersion { found: 9 }),
        };
        let file = ReadError::File {
            path: path.clone(),
            error: Box::new(inner),
        };
        assert_eq!(file.path(), Some(path.as_path()));
        assert!(matches!(
            file.without_path(),
            ReadError::UnsupportedVersion { found: 9 }
        ));
        assert_eq!(ReadError::Empty.path(), None);
        assert!(matches!(ReadError::Empty.without_path(), ReadError::Empty));
    }
}
