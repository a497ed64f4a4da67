//! The Prometheus text exposition format (version 0.0.4) of a set of files.
//!
//! Naming, for a field labelled `web.requests`:
//!
//! * the name is `mmstats_` followed by the label, with every run of
//!   characters other than ASCII letters and digits turned into one `_`,
//!   an `_` put between a lower-case letter and an upper-case one, and
//!   everything in lower case: `web.status.2XX` is `mmstats_web_status_2xx`,
//!   `cacheHits` is `mmstats_cache_hits`. The prefix keeps names from
//!   starting with a digit and groups them in Prometheus;
//! * counters get `_total`, texts `_info`;
//! * per-command aggregates are a family of their own, with `_by_cmd`
//!   before those suffixes: `mmstats_web_requests_by_cmd_total{cmd="web"}`.
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
//! samples carry the member's labels after the file's:
//! `mmstats_web_requests_total{cmd="web",pid="7",tid="8",method="get"}`; a
//! summary's parts in a family are families of their own as without one
//! (`web.latency{method="get"}.count` is in `mmstats_web_latency_count`). A
//! label set that does not parse, or that names `cmd`, `owner`, `pid`,
//! `tid` or `value`, leaves the field an ordinary one under its whole label.
//!
//! Every file gives one sample per family, with the labels `cmd` (from the
//! file name), `pid` and `tid` (the file's `sys.pid` and `sys.tid` fields,
//! else the numbers in its name, else empty); the `_by_cmd` family has one
//! sample per command, combined by the rules of `crate::aggregate` (a
//! value the files disagree on, such as a static, has no such sample).
//!
//! When the files are of several owners ([`Snapshot::owner`]; a
//! [`Collector`](crate::collect::Collector) reads other users' files only
//! when asked), every sample also has the label `owner`, the owner's user
//! id, and the `_by_cmd` family has one sample per owner and command: the
//! files of one user never add up with another's, whatever they are
//! named. With files of one owner only, there is no `owner` label.
//!
//! A label whose name is already taken by another label (`a.b` and `a_b`
//! both make `mmstats_a_b`) is left out, with a comment saying so, and so is
//! a second file with the same `cmd`, `pid` and `tid`: the exposition is
//! always valid. `mmstats_exporter_files` and
//! `mmstats_exporter_read_errors` count the files read and those that
//! could not be.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::aggregate::{self, Combined, Rules};
use crate::format::{Export, Kind};
use crate::reader::{Histogram, Snapshot, Value};

/// What a family's samples are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Counter,
    Gauge,
    Info,
    Histogram,
}

/// One field's two families: per file and per command.
struct Family {
    label: String,
    mode: Mode,
    kind: Kind,
    help: String,
    unit: String,
    name: String,
    by_cmd: String,
    samples: Vec<String>,
    by_cmd_samples: Vec<String>,
    /// The label sets already given a sample: the file's and the member's.
    seen: HashSet<[String; 5]>,
}

