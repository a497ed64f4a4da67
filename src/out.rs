//! Writing to standard output without panicking when the reader goes away.

use std::borrow::Cow;
use std::io::{self, BufWriter, Stdout, Write};

/// How a command ended, when it is not done with its work.
#[derive(Debug)]
pub enum Stop {
    /// Standard output was closed by its reader (a pipe into `head`): end
    /// quietly, with this status.
    Closed(Status),
    /// Something that makes going on pointless, said on standard error.
    Fatal(String),
}

/// The outcome of a command: everything went well, or some file failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Whether some file could not be read, or removed.
    pub failed: bool,
}

impl From<Status> for std::process::ExitCode {
    fn from(status: Status) -> Self {
        if status.failed {
            std::process::ExitCode::from(1)
        } else {
            std::process::ExitCode::SUCCESS
        }
    }
}

/// Buffered standard output that turns write errors into [`Stop`].
pub struct Out {
    inner: BufWriter<Stdout>,
    /// The status so far, reported if the output closes.
    pub status: Status,
}

impl Out {
    /// Standard output, buffered.
    pub fn new() -> Out {
        Out {
            inner: BufWriter::new(io::stdout()),
            status: Status::default(),
        }
    }

    /// Writes one line, control characters escaped (see [`printable`]).
    pub fn line(&mut self, text: &str) -> Result<(), Stop> {
        let text = printable(text);
        let result = self
            .inner
            .write_all(text.as_bytes())
            .and_then(|()| self.inner.write_all(b"\n"));
        result.map_err(|e| self.stop(e))
    }

    /// Sends what is buffered on.
    pub fn flush(&mut self) -> Result<(), Stop> {
        let result = self.inner.flush();
        result.map_err(|e| self.stop(e))
    }

    /// Notes that a file failed; the command goes on.
    pub fn failed(&mut self) {
        self.status.failed = true;
    }

    fn stop(&self, error: io::Error) -> Stop {
        if error.kind() == io::ErrorKind::BrokenPipe {
            Stop::Closed(self.status)
        } else {
            Stop::Fatal(format!("cannot write to standard output: {error}"))
        }
    }

    /// Flushes and gives the final status.
    pub fn finish(mut self) -> Result<Status, Stop> {
        self.flush()?;
        Ok(self.status)
    }
}

/// `text` with every control character (newline, escape, ...) written as a
/// Rust escape (`\n`, `\u{1b}`): labels, texts and file names come from
/// files anyone may write, and must not forge lines or drive the terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Says `message` on standard error. Standard error is unbuffered and a
/// failure to write there cannot be reported anywhere, so it is ignored.
pub fn warn(message: &str) {
    let _ = writeln!(io::stderr(), "mmstats: {}", printable(message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("web.requests 12"), "web.requests 12");
        assert_eq!(printable("a\nb\u{1b}[2Jc\t"), "a\\nb\\u{1b}[2Jc\\t");
        assert_eq!(printable("café"), "café");
    }
}
