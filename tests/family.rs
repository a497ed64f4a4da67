//! Labelled families: each member an ordinary field at a fixed place,
//! labelled as the spec says, whatever the field type.

use mmstats::reader::{read_path, Value};
use mmstats::{Counter, Family, Flag, Gauge, Labels, MmStats, Summary, Text};

#[derive(Labels, Clone, Copy, Debug, PartialEq)]
#[mmstats(key = "method")]
enum Method {
    Get,
    Post,
    #[mmstats(value = "other")]
    Other,
}

#[derive(Labels, Clone, Copy, Debug, PartialEq)]
#[mmstats(key = "status")]
enum Status {
    #[mmstats(value = "2xx")]
    Ok,
    #[mmstats(value = "4xx")]
    Client,
    #[mmstats(value = "5xx")]
    Server,
}

/// Defaults: the key is the enum's name in snake case, the values the
/// variants' names.
#[derive(Labels, Clone, Copy, Debug, PartialEq)]
enum ErrorKind {
    TimedOut,
    HTTPError,
    #[mmstats(value = "say \"no\"\\\n")]
    Refused,
}

#[derive(MmStats)]
#[mmstats(prefix = "web.")]
struct WebStats {
    requests: Family<(Method, Status), Counter>,
    latency: Family<Method, Summary>,
    errors: Family<ErrorKind, Counter>,
    queue: Family<Status, Gauge<u32>>,
    up: Family<(Status, ErrorKind, Method), Flag>,
    last: Family<Method, Text<16>>,
    plain: Counter,
}

fn labels() -> Vec<String> {
    WebStats::MODEL
        .fields
        .iter()
        .map(|spec| spec.file_label())
        .collect()
}

