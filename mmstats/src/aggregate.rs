//! Combining the stats of many files into one view.
//!
//! A program publishes one file per thread, and often runs as several
//! processes; a reader usually wants one number per label. This module holds
//! the rules for that, shared by `mmstats poll`, the server and the recorder,
//! so that every tool adds things up the same way.
//!
//! # The rules, by kind
//!
//! | kind | rule | why |
//! | --- | --- | --- |
//! | [`Kind::Counter`] | sum | each thread counts its own events; the total is their sum |
//! | [`Kind::Gauge`] | sum | per-thread gauges split one quantity (requests in flight, queue length) between threads |
//! | [`Kind::Average`], [`Kind::Timer`] | mean of the files' non-zero values, each file weighted equally; `0.0` if all are zero | files do not publish how many samples a mean is made of, so no weighting is possible; a file holds exactly `0.0` until its first sample, and counting such files would drag the mean towards zero |
//! | [`Kind::Flag`] | any: true if at least one file says true | "is any worker up?", "is any worker busy?" |
//! | [`Kind::Minimum`], [`Kind::Maximum`] | the least, the greatest, of the files whose group has recorded something (its `.count` is not 0); `0.0` when none has | a `Summary`'s smallest and largest values: the smallest of all threads is the least of their smallest; a thread that recorded nothing holds `0.0`, which is no value |
//! | [`Kind::Text`], [`Kind::Static`] | the one value all files agree on, else each distinct value once ([`Combined::Distinct`]); for texts, empty ones are left out unless all are empty | texts cannot be added up; statics such as `sys.pid` differ between processes; a text is empty until its writer first sets it |
//! | [`Kind::Unknown`] | by the value's type: integers as [`Rules::unknown_integer`] (a gauge unless told otherwise), floats as averages, booleans as flags, texts as texts | files of the original implementation carry no kinds; its integer fields are counters or gauges and nothing in the file tells which, and its float fields are mostly averages and timers |
//!
//! A label's kind is the kind it has in the first file that has it. Sums of
//! integers saturate instead of wrapping. When the values of a label are of
//! mixed types (a damaged or foreign file), numbers still add up as floats;
//! a text among numbers makes the label fall back to distinct values.
//!
//! # Files of several users
//!
//! Any local user can write a stats directory such as `/tmp`, and name a
//! file as one of another user's programs would be named. Values of files
//! of different owners ([`Snapshot::owner`]) are therefore never added up
//! by the tools: a [`Collector`](crate::collect::Collector) reads only the
//! files of the user it runs as unless asked for every user's, and then
//! the tools group by owner as well as by command
//! ([`by_owner_and_command`]).
//!
//! # Counters over time
//!
//! [`Poller`] turns counters into changes between two samples, file by
//! file: a file's change is its value minus its own previous value; a file
//! seen for the first time, or whose counter went down (its writer
//! restarted), contributes its whole value. A file that vanished contributes
//! nothing, so its old counts never make a sum step backwards.
//!
//! Histograms likewise: each file's histogram over the interval is the
//! change of each of its buckets since its previous read (modulo 2^32, see
//! [`Histogram::since`]), or its whole histogram when it is new or its
//! writer restarted; the files' intervals are merged bucket by bucket, so
//! that a quantile over the last interval comes from the reader alone (the
//! writer keeps no window).

// Runs on whatever files and arguments users give: nothing here may panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::format::{Combine, Kind, Shown};
use crate::reader::{Histogram, Snapshot, Value};

/// What several files' values of one label come to.
#[derive(Clone, Debug, PartialEq)]
pub enum Combined {
    /// One value: a sum, a mean, an "any", or the value every file agrees on.
    Value(Value),
    /// The files disagree on a label that cannot be added up (a text, a
    /// static): each distinct value once, in the order first seen.
    Distinct(Vec<Value>),
    /// A histogram: the files' histograms merged bucket by bucket (those
    /// that could not be read whole, or whose buckets differ from the
    /// first's, left out; see [`Aggregate::files`]).
    Histogram(Histogram),
}

impl Combined {
    /// The value as a number, if it is one value and a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Combined::Value(v) => v.as_f64(),
            Combined::Distinct(_) | Combined::Histogram(_) => None,
        }
    }
}

impl std::fmt::Display for Combined {
    /// One value as [`Value`] shows it; distinct values joined by `|`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Combined::Value(v) => v.fmt(f),
            Combined::Distinct(values) => {
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    v.fmt(f)?;
                }
                Ok(())
            }
            Combined::Histogram(h) => h.fmt(f),
        }
    }
}

/// One label, combined over a set of files.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// The label.
    pub label: String,
    /// The kind the rule was chosen by: the file's kind, or for
    /// [`Kind::Unknown`] the kind it is treated as (see the module docs).
    pub kind: Kind,
    /// The combined value.
    pub combined: Combined,
    /// How many files have the label.
    pub files: usize,
}

/// The choices the module docs leave open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// How an integer of unknown kind is treated: [`Kind::Gauge`] (the
    /// default) or [`Kind::Counter`] (for files of the original
    /// implementation whose integers are known to be counters). Any other
    /// kind is taken as a gauge.
    pub unknown_integer: Kind,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            unknown_integer: Kind::Gauge,
        }
    }
}

impl Rules {
    /// The kind whose rule applies to a field of kind `kind` holding `value`.
    ///
    /// [`Kind::Unknown`] becomes a known kind by the value's type; a known
    /// kind stays itself.
    pub fn resolve(&self, kind: Kind, value: &Value) -> Kind {
        if kind != Kind::Unknown {
            return kind;
        }
        match value {
            Value::Unsigned(_) | Value::Signed(_) => match self.unknown_integer {
                Kind::Counter => Kind::Counter,
                _ => Kind::Gauge,
            },
            Value::Float(_) => Kind::Average,
            Value::Bool(_) => Kind::Flag,
            Value::Text(_) => Kind::Text,
            // Counts without a histogram's metadata: nothing to add up.
            Value::Counts(_) => Kind::Static,
        }
    }

