//! The series model: what a set of files comes to as metric families and
//! samples, before any text is written. Every exporter renders this model
//! ([`crate::export::prometheus`] as the Prometheus text format or
//! OpenMetrics, a remote-write client as protobuf), so that they all give
//! exactly the same series.
//!
//! # One series per process
//!
//! By default ([`Per::Process`]) the files of one process (its threads)
//! make one sample per family, labelled `cmd`, `pid` and, when the files
//! are of several owners, `owner` (a member of a labelled family adds its
//! own labels after those). The threads' values combine by the rules of
//! their kind, the kinds' table ([`Kind::meaning`]):
//!
//! | kind | a process's value |
//! | --- | --- |
//! | counter | the sum of its threads, *plus the last counts of its threads that ended* (see below) |
//! | gauge | the sum of its threads |
//! | average, timer | the mean of the threads' non-zero values; a summary's mean is weighted: its `.sum` over its `.count`, both counters as above |
//! | flag | up if any thread's is |
//! | minimum, maximum | the least, the greatest, of the threads that recorded something |
//! | text | each distinct non-empty text once (one sample each, `value` label), empty ones left out unless all are |
//! | static | the one value the threads agree on, else no sample (`sys.tid`) |
//! | histogram | the threads' histograms merged bucket by bucket, plus those of its threads that ended |
//!
//! With [`Per::Thread`] every file is a series of its own, labelled `cmd`,
//! `pid` and `tid`, with the file's values as they are.
//!
//! # Counters never go down while a process lives
//!
//! A thread that ends removes its file, and a thread id the system gives
//! again starts a new file at zero: summed afresh, a process's counter
//! would step back, which Prometheus takes for a restart of the process.
//! A [`Tracker`], kept from one collection to the next by a long-running
//! exporter (`mmstats serve`, `mmstats push`), remembers each file's last
//! counts (counters and histograms) and, when the file goes away or is
//! replaced (another creation time `sys.created`, or a counter that went
//! down), keeps them in its process's totals. It forgets a process when
//! none of the files it saw last time is there any more (the process
//! ended; a new process with the same pid starts from its own counts);
//! its state is bounded: the processes of the last collection only, and
//! per process at most [`MAX_GONE_FILES`] ended files kept apart (older
//! ones are folded into one total) and [`MAX_KEPT_LABELS`] labels.
//! Without a tracker ([`model`] with `None`), the totals are of the files
//! present.
//!
//! Command-wide totals are not series of their own: a process that ends
//! would make them step back. Prometheus adds processes up itself:
//! `sum by (cmd) (rate(mmstats_web_requests_total[5m]))`.

// Runs on whatever files users give: nothing here may panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::aggregate::{self, Combined, Rules};
use crate::format::{Export, Kind};
use crate::reader::{Histogram, Snapshot, Value};

/// What one series stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Per {
    /// One series per process, its threads combined (the default).
    #[default]
    Process,
    /// One series per file (thread), labelled `tid` too.
    Thread,
}

impl Per {
    /// `process` or `thread`.
    pub fn parse(text: &str) -> Option<Per> {
        match text {
            "process" => Some(Per::Process),
            "thread" => Some(Per::Thread),
            _ => None,
        }
    }
}

/// How the model is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// What one series stands for.
    pub per: Per,
}

/// The type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// Samples `NAME_total`.
    Counter,
    /// Samples `NAME`.
    Gauge,
    /// A text: samples `NAME_info` of value 1, the text in the label
    /// `value` (a `gauge` in the Prometheus text format, an `info` in
    /// OpenMetrics).
    Info,
    /// Samples `NAME_bucket{le=...}` (cumulative), `NAME_sum`, `NAME_count`.
    Histogram,
}

