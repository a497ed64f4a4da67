//! The Prometheus text exposition format (version 0.0.4) of a set of files:
//! a renderer of the series model ([`series`]), which says which series
//! there are (one per process by default) and what their values are.
//!
//! Naming, for a field labelled `web.requests`:
//!
//! * the name is `mmstats_` followed by the label, with every run of
//!   characters other than ASCII letters and digits turned into one `_`,
//!   an `_` put between a lower-case letter and an upper-case one, and
//!   everything in lower case: `web.status.2XX` is `mmstats_web_status_2xx`,
//!   `cacheHits` is `mmstats_cache_hits`. The prefix keeps names from
//!   starting with a digit and groups them in Prometheus;
//! * a field with a unit has it at the end (`web.latency` in seconds is
//!   `mmstats_web_latency_seconds`), unless the name already ends with it;
//! * counters get `_total`, texts `_info`.
//!
//! [`render_openmetrics`] writes the same series in OpenMetrics 1.0,
//! which [`Format::negotiate`] chooses from a scrape's `Accept` header.
//!
//! Types, by the field's kind (a kind the file does not give is taken from
//! the value's type, as `crate::aggregate` does):
//!
//! | kind | type | sample |
//! | --- | --- | --- |
//! | counter | `counter` | the count |
//! | gauge, average, timer, static number | `gauge` | the value |
//! | flag | `gauge` | 0 or 1 |
//! | text, static text | `gauge` named `..._info` | 1, the text in the label `value` |
//! | histogram | `histogram` | cumulative `_bucket{le=...}` at every bound `2^(k/4)` of its range (see [`le_step`]), `_sum`, `_count` |
//! | histogram part, sequence | not exported: read with the histogram, or only telling readers when a group is whole | |
//!
//! A labelled family's members (fields labelled `web.requests{method="get"}`,
//! see [`crate::labels`]) are one family, named by the family's label, whose
//! samples carry the member's labels after the process's:
//! `mmstats_web_requests_total{cmd="web",pid="7",method="get"}`; a
//! summary's parts in a family are families of their own as without one
//! (`web.latency{method="get"}.count` is in `mmstats_web_latency_count`). A
//! label set that does not parse, or that names `cmd`, `owner`, `pid`,
//! `tid`, `value` or `le`, leaves the field an ordinary one under its
//! whole label.
//!
//! Each process gives one sample per family, with the labels `cmd` (the
//! file's `sys.cmd`, else from its name) and `pid` (`sys.pid`, else the
//! number in its name); its threads combine by the rules of [`series`].
//! With [`Per::Thread`], each file gives its own, with `tid` too.
//!
//! When the files are of several owners ([`Snapshot::owner`]; a
//! [`Collector`](crate::collect::Collector) reads other users' files only
//! when asked), every sample also has the label `owner`, the owner's user
//! id: the files of one user never add up with another's, whatever they
//! are named. With files of one owner only, there is no `owner` label.
//!
//! A label whose name is already taken by another label (`a.b` and `a_b`
//! both make `mmstats_a_b`) is left out, with a comment saying so, and so is
//! a second file with the same `cmd`, `pid` and `tid`: the exposition is
//! always valid. `mmstats_exporter_files` and
//! `mmstats_exporter_read_errors` count the files read and those that
//! could not be.

use std::fmt::Write as _;

use crate::reader::{Snapshot, Value};

use super::series::{self, Family, Type};
pub use super::series::{le_step, Options, Per, Tracker};

/// The exposition of `snapshots`, one series per process (see
/// [`series`]), `errors` being how many files could not be read. Without a
/// [`Tracker`], a process's counters are the sums of the files present;
/// a long-running exporter uses [`exposition_with`].
pub fn exposition(snapshots: &[Snapshot], errors: usize) -> String {
    exposition_with(snapshots, errors, &Options::default(), None)
}

/// The exposition of `snapshots` as `options` say, with the counts of
/// ended threads kept in `tracker` (see [`series::model`]).
pub fn exposition_with(
    snapshots: &[Snapshot],
    errors: usize,
    options: &Options,
    tracker: Option<&mut Tracker>,
) -> String {
    let (families, skipped) = series::model(snapshots, errors, options, tracker);
    render(&families, &skipped)
}

