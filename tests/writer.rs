//! The writer: bytes against the spec, file naming, safe creation, removal,
//! threads.

mod common;

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use common::{all_types_expected, decode, dir_entries, stats_files, walk, AllTypes, Expected};
use mmstats::reader::Value;
use mmstats::{Counter, Error, Gauge, MmStats, Summary, Text};

fn make_all_types(dir: &Path) -> mmstats::Stats<AllTypes> {
    AllTypes::builder()
        .dir(dir)
        .file("all-types.mmstats")
        .create()
        .expect("create")
}

#[test]
fn every_field_type_is_laid_out_as_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let stats = make_all_types(dir.path());
    stats.apply_golden_updates();
    let bytes = std::fs::read(stats.path().unwrap()).unwrap();

    // Whole pages, at least one; version byte first.
    let page = mmstats::stats::page_size();
    assert_eq!(bytes.len() % page, 0);
    assert!(!bytes.is_empty());
    assert_eq!(bytes[0], 1);

    let (fields, end) = walk(&bytes);
    let expected = all_types_expected();
    assert_eq!(fields.len(), expected.len());
    for (field, (label, signature, value)) in fields.iter().zip(&expected) {
        assert_eq!(field.label, label.as_bytes());
        // The signature is the original's, with leading spaces only.
        let sig = String::from_utf8(field.signature.clone()).unwrap();
        assert_eq!(sig.trim_start_matches(' '), *signature, "{label}");
        // Every value is unbuffered and aligned to its size (8 at most),
        // but 16-bit gauges, double-buffered as in the original so that it
        // never reads them torn (each buffer aligned).
        if matches!(*signature, "H" | "h") {
            assert!(field.write_buffer <= 1, "{label}");
        } else {
            assert_eq!(field.write_buffer, 0xff, "{label}");
        }
        let align = match *signature {
            "Q" | "q" | "d" => 8,
            "I" | "i" | "f" => 4,
            "H" | "h" => 2,
            _ => 1,
        };
        assert_eq!(
            field.value_offset % align,
            0,
            "{label} at {}",
            field.value_offset
        );
        // Padding is the least that aligns the value.
        assert!(sig.len() - signature.len() < align.max(1), "{label}");
        assert_eq!(decode(field), *value, "{label}");
    }
    // The field list ends with a zero label size, with room to spare.
    assert_eq!(&bytes[end..end + 2], &[0, 0]);
    // The metadata block follows the terminator.
    assert_eq!(&bytes[end + 2..end + 14], b"mmstats-meta");
}

#[test]
fn values_never_straddle_a_page() {
    #[derive(MmStats)]
    #[mmstats(defaults = false)]
    struct Wide {
        #[mmstats(value = "x")]
        filler: mmstats::StaticText<4070>,
        a: Counter,
        b: Gauge<f64>,
        c: Gauge<u32>,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = Wide::builder()
        .dir(dir.path())
        .file("wide.mmstats")
        .create()
        .unwrap();
    stats.a.incr();
    let bytes = std::fs::read(stats.path().unwrap()).unwrap();
    let (fields, _) = walk(&bytes);
    for field in &fields[1..] {
        let start = field.value_offset;
        let last = start + field.value.len() - 1;
        assert_eq!(
            start / 4096,
            last / 4096,
            "{:?}",
            String::from_utf8_lossy(&field.label)
        );
    }
    assert_eq!(bytes.len(), 8192);
}

#[test]
fn default_fields_describe_the_writer() {
    #[derive(MmStats)]
    #[mmstats(prefix = "app.")]
    struct WithDefaults {
        requests: Counter,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = WithDefaults::builder().dir(dir.path()).create().unwrap();
    let bytes = std::fs::read(stats.path().unwrap()).unwrap();
    let (fields, _) = walk(&bytes);
    let labels: Vec<_> = fields
        .iter()
        .map(|f| String::from_utf8(f.label.clone()).unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "app.requests",
            "app.sys.pid",
            "app.sys.tid",
            "app.sys.uid",
            "app.sys.gid",
            "app.sys.created",
            "app.org.rust-lang.version",
            "app.sys.cmd",
            "app.sys.model"
        ]
    );
    let value = |i: usize| decode(&fields[i]);
    assert_eq!(value(1), Expected::U(u64::from(std::process::id())));
    assert_eq!(value(2), Expected::I(mmstats::file::thread_id()));
    assert_eq!(value(3), Expected::U(u64::from(unsafe_free_uid())));
    let Expected::F(created) = value(5) else {
        panic!("created is a double")
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - created).abs() < 60.0, "created {created}, now {now}");
    let Expected::S(version) = value(6) else {
        panic!("version is text")
    };
    assert!(version.starts_with("rustc "), "{version}");
    assert!(version.contains("mmstats"), "{version}");
    let Expected::S(cmd) = value(7) else {
        panic!("cmd is text")
    };
    assert_eq!(cmd, mmstats::file::program_name());
    assert_eq!(value(8), Expected::S("with_defaults"));
    // The file name follows the default template with CMD, PID, TID and
    // MODEL.
    let name = stats
        .path()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        name,
        format!(
            "{}-{}-{}-with_defaults.mmstats",
            mmstats::file::program_name(),
            std::process::id(),
            mmstats::file::thread_id()
        )
    );
}

