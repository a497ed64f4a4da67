//! The original Python reader (mmstats 0.8.0's `reader.py`), run for real.
//!
//! `$MMSTATS_PY_READER` names the unmodified `reader.py` of the 0.8.0 sdist
//! (`.ci/fetch-python-reader` gets it with pip); `tests/python/original_reader.py`
//! runs it under Python 3 and prints what it returns as JSON. The first test
//! proves that this shim reproduces the reference output recorded in the
//! golden files; [`python_read`] then lets tests ask the original reader about
//! any file, such as the ones this project's writer produces.
//!
//! The tests are ignored by default; run with `--include-ignored` and the
//! variable set. They fail, never skip, when it is not set.

#![allow(dead_code)]

mod common;
mod python;

use std::path::{Path, PathBuf};
use std::process::Command;

use mmstats::reader::{read_bytes, read_path};
use python::{f64_from_hex, python_read, python_try_read, reader_py, same_value};
use serde_json::Value as Json;

/// Asserts that this crate's reader and the original return the same fields
/// for the file at `path`.
pub fn assert_same_as_python(path: &Path) {
    let theirs = python_read(path);
    let ours = read_path(path).unwrap_or_else(|e| panic!("{e}"));
    let our_labels: Vec<&str> = ours.stats.iter().map(|s| s.label.as_str()).collect();
    let their_labels: Vec<&str> = theirs.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(our_labels, their_labels, "{}: labels", path.display());
    for (stat, (_, value)) in ours.stats.iter().zip(&theirs) {
        assert!(
            same_value(&stat.value, value),
            "{}: {:?}: we read {:?}, the original reader {value}",
            path.display(),
            stat.label,
            stat.value
        );
    }
}

fn golden_files() -> Vec<PathBuf> {
    let dir = std::env::var_os("MMSTATS_GOLDEN_DIR")
        .expect("MMSTATS_GOLDEN_DIR must name the directory of golden files");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("golden directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "mmstats"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files");
    files
}

#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn shim_reproduces_the_golden_output() {
    // Fails here, before anything else, when the reader is not given.
    reader_py();
    let mut checked = 0;
    for path in golden_files() {
        let name = path.display();
        let golden: Json =
            serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap())
                .unwrap();
        match (python_try_read(&path), golden.get("reader_error")) {
            (Err(e), Some(expected)) => {
                let expected = expected.as_str().unwrap();
                assert!(e.contains(expected), "{name}: {e} is not {expected}");
            }
            (Ok(fields), None) => {
                let golden_fields = golden["fields"].as_array().unwrap();
                assert_eq!(fields.len(), golden_fields.len(), "{name}: field count");
                for ((label, value), g) in fields.iter().zip(golden_fields) {
                    assert_eq!(label, g["label"].as_str().unwrap(), "{name}: label");
                    let expected = match value {
                        Json::Number(n) if n.is_f64() => {
                            Json::from(f64_from_hex(g["value_hex"].as_str().unwrap()))
                        }
                        _ => g["value"].clone(),
                    };
                    match (value.as_f64(), expected.as_f64()) {
                        (Some(a), Some(b)) if value.is_f64() => {
                            assert_eq!(a.to_bits(), b.to_bits(), "{name}: {label}")
                        }
                        _ => assert_eq!(value, &expected, "{name}: {label}"),
                    }
                }
            }
            (result, expected) => {
                panic!("{name}: the shim gave {result:?}, the golden reader_error is {expected:?}")
            }
        }
        checked += 1;
    }
    assert!(checked >= 15, "checked only {checked} golden files");
}

#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn our_reader_agrees_with_the_original_on_golden_files() {
    reader_py();
    for path in golden_files() {
        match python_try_read(&path) {
            Ok(_) => assert_same_as_python(&path),
            Err(_) => assert!(read_path(&path).is_err(), "{}", path.display()),
        }
    }
}

