//! What a read returns: a [`Snapshot`] of a file, its [`Stat`]s and their
//! [`Value`]s, and the [`EndMarker`] that ended its field list.

use std::fmt;
use std::path::PathBuf;

use super::frame::ValueRef;
use crate::format::Kind;

/// Everything read from one mmstats file at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The file read, if the snapshot was read from a file.
    pub path: Option<PathBuf>,
    /// The format version (the first byte): always
    /// [`format::VERSION`](crate::format::VERSION).
    pub version: u8,
    /// Size of the file, or of the bytes read, in bytes.
    pub file_size: usize,
    /// Every field, in file order.
    pub stats: Vec<Stat>,
    /// What ended the field list.
    pub end: EndMarker,
    /// Offset where the field list ends: the terminator, the last zero byte,
    /// or the end of the file.
    pub fields_end: usize,
    /// Whether kinds, units and help texts came from a metadata block.
    pub meta: bool,
    /// Labels of the sequence fields (see [`Kind::Sequence`]) whose groups
    /// could not be read whole: the writer was always in the middle of an
    /// update (or died in one). Their values are the first ones read, and
    /// may be half old, half new.
    pub unsettled: Vec<String>,
    /// Members of run-time families ([`DynFamily`](crate::DynFamily)) left
    /// out because their label value is damaged or forged: not UTF-8, too
    /// long, with a NUL, never settled, or claimed by two members. The
    /// other members are shown under their label values; unused ones are
    /// left out without a report.
    pub damaged: Vec<super::DamagedMember>,
    /// The user who owns the file (its owner's user id, from the open file
    /// itself), if the snapshot was read from a file. Tools keep other
    /// users' files out of this user's totals (see
    /// [`Collector::all_users`](crate::collect::Collector::all_users)).
    pub owner: Option<u32>,
}

impl Snapshot {
    /// The first field labelled exactly `label`.
    pub fn get(&self, label: &str) -> Option<&Stat> {
        self.stats.iter().find(|stat| stat.label == label)
    }

    /// The process that owns the file: the value of the first field whose
    /// label ends with `sys.pid` (a label prefix may come before it), if that
    /// is an integer that can be a process id.
    pub fn pid(&self) -> Option<u32> {
        let stat = self
            .stats
            .iter()
            .find(|stat| stat.label.ends_with("sys.pid"))?;
        stat.value.as_ref().as_pid()
    }

    /// The text of the first field whose label ends with `ending` (a label
    /// prefix may come before it), if it is a text that is not empty.
    fn text_ending(&self, ending: &str) -> Option<&str> {
        let stat = self
            .stats
            .iter()
            .find(|stat| stat.label.ends_with(ending))?;
        match &stat.value {
            Value::Text(text) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    /// The command that wrote the file: its `sys.cmd` field, which every
    /// file this crate writes carries, else what
    /// [`command_of`](crate::aggregate::command_of) makes of its name (as
    /// for files of the original writer); `""` for a snapshot with
    /// neither.
    pub fn command(&self) -> String {
        match self.text_ending("sys.cmd") {
            Some(cmd) => cmd.to_string(),
            None => self
                .path
                .as_deref()
                .map(crate::aggregate::command_of)
                .unwrap_or_default(),
        }
    }

    /// The model the file was written for: its `sys.model` field, if it has
    /// one.
    pub fn model(&self) -> Option<&str> {
        self.text_ending("sys.model")
    }
}

/// What ended the list of fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndMarker {
    /// A label size of zero (the usual terminator).
    ZeroLabelSize,
    /// The last field ends exactly at the end of the file.
    Eof,
    /// A single byte, zero, was left after the last field.
    SingleZeroByte,
}

impl EndMarker {
    /// The name used in the golden test files: `zero_label_size`, `eof` or
    /// `single_zero_byte`.
    pub const fn name(self) -> &'static str {
        match self {
            EndMarker::ZeroLabelSize => "zero_label_size",
            EndMarker::Eof => "eof",
            EndMarker::SingleZeroByte => "single_zero_byte",
        }
    }
}

impl fmt::Display for EndMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One field of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Stat {
    /// The label, decoded as UTF-8 with invalid bytes dropped.
    pub label: String,
    /// What the field means: from the metadata block, or guessed from the
    /// label when the file has none.
    pub kind: Kind,
    /// The value.
    pub value: Value,
    /// The type signature as stored, without its padding (`Q`, `255s`, ...).
    pub signature: String,
    /// Whether the field is double-buffered.
    pub buffered: bool,
    /// The unit of the value from the metadata block, or empty.
    pub unit: String,
    /// What the value means, from the metadata block, or empty.
    pub help: String,
}

impl Stat {
    /// The field's label taken apart, if it is a member of a labelled
    /// family (`web.requests{method="get"}`): the family's label and the
    /// label set, parsed (see [`crate::labels::split`]). `Ok(None)` for an
    /// ordinary field; an error for a label whose set does not parse.
    pub fn member(
        &self,
    ) -> Result<Option<crate::labels::MemberLabel<'_>>, crate::labels::LabelSetError> {
        crate::labels::split(&self.label)
    }
}

/// The value of one field.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An unsigned integer (`B`, `H`, `I`, `Q`, ...).
    Unsigned(u64),
    /// A signed integer (`b`, `h`, `i`, `q`, ...).
    Signed(i64),
    /// A floating-point number; `f` (float32) values are widened exactly.
    Float(f64),
    /// A yes/no value (`?`): any non-zero byte is true.
    Bool(bool),
    /// A text (`Ns`, `c`): the bytes up to the first NUL, as UTF-8 with
    /// invalid bytes dropped.
    Text(String),
    /// Counts (`NI`, N > 1, native `u32`s): a histogram's buckets (see
    /// [`Histogram`](super::Histogram)). The original reader shows the
    /// first.
    Counts(Vec<u32>),
}

