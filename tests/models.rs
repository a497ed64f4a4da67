//! Several models in one program: each model's file is named by the model
//! (`{MODEL}` in the default template), so any number of them live on one
//! thread; a name that a live writer holds already is numbered instead of
//! refused; readers group files by the command and process the files
//! themselves name (`sys.cmd`, `sys.pid`), whatever the file names are.

mod common;

use std::path::{Path, PathBuf};

use common::stats_files;
use mmstats::aggregate::{self, Combined};
use mmstats::reader::{read_path, Snapshot, Value};
use mmstats::{Counter, MmStats};

#[derive(MmStats)]
#[mmstats(prefix = "web.")]
struct WebStats {
    requests: Counter,
}

#[derive(MmStats)]
#[mmstats(prefix = "db.")]
struct DbStats {
    queries: Counter,
}

#[derive(MmStats)]
struct CacheStats {
    hits: Counter,
}

#[derive(MmStats)]
#[mmstats(name = "queue")]
struct QueueStats {
    jobs: Counter,
}

#[derive(MmStats)]
struct HTTPAuthStats {
    logins: Counter,
}

#[derive(MmStats)]
#[mmstats(file = "{CMD}-{PID}.mmstats")]
struct PerProcessName {
    ticks: Counter,
}

fn program() -> String {
    mmstats::file::program_name()
}

fn snapshots(files: &[PathBuf]) -> Vec<Snapshot> {
    files.iter().map(|f| read_path(f).unwrap()).collect()
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The sum over `snapshots` of the counter `label`.
fn total(snapshots: &[Snapshot], label: &str) -> u64 {
    let all = aggregate::combine(snapshots);
    match all.iter().find(|a| a.label == label).map(|a| &a.combined) {
        Some(Combined::Value(Value::Unsigned(n))) => *n,
        other => panic!("{label}: {other:?}"),
    }
}

#[test]
fn two_models_on_one_thread_write_two_files_under_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let web = WebStats::builder().dir(dir.path()).create().unwrap();
    let db = DbStats::builder().dir(dir.path()).create().unwrap();
    web.requests.incr_by(3);
    db.queries.incr();
    let files = stats_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let pid = std::process::id();
    let tid = mmstats::file::thread_id();
    let names: Vec<String> = files.iter().map(|f| name_of(f)).collect();
    assert_eq!(
        names,
        [
            format!("{}-{pid}-{tid}-db_stats.mmstats", program()),
            format!("{}-{pid}-{tid}-web_stats.mmstats", program()),
        ]
    );
    let snaps = snapshots(&files);
    let models: Vec<_> = snaps
        .iter()
        .map(|s| s.model().unwrap().to_string())
        .collect();
    assert_eq!(models, ["db_stats", "web_stats"]);
    let commands = aggregate::by_command(&snaps);
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].key, program());
    assert_eq!(commands[0].snapshots.len(), 2);
    assert_eq!(total(&snaps, "web.requests"), 3);
    assert_eq!(total(&snaps, "db.queries"), 1);
    // Both files in `mmstats slurp`, and both models' fields in `/metrics`
    // under the program's command.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmstats"))
        .arg("slurp")
        .arg(dir.path().join("*.mmstats"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for file in &files {
        assert!(text.contains(&name_of(file)), "{text}");
    }
    assert!(
        text.contains("web.requests") && text.contains("db.queries"),
        "{text}"
    );
    let metrics = mmstats::export::prometheus::exposition(&snaps, 0);
    let cmd = format!("cmd=\"{}\"", program());
    for name in ["mmstats_web_requests_total", "mmstats_db_queries_total"] {
        assert!(
            metrics.lines().any(|l| l.starts_with(name)
                && l.contains(&cmd)
                && l.contains(&format!("pid=\"{pid}\""))),
            "{name}: {metrics}"
        );
    }
}

#[test]
fn five_models_on_one_thread_each_get_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let web = WebStats::builder().dir(dir.path()).create().unwrap();
    let db = DbStats::builder().dir(dir.path()).create().unwrap();
    let cache = CacheStats::builder().dir(dir.path()).create().unwrap();
    let queue = QueueStats::builder().dir(dir.path()).create().unwrap();
    let auth = HTTPAuthStats::builder().dir(dir.path()).create().unwrap();
    web.requests.incr();
    db.queries.incr_by(2);
    cache.hits.incr_by(3);
    queue.jobs.incr_by(4);
    auth.logins.incr_by(5);
    let files = stats_files(dir.path());
    assert_eq!(files.len(), 5, "{files:?}");
    let snaps = snapshots(&files);
    let mut models: Vec<_> = snaps
        .iter()
        .map(|s| s.model().unwrap().to_string())
        .collect();
    models.sort();
    assert_eq!(
        models,
        [
            "cache_stats",
            "db_stats",
            "http_auth_stats",
            "queue",
            "web_stats"
        ]
    );
    for (label, want) in [
        ("web.requests", 1),
        ("db.queries", 2),
        ("hits", 3),
        ("jobs", 4),
        ("logins", 5),
    ] {
        assert_eq!(total(&snaps, label), want, "{label}");
    }
    assert!(snaps.iter().all(|s| s.command() == program()));
    assert!(snaps.iter().all(|s| s.pid() == Some(std::process::id())));
}