fn unsafe_free_uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap()
}

#[test]
fn the_mode_is_0644_unless_configured() {
    let dir = tempfile::tempdir().unwrap();
    let stats = make_all_types(dir.path());
    let mode = std::fs::metadata(stats.path().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o644);
    let private = AllTypes::builder()
        .dir(dir.path())
        .file("private.mmstats")
        .mode(0o600)
        .create()
        .unwrap();
    let mode = std::fs::metadata(private.path().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
}

#[test]
fn a_planted_symlink_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"precious data\n").unwrap();
    let target = dir.path().join("stats.mmstats");
    symlink(&victim, &target).unwrap();
    let err = AllTypes::builder()
        .dir(dir.path())
        .file("stats.mmstats")
        .create()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Symlink { path } if path == &target),
        "{err}"
    );
    assert!(err.to_string().contains("stats.mmstats"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious data\n");
    assert!(std::fs::symlink_metadata(&target)
        .unwrap()
        .file_type()
        .is_symlink());
    // A dangling link is refused too, and nothing is created through it.
    let dangling = dir.path().join("dangling.mmstats");
    symlink(dir.path().join("nowhere"), &dangling).unwrap();
    let err = AllTypes::builder()
        .dir(dir.path())
        .file("dangling.mmstats")
        .create()
        .unwrap_err();
    assert!(matches!(err, Error::Symlink { .. }), "{err}");
    assert!(!dir.path().join("nowhere").exists());
    // No temporary file is left behind.
    assert_eq!(
        dir_entries(dir.path()),
        ["dangling.mmstats", "stats.mmstats", "victim.txt"]
    );
}

#[test]
fn an_existing_file_that_is_not_stats_is_left_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.mmstats");
    let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let err = AllTypes::builder()
        .dir(dir.path())
        .file("data.mmstats")
        .create()
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotStatsFile { path: p } if p == &path),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), content);
    assert_eq!(dir_entries(dir.path()), ["data.mmstats"]);
}

#[test]
fn a_directory_in_the_way_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("x.mmstats")).unwrap();
    let err = AllTypes::builder()
        .dir(dir.path())
        .file("x.mmstats")
        .create()
        .unwrap_err();
    assert!(matches!(err, Error::NotAFile { .. }), "{err}");
}

#[test]
fn a_live_writers_file_is_not_taken_over_but_a_finished_one_is_continued() {
    let dir = tempfile::tempdir().unwrap();
    let first = make_all_types(dir.path());
    first.counter.incr_by(5);
    // A second writer under the same name takes a numbered one, and leaves
    // the live writer's file alone.
    let beside = AllTypes::builder()
        .dir(dir.path())
        .file("all-types.mmstats")
        .create()
        .unwrap();
    assert_eq!(
        beside.path().unwrap(),
        dir.path().join("all-types.1.mmstats")
    );
    beside.counter.incr();
    let (fields, _) = walk(&std::fs::read(first.path().unwrap()).unwrap());
    assert_eq!(decode(&fields[0]), Expected::U(5));
    beside.remove().unwrap();
    // Once its writer is gone, the file is a finished one of this process:
    // a new writer replaces it and carries on counting from its total.
    drop(first);
    let second = make_all_types(dir.path());
    let (fields, _) = walk(&std::fs::read(second.path().unwrap()).unwrap());
    assert_eq!(decode(&fields[0]), Expected::U(5));
    second.counter.incr();
    assert_eq!(second.counter.get(), 6);
    assert_eq!(dir_entries(dir.path()), ["all-types.mmstats"]);
}

