//! The recorder: samples stats files into a history store
//! ([`crate::mstore`]), the library side of `mmstats record`.
//!
//! # Series
//!
//! Each sample reads every file that matches (through a
//! [`Collector`]), groups the files, combines each group's values of every
//! label by the rules of [`aggregate`] (the rules `poll` uses), and writes
//! one point per group and label. The metric ("series") name says which
//! group:
//!
//! | [`By`] | name | group |
//! | --- | --- | --- |
//! | `Cmd` (the default) | `cmd:<command>:<label>` | every file of a command, all its processes and threads; the command comes from the file name (`webserver-812-815.mmstats` is `webserver`) |
//! | `Pid` | `pid:<pid>:<label>` | every file of one process (its threads), by the file's `sys.pid` |
//! | `File` | `file:<name>:<label>` | one file, named without `.mmstats` |
//!
//! The files of another user ([`Snapshot::owner`]), which a recorder reads
//! only when asked ([`Recorder::all_users`]), are never combined with this
//! user's: their groups are their owner's, named with `@<uid>` after the
//! group, `cmd:webserver@65534:hits`. A user's own series never carry the
//! suffix, so another user cannot write into them.
//!
//! # Bounds
//!
//! A chunk of the store holds at most [`Recorder::max_series`] series
//! (default [`MAX_SERIES`]): once that many have points in the chunk being
//! written, the points of further new series are left out, reported, until
//! the next chunk begins. A file of many labels cannot make the store grow
//! without bound, and series that come and go (processes that restart) are
//! recorded again in later chunks.
//!
//! # Values
//!
//! | kind | stored as |
//! | --- | --- |
//! | counter | `u64`, the sum of the files' counters as they stand (cumulative; `query --rate` turns it into a rate) |
//! | gauge | `i64`, the sum |
//! | average, timer, minimum, maximum | `f64` |
//! | flag | `u64`, 1 if any file has it set, else 0 |
//! | histogram | `<name>:count` (`u64`, cumulative) and `<name>:sum` (`f64`, cumulative), and one `f64` series `<name>:<q>` per quantile asked for (default `p50` and `p99`, see [`Recorder::quantiles`]) over each interval, from the change of the buckets since the previous sample ([`window_points`]) |
//! | text, static, sequence, histogram part | not recorded |
//!
//! Integers of unknown kind (files without metadata) are gauges unless the
//! [`Rules`] say otherwise; floats of unknown kind are averages. A float
//! counter or gauge is stored as `f64`. A series keeps the type of its
//! first point: a later point of another type is reported once and left
//! out, as is a gauge sum beyond the range of `i64`.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # use mmstats::MmStats;
//! # #[derive(MmStats)]
//! # struct S { hits: mmstats::Counter }
//! # let stats = S::builder().dir(dir.path()).cmd("web").create()?;
//! # stats.hits.incr_by(3);
//! use mmstats::record::{open_or_create, Recorder};
//! let store = open_or_create(&dir.path().join("history"), 1000, 3600, 1_800_000_000_000)?;
//! let mut recorder = Recorder::new(store, vec![dir.path().display().to_string()]);
//! let sample = recorder.sample(0)?;
//! assert_eq!(sample.files, 1);
//! let mut reader = mmstats::mstore::Reader::open(&dir.path().join("history"))?;
//! let points = reader.get::<u64>("cmd:web:hits", 0, 1)?;
//! assert_eq!(points.get(0), Some(3));
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::aggregate::{self, Aggregate, Combined, Rules};
use crate::collect::Collector;
use crate::format::{Kind, Record};
use crate::mstore::{self, Options, Point, Store};
use crate::reader::{Histogram, Limits, Snapshot, Value};

/// The most series a chunk of the store takes by default (see the module
/// docs).
pub const MAX_SERIES: usize = 10_000;

/// How files are grouped into series (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum By {
    /// One series per command and label.
    Cmd,
    /// One series per process and label.
    Pid,
    /// One series per file and label.
    File,
}