/// One metric family: a field (or a labelled family of fields) of the files.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// The family's name, without the suffix its type gives the samples
    /// (`mmstats_web_requests` for samples `mmstats_web_requests_total`).
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// The field's label (the family's, for members of a labelled family).
    pub label: String,
    /// The field's kind.
    pub kind: Kind,
    /// The field's help text, as the file gives it.
    pub help: String,
    /// The field's unit, as the file gives it (may be empty).
    pub unit: String,
    /// The unit as a name ends with it (`seconds`, `bytes`; empty for a
    /// field without one): what OpenMetrics' `# UNIT` says.
    pub metric_unit: String,
    /// The samples.
    pub samples: Vec<Sample>,
    /// A histogram family's histograms, one per series, with the labels of
    /// the series (those of its samples but `le`), in the order of the
    /// samples: what the protobuf exposition sends as native histograms.
    /// Empty for other families.
    pub histograms: Vec<(Vec<(String, String)>, Histogram)>,
}

/// One sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// What follows the family's name: `_total`, `_info`, `_bucket`,
    /// `_sum`, `_count`, or nothing.
    pub suffix: &'static str,
    /// The labels, values unescaped, in order: `cmd`, `owner` (files of
    /// several owners), `pid`, `tid` ([`Per::Thread`]), the member's, `le`.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: Value,
    /// When the series started counting, in Unix seconds: the earliest
    /// creation time (`sys.created`) of the files it is made of, for the
    /// samples of counters and histograms.
    pub created: Option<f64>,
}

impl Sample {
    /// The sample's full name in `family`.
    pub fn name(&self, family: &Family) -> String {
        format!("{}{}", family.name, self.suffix)
    }
}

/// The names of `family`'s samples once rendered, to keep names unique.
fn sample_names(name: &str, ty: Type) -> Vec<String> {
    let suffixes: &[&str] = match ty {
        // The family's own name too: OpenMetrics names families by it.
        Type::Counter => &["", "_total", "_created"],
        Type::Gauge => &[""],
        Type::Info => &["", "_info"],
        Type::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
    };
    suffixes.iter().map(|s| format!("{name}{s}")).collect()
}

/// Most files of one process that ended which a [`Tracker`] keeps apart
/// (so that one that comes back is not counted twice); older ones are
/// folded into one total.
pub const MAX_GONE_FILES: usize = 256;

/// Most labels whose counts a [`Tracker`] keeps for one process's ended
/// files; the counts of further labels are not kept.
pub const MAX_KEPT_LABELS: usize = 4096;

/// A file as the tracker tells them apart: its path and creation time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FileKey {
    path: Option<PathBuf>,
    created: Option<u64>,
}

impl FileKey {
    fn of(snapshot: &Snapshot) -> FileKey {
        FileKey {
            path: snapshot.path.clone(),
            created: created_of(snapshot).map(f64::to_bits),
        }
    }
}

/// A file's counts: its counters and histograms by label.
#[derive(Clone, Debug, Default)]
struct Counts {
    counters: HashMap<String, Value>,
    histograms: HashMap<String, Histogram>,
}

impl Counts {
    fn of(snapshot: &Snapshot, rules: &Rules) -> Counts {
        let mut counts = Counts::default();
        for stat in &snapshot.stats {
            match rules.resolve(stat.kind, &stat.value).meaning().export {
                Export::Counter if stat.value.as_f64().is_some() => {
                    counts
                        .counters
                        .insert(stat.label.clone(), stat.value.clone());
                }
                Export::Histogram => {
                    if let Some(Ok(h)) = Histogram::read(snapshot, &stat.label) {
                        counts.histograms.insert(stat.label.clone(), h);
                    }
                }
                _ => {}
            }
        }
        counts
    }

    /// Whether a counter of `now` is below the same counter here: not the
    /// same writer any more.
    fn went_down(&self, now: &Counts) -> bool {
        now.counters.iter().any(|(label, value)| {
            let before = self.counters.get(label).and_then(Value::as_f64);
            matches!((before, value.as_f64()), (Some(b), Some(n)) if n < b)
        }) || now.histograms.iter().any(|(label, h)| {
            self.histograms
                .get(label)
                .is_some_and(|before| h.count < before.count)
        })
    }