impl Value {
    /// The value borrowed, as a [`Frame`](super::Frame) lends it.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Unsigned(v) => ValueRef::Unsigned(*v),
            Value::Signed(v) => ValueRef::Signed(*v),
            Value::Float(v) => ValueRef::Float(*v),
            Value::Bool(v) => ValueRef::Bool(*v),
            Value::Text(v) => ValueRef::Text(v),
            Value::Counts(v) => ValueRef::Counts(v),
        }
    }

    /// The value as a number, for tools that compute rates or plot: booleans
    /// are 0 or 1, texts have no number. Integers beyond 2^53 are rounded.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_ref().as_f64()
    }
}

impl fmt::Display for Value {
    /// Integers in decimal, floats with the fewest digits that read back the
    /// same (always with a decimal point or an exponent, like Python), booleans
    /// as `true`/`false`, texts as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_ref(), f)
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

    #[test]
    fn value_display_and_as_f64() {
        assert_eq!(Value::Float(1.0).to_string(), "1.0");
        assert_eq!(Value::Float(0.1).to_string(), "0.1");
        assert_eq!(Value::Signed(-3).to_string(), "-3");
        assert_eq!(Value::Bool(true).as_f64(), Some(1.0));
        assert_eq!(Value::Text("x".into()).as_f64(), None);
        assert_eq!(
            Value::Unsigned(u64::MAX).to_string(),
            "18446744073709551615"
        );
    }
    fn stat(label: &str, value: Value) -> Stat {
        Stat {
            label: label.into(),
            kind: Kind::Unknown,
            value,
            signature: String::new(),
            buffered: false,
            unit: String::new(),
            help: String::new(),
        }
    }

    fn snapshot(path: Option<&str>, stats: Vec<Stat>) -> Snapshot {
        Snapshot {
            path: path.map(PathBuf::from),
            version: crate::format::VERSION,
            file_size: 0,
            stats,
            end: EndMarker::Eof,
            fields_end: 0,
            meta: false,
            unsettled: Vec::new(),
            damaged: Vec::new(),
            owner: None,
        }
    }

    /// A field is found by its exact label, the first of two; the process
    /// id, the command and the model by their labels' endings (after a
    /// prefix), an empty text being none.
    #[test]
    fn a_snapshot_finds_its_fields_pid_command_and_model() {
        let s = snapshot(
            Some("/stats/web-12-3.mmstats"),
            vec![
                stat("app.sys.pid", Value::Unsigned(42)),
                stat("app.sys.cmd", Value::Text("worker".into())),
                stat("app.sys.model", Value::Text("m1".into())),
                stat("hits", Value::Unsigned(1)),
                stat("hits", Value::Unsigned(2)),
            ],
        );
        assert_eq!(s.get("hits").unwrap().value, Value::Unsigned(1));
        assert_eq!(s.get("app.sys.pid").unwrap().value, Value::Unsigned(42));
        assert!(s.get("its").is_none());
        assert_eq!(s.pid(), Some(42));
        assert_eq!(s.command(), "worker");
        assert_eq!(s.model(), Some("m1"));
        // Empty texts: the command comes from the path, there is no model.
        let empty = snapshot(
            Some("/stats/web-12-3.mmstats"),
            vec![
                stat("sys.cmd", Value::Text(String::new())),
                stat("sys.model", Value::Text(String::new())),
            ],
        );
        assert_eq!(empty.command(), "web");
        assert_eq!(empty.model(), None);
        // Not a text: no command of its own either.
        let number = snapshot(None, vec![stat("sys.cmd", Value::Unsigned(3))]);
        assert_eq!(number.command(), "");
        assert_eq!(number.model(), None);
        assert_eq!(number.pid(), None);
        assert_eq!(snapshot(None, Vec::new()).command(), "");
    }

    #[test]
    fn end_markers_are_named_as_in_the_golden_files() {
        for (end, name) in [
            (EndMarker::ZeroLabelSize, "zero_label_size"),
            (EndMarker::Eof, "eof"),
            (EndMarker::SingleZeroByte, "single_zero_byte"),
        ] {
            assert_eq!(end.name(), name);
            assert_eq!(end.to_string(), name);
        }
    }

    #[test]
    fn a_member_of_a_family_is_taken_apart_and_an_ordinary_field_is_not() {
        let member = stat(r#"web.requests{method="get"}"#, Value::Unsigned(1));
        let parts = member.member().unwrap().unwrap();
        assert_eq!(parts.family, "web.requests");
        assert_eq!(parts.labels, [("method".to_string(), "get".to_string())]);
        assert!(stat("hits", Value::Unsigned(1)).member().unwrap().is_none());
    }

    #[test]
    fn every_value_is_lent_and_shown_as_itself() {
        let values = [
            (Value::Unsigned(7), ValueRef::Unsigned(7), Some(7.0), "7"),
            (Value::Signed(-7), ValueRef::Signed(-7), Some(-7.0), "-7"),
            (Value::Float(2.5), ValueRef::Float(2.5), Some(2.5), "2.5"),
            (
                Value::Bool(false),
                ValueRef::Bool(false),
                Some(0.0),
                "false",
            ),
            (Value::Text("t".into()), ValueRef::Text("t"), None, "t"),
        ];
        for (value, lent, number, shown) in values {
            assert_eq!(value.as_ref(), lent);
            assert_eq!(value.as_f64(), number);
            assert_eq!(value.to_string(), shown);
        }
        let counts = Value::Counts(vec![3, 4]);
        assert_eq!(counts.as_ref(), ValueRef::Counts(&[3, 4]));
    }
}