/// A file with padded signatures, both buffer states, non-ASCII labels and a
/// metadata block after the terminator, written by hand the way this
/// project's writer lays files out.
fn aligned_file_with_metadata() -> Vec<u8> {
    let mut out = vec![1u8];
    let mut field = |label: &str, sig: &str, wb: u8, value: &[u8]| {
        out.extend((label.len() as u16).to_ne_bytes());
        out.extend(label.as_bytes());
        out.extend((sig.len() as u16).to_ne_bytes());
        out.extend(sig.as_bytes());
        out.push(wb);
        out.extend(value);
    };
    let mut buffers = Vec::new();
    buffers.extend(1u64.to_ne_bytes());
    buffers.extend(99u64.to_ne_bytes());
    // Leading spaces as this project's writer adds them; neither reader
    // depends on where exactly the value lands.
    field("räkning", "    Q", 1, &buffers);
    field("temp.°C", "  d", 0xFF, &(-1.5f64).to_ne_bytes());
    field("ratio", " f", 0, &[0, 0, 0, 0, 0, 0, 0x40, 0x3F]);
    field("state", "   8s", 0xFF, b"ok\0junk\0");
    field("sys.pid", "I", 0xFF, &77u32.to_ne_bytes());
    out.extend([0, 0]);
    out.extend(mmstats::format::META_MAGIC);
    out.push(mmstats::format::META_VERSION);
    out.extend(5u16.to_ne_bytes());
    for _ in 0..5 {
        out.extend([2, 1, 0, b'x', 0, 0]);
    }
    out.resize(4096, 0);
    out
}

#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn original_reader_reads_aligned_files_and_ignores_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aligned.mmstats");
    let bytes = aligned_file_with_metadata();
    std::fs::write(&path, &bytes).unwrap();
    assert!(read_bytes(&bytes).unwrap().meta);
    assert_same_as_python(&path);
    let theirs = python_read(&path);
    assert_eq!(theirs.len(), 5);
    assert_eq!(theirs[0], ("räkning".to_owned(), Json::from(1u64)));
    assert_eq!(theirs[3], ("state".to_owned(), Json::from("ok")));
}

/// A small deterministic generator (xorshift64*), so the case is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Bytes that are often but not always valid UTF-8: pieces of multi-byte
    /// characters, lone continuation bytes, surrogates, NULs.
    fn messy_bytes(&mut self, max: u64) -> Vec<u8> {
        const PIECES: [&[u8]; 12] = [
            b"a",
            b"\xc3\xa9",
            b"\xe2\x9d\xa4",
            b"\xf0\x9f\x98\x80",
            b"\xe2\x9d",
            b"\x80",
            b"\xc3",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xff",
            b"\0",
            b"\xf0\x9f",
        ];
        let n = self.next() % max;
        let mut out = Vec::new();
        for _ in 0..n {
            out.extend(PIECES[(self.next() % PIECES.len() as u64) as usize]);
        }
        out
    }
}

#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn invalid_utf8_is_dropped_like_python_does() {
    reader_py();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = vec![1u8];
    for _ in 0..300 {
        let mut label = rng.messy_bytes(12);
        label.insert(0, b'L'); // never empty, so never a terminator
        let text = rng.messy_bytes(12);
        let sig = format!("{}s", text.len());
        out.extend((label.len() as u16).to_ne_bytes());
        out.extend(&label);
        out.extend((sig.len() as u16).to_ne_bytes());
        out.extend(sig.as_bytes());
        out.push(0xFF);
        out.extend(&text);
    }
    out.resize(out.len().div_ceil(4096) * 4096, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("utf8.mmstats");
    std::fs::write(&path, &out).unwrap();
    assert_same_as_python(&path);
}

/// The golden `all_types.json` values by label.
fn golden_all_types() -> Vec<(String, Json)> {
    let dir = std::env::var_os("MMSTATS_GOLDEN_DIR")
        .expect("MMSTATS_GOLDEN_DIR must name ../shared/golden for this test");
    let text = std::fs::read_to_string(Path::new(&dir).join("all_types.json")).unwrap();
    let json: Json = serde_json::from_str(&text).unwrap();
    json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let hex = f["value_hex"].as_str().unwrap();
            let value = match f["value"] {
                Json::Number(ref n) if n.is_f64() => Json::from(f64_from_hex(hex)),
                ref other => other.clone(),
            };
            (f["label"].as_str().unwrap().to_owned(), value)
        })
        .collect()
}

#[test]
#[ignore = "needs MMSTATS_PY_READER, python3 and MMSTATS_GOLDEN_DIR"]
fn the_original_reader_reads_the_rust_writers_files_like_its_own() {
    use mmstats::MmStats;
    let dir = tempfile::tempdir().unwrap();
    let stats = common::AllTypes::builder()
        .dir(dir.path())
        .file("all_types.mmstats")
        .create()
        .unwrap();
    // The same model and updates as the golden file the Python writer made.
    stats.apply_golden_updates();
    let path = stats.path().unwrap();
    let mut theirs = python_read(path);
    // A text is a group: our file adds its sequence number, which the
    // original reads as an ordinary field (even: no update under way).
    let seq = theirs.iter().position(|(label, _)| label == "string.seq");
    let seq = theirs.remove(seq.expect("the text's sequence number"));
    assert_eq!(seq.1, Json::from(2u64));
    let golden = golden_all_types();
    assert_eq!(theirs.len(), golden.len());
    for ((label, value), (golden_label, golden_value)) in theirs.iter().zip(&golden) {
        assert_eq!(label, golden_label);
        let same = match (value.as_f64(), golden_value.as_f64()) {
            (Some(a), Some(b)) if value.is_f64() || golden_value.is_f64() => {
                a.to_bits() == b.to_bits()
            }
            _ => value == golden_value,
        };
        assert!(
            same,
            "{label}: the original reader read {value} from our file, {golden_value} from its own"
        );
    }
    // And this crate's reader agrees with the original on our file.
    assert_same_as_python(path);
}