/// Why a store could not be opened for recording.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store itself failed.
    #[error(transparent)]
    Store(#[from] mstore::Error),
    /// The store exists with another interval.
    #[error(
        "{}: this store takes a point every {}, not every {}; record with --interval {} or into another store",
        dir.display(),
        crate::time::format_duration_ms(*store),
        crate::time::format_duration_ms(*asked),
        crate::time::format_duration_ms(*store)
    )]
    WrongInterval {
        /// The store's directory.
        dir: PathBuf,
        /// Its interval, in milliseconds.
        store: u64,
        /// The interval asked for.
        asked: u64,
    },
    /// The directory holds files that are not a store's.
    #[error("{}: not a history store, and not empty ({found} is there); give a new or empty directory", dir.display())]
    NotAStore {
        /// The directory.
        dir: PathBuf,
        /// A file found in it.
        found: String,
    },
}

/// Opens the store in `dir`, which must take a point every `interval` ms,
/// or creates it with slot 0 at `now` rounded down to the interval and
/// `chunk_size` points per series per chunk. A new store goes into a new or
/// empty directory (or one left by a creation that was cut short), never
/// among other files.
pub fn open_or_create(
    dir: &Path,
    interval: u64,
    chunk_size: u64,
    now: u64,
) -> Result<Store, Error> {
    if dir.join("mstore.meta").exists() {
        let store = Store::open(dir)?;
        let info = store.info();
        if info.resolution != interval {
            return Err(Error::WrongInterval {
                dir: dir.to_path_buf(),
                store: info.resolution,
                asked: interval,
            });
        }
        return Ok(store);
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        let foreign = entries.filter_map(Result::ok).find(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !matches!(name.as_ref(), "chunks" | "metrics.list" | "lock") && !name.ends_with(".tmp")
        });
        if let Some(entry) = foreign {
            return Err(Error::NotAStore {
                dir: dir.to_path_buf(),
                found: entry.file_name().to_string_lossy().into_owned(),
            });
        }
    }
    let start = now
        .checked_div(interval)
        .and_then(|n| n.checked_mul(interval))
        .unwrap_or(now);
    let options = Options {
        chunk_size,
        resolution: interval,
        start_time: start,
        max_open_chunks: 4,
    };
    Ok(Store::create(dir, options)?)
}

/// The point to record for a combined value of a label of `kind`, by the
/// rules in the module docs; `None` for what is not recorded.
pub fn point(kind: Kind, combined: &Combined) -> Option<Point> {
    let Combined::Value(value) = combined else {
        return None;
    };
    match (kind.meaning().record, value) {
        (Record::Not | Record::Quantiles, _) | (_, Value::Text(_) | Value::Counts(_)) => None,
        (_, Value::Float(x)) => Some(Point::F64(*x)),
        (Record::Float, v) => v.as_f64().map(Point::F64),
        (Record::Flag, v) => Some(Point::U64(u64::from(v.as_f64().is_some_and(|x| x != 0.0)))),
        (Record::Total, Value::Unsigned(n)) => Some(Point::U64(*n)),
        (Record::Total, Value::Bool(b)) => Some(Point::U64(u64::from(*b))),
        (Record::Total, Value::Signed(n)) => Some(Point::I64(*n)),
        // Levels: one type whatever the sign, so a gauge that goes below
        // zero stays one series; a sum beyond i64 is left out (reported).
        (Record::Level, Value::Unsigned(n)) => Some(Point::I64(i64::try_from(*n).ok()?)),
        (Record::Level, Value::Signed(n)) => Some(Point::I64(*n)),
        (Record::Level, Value::Bool(b)) => Some(Point::I64(i64::from(*b))),
    }
}

/// The series of one sample of `snapshots`, read by the user `me`: name
/// and point, in a stable order (see the module docs for the names; the
/// files of owners other than `me` are grouped apart, under `@<uid>`).
pub fn series(snapshots: &[Snapshot], by: &[By], rules: Rules, me: u32) -> Vec<(String, Point)> {
    series_and_histograms(snapshots, by, rules, me).0
}

