use super::*;
use crate::reader::{read_path, Snapshot};
use std::path::Path;

/// Every file in `dir`, read, in name order.
fn snapshots(dir: &Path) -> Vec<Snapshot> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| read_path(p).unwrap()).collect()
}

fn value(snapshots: &[Snapshot], label: &str) -> Vec<String> {
    snapshots
        .iter()
        .filter_map(|s| s.get(label))
        .map(|s| s.value.to_string())
        .collect()
}

#[test]
fn counters_gauges_and_histograms_land_in_the_threads_file() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Builder::new().dir(dir.path()).recorder();
    ::metrics::with_local_recorder(&recorder, || {
        ::metrics::describe_counter!("jobs_done", Unit::Count, "jobs finished");
        ::metrics::describe_histogram!("latency", Unit::Seconds, "time per job");
        ::metrics::counter!("jobs_done", "queue" => "fast").increment(3);
        let slow = ::metrics::counter!("jobs_done", "queue" => "slow");
        slow.increment(1);
        slow.increment(1);
        ::metrics::counter!("jobs_done", "queue" => "fast").increment(1);
        ::metrics::counter!("restarts").absolute(7);
        let load = ::metrics::gauge!("load");
        load.set(2.0);
        load.increment(0.5);
        load.decrement(1.0);
        ::metrics::histogram!("latency").record(0.25);
        ::metrics::histogram!("latency").record(0.5);
    });
    let files = snapshots(dir.path());
    // Each metric was registered right before its first update, so each
    // made a generation of its own (five metrics, five files, all of
    // this thread).
    assert_eq!(files.len(), 5);
    assert_eq!(value(&files, r#"jobs_done{queue="fast"}"#), ["4"]);
    assert_eq!(value(&files, r#"jobs_done{queue="slow"}"#), ["2"]);
    assert_eq!(value(&files, "restarts"), ["7"]);
    assert_eq!(value(&files, "load"), ["1.5"]);
    assert_eq!(value(&files, "latency"), ["2"]);
    assert_eq!(value(&files, "latency.sum"), ["0.75"]);
    let jobs = files
        .iter()
        .find_map(|s| s.get(r#"jobs_done{queue="fast"}"#))
        .unwrap();
    assert_eq!(jobs.kind, crate::Kind::Counter);
    assert_eq!(
        (jobs.help.as_str(), jobs.unit.as_str()),
        ("jobs finished", "count")
    );
    let latency = files.iter().find_map(|s| s.get("latency")).unwrap();
    assert_eq!(latency.kind, crate::Kind::Histogram);
    assert_eq!(latency.unit, "seconds");
    assert_eq!(recorder.unrecorded(), 0);
}

#[test]
fn metrics_registered_before_the_first_update_share_one_generation() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Builder::new().dir(dir.path()).recorder();
    ::metrics::with_local_recorder(&recorder, || {
        let handles: Vec<_> = (0..50)
            .map(|i| ::metrics::counter!("c", "i" => i.to_string()))
            .collect();
        for (i, h) in handles.iter().enumerate() {
            h.increment(i as u64);
        }
    });
    let files = snapshots(dir.path());
    assert_eq!(files.len(), 1);
    assert_eq!(value(&files, r#"c{i="49"}"#), ["49"]);
}

#[test]
fn new_metrics_come_in_new_generations_up_to_the_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Builder::new().dir(dir.path()).capacity(3).recorder();
    ::metrics::with_local_recorder(&recorder, || {
        // Seven metrics registered first: generations of 3, 3 and 1.
        let handles: Vec<_> = (0..7)
            .map(|i| ::metrics::counter!("c", "i" => i.to_string()))
            .collect();
        for h in &handles {
            h.increment(1);
        }
        // One more after the files exist: a fourth generation.
        ::metrics::counter!("late").increment(5);
    });
    let files = snapshots(dir.path());
    assert_eq!(files.len(), 4);
    let models: Vec<String> = files
        .iter()
        .map(|s| s.get("sys.model").unwrap().value.to_string())
        .collect();
    assert_eq!(models, ["metrics.0", "metrics.1", "metrics.2", "metrics.3"]);
    for i in 0..7 {
        assert_eq!(value(&files, &format!("c{{i=\"{i}\"}}")), ["1"]);
    }
    assert_eq!(value(&files, "late"), ["5"]);
}

#[test]
fn past_the_last_generation_metrics_are_counted_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Builder::new()
        .dir(dir.path())
        .capacity(2)
        .max_generations(1)
        .recorder();
    ::metrics::with_local_recorder(&recorder, || {
        ::metrics::counter!("a").increment(1);
        ::metrics::counter!("b").increment(1);
        ::metrics::counter!("c").increment(1);
        // "a" alone made generation 0 (capacity 2, one registered); "b"
        // and "c" came after the last generation.
        ::metrics::counter!("a").increment(1);
    });
    let files = snapshots(dir.path());
    assert_eq!(files.len(), 1);
    assert_eq!(value(&files, "a"), ["2"]);
    assert!(value(&files, "b").is_empty());
    assert_eq!(recorder.unrecorded(), 2);
}

#[test]
fn a_label_taken_by_another_kind_is_counted_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Builder::new().dir(dir.path()).recorder();
    ::metrics::with_local_recorder(&recorder, || {
        ::metrics::counter!("x").increment(2);
        ::metrics::gauge!("x").set(9.0);
    });
    let files = snapshots(dir.path());
    assert_eq!(value(&files, "x"), ["2"]);
    assert_eq!(recorder.unrecorded(), 1);
}

#[test]
fn label_names_become_ones_the_tools_accept() {
    assert_eq!(label_name("queue"), "queue");
    assert_eq!(label_name("le"), "le_");
    assert_eq!(label_name("my-key"), "my_key");
    assert_eq!(label_name("1st"), "_1st");
    assert_eq!(label_name("__name"), "_name");
    assert_eq!(label_name(""), "_");
    assert_eq!(label_name("é"), "_");
    for key in ["le", "cmd", "a b", "9", "__", "é", "", "_"] {
        let name = label_name(key);
        assert!(is_label_name(&name), "{key:?} -> {name:?}");
        assert!(
            !RESERVED_KEYS.contains(&name.as_str()),
            "{key:?} -> {name:?}"
        );
        assert!(!name.starts_with("__"), "{key:?} -> {name:?}");
    }
    let key = Key::from_parts("q\0", vec![::metrics::Label::new("k", "a\"b\0")]);
    assert_eq!(field_label(&key), "q\u{fffd}{k=\"a\\\"b\u{fffd}\"}");
}

#[test]
fn each_thread_writes_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Builder::new().dir(dir.path()).recorder();
    let handle = ::metrics::with_local_recorder(&recorder, || ::metrics::counter!("shared"));
    std::thread::scope(|s| {
        for n in 1..=3u64 {
            let handle = handle.clone();
            s.spawn(move || handle.increment(n));
        }
    });
    let files = snapshots(dir.path());
    assert_eq!(files.len(), 3);
    let mut counts = value(&files, "shared");
    counts.sort();
    assert_eq!(counts, ["1", "2", "3"]);
    let tids: std::collections::BTreeSet<String> = files
        .iter()
        .map(|s| s.get("sys.tid").unwrap().value.to_string())
        .collect();
    assert_eq!(tids.len(), 3);
}

#[test]
fn a_reader_never_sees_a_half_made_generation() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let recorder = Builder::new().dir(dir.path()).capacity(4).recorder();
    let done = AtomicBool::new(false);
    let (reads, fields) = std::thread::scope(|s| {
        s.spawn(|| {
            ::metrics::with_local_recorder(&recorder, || {
                // Each metric registered at its first use: a generation
                // each, made while the reader reads.
                for i in 0..150u64 {
                    ::metrics::counter!("m", "i" => i.to_string()).increment(i + 1);
                }
            });
            done.store(true, Ordering::Release);
        });
        let reader = s.spawn(|| {
            let (mut reads, mut fields) = (0u64, 0u64);
            loop {
                let last = done.load(Ordering::Acquire);
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    // What the tools read: published files, not the
                    // writer's hidden temporary ones.
                    if name.starts_with('.') || !name.ends_with(".mmstats") {
                        continue;
                    }
                    let snapshot = read_path(&path).unwrap();
                    assert!(snapshot.meta, "{name}: no metadata block");
                    assert!(snapshot.unsettled.is_empty());
                    for stat in &snapshot.stats {
                        let Some(i) = stat
                            .label
                            .strip_prefix("m{i=\"")
                            .and_then(|l| l.strip_suffix("\"}"))
                        else {
                            assert!(
                                stat.label.starts_with("sys.") || stat.label.ends_with(".version"),
                                "{}",
                                stat.label
                            );
                            continue;
                        };
                        let i: u64 = i.parse().unwrap();
                        let value = stat.value.to_string();
                        // Published before its first increment, or after.
                        assert!(value == "0" || value == (i + 1).to_string(), "{value}");
                        fields += 1;
                    }
                    reads += 1;
                }
                if last {
                    break (reads, fields);
                }
            }
        });
        reader.join().unwrap()
    });
    assert!(reads > 0 && fields > 0);
    assert_eq!(snapshots(dir.path()).len(), 150);
    eprintln!("metrics test: {reads} file reads, {fields} metric fields checked");
}