    /// Adds `other` in, keeping at most [`MAX_KEPT_LABELS`] labels.
    fn add(&mut self, other: &Counts) {
        for (label, value) in &other.counters {
            let room = self.len() < MAX_KEPT_LABELS;
            match self.counters.get_mut(label) {
                Some(total) => *total = add_values(total, value),
                None if room => {
                    self.counters.insert(label.clone(), value.clone());
                }
                None => {}
            }
        }
        for (label, h) in &other.histograms {
            let room = self.len() < MAX_KEPT_LABELS;
            match self.histograms.get_mut(label) {
                // Other buckets (another model under the label): not kept.
                Some(total) => {
                    let _ = total.merge(h);
                }
                None if room => {
                    self.histograms.insert(label.clone(), h.clone());
                }
                None => {}
            }
        }
    }

    fn len(&self) -> usize {
        self.counters.len().saturating_add(self.histograms.len())
    }
}

fn add_values(a: &Value, b: &Value) -> Value {
    match aggregate::combine_values(Kind::Counter, &[a, b]) {
        Combined::Value(v) => v,
        _ => a.clone(),
    }
}

/// What the tracker knows of one process.
#[derive(Debug, Default)]
struct Process {
    /// Its files present at the last collection, with their counts.
    live: HashMap<FileKey, Counts>,
    /// Its files that went away, with their last counts.
    gone: HashMap<FileKey, Counts>,
    /// The counts of ended files no longer kept apart.
    folded: Counts,
    /// The earliest creation time of its files.
    created: Option<f64>,
}

impl Process {
    /// The counts of its files that are not live.
    fn ended(&self) -> Counts {
        let mut total = self.folded.clone();
        for counts in self.gone.values() {
            total.add(counts);
        }
        total
    }
}

/// A process as series tell them apart: owner, command, pid.
type ProcessKey = (Option<u32>, String, String);

/// The counts of ended threads, kept from one collection to the next so
/// that a process's counters never go down while it lives (see the
/// [module docs](self)).
#[derive(Debug, Default)]
pub struct Tracker {
    processes: HashMap<ProcessKey, Process>,
}

impl Tracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// How many processes it keeps counts for.
    pub fn processes(&self) -> usize {
        self.processes.len()
    }

    /// How many ended files it keeps the counts of, over all processes.
    pub fn ended_files(&self) -> usize {
        self.processes
            .values()
            .map(|p| p.gone.len().saturating_add(usize::from(p.folded.len() > 0)))
            .fold(0, usize::saturating_add)
    }

    /// Takes in the files of one collection, grouped by process; returns,
    /// per process, the counts of its ended files and its creation time.
    fn update(
        &mut self,
        groups: &BTreeMap<ProcessKey, Vec<&Snapshot>>,
        rules: &Rules,
    ) -> HashMap<ProcessKey, (Counts, Option<f64>)> {
        let mut out = HashMap::new();
        let mut processes = HashMap::new();
        for (key, files) in groups {
            let now: Vec<(FileKey, Counts)> = files
                .iter()
                .map(|s| (FileKey::of(s), Counts::of(s, rules)))
                .collect();
            let mut process = self.processes.remove(key).unwrap_or_default();
            // The same process only if one of the files it had is still here.
            if !process.live.is_empty() && !now.iter().any(|(k, _)| process.live.contains_key(k)) {
                process = Process::default();
            }
            let present: HashSet<&FileKey> = now.iter().map(|(k, _)| k).collect();
            // Files that came back are live again, not ended.
            process.gone.retain(|k, _| !present.contains(k));
            for (file, counts) in std::mem::take(&mut process.live) {
                if !present.contains(&file) {
                    process.gone.insert(file, counts);
                } else if let Some((_, current)) = now.iter().find(|(k, _)| *k == file) {
                    if counts.went_down(current) {
                        // The same name and time, but counting afresh.
                        process.folded.add(&counts);
                    }
                }
            }
            while process.gone.len() > MAX_GONE_FILES {
                let Some(k) = process.gone.keys().next().cloned() else {
                    break;
                };
                if let Some(counts) = process.gone.remove(&k) {
                    process.folded.add(&counts);
                }
            }
            for s in files {
                if let Some(c) = created_of(s) {
                    process.created = Some(process.created.map_or(c, |p| p.min(c)));
                }
            }
            process.live = now.into_iter().collect();
            out.insert(key.clone(), (process.ended(), process.created));
            processes.insert(key.clone(), process);
        }
        // Processes with no file left are forgotten.
        self.processes = processes;
        out
    }
}

