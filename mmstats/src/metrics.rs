//! A recorder for the [`metrics`] crate (feature `metrics`):
//! the `counter!`, `gauge!` and `histogram!` of any library write into
//! this process's stats files, each thread into its own, with no shared
//! atomic on the path of an update.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let recorder = mmstats::metrics::Builder::new().dir(dir.path()).recorder();
//! ::metrics::with_local_recorder(&recorder, || {
//!     ::metrics::describe_counter!("jobs_done", "jobs finished");
//!     ::metrics::counter!("jobs_done", "queue" => "fast").increment(3);
//!     let load = ::metrics::gauge!("load");
//!     load.set(0.5);
//! });
//! // mmstats::metrics::install() makes it the global recorder instead.
//! // Two metrics, each registered at its first use: two files.
//! let mut snapshots = Vec::new();
//! for entry in std::fs::read_dir(dir.path())? {
//!     snapshots.push(mmstats::reader::read_path(&entry?.path())?);
//! }
//! assert_eq!(snapshots.len(), 2);
//! let jobs = snapshots
//!     .iter()
//!     .find_map(|s| s.get(r#"jobs_done{queue="fast"}"#))
//!     .ok_or("no jobs")?;
//! assert_eq!(jobs.value.to_string(), "3");
//! assert_eq!(jobs.help, "jobs finished");
//! # Ok(()) }
//! ```
//!
//! # How fields appear while the program runs
//!
//! A field of a published file never changes shape: its label, type and
//! place are written before the file gets its name, and readers rely on
//! that. So the fields that the metrics of a program make as it runs come
//! in *generations*: a generation is a run-time [`Schema`] of the metrics
//! registered (by any thread) since the generation before, at most
//! [`Builder::capacity`] of them, laid out and published whole. A thread
//! creates a generation's file the first time it updates one of that
//! generation's metrics, and keeps it until it ends, as with
//! [`MmStats::with_thread`](crate::MmStats::with_thread); a reader sees a
//! generation's file complete, or not at all, never a half-made field. The
//! files of one thread are named by the template with the generation in
//! `{MODEL}` (`metrics.0`, `metrics.1`, ...); the tools sum them with the
//! thread's other files, as they sum threads.
//!
//! A program that registers its metrics when it starts has one generation;
//! one whose label values keep changing makes a generation, and a file per
//! thread that uses it, each time a batch of new label sets appears. When
//! [`Builder::max_generations`] is reached, metrics registered after that
//! are not recorded: their handles do nothing,
//! [`Recorder::unrecorded`] counts them, and the first is reported once on
//! standard error.
//!
//! A metric's field is labelled with its name and its labels as a
//! family's member is, `jobs_done{queue="fast"}`, so readers group the
//! label sets of one name. Counters are [`Counter`]s, gauges
//! `Gauge<f64>`, histograms [`Histogram`]s of the default geometry.
//! `describe_*` become the help text and unit of fields made after it
//! (describe a metric before its first use, as the `metrics` crate
//! advises). A label name that is not a Prometheus label name has each
//! other character replaced by `_`; one the tools use (`le`, `cmd`, ...)
//! gets a `_` after it. A metric whose label is taken by a metric of
//! another kind, or too long for a file, is not recorded (counted as
//! above).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ::metrics::{CounterFn, GaugeFn, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};

use crate::fields::{Counter, Gauge, Histogram};
use crate::labels::{escape, is_label_name};
use crate::schema::{RuntimeModel, RuntimeStats, Schema, RESERVED_KEYS};

/// The generation size by default: metrics per file.
pub const DEFAULT_CAPACITY: usize = 1024;

/// The most generations by default.
pub const DEFAULT_MAX_GENERATIONS: usize = 256;

/// Settings of the recorder: where the files go, how many metrics a
/// generation holds, how many generations there may be.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `install` or `recorder` is called"]
pub struct Builder {
    dir: Option<PathBuf>,
    file: Option<String>,
    cmd: Option<String>,
    name: String,
    capacity: usize,
    max_generations: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: the directory and file name of
    /// [`crate::Builder`], the model name `metrics`.
    pub fn new() -> Builder {
        Builder {
            dir: None,
            file: None,
            cmd: None,
            name: "metrics".to_string(),
            capacity: DEFAULT_CAPACITY,
            max_generations: DEFAULT_MAX_GENERATIONS,
        }
    }

    /// The directory of the files (see [`crate::Builder::dir`]).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The file name template (see [`crate::Builder::file`]); `{MODEL}`
    /// is the name and the generation, `metrics.0`.
    pub fn file(mut self, template: impl Into<String>) -> Self {
        self.file = Some(template.into());
        self
    }

