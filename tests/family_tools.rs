//! The tools on a model with labelled families: `/metrics` (one Prometheus
//! family with the members' labels, clean for `promtool`, summed by label
//! by a real Prometheus), `slurp`, `poll` and the JSON API's selectors.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mmstats::{Counter, Family, Labels, MmStats, Summary};
use serde_json::Value as Json;

mod support;

use support::chromium::rendered_dom;
use support::http::get;
use support::prometheus::Prometheus;
use support::run;
use support::Guard;

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
    #[mmstats(value = "4xx")]
    Client,
    #[mmstats(value = "5xx")]
    Server,
}

#[derive(MmStats)]
#[mmstats(prefix = "web.")]
struct WebStats {
    /// Requests answered.
    requests: Family<(Method, Status), Counter>,
    /// Time to answer.
    #[mmstats(unit = "seconds")]
    latency: Family<Method, Summary>,
    plain: Counter,
}

/// A file of `WebStats` in `dir` with known counts: get 2xx 7, get 5xx 2,
/// post 2xx 3, post 4xx 1.
fn known_file(dir: &Path) -> mmstats::Stats<WebStats> {
    let stats = WebStats::builder()
        .dir(dir)
        .cmd("web")
        .file("{CMD}-{PID}-{TID}.mmstats")
        .create()
        .unwrap();
    stats.requests[(Method::Get, Status::Ok)].incr_by(7);
    stats.requests[(Method::Get, Status::Server)].incr_by(2);
    stats.requests[(Method::Post, Status::Ok)].incr_by(3);
    stats.requests[(Method::Post, Status::Client)].incr_by(1);
    stats.latency[Method::Get].add(0.5);
    stats.plain.incr();
    stats
}