/// As [`series`], with each histogram's series named `<name>:count` (its
/// count, cumulative) and `<name>:sum` (its sum, cumulative), and the
/// histograms themselves, by `<name>`, for the quantiles over the interval
/// (see [`Recorder::quantiles`]).
pub fn series_and_histograms(
    snapshots: &[Snapshot],
    by: &[By],
    rules: Rules,
    me: u32,
) -> (Vec<Named<Point>>, Vec<Named<Histogram>>) {
    let mut out = Vec::new();
    let mut histograms = Vec::new();
    let mut add = |prefix: String, aggregates: Vec<Aggregate>| {
        for a in aggregates {
            if let Combined::Histogram(h) = a.combined {
                if a.kind.meaning().record == Record::Quantiles {
                    let name = format!("{prefix}:{}", a.label);
                    out.push((format!("{name}:count"), Point::U64(h.count)));
                    out.push((format!("{name}:sum"), Point::F64(h.sum)));
                    histograms.push((name, h));
                }
                continue;
            }
            if let Some(p) = point(a.kind, &a.combined) {
                out.push((format!("{prefix}:{}", a.label), p));
            }
        }
    };
    let tag = |owner: Option<u32>| match owner {
        Some(owner) if owner != me => format!("@{owner}"),
        _ => String::new(),
    };
    if by.contains(&By::Cmd) {
        for group in aggregate::by_owner_and_command(snapshots) {
            let (owner, cmd) = &group.key;
            add(
                format!("cmd:{cmd}{}", tag(*owner)),
                rules.combine(group.snapshots.iter().copied()),
            );
        }
    }
    if by.contains(&By::Pid) {
        let owners: std::collections::BTreeSet<Option<u32>> =
            snapshots.iter().map(|s| s.owner).collect();
        for owner in owners {
            let files: Vec<&Snapshot> = snapshots.iter().filter(|s| s.owner == owner).collect();
            for (pid, group) in by_process_refs(&files) {
                // Files that name no process have no pid series.
                if let Some(pid) = pid {
                    add(
                        format!("pid:{pid}{}", tag(owner)),
                        rules.combine(group.iter().copied()),
                    );
                }
            }
        }
    }
    if by.contains(&By::File) {
        for snapshot in snapshots {
            let name = snapshot
                .path
                .as_deref()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            let name = name.strip_suffix(".mmstats").unwrap_or(&name).to_string();
            add(
                format!("file:{name}{}", tag(snapshot.owner)),
                rules.combine([snapshot]),
            );
        }
    }
    (out, histograms)
}

/// A series' name and what goes in it.
pub type Named<T> = (String, T);

/// The quantiles a recorder records of every histogram by default.
pub const DEFAULT_QUANTILES: [&str; 2] = ["p50", "p99"];

/// The points of the quantiles `quantiles` of histogram `name` over the
/// interval from `before` (the same group's histogram at the previous
/// sample) to `now`: the change of each bucket, modulo 2^32 (exact while
/// fewer than 2^32 values fall in one bucket in one interval). None when
/// there is no previous sample, when the two do not follow each other
/// (other buckets, a count that went down) or when the change of the
/// buckets is not the change of the count (a file of the group vanished
/// or restarted): a quantile that cannot be told is left out, never
/// guessed. An interval in which nothing was recorded has no point either.
pub fn window_points(
    name: &str,
    now: &Histogram,
    before: Option<&Histogram>,
    quantiles: &[String],
) -> Vec<(String, Point)> {
    let Some(window) = before.and_then(|b| now.since(b)) else {
        return Vec::new();
    };
    if window.total() != window.count || window.count == 0 {
        return Vec::new();
    }
    quantiles
        .iter()
        .filter_map(|q| {
            let x = window.statistic(q)??;
            Some((format!("{name}:{q}"), Point::F64(x)))
        })
        .collect()
}

/// Files grouped by the process they name, as [`aggregate::by_process`]
/// groups them.
fn by_process_refs<'a>(files: &[&'a Snapshot]) -> Vec<(Option<u32>, Vec<&'a Snapshot>)> {
    let mut groups: std::collections::BTreeMap<Option<u32>, Vec<&'a Snapshot>> =
        std::collections::BTreeMap::new();
    for file in files {
        groups.entry(file.pid()).or_default().push(file);
    }
    groups.into_iter().collect()
}

/// Writes `point` into slot `slot` of series `name`.
pub fn put(store: &mut Store, name: &str, slot: u64, point: Point) -> mstore::Result<()> {
    match point {
        Point::U64(v) => store.put(name, slot, &[v]),
        Point::I64(v) => store.put(name, slot, &[v]),
        Point::F64(v) => store.put(name, slot, &[v]),
    }
}