    /// Combines every label of `snapshots`, in the order labels are first
    /// seen.
    pub fn combine<'a>(&self, snapshots: impl IntoIterator<Item = &'a Snapshot>) -> Vec<Aggregate> {
        self.combine_where(snapshots, |_| true)
    }

    /// Combines the labels of `snapshots` for which `keep` is true, in the
    /// order labels are first seen.
    pub fn combine_where<'a>(
        &self,
        snapshots: impl IntoIterator<Item = &'a Snapshot>,
        keep: impl Fn(&str) -> bool,
    ) -> Vec<Aggregate> {
        let mut order: Vec<&str> = Vec::new();
        let mut by_label: HashMap<&str, (Kind, Vec<&Value>)> = HashMap::new();
        let mut histograms: HashMap<&str, (Histogram, usize)> = HashMap::new();
        for snapshot in snapshots {
            for stat in &snapshot.stats {
                if !keep(&stat.label) {
                    continue;
                }
                let kind = self.resolve(stat.kind, &stat.value);
                if kind.meaning().combine == Combine::Within {
                    // Combined with the group's main field.
                    continue;
                }
                let entry = by_label.entry(stat.label.as_str()).or_insert_with(|| {
                    order.push(stat.label.as_str());
                    (kind, Vec::new())
                });
                if entry.0.meaning().combine == Combine::Buckets {
                    if let Some(Ok(h)) = Histogram::read(snapshot, &stat.label) {
                        match histograms.get_mut(stat.label.as_str()) {
                            None => {
                                histograms.insert(stat.label.as_str(), (h, 1));
                            }
                            Some((merged, files)) => {
                                if merged.merge(&h).is_ok() {
                                    *files = files.saturating_add(1);
                                }
                            }
                        }
                    }
                }
                if matches!(
                    entry.0.meaning().combine,
                    Combine::Least | Combine::Greatest
                ) && recorded_nothing(snapshot, &stat.label)
                {
                    // The extreme of no values is no value: a file that
                    // has recorded nothing yet has none to give.
                    continue;
                }
                entry.1.push(&stat.value);
            }
        }
        order
            .into_iter()
            .filter_map(|label| {
                let (kind, values) = by_label.remove(label)?;
                if kind.meaning().combine == Combine::Buckets {
                    // A histogram no file could give whole has no value.
                    let (merged, files) = histograms.remove(label)?;
                    return Some(Aggregate {
                        label: label.to_string(),
                        kind,
                        combined: Combined::Histogram(merged),
                        files,
                    });
                }
                Some(Aggregate {
                    label: label.to_string(),
                    kind,
                    combined: combine_values(kind, &values),
                    files: values.len(),
                })
            })
            .collect()
    }
}

/// Whether the group that `label` (a `.min` or `.max` of a summary) belongs
/// to counts no value yet in `snapshot`: its `.count` sibling is zero.
fn recorded_nothing(snapshot: &Snapshot, label: &str) -> bool {
    let Some(base) = label
        .strip_suffix(".min")
        .or_else(|| label.strip_suffix(".max"))
    else {
        return false;
    };
    snapshot.stats.iter().any(|s| {
        s.label.len() == base.len().saturating_add(".count".len())
            && s.label.starts_with(base)
            && s.label.ends_with(".count")
            && s.value.as_f64() == Some(0.0)
    })
}

/// Combines every label of `snapshots` by the default [`Rules`].
pub fn combine<'a>(snapshots: impl IntoIterator<Item = &'a Snapshot>) -> Vec<Aggregate> {
    Rules::default().combine(snapshots)
}

/// Combines `values` of one label by the rule of `kind` (already resolved,
/// see [`Rules::resolve`]).
pub fn combine_values(kind: Kind, values: &[&Value]) -> Combined {
    let rule = kind.meaning().combine;
    let has_text = values.iter().any(|v| matches!(v, Value::Text(_)));
    if has_text && !matches!(rule, Combine::Agree | Combine::AgreeIgnoringEmpty) {
        // Numbers cannot be added up with a text among them.
        return distinct(values);
    }
    match rule {
        Combine::Sum => Combined::Value(sum(values)),
        Combine::MeanOfNonZero => Combined::Value(Value::Float(mean(values))),
        Combine::Least | Combine::Greatest => {
            let numbers = values.iter().filter_map(|v| v.as_f64());
            let extreme = if rule == Combine::Least {
                numbers.fold(f64::INFINITY, f64::min)
            } else {
                numbers.fold(f64::NEG_INFINITY, f64::max)
            };
            Combined::Value(Value::Float(if extreme.is_finite() {
                extreme
            } else {
                0.0
            }))
        }
        Combine::Any => Combined::Value(Value::Bool(
            values.iter().any(|v| v.as_f64().is_some_and(|x| x != 0.0)),
        )),
        Combine::AgreeIgnoringEmpty => {
            let set: Vec<&Value> = values
                .iter()
                .copied()
                .filter(|v| !matches!(v, Value::Text(t) if t.is_empty()))
                .collect();
            distinct(if set.is_empty() { values } else { &set })
        }
        // Histograms need their groups (see `Rules::combine_where`); their
        // counts alone can only be told apart.
        Combine::Agree | Combine::Buckets | Combine::Within => distinct(values),
    }
}

/// The sum of numbers: `Unsigned` when all are unsigned (or booleans),
/// an integer when all are integers, else a float. Integers saturate.
fn sum(values: &[&Value]) -> Value {
    let all_unsigned = values
        .iter()
        .all(|v| matches!(v, Value::Unsigned(_) | Value::Bool(_)));
    let all_integers = values
        .iter()
        .all(|v| matches!(v, Value::Unsigned(_) | Value::Signed(_) | Value::Bool(_)));
    if all_unsigned {
        let total = values.iter().fold(0u64, |acc, v| match v {
            Value::Unsigned(n) => acc.saturating_add(*n),
            Value::Bool(b) => acc.saturating_add(u64::from(*b)),
            _ => acc,
        });
        Value::Unsigned(total)
    } else if all_integers {
        let total = values.iter().fold(0i128, |acc, v| match v {
            Value::Unsigned(n) => acc.saturating_add(i128::from(*n)),
            Value::Signed(n) => acc.saturating_add(i128::from(*n)),
            Value::Bool(b) => acc.saturating_add(i128::from(*b)),
            _ => acc,
        });
        integer_value(total)
    } else {
        Value::Float(values.iter().filter_map(|v| v.as_f64()).sum())
    }
}

/// A way to combine one label's values that a caller picks, beside the
/// per-kind rules of [`combine_values`]: the `aggr=` modes of the server's
/// JSON API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The mean of the numbers.
    Avg,
    /// The first value, whatever it is (texts too).
    One,
    /// The largest number (of equal ones, the first).
    Max,
    /// The smallest number (of equal ones, the first).
    Min,
    /// The sum, exact for integers (saturating), as [`combine_values`] adds.
    Sum,
    /// The smallest number that is not zero.
    NonzeroMin,
    /// The mean of the numbers that are not zero.
    NonzeroAvg,
}