/// The Prometheus text format (0.0.4) of a model: a comment for each field
/// left out (`skipped`: its label and the name that took it), then each
/// family with its HELP and TYPE lines.
pub fn render(families: &[Family], skipped: &[(String, String)]) -> String {
    let mut out = String::new();
    for (label, owner) in skipped {
        let _ = writeln!(
            out,
            "# mmstats: field {} left out: {owner} is taken",
            comment(label)
        );
    }
    for family in families {
        let (name, ty) = match family.ty {
            Type::Counter => (format!("{}_total", family.name), "counter"),
            Type::Info => (format!("{}_info", family.name), "gauge"),
            Type::Gauge => (family.name.clone(), "gauge"),
            Type::Histogram => (family.name.clone(), "histogram"),
        };
        let _ = writeln!(out, "# HELP {name} {}", describe(family));
        let _ = writeln!(out, "# TYPE {name} {ty}");
        for sample in &family.samples {
            out.push_str(&family.name);
            out.push_str(sample.suffix);
            labels(&mut out, &sample.labels);
            out.push(' ');
            out.push_str(&number(&sample.value));
            out.push('\n');
        }
    }
    out
}

/// The exposition formats `/metrics` can answer in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4 ([`render`]).
    Text,
    /// OpenMetrics 1.0 ([`render_openmetrics`]).
    OpenMetrics,
}

impl Format {
    /// The format an HTTP `Accept` header asks for: OpenMetrics when it
    /// names `application/openmetrics-text` with a quality above 0 and no
    /// lower than the text format's (`text/plain`, else `*/*`), the text
    /// format otherwise (no header, or one that names neither). Prometheus
    /// asks for OpenMetrics first by default.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut openmetrics: f64 = 0.0;
        let mut text: Option<f64> = None;
        let mut any: Option<f64> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f64>().ok())
                .filter(|q| q.is_finite())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" => text = Some(text.unwrap_or(0.0).max(q)),
                "*/*" => any = Some(any.unwrap_or(0.0).max(q)),
                _ => {}
            }
        }
        let text = text.or(any).unwrap_or(0.0);
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The media type of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The exposition of `snapshots` in `format`, as [`exposition_with`].
pub fn exposition_in(
    format: Format,
    snapshots: &[Snapshot],
    errors: usize,
    options: &Options,
    tracker: Option<&mut Tracker>,
) -> String {
    let (families, skipped) = series::model(snapshots, errors, options, tracker);
    match format {
        Format::Text => render(&families, &skipped),
        Format::OpenMetrics => render_openmetrics(&families),
    }
}

/// OpenMetrics 1.0 of a model: for each family `# TYPE` (`counter`,
/// `gauge`, `info` for a text, `histogram`), `# UNIT` when the field has a
/// unit (the family's name ends with it), `# HELP`, then its samples; a
/// counter's and a histogram's series have a `_created` sample (the
/// earliest `sys.created` of their files) when the files say; `# EOF` ends
/// it. Counters' family names have no `_total`, their samples have. No
/// other comment is allowed, so fields left out for their name are not
/// named (the text format names them).
pub fn render_openmetrics(families: &[Family]) -> String {
    let mut out = String::new();
    for family in families {
        let ty = match family.ty {
            Type::Counter => "counter",
            Type::Info => "info",
            Type::Gauge => "gauge",
            Type::Histogram => "histogram",
        };
        let name = &family.name;
        let _ = writeln!(out, "# TYPE {name} {ty}");
        if !family.metric_unit.is_empty() {
            let _ = writeln!(out, "# UNIT {name} {}", family.metric_unit);
        }
        let _ = writeln!(
            out,
            "# HELP {name} {}",
            describe(family).replace('"', "\\\"")
        );
        // The `_created` of a series, after its last sample.
        let mut pending: Option<(&[(String, String)], f64)> = None;
        for sample in &family.samples {
            let series: &[(String, String)] = match family.ty {
                // A histogram's series: its labels without `le`.
                Type::Histogram => match sample.labels.split_last() {
                    Some((last, rest)) if last.0 == "le" => rest,
                    _ => &sample.labels,
                },
                _ => &sample.labels,
            };
            if let Some((labels_of, created)) = pending {
                if labels_of != series {
                    created_line(&mut out, name, labels_of, created);
                    pending = None;
                }
            }
            out.push_str(name);
            out.push_str(sample.suffix);
            labels(&mut out, &sample.labels);
            out.push(' ');
            out.push_str(&number(&sample.value));
            out.push('\n');
            if let (Type::Counter | Type::Histogram, Some(created)) = (family.ty, sample.created) {
                pending = Some((series, created));
            }
        }
        if let Some((labels_of, created)) = pending {
            created_line(&mut out, name, labels_of, created);
        }
    }
    out.push_str("# EOF\n");
    out
}

