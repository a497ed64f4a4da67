//! Runs the original Python reader (mmstats 0.8.0's `reader.py`, named by
//! `$MMSTATS_PY_READER`) through `tests/python/original_reader.py`, for the
//! test crates that compare it with this crate's reader.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mmstats::reader::Value;
use serde_json::Value as Json;

/// The original `reader.py`; panics (failing the test) if it is not given.
pub fn reader_py() -> PathBuf {
    let path = std::env::var_os("MMSTATS_PY_READER")
        .map(PathBuf::from)
        .expect(
            "MMSTATS_PY_READER must name the original mmstats 0.8.0 reader.py \
         (see .ci/fetch-python-reader)",
        );
    assert!(
        path.is_file(),
        "MMSTATS_PY_READER: no file at {}",
        path.display()
    );
    path
}

/// The shim that runs the original reader under Python 3.
pub fn shim() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/original_reader.py")
}

/// Runs the original reader on `path`: its fields as (label, value), or the
/// error it raised.
///
/// Values are JSON as the reader returns them: exact integers, booleans,
/// texts, and floats as the exact double the reader returned (float32 values
/// widened), taken from the shim's bit pattern rather than from the decimal.
pub fn python_try_read(path: &Path) -> Result<Vec<(String, Json)>, String> {
    let output = Command::new("python3")
        .arg(shim())
        .arg(reader_py())
        .arg(path)
        .output()
        .expect("python3 must be installed to run the original reader");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(0) => {}
        // The original reader raised an error (the shim's status for that).
        Some(3) => return Err(stderr.trim().to_owned()),
        _ => panic!("the Python shim failed on {}: {stderr}", path.display()),
    }
    let fields: Json = serde_json::from_slice(&output.stdout).expect("shim output is JSON");
    let fields = fields.as_array().expect("a list of fields");
    Ok(fields
        .iter()
        .map(|f| {
            let label = f["label"].as_str().expect("label").to_owned();
            let value = match f.get("value_hex").and_then(Json::as_str) {
                Some(hex) => Json::from(f64_from_hex(hex)),
                None => f["value"].clone(),
            };
            (label, value)
        })
        .collect())
}

/// Runs the original reader on `path` and returns its fields as (label,
/// value); panics if the original reader fails on the file.
pub fn python_read(path: &Path) -> Vec<(String, Json)> {
    python_try_read(path)
        .unwrap_or_else(|e| panic!("the original reader cannot read {}: {e}", path.display()))
}

pub fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// A little-endian double (8 bytes) or float32 (4 bytes, widened) in hex.
pub fn f64_from_hex(hex: &str) -> f64 {
    let bytes = hex_bytes(hex);
    match bytes.len() {
        8 => f64::from_le_bytes(bytes.try_into().unwrap()),
        4 => f32::from_le_bytes(bytes.try_into().unwrap()).into(),
        n => panic!("a float of {n} bytes: {hex}"),
    }
}

/// Whether a value of this crate's reader is the JSON value the original
/// reader gave (floats compared bit for bit).
pub fn same_value(ours: &Value, theirs: &Json) -> bool {
    match ours {
        Value::Unsigned(v) => theirs.as_u64() == Some(*v),
        Value::Signed(v) => theirs.as_i64() == Some(*v),
        Value::Float(v) => theirs
            .as_f64()
            .is_some_and(|t| t.to_bits() == v.to_bits() || (t.is_nan() && v.is_nan())),
        Value::Bool(v) => theirs.as_bool() == Some(*v),
        Value::Text(v) => theirs.as_str() == Some(v.as_str()),
        // The original reader gives the first of repeated values (`754I`).
        Value::Counts(v) => v.first().map(|&c| u64::from(c)) == theirs.as_u64(),
    }
}
