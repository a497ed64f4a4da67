//! Helpers shared by the integration tests.
#![allow(dead_code)]

use mmstats::{
    Average, Counter, Flag, Gauge, MmStats, MovingAverage, Static, StaticText, Text, Timer,
};

/// One field of every type, given the same updates as the golden file
/// `all_types.mmstats` that the original Python writer made, under the same
/// labels, so that readers must return the same values.
#[derive(MmStats)]
#[mmstats(defaults = false)]
pub struct AllTypes {
    pub counter: Counter,
    pub average: Average,
    pub moving_average: MovingAverage<3>,
    pub timer: Timer<2>,
    pub uint64: Gauge<u64>,
    pub uint: Gauge<u32>,
    #[mmstats(label = "int")]
    pub int32: Gauge<i32>,
    pub short: Gauge<i16>,
    pub ushort: Gauge<u16>,
    pub byte: Gauge<i8>,
    #[mmstats(label = "float")]
    pub float32: Gauge<f32>,
    #[mmstats(value = 0.1)]
    pub static_float: Static<f32>,
    pub double: Gauge<f64>,
    #[mmstats(value = -2.5e-10)]
    pub static_double: Static<f64>,
    pub bool_true: Flag,
    pub bool_false: Flag,
    pub string: Text,
    #[mmstats(value = 3_000_000_000)]
    pub static_uint: Static<u32>,
    #[mmstats(value = -9_000_000_000_000_000_000)]
    pub static_int64: Static<i64>,
    #[mmstats(value = 18_000_000_000_000_000_000)]
    pub static_uint64: Static<u64>,
    #[mmstats(value = "static text")]
    pub static_text: StaticText,
}

impl AllTypes {
    /// The updates the golden file was made with.
    pub fn apply_golden_updates(&self) {
        for _ in 0..3 {
            self.counter.incr();
        }
        self.counter.incr_by(7);
        for v in [1.0, 2.0, 4.0] {
            self.average.add(v);
        }
        for v in 1..=5 {
            self.moving_average.add(f64::from(v));
        }
        for v in [0.5, 0.25, 1.0] {
            self.timer.record_seconds(v);
        }
        self.uint64.set(u64::MAX);
        self.uint.set(4_000_000_000);
        self.int32.set(-123_456);
        self.short.set(i16::MIN);
        self.ushort.set(u16::MAX);
        self.byte.set(-7);
        self.float32.set(1.0 / 3.0);
        self.double.set(1.0 / 3.0);
        self.bool_true.set(true);
        self.bool_false.set(true);
        self.bool_false.set(false);
        self.string.set("hello, mmstats");
    }
}

/// What a reader must return for `AllTypes` after the golden updates, with
/// the type signature each field must carry (before padding).
pub fn all_types_expected() -> Vec<(&'static str, &'static str, Expected)> {
    use Expected::*;
    vec![
        ("counter", "Q", U(10)),
        ("average", "d", F(7.0 / 3.0)),
        ("moving_average", "d", F(4.0)),
        ("timer", "d", F(0.625)),
        ("uint64", "Q", U(u64::MAX)),
        ("uint", "I", U(4_000_000_000)),
        ("int", "i", I(-123_456)),
        ("short", "h", I(-32768)),
        ("ushort", "H", U(65535)),
        ("byte", "b", I(-7)),
        ("float", "f", F(f64::from(1.0f32 / 3.0))),
        ("static_float", "f", F(f64::from(0.1f32))),
        ("double", "d", F(1.0 / 3.0)),
        ("static_double", "d", F(-2.5e-10)),
        ("bool_true", "?", B(true)),
        ("bool_false", "?", B(false)),
        ("string", "255s", S("hello, mmstats")),
        // A text's sequence number: even, one update.
        ("string.seq", "Q", U(2)),
        ("static_uint", "I", U(3_000_000_000)),
        ("static_int64", "q", I(-9_000_000_000_000_000_000)),
        ("static_uint64", "Q", U(18_000_000_000_000_000_000)),
        ("static_text", "256s", S("static text")),
    ]
}

/// An expected value.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    U(u64),
    I(i64),
    F(f64),
    B(bool),
    S(&'static str),
}