    /// The command the files say they belong to (see
    /// [`crate::Builder::cmd`]).
    pub fn cmd(mut self, cmd: impl Into<String>) -> Self {
        self.cmd = Some(cmd.into());
        self
    }

    /// The model name in `{MODEL}` and `sys.model`, before the generation
    /// (`metrics` by default).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How many metrics one generation holds at most (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How many generations there may be (at least 1).
    pub fn max_generations(mut self, generations: usize) -> Self {
        self.max_generations = generations.max(1);
        self
    }

    /// The recorder, to install with [`::metrics::set_global_recorder`] or
    /// use with [`::metrics::with_local_recorder`].
    pub fn recorder(self) -> Recorder {
        Recorder {
            shared: Arc::new(Shared {
                settings: self,
                registry: Mutex::new(Registry::default()),
            }),
        }
    }

    /// Installs the recorder as the process's global recorder.
    pub fn install(self) -> Result<Recorder, InstallError> {
        let recorder = self.recorder();
        ::metrics::set_global_recorder(recorder.clone()).map_err(|_| InstallError)?;
        Ok(recorder)
    }
}

/// Installs a recorder with the default settings as the global recorder.
pub fn install() -> Result<Recorder, InstallError> {
    Builder::new().install()
}

/// A global recorder was installed already.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a global metrics recorder is installed already")]
pub struct InstallError;

/// The recorder: implements [`::metrics::Recorder`].
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