/// The creation time of a file: its `sys.created` field.
fn created_of(snapshot: &Snapshot) -> Option<f64> {
    snapshot
        .stats
        .iter()
        .find(|s| s.label.ends_with("sys.created"))
        .and_then(|s| s.value.as_f64())
        .filter(|c| c.is_finite() && *c > 0.0)
}

/// A field's family: its index in the list and the member's labels.
type Place = Option<(usize, Vec<(String, String)>)>;

/// The families of `snapshots` (`errors` being how many files could not be
/// read), as `options` say, with the counts of ended threads from
/// `tracker` when one is given (see the [module docs](self)).
///
/// The first two families are the exporter's own gauges,
/// `mmstats_exporter_files` and `mmstats_exporter_read_errors`; then one
/// per field label (or labelled family), in the order first seen. A label
/// whose name is already taken by another label (`a.b` and `a_b` both make
/// `mmstats_a_b`) is left out and listed in the second part of the answer
/// with the name that took it, and so is a second file with the same
/// `cmd`, `pid` and `tid`: the series are always unique.
pub fn model(
    snapshots: &[Snapshot],
    errors: usize,
    options: &Options,
    tracker: Option<&mut Tracker>,
) -> (Vec<Family>, Vec<(String, String)>) {
    let rules = Rules::default();
    let mut families: Vec<Family> = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
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
        families.push(Family {
            name: name.to_string(),
            ty: Type::Gauge,
            label: String::new(),
            kind: Kind::Gauge,
            help: help.to_string(),
            unit: String::new(),
            metric_unit: String::new(),
            samples: vec![Sample {
                suffix: "",
                labels: Vec::new(),
                value: Value::Unsigned(u64::try_from(value).unwrap_or(u64::MAX)),
                created: None,
            }],
            histograms: Vec::new(),
        });
    }
    let own = families.len();
    // A field's label -> its family and the member's labels.
    let mut by_label: HashMap<String, Place> = HashMap::new();
    let mut by_family: HashMap<String, usize> = HashMap::new();
    let mut skipped: BTreeSet<(String, String)> = BTreeSet::new();
    for snapshot in snapshots {
        for stat in &snapshot.stats {
            if by_label.contains_key(&stat.label) {
                continue;
            }
            let (family_label, member) = member_of(&stat.label);
            let kind = rules.resolve(stat.kind, &stat.value);
            let ty = match (&stat.value, kind.meaning().export) {
                (_, Export::Hidden) => {
                    by_label.insert(stat.label.clone(), None);
                    continue;
                }
                (_, Export::Histogram) => Type::Histogram,
                (Value::Text(_), _) | (_, Export::Info) => Type::Info,
                (_, Export::Counter) => Type::Counter,
                (_, Export::Gauge) => Type::Gauge,
            };
            if let Some(&index) = by_family.get(&family_label) {
                match families.get(index) {
                    Some(family) if family.ty == ty => {
                        by_label.insert(stat.label.clone(), Some((index, member)));
                    }
                    other => {
                        let name = other.map(|f| f.name.clone()).unwrap_or_default();
                        skipped.insert((stat.label.clone(), name));
                        by_label.insert(stat.label.clone(), None);
                    }
                }
                continue;
            }
            let base = sanitize(&family_label);
            let name = match ty {
                Type::Counter => base.trim_end_matches("_total").to_string(),
                _ => base,
            };
            // A name ends with its unit, as OpenMetrics wants for `# UNIT`.
            let metric_unit = match ty {
                Type::Info => String::new(),
                _ => unit_name(&stat.unit),
            };
            let name = if metric_unit.is_empty() || name.ends_with(&format!("_{metric_unit}")) {
                name
            } else {
                format!("{name}_{metric_unit}")
            };
            let names = sample_names(&name, ty);
            if let Some(owner) = names.iter().find(|n| taken.contains(*n)) {
                skipped.insert((stat.label.clone(), owner.clone()));
                by_label.insert(stat.label.clone(), None);
                continue;
            }
            taken.extend(names);
            by_label.insert(stat.label.clone(), Some((families.len(), member)));
            by_family.insert(family_label.clone(), families.len());
            families.push(Family {
                name,
                ty,
                label: family_label,
                kind,
                help: stat.help.clone(),
                unit: stat.unit.clone(),
                metric_unit,
                samples: Vec::new(),
                histograms: Vec::new(),
            });
        }
    }
    let by_owner = snapshots
        .iter()
        .map(|s| s.owner)
        .collect::<BTreeSet<_>>()
        .len()
        > 1;
    let mut seen: HashSet<(usize, Vec<(String, String)>)> = HashSet::new();
    match options.per {
        Per::Thread => {
            for snapshot in snapshots {
                let [cmd, pid, tid] = identity(snapshot);
                let mut labels = vec![("cmd".to_string(), cmd)];
                if by_owner {
                    labels.push(("owner".into(), owner_text(snapshot.owner)));
                }
                labels.push(("pid".into(), pid));
                labels.push(("tid".into(), tid));
                let created = created_of(snapshot);
                for stat in &snapshot.stats {
                    let Some(Some((index, member))) = by_label.get(&stat.label) else {
                        continue;
                    };
                    let mut labels = labels.clone();
                    labels.extend(member.iter().cloned());
                    if !seen.insert((*index, labels.clone())) {
                        continue;
                    }
                    let Some(family) = families.get_mut(*index) else {
                        continue;
                    };
                    if family.ty == Type::Histogram {
                        if let Some(Ok(h)) = Histogram::read(snapshot, &stat.label) {
                            histogram_samples(h, &labels, created, family);
                        }
                        continue;
                    }
                    push_value(family, &labels, &stat.value, created);
                }
            }
        }
        Per::Process => {
            let mut groups: BTreeMap<ProcessKey, Vec<&Snapshot>> = BTreeMap::new();
            for snapshot in snapshots {
                let [cmd, pid, _] = identity(snapshot);
                groups
                    .entry((snapshot.owner, cmd, pid))
                    .or_default()
                    .push(snapshot);
            }
            let mut ended = match tracker {
                Some(tracker) => tracker.update(&groups, &rules),
                None => HashMap::new(),
            };
            // Processes in numeric order of pid within a command.
            let mut keys: Vec<&ProcessKey> = groups.keys().collect();
            keys.sort_by_key(|(owner, cmd, pid)| {
                (*owner, cmd.clone(), pid.parse::<u64>().ok(), pid.clone())
            });
            for key in keys {
                let Some(files) = groups.get(key) else {
                    continue;
                };
                let (owner, cmd, pid) = key;
                let mut labels = vec![("cmd".to_string(), cmd.clone())];
                if by_owner {
                    labels.push(("owner".into(), owner_text(*owner)));
                }
                labels.push(("pid".into(), pid.clone()));
                let (mut gone, created) = ended.remove(key).unwrap_or_else(|| {
                    let created = files.iter().filter_map(|s| created_of(s)).reduce(f64::min);
                    (Counts::default(), created)
                });
                let combined = rules.combine(files.iter().copied());
                let totals: HashMap<&str, f64> = combined
                    .iter()
                    .filter(|a| a.kind == Kind::Counter)
                    .filter_map(|a| {
                        let ended = gone.counters.get(&a.label).and_then(Value::as_f64);
                        Some((
                            a.label.as_str(),
                            a.combined.as_f64()? + ended.unwrap_or(0.0),
                        ))
                    })
                    .collect();
                for aggregate in &combined {
                    let Some(Some((index, member))) = by_label.get(&aggregate.label) else {
                        continue;
                    };
                    let mut labels = labels.clone();
                    labels.extend(member.iter().cloned());
                    if !seen.insert((*index, labels.clone())) {
                        continue;
                    }
                    let Some(family) = families.get_mut(*index) else {
                        continue;
                    };
                    match (&aggregate.combined, family.ty) {
                        (Combined::Histogram(h), _) => {
                            let mut h = h.clone();
                            if let Some(old) = gone.histograms.remove(&aggregate.label) {
                                let _ = h.merge(&old);
                            }
                            histogram_samples(h, &labels, created, family);
                        }
                        (Combined::Value(v), Type::Counter) => {
                            let value = match gone.counters.remove(&aggregate.label) {
                                Some(old) => add_values(v, &old),
                                None => v.clone(),
                            };
                            push_value(family, &labels, &value, created);
                        }
                        (Combined::Value(v), _) => {
                            let value =
                                weighted_mean(aggregate, &totals).unwrap_or_else(|| v.clone());
                            push_value(family, &labels, &value, created);
                        }
                        (Combined::Distinct(values), Type::Info) => {
                            for value in values {
                                push_value(family, &labels, value, created);
                            }
                        }
                        (Combined::Distinct(_), _) => {}
                    }
                }
                // Counts of ended threads under labels no live file has.
                let mut rest: Vec<(&String, &Value)> = gone.counters.iter().collect();
                rest.sort_by(|a, b| a.0.cmp(b.0));
                for (label, value) in rest {
                    push_ended(
                        &mut families,
                        &by_label,
                        &mut seen,
                        &labels,
                        label,
                        |f, l| {
                            push_value(f, l, value, created);
                        },
                    );
                }
                let mut rest: Vec<(&String, &Histogram)> = gone.histograms.iter().collect();
                rest.sort_by(|a, b| a.0.cmp(b.0));
                for (label, h) in rest {
                    push_ended(
                        &mut families,
                        &by_label,
                        &mut seen,
                        &labels,
                        label,
                        |f, l| {
                            histogram_samples(h.clone(), l, created, f);
                        },
                    );
                }
            }
        }
    }
    // Families with no sample are left out, the exporter's own kept.
    let mut index = 0usize;
    families.retain(|f| {
        index = index.saturating_add(1);
        index <= own || !f.samples.is_empty()
    });
    (families, skipped.into_iter().collect())
}