#[test]
fn members_are_labelled_as_the_spec_says_in_a_fixed_order() {
    let labels = labels();
    let requests: Vec<&str> = labels[..9].iter().map(String::as_str).collect();
    assert_eq!(
        requests,
        [
            r#"web.requests{method="get",status="2xx"}"#,
            r#"web.requests{method="get",status="4xx"}"#,
            r#"web.requests{method="get",status="5xx"}"#,
            r#"web.requests{method="post",status="2xx"}"#,
            r#"web.requests{method="post",status="4xx"}"#,
            r#"web.requests{method="post",status="5xx"}"#,
            r#"web.requests{method="other",status="2xx"}"#,
            r#"web.requests{method="other",status="4xx"}"#,
            r#"web.requests{method="other",status="5xx"}"#,
        ]
    );
    // A summary's parts follow each member's label set.
    assert_eq!(
        &labels[9..15],
        [
            r#"web.latency{method="get"}"#,
            r#"web.latency{method="get"}.count"#,
            r#"web.latency{method="get"}.sum"#,
            r#"web.latency{method="get"}.min"#,
            r#"web.latency{method="get"}.max"#,
            r#"web.latency{method="get"}.seq"#,
        ]
    );
    assert_eq!(labels[15], r#"web.latency{method="post"}"#);
    // Default key and values, and the escapes of the spec.
    assert_eq!(
        &labels[27..30],
        [
            r#"web.errors{error_kind="timed_out"}"#,
            r#"web.errors{error_kind="http_error"}"#,
            r#"web.errors{error_kind="say \"no\"\\\n"}"#,
        ]
    );
    // Three labels: 3 x 3 x 3 flags; then texts with their sequence.
    assert_eq!(
        labels[33],
        r#"web.up{status="2xx",error_kind="timed_out",method="get"}"#
    );
    assert_eq!(
        labels[33 + 26],
        r#"web.up{status="5xx",error_kind="say \"no\"\\\n",method="other"}"#
    );
    assert_eq!(labels[60], r#"web.last{method="get"}"#);
    assert_eq!(labels[61], r#"web.last{method="get"}.seq"#);
    assert_eq!(labels[66], "web.plain");
    assert_eq!(labels[67], "web.sys.pid");
}

#[test]
fn each_member_is_its_own_field_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let stats = WebStats::builder().dir(dir.path()).create().unwrap();
    stats.requests[(Method::Get, Status::Ok)].incr();
    stats.requests[(Method::Get, Status::Ok)].incr();
    stats.requests[(Method::Other, Status::Server)].incr_by(5);
    stats.latency[Method::Post].add(0.5);
    stats.latency[Method::Post].add(1.5);
    stats.errors[ErrorKind::Refused].incr();
    stats.queue[Status::Client].set(7);
    stats.up[(Status::Server, ErrorKind::TimedOut, Method::Post)].set(true);
    stats.last[Method::Get].set("GET /items");
    stats.plain.incr();

    assert_eq!(stats.requests[(Method::Get, Status::Ok)].get(), 2);
    assert_eq!(stats.requests.get((Method::Post, Status::Ok)).get(), 0);
    let members: Vec<((Method, Status), u64)> = stats
        .requests
        .iter()
        .map(|(at, counter)| (at, counter.get()))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        members,
        [
            ((Method::Get, Status::Ok), 2),
            ((Method::Other, Status::Server), 5)
        ]
    );
    assert_eq!(<Family<(Method, Status), Counter>>::LEN, 9);

    let snapshot = read_path(stats.path().unwrap()).unwrap();
    assert!(snapshot.unsettled.is_empty(), "{:?}", snapshot.unsettled);
    let value = |label: &str| {
        snapshot
            .get(label)
            .unwrap_or_else(|| panic!("no field {label}"))
            .value
            .clone()
    };
    assert_eq!(
        value(r#"web.requests{method="get",status="2xx"}"#),
        Value::Unsigned(2)
    );
    assert_eq!(
        value(r#"web.requests{method="other",status="5xx"}"#),
        Value::Unsigned(5)
    );
    assert_eq!(
        value(r#"web.requests{method="post",status="2xx"}"#),
        Value::Unsigned(0)
    );
    assert_eq!(value(r#"web.latency{method="post"}"#), Value::Float(1.0));
    assert_eq!(
        value(r#"web.latency{method="post"}.count"#),
        Value::Unsigned(2)
    );
    assert_eq!(
        value(r#"web.latency{method="get"}.count"#),
        Value::Unsigned(0)
    );
    assert_eq!(
        value(r#"web.errors{error_kind="say \"no\"\\\n"}"#),
        Value::Unsigned(1)
    );
    assert_eq!(value(r#"web.queue{status="4xx"}"#), Value::Unsigned(7));
    assert_eq!(
        value(r#"web.up{status="5xx",error_kind="timed_out",method="post"}"#),
        Value::Bool(true)
    );
    assert_eq!(
        value(r#"web.up{status="5xx",error_kind="timed_out",method="get"}"#),
        Value::Bool(false)
    );
    assert_eq!(
        value(r#"web.last{method="get"}"#),
        Value::Text("GET /items".into())
    );
    assert_eq!(value("web.plain"), Value::Unsigned(1));
    // The kinds are the member type's.
    let kind = |label: &str| snapshot.get(label).unwrap().kind;
    assert_eq!(
        kind(r#"web.requests{method="get",status="2xx"}"#),
        mmstats::Kind::Counter
    );
    assert_eq!(
        kind(r#"web.latency{method="get"}.seq"#),
        mmstats::Kind::Sequence
    );
    assert_eq!(snapshot.stats.len(), WebStats::MODEL.fields.len());
    // The reader takes a member's label apart.
    let member = snapshot.stats[4].member().unwrap().unwrap();
    assert_eq!(member.family, "web.requests");
    assert_eq!(
        member.labels,
        [
            ("method".to_string(), "post".to_string()),
            ("status".to_string(), "4xx".to_string())
        ]
    );
    let part = snapshot
        .get(r#"web.latency{method="post"}.count"#)
        .unwrap()
        .member()
        .unwrap()
        .unwrap();
    assert_eq!(
        (part.family.as_str(), part.suffix),
        ("web.latency.count", ".count")
    );
    assert_eq!(snapshot.get("web.plain").unwrap().member(), Ok(None));
}

#[test]
fn labels_know_their_members() {
    assert_eq!(<(Method, Status)>::COUNT, 9);
    assert_eq!((Method::Post, Status::Server).index(), 5);
    assert_eq!(
        <(Method, Status)>::from_index(7),
        Some((Method::Other, Status::Client))
    );
    assert_eq!(<(Method, Status)>::from_index(9), None);
    assert_eq!(
        <(Status, ErrorKind, Method)>::from_index(26),
        Some((Status::Server, ErrorKind::Refused, Method::Other))
    );
    for i in 0..27 {
        let at = <(Status, ErrorKind, Method)>::from_index(i).unwrap();
        assert_eq!(at.index(), i);
    }
}

/// A finished thread's file is continued by the next thread given its id:
/// a family's counters and groups too.
#[test]
fn a_family_continues_the_file_of_a_finished_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = {
        let stats = WebStats::builder()
            .dir(dir.path())
            .file("same.mmstats")
            .create()
            .unwrap();
        stats.requests[(Method::Post, Status::Client)].incr_by(3);
        stats.latency[Method::Get].add(2.0);
        stats.path().unwrap().to_path_buf()
    };
    let stats = WebStats::builder()
        .dir(dir.path())
        .file("same.mmstats")
        .create()
        .unwrap();
    assert_eq!(stats.path().unwrap(), path);
    assert_eq!(stats.requests[(Method::Post, Status::Client)].get(), 3);
    assert_eq!(stats.requests[(Method::Get, Status::Client)].get(), 0);
    assert_eq!(stats.latency[Method::Get].count(), 1);
    assert_eq!(stats.latency[Method::Get].mean(), 2.0);
    assert_eq!(stats.latency[Method::Post].count(), 0);
}

/// A family of histograms: each member a histogram group of its own, read
/// whole, merged across members by a selector, exported as one Prometheus
/// histogram family with the member's label beside `le`.
#[test]
fn a_family_of_histograms_reads_merges_and_exports_each_member() {
    use mmstats::aggregate::{self, Combined};
    use mmstats::labels::Selector;
    use mmstats::reader::Histogram as Read;
    use mmstats::Histogram;

    #[derive(MmStats)]
    #[mmstats(prefix = "web.")]
    struct Latencies {
        #[mmstats(unit = "seconds")]
        latency: Family<Method, Histogram>,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = Latencies::builder()
        .dir(dir.path())
        .cmd("web")
        .create()
        .unwrap();
    for i in 1..=1000 {
        stats.latency[Method::Get].record(f64::from(i) * 1e-3);
    }
    for _ in 0..10 {
        stats.latency[Method::Post].record(2.0);
    }
    let snapshot = read_path(stats.path().unwrap()).unwrap();
    let get = Read::read(&snapshot, r#"web.latency{method="get"}"#)
        .unwrap()
        .unwrap();
    let post = Read::read(&snapshot, r#"web.latency{method="post"}"#)
        .unwrap()
        .unwrap();
    assert_eq!((get.count, post.count), (1000, 10));
    let p99 = get.quantile(0.99).unwrap();
    assert!((p99 - 0.990).abs() / 0.990 < 0.025, "{p99}");
    assert!((post.quantile(0.5).unwrap() - 2.0).abs() / 2.0 < 0.025);
    // The whole family, selected by its label: the members merged.
    let snapshots = [snapshot];
    let all = aggregate::combine(&snapshots);
    let selector = Selector::parse("web.latency").unwrap();
    match aggregate::select(&all, &selector) {
        Some(Combined::Histogram(h)) => assert_eq!(h.count, 1010),
        other => panic!("{other:?}"),
    }
    let metrics = mmstats::export::prometheus::exposition(&snapshots, 0);
    assert!(
        metrics.contains("# TYPE mmstats_web_latency_seconds histogram"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mmstats_web_latency_seconds_count{")
                && l.contains("method=\"post\"")
                && l.ends_with(" 10")),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mmstats_web_latency_seconds_bucket{")
                && l.contains("method=\"get\"")
                && l.contains("le=\"+Inf\"")
                && l.ends_with(" 1000")),
        "{metrics}"
    );
}