fn created_line(out: &mut String, name: &str, series: &[(String, String)], created: f64) {
    out.push_str(name);
    out.push_str("_created");
    labels(out, series);
    out.push(' ');
    out.push_str(&number(&Value::Float(created)));
    out.push('\n');
}

/// `{a="1",b="2"}`, nothing when there are no labels.
fn labels(out: &mut String, labels: &[(String, String)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push_str("=\"");
        out.push_str(&escape_label(value));
        out.push('"');
    }
    out.push('}');
}

/// A value in the format's number syntax.
fn number(value: &Value) -> String {
    match value {
        Value::Unsigned(n) => n.to_string(),
        Value::Signed(n) => n.to_string(),
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Float(x) if x.is_nan() => "NaN".into(),
        Value::Float(x) if x.is_infinite() => if *x > 0.0 { "+Inf" } else { "-Inf" }.into(),
        Value::Float(x) => format!("{x:?}"),
        Value::Text(_) | Value::Counts(_) => "NaN".into(),
    }
}

/// The HELP text of a family: the field's help, its label, kind and unit.
fn describe(family: &Family) -> String {
    if family.label.is_empty() {
        return escape_help(&family.help);
    }
    let mut text = String::new();
    if !family.help.is_empty() {
        text.push_str(family.help.trim_end());
        text.push(' ');
    }
    let _ = write!(text, "(mmstats field {}, {}", family.label, family.kind);
    if !family.unit.is_empty() {
        let _ = write!(text, ", in {}", family.unit);
    }
    text.push(')');
    escape_help(&text)
}