/// Puts the samples of an ended thread's label into its family.
fn push_ended(
    families: &mut [Family],
    by_label: &HashMap<String, Place>,
    seen: &mut HashSet<(usize, Vec<(String, String)>)>,
    labels: &[(String, String)],
    label: &str,
    push: impl FnOnce(&mut Family, &[(String, String)]),
) {
    let Some(Some((index, member))) = by_label.get(label) else {
        return;
    };
    let mut labels = labels.to_vec();
    labels.extend(member.iter().cloned());
    if !seen.insert((*index, labels.clone())) {
        return;
    }
    if let Some(family) = families.get_mut(*index) {
        push(family, &labels);
    }
}

/// A summary's mean over a process: its `.sum` over its `.count` (both
/// with the counts of ended threads), when the label has both.
fn weighted_mean(aggregate: &aggregate::Aggregate, totals: &HashMap<&str, f64>) -> Option<Value> {
    if !matches!(aggregate.kind, Kind::Average | Kind::Timer) {
        return None;
    }
    let sum = totals.get(format!("{}.sum", aggregate.label).as_str())?;
    let count = totals.get(format!("{}.count", aggregate.label).as_str())?;
    Some(Value::Float(if *count > 0.0 { sum / count } else { 0.0 }))
}

fn push_value(
    family: &mut Family,
    labels: &[(String, String)],
    value: &Value,
    created: Option<f64>,
) {
    let mut labels = labels.to_vec();
    let (suffix, value) = match family.ty {
        Type::Info => {
            labels.push(("value".into(), value.to_string()));
            ("_info", Value::Unsigned(1))
        }
        Type::Counter => ("_total", value.clone()),
        Type::Gauge => ("", value.clone()),
        Type::Histogram => return,
    };
    if value.as_f64().is_none() {
        return;
    }
    let created = if family.ty == Type::Counter {
        created
    } else {
        None
    };
    family.samples.push(Sample {
        suffix,
        labels,
        value,
        created,
    });
}