impl Mode {
    /// The names [`Mode::parse`] takes, for messages.
    pub const NAMES: &'static str = "avg, one, max, min, sum, nonzero-min, nonzero-avg";

    /// The mode named `name` (`avg`, `one`, `max`, `min`, `sum`,
    /// `nonzero-min`, `nonzero-avg`).
    pub fn parse(name: &str) -> Option<Mode> {
        Some(match name {
            "avg" => Mode::Avg,
            "one" => Mode::One,
            "max" => Mode::Max,
            "min" => Mode::Min,
            "sum" => Mode::Sum,
            "nonzero-min" => Mode::NonzeroMin,
            "nonzero-avg" => Mode::NonzeroAvg,
            _ => return None,
        })
    }

    /// Combines `values` (one per file), or says why not. Booleans count as
    /// 0 and 1; texts only go with [`Mode::One`]. `None` when there is
    /// nothing to give: no values, or for the `nonzero` modes, none that is
    /// not zero.
    pub fn apply(self, values: &[&Value]) -> Result<Option<Value>, &'static str> {
        if let Mode::One = self {
            return Ok(values.first().map(|v| (*v).clone()));
        }
        let mut numbers: Vec<(f64, &Value)> = Vec::with_capacity(values.len());
        for value in values {
            match value.as_f64() {
                Some(x) => numbers.push((x, value)),
                None => return Err("a text cannot be combined but by aggr=one"),
            }
        }
        if matches!(self, Mode::NonzeroMin | Mode::NonzeroAvg) {
            numbers.retain(|(x, _)| *x != 0.0);
        }
        let pick = |better: fn(f64, f64) -> bool| {
            numbers
                .iter()
                .copied()
                .reduce(|a, b| if better(b.0, a.0) { b } else { a })
                .map(|(_, v)| v.clone())
        };
        Ok(match self {
            Mode::Max => pick(|b, a| b > a),
            Mode::Min | Mode::NonzeroMin => pick(|b, a| b < a),
            Mode::Sum if values.is_empty() => None,
            Mode::Sum => Some(sum(values)),
            Mode::Avg | Mode::NonzeroAvg | Mode::One => {
                if numbers.is_empty() {
                    None
                } else {
                    let total: f64 = numbers.iter().map(|(x, _)| x).sum();
                    Some(Value::Float(total / numbers.len() as f64))
                }
            }
        })
    }
}

/// An integer as `Unsigned` when it is not negative, else `Signed`, clamped
/// to what those can hold.
fn integer_value(n: i128) -> Value {
    if n >= 0 {
        Value::Unsigned(u64::try_from(n).unwrap_or(u64::MAX))
    } else {
        Value::Signed(i64::try_from(n).unwrap_or(i64::MIN))
    }
}

/// The mean of the non-zero numbers, or 0 when there are none.
fn mean(values: &[&Value]) -> f64 {
    let (total, count) = values
        .iter()
        .filter_map(|v| v.as_f64())
        .filter(|x| *x != 0.0)
        .fold((0.0, 0u32), |(t, c), x| (t + x, c.saturating_add(1)));
    if count == 0 {
        0.0
    } else {
        total / f64::from(count)
    }
}

fn distinct(values: &[&Value]) -> Combined {
    let mut seen: Vec<Value> = Vec::new();
    for v in values {
        if !seen.contains(v) {
            seen.push((*v).clone());
        }
    }
    if seen.len() == 1 {
        match seen.pop() {
            Some(v) => Combined::Value(v),
            None => Combined::Distinct(seen),
        }
    } else {
        Combined::Distinct(seen)
    }
}

/// Files that belong together, with the key they share.
#[derive(Clone, Debug)]
pub struct Group<'a, K> {
    /// What the files share: a process id, or a command name.
    pub key: K,
    /// The files, in the order given.
    pub snapshots: Vec<&'a Snapshot>,
}

impl<K> Group<'_, K> {
    /// Every label of the group's files, combined by the default [`Rules`].
    pub fn combine(&self) -> Vec<Aggregate> {
        combine(self.snapshots.iter().copied())
    }
}

/// Groups files by the process that wrote them ([`Snapshot::pid`]), in
/// increasing order of pid; files without a pid form the group `None`,
/// which comes first.
pub fn by_process(snapshots: &[Snapshot]) -> Vec<Group<'_, Option<u32>>> {
    group_by(snapshots, Snapshot::pid)
}

/// Groups files by command, in the order of the command names: the name is
/// [`Snapshot::command`] (the file's `sys.cmd` field, else what
/// [`command_of`] makes of its name); a snapshot with neither is in the
/// group `""`.
pub fn by_command(snapshots: &[Snapshot]) -> Vec<Group<'_, String>> {
    group_by(snapshots, Snapshot::command)
}

/// Groups files by owner ([`Snapshot::owner`]) and command (as
/// [`by_command`] does), in the order of owner, then command name: files of
/// different users never share a group, whatever they are named.
pub fn by_owner_and_command(snapshots: &[Snapshot]) -> Vec<Group<'_, (Option<u32>, String)>> {
    group_by(snapshots, |s| (s.owner, s.command()))
}

fn group_by<K: Ord>(snapshots: &[Snapshot], key: impl Fn(&Snapshot) -> K) -> Vec<Group<'_, K>> {
    let mut groups: BTreeMap<K, Vec<&Snapshot>> = BTreeMap::new();
    for snapshot in snapshots {
        groups.entry(key(snapshot)).or_default().push(snapshot);
    }
    groups
        .into_iter()
        .map(|(key, snapshots)| Group { key, snapshots })
        .collect()
}