/// The exposition of `snapshots`, `errors` being how many files could not
/// be read.
pub fn exposition(snapshots: &[Snapshot], errors: usize) -> String {
    let rules = Rules::default();
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = String::new();
    for (name, help, value) in [
        (
            "mmstats_exporter_files",
            "Stats files read.",
            snapshots.len(),
        ),
        (
            "mmstats_exporter_read_errors",
            "Stats files that could not be read.",
            errors,
        ),
    ] {
        taken.insert(name.to_string());
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    }
    let owners: BTreeSet<Option<u32>> = snapshots.iter().map(|s| s.owner).collect();
    let by_owner = owners.len() > 1;
    let owner_of = |owner: Option<u32>| owner.map(|o| o.to_string()).unwrap_or_default();
    let mut families: Vec<Family> = Vec::new();
    // A field's label -> its family and the member's labels (empty for a
    // field that is not a member of one).
    let mut by_label: HashMap<String, Option<(usize, String)>> = HashMap::new();
    // A family's label -> its index in `families`.
    let mut by_family: HashMap<String, usize> = HashMap::new();
    let mut skipped: BTreeSet<(String, String)> = BTreeSet::new();
    for snapshot in snapshots {
        for stat in &snapshot.stats {
            if by_label.contains_key(&stat.label) {
                continue;
            }
            let (family_label, member) = member_of(&stat.label);
            let kind = rules.resolve(stat.kind, &stat.value);
            let mode = match (&stat.value, kind.meaning().export) {
                // Bookkeeping for readers (a sequence), not a statistic.
                (_, Export::Hidden) => {
                    by_label.insert(stat.label.clone(), None);
                    continue;
                }
                (_, Export::Histogram) => Mode::Histogram,
                (Value::Text(_), _) | (_, Export::Info) => Mode::Info,
                (_, Export::Counter) => Mode::Counter,
                (_, Export::Gauge) => Mode::Gauge,
            };
            if let Some(&index) = by_family.get(&family_label) {
                // Another member of a family already made.
                match families.get(index) {
                    Some(family) if family.mode == mode => {
                        by_label.insert(stat.label.clone(), Some((index, member)));
                    }
                    _ => {
                        let name = families.get(index).map(|f| f.name.clone());
                        skipped.insert((stat.label.clone(), name.unwrap_or_default()));
                        by_label.insert(stat.label.clone(), None);
                    }
                }
                continue;
            }
            let base = sanitize(&family_label);
            let (name, by_cmd) = match mode {
                Mode::Counter => (
                    format!("{}_total", base.trim_end_matches("_total")),
                    format!("{}_by_cmd_total", base.trim_end_matches("_total")),
                ),
                Mode::Info => (format!("{base}_info"), format!("{base}_by_cmd_info")),
                Mode::Gauge | Mode::Histogram => (base.clone(), format!("{base}_by_cmd")),
            };
            // A histogram's samples are named with these suffixes.
            let names: Vec<String> = if mode == Mode::Histogram {
                [&name, &by_cmd]
                    .iter()
                    .flat_map(|n| {
                        ["", "_bucket", "_sum", "_count"].map(|suffix| format!("{n}{suffix}"))
                    })
                    .collect()
            } else {
                vec![name.clone(), by_cmd.clone()]
            };
            if let Some(owner) = names.iter().find(|n| taken.contains(*n)) {
                skipped.insert((stat.label.clone(), owner.clone()));
                by_label.insert(stat.label.clone(), None);
                continue;
            }
            taken.extend(names);
            by_label.insert(stat.label.clone(), Some((families.len(), member)));
            by_family.insert(family_label.clone(), families.len());
            families.push(Family {
                label: family_label,
                mode,
                kind,
                help: stat.help.clone(),
                unit: stat.unit.clone(),
                name,
                by_cmd,
                samples: Vec::new(),
                by_cmd_samples: Vec::new(),
                seen: HashSet::new(),
            });
        }
    }
    for snapshot in snapshots {
        let [cmd, pid, tid] = identity(snapshot);
        let owner = owner_of(snapshot.owner);
        let labels = if by_owner {
            format!(
                "cmd=\"{}\",owner=\"{owner}\",pid=\"{pid}\",tid=\"{tid}\"",
                escape_label(&cmd),
            )
        } else {
            format!("cmd=\"{}\",pid=\"{pid}\",tid=\"{tid}\"", escape_label(&cmd))
        };
        for stat in &snapshot.stats {
            let Some(Some((index, member))) = by_label.get(&stat.label) else {
                continue;
            };
            let Some(family) = families.get_mut(*index) else {
                continue;
            };
            let ids = [
                cmd.clone(),
                owner.clone(),
                pid.clone(),
                tid.clone(),
                member.clone(),
            ];
            if !family.seen.insert(ids) {
                continue;
            }
            let labels = with_member(&labels, member);
            if family.mode == Mode::Histogram {
                if let Some(Ok(h)) = Histogram::read(snapshot, &stat.label) {
                    histogram_samples(&family.name, &labels, &h, &mut family.samples);
                }
                continue;
            }
            if let Some(line) = sample(&family.name, family.mode, &labels, &stat.value) {
                family.samples.push(line);
            }
        }
    }
    for group in aggregate::by_owner_and_command(snapshots) {
        let (owner, cmd) = &group.key;
        let labels = if by_owner {
            format!(
                "cmd=\"{}\",owner=\"{}\"",
                escape_label(cmd),
                owner_of(*owner)
            )
        } else {
            format!("cmd=\"{}\"", escape_label(cmd))
        };
        for combined in group.combine() {
            let Some(Some((index, member))) = by_label.get(&combined.label) else {
                continue;
            };
            let labels = with_member(&labels, member);
            let Some(family) = families.get_mut(*index) else {
                continue;
            };
            let values = match &combined.combined {
                Combined::Histogram(h) => {
                    histogram_samples(&family.by_cmd, &labels, h, &mut family.by_cmd_samples);
                    continue;
                }
                Combined::Value(v) => vec![v.clone()],
                Combined::Distinct(values) if family.mode == Mode::Info => values.clone(),
                Combined::Distinct(_) => Vec::new(),
            };
            for value in &values {
                if let Some(line) = sample(&family.by_cmd, family.mode, &labels, value) {
                    family.by_cmd_samples.push(line);
                }
            }
        }
    }
    for (label, owner) in &skipped {
        let _ = writeln!(
            out,
            "# mmstats: field {} left out: {owner} is taken",
            comment(label)
        );
    }
    for family in &families {
        let help = describe(family);
        let kind = match family.mode {
            Mode::Counter => "counter",
            Mode::Histogram => "histogram",
            Mode::Gauge | Mode::Info => "gauge",
        };
        for (name, samples, what) in [
            (&family.name, &family.samples, ""),
            (&family.by_cmd, &family.by_cmd_samples, ", per command"),
        ] {
            if samples.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {help}{what}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for line in samples {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The family a field's label belongs to, and the member's labels as
/// sample labels (`method="get",status="2xx"`), empty for a field that is
/// not a member (see [`crate::labels`]). A label set that does not parse,
/// or that uses a label name the exporter puts beside it, leaves the field
/// an ordinary one under its whole label.
fn member_of(label: &str) -> (String, String) {
    const TAKEN: [&str; 5] = ["cmd", "owner", "pid", "tid", "value"];
    match crate::labels::split(label) {
        Ok(Some(member))
            if member
                .labels
                .iter()
                .all(|(k, _)| !TAKEN.contains(&k.as_str())) =>
        {
            let pairs: Vec<String> = member
                .labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
                .collect();
            (member.family, pairs.join(","))
        }
        _ => (label.to_string(), String::new()),
    }
}

/// A sample's labels, the member's after the file's.
fn with_member(labels: &str, member: &str) -> String {
    if member.is_empty() {
        labels.to_string()
    } else {
        format!("{labels},{member}")
    }
}

/// The metric name of a label (see the module docs), without suffix.
fn sanitize(label: &str) -> String {
    let mut name = String::from("mmstats_");
    let mut lower_before = false;
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && lower_before {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
            lower_before = c.is_ascii_lowercase();
        } else {
            if !name.ends_with('_') {
                name.push('_');
            }
            lower_before = false;
        }
    }
    let trimmed = name.trim_end_matches('_').len();
    name.truncate(trimmed);
    name
}

/// `cmd`, `pid` and `tid` of a file: from its `sys.cmd`, `sys.pid` and
/// `sys.tid` fields, else from its name (see the module docs).
fn identity(snapshot: &Snapshot) -> [String; 3] {
    let path = snapshot.path.as_deref().unwrap_or(Path::new(""));
    let cmd = snapshot.command();
    let named = aggregate::command_of(path);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let numbers: Vec<&str> = stem
        .strip_prefix(named.as_str())
        .unwrap_or("")
        .split('-')
        .filter(|n| !n.is_empty())
        .collect();
    let field = |suffix: &str| {
        snapshot
            .stats
            .iter()
            .find(|s| s.label.ends_with(suffix))
            .and_then(|s| match s.value {
                Value::Unsigned(n) => Some(n.to_string()),
                Value::Signed(n) => Some(n.to_string()),
                _ => None,
            })
    };
    let pid = field("sys.pid")
        .or_else(|| numbers.first().map(|n| n.to_string()))
        .unwrap_or_default();
    let tid = field("sys.tid")
        .or_else(|| numbers.get(1).map(|n| n.to_string()))
        .unwrap_or_default();
    [cmd, pid, tid]
}

/// One sample line, or none for a value the family cannot hold.
fn sample(name: &str, mode: Mode, labels: &str, value: &Value) -> Option<String> {
    match mode {
        Mode::Info => {
            let text = value.to_string();
            Some(format!(
                "{name}{{{labels},value=\"{}\"}} 1",
                escape_label(&text)
            ))
        }
        Mode::Counter | Mode::Gauge => Some(format!("{name}{{{labels}}} {}", number(value)?)),
        Mode::Histogram => None,
    }
}

/// How many of a histogram's buckets make one `le` bucket: `le` is every
/// bound `2^(k/4)` (a factor 1.19, at schema 2 and above; every bound at
/// schemas 0 and 1), so that each `le` count is exact.
pub fn le_step(schema: u8) -> i64 {
    1i64 << schema.saturating_sub(2)
}

/// The samples of one histogram: cumulative `_bucket{le=...}` at every
/// [`le_step`]-th bound from the lowest (the zero bucket's top) to the
/// highest, then `+Inf`, `_sum` and `_count`. The count is the buckets'
/// total, so that it equals the `+Inf` bucket (see
/// [`Histogram::wrapped`]).
fn histogram_samples(name: &str, labels: &str, h: &Histogram, out: &mut Vec<String>) {
    let step = le_step(h.schema);
    let mut cumulative = h.zero;
    let le = |bound: f64| format!("{bound:?}");
    out.push(format!(
        "{name}_bucket{{{labels},le=\"{}\"}} {cumulative}",
        le(h.bound(-1))
    ));
    for (i, &c) in h.buckets.iter().enumerate() {
        cumulative = cumulative.saturating_add(c);
        let index = h.first.saturating_add(i as i64);
        if index.rem_euclid(step) == 0 {
            out.push(format!(
                "{name}_bucket{{{labels},le=\"{}\"}} {cumulative}",
                le(h.bound(i as i64))
            ));
        }
    }
    let total = h.total();
    out.push(format!("{name}_bucket{{{labels},le=\"+Inf\"}} {total}"));
    out.push(format!(
        "{name}_sum{{{labels}}} {}",
        number(&Value::Float(h.sum)).unwrap_or_default()
    ));
    out.push(format!("{name}_count{{{labels}}} {total}"));
}

/// A value in the format's number syntax.
fn number(value: &Value) -> Option<String> {
    Some(match value {
        Value::Unsigned(n) => n.to_string(),
        Value::Signed(n) => n.to_string(),
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Float(x) if x.is_nan() => "NaN".into(),
        Value::Float(x) if x.is_infinite() => if *x > 0.0 { "+Inf" } else { "-Inf" }.into(),
        Value::Float(x) => format!("{x:?}"),
        Value::Text(_) | Value::Counts(_) => return None,
    })
}

/// The HELP text of a family: the field's help, its label, kind and unit.
fn describe(family: &Family) -> String {
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
    use super::*;
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
        assert!(
            text.contains("mmstats_hits_total{cmd=\"web\",pid=\"7\",tid=\"8\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("mmstats_hits_by_cmd_total{cmd=\"web\"} 11\n"),
            "{text}"
        );
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
        assert!(
            text.contains(
                "mmstats_state_info{cmd=\"web\",pid=\"7\",tid=\"8\",value=\"a\\\"b\\\\c\\nd\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("mmstats_state_by_cmd_info{cmd=\"web\",value=\"idle\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("state_seq"), "{text}");
        // The pids agree, so the static has a per-command value.
        assert!(
            text.contains("mmstats_sys_pid_by_cmd{cmd=\"web\"} 7\n"),
            "{text}"
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
            "mmstats_web_requests_total{cmd=\"web\",pid=\"7\",tid=\"8\",method=\"get\",status=\"2xx\"} 1\n",
            "mmstats_web_requests_total{cmd=\"web\",pid=\"7\",tid=\"9\",method=\"post\",status=\"5xx\"} 20\n",
            "mmstats_web_requests_by_cmd_total{cmd=\"web\",method=\"get\",status=\"2xx\"} 11\n",
            "mmstats_web_requests_by_cmd_total{cmd=\"web\",method=\"post\",status=\"5xx\"} 22\n",
            "mmstats_web_latency_count_total{cmd=\"web\",pid=\"7\",tid=\"8\",method=\"say \\\"hi\\\"\"} 3\n",
            "mmstats_odd{cmd=\"web\",pid=\"7\",tid=\"8\"} 4\n",
            "mmstats_web_bad_pid_1{cmd=\"web\",pid=\"7\",tid=\"8\"} 5\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(
            text.contains("(mmstats field web.requests, counter)"),
            "{text}"
        );
    }

    #[test]
    fn files_of_several_owners_get_an_owner_label_and_totals_of_their_own() {
        let mut files = [
            file("/d/webserver-7-8.mmstats", 7, 5, "idle"),
            file(
                "/d/webserver-4000000-4000000.mmstats",
                4_000_000,
                1_000_000_000_000_000,
                "x",
            ),
        ];
        files[0].owner = Some(0);
        files[1].owner = Some(65534);
        let text = exposition(&files, 0);
        assert!(
            text.contains("mmstats_hits_by_cmd_total{cmd=\"webserver\",owner=\"0\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "mmstats_hits_by_cmd_total{cmd=\"webserver\",owner=\"65534\"} 1000000000000000\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "mmstats_hits_total{cmd=\"webserver\",owner=\"0\",pid=\"7\",tid=\"8\"} 5\n"
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
        assert!(text.contains("# TYPE mmstats_latency histogram"), "{text}");
        let mut last = 0;
        let mut lines = 0;
        for line in text
            .lines()
            .filter(|l| l.starts_with("mmstats_latency_bucket{"))
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
                "mmstats_latency_count{{cmd=\"web\",pid=\"7\",tid=\"7\"}} {}",
                values.len()
            )),
            "{text}"
        );
        assert!(!text.contains("latency_buckets") && !text.contains("latency_invalid"));
    }
}