#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn the_original_reader_reads_defaults_prefixes_texts_and_large_files() {
    use mmstats::{Counter, Gauge, MmStats, Text};
    #[derive(MmStats)]
    #[mmstats(prefix = "org.exämple.")]
    struct Labels {
        #[mmstats(label = "température.°C")]
        temperature: Gauge<f32>,
        #[mmstats(label = "计数器")]
        counter: Counter,
        #[mmstats(label = "❤")]
        heart: Text<10>,
        big: Text<5000>,
        after_big: Gauge<u64>,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = Labels::builder().dir(dir.path()).create().unwrap();
    stats.temperature.set(21.5);
    stats.counter.incr_by(3);
    stats.heart.set("❤❤❤❤");
    stats.big.set(&"x".repeat(6000));
    stats.after_big.set(u64::MAX - 1);
    let path = stats.path().unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len(), 8192);
    let theirs = python_read(path);
    let labels: Vec<&str> = theirs.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            "org.exämple.température.°C",
            "org.exämple.计数器",
            "org.exämple.❤",
            "org.exämple.❤.seq",
            "org.exämple.big",
            "org.exämple.big.seq",
            "org.exämple.after_big",
            "org.exämple.sys.pid",
            "org.exämple.sys.tid",
            "org.exämple.sys.uid",
            "org.exämple.sys.gid",
            "org.exämple.sys.created",
            "org.exämple.org.rust-lang.version",
            "org.exämple.sys.cmd",
            "org.exämple.sys.model",
        ]
    );
    assert_eq!(theirs[13].1, Json::from(mmstats::file::program_name()));
    assert_eq!(theirs[14].1, Json::from("labels"));
    assert_eq!(theirs[2].1, Json::from("❤❤❤"));
    assert_eq!(theirs[3].1, Json::from(2u64));
    assert_eq!(theirs[4].1.as_str().map(str::len), Some(5000));
    assert_eq!(theirs[6].1, Json::from(u64::MAX - 1));
    assert_eq!(theirs[7].1, Json::from(std::process::id()));
    assert_same_as_python(path);
}

/// Runs `examples/stress_writer PATH ARGS` until dropped, once its file exists.
struct StressWriter(std::process::Child);