/// The command a file belongs to, from its name: for files that do not
/// say (files of the original writer; this crate's carry `sys.cmd`, see
/// [`Snapshot::command`]).
///
/// The original's file name template is `{CMD}-{PID}-{TID}.mmstats`: the rule
/// takes the file name without its last extension and drops up to two
/// trailing `-<digits>` parts. `webserver-812-815.mmstats` is `webserver`,
/// `my-app-12.mmstats` is `my-app`, `queue.mmstats` is `queue`. A name that
/// would come out empty (`-1-2.mmstats`) stays whole. A writer in a PID
/// namespace of its own (a container) writes `{PID}` as `ns<inode>-<pid>`
/// (see [`Vars::pid_text`](crate::file::Vars::pid_text)), and that
/// `-ns<digits>` part before the dropped ones goes too:
/// `webserver-ns4026532178-1-7.mmstats` is `webserver`.
pub fn command_of(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = stem.as_str();
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let mut dropped = false;
    for _ in 0..2 {
        match name.rsplit_once('-') {
            Some((head, part)) if digits(part) => {
                name = head;
                dropped = true;
            }
            _ => break,
        }
    }
    if dropped {
        if let Some((head, part)) = name.rsplit_once('-') {
            if part.strip_prefix("ns").is_some_and(digits) {
                name = head;
            }
        }
    }
    if name.is_empty() {
        stem
    } else {
        name.to_string()
    }
}

/// What tells one file from another across samples: its path, and the
/// process and creation time it names, so that a file replaced under the
/// same name by a new writer counts as a new file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FileId {
    path: Option<PathBuf>,
    pid: Option<u32>,
    created: Option<u64>,
}

impl FileId {
    fn of(snapshot: &Snapshot) -> FileId {
        let created = snapshot
            .stats
            .iter()
            .find(|s| s.label.ends_with("sys.created"))
            .and_then(|s| s.value.as_f64())
            .map(f64::to_bits);
        FileId {
            path: snapshot.path.clone(),
            pid: snapshot.pid(),
            created,
        }
    }
}

/// Samples of the same files over time, with counters turned into changes.
///
/// Each call to [`Poller::step`] takes the files read now and returns every
/// label combined as [`Rules::combine`] does, except that counters hold the
/// change since the previous step instead of their value (see the module
/// docs for new, restarted and vanished files). The first step has no
/// previous one, so its counters hold their whole values.
#[derive(Clone, Debug, Default)]
pub struct Poller {
    rules: Rules,
    only: Option<std::collections::HashSet<String>>,
    /// Also combined, with `only`: the members these select.
    selected: Vec<crate::labels::Selector>,
    last: HashMap<FileId, HashMap<String, Value>>,
    /// Each file's histograms at the previous step.
    last_histograms: HashMap<FileId, HashMap<String, Histogram>>,
}

impl Poller {
    /// A poller with the default [`Rules`].
    pub fn new() -> Poller {
        Poller::default()
    }

    /// A poller with the given rules.
    pub fn with_rules(rules: Rules) -> Poller {
        Poller {
            rules,
            only: None,
            selected: Vec::new(),
            last: HashMap::new(),
            last_histograms: HashMap::new(),
        }
    }

    /// The same poller, combining only these labels (a tool that shows a
    /// few columns need not add up every field of every file).
    pub fn only(mut self, labels: impl IntoIterator<Item = String>) -> Poller {
        self.only = Some(labels.into_iter().collect());
        self
    }

    /// The same poller, combining only the fields these select (labels,
    /// or families with some of their labels: see [`select`]).
    pub fn only_selected(mut self, selectors: Vec<crate::labels::Selector>) -> Poller {
        self.only = Some(selectors.iter().map(|s| s.text.clone()).collect());
        self.selected = selectors;
        self
    }

    fn wanted(&self, label: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(label))
            || self.selected.iter().any(|s| s.matches(label))
    }

    /// Combines one sample of files, counters as changes.
    ///
    /// `unreadable` names files that are still there but could not be read
    /// this time: their previous values are kept, so that they are not
    /// counted again from zero when they read again. Every other file not in
    /// `snapshots` is forgotten.
    pub fn step<'a, I>(&mut self, snapshots: I, unreadable: &[PathBuf]) -> Vec<Aggregate>
    where
        I: IntoIterator<Item = &'a Snapshot>,
        I::IntoIter: Clone,
    {
        let snapshots = snapshots.into_iter();
        let mut aggregates = self
            .rules
            .combine_where(snapshots.clone(), |label| self.wanted(label));
        let mut next: HashMap<FileId, HashMap<String, Value>> = HashMap::new();
        let mut next_histograms: HashMap<FileId, HashMap<String, Histogram>> = HashMap::new();
        let mut changes: HashMap<&str, Vec<Value>> = HashMap::new();
        let mut windows: HashMap<&str, Histogram> = HashMap::new();
        for snapshot in snapshots {
            let id = FileId::of(snapshot);
            let previous = self.last.get(&id);
            let previous_histograms = self.last_histograms.get(&id);
            let mut counters = HashMap::new();
            let mut histograms = HashMap::new();
            for stat in &snapshot.stats {
                if stat.kind.meaning().shown == Shown::Quantiles && self.wanted(&stat.label) {
                    // The values recorded since the file's previous read:
                    // the change of each bucket (see `Histogram::since`).
                    let Some(Ok(now)) = Histogram::read(snapshot, &stat.label) else {
                        continue;
                    };
                    let before = previous_histograms.and_then(|p| p.get(&stat.label));
                    let window = before
                        .and_then(|b| now.since(b))
                        .unwrap_or_else(|| now.clone());
                    match windows.get_mut(stat.label.as_str()) {
                        Some(merged) => {
                            let _ = merged.merge(&window);
                        }
                        None => {
                            windows.insert(stat.label.as_str(), window);
                        }
                    }
                    histograms.insert(stat.label.clone(), now);
                    continue;
                }
                if !self.wanted(&stat.label)
                    || self.rules.resolve(stat.kind, &stat.value).meaning().shown != Shown::Change
                {
                    continue;
                }
                let before = previous.and_then(|p| p.get(&stat.label));
                if let Some(change) = change(before, &stat.value) {
                    changes.entry(stat.label.as_str()).or_default().push(change);
                }
                counters.insert(stat.label.clone(), stat.value.clone());
            }
            next_histograms.insert(id.clone(), histograms);
            next.insert(id, counters);
        }
        for (id, counters) in self.last.drain() {
            if id.path.as_ref().is_some_and(|p| unreadable.contains(p)) {
                next.entry(id).or_insert(counters);
            }
        }
        for (id, histograms) in self.last_histograms.drain() {
            if id.path.as_ref().is_some_and(|p| unreadable.contains(p)) {
                next_histograms.entry(id).or_insert(histograms);
            }
        }
        self.last = next;
        self.last_histograms = next_histograms;
        for aggregate in &mut aggregates {
            if aggregate.kind.meaning().shown == Shown::Quantiles {
                if let Some(window) = windows.remove(aggregate.label.as_str()) {
                    aggregate.combined = Combined::Histogram(window);
                }
                continue;
            }
            if aggregate.kind.meaning().shown != Shown::Change {
                continue;
            }
            if let Some(values) = changes.get(aggregate.label.as_str()) {
                let refs: Vec<&Value> = values.iter().collect();
                aggregate.combined = Combined::Value(sum(&refs));
            }
        }
        aggregates
    }
}