#[test]
fn a_custom_template_that_leaves_out_the_model_numbers_the_second_file() {
    let dir = tempfile::tempdir().unwrap();
    let template = "{CMD}-{PID}-db.mmstats";
    let web = WebStats::builder()
        .dir(dir.path())
        .file(template)
        .create()
        .unwrap();
    let db = DbStats::builder()
        .dir(dir.path())
        .file(template)
        .create()
        .unwrap();
    web.requests.incr();
    db.queries.incr();
    let pid = std::process::id();
    let first = format!("{}-{pid}-db.mmstats", program());
    let second = format!("{}-{pid}-db.1.mmstats", program());
    assert_eq!(name_of(web.path().unwrap()), first);
    assert_eq!(name_of(db.path().unwrap()), second);
    // The command is the file's own `sys.cmd`, not the file name taken
    // apart (which gave `cmd="<program>-<pid>-db"`).
    let snaps = snapshots(&stats_files(dir.path()));
    assert!(snaps.iter().all(|s| s.command() == program()), "{snaps:?}");
    let metrics = mmstats::export::prometheus::exposition(&snaps, 0);
    assert!(
        metrics.contains(&format!("cmd=\"{}\"", program())),
        "{metrics}"
    );
    assert!(!metrics.contains("-db\""), "{metrics}");
}

/// The only test of this binary that uses `with_thread`, which reads
/// `MMSTATS_PATH`: other tests set their directory on the builder.
#[test]
fn with_thread_and_create_on_one_thread_both_write_files() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("MMSTATS_PATH", dir.path());
    let done = std::thread::spawn(|| {
        let owned = WebStats::create().unwrap();
        owned.requests.incr();
        // Before, this fell back to memory: `create` held the name.
        WebStats::try_with_thread(|s| s.requests.incr_by(10)).unwrap();
        owned.requests.incr();
        let path = owned.path().unwrap().to_path_buf();
        std::mem::forget(owned);
        path
    })
    .join()
    .unwrap();
    // A template without `{TID}` (as the derive chapter once showed): each
    // thread's `with_thread` gets a file of its own, numbered.
    // The three threads are alive at once (a thread that has ended leaves
    // its file to the next thread of the process that takes the name).
    let together = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let together = together.clone();
            std::thread::spawn(move || {
                PerProcessName::try_with_thread(|s| s.ticks.incr()).unwrap();
                together.wait();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    std::env::remove_var("MMSTATS_PATH");
    let files = stats_files(dir.path());
    let web: Vec<_> = files
        .iter()
        .filter(|f| name_of(f).contains("web_stats"))
        .cloned()
        .collect();
    assert_eq!(web.len(), 2, "{files:?}");
    assert!(web.contains(&done));
    assert_eq!(total(&snapshots(&web), "web.requests"), 12);
    let per_process: Vec<_> = files
        .iter()
        .filter(|f| !name_of(f).contains("web_stats"))
        .cloned()
        .collect();
    assert_eq!(per_process.len(), 3, "{files:?}");
    let snaps = snapshots(&per_process);
    assert_eq!(total(&snaps, "ticks"), 3);
    assert!(snaps.iter().all(|s| s.command() == program()));
}