fn owner_text(owner: Option<u32>) -> String {
    owner.map(|o| o.to_string()).unwrap_or_default()
}

/// The family a field's label belongs to, and the member's labels (see
/// [`crate::labels`]); a label set that does not parse, or that uses a
/// label name the exporter puts beside it, leaves the field an ordinary
/// one under its whole label.
fn member_of(label: &str) -> (String, Vec<(String, String)>) {
    const TAKEN: [&str; 6] = ["cmd", "owner", "pid", "tid", "value", "le"];
    match crate::labels::split(label) {
        Ok(Some(member))
            if member
                .labels
                .iter()
                .all(|(k, _)| !TAKEN.contains(&k.as_str())) =>
        {
            (member.family, member.labels)
        }
        _ => (label.to_string(), Vec::new()),
    }
}

/// The metric name of a label, without suffix: `mmstats_` and the label
/// with every run of other characters than ASCII letters and digits made
/// one `_`, an `_` between a lower-case and an upper-case letter, all in
/// lower case.
pub fn sanitize(label: &str) -> String {
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

/// Units that name no dimension (see [`unit_name`]).
const DIMENSIONLESS: [&str; 3] = ["count", "counts", "1"];

/// A unit as the end of a metric name: lower case, every run of other
/// characters than ASCII letters and digits one `_` (`seconds`,
/// `bytes`, `requests_s` for `requests/s`), empty for no unit. A count
/// (`count`, `1`: what the `metrics` crate's `Unit::Count` and
/// OpenTelemetry's `1` say) has no dimension, and a counter's name ends
/// in `_total` already: no unit either.
pub fn unit_name(unit: &str) -> String {
    if DIMENSIONLESS.contains(&unit.trim().to_ascii_lowercase().as_str()) {
        return String::new();
    }
    let mut name = String::new();
    for c in unit.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
    }
    let trimmed = name.trim_end_matches('_').len();
    name.truncate(trimmed);
    name
}