/// A HELP text escaped: `\` and line feeds as `\\` and `\n`, other control
/// characters as spaces.
fn escape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A label value escaped: `\`, `"` and line feeds as `\\`, `\"` and `\n`.
fn escape_label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A label in a comment line: control characters escaped.
fn comment(text: &str) -> String {
    text.chars().flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::series::sanitize;
    use super::*;
    use crate::format::Kind;
    use crate::reader::{EndMarker, Stat};
    use std::path::PathBuf;

    #[test]
    fn names() {
        assert_eq!(sanitize("web.requests"), "mmstats_web_requests");
        assert_eq!(sanitize("web.status.2XX"), "mmstats_web_status_2xx");
        assert_eq!(sanitize("cacheHits"), "mmstats_cache_hits");
        assert_eq!(sanitize("a..b/c-d é"), "mmstats_a_b_c_d");
        assert_eq!(sanitize("9lives"), "mmstats_9lives");
        assert_eq!(sanitize("..."), "mmstats");
    }

    fn stat(label: &str, kind: Kind, value: Value) -> Stat {
        Stat {
            label: label.into(),
            kind,
            value,
            signature: String::new(),
            buffered: false,
            unit: String::new(),
            help: "Some\nhelp \\ here".into(),
        }
    }

    fn file(path: &str, pid: u64, hits: u64, state: &str) -> Snapshot {
        Snapshot {
            path: Some(PathBuf::from(path)),
            version: 1,
            file_size: 4096,
            stats: vec![
                stat("sys.pid", Kind::Static, Value::Unsigned(pid)),
                stat("hits", Kind::Counter, Value::Unsigned(hits)),
                stat("hits_total", Kind::Gauge, Value::Unsigned(1)),
                stat("lat", Kind::Timer, Value::Float(f64::INFINITY)),
                stat("state", Kind::Text, Value::Text(state.into())),
                stat("state.seq", Kind::Sequence, Value::Unsigned(2)),
            ],
            end: EndMarker::ZeroLabelSize,
            fields_end: 0,
            meta: true,
            unsettled: Vec::new(),
            damaged: Vec::new(),
            owner: None,
        }
    }

    #[test]
    fn families_samples_and_escapes() {
        let files = [
            file("/d/web-7-8.mmstats", 7, 5, "a\"b\\c\nd"),
            file("/d/web-7-9.mmstats", 7, 6, "idle"),
        ];
        let text = exposition(&files, 1);
        assert!(text.contains("mmstats_exporter_read_errors 1\n"), "{text}");
        assert!(
            text.contains("# TYPE mmstats_hits_total counter\n"),
            "{text}"
        );
        // One series per process: its two threads summed, no tid.
        assert!(
            text.contains("mmstats_hits_total{cmd=\"web\",pid=\"7\"} 11\n"),
            "{text}"
        );
        assert!(!text.contains("tid="), "{text}");
        assert!(!text.contains("by_cmd"), "{text}");
        assert!(
            text.contains("# mmstats: field hits_total left out"),
            "{text}"
        );
        assert!(
            text.contains(
                "# HELP mmstats_hits_total Some\\nhelp \\\\ here (mmstats field hits, counter)\n"
            ),
            "{text}"
        );
        assert!(text.contains("} +Inf\n"), "{text}");
        // Each distinct text of the process once.
        assert!(
            text.contains(
                "mmstats_state_info{cmd=\"web\",pid=\"7\",value=\"a\\\"b\\\\c\\nd\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("mmstats_state_info{cmd=\"web\",pid=\"7\",value=\"idle\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("state_seq"), "{text}");
        // The threads agree on the static.
        assert!(
            text.contains("mmstats_sys_pid{cmd=\"web\",pid=\"7\"} 7\n"),
            "{text}"
        );
        // Per thread: today's detail.
        let options = Options { per: Per::Thread };
        let text = exposition_with(&files, 0, &options, None);
        for line in [
            "mmstats_hits_total{cmd=\"web\",pid=\"7\",tid=\"8\"} 5\n",
            "mmstats_hits_total{cmd=\"web\",pid=\"7\",tid=\"9\"} 6\n",
            "mmstats_state_info{cmd=\"web\",pid=\"7\",tid=\"9\",value=\"idle\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn kinds_combine_across_threads_by_their_rules() {
        let mut files = [
            file("/d/web-7-8.mmstats", 7, 5, ""),
            file("/d/web-7-9.mmstats", 7, 6, "busy"),
            file("/d/web-8-8.mmstats", 8, 1, ""),
        ];
        let summary = |mean: f64, count: u64, sum: f64, min: f64, max: f64| {
            vec![
                stat("q", Kind::Gauge, Value::Signed(-2)),
                stat("up", Kind::Flag, Value::Bool(false)),
                stat("avg", Kind::Average, Value::Float(mean)),
                stat("size", Kind::Average, Value::Float(mean)),
                stat("size.count", Kind::Counter, Value::Unsigned(count)),
                stat("size.sum", Kind::Counter, Value::Float(sum)),
                stat("size.min", Kind::Minimum, Value::Float(min)),
                stat("size.max", Kind::Maximum, Value::Float(max)),
            ]
        };
        files[0].stats.extend(summary(0.0, 0, 0.0, 0.0, 0.0));
        files[1].stats.extend(summary(3.0, 3, 9.0, 1.0, 5.0));
        files[2].stats.extend(summary(10.0, 1, 10.0, 10.0, 10.0));
        files[1].stats[7] = stat("up", Kind::Flag, Value::Bool(true));
        let text = exposition(&files, 0);
        for line in [
            // Gauges add up, flags are any.
            "mmstats_q{cmd=\"web\",pid=\"7\"} -4\n",
            "mmstats_up{cmd=\"web\",pid=\"7\"} 1\n",
            "mmstats_up{cmd=\"web\",pid=\"8\"} 0\n",
            // A plain average: the mean of the non-zero values.
            "mmstats_avg{cmd=\"web\",pid=\"7\"} 3.0\n",
            // A summary's mean: weighted by its count.
            "mmstats_size{cmd=\"web\",pid=\"7\"} 3.0\n",
            "mmstats_size_count_total{cmd=\"web\",pid=\"7\"} 3\n",
            // Extremes of the threads that recorded something.
            "mmstats_size_min{cmd=\"web\",pid=\"7\"} 1.0\n",
            "mmstats_size_max{cmd=\"web\",pid=\"7\"} 5.0\n",
            // An empty text is left out when another thread has one.
            "mmstats_state_info{cmd=\"web\",pid=\"7\",value=\"busy\"} 1\n",
            "mmstats_state_info{cmd=\"web\",pid=\"8\",value=\"\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(!text.contains("pid=\"7\",value=\"\""), "{text}");
        // Weighted, not the mean of means: (9 + 3 * 0) / 3 with a second
        // thread's summary of 1 value of 7 is 16 / 4.
        files[0].stats.truncate(6);
        files[0].stats.extend(summary(7.0, 1, 7.0, 7.0, 7.0));
        let text = exposition(&files, 0);
        assert!(
            text.contains("mmstats_size{cmd=\"web\",pid=\"7\"} 4.0\n"),
            "{text}"
        );
        // Statics the threads disagree on have no sample.
        assert!(!text.contains("mmstats_sys_tid"), "{text}");
    }

    fn thread(pid: u64, tid: u64, created: f64, hits: u64) -> Snapshot {
        let mut f = file(&format!("/d/web-{pid}-{tid}.mmstats"), pid, hits, "x");
        f.stats
            .push(stat("sys.created", Kind::Static, Value::Float(created)));
        f
    }

    fn hits(text: &str, pid: u64) -> Option<u64> {
        let start = format!("mmstats_hits_total{{cmd=\"web\",pid=\"{pid}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&start))
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn a_process_counter_keeps_the_counts_of_threads_that_ended() {
        let mut tracker = Tracker::new();
        let options = Options::default();
        let mut scrape = |files: &[Snapshot]| {
            let text = exposition_with(files, 0, &options, Some(&mut tracker));
            hits(&text, 7)
        };
        let main = |n| thread(7, 7, 100.0, n);
        assert_eq!(scrape(&[main(10), thread(7, 8, 101.0, 5)]), Some(15));
        // Thread 8 ended: its file is gone, its 5 stay.
        assert_eq!(scrape(&[main(11)]), Some(16));
        // Its id is given again: a new file at the same path, from zero.
        assert_eq!(scrape(&[main(11), thread(7, 8, 102.0, 0)]), Some(16));
        assert_eq!(scrape(&[main(11), thread(7, 8, 102.0, 2)]), Some(18));
        // The same file once more (left out of one scrape): not counted twice.
        assert_eq!(scrape(&[main(12)]), Some(19));
        assert_eq!(scrape(&[main(12), thread(7, 8, 102.0, 3)]), Some(20));
        // A file whose counter went down under the same name and time.
        assert_eq!(scrape(&[main(12), thread(7, 8, 102.0, 1)]), Some(21));
        // Never below the last value, whatever came and went.
        assert_eq!(tracker.processes(), 1);
        assert_eq!(tracker.ended_files(), 2);
        // The process ended: its series stops and its state is dropped.
        let other = thread(9, 9, 200.0, 4);
        let text = exposition_with(
            std::slice::from_ref(&other),
            0,
            &options,
            Some(&mut tracker),
        );
        assert_eq!(hits(&text, 7), None, "{text}");
        assert_eq!(tracker.processes(), 1);
        assert_eq!(tracker.ended_files(), 0);
        // A new process with the same pid counts from its own values.
        let text = exposition_with(
            &[other, thread(7, 7, 300.0, 1)],
            0,
            &options,
            Some(&mut tracker),
        );
        assert_eq!(hits(&text, 7), Some(1), "{text}");
        // Without a tracker: the files present.
        assert_eq!(hits(&exposition(&[main(12)], 0), 7), Some(12));
    }

    #[test]
    fn a_tracker_stays_bounded_however_many_threads_come_and_go() {
        let mut tracker = Tracker::new();
        let options = Options::default();
        let main = thread(7, 7, 100.0, 1);
        let mut last = 0;
        for tid in 8..(8 + 3 * super::series::MAX_GONE_FILES as u64) {
            let files = [main.clone(), thread(7, tid, 100.0 + tid as f64, 2)];
            let text = exposition_with(&files, 0, &options, Some(&mut tracker));
            let n = hits(&text, 7).unwrap();
            assert!(n > last, "{n} after {last}");
            last = n;
        }
        assert_eq!(last, 1 + 2 * 3 * super::series::MAX_GONE_FILES as u64);
        assert!(tracker.ended_files() <= super::series::MAX_GONE_FILES + 1);
    }

    #[test]
    fn the_accept_header_chooses_the_format() {
        // What Prometheus 2.42 sends by default.
        let prometheus = "application/openmetrics-text;version=1.0.0,\
                          application/openmetrics-text;version=0.0.1;q=0.75,\
                          text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        for (accept, format) in [
            (None, Format::Text),
            (Some(""), Format::Text),
            (Some("*/*"), Format::Text),
            (Some("text/plain"), Format::Text),
            (
                Some("APPLICATION/OpenMetrics-Text; version=1.0.0"),
                Format::OpenMetrics,
            ),
            (Some("application/openmetrics-text;q=0"), Format::Text),
            (
                Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
                Format::Text,
            ),
            (
                Some("text/plain;q=0.5, application/openmetrics-text;q=0.9"),
                Format::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text;q=nonsense"),
                Format::OpenMetrics,
            ),
            (Some(";;,,;q=;"), Format::Text),
        ] {
            assert_eq!(Format::negotiate(accept), format, "{accept:?}");
        }
    }

    #[test]
    fn an_openmetrics_histogram_has_one_created_after_its_last_sample() {
        use crate::MmStats;
        #[derive(crate::MmStats)]
        #[mmstats(crate = "crate")]
        struct Web {
            #[mmstats(unit = "seconds")]
            latency: crate::Histogram,
        }
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder()
            .dir(dir.path())
            .file("web-7-7.mmstats")
            .create()
            .unwrap();
        for v in [0.001, 0.5, 2.0] {
            stats.latency.record(v);
        }
        let snapshot = crate::reader::read_path(stats.path().unwrap()).unwrap();
        let open = exposition_in(
            Format::OpenMetrics,
            &[snapshot],
            0,
            &Options::default(),
            None,
        );
        let samples: Vec<&str> = open
            .lines()
            .filter(|l| l.starts_with("mmstats_latency_seconds"))
            .collect();
        let created: Vec<&&str> = samples.iter().filter(|l| l.contains("_created")).collect();
        assert_eq!(created.len(), 1, "{open}");
        assert!(
            created[0].starts_with("mmstats_latency_seconds_created{"),
            "{open}"
        );
        assert!(!created[0].contains("le="), "{open}");
        assert_eq!(samples.last(), Some(created[0]), "{open}");
        assert!(
            samples.iter().filter(|l| l.contains("_bucket{")).count() > 2,
            "{open}"
        );
    }

    #[test]
    fn control_characters_of_a_help_text_become_spaces() {
        assert_eq!(escape_help("a\tb\rc\u{7}d\ne\\"), "a b c d\\ne\\\\");
    }

    #[test]
    fn any_type_stands_for_the_text_format_when_it_is_not_named() {
        for (accept, format) in [
            (
                "application/openmetrics-text;q=0.5, */*;q=0.9",
                Format::Text,
            ),
            (
                "application/openmetrics-text;q=0.9, */*;q=0.5",
                Format::OpenMetrics,
            ),
            // A `text/plain` of its own decides over `*/*`.
            (
                "application/openmetrics-text;q=0.5, */*;q=0.9, text/plain;q=0.1",
                Format::OpenMetrics,
            ),
        ] {
            assert_eq!(Format::negotiate(Some(accept)), format, "{accept}");
        }
    }

    #[test]
    fn each_format_is_rendered_and_named_as_its_own() {
        assert_eq!(
            Format::Text.content_type(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert_eq!(
            Format::OpenMetrics.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        let files = [thread(7, 7, 100.5, 5), thread(7, 8, 99.25, 6)];
        let options = Options::default();
        let (families, skipped) = series::model(&files, 0, &options, None);
        let text = exposition_in(Format::Text, &files, 0, &options, None);
        assert_eq!(text, render(&families, &skipped));
        assert!(
            text.contains("mmstats_hits_total{cmd=\"web\",pid=\"7\"} 11\n"),
            "{text}"
        );
        let open = exposition_in(Format::OpenMetrics, &files, 0, &options, None);
        assert_eq!(open, render_openmetrics(&families));
        assert!(open.ends_with("# EOF\n"), "{open}");
    }

    /// A count has no dimension: the `metrics` crate's `Unit::Count` adds
    /// neither a name suffix nor a `# UNIT`.
    #[test]
    fn a_count_is_no_unit() {
        let mut files = [thread(7, 7, 100.5, 5)];
        let mut jobs = stat("jobs_done", Kind::Counter, Value::Unsigned(3));
        jobs.unit = "count".into();
        files[0].stats.push(jobs);
        let (families, _) = series::model(&files, 0, &Options::default(), None);
        let text = render(&families, &[]);
        assert!(
            text.contains("mmstats_jobs_done_total{cmd=\"web\",pid=\"7\"} 3\n"),
            "{text}"
        );
        let open = render_openmetrics(&families);
        assert!(!open.contains("# UNIT mmstats_jobs_done"), "{open}");
        assert!(!open.contains("jobs_done_count"), "{open}");
    }

    #[test]
    fn openmetrics_has_units_created_info_and_eof() {
        let mut files = [thread(7, 7, 100.5, 5), thread(7, 8, 99.25, 6)];
        for f in &mut files {
            let mut lat = stat("lat", Kind::Timer, Value::Float(0.5));
            lat.unit = "seconds".into();
            f.stats[3] = lat;
            let mut bytes = stat("sent", Kind::Counter, Value::Unsigned(3));
            bytes.unit = "bytes".into();
            f.stats.push(bytes);
        }
        let (families, _) = series::model(&files, 0, &Options::default(), None);
        let text = render_openmetrics(&families);
        for line in [
            "# TYPE mmstats_hits counter\n",
            "mmstats_hits_total{cmd=\"web\",pid=\"7\"} 11\n",
            // The earliest creation time of the process's files.
            "mmstats_hits_created{cmd=\"web\",pid=\"7\"} 99.25\n",
            "# TYPE mmstats_lat_seconds gauge\n# UNIT mmstats_lat_seconds seconds\n",
            "mmstats_lat_seconds{cmd=\"web\",pid=\"7\"} 0.5\n",
            "# TYPE mmstats_sent_bytes counter\n# UNIT mmstats_sent_bytes bytes\n",
            "mmstats_sent_bytes_total{cmd=\"web\",pid=\"7\"} 6\n",
            "# TYPE mmstats_state info\n",
            "mmstats_state_info{cmd=\"web\",pid=\"7\",value=\"x\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(text.ends_with("\n# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
        // No comment but the metadata and EOF, every HELP with no bare quote.
        for line in text.lines().filter(|l| l.starts_with('#')) {
            assert!(
                ["# TYPE ", "# UNIT ", "# HELP "]
                    .iter()
                    .any(|p| line.starts_with(p))
                    || line == "# EOF",
                "{line}"
            );
        }
        // The text format has the same series, with the unit in the names.
        let plain = render(&families, &[]);
        assert!(
            plain.contains("mmstats_lat_seconds{cmd=\"web\",pid=\"7\"} 0.5\n"),
            "{plain}"
        );
        assert!(
            plain.contains("# TYPE mmstats_sent_bytes_total counter\n"),
            "{plain}"
        );
        assert!(
            !plain.contains("_created") && !plain.contains("# EOF"),
            "{plain}"
        );
    }

    #[test]
    fn a_labelled_family_is_one_prometheus_family_with_the_member_labels() {
        let mut files = [
            file("/d/web-7-8.mmstats", 7, 5, "idle"),
            file("/d/web-7-9.mmstats", 7, 6, "idle"),
        ];
        for (f, n) in files.iter_mut().zip([1, 10]) {
            f.stats.extend([
                stat(
                    r#"web.requests{method="get",status="2xx"}"#,
                    Kind::Counter,
                    Value::Unsigned(n),
                ),
                stat(
                    r#"web.requests{method="post",status="5xx"}"#,
                    Kind::Counter,
                    Value::Unsigned(2 * n),
                ),
                stat(
                    r#"web.latency{method="say \"hi\""}.count"#,
                    Kind::Counter,
                    Value::Unsigned(3),
                ),
                // Not a label set: an ordinary field under its whole label.
                stat("odd{", Kind::Gauge, Value::Unsigned(4)),
                // A label name the exporter uses itself.
                stat(r#"web.bad{pid="1"}"#, Kind::Gauge, Value::Unsigned(5)),
            ]);
        }
        let text = exposition(&files, 0);
        assert_eq!(
            text.matches("# TYPE mmstats_web_requests_total counter\n")
                .count(),
            1,
            "{text}"
        );
        for line in [
            "mmstats_web_requests_total{cmd=\"web\",pid=\"7\",method=\"get\",status=\"2xx\"} 11\n",
            "mmstats_web_requests_total{cmd=\"web\",pid=\"7\",method=\"post\",status=\"5xx\"} 22\n",
            "mmstats_web_latency_count_total{cmd=\"web\",pid=\"7\",method=\"say \\\"hi\\\"\"} 6\n",
            "mmstats_odd{cmd=\"web\",pid=\"7\"} 8\n",
            "mmstats_web_bad_pid_1{cmd=\"web\",pid=\"7\"} 10\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(
            text.contains("(mmstats field web.requests, counter)"),
            "{text}"
        );
    }

    #[test]
    fn files_of_several_owners_get_an_owner_label_and_series_of_their_own() {
        let mut files = [
            file("/d/webserver-7-8.mmstats", 7, 5, "idle"),
            file("/d/webserver-7-9.mmstats", 7, 1_000_000_000_000_000, "x"),
        ];
        files[0].owner = Some(0);
        files[1].owner = Some(65534);
        let text = exposition(&files, 0);
        assert!(
            text.contains("mmstats_hits_total{cmd=\"webserver\",owner=\"0\",pid=\"7\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "mmstats_hits_total{cmd=\"webserver\",owner=\"65534\",pid=\"7\"} 1000000000000000\n"
            ),
            "{text}"
        );
        assert!(!text.contains("} 1000000000000005"), "{text}");
        // One owner: no owner label, as before.
        files[1].owner = Some(0);
        let one = exposition(&files[..1], 0);
        assert!(!one.contains("owner="), "{one}");
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_histograms_le_counts_are_exact_and_cumulative() {
        use crate::MmStats;
        #[derive(crate::MmStats)]
        #[mmstats(crate = "crate", defaults = false)]
        struct Web {
            #[mmstats(unit = "seconds")]
            latency: crate::Histogram,
        }
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder()
            .dir(dir.path())
            .file("web-7-7.mmstats")
            .create()
            .unwrap();
        let mut values = Vec::new();
        let mut x = 1e-9f64;
        while x < 1e5 {
            values.push(x);
            x *= 1.37;
        }
        // Values exactly on le bounds, and a NaN that counts nowhere.
        values.extend([2f64.powf(-2.5), 2f64.powf(-2.25), 1.0, 0.0]);
        for &v in &values {
            stats.latency.record(v);
        }
        stats.latency.record(f64::NAN);
        let snapshot = crate::reader::read_path(stats.path().unwrap()).unwrap();
        let text = exposition(&[snapshot], 0);
        assert!(
            text.contains("# TYPE mmstats_latency_seconds histogram"),
            "{text}"
        );
        let mut last = 0;
        let mut lines = 0;
        for line in text
            .lines()
            .filter(|l| l.starts_with("mmstats_latency_seconds_bucket{"))
        {
            let le = line
                .split("le=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let n: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            let exact = values.iter().filter(|&&v| v <= le).count();
            assert_eq!(n, exact, "{line}");
            assert!(n >= last);
            last = n;
            lines += 1;
        }
        // Every bound 2^(k/4) from 2^-30 to 2^17, and +Inf.
        assert_eq!(lines, 47 * 4 + 1 + 1);
        assert!(
            text.contains(&format!(
                "mmstats_latency_seconds_count{{cmd=\"web\",pid=\"7\"}} {}",
                values.len()
            )),
            "{text}"
        );
        assert!(!text.contains("latency_buckets") && !text.contains("latency_invalid"));
    }
}
