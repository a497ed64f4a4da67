//! Run-time families (`DynFamily`): label values chosen at run time, at
//! most `N` per file and an overflow member; what the file holds, what the
//! reader shows (and refuses, for damaged or forged members), and each tool
//! reading it.

use std::collections::HashSet;
use std::path::Path;

use mmstats::reader::{read_bytes, read_path, MemberProblem, Snapshot, Value};
use mmstats::{Counter, DynFamily, Family, Labels, MmStats, Summary};

const LABEL_VALUE_BYTES: usize = DynFamily::<Counter, 1>::MAX_VALUE_LEN + 1;
use serde_json::Value as Json;

mod support;

use support::http::get;
use support::run;

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "method")]
enum Method {
    Get,
    Post,
}

#[derive(MmStats)]
#[mmstats(prefix = "web.")]
struct WebStats {
    /// Requests by route.
    #[mmstats(key = "route")]
    routes: DynFamily<Counter, 3>,
    /// Time to answer, by tenant (the key is the field's name).
    #[mmstats(unit = "seconds")]
    tenant: DynFamily<Summary, 2>,
    requests: Family<Method, Counter>,
    plain: Counter,
}

fn known_file(dir: &Path) -> mmstats::Stats<WebStats> {
    let stats = WebStats::builder()
        .dir(dir)
        .cmd("web")
        .file("{CMD}-{PID}-{TID}.mmstats")
        .create()
        .unwrap();
    stats.routes.member("/api/items").incr_by(7);
    stats.routes.member("/health").incr_by(2);
    stats.tenant.member("acme").add(0.5);
    stats.requests[Method::Post].incr_by(3);
    stats.plain.incr();
    stats
}

fn file_labels() -> Vec<String> {
    WebStats::MODEL
        .fields
        .iter()
        .map(|spec| spec.file_label())
        .collect()
}

fn labels(snapshot: &Snapshot) -> Vec<&str> {
    snapshot.stats.iter().map(|s| s.label.as_str()).collect()
}