/// `cmd`, `pid` and `tid` of a file: from its `sys.cmd`, `sys.pid` and
/// `sys.tid` fields, else from its name.
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

/// How many of a histogram's buckets make one `le` bucket: `le` is every
/// bound `2^(k/4)` (a factor 1.19, at schema 2 and above; every bound at
/// schemas 0 and 1), so that each `le` count is exact.
pub fn le_step(schema: u8) -> i64 {
    1i64 << schema.saturating_sub(2)
}

/// The classic buckets of a histogram, as its upper bound and cumulative
/// count: every [`le_step`]-th bound from the lowest (the zero bucket's
/// top) to the highest, then `+inf` with the buckets' total. What the text
/// formats give as `_bucket{le=...}` and the protobuf exposition as the
/// histogram's `bucket`s.
pub fn classic_buckets(h: &Histogram) -> Vec<(f64, u64)> {
    let step = le_step(h.schema);
    let mut out = Vec::new();
    let mut cumulative = h.zero;
    out.push((h.bound(-1), cumulative));
    for (i, &c) in h.buckets.iter().enumerate() {
        cumulative = cumulative.saturating_add(c);
        let i = i64::try_from(i).unwrap_or(i64::MAX);
        if h.first.saturating_add(i).rem_euclid(step) == 0 {
            out.push((h.bound(i), cumulative));
        }
    }
    out.push((f64::INFINITY, h.total()));
    out
}

/// The samples of one histogram: cumulative `_bucket{le=...}` at the
/// [`classic_buckets`], then `_sum` and `_count`; the histogram itself is
/// kept in the family's [`Family::histograms`]. The count is the buckets'
/// total, so that it equals the `+Inf` bucket.
fn histogram_samples(
    h: Histogram,
    labels: &[(String, String)],
    created: Option<f64>,
    family: &mut Family,
) {
    let out = &mut family.samples;
    for (le, n) in classic_buckets(&h) {
        let mut labels = labels.to_vec();
        let le = if le.is_infinite() {
            "+Inf".to_string()
        } else {
            format!("{le:?}")
        };
        labels.push(("le".into(), le));
        out.push(Sample {
            suffix: "_bucket",
            labels,
            value: Value::Unsigned(n),
            created,
        });
    }
    let total = h.total();
    for (suffix, value) in [
        ("_sum", Value::Float(h.sum)),
        ("_count", Value::Unsigned(total)),
    ] {
        out.push(Sample {
            suffix,
            labels: labels.to_vec(),
            value,
            created,
        });
    }
    family.histograms.push((labels.to_vec(), h));
}