#[derive(MmStats)]
#[mmstats(prefix = "r.")]
struct Reused {
    n: Counter,
    size: Summary,
    queue: Gauge<u32>,
    state: Text<8>,
}

/// The counter, the Summary's count, sum, min and max, and `sys.created`
/// of the file at `path`, read back.
fn reused_values(path: &Path) -> (u64, u64, f64, f64, f64, f64) {
    let snapshot = mmstats::reader::read_path(path).unwrap();
    let get = |label: &str| snapshot.get(label).unwrap().value.clone();
    let float = |label: &str| get(label).as_f64().unwrap();
    let Value::Unsigned(n) = get("r.n") else {
        panic!()
    };
    let Value::Unsigned(count) = get("r.size.count") else {
        panic!()
    };
    (
        n,
        count,
        float("r.size.sum"),
        float("r.size.min"),
        float("r.size.max"),
        float("r.sys.created"),
    )
}

#[test]
fn a_thread_that_takes_over_a_finished_threads_file_keeps_its_totals() {
    // A thread of this process writes a file and ends; a later thread is
    // given a name that is already there (as when the system gives it the
    // ended thread's id, the {TID} of the default name). The process's sum
    // must not drop: the new file continues the old one's counters.
    let dir = tempfile::tempdir().unwrap();
    let make = {
        let dir = dir.path().to_path_buf();
        move || {
            Reused::builder()
                .dir(&dir)
                .file("reused-{PID}.mmstats")
                .create()
                .unwrap()
        }
    };
    let first = make.clone();
    let path = std::thread::spawn(move || {
        let stats = first();
        stats.n.incr_by(1000);
        for size in [4.0, 1.0, 7.0] {
            stats.size.add(size);
        }
        stats.queue.set(3);
        stats.state.set("busy");
        stats.path().unwrap().to_path_buf()
    })
    .join()
    .unwrap();
    let before = reused_values(&path);
    assert_eq!(before.0, 1000);
    std::thread::sleep(std::time::Duration::from_millis(20));

    let second = make.clone();
    let (after, tid) = std::thread::spawn(move || {
        let stats = second();
        let after = reused_values(stats.path().unwrap());
        stats.n.incr_by(5);
        stats.size.add(0.5);
        (after, mmstats::file::thread_id())
    })
    .join()
    .unwrap();
    // Taken over: the totals, the summary and the creation time go on...
    assert_eq!(after, before);
    let (n, count, sum, min, max, created) = reused_values(&path);
    assert_eq!((n, count), (1005, 4));
    assert_eq!((sum, min, max), (12.5, 0.5, 7.0));
    assert_eq!(created, before.5);
    // ... and the rest is the new thread's.
    let snapshot = mmstats::reader::read_path(&path).unwrap();
    assert_eq!(snapshot.get("r.sys.tid").unwrap().value, Value::Signed(tid));
    assert_eq!(snapshot.get("r.queue").unwrap().value, Value::Unsigned(0));
    assert_eq!(
        snapshot.get("r.state").unwrap().value,
        Value::Text(String::new())
    );
    assert_eq!(dir_entries(dir.path()).len(), 1);
}

/// Rewrites part of the identity record at the end of the file at `path`
/// (see `mmstats::file::Identity`): `offset` within the record.
fn patch_identity(path: &Path, offset: usize, bytes: &[u8]) {
    let mut file = std::fs::read(path).unwrap();
    let start = file.len() - mmstats::file::IDENTITY_SIZE;
    assert_eq!(&file[start..start + 8], &mmstats::file::IDENTITY_MAGIC);
    file[start + offset..start + offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, file).unwrap();
}

#[test]
fn every_file_ends_with_the_writers_identity() {
    let dir = tempfile::tempdir().unwrap();
    let stats = make_all_types(dir.path());
    let bytes = std::fs::read(stats.path().unwrap()).unwrap();
    let identity = mmstats::file::Identity::of_file(&bytes).expect("an identity record");
    assert_eq!(identity, mmstats::file::Identity::current());
    assert_eq!(identity.pid, std::process::id());
    assert!(identity.is_complete(), "{identity:?}");
    // The field list and the metadata do not reach it.
    let (_, end) = walk(&bytes);
    assert!(end + 2 <= bytes.len() - mmstats::file::IDENTITY_SIZE);
}