impl StressWriter {
    fn start(path: &Path, mode: &str) -> StressWriter {
        use std::io::BufRead;
        let mut child = Command::new(common::example("stress_writer"))
            .arg(path)
            .args([mode, "--seconds", "900"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("examples/stress_writer");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        StressWriter(child)
    }

    fn is_running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for StressWriter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What `tests/python/torn_reader.py` counted.
#[derive(Debug)]
struct TornTally {
    reads: serde_json::Map<String, Json>,
    torn: serde_json::Map<String, Json>,
    changes: serde_json::Map<String, Json>,
    examples: Json,
    seconds: f64,
}

impl TornTally {
    fn get(map: &serde_json::Map<String, Json>, label: &str) -> u64 {
        map.get(label).and_then(Json::as_u64).unwrap_or(0)
    }
}

/// Reads `path` with the original reader through a memory map until each
/// labelled field was read `min_reads` times (or `max_seconds` passed, or
/// `stop_after_torn` torn values were seen), counting the values of each
/// label that are not among its allowed ones.
fn original_reader_tally(
    path: &Path,
    min_reads: u64,
    max_seconds: u64,
    stop_after_torn: u64,
    allowed: &[(&str, &[i64])],
) -> TornTally {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/torn_reader.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .arg(reader_py())
        .arg(path)
        .arg(min_reads.to_string())
        .arg(max_seconds.to_string())
        .arg(stop_after_torn.to_string());
    for (label, values) in allowed {
        let values: Vec<String> = values.iter().map(i64::to_string).collect();
        command.arg(format!("{label}={}", values.join(",")));
    }
    let output = command
        .output()
        .expect("python3 must be installed to run the original reader");
    assert!(
        output.status.success(),
        "torn_reader.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Json = serde_json::from_slice(&output.stdout).expect("torn_reader.py prints JSON");
    let map = |key: &str| json[key].as_object().cloned().unwrap_or_default();
    TornTally {
        reads: map("reads"),
        torn: map("torn"),
        changes: map("changes"),
        examples: json["examples"].clone(),
        seconds: json["seconds"].as_f64().unwrap_or(0.0),
    }
}

/// The 16-bit gauges of this crate's writer are double-buffered, so the
/// original reader, which copies a 2-byte value with a `memcpy` that may
/// load its two bytes at two moments, never sees a value that was not
/// written: 0 torn in at least a million reads of each of `Gauge<u16>` and
/// `Gauge<i16>` while the writer flips them between `0x00FF` and `0xFF00`
/// as fast as it can. The same reader on an unbuffered 16-bit field does
/// see tears, so the loop would catch them.
#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn the_original_reader_never_sees_a_torn_16_bit_gauge() {
    reader_py();
    const READS: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();

    // The teeth first: an unbuffered `H`, the original's packing, tears.
    let control = dir.path().join("unbuffered.mmstats");
    let mut writer = StressWriter::start(&control, "--packed-short");
    let tally = original_reader_tally(
        &control,
        3 * READS,
        120,
        3,
        &[("ushort_unbuffered", &[0x00FF, 0xFF00])],
    );
    assert!(writer.is_running());
    drop(writer);
    println!("unbuffered H, original reader: {tally:?}");
    let torn = TornTally::get(&tally.torn, "ushort_unbuffered");
    assert!(
        torn > 0,
        "no tear in {} reads of an unbuffered 16-bit field: the loop would not catch one",
        TornTally::get(&tally.reads, "ushort_unbuffered")
    );

    // This crate's writer.
    let path = dir.path().join("shorts.mmstats");
    let mut writer = StressWriter::start(&path, "--short");
    let tally = original_reader_tally(
        &path,
        READS,
        400,
        0,
        &[("ushort", &[0x00FF, 0xFF00]), ("short", &[0x00FF, -256])],
    );
    assert!(writer.is_running(), "the writer must outlive the reads");
    drop(writer);
    println!("Gauge<u16> and Gauge<i16>, original reader: {tally:?}");
    for label in ["ushort", "short"] {
        let reads = TornTally::get(&tally.reads, label);
        assert!(reads >= READS, "{label}: only {reads} reads: {tally:?}");
        assert!(
            TornTally::get(&tally.changes, label) >= 1000,
            "{label}: the writer was not seen writing: {tally:?}"
        );
        assert_eq!(TornTally::get(&tally.torn, label), 0, "{label}: {tally:?}");
    }
}

/// A model with labelled families: the original reader reads every member
/// (and every part of a summary member) as an ordinary field, with its
/// whole label and its value.
#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn the_original_reader_reads_every_member_of_a_family_as_a_field() {
    use mmstats::{Counter, Family, Gauge, Labels, MmStats, Summary};
    #[derive(Labels, Clone, Copy)]
    #[mmstats(key = "method")]
    enum Method {
        Get,
        Post,
    }
    #[derive(Labels, Clone, Copy)]
    #[mmstats(key = "status")]
    enum Status {
        #[mmstats(value = "2xx")]
        Ok,
        #[mmstats(value = "say \"5\"\\xx")]
        Server,
    }
    #[derive(MmStats)]
    #[mmstats(prefix = "web.")]
    struct Web {
        requests: Family<(Method, Status), Counter>,
        latency: Family<Method, Summary>,
        queue: Family<Status, Gauge<u16>>,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = Web::builder().dir(dir.path()).create().unwrap();
    stats.requests[(Method::Get, Status::Ok)].incr_by(7);
    stats.requests[(Method::Post, Status::Server)].incr_by(2);
    stats.latency[Method::Post].add(0.25);
    stats.queue[Status::Server].set(300);
    let path = stats.path().unwrap();
    let theirs = python_read(path);
    let labels: Vec<&str> = theirs.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        &labels[..6],
        [
            r#"web.requests{method="get",status="2xx"}"#,
            r#"web.requests{method="get",status="say \"5\"\\xx"}"#,
            r#"web.requests{method="post",status="2xx"}"#,
            r#"web.requests{method="post",status="say \"5\"\\xx"}"#,
            r#"web.latency{method="get"}"#,
            r#"web.latency{method="get"}.count"#,
        ]
    );
    let value = |label: &str| {
        theirs
            .iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("the original reader has no {label}"))
            .1
            .clone()
    };
    assert_eq!(
        value(r#"web.requests{method="get",status="2xx"}"#),
        Json::from(7u64)
    );
    assert_eq!(
        value(r#"web.requests{method="post",status="say \"5\"\\xx"}"#),
        Json::from(2u64)
    );
    assert_eq!(
        value(r#"web.latency{method="post"}.count"#),
        Json::from(1u64)
    );
    assert_eq!(
        value(r#"web.queue{status="say \"5\"\\xx"}"#),
        Json::from(300u64)
    );
    assert_eq!(theirs.len(), Web::MODEL.fields.len());
}

/// A model with a static family and a run-time family (`DynFamily`): the
/// original reader reads every field without error, a run-time member
/// under its fixed label (`{route="#0"}`) with its value, and its label
/// value as an ordinary text.
#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn the_original_reader_reads_static_and_run_time_families() {
    use mmstats::{Counter, DynFamily, Family, Labels, MmStats, Summary};
    #[derive(Labels, Clone, Copy)]
    #[mmstats(key = "method")]
    enum Method {
        Get,
        Post,
    }
    #[derive(MmStats)]
    #[mmstats(prefix = "web.")]
    struct Web {
        requests: Family<Method, Counter>,
        #[mmstats(key = "route")]
        routes: DynFamily<Counter, 4>,
        #[mmstats(key = "tenant")]
        latency: DynFamily<Summary, 2>,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = Web::builder().dir(dir.path()).create().unwrap();
    stats.requests[Method::Post].incr_by(3);
    stats.routes.member("/api/items").incr_by(7);
    stats.routes.member("/health").incr_by(2);
    stats.latency.member("acme").add(0.5);
    let path = stats.path().unwrap();
    let theirs = python_read(path);
    let value = |label: &str| {
        theirs
            .iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("the original reader has no {label}"))
            .1
            .clone()
    };
    assert_eq!(value(r#"web.requests{method="post"}"#), Json::from(3u64));
    assert_eq!(value(r##"web.routes{route="#0"}"##), Json::from(7u64));
    assert_eq!(
        value(r##"web.routes{route="#0"}.label"##),
        Json::from("/api/items")
    );
    assert_eq!(value(r##"web.routes{route="#1"}"##), Json::from(2u64));
    assert_eq!(value(r##"web.routes{route="#2"}.label"##), Json::from(""));
    assert_eq!(
        value(r#"web.routes{route="__overflow__"}"#),
        Json::from(0u64)
    );
    assert_eq!(
        value(r##"web.latency{tenant="#0"}.count"##),
        Json::from(1u64)
    );
    assert_eq!(theirs.len(), Web::MODEL.fields.len());
    // And ours shows the same file under the label values.
    let ours = mmstats::reader::read_path(path).unwrap();
    assert_eq!(
        ours.get(r#"web.routes{route="/api/items"}"#).unwrap().value,
        mmstats::reader::Value::Unsigned(7)
    );
}

/// The original reader reads a file with histograms without error: the
/// count under each histogram's own label, every other field as ours, the
/// buckets (`754I`) as their first count.
#[test]
#[ignore = "needs MMSTATS_PY_READER and python3"]
fn the_original_reader_reads_histograms_and_shows_their_counts() {
    use mmstats::{Counter, Histogram, MmStats};
    #[derive(MmStats)]
    #[mmstats(prefix = "web.")]
    struct Web {
        #[mmstats(unit = "seconds")]
        latency: Histogram,
        requests: Counter,
        #[mmstats(unit = "bytes")]
        size: Histogram,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = Web::builder().dir(dir.path()).create().unwrap();
    for us in 1..=1000u32 {
        stats.latency.record(f64::from(us) * 1e-6);
    }
    stats.latency.record(0.0);
    stats.latency.record(f64::NAN);
    stats.requests.incr_by(1001);
    stats.size.record(1500.0);
    let path = stats.path().unwrap();
    let theirs = python_read(path);
    let get = |label: &str| {
        theirs
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{label} not read"))
    };
    assert_eq!(get("web.latency"), Json::from(1001u64));
    assert_eq!(get("web.latency.invalid"), Json::from(1u64));
    // The zero bucket, the first of the buckets, holds the 0.0.
    assert_eq!(get("web.latency.buckets"), Json::from(1u64));
    assert_eq!(get("web.requests"), Json::from(1001u64));
    assert_eq!(get("web.size"), Json::from(1u64));
    assert_eq!(get("web.size.first"), Json::from(-15));
    assert_same_as_python(path);
}