/// One field as the spec lays it out, found by walking the raw bytes.
#[derive(Debug)]
pub struct RawField {
    pub offset: usize,
    pub label: Vec<u8>,
    pub signature: Vec<u8>,
    pub write_buffer: u8,
    pub value_offset: usize,
    pub value: Vec<u8>,
}

/// Walks a file's fields by the spec alone (no code of the crate), for
/// checking what the writer wrote. Panics on anything malformed.
pub fn walk(bytes: &[u8]) -> (Vec<RawField>, usize) {
    assert_eq!(bytes[0], 1, "version byte");
    let mut at = 1;
    let mut fields = Vec::new();
    loop {
        if at + 2 > bytes.len() {
            return (fields, at);
        }
        let label_len = u16::from_ne_bytes([bytes[at], bytes[at + 1]]) as usize;
        if label_len == 0 {
            return (fields, at);
        }
        let offset = at;
        at += 2;
        let label = bytes[at..at + label_len].to_vec();
        at += label_len;
        let sig_len = u16::from_ne_bytes([bytes[at], bytes[at + 1]]) as usize;
        at += 2;
        let signature = bytes[at..at + sig_len].to_vec();
        at += sig_len;
        let write_buffer = bytes[at];
        at += 1;
        let sig = String::from_utf8(signature.clone()).expect("ASCII signature");
        let sig = sig.trim_start();
        let size = match sig {
            "Q" | "q" | "d" => 8,
            "I" | "i" | "f" => 4,
            "H" | "h" => 2,
            "B" | "b" | "?" => 1,
            s => s.trim_end_matches('s').parse().expect("text size"),
        };
        let count = if write_buffer == 0xff { 1 } else { 2 };
        let value_offset = at;
        let value = bytes[at..at + size * count].to_vec();
        at += size * count;
        fields.push(RawField {
            offset,
            label,
            signature,
            write_buffer,
            value_offset,
            value,
        });
    }
}

/// Decodes a raw value by its signature.
pub fn decode(field: &RawField) -> Expected {
    let sig = String::from_utf8_lossy(&field.signature).trim().to_string();
    // A double-buffered value is the buffer the write-buffer byte does not name.
    let v = match field.write_buffer {
        0xff => &field.value[..],
        wb => {
            let size = field.value.len() / 2;
            let read = usize::from(wb ^ 1);
            &field.value[read * size..(read + 1) * size]
        }
    };
    let u64_of = |v: &[u8]| u64::from_ne_bytes(v[..8].try_into().unwrap());
    match sig.as_str() {
        "Q" => Expected::U(u64_of(v)),
        "q" => Expected::I(u64_of(v) as i64),
        "d" => Expected::F(f64::from_bits(u64_of(v))),
        "I" => Expected::U(u32::from_ne_bytes(v[..4].try_into().unwrap()).into()),
        "i" => Expected::I(i32::from_ne_bytes(v[..4].try_into().unwrap()).into()),
        "f" => Expected::F(f32::from_ne_bytes(v[..4].try_into().unwrap()).into()),
        "H" => Expected::U(u16::from_ne_bytes(v[..2].try_into().unwrap()).into()),
        "h" => Expected::I(i16::from_ne_bytes(v[..2].try_into().unwrap()).into()),
        "B" => Expected::U(v[0].into()),
        "b" => Expected::I((v[0] as i8).into()),
        "?" => Expected::B(v[0] != 0),
        _ => {
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            let text = String::from_utf8(v[..end].to_vec()).expect("UTF-8 text");
            Expected::S(Box::leak(text.into_boxed_str()))
        }
    }
}

/// The `.mmstats` files in `dir`, sorted.
pub fn stats_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mmstats"))
        .collect();
    files.sort();
    files
}

/// Every entry in `dir` (hidden ones too), sorted by name.
pub fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The path of example `name`, built from the current sources first: `cargo
/// test` builds the examples only when it builds every target, so a test
/// run on its own (`cargo test --test examples`) would otherwise run
/// whatever binary an earlier build left. Built once per test process.
pub fn example(name: &str) -> std::path::PathBuf {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from <target>/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    let mut built = BUILT
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !built.contains(name) {
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo
            .args(["build", "--quiet", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        // The same target directory and profile as this test binary.
        if let Some(target) = profile_dir.parent() {
            cargo.env("CARGO_TARGET_DIR", target);
        }
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo");
        assert!(status.success(), "cargo build --example {name} failed");
        built.insert(name.to_string());
    }
    path
}
