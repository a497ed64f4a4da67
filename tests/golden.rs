//! The reader against the golden files: files written by the original Python
//! writer, each with what the original reader returns for it (`NAME.json`).
//!
//! The files are not copied into this repository; the test reads them from
//! the directory named by `MMSTATS_GOLDEN_DIR` and fails if it is not set.

use std::path::{Path, PathBuf};

use mmstats::reader::{read_bytes, read_path, Snapshot, Value};
use serde_json::Value as Json;

/// Every `*.mmstats` file in `$MMSTATS_GOLDEN_DIR`, sorted; panics (failing
/// the test) when the variable is unset or there are none.
fn golden_files() -> Vec<PathBuf> {
    let dir = std::env::var_os("MMSTATS_GOLDEN_DIR")
        .expect("MMSTATS_GOLDEN_DIR must name the directory of golden files");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", Path::new(&dir).display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "mmstats"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no .mmstats files in {}",
        Path::new(&dir).display()
    );
    files
}

/// The golden set as documented in its README.
const GOLDEN_NAMES: [&str; 15] = [
    "all_types",
    "strings",
    "write_buffer_odd",
    "write_buffer_even",
    "defaults_fixed",
    "defaults_live",
    "labels_utf8",
    "inheritance",
    "empty",
    "page_exact",
    "page_minus_one",
    "multi_page",
    "label_overflow_65536",
    "label_overflow_65541",
    "handmade_padded_signature",
];

fn hex_bytes(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex string {hex}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The double a golden field's `value_hex` holds: 8 bytes of a double, or 4
/// bytes of a float32, widened.
fn golden_float(hex: &str) -> f64 {
    let bytes = hex_bytes(hex);
    match bytes.len() {
        8 => f64::from_le_bytes(bytes.try_into().unwrap()),
        4 => f32::from_le_bytes(bytes.try_into().unwrap()).into(),
        n => panic!("a float of {n} bytes: {hex}"),
    }
}

/// Checks one value against its golden JSON field; returns a description of
/// the difference, if any.
fn compare_value(ours: &Value, golden: &Json) -> Result<(), String> {
    let expected = &golden["value"];
    let same = match ours {
        Value::Unsigned(v) => expected.as_u64() == Some(*v),
        Value::Signed(v) => expected.as_i64() == Some(*v),
        Value::Float(v) => {
            let hex = golden["value_hex"].as_str().ok_or("no value_hex")?;
            v.to_bits() == golden_float(hex).to_bits()
        }
        Value::Bool(v) => expected.as_bool() == Some(*v),
        Value::Text(v) => expected.as_str() == Some(v.as_str()),
        // The original reader gives the first of repeated values.
        Value::Counts(v) => v.first().map(|&c| u64::from(c)) == expected.as_u64(),
    };
    if same {
        Ok(())
    } else {
        Err(format!("read {ours:?}, the original reader gives {golden}"))
    }
}

/// Compares a snapshot with the golden JSON of its file.
fn compare(name: &str, snapshot: &Snapshot, golden: &Json) {
    assert_eq!(
        snapshot.version as u64,
        golden["version"].as_u64().unwrap(),
        "{name}: version"
    );
    assert_eq!(
        snapshot.file_size as u64,
        golden["file_size"].as_u64().unwrap(),
        "{name}: file size"
    );
    let fields = golden["fields"].as_array().expect("fields");
    let labels: Vec<&str> = snapshot.stats.iter().map(|s| s.label.as_str()).collect();
    let golden_labels: Vec<&str> = fields
        .iter()
        .map(|f| f["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, golden_labels, "{name}: labels");
    for (stat, field) in snapshot.stats.iter().zip(fields) {
        if let Err(e) = compare_value(&stat.value, field) {
            panic!("{name}: field {:?}: {e}", stat.label);
        }
        let signature = golden["field_type_signatures"][stat.label.as_str()]
            .as_str()
            .expect("signature");
        assert_eq!(
            stat.signature,
            signature.trim(),
            "{name}: signature of {:?}",
            stat.label
        );
        let write_buffer = golden["write_buffer"][stat.label.as_str()]
            .as_u64()
            .expect("write buffer");
        assert_eq!(
            stat.buffered,
            write_buffer != 255,
            "{name}: buffering of {:?}",
            stat.label
        );
    }
    assert_eq!(
        snapshot.fields_end as u64,
        golden["fields_end_offset"]
            .as_u64()
            .expect("fields_end_offset"),
        "{name}: fields end"
    );
    assert_eq!(
        snapshot.end.name(),
        golden["end_marker"].as_str().expect("end_marker"),
        "{name}: end marker"
    );
    // No golden file carries the metadata block.
    assert!(!snapshot.meta, "{name}: metadata");
}

#[test]
#[ignore = "needs MMSTATS_GOLDEN_DIR (../shared/golden)"]
fn golden_files_read_like_the_original_reader() {
    let files = golden_files();
    let mut checked = 0;
    let mut fields = 0;
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let json_path = path.with_extension("json");
        let text = std::fs::read_to_string(&json_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", json_path.display()));
        let golden: Json = serde_json::from_str(&text).expect("golden JSON");
        let bytes = std::fs::read(path).unwrap();
        let from_path = read_path(path);
        let from_bytes = read_bytes(&bytes);
        if golden.get("reader_error").is_some() {
            let e = from_path.expect_err(&format!("{name}: the original reader fails"));
            assert_eq!(
                e.path(),
                Some(path.as_path()),
                "{name}: error names the file"
            );
            assert!(from_bytes.is_err(), "{name}: read_bytes must fail too");
            eprintln!("{name}: {e}");
        } else {
            let mut snapshot = from_path.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(snapshot.path.as_deref(), Some(path.as_path()));
            compare(&name, &snapshot, &golden);
            snapshot.path = None;
            // A file has an owner, bytes in memory none.
            assert!(snapshot.owner.take().is_some());
            assert_eq!(
                from_bytes.as_ref().ok(),
                Some(&snapshot),
                "{name}: read_bytes differs from read_path"
            );
            fields += snapshot.stats.len();
        }
        checked += 1;
    }
    assert_eq!(checked, files.len());
    // A directory that lost files must not pass quietly.
    for name in GOLDEN_NAMES {
        assert!(
            files
                .iter()
                .any(|p| p.file_stem().is_some_and(|s| s == name)),
            "{name}.mmstats is missing from the golden set"
        );
    }
    assert!(checked >= GOLDEN_NAMES.len());
    eprintln!("checked {checked} golden files, {fields} fields");
}

#[test]
#[ignore = "needs MMSTATS_GOLDEN_DIR (../shared/golden)"]
fn golden_defaults_have_a_pid_and_static_kinds() {
    let files = golden_files();
    let path = files
        .iter()
        .find(|p| p.file_stem().is_some_and(|s| s == "labels_utf8"))
        .expect("labels_utf8.mmstats");
    let snapshot = read_path(path).unwrap();
    assert_eq!(snapshot.pid(), Some(4242));
    let created = snapshot.get("org.exämple.sys.created").expect("created");
    assert_eq!(created.kind, mmstats::format::Kind::Static);
}