/// What one [`Recorder::sample`] did.
#[derive(Debug, Default)]
pub struct Sample {
    /// Files read.
    pub files: usize,
    /// Series in the sample.
    pub series: usize,
    /// Points written.
    pub written: u64,
    /// What went wrong and was left out, each said once per run: files that
    /// could not be read, arguments that named nothing, series whose points
    /// do not fit them.
    pub warnings: Vec<String>,
    /// Whether some series' points were left out this time.
    pub left_out: bool,
    /// Series left out because the chunk holds [`Recorder::max_series`]
    /// series already.
    pub over_limit: usize,
    /// Files left out because another user owns them.
    pub others: usize,
    /// Chunks deleted by retention after this sample (see
    /// [`Recorder::retain`]).
    pub deleted: Vec<mstore::Deleted>,
}

/// Samples files into a store: a [`Collector`], the grouping and rules,
/// and the store.
#[derive(Debug)]
pub struct Recorder {
    store: Store,
    collector: Collector,
    by: Vec<By>,
    rules: Rules,
    warned: HashSet<String>,
    series: HashSet<String>,
    max_series: usize,
    /// The chunk being written (slot / chunk size), and the series that
    /// have points in it.
    chunk: Option<u64>,
    in_chunk: HashSet<String>,
    /// The quantiles recorded of every histogram.
    quantiles: Vec<String>,
    /// Each histogram series' histogram at the previous sample.
    histograms: HashMap<String, Histogram>,
    /// Retention: slots kept behind the newest sample, bytes the store may
    /// take.
    retain_slots: Option<u64>,
    max_bytes: Option<u64>,
    /// Whether chunks are sealed.
    compress: bool,
}

impl Recorder {
    /// A recorder of the files `paths` names (the default glob when empty)
    /// into `store`, by command and with the default rules.
    pub fn new(store: Store, paths: Vec<String>) -> Recorder {
        Recorder {
            store,
            collector: Collector::new(paths),
            by: vec![By::Cmd],
            rules: Rules::default(),
            warned: HashSet::new(),
            series: HashSet::new(),
            max_series: MAX_SERIES,
            chunk: None,
            in_chunk: HashSet::new(),
            quantiles: DEFAULT_QUANTILES.map(str::to_string).to_vec(),
            histograms: HashMap::new(),
            retain_slots: None,
            max_bytes: None,
            compress: true,
        }
    }

    /// Whether chunks are sealed (compressed): those left behind at each
    /// sample's sync, and every one at [`close`](Recorder::close). On by
    /// default; off keeps every chunk in the fixed layout (for a file
    /// system that compresses by itself).
    pub fn compress(mut self, on: bool) -> Recorder {
        self.compress = on;
        self.store.set_sealing(on);
        self
    }

    /// Retention, applied after each sample with [`Store::retain`]: whole
    /// chunks that lie wholly more than `slots` slots before the sample
    /// are deleted, then the oldest while the store takes more than
    /// `max_bytes` (the newest chunk is always kept). What was deleted is
    /// in [`Sample::deleted`].
    pub fn retain(mut self, slots: Option<u64>, max_bytes: Option<u64>) -> Recorder {
        self.retain_slots = slots;
        self.max_bytes = max_bytes;
        self
    }

    /// Records these numbers of every histogram over each interval (names
    /// as [`Histogram::statistic`] takes them: `p50`, `p99`, `p999`,
    /// `max`, ...), as series named `<name>:<quantile>`; [`DEFAULT_QUANTILES`]
    /// unless told. Names it does not know are left out.
    pub fn quantiles(mut self, quantiles: Vec<String>) -> Recorder {
        self.quantiles = quantiles
            .into_iter()
            .filter(|q| Histogram::is_statistic(q))
            .collect();
        self
    }

    /// Reads every user's files too (see
    /// [`Collector::all_users`]); their series are named apart (see the
    /// module docs).
    pub fn all_users(mut self, all: bool) -> Recorder {
        self.collector = self.collector.all_users(all);
        self
    }

    /// Reads each file within `limits`.
    pub fn limits(mut self, limits: Limits) -> Recorder {
        self.collector = self.collector.limits(limits);
        self
    }

