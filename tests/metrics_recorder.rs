//! The `metrics` recorder end to end: a program that installs it and
//! counts with `metrics::counter!`, read by the real `mmstats` command.

mod support;

use support::mmstats;

/// The one test of this file: the global recorder is installed once per
/// process.
#[test]
fn counter_macro_after_install_shows_in_slurp_json() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = mmstats::metrics::Builder::new()
        .dir(dir.path())
        .install()
        .unwrap();
    // A second install is refused, and the first stays in place.
    assert_eq!(
        mmstats::metrics::install().unwrap_err(),
        mmstats::metrics::InstallError
    );
    metrics::describe_counter!("jobs_done", "jobs finished");
    metrics::counter!("jobs_done", "queue" => "fast").increment(3);
    metrics::gauge!("workers").set(4.0);
    metrics::histogram!("job_seconds").record(0.5);

    let output = mmstats()
        .args(["slurp", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["errors"], serde_json::json!([]));
    let stats: Vec<&serde_json::Value> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["stats"].as_array().unwrap())
        .collect();
    let find = |label: &str| {
        stats
            .iter()
            .find(|s| s["label"] == label)
            .unwrap_or_else(|| panic!("no {label} in {stdout}"))
    };
    let jobs = find(r#"jobs_done{queue="fast"}"#);
    assert_eq!(jobs["value"], 3, "{jobs}");
    assert_eq!(jobs["kind"], "counter");
    assert_eq!(find("workers")["value"], 4.0);
    assert_eq!(find("job_seconds")["kind"], "histogram");
    assert_eq!(recorder.unrecorded(), 0);
}