/// A writer thread that keeps counting: 3 `get 2xx` and 1 `post 5xx` every
/// 10 ms until stopped.
struct Busy {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Busy {
    fn start(dir: &Path) -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, dir) = (stop.clone(), dir.to_path_buf());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let stats = known_file(&dir);
            tx.send(()).unwrap();
            while !flag.load(Ordering::Relaxed) {
                stats.requests[(Method::Get, Status::Ok)].incr_by(3);
                stats.requests[(Method::Post, Status::Server)].incr();
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        rx.recv().unwrap();
        Busy {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `mmstats serve` on a free loopback port reading `dir`.
fn serve(dir: &Path) -> (Guard, SocketAddr) {
    support::process::serve(&[&dir.display().to_string()])
}

fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "family tools test: {line}");
}

#[test]
fn metrics_export_one_family_with_the_member_labels() {
    let dir = tempfile::tempdir().unwrap();
    let _stats = known_file(dir.path());
    let (_server, address) = serve(dir.path());
    let (status, text) = get(address, "/metrics");
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        text.matches("# TYPE mmstats_web_requests_total counter\n")
            .count(),
        1,
        "{text}"
    );
    let pid = std::process::id();
    for (labels, value) in [
        (r#"method="get",status="2xx""#, 7),
        (r#"method="get",status="5xx""#, 2),
        (r#"method="post",status="4xx""#, 1),
        (r#"method="post",status="5xx""#, 0),
    ] {
        let line = format!("{labels}}} {value}\n");
        let found = text.lines().any(|l| {
            l.starts_with("mmstats_web_requests_total{cmd=\"web\",pid=")
                && l.contains(&format!("pid=\"{pid}\""))
                && format!("{l}\n").ends_with(&line)
        });
        assert!(found, "no sample {labels} {value} in\n{text}");
    }
    assert!(
        text.contains("mmstats_web_latency_count_total{cmd=\"web\",pid="),
        "{text}"
    );
    assert!(text.contains(",method=\"get\"} 1\n"), "{text}");
}

/// `promtool check metrics` on the exposition of a model with families.
#[test]
#[ignore = "needs promtool (Debian package prometheus)"]
fn metrics_with_families_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let _stats = known_file(dir.path());
    let (_server, address) = serve(dir.path());
    let (_, text) = get(address, "/metrics");
    support::prometheus::promtool_check(&text);
    report(&format!(
        "promtool check metrics with families: clean, {} lines",
        text.lines().count()
    ));
}

/// A real Prometheus scrapes a busy writer and sums the family's rate by
/// the member label `status`.
#[test]
#[ignore = "needs prometheus (Debian package prometheus)"]
fn prometheus_sums_a_family_by_status() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let _busy = Busy::start(dir.path());
    let (_server, server) = serve(dir.path());
    let prometheus = Prometheus::start(work.path(), &support::prometheus::scraping(&[server]), &[]);
    // sum by (status) (rate(mmstats_web_requests_total{cmd="web"}[10s]))
    let query = "/api/v1/query?query=sum%20by%20(status)%20(rate(mmstats_web_requests_total%7Bcmd%3D%22web%22%7D%5B10s%5D))";
    let rates = prometheus.ask(query, |answer| {
        let result = answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let rates: Vec<(String, f64)> = result
            .iter()
            .map(|r| {
                (
                    r["metric"]["status"].as_str().unwrap_or("").to_string(),
                    r["value"][1].as_str().unwrap_or("0").parse().unwrap_or(0.0),
                )
            })
            .collect();
        (rates.len() == 3 && rates.iter().any(|(s, r)| s == "5xx" && *r > 0.0)).then_some(rates)
    });
    report(&format!(
        "Prometheus: sum by (status) (rate(mmstats_web_requests_total[10s])) = {rates:?}"
    ));
    let rate = |status: &str| rates.iter().find(|(s, _)| s == status).unwrap().1;
    // 3 per 10 ms against 1 per 10 ms, whatever the machine's pace.
    assert!(rate("2xx") > 2.0 * rate("5xx"), "{rates:?}");
    assert!(rate("5xx") > 0.0, "{rates:?}");
    assert_eq!(rate("4xx"), 0.0, "{rates:?}");
}

#[test]
fn slurp_shows_members_under_their_family() {
    let dir = tempfile::tempdir().unwrap();
    let _stats = known_file(dir.path());
    let dir_arg = dir.path().to_str().unwrap();
    let (ok, out, err) = run(&["slurp", dir_arg]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let at = lines.iter().position(|l| *l == "  web.requests").unwrap();
    assert!(
        lines[at + 1].starts_with(r#"    {method="get",status="2xx"}"#),
        "{out}"
    );
    assert!(lines[at + 1].ends_with("  7"), "{out}");
    assert!(
        lines[at + 6].starts_with(r#"    {method="post",status="5xx"}"#),
        "{out}"
    );
    let latency = lines.iter().position(|l| *l == "  web.latency").unwrap();
    assert!(
        lines[latency + 2].starts_with(r#"    {method="get"}.count"#),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.starts_with("  web.plain ")), "{out}");
    // JSON: the whole label, the family and the labels.
    let (ok, out, err) = run(&["slurp", "--json", dir_arg]);
    assert!(ok, "{err}");
    let doc: Json = serde_json::from_str(&out).unwrap();
    let stats = doc["files"][0]["stats"].as_array().unwrap();
    let member = stats
        .iter()
        .find(|s| s["label"] == r#"web.requests{method="get",status="2xx"}"#)
        .unwrap();
    assert_eq!(member["family"], "web.requests");
    assert_eq!(member["labels"]["method"], "get");
    assert_eq!(member["labels"]["status"], "2xx");
    assert_eq!(member["value"], 7);
    let plain = stats.iter().find(|s| s["label"] == "web.plain").unwrap();
    assert!(plain.get("family").is_none(), "{plain}");
}

#[test]
fn poll_sums_a_family_and_picks_members_by_their_labels() {
    let dir = tempfile::tempdir().unwrap();
    let _stats = known_file(dir.path());
    let dir_arg = dir.path().to_str().unwrap();
    let fields = r#"requests,requests{status="2xx"},requests{status="5xx",method="get"},requests{method="post"},latency.count,plain"#;
    let (ok, out, err) = run(&["poll", "-p", "web.", "-c", "1", fields, dir_arg]);
    assert!(ok, "{err}");
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    // All 13, 2xx 7 + 3, get 5xx 2, post 3 + 1, one latency, one plain.
    assert_eq!(row, ["13", "10", "2", "4", "1", "1"], "{out}");
    // A member nobody has, and a malformed set.
    let (ok, out, _) = run(&[
        "poll",
        "-p",
        "web.",
        "-c",
        "1",
        r#"requests{status="3xx"},plain"#,
        dir_arg,
    ]);
    assert!(ok);
    assert_eq!(
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["-", "1"]
    );
    let (ok, _, err) = run(&["poll", "-c", "1", r#"requests{status=5xx}"#, dir_arg]);
    assert!(!ok);
    assert!(err.contains("malformed label set"), "{err}");
}

#[test]
fn the_json_api_takes_the_same_selectors() {
    let dir = tempfile::tempdir().unwrap();
    let _stats = known_file(dir.path());
    let (_server, address) = serve(dir.path());
    let json = |path: &str| {
        let (status, body) = get(address, path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<Json>(&body).unwrap()
    };
    // /stats/web.requests{status="5xx"}
    let five = json("/stats/web.requests%7Bstatus%3D%225xx%22%7D");
    let keys: Vec<&String> = five.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            r#"web.requests{method="get",status="5xx"}"#,
            r#"web.requests{method="post",status="5xx"}"#
        ]
    );
    assert_eq!(
        five[r#"web.requests{method="get",status="5xx"}"#],
        serde_json::json!([2])
    );
    let all = json("/stats/web.requests?exact=1&aggr=sum");
    assert_eq!(all.as_object().unwrap().len(), 6, "{all}");
    assert_eq!(all[r#"web.requests{method="get",status="2xx"}"#], 7);
    let (status, body) = get(address, "/stats/web.requests%7Bstatus%3D5xx%7D");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("malformed label set"), "{body}");
}

/// The recorder keeps one series per member, named by the member's whole
/// label, so that a history of each label set can be queried.
#[test]
fn record_stores_a_series_per_member() {
    use mmstats::mstore::Point;
    use mmstats::record::{series, By};
    let dir = tempfile::tempdir().unwrap();
    let stats = known_file(dir.path());
    let snapshot = mmstats::reader::read_path(stats.path().unwrap()).unwrap();
    let me = snapshot.owner.unwrap();
    let all = series(&[snapshot], &[By::Cmd], Default::default(), me);
    let members: Vec<&(String, Point)> = all
        .iter()
        .filter(|(name, _)| name.starts_with("cmd:web:web.requests{"))
        .collect();
    assert_eq!(members.len(), 6, "{all:?}");
    let get_2xx = all
        .iter()
        .find(|(name, _)| name == r#"cmd:web:web.requests{method="get",status="2xx"}"#)
        .unwrap();
    assert_eq!(format!("{:?}", get_2xx.1), format!("{:?}", Point::U64(7)));
}

/// The dashboard draws a family as one graph with a line per member, and a
/// legend naming each member's label set.
#[test]
#[ignore = "needs chromium (Debian package chromium)"]
fn the_dashboard_graphs_a_family_as_one_chart_with_a_line_per_member() {
    let dir = tempfile::tempdir().unwrap();
    let _busy = Busy::start(dir.path());
    let (_server, address) = serve(dir.path());
    let dom = rendered_dom(&format!("http://{address}/"));
    let chart = dom
        .split("<div class=\"chart family\" data-family=\"web.requests\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no family chart for web.requests in\n{dom}"));
    let chart = chart.split("</ul>").next().unwrap();
    assert_eq!(
        dom.matches("data-family=\"web.requests\"").count(),
        1,
        "one graph for the family"
    );
    let lines = chart.matches("class=\"line member\"").count();
    assert_eq!(lines, 6, "a line per member:\n{chart}");
    assert!(chart.contains("6 members"), "{chart}");
    assert!(chart.contains("{method=\"get\",status=\"2xx\"}"), "{chart}");
    assert!(
        chart.contains("data-member=\"{method=&quot;post&quot;,status=&quot;5xx&quot;}\""),
        "{chart}"
    );
    // No graph of its own for a member; the plain counter keeps its own.
    assert!(
        !dom.contains("<div class=\"chart\" data-label=\"web.requests{"),
        "{dom}"
    );
    assert!(
        dom.contains("<div class=\"chart\" data-label=\"web.plain\""),
        "{dom}"
    );
    // A summary's parts in a family are families too, each one graph.
    assert!(dom.contains("data-family=\"web.latency.count\""), "{dom}");
    report(&format!(
        "dashboard: web.requests drawn as one graph of {lines} lines"
    ));
}
