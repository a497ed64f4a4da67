//! Two containers sharing one stats directory, each with a PID namespace of
//! its own and a process 1 in it: neither may take over the other's files.
//!
//! Each "container" is this test binary run again by `unshare --pid --fork
//! --mount-proc` (util-linux, as root), in the role `container_role`: it
//! runs the same code, so its threads get the same ids as the other's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mmstats::reader::{self, Value};
use mmstats::{Counter, MmStats};

#[derive(MmStats)]
#[mmstats(prefix = "c.")]
struct Container {
    n: Counter,
}

const ROLE: &str = "MMSTATS_TEST_ROLE";
const DIR: &str = "MMSTATS_TEST_DIR";
const TEMPLATE: &str = "MMSTATS_TEST_TEMPLATE";
const FINISHED: &str = "MMSTATS_TEST_FINISHED";

/// What a container does: a thread counts `FINISHED` and ends, leaving its
/// file; then, in the role `first`, this thread keeps a live file holding 1
/// until the file `stop` appears. It says what it made on standard output.
#[test]
#[ignore = "a role that the other tests of this file run inside a PID namespace"]
fn container_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    let template = std::env::var(TEMPLATE).unwrap();
    let finished: u64 = std::env::var(FINISHED).unwrap().parse().unwrap();
    let (d, t) = (dir.clone(), template.clone());
    let outcome = std::thread::spawn(move || match Container::builder().dir(d).file(t).create() {
        Ok(stats) => {
            stats.n.incr_by(finished);
            format!("made {}", stats.path().unwrap().display())
        }
        Err(e) => format!("refused: {e}"),
    })
    .join()
    .unwrap();
    println!("{role}: pid {}: {outcome}", std::process::id());
    if role == "first" {
        let live = Container::builder()
            .dir(&dir)
            .file(&template)
            .create()
            .unwrap();
        live.n.incr();
        std::fs::write(dir.join("ready"), b"").unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !dir.join("stop").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Runs `container_role` in a new PID namespace.
fn container(dir: &Path, role: &str, template: &str, finished: u64) -> Child {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(std::env::current_exe().unwrap())
        .args(["container_role", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(ROLE, role)
        .env(DIR, dir)
        .env(TEMPLATE, template)
        .env(FINISHED, finished.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux)")
}

fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "unshare --pid needs root: {}\n{stdout}",
        out.status
    );
    stdout
}

/// Every stats file's counter under `dir`, by file name.
fn counts(dir: &Path) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "mmstats"))
        .map(|e| {
            let snapshot = reader::read_path(&e.path()).unwrap();
            let Value::Unsigned(n) = snapshot.get("c.n").unwrap().value else {
                panic!("c.n is a counter")
            };
            (e.file_name().to_string_lossy().into_owned(), n)
        })
        .collect();
    all.sort();
    all
}

/// Runs the first container (1000 in a finished thread's file, 1 live),
/// then the second (5 in a thread whose id is the first's finished one's)
/// while the first still runs; returns the second's report.
fn two_containers(dir: &Path, template: &str) -> String {
    let first = container(dir, "first", template, 1000);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("ready").exists() {
        assert!(
            Instant::now() < deadline,
            "the first container never got ready"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = finish(container(dir, "second", template, 5));
    std::fs::write(dir.join("stop"), b"").unwrap();
    let first = finish(first);
    assert!(first.contains("first: pid 1: made"), "{first}");
    assert!(second.contains("second: pid 1:"), "{second}");
    second
}

#[test]
#[ignore = "needs root, for unshare --pid (util-linux)"]
fn two_containers_sharing_a_directory_keep_their_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let second = two_containers(dir.path(), "{CMD}-{PID}-{TID}.mmstats");
    assert!(second.contains("made"), "{second}");
    let counts = counts(dir.path());
    // Each container's {PID} names its namespace: three files, and the
    // first container's total is still 1001.
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert_eq!(
        counts.iter().map(|(_, n)| n).sum::<u64>(),
        1006,
        "{counts:?}"
    );
    for (name, _) in &counts {
        assert!(name.contains("-ns"), "{name}");
        assert_eq!(
            mmstats::aggregate::command_of(Path::new(name)),
            mmstats::aggregate::command_of(&std::env::current_exe().unwrap()),
            "{name}"
        );
    }
    let mut values: Vec<u64> = counts.iter().map(|(_, n)| *n).collect();
    values.sort();
    assert_eq!(values, [1, 5, 1000]);
}

#[test]
#[ignore = "needs root, for unshare --pid (util-linux)"]
fn a_name_without_the_pid_is_refused_not_taken_from_another_container() {
    // The same name in both: the second container's thread finds the first
    // one's finished file, which its identity record says is of another PID
    // namespace; it leaves it alone and says why.
    let dir = tempfile::tempdir().unwrap();
    let second = two_containers(dir.path(), "shared-{TID}.mmstats");
    assert!(second.contains("refused"), "{second}");
    assert!(second.contains("PID namespace"), "{second}");
    let counts = counts(dir.path());
    let values: Vec<u64> = counts.iter().map(|(_, n)| *n).collect();
    assert_eq!(values.iter().sum::<u64>(), 1001, "{counts:?}");
    assert!(values.contains(&1000), "{counts:?}");
}