#[test]
fn members_have_fixed_labels_in_the_file() {
    let labels = file_labels();
    assert_eq!(
        &labels[..9],
        [
            r##"web.routes{route="#0"}"##,
            r##"web.routes{route="#0"}.label"##,
            r##"web.routes{route="#0"}.label.seq"##,
            r##"web.routes{route="#1"}"##,
            r##"web.routes{route="#1"}.label"##,
            r##"web.routes{route="#1"}.label.seq"##,
            r##"web.routes{route="#2"}"##,
            r##"web.routes{route="#2"}.label"##,
            r##"web.routes{route="#2"}.label.seq"##,
        ]
    );
    assert_eq!(labels[9], r#"web.routes{route="__overflow__"}"#);
    // A summary's parts, then the label value, under the field's name.
    assert_eq!(labels[12], r##"web.tenant{tenant="#0"}"##);
    assert_eq!(labels[13], r##"web.tenant{tenant="#0"}.count"##);
    assert_eq!(labels[18], r##"web.tenant{tenant="#0"}.label"##);
    assert_eq!(labels[19], r##"web.tenant{tenant="#0"}.label.seq"##);
}

#[test]
fn the_writer_takes_members_in_order_and_overflows_past_n() {
    let stats = WebStats::in_memory();
    let items = stats.routes.member("/api/items");
    items.incr();
    stats.routes.member("/api/items").incr();
    assert_eq!(items.get(), 2);
    assert_eq!(stats.routes.len(), 1);
    stats.routes.member("/a").incr();
    stats.routes.member("/b").incr();
    // Full: every further value, and values that cannot be label values,
    // count in the overflow member.
    stats.routes.member("/c").incr();
    stats.routes.member("/d").incr();
    stats.routes.member("with\0nul").incr();
    stats.routes.member(&"x".repeat(LABEL_VALUE_BYTES)).incr();
    assert_eq!(stats.routes.overflow().get(), 4);
    assert_eq!(stats.routes.len(), 3);
    assert!(stats.routes.get("/c").is_none());
    let taken: Vec<(String, u64)> = stats
        .routes
        .iter()
        .map(|(value, counter)| (value, counter.get()))
        .collect();
    assert_eq!(
        taken,
        [("/api/items".into(), 2), ("/a".into(), 1), ("/b".into(), 1)]
    );
    // Too long, a NUL, empty, or the overflow's own value: the overflow,
    // even with room left.
    let fresh = WebStats::in_memory();
    fresh.routes.member("").incr();
    fresh.routes.member("__overflow__").incr();
    fresh.routes.member("a\0").incr();
    assert_eq!(fresh.routes.overflow().get(), 3);
    assert!(fresh.routes.is_empty());
    fresh
        .routes
        .member(&"y".repeat(LABEL_VALUE_BYTES - 1))
        .incr();
    assert_eq!(fresh.routes.len(), 1);
}

#[test]
fn the_reader_shows_members_under_their_values_and_hides_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let stats = known_file(dir.path());
    let snapshot = read_path(stats.path().unwrap()).unwrap();
    assert!(snapshot.damaged.is_empty(), "{:?}", snapshot.damaged);
    assert!(snapshot.unsettled.is_empty(), "{:?}", snapshot.unsettled);
    let shown = labels(&snapshot);
    let routes: Vec<&str> = shown
        .iter()
        .copied()
        .filter(|l| l.starts_with("web.routes"))
        .collect();
    assert_eq!(
        routes,
        [
            r#"web.routes{route="/api/items"}"#,
            r#"web.routes{route="/health"}"#,
            r#"web.routes{route="__overflow__"}"#,
        ]
    );
    let tenant: Vec<&str> = shown
        .iter()
        .copied()
        .filter(|l| l.starts_with("web.tenant"))
        .collect();
    assert_eq!(tenant.len(), 6 + 6, "{tenant:?}");
    assert_eq!(tenant[0], r#"web.tenant{tenant="acme"}"#);
    assert_eq!(tenant[1], r#"web.tenant{tenant="acme"}.count"#);
    assert_eq!(tenant[6], r#"web.tenant{tenant="__overflow__"}"#);
    assert!(!shown.iter().any(|l| l.contains(".label")), "{shown:?}");
    assert!(!shown.iter().any(|l| l.contains("\"#")), "{shown:?}");
    assert_eq!(
        snapshot
            .get(r#"web.routes{route="/api/items"}"#)
            .unwrap()
            .value,
        Value::Unsigned(7)
    );
    assert_eq!(
        snapshot
            .get(r#"web.tenant{tenant="acme"}.count"#)
            .unwrap()
            .value,
        Value::Unsigned(1)
    );
    // The stats around the families are untouched.
    assert!(snapshot.get(r#"web.requests{method="post"}"#).is_some());
    assert!(snapshot.get("web.plain").is_some());
}

/// A thread that takes over a finished thread's file finds the label
/// values published in it, and goes on taking the members after them.
#[test]
fn a_run_time_family_continues_the_file_of_a_finished_thread() {
    let dir = tempfile::tempdir().unwrap();
    let make = || {
        WebStats::builder()
            .dir(dir.path())
            .file("same.mmstats")
            .create()
            .unwrap()
    };
    {
        let stats = make();
        stats.routes.member("/a").incr_by(3);
        stats.routes.member("/b").incr_by(4);
    }
    let stats = make();
    assert_eq!(stats.routes.len(), 2);
    assert_eq!(stats.routes.get("/b").map(Counter::get), Some(4));
    stats.routes.member("/a").incr();
    stats.routes.member("/c").incr();
    let snapshot = read_path(stats.path().unwrap()).unwrap();
    assert!(snapshot.damaged.is_empty(), "{:?}", snapshot.damaged);
    let routes: Vec<(&str, String)> = snapshot
        .stats
        .iter()
        .filter(|s| s.label.starts_with("web.routes"))
        .map(|s| (s.label.as_str(), s.value.to_string()))
        .collect();
    assert_eq!(
        routes,
        [
            (r#"web.routes{route="/a"}"#, "4".to_string()),
            (r#"web.routes{route="/b"}"#, "4".to_string()),
            (r#"web.routes{route="/c"}"#, "1".to_string()),
            (r#"web.routes{route="__overflow__"}"#, "0".to_string()),
        ]
    );
}

#[test]
fn a_value_that_needs_escaping_is_escaped_in_the_label() {
    let dir = tempfile::tempdir().unwrap();
    let stats = WebStats::builder().dir(dir.path()).create().unwrap();
    stats.routes.member("say \"hi\"\\\n").incr();
    let snapshot = read_path(stats.path().unwrap()).unwrap();
    let member = snapshot
        .stats
        .iter()
        .find(|s| s.label.starts_with("web.routes{") && !s.label.contains("__overflow__"))
        .unwrap();
    assert_eq!(member.label, r#"web.routes{route="say \"hi\"\\\n"}"#);
    let parsed = member.member().unwrap().unwrap();
    assert_eq!(
        parsed.labels,
        [("route".to_string(), "say \"hi\"\\\n".to_string())]
    );
}

/// Where the value of the field labelled `label` is in `bytes`.
fn value_at(bytes: &[u8], label: &str) -> usize {
    let mut needle = (label.len() as u16).to_ne_bytes().to_vec();
    needle.extend_from_slice(label.as_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("no field {label}"));
    let sig_at = at + needle.len();
    let sig_len = u16::from_ne_bytes([bytes[sig_at], bytes[sig_at + 1]]) as usize;
    // Label, signature, the write-buffer byte.
    sig_at + 2 + sig_len + 1
}

fn forged(change: impl FnOnce(&mut Vec<u8>)) -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let stats = known_file(dir.path());
    let mut bytes = std::fs::read(stats.path().unwrap()).unwrap();
    change(&mut bytes);
    read_bytes(&bytes).unwrap()
}

fn no_label_twice(snapshot: &Snapshot) {
    let mut seen = HashSet::new();
    for stat in &snapshot.stats {
        assert!(
            seen.insert(stat.label.as_str()),
            "two fields labelled {}",
            stat.label
        );
    }
}

#[test]
fn a_damaged_member_is_left_out_and_reported() {
    let member = r##"web.routes{route="#1"}"##;
    let text = format!("{member}.label");
    let seq = format!("{member}.label.seq");
    type Forgery<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
    let cases: Vec<(MemberProblem, Forgery)> = vec![
        (
            MemberProblem::NotUtf8,
            Box::new(|b: &mut Vec<u8>| {
                let at = value_at(b, &text);
                b[at] = 0xff;
            }),
        ),
        (
            MemberProblem::TooLong,
            Box::new(|b: &mut Vec<u8>| {
                let at = value_at(b, &text);
                b[at..at + LABEL_VALUE_BYTES].fill(b'a');
            }),
        ),
        (
            MemberProblem::Nul,
            Box::new(|b: &mut Vec<u8>| {
                let at = value_at(b, &text);
                b[at + 20] = b'z';
            }),
        ),
        (
            MemberProblem::Empty,
            Box::new(|b: &mut Vec<u8>| {
                let at = value_at(b, &text);
                b[at] = 0;
                b[at + 1..at + 8].fill(0);
            }),
        ),
        (
            MemberProblem::Unsettled,
            Box::new(|b: &mut Vec<u8>| {
                let at = value_at(b, &seq);
                b[at..at + 8].copy_from_slice(&3u64.to_ne_bytes());
            }),
        ),
        (
            MemberProblem::Duplicate,
            Box::new(|b: &mut Vec<u8>| {
                // Member 1 claims member 0's value.
                let at = value_at(b, &text);
                b[at..at + 11].copy_from_slice(b"/api/items\0");
            }),
        ),
    ];
    for (problem, change) in cases {
        let snapshot = forged(|b| change(b));
        assert_eq!(
            snapshot.damaged.len(),
            1,
            "{problem:?}: {:?}",
            snapshot.damaged
        );
        assert_eq!(snapshot.damaged[0].problem, problem);
        assert_eq!(snapshot.damaged[0].label, member);
        no_label_twice(&snapshot);
        let shown = labels(&snapshot);
        assert!(
            !shown.iter().any(|l| l.contains("/health")),
            "{problem:?}: {shown:?}"
        );
        // The other members are as they were.
        assert_eq!(
            snapshot
                .get(r#"web.routes{route="/api/items"}"#)
                .unwrap()
                .value,
            Value::Unsigned(7),
            "{problem:?}"
        );
        assert!(snapshot.get(r#"web.tenant{tenant="acme"}"#).is_some());
    }
}

/// Every byte of the file up to member 2 (the header, two published
/// members, their label values) flipped one at a time, three ways:
/// never a panic, never two fields with one label.
#[test]
fn flipping_any_byte_of_a_member_never_panics_or_duplicates_a_label() {
    let dir = tempfile::tempdir().unwrap();
    let stats = known_file(dir.path());
    let clean = std::fs::read(stats.path().unwrap()).unwrap();
    // From the file's header (the family is its first field).
    let start = 0;
    let end = value_at(&clean, r##"web.routes{route="#2"}"##);
    let mut reads = 0;
    for at in start..end {
        for flip in [0xffu8, 0x01, 0x80] {
            let mut bytes = clean.clone();
            bytes[at] ^= flip;
            if let Ok(snapshot) = read_bytes(&bytes) {
                reads += 1;
                no_label_twice(&snapshot);
            }
        }
    }
    eprintln!(
        "dyn family flips: {} of {} reads parsed",
        reads,
        (end - start) * 3
    );
    assert!(reads > 0);
}

/// A writer adding members while a reader reads again and again: every
/// member the reader shows has its whole label value.
#[test]
fn a_reader_never_sees_a_half_published_label() {
    const N: usize = 48;
    #[derive(MmStats)]
    struct Many {
        #[mmstats(key = "route")]
        routes: DynFamily<Counter, N>,
    }
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let root = dir.path().to_path_buf();
    let writer = std::thread::spawn(move || {
        let stats = Many::builder().dir(&root).create().unwrap();
        tx.send(stats.path().unwrap().to_path_buf()).unwrap();
        for round in 0..200 {
            for i in 0..N {
                stats
                    .routes
                    .member(&format!("/route/{i:04}/{}", "z".repeat(i)))
                    .incr();
            }
            if round == 0 {
                std::thread::yield_now();
            }
        }
    });
    let path = rx.recv().unwrap();
    let mut reads = 0;
    let mut most = 0;
    while !writer.is_finished() || reads < 10 {
        let snapshot = read_path(&path).unwrap();
        assert!(snapshot.damaged.is_empty(), "{:?}", snapshot.damaged);
        let mut shown = 0;
        for stat in &snapshot.stats {
            let Some(member) = stat.member().unwrap() else {
                continue;
            };
            let value = &member.labels[0].1;
            if value == "__overflow__" {
                continue;
            }
            let i: usize = value[7..11].parse().unwrap();
            assert_eq!(*value, format!("/route/{i:04}/{}", "z".repeat(i)));
            shown += 1;
        }
        most = most.max(shown);
        reads += 1;
    }
    writer.join().unwrap();
    assert_eq!(most, N);
}

// ---- The tools ----

/// A child process killed when dropped.
#[test]
fn slurp_shows_members_under_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let _stats = known_file(dir.path());
    let dir_arg = dir.path().to_str().unwrap();
    let (ok, out, err) = run(&["slurp", dir_arg]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let at = lines.iter().position(|l| *l == "  web.routes").unwrap();
    assert!(
        lines[at + 1].starts_with(r#"    {route="/api/items"}"#),
        "{out}"
    );
    assert!(lines[at + 1].ends_with("  7"), "{out}");
    assert!(
        lines[at + 2].starts_with(r#"    {route="/health"}"#),
        "{out}"
    );
    assert!(!out.contains(".label"), "{out}");
    assert!(!out.contains("\"#"), "{out}");
    let (ok, out, err) = run(&["slurp", "--json", dir_arg]);
    assert!(ok, "{err}");
    let doc: Json = serde_json::from_str(&out).unwrap();
    let stats = doc["files"][0]["stats"].as_array().unwrap();
    let member = stats
        .iter()
        .find(|s| s["label"] == r#"web.routes{route="/api/items"}"#)
        .unwrap();
    assert_eq!(member["family"], "web.routes");
    assert_eq!(member["labels"]["route"], "/api/items");
    assert_eq!(member["value"], 7);
}

#[test]
fn poll_picks_a_member_by_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let _stats = known_file(dir.path());
    let dir_arg = dir.path().to_str().unwrap();
    let fields = r#"routes,routes{route="/health"},tenant.count"#;
    let (ok, out, err) = run(&["poll", "-p", "web.", "-c", "1", fields, dir_arg]);
    assert!(ok, "{err}");
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, ["9", "2", "1"], "{out}");
}

/// `mmstats serve` on a free loopback port reading `dir`.
fn serve(dir: &Path) -> (support::Guard, std::net::SocketAddr) {
    support::process::serve(&[&dir.display().to_string()])
}

#[test]
fn the_json_api_selects_a_member_by_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let _stats = known_file(dir.path());
    let (_server, address) = serve(dir.path());
    // /stats/web.routes{route="/health"}
    let (status, body) = get(address, "/stats/web.routes%7Broute%3D%22%2Fhealth%22%7D");
    assert_eq!(status, 200, "{body}");
    let doc: Json = serde_json::from_str(&body).unwrap();
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, [r#"web.routes{route="/health"}"#], "{doc}");
    assert_eq!(
        doc[r#"web.routes{route="/health"}"#],
        serde_json::json!([2])
    );
}

#[test]
fn record_stores_a_series_per_published_member() {
    use mmstats::mstore::Point;
    use mmstats::record::{series, By};
    let dir = tempfile::tempdir().unwrap();
    let stats = known_file(dir.path());
    let snapshot = read_path(stats.path().unwrap()).unwrap();
    let me = snapshot.owner.unwrap();
    let all = series(&[snapshot], &[By::Cmd], Default::default(), me);
    let routes: Vec<&str> = all
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| name.starts_with("cmd:web:web.routes"))
        .collect();
    assert_eq!(
        routes,
        [
            r#"cmd:web:web.routes{route="/api/items"}"#,
            r#"cmd:web:web.routes{route="/health"}"#,
            r#"cmd:web:web.routes{route="__overflow__"}"#,
        ]
    );
    let items = all
        .iter()
        .find(|(name, _)| name == r#"cmd:web:web.routes{route="/api/items"}"#)
        .unwrap();
    assert_eq!(format!("{:?}", items.1), format!("{:?}", Point::U64(7)));
}

#[test]
fn metrics_export_members_under_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let stats = known_file(dir.path());
    let snapshot = read_path(stats.path().unwrap()).unwrap();
    let text = mmstats::export::prometheus::exposition(&[snapshot], 0);
    assert_eq!(
        text.matches("# TYPE mmstats_web_routes_total counter\n")
            .count(),
        1,
        "{text}"
    );
    let items = text
        .lines()
        .find(|l| l.starts_with("mmstats_web_routes_total{") && l.contains(r#"route="/api/items""#))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(items.ends_with(" 7"), "{items}");
    assert!(!text.contains("label_seq"), "{text}");
    assert!(!text.contains("\"#"), "{text}");
    assert!(text.contains(r#"tenant="acme""#), "{text}");
}

/// A run-time family of histograms: each member a histogram group of its
/// own, read whole under its label value.
#[test]
fn a_run_time_family_of_histograms_reads_each_member() {
    use mmstats::reader::Histogram as Read;
    use mmstats::Histogram;

    #[derive(MmStats)]
    #[mmstats(prefix = "web.")]
    struct Latencies {
        #[mmstats(key = "route", unit = "seconds")]
        latency: DynFamily<Histogram, 2>,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = Latencies::builder().dir(dir.path()).create().unwrap();
    let items = stats.latency.member("/api/items");
    for i in 1..=100 {
        items.record(f64::from(i) * 1e-3);
    }
    stats.latency.member("/health").record(2.0);
    let snapshot = read_path(stats.path().unwrap()).unwrap();
    assert!(snapshot.damaged.is_empty(), "{:?}", snapshot.damaged);
    assert!(snapshot.unsettled.is_empty(), "{:?}", snapshot.unsettled);
    let read = Read::read(&snapshot, r#"web.latency{route="/api/items"}"#)
        .unwrap()
        .unwrap();
    let median = read.quantile(0.5).unwrap();
    assert!((0.04..0.06).contains(&median), "{median}");
    let health = Read::read(&snapshot, r#"web.latency{route="/health"}"#)
        .unwrap()
        .unwrap();
    assert!((1.9..2.1).contains(&health.quantile(0.5).unwrap()));
    assert!(!labels(&snapshot).iter().any(|l| l.contains(".label")));
}