struct Shared {
    settings: Builder,
    registry: Mutex<Registry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

struct Entry {
    kind: Kind,
    name: String,
    label: String,
}

/// What every thread shares, touched only when a metric is registered or
/// a thread meets a generation it has no file of yet.
#[derive(Default)]
struct Registry {
    /// Metric id by kind and key; ids are dense, in registration order.
    ids: HashMap<(Kind, Key), usize>,
    entries: Vec<Entry>,
    /// Each metric's handle, given again to every `register_*` of it.
    handles: Vec<Arc<Handle>>,
    /// The kind that has each label.
    labels: HashMap<String, Kind>,
    /// Unit and help by metric name and kind.
    descriptions: HashMap<(Kind, String), (Option<Unit>, String)>,
    /// Each generation's model and first id; generation `g` holds ids
    /// `generations[g].0 .. generations[g + 1].0` (the last, to `covered`).
    generations: Vec<(usize, RuntimeModel)>,
    covered: usize,
    unrecorded: u64,
    told: bool,
}

impl Recorder {
    /// How many metrics were not recorded (a label taken by another kind,
    /// too long, or past the last generation).
    pub fn unrecorded(&self) -> u64 {
        self.registry().unrecorded
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic elsewhere while holding the lock leaves the registry
        // consistent (every change is one push or insert).
        self.shared
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(&self, kind: Kind, key: &Key) -> Option<Arc<Handle>> {
        let mut registry = self.registry();
        if let Some(&id) = registry.ids.get(&(kind, key.clone())) {
            return registry.handles.get(id).cloned();
        }
        let label = field_label(key);
        let taken = registry.labels.get(&label).is_some_and(|k| *k != kind);
        let too_long = label.len() > crate::format::MAX_LABEL_LEN - 16;
        let full = registry.generations.len() >= self.shared.settings.max_generations;
        if taken || too_long || full {
            registry.unrecorded += 1;
            if !registry.told {
                registry.told = true;
                eprintln!(
                    "mmstats: metric {label:?} is not recorded ({}); later ones are counted by Recorder::unrecorded",
                    if taken {
                        "another kind of metric has its label"
                    } else if too_long {
                        "its label is too long"
                    } else {
                        "the last generation is full"
                    }
                );
            }
            return None;
        }
        let id = registry.entries.len();
        registry.entries.push(Entry {
            kind,
            name: key.name().to_string(),
            label: label.clone(),
        });
        registry.labels.insert(label, kind);
        registry.ids.insert((kind, key.clone()), id);
        let handle = Arc::new(Handle {
            id,
            owner: Arc::as_ptr(&self.shared) as usize,
            shared: Arc::downgrade(&self.shared),
        });
        registry.handles.push(Arc::clone(&handle));
        Some(handle)
    }

    fn describe(&self, kind: Kind, name: KeyName, unit: Option<Unit>, help: SharedString) {
        self.registry()
            .descriptions
            .insert((kind, name.as_str().to_string()), (unit, help.to_string()));
    }
}

impl ::metrics::Recorder for Recorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(Kind::Counter, key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(Kind::Gauge, key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(Kind::Histogram, key, unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Counter {
        match self.register(Kind::Counter, key) {
            Some(handle) => ::metrics::Counter::from_arc(handle),
            None => ::metrics::Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Gauge {
        match self.register(Kind::Gauge, key) {
            Some(handle) => ::metrics::Gauge::from_arc(handle),
            None => ::metrics::Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Histogram {
        match self.register(Kind::Histogram, key) {
            Some(handle) => ::metrics::Histogram::from_arc(handle),
            None => ::metrics::Histogram::noop(),
        }
    }
}

/// A metric's field label: its name and its labels as a family member's
/// label set.
fn field_label(key: &Key) -> String {
    let mut label: String = key.name().replace('\0', "\u{fffd}");
    let mut pairs = key.labels().peekable();
    if pairs.peek().is_some() {
        label.push('{');
        for (i, pair) in pairs.enumerate() {
            if i > 0 {
                label.push(',');
            }
            label.push_str(&label_name(pair.key()));
            label.push_str("=\"");
            label.push_str(&escape(&pair.value().replace('\0', "\u{fffd}")));
            label.push('"');
        }
        label.push('}');
    }
    label
}

/// A `metrics` label key as a Prometheus label name the tools leave alone.
fn label_name(key: &str) -> String {
    if is_label_name(key) && !key.starts_with("__") && !RESERVED_KEYS.contains(&key) {
        return key.to_string();
    }
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    while name.starts_with("__") {
        name.remove(0);
    }
    if RESERVED_KEYS.contains(&name.as_str()) || !is_label_name(&name) {
        name.push('_');
    }
    if name.starts_with("__") || !is_label_name(&name) {
        name = format!("k{name}");
    }
    name
}

/// A registered metric's handle, as the `metrics` crate holds it.
struct Handle {
    id: usize,
    /// The address of the recorder's shared state: which recorder a
    /// thread's handles belong to.
    owner: usize,
    /// Weak, since the registry holds the handle.
    shared: Weak<Shared>,
}

/// One thread's files and the handles into them.
struct Local {
    // The handles come first, so that they are dropped before the files
    // they point into are unmapped.
    counters: Vec<Option<Counter>>,
    gauges: Vec<Option<Gauge<f64>>>,
    histograms: Vec<Option<Histogram>>,
    /// The files, with the generation of each.
    files: Vec<(usize, RuntimeStats)>,
    /// The fork generation the files were made in.
    fork: u64,
    /// Which recorder the handles are of (the address of its `Shared`).
    owner: usize,
}

impl Local {
    const fn new() -> Local {
        Local {
            counters: Vec::new(),
            gauges: Vec::new(),
            histograms: Vec::new(),
            files: Vec::new(),
            fork: 0,
            owner: 0,
        }
    }

    fn clear(&mut self) {
        self.counters.clear();
        self.gauges.clear();
        self.histograms.clear();
        self.files.clear();
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local::new()) };
}

impl Handle {
    /// Runs `update` with this thread's handle of the metric, making the
    /// thread's file of its generation first if need be. An update from a
    /// thread being torn down is lost.
    #[inline]
    fn with<H>(&self, pick: impl Fn(&Local) -> Option<&H>, update: impl FnOnce(&H)) {
        let mut update = Some(update);
        let _ = LOCAL.try_with(|local| {
            if let Ok(local) = local.try_borrow() {
                // `fork` was read by `fork_generation` when the state was
                // made (`with_new`), which registered the fork handler.
                if local.owner == self.owner
                    && local.fork == crate::map::fork_generation_registered()
                {
                    if let Some(handle) = pick(&local) {
                        if let Some(update) = update.take() {
                            update(handle);
                        }
                        return;
                    }
                }
            }
            if let Some(update) = update.take() {
                self.with_new(local, &pick, update);
            }
        });
    }

    #[cold]
    fn with_new<H>(
        &self,
        local: &RefCell<Local>,
        pick: &impl Fn(&Local) -> Option<&H>,
        update: impl FnOnce(&H),
    ) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let Ok(mut state) = local.try_borrow_mut() else {
            return;
        };
        let owner = self.owner;
        let fork = crate::map::fork_generation();
        if state.owner != owner || state.fork != fork {
            // Another recorder's files, or the parent's after fork():
            // this thread starts over (the files stay, with their values).
            state.clear();
            state.owner = owner;
            state.fork = fork;
        }
        self.make_file(&shared, &mut state);
        if let Some(handle) = pick(&state) {
            update(handle);
        }
    }

    /// Makes this thread's file of the generation that holds this metric,
    /// making the generation first if there is none yet.
    fn make_file(&self, shared: &Shared, state: &mut Local) {
        let (generation, first, model, kinds) = {
            let mut registry = shared
                .registry
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            while registry.covered <= self.id {
                if !make_generation(&mut registry, &shared.settings) {
                    return;
                }
            }
            let Some(g) = registry
                .generations
                .iter()
                .rposition(|(first, _)| *first <= self.id)
            else {
                return;
            };
            let first = registry.generations[g].0;
            let end = registry
                .generations
                .get(g + 1)
                .map_or(registry.covered, |(first, _)| *first);
            let kinds: Vec<Kind> = registry.entries[first..end]
                .iter()
                .map(|e| e.kind)
                .collect();
            (g, first, registry.generations[g].1.clone(), kinds)
        };
        if state.files.iter().any(|(g, _)| *g == generation) {
            return;
        }
        let settings = &shared.settings;
        let mut builder = model.builder();
        if let Some(dir) = &settings.dir {
            builder = builder.dir(dir);
        }
        if let Some(file) = &settings.file {
            builder = builder.file(file.as_str());
        }
        if let Some(cmd) = &settings.cmd {
            builder = builder.cmd(cmd.as_str());
        }
        let mut stats = match builder.create() {
            Ok(stats) => stats,
            Err(e) => {
                eprintln!(
                    "mmstats: {e}; this thread's metrics of generation {generation} are kept in memory only"
                );
                model.in_memory()
            }
        };
        let end = first + kinds.len();
        state.counters.grow(end);
        state.gauges.grow(end);
        state.histograms.grow(end);
        for (i, kind) in kinds.iter().enumerate() {
            let id = first + i;
            match kind {
                Kind::Counter => state.counters[id] = stats.take_handle::<Counter>(i),
                Kind::Gauge => state.gauges[id] = stats.take_handle::<Gauge<f64>>(i),
                Kind::Histogram => state.histograms[id] = stats.take_handle::<Histogram>(i),
            }
        }
        state.files.push((generation, stats));
    }
}

trait Grow {
    fn grow(&mut self, len: usize);
}

impl<T> Grow for Vec<Option<T>> {
    fn grow(&mut self, len: usize) {
        while self.len() < len {
            self.push(None);
        }
    }
}

/// Lays out the next generation: the metrics registered since the last
/// one, up to the capacity. False when there are none or no generation
/// may be made.
fn make_generation(registry: &mut Registry, settings: &Builder) -> bool {
    let first = registry.covered;
    if first >= registry.entries.len() || registry.generations.len() >= settings.max_generations {
        return false;
    }
    let end = registry
        .entries
        .len()
        .min(first.saturating_add(settings.capacity));
    let name = format!("{}.{}", settings.name, registry.generations.len());
    let mut schema = Schema::new().name(name);
    if let Some(dir) = &settings.dir {
        schema = schema.dir(dir.to_string_lossy());
    }
    for entry in &registry.entries[first..end] {
        // The field's name is its id: labels may repeat a declared name's
        // text in no other field, and lookups are by position anyway.
        schema = match entry.kind {
            Kind::Counter => schema.counter(entry.label.as_str()),
            Kind::Gauge => schema.gauge::<f64>(entry.label.as_str()),
            Kind::Histogram => schema.histogram(entry.label.as_str()),
        };
        if let Some((unit, help)) = registry.descriptions.get(&(entry.kind, entry.name.clone())) {
            if let Some(unit) = unit {
                schema = schema.unit(unit.as_str());
            }
            schema = schema.help(help.as_str());
        }
    }
    match schema.build() {
        Ok(model) => {
            registry.generations.push((first, model));
            registry.covered = end;
            true
        }
        Err(e) => {
            // Labels are checked at registration; a generation that still
            // cannot be built is not recorded, and the next one starts
            // after it.
            eprintln!("mmstats: metrics {first}..{end} are not recorded: {e}");
            registry.unrecorded += (end - first) as u64;
            registry.covered = end;
            false
        }
    }
}

impl CounterFn for Handle {
    #[inline]
    fn increment(&self, value: u64) {
        self.with(|l| l.counters.get(self.id)?.as_ref(), |c| c.incr_by(value));
    }

    fn absolute(&self, value: u64) {
        self.with(|l| l.counters.get(self.id)?.as_ref(), |c| c.set(value));
    }
}

impl GaugeFn for Handle {
    #[inline]
    fn increment(&self, value: f64) {
        self.with(|l| l.gauges.get(self.id)?.as_ref(), |g| g.add(value));
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.with(|l| l.gauges.get(self.id)?.as_ref(), |g| g.sub(value));
    }

    #[inline]
    fn set(&self, value: f64) {
        self.with(|l| l.gauges.get(self.id)?.as_ref(), |g| g.set(value));
    }
}

impl HistogramFn for Handle {
    #[inline]
    fn record(&self, value: f64) {
        self.with(|l| l.histograms.get(self.id)?.as_ref(), |h| h.record(value));
    }
}

#[cfg(test)]
mod tests;