/// What `selector` stands for among `aggregates`: the aggregate of its
/// label, else the members it selects added up (numbers; counters as the
/// poller gives them, changes), histograms merged, or each distinct value
/// when they are not all numbers. `None` when nothing is selected.
pub fn select(aggregates: &[Aggregate], selector: &crate::labels::Selector) -> Option<Combined> {
    if let Some(exact) = aggregates.iter().find(|a| a.label == selector.text) {
        return Some(exact.combined.clone());
    }
    let members: Vec<&Aggregate> = aggregates
        .iter()
        .filter(|a| selector.matches(&a.label))
        .collect();
    // Members that are histograms (a family of them) merge bucket by
    // bucket, as the files of one histogram do.
    let histograms: Option<Vec<&crate::reader::Histogram>> = members
        .iter()
        .map(|a| match &a.combined {
            Combined::Histogram(h) => Some(h),
            _ => None,
        })
        .collect();
    if let Some((first, rest)) = histograms.as_deref().and_then(<[_]>::split_first) {
        let mut merged = (*first).clone();
        for h in rest {
            if merged.merge(h).is_err() {
                // Members of another layout: no single histogram.
                return None;
            }
        }
        return Some(Combined::Histogram(merged));
    }
    let values: Option<Vec<&Value>> = members
        .iter()
        .map(|a| match &a.combined {
            Combined::Value(v) if v.as_f64().is_some() => Some(v),
            _ => None,
        })
        .collect();
    match (members.len(), values) {
        (0, _) => None,
        (_, Some(values)) => Some(Combined::Value(sum(&values))),
        (_, None) => {
            let mut distinct: Vec<Value> = Vec::new();
            for member in &members {
                let values = match &member.combined {
                    Combined::Value(v) => std::slice::from_ref(v),
                    Combined::Distinct(vs) => vs.as_slice(),
                    Combined::Histogram(_) => &[],
                };
                for v in values {
                    if !distinct.contains(v) {
                        distinct.push(v.clone());
                    }
                }
            }
            Some(Combined::Distinct(distinct))
        }
    }
}

