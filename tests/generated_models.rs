//! Hunts values written into the wrong field, or read back wrong, across
//! the whole space of models: `build.rs` writes 200 models of random mixes
//! and orders of every field type (every `Gauge<T>` and `Static<T>`, texts
//! of many sizes, several summaries each, prefixes, default fields on and
//! off), each with a function that gives every field known values. Each
//! file must read back exactly: by this crate's reader always, and by the
//! original Python reader when it is given (`MMSTATS_PY_READER`).

mod python;

use std::path::{Path, PathBuf};

use mmstats::reader::{read_path, Snapshot, Value};
use mmstats::{
    Average, Counter, Flag, Gauge, MmStats, MovingAverage, Static, StaticText, Summary, Text, Timer,
};
use serde_json::Value as Json;

/// A value a reader must read back.
#[derive(Clone, Copy, Debug, PartialEq)]
enum E {
    U(u64),
    I(i64),
    /// A float's bits (float32 values widened to a double).
    F(u64),
    B(bool),
    S(&'static str),
}

impl E {
    /// Whether this crate's reader read this value (floats bit for bit).
    fn is(&self, value: &Value) -> bool {
        match (self, value) {
            (E::U(e), Value::Unsigned(v)) => e == v,
            (E::I(e), Value::Signed(v)) => e == v,
            (E::F(e), Value::Float(v)) => *e == v.to_bits(),
            (E::B(e), Value::Bool(v)) => e == v,
            (E::S(e), Value::Text(v)) => e == v,
            _ => false,
        }
    }

    /// Whether the original reader read this value.
    fn is_json(&self, value: &Json) -> bool {
        match self {
            E::U(e) => value.as_u64() == Some(*e),
            E::I(e) => value.as_i64() == Some(*e),
            E::F(e) => value.as_f64().map(f64::to_bits) == Some(*e),
            // The original reads `?` as a bool.
            E::B(e) => value.as_bool() == Some(*e),
            E::S(e) => value.as_str() == Some(e),
        }
    }
}

/// One model's file, and what must be read from it.
struct Made {
    name: &'static str,
    path: PathBuf,
    prefix: &'static str,
    defaults: bool,
    /// Every field of the model, parts included, in file order; the default
    /// fields follow when `defaults` is on.
    expected: Vec<(&'static str, E)>,
}

include!(concat!(env!("OUT_DIR"), "/generated_models.rs"));

/// The default fields' labels, without the prefix.
const DEFAULT_LABELS: [&str; 8] = [
    "sys.pid",
    "sys.tid",
    "sys.uid",
    "sys.gid",
    "sys.created",
    "org.rust-lang.version",
    "sys.cmd",
    "sys.model",
];

/// Checks one model's file as this crate's reader reads it.
fn check_ours(made: &Made, snapshot: &Snapshot) {
    let labels: Vec<&str> = snapshot.stats.iter().map(|s| s.label.as_str()).collect();
    let mut expected_labels: Vec<String> =
        made.expected.iter().map(|(l, _)| l.to_string()).collect();
    if made.defaults {
        expected_labels.extend(DEFAULT_LABELS.iter().map(|l| format!("{}{l}", made.prefix)));
    }
    assert_eq!(labels, expected_labels, "{}: labels", made.name);
    for ((label, expected), stat) in made.expected.iter().zip(&snapshot.stats) {
        assert!(
            expected.is(&stat.value),
            "{}: {label}: read {:?}, written {expected:?}",
            made.name,
            stat.value
        );
    }
    assert!(snapshot.unsettled.is_empty(), "{}", made.name);
    if made.defaults {
        assert_eq!(snapshot.pid(), Some(std::process::id()), "{}", made.name);
    }
}

/// Creates and checks every model; returns the files, still on disk.
fn make_all(dir: &Path) -> Vec<Made> {
    let made: Vec<Made> = MODELS.iter().map(|make| make(dir)).collect();
    assert_eq!(made.len(), 200);
    let summaries = made
        .iter()
        .map(|m| {
            m.expected
                .iter()
                .filter(|(l, _)| l.ends_with(".count"))
                .count()
        })
        .collect::<Vec<_>>();
    // The generator's promises: several summaries in most models, both
    // settings of the default fields, statics after summaries.
    assert!(summaries.iter().filter(|&&n| n >= 2).count() >= 100);
    assert!(made.iter().any(|m| m.defaults) && made.iter().any(|m| !m.defaults));
    made
}

#[test]
fn two_hundred_generated_models_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let made = make_all(dir.path());
    let mut fields = 0;
    for m in &made {
        let snapshot = read_path(&m.path).unwrap_or_else(|e| panic!("{}: {e}", m.name));
        check_ours(m, &snapshot);
        fields += snapshot.stats.len();
    }
    println!("{} models, {fields} fields read back exactly", made.len());
}

#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn two_hundred_generated_models_read_back_exactly_by_the_original_reader() {
    python::reader_py();
    let dir = tempfile::tempdir().unwrap();
    let made = make_all(dir.path());
    let mut fields = 0;
    for m in &made {
        let theirs = python::python_read(&m.path);
        let ours = read_path(&m.path).unwrap();
        let labels: Vec<&str> = theirs.iter().map(|(l, _)| l.as_str()).collect();
        let our_labels: Vec<&str> = ours.stats.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, our_labels, "{}: labels", m.name);
        for ((label, expected), (_, value)) in m.expected.iter().zip(&theirs) {
            assert!(
                expected.is_json(value),
                "{}: {label}: the original reader read {value}, written {expected:?}",
                m.name
            );
        }
        // The default fields too: the same as this crate's reader reads.
        for (stat, (_, value)) in ours.stats.iter().zip(&theirs) {
            assert!(
                python::same_value(&stat.value, value),
                "{}: {}: we read {:?}, the original {value}",
                m.name,
                stat.label,
                stat.value
            );
        }
        fields += theirs.len();
    }
    println!(
        "{} models, {fields} fields read back exactly by the original reader",
        made.len()
    );
}