    /// Writes at most `n` series into a chunk of the store (see the module
    /// docs).
    pub fn max_series(mut self, n: usize) -> Recorder {
        self.max_series = n;
        self
    }

    /// Groups into series by these (see [`By`]).
    pub fn by(mut self, by: Vec<By>) -> Recorder {
        self.by = by;
        self
    }

    /// Combines with these rules.
    pub fn rules(mut self, rules: Rules) -> Recorder {
        self.rules = rules;
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every series written to so far in this run.
    pub fn series_written(&self) -> usize {
        self.series.len()
    }

    /// Reads the files now and writes their points into `slot`, then syncs
    /// the store. A failure of the store itself ends the sample with the
    /// error; what only concerns one file or series is in
    /// [`Sample::warnings`].
    pub fn sample(&mut self, slot: u64) -> mstore::Result<Sample> {
        let mut sample = Sample::default();
        let me = self.collector.user();
        let collection = self.collector.collect();
        for skip in collection.skipped {
            let message = skip.to_string();
            if self.warned.insert(message.clone()) {
                sample.warnings.push(message);
            }
        }
        for failure in collection.failed {
            let message = failure.error.to_string();
            if self.warned.insert(failure.path.display().to_string()) {
                sample.warnings.push(message);
            }
        }
        sample.files = collection.files.len();
        sample.others = collection.others.len();
        for other in collection.others {
            if self
                .warned
                .insert(format!("other {}", other.path.display()))
            {
                sample.warnings.push(format!(
                    "{}: left out, another user ({}) owns it; --all-users records it apart",
                    other.path.display(),
                    other.owner
                ));
            }
        }
        let (mut points, histograms) =
            series_and_histograms(collection.files, &self.by, self.rules, me);
        let mut last = HashMap::new();
        for (name, h) in histograms {
            points.extend(window_points(
                &name,
                &h,
                self.histograms.get(&name),
                &self.quantiles,
            ));
            last.insert(name, h);
        }
        self.histograms = last;
        sample.series = points.len();
        let chunk = slot.checked_div(self.store.info().chunk_size);
        if chunk != self.chunk {
            self.chunk = chunk;
            self.in_chunk.clear();
        }
        for (name, p) in &points {
            if !self.in_chunk.contains(name) {
                if self.in_chunk.len() >= self.max_series {
                    sample.over_limit = sample.over_limit.saturating_add(1);
                    continue;
                }
                self.in_chunk.insert(name.clone());
            }
            match put(&mut self.store, name, slot, *p) {
                Ok(()) => {
                    sample.written = sample.written.saturating_add(1);
                    if !self.series.contains(name) {
                        self.series.insert(name.clone());
                    }
                }
                Err(
                    e @ (mstore::Error::WrongType { .. }
                    | mstore::Error::NameTooLong { .. }
                    | mstore::Error::EmptyName),
                ) => {
                    if self.warned.insert(name.clone()) {
                        sample
                            .warnings
                            .push(format!("{e}; its points are left out"));
                    }
                    sample.left_out = true;
                }
                Err(e) => return Err(e),
            }
        }
        if sample.over_limit > 0 {
            sample.left_out = true;
            let message = format!(
                "{} series left out: a chunk of the store takes at most {} series \
                 (until the next chunk begins, at slot {})",
                sample.over_limit,
                self.max_series,
                chunk
                    .and_then(|c| c.checked_add(1))
                    .and_then(|c| c.checked_mul(self.store.info().chunk_size))
                    .unwrap_or(u64::MAX),
            );
            if self.warned.insert(format!("over limit in chunk {chunk:?}")) {
                sample.warnings.push(message);
            }
        }
        self.store.sync()?;
        if self.retain_slots.is_some() || self.max_bytes.is_some() {
            let keep_from = self
                .retain_slots
                .map(|n| slot.saturating_add(1).saturating_sub(n));
            sample.deleted = self.store.retain(keep_from, self.max_bytes)?;
        }
        Ok(sample)
    }

    /// Makes everything written durable, seals (compresses) every chunk,
    /// the last one too, and closes the store.
    pub fn close(mut self) -> mstore::Result<()> {
        if self.compress {
            self.store.seal_all()?;
        }
        self.store.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_by_kind() {
        let v = |v| Combined::Value(v);
        assert_eq!(
            point(Kind::Counter, &v(Value::Unsigned(7))),
            Some(Point::U64(7))
        );
        assert_eq!(
            point(Kind::Gauge, &v(Value::Unsigned(7))),
            Some(Point::I64(7))
        );
        assert_eq!(point(Kind::Gauge, &v(Value::Unsigned(u64::MAX))), None);
        assert_eq!(
            point(Kind::Gauge, &v(Value::Signed(-2))),
            Some(Point::I64(-2))
        );
        assert_eq!(
            point(Kind::Timer, &v(Value::Float(0.5))),
            Some(Point::F64(0.5))
        );
        assert_eq!(
            point(Kind::Average, &v(Value::Unsigned(3))),
            Some(Point::F64(3.0))
        );
        assert_eq!(
            point(Kind::Flag, &v(Value::Bool(true))),
            Some(Point::U64(1))
        );
        assert_eq!(
            point(Kind::Flag, &v(Value::Bool(false))),
            Some(Point::U64(0))
        );
        assert_eq!(point(Kind::Text, &v(Value::Text("x".into()))), None);
        assert_eq!(point(Kind::Static, &v(Value::Unsigned(4))), None);
        assert_eq!(
            point(Kind::Counter, &Combined::Distinct(vec![Value::Unsigned(1)])),
            None
        );
    }

    #[test]
    fn a_store_with_another_interval_or_a_foreign_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("h");
        open_or_create(&store, 1000, 10, 5_000)
            .unwrap()
            .close()
            .unwrap();
        let e = open_or_create(&store, 500, 10, 5_000).unwrap_err();
        assert!(
            matches!(
                e,
                Error::WrongInterval {
                    store: 1000,
                    asked: 500,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("--interval 1s"), "{e}");
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("notes.txt"), "mine").unwrap();
        let e = open_or_create(&other, 1000, 10, 5_000).unwrap_err();
        assert!(matches!(e, Error::NotAStore { .. }), "{e}");
        assert_eq!(
            std::fs::read_to_string(other.join("notes.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn histograms_are_recorded_as_count_sum_and_the_quantiles_of_each_interval() {
        use crate::MmStats;
        #[derive(crate::MmStats)]
        #[mmstats(crate = "crate")]
        struct Web {
            #[mmstats(unit = "seconds")]
            latency: crate::Histogram,
        }
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).cmd("web").create().unwrap();
        let history = dir.path().join("history");
        let store = open_or_create(&history, 1000, 3600, 1_800_000_000_000).unwrap();
        let mut recorder =
            Recorder::new(store, vec![dir.path().display().to_string()]).quantiles(vec![
                "p50".into(),
                "p99".into(),
                "p999".into(),
                "nope".into(),
            ]);
        for _ in 0..100 {
            stats.latency.record(0.001);
        }
        recorder.sample(0).unwrap();
        for _ in 0..100 {
            stats.latency.record(0.5);
        }
        recorder.sample(1).unwrap();
        recorder.sample(2).unwrap();
        drop(recorder);
        let mut reader = crate::mstore::Reader::open(&history).unwrap();
        let count = reader.get::<u64>("cmd:web:latency:count", 0, 3).unwrap();
        assert_eq!(
            (count.get(0), count.get(1), count.get(2)),
            (Some(100), Some(200), Some(200))
        );
        let sum = reader.get::<f64>("cmd:web:latency:sum", 0, 3).unwrap();
        assert!((sum.get(1).unwrap() - 50.1).abs() < 1e-9);
        // The second interval holds only the 0.5 s values; the first has no
        // earlier sample and the third no value: no point.
        let p99 = reader.get::<f64>("cmd:web:latency:p99", 0, 3).unwrap();
        assert_eq!(p99.get(0), None);
        assert!((p99.get(1).unwrap() / 0.5 - 1.0).abs() < 0.022);
        assert_eq!(p99.get(2), None);
        assert!(reader
            .get::<f64>("cmd:web:latency:p999", 0, 3)
            .unwrap()
            .get(1)
            .is_some());
        assert!(reader.get::<f64>("cmd:web:latency:nope", 0, 3).is_err());
        // The parts are not series of their own.
        assert!(reader.get::<f64>("cmd:web:latency.sum", 0, 3).is_err());
    }
}