/// A counter's change from `before` to `now`: the difference, or the whole
/// value when there is no earlier value of the same type or the counter went
/// down (a restart). `None` for a value that is not a number.
fn change(before: Option<&Value>, now: &Value) -> Option<Value> {
    match (before, now) {
        (Some(Value::Unsigned(b)), Value::Unsigned(n)) => {
            Some(Value::Unsigned(n.checked_sub(*b).unwrap_or(*n)))
        }
        (Some(Value::Signed(b)), Value::Signed(n)) if n >= b => {
            Some(integer_value(i128::from(*n).saturating_sub(i128::from(*b))))
        }
        (Some(Value::Float(b)), Value::Float(n)) if n >= b => Some(Value::Float(n - b)),
        (_, Value::Text(_)) => None,
        (_, Value::Signed(n)) => Some(integer_value(i128::from(*n))),
        (_, v) => Some(v.clone()),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::reader::{EndMarker, Stat};

    fn stat(label: &str, kind: Kind, value: Value) -> Stat {
        Stat {
            label: label.into(),
            kind,
            value,
            signature: String::new(),
            buffered: false,
            unit: String::new(),
            help: String::new(),
        }
    }

    fn snap(path: &str, stats: Vec<Stat>) -> Snapshot {
        Snapshot {
            path: Some(PathBuf::from(path)),
            version: 1,
            file_size: 4096,
            stats,
            end: EndMarker::ZeroLabelSize,
            fields_end: 0,
            meta: true,
            unsettled: Vec::new(),
            damaged: Vec::new(),
            owner: None,
        }
    }

    fn summary(path: &str, count: u64, min: f64, max: f64) -> Snapshot {
        snap(
            path,
            vec![
                stat("wait", Kind::Average, Value::Float(0.0)),
                stat("wait.count", Kind::Counter, Value::Unsigned(count)),
                stat("wait.min", Kind::Minimum, Value::Float(min)),
                stat("wait.max", Kind::Maximum, Value::Float(max)),
            ],
        )
    }

    #[test]
    fn summary_extremes_come_from_the_files_that_recorded_something() {
        // Two threads recorded 5, 7 and 9; a third recorded nothing and
        // holds 0.0 in its min and max.
        let files = [
            summary("/d/a-1-1.mmstats", 2, 5.0, 7.0),
            summary("/d/a-1-2.mmstats", 0, 0.0, 0.0),
            summary("/d/a-1-3.mmstats", 1, 9.0, 9.0),
        ];
        let all = combine(&files);
        let get = |label: &str| all.iter().find(|a| a.label == label).unwrap();
        assert_eq!(get("wait.min").combined, Combined::Value(Value::Float(5.0)));
        assert_eq!(get("wait.max").combined, Combined::Value(Value::Float(9.0)));
        assert_eq!(get("wait.min").files, 2);
        assert_eq!(
            get("wait.count").combined,
            Combined::Value(Value::Unsigned(3))
        );
        // Nothing recorded anywhere: 0.0, as each file reads.
        let empty = [summary("/d/a-1-2.mmstats", 0, 0.0, 0.0)];
        let all = combine(&empty);
        let min = all.iter().find(|a| a.label == "wait.min").unwrap();
        assert_eq!(min.combined, Combined::Value(Value::Float(0.0)));
    }

    fn worker(path: &str, pid: u32, hits: u64, latency: f64, up: bool, state: &str) -> Snapshot {
        snap(
            path,
            vec![
                stat("sys.pid", Kind::Static, Value::Unsigned(pid.into())),
                stat("hits", Kind::Counter, Value::Unsigned(hits)),
                stat("queue", Kind::Gauge, Value::Signed(-1)),
                stat("latency", Kind::Timer, Value::Float(latency)),
                stat("up", Kind::Flag, Value::Bool(up)),
                stat("state", Kind::Text, Value::Text(state.into())),
            ],
        )
    }

    fn get<'a>(aggregates: &'a [Aggregate], label: &str) -> &'a Combined {
        &aggregates
            .iter()
            .find(|a| a.label == label)
            .unwrap()
            .combined
    }

    #[test]
    fn a_combined_value_is_a_number_only_when_it_is_one_number() {
        assert_eq!(Combined::Value(Value::Unsigned(3)).as_f64(), Some(3.0));
        assert_eq!(Combined::Value(Value::Float(-2.5)).as_f64(), Some(-2.5));
        assert_eq!(Combined::Value(Value::Text("x".into())).as_f64(), None);
        let distinct = Combined::Distinct(vec![Value::Unsigned(1), Value::Unsigned(2)]);
        assert_eq!(distinct.as_f64(), None);
    }

    #[test]
    fn flags_are_up_if_any_is_and_add_up_as_ones() {
        let (t, f) = (Value::Bool(true), Value::Bool(false));
        let any = |values: &[&Value]| combine_values(Kind::Flag, values);
        assert_eq!(any(&[&t, &t]), Combined::Value(Value::Bool(true)));
        assert_eq!(any(&[&f, &t]), Combined::Value(Value::Bool(true)));
        assert_eq!(any(&[&f, &f]), Combined::Value(Value::Bool(false)));
        // Summed with counts, a flag counts one when up.
        let (one, minus) = (Value::Unsigned(1), Value::Signed(-5));
        let sum = |values: &[&Value]| combine_values(Kind::Counter, values);
        assert_eq!(sum(&[&t, &t, &one]), Combined::Value(Value::Unsigned(3)));
        assert_eq!(sum(&[&t, &minus]), Combined::Value(Value::Signed(-4)));
    }

    #[test]
    fn rules_by_kind() {
        let files = [
            worker("/d/web-1-1.mmstats", 1, 5, 0.5, false, ""),
            worker("/d/web-1-2.mmstats", 1, 7, 0.0, true, "idle"),
            worker("/d/web-2-3.mmstats", 2, 1, 1.5, false, "busy"),
        ];
        let all = combine(&files);
        let v = |x| Combined::Value(x);
        assert_eq!(get(&all, "hits"), &v(Value::Unsigned(13)));
        assert_eq!(get(&all, "queue"), &v(Value::Signed(-3)));
        // The file that never timed anything (0.0) is left out of the mean.
        assert_eq!(get(&all, "latency"), &v(Value::Float(1.0)));
        assert_eq!(get(&all, "up"), &v(Value::Bool(true)));
        assert_eq!(
            get(&all, "state"),
            &Combined::Distinct(vec![Value::Text("idle".into()), Value::Text("busy".into())])
        );
        assert_eq!(
            get(&all, "sys.pid"),
            &Combined::Distinct(vec![Value::Unsigned(1), Value::Unsigned(2)])
        );
        assert_eq!(get(&all, "state").to_string(), "idle|busy");
        assert_eq!(all[0].label, "sys.pid");
        assert_eq!(all.iter().find(|a| a.label == "hits").unwrap().files, 3);

        let processes = by_process(&files);
        assert_eq!(
            processes.iter().map(|g| g.key).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        let first = processes[0].combine();
        assert_eq!(get(&first, "hits"), &v(Value::Unsigned(12)));
        assert_eq!(get(&first, "sys.pid"), &v(Value::Unsigned(1)));
        assert_eq!(get(&first, "state"), &v(Value::Text("idle".into())));
        assert_eq!(
            combine_values(Kind::Text, &[&Value::Text(String::new())]),
            v(Value::Text(String::new()))
        );
        let commands = by_command(&files);
        assert_eq!(commands.len(), 1);
        assert_eq!(commands[0].key, "web");
    }

    #[test]
    fn files_of_different_owners_never_share_a_group() {
        let mut files = [
            worker("/d/web-1-1.mmstats", 1, 5, 0.5, false, ""),
            worker("/d/web-1-2.mmstats", 1, 7, 0.0, true, "idle"),
            worker(
                "/d/web-4000000-4000000.mmstats",
                4_000_000,
                1 << 50,
                1.5,
                false,
                "",
            ),
        ];
        files[0].owner = Some(0);
        files[1].owner = Some(0);
        files[2].owner = Some(65534);
        let groups = by_owner_and_command(&files);
        let keys: Vec<_> = groups.iter().map(|g| g.key.clone()).collect();
        assert_eq!(
            keys,
            [
                (Some(0), "web".to_string()),
                (Some(65534), "web".to_string())
            ]
        );
        let root = groups[0].combine();
        assert_eq!(get(&root, "hits"), &Combined::Value(Value::Unsigned(12)));
        let other = groups[1].combine();
        assert_eq!(
            get(&other, "hits"),
            &Combined::Value(Value::Unsigned(1 << 50))
        );
    }

    #[test]
    fn unknown_kinds_follow_the_value_type_and_the_rules() {
        let files = [
            snap(
                "/d/a.mmstats",
                vec![
                    stat("n", Kind::Unknown, Value::Unsigned(2)),
                    stat("d", Kind::Unknown, Value::Float(2.0)),
                    stat("b", Kind::Unknown, Value::Bool(false)),
                ],
            ),
            snap(
                "/d/b.mmstats",
                vec![
                    stat("n", Kind::Unknown, Value::Unsigned(3)),
                    stat("d", Kind::Unknown, Value::Float(4.0)),
                    stat("b", Kind::Unknown, Value::Bool(true)),
                ],
            ),
        ];
        let all = combine(&files);
        assert_eq!(all[0].kind, Kind::Gauge);
        assert_eq!(get(&all, "n"), &Combined::Value(Value::Unsigned(5)));
        assert_eq!(get(&all, "d"), &Combined::Value(Value::Float(3.0)));
        assert_eq!(get(&all, "b"), &Combined::Value(Value::Bool(true)));
        let counters = Rules {
            unknown_integer: Kind::Counter,
        };
        let mut poller = Poller::with_rules(counters);
        poller.step(&files, &[]);
        let again = poller.step(&files, &[]);
        assert_eq!(get(&again, "n"), &Combined::Value(Value::Unsigned(0)));
        let mut gauges = Poller::new();
        gauges.step(&files, &[]);
        assert_eq!(
            get(&gauges.step(&files, &[]), "n"),
            &Combined::Value(Value::Unsigned(5))
        );
    }

    #[test]
    fn a_counter_that_went_down_restarted_and_its_change_is_its_value() {
        let (f, u, i) = (Value::Float, Value::Unsigned, Value::Signed);
        assert_eq!(change(Some(&f(5.0)), &f(7.5)), Some(f(2.5)));
        assert_eq!(change(Some(&f(5.0)), &f(2.0)), Some(f(2.0)));
        assert_eq!(change(Some(&u(5)), &u(2)), Some(u(2)));
        assert_eq!(change(Some(&i(5)), &i(2)), Some(u(2)));
        assert_eq!(change(Some(&i(-5)), &i(-2)), Some(u(3)));
        assert_eq!(change(None, &f(4.0)), Some(f(4.0)));
        assert_eq!(change(Some(&f(1.0)), &Value::Text("x".into())), None);
    }

    #[test]
    fn modes() {
        let (a, b, z) = (Value::Unsigned(4), Value::Unsigned(2), Value::Unsigned(0));
        let all = [&a, &b, &z];
        let run = |name: &str| Mode::parse(name).unwrap().apply(&all).unwrap();
        assert_eq!(run("sum"), Some(Value::Unsigned(6)));
        assert_eq!(run("avg"), Some(Value::Float(2.0)));
        assert_eq!(run("max"), Some(Value::Unsigned(4)));
        assert_eq!(run("min"), Some(Value::Unsigned(0)));
        assert_eq!(run("one"), Some(Value::Unsigned(4)));
        assert_eq!(run("nonzero-min"), Some(Value::Unsigned(2)));
        assert_eq!(run("nonzero-avg"), Some(Value::Float(3.0)));
        assert_eq!(Mode::NonzeroAvg.apply(&[&z]).unwrap(), None);
        // The largest wherever it is, and no sum of nothing.
        assert_eq!(Mode::Max.apply(&[&b, &a, &z]).unwrap(), Some(a.clone()));
        assert_eq!(Mode::Sum.apply(&[]).unwrap(), None);
        let text = Value::Text("x".into());
        assert!(Mode::Sum.apply(&[&text]).is_err());
        assert_eq!(Mode::One.apply(&[&text]).unwrap(), Some(text.clone()));
        assert_eq!(
            Mode::Sum.apply(&[&Value::Float(0.5), &a]).unwrap(),
            Some(Value::Float(4.5))
        );
        // The sum is the one of the per-kind rules: exact for signed integers.
        assert_eq!(
            Mode::Sum.apply(&[&Value::Signed(-5), &a]).unwrap(),
            Some(Value::Signed(-1))
        );
        assert!(Mode::parse("median").is_none());
        // Of equal numbers the first is given, as it was written: 3 before
        // 3.0 is 3, 3.0 before 3 is 3.0, for the largest and the smallest.
        let (int, float) = (Value::Unsigned(3), Value::Float(3.0));
        for mode in [Mode::Max, Mode::Min, Mode::NonzeroMin] {
            assert_eq!(mode.apply(&[&int, &float]).unwrap(), Some(int.clone()));
            assert_eq!(mode.apply(&[&float, &int]).unwrap(), Some(float.clone()));
        }
    }

    #[test]
    fn sums_saturate_and_mixed_types_still_add_up() {
        let big = Value::Unsigned(u64::MAX);
        assert_eq!(sum(&[&big, &big]), Value::Unsigned(u64::MAX));
        assert_eq!(
            sum(&[&Value::Unsigned(1), &Value::Float(0.5)]),
            Value::Float(1.5)
        );
        assert_eq!(
            sum(&[&Value::Unsigned(1), &Value::Signed(-3)]),
            Value::Signed(-2)
        );
        let text = Value::Text("x".into());
        assert_eq!(
            combine_values(Kind::Counter, &[&Value::Unsigned(1), &text]),
            Combined::Distinct(vec![Value::Unsigned(1), text.clone()])
        );
        assert_eq!(
            combine_values(Kind::Timer, &[&Value::Float(0.0)]),
            Combined::Value(Value::Float(0.0))
        );
    }

    fn counter_file(path: &str, created: f64, hits: u64) -> Snapshot {
        snap(
            path,
            vec![
                stat("sys.created", Kind::Static, Value::Float(created)),
                stat("hits", Kind::Counter, Value::Unsigned(hits)),
                stat("queue", Kind::Gauge, Value::Unsigned(hits)),
            ],
        )
    }

    #[test]
    fn poller_changes_survive_new_vanished_restarted_and_replaced_files() {
        let mut p = Poller::new();
        let hits = |a: &[Aggregate]| get(a, "hits").clone();
        let n = |x| Combined::Value(Value::Unsigned(x));
        let a = |h| counter_file("/d/a", 1.0, h);
        let b = |h| counter_file("/d/b", 1.0, h);
        // First step: whole values.
        assert_eq!(hits(&p.step(&[a(100), b(40)], &[])), n(140));
        // Both move on.
        let s = p.step(&[a(107), b(45)], &[]);
        assert_eq!(hits(&s), n(12));
        // Gauges are values, never changes.
        assert_eq!(get(&s, "queue"), &n(152));
        // b vanishes: its 45 must not come off the sum.
        assert_eq!(hits(&p.step(&[a(110)], &[])), n(3));
        // c appears with 5 already counted.
        let c = counter_file("/d/c", 1.0, 5);
        assert_eq!(hits(&p.step(&[a(110), c.clone()], &[])), n(5));
        // a restarts (its counter went down): its new value is all new.
        assert_eq!(hits(&p.step(&[a(2), c.clone()], &[])), n(2));
        // a is replaced by a new writer under the same name (another
        // creation time) whose counter is already past the old value.
        let a2 = counter_file("/d/a", 2.0, 50);
        assert_eq!(hits(&p.step(&[a2.clone(), c.clone()], &[])), n(50));
        // c cannot be read once: its state is kept, no double count after.
        assert_eq!(
            hits(&p.step(std::slice::from_ref(&a2), &[PathBuf::from("/d/c")])),
            n(0)
        );
        let c_later = counter_file("/d/c", 1.0, 9);
        assert_eq!(hits(&p.step(&[a2, c_later], &[])), n(4));
    }

    #[test]
    fn change_of_other_types() {
        assert_eq!(
            change(Some(&Value::Signed(-5)), &Value::Signed(-2)),
            Some(Value::Unsigned(3))
        );
        assert_eq!(
            change(Some(&Value::Signed(5)), &Value::Signed(2)),
            Some(Value::Unsigned(2))
        );
        assert_eq!(
            change(Some(&Value::Float(1.5)), &Value::Float(2.0)),
            Some(Value::Float(0.5))
        );
        assert_eq!(change(None, &Value::Text("x".into())), None);
    }

    #[test]
    fn commands_from_file_names() {
        let c = |p: &str| command_of(Path::new(p));
        assert_eq!(c("/tmp/webserver-812-815.mmstats"), "webserver");
        assert_eq!(c("my-app-12.mmstats"), "my-app");
        assert_eq!(c("/x/queue.mmstats"), "queue");
        assert_eq!(c("-1-2.mmstats"), "-1-2");
        assert_eq!(c("a-1-2-3.mmstats"), "a-1");
        assert_eq!(c("a-b.mmstats"), "a-b");
        assert_eq!(c("/s/webserver-ns4026532178-1-7.mmstats"), "webserver");
        assert_eq!(c("web-ns12-1.mmstats"), "web");
        assert_eq!(c("web-ns12.mmstats"), "web-ns12");
        assert_eq!(c("-ns12-1-2.mmstats"), "-ns12-1-2");
    }

    #[test]
    fn minimums_and_maximums_take_the_extremes_not_the_sum() {
        let files = [
            snap(
                "/s/a-1-1.mmstats",
                vec![
                    stat("size.min", Kind::Minimum, Value::Float(3.0)),
                    stat("size.max", Kind::Maximum, Value::Float(5.0)),
                ],
            ),
            snap(
                "/s/a-1-2.mmstats",
                vec![
                    stat("size.min", Kind::Minimum, Value::Float(1.0)),
                    stat("size.max", Kind::Maximum, Value::Float(9.0)),
                ],
            ),
        ];
        let all = combine(&files);
        assert_eq!(all[0].combined, Combined::Value(Value::Float(1.0)));
        assert_eq!(all[1].combined, Combined::Value(Value::Float(9.0)));
    }
}