#[test]
fn a_finished_file_of_a_process_that_is_gone_is_replaced_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let stats = make_all_types(dir.path());
    stats.counter.incr_by(5);
    let path = stats.path().unwrap().to_path_buf();
    drop(stats);
    // Same pid, another start time: a process that had this id before.
    patch_identity(&path, 24, &1u64.to_ne_bytes());
    let fresh = make_all_types(dir.path());
    assert_eq!(fresh.counter.get(), 0);
    let (fields, _) = walk(&std::fs::read(&path).unwrap());
    assert_eq!(decode(&fields[0]), Expected::U(0));
    drop(fresh);
    // Another boot: gone too.
    patch_identity(&path, 32, &[0xAB; 16]);
    assert_eq!(make_all_types(dir.path()).counter.get(), 0);
}

#[test]
fn a_finished_file_of_another_pid_namespace_is_left_byte_identical() {
    // What another container sharing the directory leaves: a file of the
    // same name whose process this one cannot see. Its counts are not this
    // process's to take.
    let dir = tempfile::tempdir().unwrap();
    let stats = make_all_types(dir.path());
    stats.counter.incr_by(1000);
    let path = stats.path().unwrap().to_path_buf();
    drop(stats);
    patch_identity(&path, 16, &4_026_000_001u64.to_ne_bytes());
    let before = std::fs::read(&path).unwrap();
    let err = AllTypes::builder()
        .dir(dir.path())
        .file("all-types.mmstats")
        .create()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Occupied { path: p, .. } if p == &path),
        "{err}"
    );
    assert!(
        err.to_string().contains("PID namespace 4026000001"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(dir_entries(dir.path()), ["all-types.mmstats"]);

    // A live process of this namespace other than this one: kept too.
    patch_identity(
        &path,
        16,
        &mmstats::file::Identity::current()
            .pid_namespace
            .to_ne_bytes(),
    );
    let init = std::fs::read_to_string("/proc/1/stat").unwrap();
    let init_start: u64 = init[init.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    patch_identity(&path, 12, &1u32.to_ne_bytes());
    patch_identity(&path, 24, &init_start.to_ne_bytes());
    let before = std::fs::read(&path).unwrap();
    let err = make_err(dir.path());
    assert!(matches!(&err, Error::Occupied { .. }), "{err}");
    assert!(err.to_string().contains("process 1 still runs"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

fn make_err(dir: &Path) -> Error {
    AllTypes::builder()
        .dir(dir)
        .file("all-types.mmstats")
        .create()
        .unwrap_err()
}

#[test]
#[ignore = "needs root, to make a file of another user"]
fn a_file_of_another_user_is_left_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.mmstats");
    // A real stats file, so that only its owner protects it.
    let original = AllTypes::builder()
        .dir(dir.path())
        .file("foreign.mmstats")
        .create()
        .unwrap();
    drop(original);
    let before = std::fs::read(&path).unwrap();
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; chown has no other preconditions.
    let rc = unsafe { libc::chown(c_path.as_ptr(), 65534, 65534) };
    assert_eq!(
        rc,
        0,
        "chown needs root: {}",
        std::io::Error::last_os_error()
    );
    let err = AllTypes::builder()
        .dir(dir.path())
        .file("foreign.mmstats")
        .create()
        .unwrap_err();
    assert!(
        matches!(err, Error::ForeignFile { owner: 65534, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), 65534);
}

#[test]
fn a_missing_directory_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir");
    let err = AllTypes::builder().dir(&missing).create().unwrap_err();
    assert!(err.to_string().contains("no/such/dir"), "{err}");
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn bad_templates_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = AllTypes::builder()
        .dir(dir.path())
        .file("{HOST}.mmstats")
        .create()
        .unwrap_err();
    assert!(matches!(err, Error::Template { .. }), "{err}");
    assert!(err.to_string().contains("{HOST}"), "{err}");
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn templates_substitute_in_the_directory_too() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join(std::process::id().to_string());
    std::fs::create_dir(&sub).unwrap();
    let stats = AllTypes::builder()
        .dir(dir.path().join("{PID}"))
        .file("{CMD}.mmstats")
        .create()
        .unwrap();
    assert_eq!(
        stats.path().unwrap(),
        sub.join(format!("{}.mmstats", mmstats::file::program_name()))
    );
}

#[test]
fn model_attributes_set_the_file_and_code_wins_over_them() {
    #[derive(MmStats)]
    #[mmstats(file = "fixed-{PID}.mmstats", defaults = false)]
    struct Named {
        n: Counter,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = Named::builder().dir(dir.path()).create().unwrap();
    assert_eq!(
        stats.path().unwrap(),
        dir.path()
            .join(format!("fixed-{}.mmstats", std::process::id()))
    );
    let other = Named::builder()
        .dir(dir.path())
        .file("other.mmstats")
        .create()
        .unwrap();
    assert_eq!(other.path().unwrap(), dir.path().join("other.mmstats"));
}

#[derive(MmStats)]
#[mmstats(prefix = "t.")]
struct PerThread {
    n: Counter,
    name: Text<16>,
}

#[test]
fn each_thread_gets_its_own_file_and_files_outlive_their_threads() {
    let dir = tempfile::tempdir().unwrap();
    let template = format!("threads-{}-{{TID}}.mmstats", std::process::id());
    let threads: Vec<_> = (0..4u64)
        .map(|i| {
            let dir = dir.path().to_path_buf();
            let template = template.clone();
            std::thread::spawn(move || {
                let stats = PerThread::builder()
                    .dir(dir)
                    .file(template)
                    .create()
                    .unwrap();
                stats.n.incr_by(100 + i);
                stats.name.set(&format!("worker {i}"));
                mmstats::file::thread_id()
                // `stats` is dropped here: the file stays, with its values.
            })
        })
        .collect();
    let tids: Vec<i64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let files = stats_files(dir.path());
    assert_eq!(files.len(), 4);
    let mut total = 0;
    for file in &files {
        let (fields, _) = walk(&std::fs::read(file).unwrap());
        let Expected::U(n) = decode(&fields[0]) else {
            panic!()
        };
        total += n;
        let tid_field = fields
            .iter()
            .find(|f| f.label.ends_with(b"sys.tid"))
            .unwrap();
        let Expected::I(tid) = decode(tid_field) else {
            panic!()
        };
        assert!(tids.contains(&tid));
        assert!(file.to_str().unwrap().ends_with(&format!("-{tid}.mmstats")));
    }
    // A reader summing over the process's threads still sees every count.
    assert_eq!(total, 100 + 101 + 102 + 103);
}

#[test]
fn remove_deletes_the_file_and_finished_threads_leftovers_only() {
    let dir = tempfile::tempdir().unwrap();
    let template = "rm-{PID}-{TID}.mmstats";
    let make = move |dir: std::path::PathBuf| {
        PerThread::builder()
            .dir(dir)
            .file(template)
            .create()
            .unwrap()
    };
    // A finished thread's file.
    let d = dir.path().to_path_buf();
    std::thread::spawn(move || drop(make(d))).join().unwrap();
    // A live thread's file: the thread holds its stats until told to stop.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let d = dir.path().to_path_buf();
    let live = std::thread::spawn(move || {
        let stats = make(d);
        ready_tx.send(stats.path().unwrap().to_path_buf()).unwrap();
        rx.recv().unwrap();
        drop(stats);
    });
    let live_path = ready_rx.recv().unwrap();
    // Another process's file with the same shape is never touched.
    let foreign = dir.path().join("rm-1-2.mmstats");
    std::fs::write(&foreign, [1u8, 0, 0]).unwrap();
    let own = make(dir.path().to_path_buf());
    assert_eq!(stats_files(dir.path()).len(), 4);
    let removed = own.remove().unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}");
    let left = stats_files(dir.path());
    assert_eq!(left, {
        let mut v = vec![foreign.clone(), live_path.clone()];
        v.sort();
        v
    });
    tx.send(()).unwrap();
    live.join().unwrap();
}

#[test]
fn flush_works_and_in_memory_stats_have_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let stats = make_all_types(dir.path());
    stats.counter.incr();
    stats.flush().unwrap();
    stats.flush_async().unwrap();
    let memory = AllTypes::in_memory();
    memory.counter.incr();
    assert!(memory.path().is_none());
    memory.flush().unwrap();
    assert!(memory.remove().unwrap().is_empty());
}

#[test]
fn counters_pick_up_where_a_handle_left_off_within_a_file() {
    // A handle reads its starting value from the file once, when bound:
    // a fresh file starts at zero for every field.
    let stats = AllTypes::in_memory();
    assert_eq!(stats.counter.get(), 0);
    assert_eq!(stats.uint64.get(), 0);
    assert!(!stats.bool_true.get());
    assert_eq!(stats.string.get(), "");
    assert_eq!(stats.static_text.get(), "static text");
    assert_eq!(stats.static_uint64.get(), 18_000_000_000_000_000_000);
}