/// The poller's label choices and [`select`], over files laid out by a
/// run-time schema: counters, a gauge, a text, and families of counters,
/// histograms and texts.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod selection_tests {
    use super::*;
    use crate::labels::Selector;
    use crate::{Counter, Histogram as HistogramField, Schema, Text};

    const METHODS: &[(&str, &[&str])] = &[("method", &["get", "post"])];

    /// A file with `hits`, `queue`, `state` and the three families, its
    /// `latency` members having recorded `get` and `post`.
    fn file(dir: &std::path::Path, name: &str, hits: u64, get: &[f64], post: &[f64]) -> Snapshot {
        let model = Schema::new()
            .defaults(false)
            .counter("hits")
            .gauge::<i64>("queue")
            .text("state")
            .family::<Counter>("responses", METHODS)
            .family::<HistogramField>("latency", METHODS)
            .family::<Text<8>>("mode", METHODS)
            .build()
            .unwrap();
        let stats = model.builder().dir(dir).file(name).create().unwrap();
        stats.get::<Counter>("hits").unwrap().incr_by(hits);
        stats.get::<crate::Gauge<i64>>("queue").unwrap().set(2);
        stats.get::<Text>("state").unwrap().set("on");
        let responses = stats.family::<Counter>("responses").unwrap();
        responses.get(&["get"]).unwrap().incr_by(hits);
        responses.get(&["post"]).unwrap().incr_by(1);
        let latency = stats.family::<HistogramField>("latency").unwrap();
        for &v in get {
            latency.get(&["get"]).unwrap().record(v);
        }
        for &v in post {
            latency.get(&["post"]).unwrap().record(v);
        }
        let mode = stats.family::<Text<8>>("mode").unwrap();
        mode.get(&["get"]).unwrap().set("fast");
        mode.get(&["post"]).unwrap().set("slow");
        crate::reader::read_path(stats.path().unwrap()).unwrap()
    }

    fn two_files() -> (tempfile::TempDir, Vec<Snapshot>) {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            file(dir.path(), "a.mmstats", 10, &[0.1, 0.2], &[0.3]),
            file(dir.path(), "b.mmstats", 5, &[0.4], &[]),
        ];
        (dir, files)
    }

    fn labels(aggregates: &[Aggregate]) -> Vec<&str> {
        let mut labels: Vec<&str> = aggregates.iter().map(|a| a.label.as_str()).collect();
        labels.sort_unstable();
        labels
    }

    #[test]
    fn a_poller_combines_only_the_labels_or_members_it_is_asked_for() {
        let (_dir, files) = two_files();
        let all = Poller::new().step(&files, &[]);
        assert!(all.len() > 8, "{:?}", labels(&all));
        let hits = Poller::new().only(["hits".to_string()]).step(&files, &[]);
        assert_eq!(labels(&hits), ["hits"]);
        assert_eq!(get_value(&hits, "hits"), Some(Value::Unsigned(15)));
        let family = Poller::new()
            .only_selected(vec![Selector::parse("responses").unwrap()])
            .step(&files, &[]);
        assert_eq!(
            labels(&family),
            [r#"responses{method="get"}"#, r#"responses{method="post"}"#]
        );
        let member = Poller::new()
            .only_selected(vec![Selector::parse(r#"latency{method="post"}"#).unwrap()])
            .step(&files, &[]);
        assert_eq!(labels(&member), [r#"latency{method="post"}"#]);
    }

    fn get_value(aggregates: &[Aggregate], label: &str) -> Option<Value> {
        match &aggregates.iter().find(|a| a.label == label)?.combined {
            Combined::Value(v) => Some(v.clone()),
            _ => None,
        }
    }

    #[test]
    fn select_gives_a_label_or_its_members_added_up_merged_or_distinct() {
        let (_dir, files) = two_files();
        let all = Rules::default().combine(&files);
        let select = |text: &str| select(&all, &Selector::parse(text).unwrap());
        // A label of its own.
        assert_eq!(select("hits"), Some(Combined::Value(Value::Unsigned(15))));
        assert_eq!(
            select(r#"responses{method="post"}"#),
            Some(Combined::Value(Value::Unsigned(2)))
        );
        // Members that are numbers, added up.
        assert_eq!(
            select("responses"),
            Some(Combined::Value(Value::Unsigned(17)))
        );
        // Members that are histograms, merged: every value of both files.
        match select("latency") {
            Some(Combined::Histogram(h)) => assert_eq!(h.total(), 4),
            other => panic!("{other:?}"),
        }
        // Members that are texts: each distinct value once, in order.
        assert_eq!(
            select("mode"),
            Some(Combined::Distinct(vec![
                Value::Text("fast".into()),
                Value::Text("slow".into()),
            ]))
        );
        assert_eq!(select("nothing"), None);
        assert_eq!(select(r#"responses{method="put"}"#), None);
    }
}
