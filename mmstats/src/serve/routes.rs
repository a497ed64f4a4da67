//! What each route answers. Plain blocking code: a request in, a [`Reply`]
//! out, the files read afresh every time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::aggregate::{self, Aggregate, Combined, Mode};
use crate::collect::Collector;
use crate::discover::{self, Skip};
use crate::export::json::{float, skip_path, value as json_value};
use crate::format::{Kind, Shown};
use crate::mstore::{self, ValueType};
use crate::reader::{Snapshot, Value};
use serde_json::{json, Value as Json};

use crate::export::prometheus as prom;
use crate::export::{protobuf, series};

/// The dashboard page, and the script and style it loads.
const DASHBOARD_HTML: &str = include_str!("dashboard.html");
const DASHBOARD_JS: &str = include_str!("dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboard.css");

/// The dashboard's script, with the kinds' table ([`Kind::meaning`]) put
/// in front of it as `KINDS`, so the page graphs and rates the kinds the
/// way every other tool treats them.
fn dashboard_js() -> &'static str {
    static SCRIPT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| {
        let kinds: serde_json::Map<String, Json> = Kind::ALL
            .iter()
            .map(|kind| {
                let meaning = kind.meaning();
                let row = json!({
                    "graphed": meaning.graphed,
                    "perSecond": meaning.shown == Shown::Change,
                });
                (kind.name().to_string(), row)
            })
            .collect();
        let prelude = format!(
            "\"use strict\";\n// The kinds' table, from the server.\nconst KINDS = {};\n",
            Json::Object(kinds)
        );
        DASHBOARD_JS.replacen("\"use strict\";\n", &prelude, 1)
    })
}

/// How far back `/history/` reaches when `from` is not given, in slots.
const DEFAULT_HISTORY_SLOTS: u64 = 300;

/// Most slots of the store one `/history/METRIC` answer covers, and so
/// most points it holds: a little over a day at one slot a second. A wider
/// range is refused (400) with the limit in the message. Reading and
/// writing that many points takes milliseconds.
pub const MAX_HISTORY_POINTS: u64 = 100_000;

/// Windows the server chooses when `/history/METRIC` covers more than
/// [`MAX_HISTORY_POINTS`] slots and no `step` is given.
pub const AUTO_HISTORY_WINDOWS: u64 = 2000;

/// Most slots a `/history/METRIC?step=` answer reads: about a year at one
/// slot a second.
pub const MAX_HISTORY_STEP_RANGE: u64 = 1 << 25;

/// What an answer may cost, whatever the files hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most fields an answer is built from, summed over the files it reads
    /// (`--max-answer-fields`). Files are taken fewest fields first, so one huge
    /// file is the one left out; those left out are reported as errors and
    /// the answer says it is incomplete.
    pub max_fields: usize,
    /// Most bytes of one answer (`--max-response-bytes`). A document that
    /// can say so stops there with `"truncated": true`; one that cannot
    /// (`/stats/NAME`, `/metrics`) is an error instead.
    pub max_response_bytes: usize,
}

/// The default of [`Limits::max_fields`]: 1,000 files of 100 fields.
pub const DEFAULT_MAX_FIELDS: usize = 100_000;
/// The default of [`Limits::max_response_bytes`]: 32 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;
/// The least [`Limits::max_response_bytes`] can be: room for the shape of
/// every document and an error message.
pub const MIN_RESPONSE_BYTES: usize = 4096;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_fields: DEFAULT_MAX_FIELDS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// What the server was started with.
#[derive(Debug)]
pub struct State {
    /// The PATH arguments (the default glob when empty).
    paths: Vec<String>,
    /// The directory `glob=` and `/files/GLOB` are relative to.
    dir: PathBuf,
    /// The mstore directory, if one was given.
    store: Option<PathBuf>,
    /// What one answer may cost.
    limits: Limits,
    /// Collectors of the files, reused between requests.
    collectors: std::sync::Mutex<Vec<Collector>>,
    /// What one file may cost a read.
    file_limits: crate::reader::Limits,
    /// Whether other users' files are served too.
    all_users: bool,
    /// How `/metrics` makes its series.
    series: prom::Options,
    /// The counts of ended threads, kept between scrapes of `/metrics`.
    tracker: std::sync::Mutex<prom::Tracker>,
    /// The histograms of the latest `/snapshot` answers, for `?since=`.
    windows: std::sync::Mutex<Windows>,
}

/// How many `/snapshot` answers' histograms the server keeps for
/// `?since=`: the latest few, so that several dashboards polling at once
/// each find the answer they had before.
pub const KEPT_SNAPSHOTS: usize = 16;

/// Most histograms one kept answer may hold (over all its views), and
/// most of their non-empty buckets: an answer with more is not kept, and a
/// `?since=` naming it gets no windows. Only the non-empty buckets are
/// kept (16 bytes each), so the [`KEPT_SNAPSHOTS`] answers take at most
/// about 16 MiB of buckets, and their labels.
pub const MAX_KEPT_HISTOGRAMS: usize = 4096;
/// See [`MAX_KEPT_HISTOGRAMS`].
pub const MAX_KEPT_BUCKETS: usize = 65_536;

/// A kept histogram: its non-empty buckets only.
#[derive(Debug)]
struct Sparse {
    /// The histogram without its regular buckets.
    head: crate::reader::Histogram,
    /// How many regular buckets it has.
    len: usize,
    /// The non-empty ones: index from `first`, count.
    buckets: Vec<(usize, u64)>,
}

impl Sparse {
    fn new(h: &crate::reader::Histogram) -> Sparse {
        let buckets = h
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != 0)
            .map(|(i, &c)| (i, c))
            .collect();
        Sparse {
            head: crate::reader::Histogram {
                schema: h.schema,
                first: h.first,
                zero: h.zero,
                buckets: Vec::new(),
                overflow: h.overflow,
                count: h.count,
                sum: h.sum,
                invalid: h.invalid,
            },
            len: h.buckets.len(),
            buckets,
        }
    }

    /// The histogram as it was.
    fn whole(&self) -> crate::reader::Histogram {
        let mut buckets = vec![0; self.len];
        for &(i, c) in &self.buckets {
            if let Some(slot) = buckets.get_mut(i) {
                *slot = c;
            }
        }
        crate::reader::Histogram {
            buckets,
            ..self.head.clone()
        }
    }
}

/// The histograms of one `/snapshot` answer, by view id and label: what
/// `?since=TIME` takes the change from.
type Kept = BTreeMap<(String, String), Sparse>;

#[derive(Debug, Default)]
struct Windows(std::collections::VecDeque<(u64, std::sync::Arc<Kept>)>);

impl Windows {
    fn get(&self, time: u64) -> Option<std::sync::Arc<Kept>> {
        self.0
            .iter()
            .rev()
            .find(|(t, _)| *t == time)
            .map(|(_, kept)| std::sync::Arc::clone(kept))
    }

    fn keep(&mut self, time: u64, kept: Kept) {
        self.0.retain(|(t, _)| *t != time);
        self.0.push_back((time, std::sync::Arc::new(kept)));
        while self.0.len() > KEPT_SNAPSHOTS {
            self.0.pop_front();
        }
    }
}

impl State {
    /// The state for these arguments. The stats directory is the one
    /// directory given as the only PATH, else `MMSTATS_PATH` (the
    /// temporary directory by default).
    pub fn new(paths: Vec<String>, store: Option<PathBuf>) -> State {
        let dir = match paths.as_slice() {
            [only] if Path::new(only).is_dir() => PathBuf::from(only),
            _ => crate::file::default_dir(),
        };
        State {
            paths,
            dir,
            store,
            limits: Limits::default(),
            collectors: std::sync::Mutex::new(Vec::new()),
            file_limits: crate::reader::Limits::default(),
            all_users: false,
            series: prom::Options::default(),
            tracker: std::sync::Mutex::new(prom::Tracker::new()),
            windows: std::sync::Mutex::new(Windows::default()),
        }
    }

    /// The same state, `/metrics` making its series as `options` say
    /// (one per process by default, see [`crate::export::series`]).
    pub fn series(mut self, options: prom::Options) -> State {
        self.series = options;
        self
    }

    /// The same state, reading each file within `file_limits`, and the
    /// files of every user (each labelled with its owner) if `all_users`,
    /// else only those of the user the server runs as.
    pub fn reading(mut self, file_limits: crate::reader::Limits, all_users: bool) -> State {
        self.file_limits = file_limits;
        self.all_users = all_users;
        if let Ok(mut pool) = self.collectors.lock() {
            pool.clear();
        }
        self
    }

    /// The same state with other limits; a `max_response_bytes` below
    /// [`MIN_RESPONSE_BYTES`] is taken as that.
    pub fn with_limits(mut self, limits: Limits) -> State {
        self.limits = Limits {
            max_fields: limits.max_fields,
            max_response_bytes: limits.max_response_bytes.max(MIN_RESPONSE_BYTES),
        };
        self
    }

    /// The limits answers are held to.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

/// An answer: status, media type and body.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// Whether something was left out of the answer to keep it within
    /// [`Limits`] (the server then sends `x-mmstats-truncated: true`).
    pub truncated: bool,
}

const JSON_TYPE: &str = "application/json";

impl Reply {
    fn json(value: &Json) -> Reply {
        Reply {
            status: 200,
            content_type: JSON_TYPE,
            body: value.to_string().into_bytes(),
            truncated: false,
        }
    }

    fn document(doc: Doc, truncated: bool) -> Reply {
        Reply {
            status: 200,
            content_type: JSON_TYPE,
            truncated: truncated || doc.full,
            body: doc.out,
        }
    }

    fn text(content_type: &'static str, body: &str) -> Reply {
        Reply {
            status: 200,
            content_type,
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }

    /// An error: `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            content_type: JSON_TYPE,
            body: json!({ "error": message }).to_string().into_bytes(),
            truncated: false,
        }
    }
}

/// A JSON document written as it is built, that never grows past its
/// limit: an item (a stat, a view's head, an error) that would take it past
/// is left out, and so is every item after it; the document is then `full`.
/// Only the punctuation that closes what is open is written after that,
/// within the room kept for it.
struct Doc {
    out: Vec<u8>,
    /// Where items must stop: the limit less [`CLOSING_ROOM`].
    room: usize,
    full: bool,
    scratch: Vec<u8>,
}

/// Bytes a [`Doc`] keeps for the punctuation and keys written after its
/// last item: a handful of brackets and `,"truncated":true`.
const CLOSING_ROOM: usize = 256;

impl Doc {
    fn new(limit: usize) -> Doc {
        Doc {
            out: Vec::new(),
            room: limit.saturating_sub(CLOSING_ROOM),
            full: false,
            scratch: Vec::new(),
        }
    }

    /// Punctuation, keys and small scalars: always written.
    fn raw(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
    }

    /// Writes one item, after a comma unless `first`, if it fits; says
    /// whether it did. `write` puts the item's text into the buffer given.
    fn item(&mut self, first: &mut bool, write: impl FnOnce(&mut Vec<u8>)) -> bool {
        if self.full {
            return false;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        write(&mut scratch);
        let comma = usize::from(!*first);
        let fits = self
            .out
            .len()
            .saturating_add(comma)
            .saturating_add(scratch.len())
            <= self.room;
        if fits {
            if !*first {
                self.out.push(b',');
            }
            self.out.extend_from_slice(&scratch);
            *first = false;
        } else {
            self.full = true;
        }
        self.scratch = scratch;
        fits
    }

    /// [`Doc::item`] of one JSON value.
    fn value(&mut self, first: &mut bool, value: &Json) -> bool {
        self.item(first, |out| put(out, value))
    }

    /// [`Doc::item`] of one member of an object, `"key":value`.
    fn member(&mut self, first: &mut bool, key: &str, value: &Json) -> bool {
        self.item(first, |out| {
            put_str(out, key);
            out.push(b':');
            put(out, value);
        })
    }
}

/// Writes `value` as JSON (which cannot fail for a `serde_json` value).
fn put(out: &mut Vec<u8>, value: &Json) {
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// Writes `text` as a JSON string.
fn put_str(out: &mut Vec<u8>, text: &str) {
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// Answers a GET of `path` with `query`.
pub fn respond(state: &State, path: &str, query: Option<&str>) -> Reply {
    respond_to(state, path, query, None)
}

/// Answers a GET of `path` with `query` from a client whose `Accept`
/// header is `accept`: `/metrics` answers OpenMetrics when it asks for
/// it ([`prom::Format::negotiate`]), the protobuf exposition with native
/// histograms when it asks for that first ([`asks_protobuf`]).
pub fn respond_to(state: &State, path: &str, query: Option<&str>, accept: Option<&str>) -> Reply {
    match route(state, path, query, accept) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn route(
    state: &State,
    path: &str,
    query: Option<&str>,
    accept: Option<&str>,
) -> Result<Reply, Reply> {
    let params = Params::parse(query.unwrap_or(""))?;
    let reply = match path {
        "/" | "/index.html" => Reply::text("text/html; charset=utf-8", DASHBOARD_HTML),
        "/dashboard.js" => Reply::text("text/javascript; charset=utf-8", dashboard_js()),
        "/dashboard.css" => Reply::text("text/css; charset=utf-8", DASHBOARD_CSS),
        "/metrics" if asks_protobuf(accept) => metrics_protobuf(state),
        "/metrics" => metrics(state, prom::Format::negotiate(accept)),
        "/snapshot" => snapshot(state, &params)?,
        "/stats/" => labels(state, &params)?,
        "/files/" => files(state, params.get("glob"))?,
        "/history/" => history_list(state)?,
        _ => {
            if let Some(name) = path.strip_prefix("/stats/") {
                stat(state, &decode(name, false)?, &params)?
            } else if let Some(glob) = path.strip_prefix("/files/") {
                files(state, Some(&decode(glob, false)?))?
            } else if let Some(metric) = path.strip_prefix("/history/") {
                history(state, &decode(metric, false)?, &params)?
            } else {
                return Err(Reply::error(404, &format!("no such route: {path}")));
            }
        }
    };
    Ok(reply)
}

/// Query parameters, percent-decoded.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Result<Params, Reply> {
        let mut params = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((decode(name, true)?, decode(value, true)?));
        }
        Ok(Params(params))
    }

    /// The last value given for `name`, if any.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A yes/no parameter: absent, empty, `0`, `false` or `no` is no;
    /// `1`, `true` or `yes` is yes.
    fn flag(&self, name: &str) -> Result<bool, Reply> {
        match self.get(name) {
            None | Some("" | "0" | "false" | "no") => Ok(false),
            Some("1" | "true" | "yes") => Ok(true),
            Some(other) => Err(Reply::error(
                400,
                &format!("{name}={other}: say 1 or 0 (true or false)"),
            )),
        }
    }

    /// A whole number parameter, if given.
    /// A time: a whole number in the store's units, or as `mmstats query`
    /// takes times (`now`, `-10s`, `-2h`, RFC 3339), then in milliseconds
    /// since the Unix epoch, the unit of the stores `mmstats record` makes.
    fn time(&self, name: &str, now_ms: u64) -> Result<Option<u64>, Reply> {
        match self.get(name) {
            None | Some("") => Ok(None),
            // As `query --from` takes it: a plain number is Unix seconds.
            Some(text) => crate::time::parse_time(text, now_ms)
                .map(Some)
                .map_err(|e| Reply::error(400, &format!("{name}={text}: {e}"))),
        }
    }
}

/// Percent-decodes `text` (and `+` as a space in a query), refusing what
/// does not decode to UTF-8.
fn decode(text: &str, plus_is_space: bool) -> Result<String, Reply> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes
                    .get(i.saturating_add(1)..i.saturating_add(3))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(byte) = hex else {
                    return Err(Reply::error(400, "a bad %-escape in the request"));
                };
                out.push(byte);
                i = i.saturating_add(3);
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i = i.saturating_add(1);
            }
            _ => {
                out.push(b);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8(out).map_err(|_| Reply::error(400, "the request is not UTF-8"))
}

/// The files read for one request, in a collector of the server's pool.
struct Files<'s> {
    collector: Pooled<'s>,
    /// The files the answer is built from when some were left out to keep
    /// within [`Limits::max_fields`]; `None` when it is every file read.
    chosen: Option<Vec<Snapshot>>,
    /// How many files were left out for [`Limits::max_fields`].
    left_out: usize,
    /// Paths that could not be read, arguments that gave no file, and
    /// files left out, with why.
    errors: Vec<(String, String)>,
}

impl Files<'_> {
    fn snapshots(&self) -> &[Snapshot] {
        match &self.chosen {
            Some(chosen) => chosen,
            None => self.collector.get().map_or(&[], |c| c.last().files),
        }
    }
}

/// A collector taken from the server's pool, put back when dropped, so
/// that requests reuse mappings and buffers without waiting on each other.
struct Pooled<'s> {
    pool: &'s std::sync::Mutex<Vec<Collector>>,
    collector: Option<Collector>,
}

impl Pooled<'_> {
    fn get(&self) -> Option<&Collector> {
        self.collector.as_ref()
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let (Some(collector), Ok(mut pool)) = (self.collector.take(), self.pool.lock()) {
            if pool.len() < POOLED_COLLECTORS {
                pool.push(collector);
            }
        }
    }
}

/// Most collectors kept for reuse: one per thread that reads files.
const POOLED_COLLECTORS: usize = 8;

/// Why a symbolic link among the files is not read.
const LINK: &str = "a symbolic link (the server does not follow links it finds)";

/// Reads the server's files, or with `glob` the files it matches in the
/// stats directory, and keeps of them what fits in [`Limits::max_fields`].
///
/// A symbolic link that a directory or a pattern expands to is never read
/// through: it is reported by its own name (never by where it leads, and
/// nothing of what it leads to is read), and the files are opened with
/// `O_NOFOLLOW`, so a link swapped in after the listing is refused too.
fn read<'s>(state: &'s State, glob: Option<&str>) -> Result<Files<'s>, Reply> {
    let found = match glob {
        None | Some("") => own_files(&state.paths),
        Some(glob) => discover_in_dir(&state.dir, glob)?,
    };
    let taken = state.collectors.lock().ok().and_then(|mut pool| pool.pop());
    let mut collector = taken.unwrap_or_else(|| {
        Collector::new(state.paths.clone())
            .follow_links(false)
            .limits(state.file_limits)
            .all_users(state.all_users)
    });
    let collection = collector.collect_paths(found.files, found.skipped);
    let mut errors: Vec<(String, String)> = Vec::new();
    for skip in collection.skipped {
        if !matches!(skip, Skip::NoMatch { .. }) {
            errors.push((skip_path(skip), skip.to_string()));
        }
    }
    for failure in collection.failed {
        errors.push((
            failure.path.display().to_string(),
            failure.error.to_string(),
        ));
    }
    let (chosen, left_out) = within_fields(collection.files, state.limits.max_fields, &mut errors);
    Ok(Files {
        collector: Pooled {
            pool: &state.collectors,
            collector: Some(collector),
        },
        chosen,
        left_out,
        errors,
    })
}

/// The files an answer is built from, fewest fields first up to
/// `max_fields` in all (in path order again), with an error for each file
/// left out; `None` when they all fit.
fn within_fields(
    files: &[Snapshot],
    max_fields: usize,
    errors: &mut Vec<(String, String)>,
) -> (Option<Vec<Snapshot>>, usize) {
    let total = files
        .iter()
        .fold(0usize, |sum, s| sum.saturating_add(s.stats.len()));
    if total <= max_fields {
        return (None, 0);
    }
    let mut order: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .map(|(i, s)| (s.stats.len(), i))
        .collect();
    order.sort_unstable();
    let mut keep = vec![false; files.len()];
    let mut used = 0usize;
    for (fields, i) in order {
        let Some(sum) = used.checked_add(fields).filter(|sum| *sum <= max_fields) else {
            break;
        };
        used = sum;
        if let Some(k) = keep.get_mut(i) {
            *k = true;
        }
    }
    let mut chosen = Vec::new();
    let mut left_out = 0;
    for (snapshot, kept) in files.iter().zip(keep) {
        if kept {
            chosen.push(snapshot.clone());
        } else {
            left_out += 1;
            let path = snapshot
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            errors.push((
                path,
                format!(
                    "left out of this answer: its {} fields would take it past {max_fields} \
                     fields, counted over all the files (--max-answer-fields)",
                    snapshot.stats.len()
                ),
            ));
        }
    }
    (Some(chosen), left_out)
}

/// The files the server's own arguments name ([`discover::discover`]),
/// less the symbolic links that a directory or a pattern expanded to. A
/// link named as an argument is the user's choice and is read, through the
/// path it resolves to now.
fn own_files(paths: &[String]) -> discover::Found {
    let found = discover::discover(paths);
    let mut skipped = found.skipped;
    let mut files = Vec::with_capacity(found.files.len());
    for path in found.files {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if paths.iter().any(|arg| Path::new(arg) == path) {
                    match std::fs::canonicalize(&path) {
                        Ok(real) => files.push(real),
                        Err(source) => skipped.push(Skip::Io { path, source }),
                    }
                } else {
                    skipped.push(Skip::NotRegular { path, what: LINK });
                }
            }
            Ok(_) => files.push(path),
            // Gone since it was listed: as if never listed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => skipped.push(Skip::Io { path, source }),
        }
    }
    files.sort();
    files.dedup();
    discover::Found { files, skipped }
}

/// The files whose names `glob` matches, directly in `dir`: a pattern of
/// names, not of paths, so it never reaches into a subdirectory (one with
/// a `/` is refused, 400, and so are an absolute one and one with `..`).
/// Symbolic links, directories and special files that match are reported,
/// not read.
fn discover_in_dir(dir: &Path, glob: &str) -> Result<discover::Found, Reply> {
    let bad = |why: &str| Reply::error(400, &format!("glob={glob}: {why}"));
    if glob.starts_with('/') {
        return Err(bad("must be relative to the stats directory"));
    }
    if glob.contains("..") {
        return Err(bad("must not contain '..'"));
    }
    if glob.contains('\0') {
        return Err(bad("must not contain a NUL"));
    }
    if glob.contains('/') {
        return Err(bad(
            "matches the names of files in the stats directory itself; \
             the server does not look into subdirectories",
        ));
    }
    let pattern =
        ::glob::Pattern::new(glob).map_err(|e| bad(&format!("not a valid pattern: {}", e.msg)))?;
    let options = ::glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Reply::error(500, &format!("the stats directory {}: {e}", dir.display())))?;
    let mut found = discover::Found::default();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                found.skipped.push(Skip::Io {
                    path: dir.to_path_buf(),
                    source,
                });
                continue;
            }
        };
        let name = entry.file_name();
        // A name that is not UTF-8 matches no pattern given as UTF-8.
        if !name
            .to_str()
            .is_some_and(|n| pattern.matches_with(n, options))
        {
            continue;
        }
        let path = entry.path();
        // The entry's own type: a link is not followed to find it.
        match entry.file_type() {
            Ok(kind) if kind.is_file() => found.files.push(path),
            Ok(kind) => {
                let what = if kind.is_symlink() {
                    LINK
                } else if kind.is_dir() {
                    "a directory"
                } else {
                    "a special file"
                };
                found.skipped.push(Skip::NotRegular { path, what });
            }
            Err(source) => found.skipped.push(Skip::Io { path, source }),
        }
    }
    found.files.sort();
    Ok(found)
}

/// Adds `,"truncated":true` to a document that left something out.
fn close_truncated(doc: &mut Doc, truncated: bool) {
    if truncated || doc.full {
        doc.raw(",\"truncated\":true");
    }
}

/// `/stats/`: every label, sorted, each once.
fn labels(state: &State, params: &Params) -> Result<Reply, Reply> {
    let files = read(state, params.get("glob"))?;
    let labels: BTreeSet<&str> = files
        .snapshots()
        .iter()
        .flat_map(|s| s.stats.iter().map(|stat| stat.label.as_str()))
        .collect();
    let mut doc = Doc::new(state.limits.max_response_bytes);
    doc.raw("{\"stats\":[");
    let mut first = true;
    for label in labels {
        if !doc.item(&mut first, |out| put_str(out, label)) {
            break;
        }
    }
    doc.raw("]");
    let truncated = files.left_out > 0;
    close_truncated(&mut doc, truncated);
    doc.raw("}");
    Ok(Reply::document(doc, truncated))
}

fn stat(state: &State, name: &str, params: &Params) -> Result<Reply, Reply> {
    let exact = params.flag("exact")?;
    let aggr =
        match params.get("aggr") {
            None | Some("") => None,
            Some(a) => Some(Mode::parse(a).ok_or_else(|| {
                Reply::error(400, &format!("aggr={a}: not one of {}", Mode::NAMES))
            })?),
        };
    // A family's label with some of its labels (`web.requests{status="5xx"}`)
    // selects the members that have them, as `poll` does; with exact=1 a
    // family's label selects its members.
    let selector = crate::labels::Selector::parse(name)
        .map_err(|e| Reply::error(400, &format!("{name}: {e}")))?;
    let has_set = !selector.labels.is_empty();
    let files = read(state, params.get("glob"))?;
    let mut values: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for snapshot in files.snapshots() {
        for s in &snapshot.stats {
            let matches = if exact || has_set {
                selector.matches(&s.label)
            } else {
                s.label.starts_with(name)
            };
            if matches {
                values.entry(s.label.as_str()).or_default().push(&s.value);
            }
        }
    }
    // The original's shape, `{LABEL: [VALUE, ...]}`, has no room to say that
    // it was cut: an answer too large is refused instead.
    let mut doc = Doc::new(state.limits.max_response_bytes);
    doc.raw("{");
    let mut first = true;
    for (label, values) in values {
        let value = match aggr {
            None => Json::Array(values.iter().map(|v| json_value(v)).collect()),
            Some(aggr) => aggr
                .apply(&values)
                .map_err(|why| Reply::error(400, &format!("{label}: {why}")))?
                .as_ref()
                .map_or(Json::Null, json_value),
        };
        if !doc.member(&mut first, label, &value) {
            return Err(Reply::error(
                400,
                &format!(
                    "the answer would be larger than {} bytes (--max-response-bytes): \
                     ask for fewer labels (a longer NAME, exact=1) or fewer files (glob=)",
                    state.limits.max_response_bytes
                ),
            ));
        }
    }
    doc.raw("}");
    Ok(Reply::document(doc, files.left_out > 0))
}

/// `/files/` and `/files/GLOB`: the files read.
fn files(state: &State, glob: Option<&str>) -> Result<Reply, Reply> {
    let files = read(state, glob)?;
    let mut doc = Doc::new(state.limits.max_response_bytes);
    doc.raw("{\"files\":[");
    let mut first = true;
    for path in files.snapshots().iter().filter_map(|s| s.path.as_ref()) {
        if !doc.item(&mut first, |out| put_str(out, &path.display().to_string())) {
            break;
        }
    }
    doc.raw("]");
    let truncated = files.left_out > 0;
    close_truncated(&mut doc, truncated);
    doc.raw("}");
    Ok(Reply::document(doc, truncated))
}

/// `/metrics`: the Prometheus text exposition. Files left out for
/// [`Limits::max_fields`] count as read errors and are named in comments;
/// an exposition larger than [`Limits::max_response_bytes`] is an error
/// (Prometheus then marks the scrape failed rather than store a part).
fn metrics(state: &State, format: prom::Format) -> Reply {
    // No glob: the server's own paths, which cannot be refused.
    let files = match read(state, None) {
        Ok(files) => files,
        Err(reply) => return reply,
    };
    let (snapshots, errors) = (files.snapshots(), files.errors.len());
    let mut text = tracked(state, |tracker| {
        prom::exposition_in(format, snapshots, errors, &state.series, Some(tracker))
    });
    // OpenMetrics allows no other comment.
    if files.left_out > 0 && format == prom::Format::Text {
        text.push_str(&format!(
            "# {} files left out of this exposition: over {} fields in all (--max-answer-fields)\n",
            files.left_out, state.limits.max_fields
        ));
        for (file, error) in &files.errors {
            if error.starts_with("left out") {
                text.push_str("# left out: ");
                text.push_str(&file.replace('\n', " "));
                text.push('\n');
            }
        }
    }
    if text.len() > state.limits.max_response_bytes {
        return Reply {
            status: 500,
            content_type: "text/plain; charset=utf-8",
            body: format!(
                "the exposition would be {} bytes, more than the {} of --max-response-bytes\n",
                text.len(),
                state.limits.max_response_bytes
            )
            .into_bytes(),
            truncated: false,
        };
    }
    let mut reply = Reply::text(format.content_type(), &text);
    reply.truncated = files.left_out > 0;
    reply
}

/// Runs `f` with the tracker of ended threads' counts; one that a scrape
/// panicked while holding starts again empty (its counts are lost).
fn tracked<T>(state: &State, f: impl FnOnce(&mut prom::Tracker) -> T) -> T {
    match state.tracker.lock() {
        Ok(mut tracker) => f(&mut tracker),
        Err(poisoned) => {
            let mut tracker = poisoned.into_inner();
            *tracker = prom::Tracker::new();
            f(&mut tracker)
        }
    }
}

/// Whether an `Accept` header asks for the protobuf exposition
/// ([`protobuf::CONTENT_TYPE`]) first: it names
/// `application/vnd.google.protobuf` with `proto=io.prometheus.client.MetricFamily`
/// and `encoding=delimited`, with a quality above 0 and no lower than that
/// of any text format (OpenMetrics, `text/plain`, `*/*`). Prometheus asks
/// so when started with `--enable-feature=native-histograms`.
pub fn asks_protobuf(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let mut protobuf: f64 = 0.0;
    let mut text: f64 = 0.0;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0;
        let (mut proto, mut delimited) = (false, false);
        for p in parts {
            let Some((key, value)) = p.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => {
                    q = value
                        .parse::<f64>()
                        .ok()
                        .filter(|q| q.is_finite())
                        .unwrap_or(1.0)
                }
                "proto" => proto = value == "io.prometheus.client.MetricFamily",
                "encoding" => delimited = value == "delimited",
                _ => {}
            }
        }
        match media.as_str() {
            "application/vnd.google.protobuf" if proto && delimited => protobuf = protobuf.max(q),
            "application/openmetrics-text" | "text/plain" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    protobuf > 0.0 && protobuf >= text
}

/// `/metrics` in the protobuf exposition ([`protobuf::render`]): the same
/// series as the text format, each histogram a native histogram too. Files
/// left out for [`Limits::max_fields`] count as read errors (the format has
/// no comments to name them); an answer larger than
/// [`Limits::max_response_bytes`] is an error, as for the text.
fn metrics_protobuf(state: &State) -> Reply {
    let files = match read(state, None) {
        Ok(files) => files,
        Err(reply) => return reply,
    };
    let (snapshots, errors) = (files.snapshots(), files.errors.len());
    let body = tracked(state, |tracker| {
        let (families, _) = series::model(snapshots, errors, &state.series, Some(tracker));
        protobuf::render(&families)
    });
    if body.len() > state.limits.max_response_bytes {
        return Reply {
            status: 500,
            content_type: "text/plain; charset=utf-8",
            body: format!(
                "the exposition would be {} bytes, more than the {} of --max-response-bytes\n",
                body.len(),
                state.limits.max_response_bytes
            )
            .into_bytes(),
            truncated: false,
        };
    }
    Reply {
        status: 200,
        content_type: protobuf::CONTENT_TYPE,
        body,
        truncated: files.left_out > 0,
    }
}

/// `/snapshot`: everything the dashboard shows, in one document.
///
/// ```text
/// {"time": MS, "history": BOOL, "views": [{"id", "name", "files",
///  "series", "stats": [{"label", "kind", "value"}]}],
///  "meta": {LABEL: {"unit", "help"}}, "errors": [{"file", "error"}],
///  "truncated": BOOL}
/// ```
///
/// Views: `all` (every file), `cmd:NAME` and `pid:PID` (files combined by
/// the rules of `crate::aggregate`), `file:PATH` (one file as it is).
/// `truncated` says that files were left out (each one named in `errors`)
/// or that the document stopped at [`Limits::max_response_bytes`], leaving
/// out the views, stats, labels and errors that came after.
///
/// `?since=TIME`, the `time` of an earlier answer, adds to each histogram
/// of a combined view its `"window"` (see [`window`]): the quantiles of
/// the values recorded between that answer and this one, by the reader's
/// rule ([`crate::reader::Histogram::since`]). The server keeps the
/// histograms of its last [`KEPT_SNAPSHOTS`] answers for that; the window
/// is `null` when it no longer has the answer named, or when the two
/// cannot be of the same writers in that order (a count went down).
fn snapshot(state: &State, params: &Params) -> Result<Reply, Reply> {
    let since = match params.get("since") {
        None | Some("") => None,
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            Reply::error(
                400,
                &format!("since={text}: give the `time` of an earlier answer"),
            )
        })?),
    };
    let files = read(state, params.get("glob"))?;
    let snapshots = files.snapshots();
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let time = u64::try_from(time).unwrap_or(u64::MAX);
    let earlier = match (since, state.windows.lock()) {
        (Some(since), Ok(windows)) => windows.get(since),
        _ => None,
    };
    let mut doc = Doc::new(state.limits.max_response_bytes);
    doc.raw(&format!(
        "{{\"time\":{time},\"history\":{},\"views\":[",
        state.store.is_some()
    ));
    let mut views = Views {
        doc: &mut doc,
        first: true,
        since: since.map(|t| (t, earlier)),
        kept: Some(Kept::new()),
        kept_buckets: 0,
    };
    // Each view with the prefix of its series in a store `mmstats record`
    // wrote (`cmd:NAME`, `pid:PID`, `file:STEM`, then `:LABEL`); all files
    // together have one only when they are all one command's.
    let commands = aggregate::by_command(snapshots);
    let only_command = match commands.as_slice() {
        [only] => Some(format!("cmd:{}", only.key)),
        _ => None,
    };
    views.combined(
        "all",
        "all files",
        snapshots.len(),
        only_command.as_deref(),
        &aggregate::combine(snapshots),
    );
    for group in &commands {
        if views.doc.full {
            break;
        }
        let id = format!("cmd:{}", group.key);
        let name = format!("command {}", group.key);
        views.combined(
            &id,
            &name,
            group.snapshots.len(),
            Some(&id),
            &group.combine(),
        );
    }
    for group in aggregate::by_process(snapshots) {
        if views.doc.full {
            break;
        }
        let Some(pid) = group.key else { continue };
        let id = format!("pid:{pid}");
        let name = format!("process {pid}");
        views.combined(
            &id,
            &name,
            group.snapshots.len(),
            Some(&id),
            &group.combine(),
        );
    }
    for snapshot in snapshots {
        if views.doc.full {
            break;
        }
        let path = snapshot
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let stem = snapshot
            .path
            .as_deref()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let series = format!("file:{}", stem.strip_suffix(".mmstats").unwrap_or(&stem));
        let stats = snapshot.stats.iter().map(
            |s| json!({ "label": s.label, "kind": s.kind.name(), "value": json_value(&s.value) }),
        );
        views.view(&format!("file:{path}"), &path, 1, Some(&series), stats);
    }
    if let (Some(kept), Ok(mut windows)) = (views.kept.take(), state.windows.lock()) {
        windows.keep(time, kept);
    }
    doc.raw("],\"meta\":{");
    let mut first = true;
    let mut seen = BTreeSet::new();
    'meta: for snapshot in snapshots {
        for s in &snapshot.stats {
            if seen.insert(s.label.as_str()) {
                let meta = json!({ "unit": s.unit, "help": s.help });
                if !doc.member(&mut first, &s.label, &meta) {
                    break 'meta;
                }
            }
        }
    }
    doc.raw("},\"errors\":[");
    let mut first = true;
    for (file, error) in &files.errors {
        if !doc.value(&mut first, &json!({ "file": file, "error": error })) {
            break;
        }
    }
    doc.raw("],\"truncated\":");
    let truncated = files.left_out > 0 || doc.full;
    doc.raw(if truncated { "true}" } else { "false}" });
    Ok(Reply::document(doc, truncated))
}

/// The views of a `/snapshot` document, written one after the other.
struct Views<'d> {
    doc: &'d mut Doc,
    first: bool,
    /// `?since=`: its time, and the histograms of that answer if the
    /// server still has them.
    since: Option<(u64, Option<std::sync::Arc<Kept>>)>,
    /// This answer's histograms, for a later `?since=`; `None` once there
    /// are more than [`MAX_KEPT_HISTOGRAMS`] or [`MAX_KEPT_BUCKETS`].
    kept: Option<Kept>,
    /// The non-empty buckets of the histograms in `kept`.
    kept_buckets: usize,
}

impl Views<'_> {
    /// One view: its head, then as many of its stats as fit.
    fn view(
        &mut self,
        id: &str,
        name: &str,
        files: usize,
        series: Option<&str>,
        stats: impl Iterator<Item = Json>,
    ) {
        let head = self.doc.item(&mut self.first, |out| {
            out.extend_from_slice(b"{\"id\":");
            put_str(out, id);
            out.extend_from_slice(b",\"name\":");
            put_str(out, name);
            out.extend_from_slice(format!(",\"files\":{files},\"series\":").as_bytes());
            match series {
                Some(series) => put_str(out, series),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"stats\":[");
        });
        if !head {
            return;
        }
        let mut first = true;
        for stat in stats {
            if !self.doc.value(&mut first, &stat) {
                break;
            }
        }
        self.doc.raw("]}");
    }

    /// A view of files combined by the rules of `crate::aggregate`.
    fn combined(
        &mut self,
        id: &str,
        name: &str,
        files: usize,
        series: Option<&str>,
        aggregates: &[Aggregate],
    ) {
        let mut stats = Vec::with_capacity(aggregates.len());
        for a in aggregates {
            let value = match &a.combined {
                Combined::Value(v) => json_value(v),
                Combined::Distinct(values) => values.iter().map(json_value).collect(),
                Combined::Histogram(h) => crate::export::json::histogram(h),
            };
            let mut stat = json!({ "label": a.label, "kind": a.kind.name(), "value": value });
            if let Combined::Histogram(h) = &a.combined {
                let key = (id.to_string(), a.label.clone());
                if let (Some((since, earlier)), Json::Object(map)) = (&self.since, &mut stat) {
                    let window = earlier
                        .as_ref()
                        .and_then(|kept| kept.get(&key))
                        .and_then(|before| h.since(&before.whole()))
                        .map_or(Json::Null, |w| window(*since, &w));
                    map.insert("window".into(), window);
                }
                if let Some(kept) = &mut self.kept {
                    let sparse = Sparse::new(h);
                    self.kept_buckets = self.kept_buckets.saturating_add(sparse.buckets.len());
                    if kept.len() < MAX_KEPT_HISTOGRAMS && self.kept_buckets <= MAX_KEPT_BUCKETS {
                        kept.insert(key, sparse);
                    } else {
                        self.kept = None;
                    }
                }
            }
            stats.push(stat);
        }
        self.view(id, name, files, series, stats.into_iter());
    }
}

/// The values a histogram took between the answer of time `since` and
/// this one (see [`crate::reader::Histogram::since`]): `{"since", "count",
/// "p50", "p90", "p99", "p999"}`, a quantile `null` when no value came.
fn window(since: u64, w: &crate::reader::Histogram) -> Json {
    let mut out = serde_json::Map::new();
    out.insert("since".into(), since.into());
    out.insert("count".into(), w.count.into());
    for (name, q) in crate::reader::QUANTILES {
        out.insert(name.into(), w.quantile(q).map_or(Json::Null, float));
    }
    Json::Object(out)
}

/// Opens the store for one request.
fn open_store(state: &State) -> Result<mstore::Reader, Reply> {
    let Some(dir) = &state.store else {
        return Err(Reply::error(
            404,
            "no history: the server was started without --store",
        ));
    };
    mstore::Reader::open(dir).map_err(|e| Reply::error(500, &e.to_string()))
}

/// `/history/`: the metrics the store holds.
fn history_list(state: &State) -> Result<Reply, Reply> {
    let mut store = open_store(state)?;
    // Whatever can be found, with the damage met on the way: a damaged
    // metric list leaves the series the chunks name readable.
    let (metrics, damage) = store
        .salvage_metrics()
        .map_err(|e| Reply::error(500, &e.to_string()))?;
    let info = store.info();
    let mut doc = Doc::new(state.limits.max_response_bytes);
    doc.raw("{\"metrics\":[");
    let mut first = true;
    for m in metrics {
        let metric = json!({ "name": m.name, "type": m.value_type.to_string() });
        if !doc.value(&mut first, &metric) {
            break;
        }
    }
    doc.raw(&format!(
        "],\"resolution\":{},\"start_time\":{}",
        info.resolution, info.start_time
    ));
    if !damage.is_empty() {
        let damage: Vec<String> = damage.iter().map(ToString::to_string).collect();
        doc.raw(&format!(",\"damage\":{}", Json::from(damage)));
    }
    close_truncated(&mut doc, false);
    doc.raw("}");
    Ok(Reply::document(doc, false))
}

/// `/history/METRIC?from=T&to=T`: the set points of METRIC from time `from`
/// up to, not including, time `to`, times as `mmstats query` takes them
/// (Unix seconds, RFC 3339, `-10m`, `now`), which stand for milliseconds
/// since the epoch, the unit of `mmstats record`'s stores; `to`
/// defaults to now in milliseconds since the Unix epoch (the unit of
/// `mmstats record`) plus one, `from` to [`DEFAULT_HISTORY_SLOTS`] slots
/// before `to`. `step=` (store units, or a duration in milliseconds such
/// as `1m`) and `agg=` (mean, min, max, last, rate, count) answer one point
/// per window instead; a range of more than [`MAX_HISTORY_POINTS`] slots
/// without a step gets a step the server chooses
/// ([`AUTO_HISTORY_WINDOWS`] windows). More than [`MAX_HISTORY_POINTS`]
/// windows or [`MAX_HISTORY_STEP_RANGE`] slots is refused (400) before
/// anything is read.
fn history(state: &State, metric: &str, params: &Params) -> Result<Reply, Reply> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let to = match params.time("to", now)? {
        Some(to) => to,
        None => now.saturating_add(1),
    };
    let mut store = open_store(state)?;
    let info = store.info();
    let from = match params.time("from", now)? {
        Some(from) => from,
        None => to.saturating_sub(DEFAULT_HISTORY_SLOTS.saturating_mul(info.resolution)),
    };
    if from >= to {
        return Err(Reply::error(
            400,
            &format!("from={from} is not before to={to}"),
        ));
    }
    let bad = |e: mstore::Error| Reply::error(400, &e.to_string());
    let first = store.slot_at(from.max(info.start_time)).map_err(bad)?;
    // `to` is excluded: the slots before it, a slot that starts before it
    // included (`to` need not fall on a slot's start).
    let last = store.slot_at(to.max(info.start_time)).map_err(bad)?;
    let last = match to
        .saturating_sub(info.start_time)
        .checked_rem(info.resolution)
    {
        Some(into) if into > 0 => last.saturating_add(1),
        _ => last,
    };
    let slots = last.saturating_sub(first);
    // `step` (store units, or a duration such as `1m` in milliseconds):
    // one point per window, the window's `agg` (mean by default).
    let res = info.resolution.max(1);
    let step = match params.get("step") {
        None | Some("") => {
            (slots > MAX_HISTORY_POINTS).then(|| slots.div_ceil(AUTO_HISTORY_WINDOWS))
        }
        Some(text) => {
            let units = text
                .parse::<u64>()
                .or_else(|_| crate::time::parse_duration_ms(text))
                .map_err(|e| Reply::error(400, &format!("step={text}: {e}")))?;
            Some(units.div_ceil(res).max(1))
        }
    };
    let agg = match params.get("agg") {
        None | Some("") => crate::history::Agg::Mean,
        Some(text) => crate::history::Agg::parse(text).ok_or_else(|| {
            Reply::error(
                400,
                &format!("agg={text}: one of mean, min, max, last, rate, count"),
            )
        })?,
    };
    if let Some(step) = step {
        if slots > MAX_HISTORY_STEP_RANGE || slots.div_ceil(step) > MAX_HISTORY_POINTS {
            return Err(Reply::error(
                400,
                &format!(
                    "from={from} to={to} spans {slots} slots; at a step of {step} slots at most \
                     {MAX_HISTORY_POINTS} windows and {MAX_HISTORY_STEP_RANGE} slots are served: \
                     ask for a shorter range or a longer step"
                ),
            ));
        }
        return history_step(&mut store, metric, (from, to), (first, last), step, agg);
    }
    if slots > MAX_HISTORY_POINTS {
        return Err(Reply::error(
            400,
            &format!(
                "from={from} to={to} spans {slots} slots of the store (one every {} units); \
                 at most {MAX_HISTORY_POINTS} are served per request: ask for a shorter range",
                info.resolution
            ),
        ));
    }
    let value_type = store
        .value_type(metric)
        .map_err(|e| Reply::error(500, &e.to_string()))?
        .ok_or_else(|| Reply::error(404, &format!("no metric {metric:?} in the store")))?;
    let time = |slot: u64| {
        slot.saturating_mul(info.resolution)
            .saturating_add(info.start_time)
    };
    /// The set points of `metric` from slot `first` to `last`, each as
    /// `[time, value]`.
    fn set_points<V: mstore::Value>(
        store: &mut mstore::Reader,
        (metric, first, last): (&str, u64, u64),
        point: impl Fn(u64, V) -> Json,
    ) -> mstore::Result<Vec<Json>> {
        Ok(store
            .get::<V>(metric, first, last)?
            .iter()
            .filter_map(|(slot, v)| v.map(|v| point(slot, v)))
            .collect())
    }
    let range = (metric, first, last);
    let points: Vec<Json> = match value_type {
        ValueType::U64 => set_points(&mut store, range, |slot, v: u64| json!([time(slot), v])),
        ValueType::I64 => set_points(&mut store, range, |slot, v: i64| json!([time(slot), v])),
        ValueType::F64 => set_points(&mut store, range, |slot, v: f64| {
            json!([time(slot), float(v)])
        }),
    }
    .map_err(bad)?;
    Ok(Reply::json(&json!({
        "metric": metric,
        "type": value_type.to_string(),
        "resolution": info.resolution,
        "from": from,
        "to": to,
        "points": points,
    })))
}

/// `/history/METRIC?step=`: one point per window of `step` slots, `[time
/// of the window's start, agg]`, windows without a value left out.
fn history_step(
    store: &mut mstore::Reader,
    metric: &str,
    (from, to): (u64, u64),
    (first, last): (u64, u64),
    step: u64,
    agg: crate::history::Agg,
) -> Result<Reply, Reply> {
    let info = store.info();
    let value_type = store
        .value_type(metric)
        .map_err(|e| Reply::error(500, &e.to_string()))?
        .ok_or_else(|| Reply::error(404, &format!("no metric {metric:?} in the store")))?;
    let windows = crate::history::read_step(
        store,
        metric,
        value_type,
        (first, last),
        step,
        info.resolution as f64 / 1000.0,
    )
    .map_err(|e| Reply::error(500, &e.to_string()))?;
    let points: Vec<Json> = windows
        .iter()
        .filter_map(|w| {
            agg.of(w).map(|v| {
                json!([
                    w.start
                        .saturating_mul(info.resolution)
                        .saturating_add(info.start_time),
                    float(v)
                ])
            })
        })
        .collect();
    Ok(Reply::json(&json!({
        "metric": metric,
        "type": "f64",
        "resolution": info.resolution,
        "step": step.saturating_mul(info.resolution),
        "agg": format!("{agg:?}").to_lowercase(),
        "from": from,
        "to": to,
        "points": points,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_gets_the_kinds_table() {
        let script = dashboard_js();
        // Right after the directive, so the script stays in strict mode.
        assert!(script
            .contains("\"use strict\";\n// The kinds' table, from the server.\nconst KINDS = "));
        let start = script.find("const KINDS = ").unwrap() + "const KINDS = ".len();
        let end = start + script[start..].find(";\n").unwrap();
        let kinds: Json = serde_json::from_str(&script[start..end]).unwrap();
        assert_eq!(
            kinds["counter"],
            json!({ "graphed": true, "perSecond": true })
        );
        assert_eq!(
            kinds["gauge"],
            json!({ "graphed": true, "perSecond": false })
        );
        assert_eq!(kinds["text"]["graphed"], json!(false));
        assert_eq!(kinds.as_object().unwrap().len(), Kind::ALL.len());
        assert_eq!(script.matches("\"use strict\";").count(), 1);
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("a%2Fb+c", true).unwrap(), "a/b c");
        assert_eq!(decode("a+b", false).unwrap(), "a+b");
        assert_eq!(decode("%e2%82%ac", false).unwrap(), "€");
        assert_eq!(decode("%zz", false).unwrap_err().status, 400);
        assert_eq!(decode("%4", false).unwrap_err().status, 400);
        assert_eq!(decode("%ff", false).unwrap_err().status, 400);
    }

    /// A histogram of `count` values of 1.0.
    fn ones(count: u64) -> crate::reader::Histogram {
        crate::reader::Histogram {
            schema: 4,
            first: -1,
            zero: 0,
            buckets: vec![0, count],
            overflow: 0,
            count,
            sum: count as f64,
            invalid: 0,
        }
    }

    #[test]
    fn a_kept_histogram_is_the_histogram_again() {
        let mut h = ones(3);
        h.buckets = vec![0, 4, 0, 0, 9, 0];
        h.zero = 2;
        h.overflow = 1;
        let sparse = Sparse::new(&h);
        assert_eq!(sparse.buckets, [(1, 4), (4, 9)]);
        assert_eq!(sparse.whole(), h);
    }

    #[test]
    fn an_answer_with_too_many_buckets_is_not_kept() {
        let mut wide = ones(1);
        wide.buckets = vec![1; MAX_KEPT_BUCKETS / 2 + 1];
        let aggregate = |label: &str| Aggregate {
            label: label.to_string(),
            kind: Kind::Histogram,
            combined: Combined::Histogram(wide.clone()),
            files: 1,
        };
        let mut doc = Doc::new(1 << 24);
        let mut views = Views {
            doc: &mut doc,
            first: true,
            since: None,
            kept: Some(Kept::new()),
            kept_buckets: 0,
        };
        views.combined("all", "all files", 1, None, &[aggregate("a")]);
        assert_eq!(views.kept.as_ref().map(Kept::len), Some(1));
        views.combined("cmd:x", "command x", 1, None, &[aggregate("a")]);
        assert!(views.kept.is_none());
    }

    #[test]
    fn an_answer_with_too_many_histograms_is_not_kept() {
        let aggregate = |label: &str, count: u64| Aggregate {
            label: label.to_string(),
            kind: Kind::Histogram,
            combined: Combined::Histogram(ones(count)),
            files: 1,
        };
        let mut full = Kept::new();
        for i in 0..MAX_KEPT_HISTOGRAMS {
            full.insert(("all".to_string(), format!("h{i}")), Sparse::new(&ones(1)));
        }
        let mut earlier = Kept::new();
        earlier.insert(
            ("all".to_string(), "late".to_string()),
            Sparse::new(&ones(2)),
        );
        let mut doc = Doc::new(1 << 20);
        let mut views = Views {
            doc: &mut doc,
            first: true,
            since: Some((7, Some(std::sync::Arc::new(earlier)))),
            kept: Some(full),
            kept_buckets: 0,
        };
        views.combined("all", "all files", 1, None, &[aggregate("late", 5)]);
        // Past the bound, nothing of the answer is kept ...
        assert!(views.kept.is_none());
        // ... and the window is still given from the earlier answer.
        doc.raw("]");
        let text = String::from_utf8(doc.out.clone()).unwrap();
        assert!(
            text.contains(r#""count":3"#) && text.contains(r#""since":7"#),
            "{text}"
        );
    }

    #[test]
    fn a_document_never_passes_its_limit_and_stays_whole() {
        for limit in [300, 1000, 5000] {
            let mut doc = Doc::new(limit);
            doc.raw("{\"items\":[");
            let mut first = true;
            let mut written = 0;
            while doc.value(&mut first, &json!({ "n": written, "text": "x".repeat(40) })) {
                written += 1;
            }
            assert!(doc.full);
            doc.raw("]");
            close_truncated(&mut doc, false);
            doc.raw("}");
            assert!(doc.out.len() <= limit, "{} > {limit}", doc.out.len());
            let back: Json = serde_json::from_slice(&doc.out).unwrap();
            assert_eq!(back["items"].as_array().unwrap().len(), written);
            assert_eq!(back["truncated"], true);
            // Nothing is written once full, even a small item.
            assert!(!doc.value(&mut first, &json!(1)));
        }
    }

    #[test]
    fn the_files_with_the_fewest_fields_fit_first() {
        let file = |name: &str, fields: usize| {
            let mut bytes = vec![crate::format::VERSION];
            for i in 0..fields {
                let label = format!("f{i}");
                bytes.extend_from_slice(&(label.len() as u16).to_ne_bytes());
                bytes.extend_from_slice(label.as_bytes());
                bytes.extend_from_slice(&1u16.to_ne_bytes());
                bytes.extend_from_slice(b"b");
                bytes.extend_from_slice(&[0xff, 1]);
            }
            bytes.resize(bytes.len() + 2, 0);
            let mut snapshot = crate::reader::read_bytes(&bytes).unwrap();
            snapshot.path = Some(PathBuf::from(name));
            snapshot
        };
        let files = [file("a", 50), file("b", 5), file("c", 30), file("d", 10)];
        let mut errors = Vec::new();
        assert!(within_fields(&files, 95, &mut errors).0.is_none());
        let (chosen, left_out) = within_fields(&files, 60, &mut errors);
        let names: Vec<_> = chosen
            .unwrap()
            .iter()
            .map(|s| s.path.clone().unwrap())
            .collect();
        assert_eq!(names, [PathBuf::from("b"), "c".into(), "d".into()]);
        assert_eq!(left_out, 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "a");
        assert!(
            errors[0].1.contains("--max-answer-fields"),
            "{}",
            errors[0].1
        );
    }

    /// What Prometheus 2.42 sends with `--enable-feature=native-histograms`
    /// (protobuf first, as captured from it), and without it.
    const PROMETHEUS_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const PROMETHEUS_DEFAULT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn only_an_accept_that_puts_protobuf_first_gets_it() {
        assert!(asks_protobuf(Some(PROMETHEUS_NATIVE)));
        assert!(asks_protobuf(Some(
            "application/vnd.google.protobuf; proto=\"io.prometheus.client.MetricFamily\"; encoding=delimited"
        )));
        for accept in [
            None,
            Some(PROMETHEUS_DEFAULT),
            Some("*/*"),
            Some("text/plain"),
            // Another message, another encoding, refused, or below the text.
            Some("application/vnd.google.protobuf;proto=io.prometheus.client.Other;encoding=delimited"),
            Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"),
            Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0"),
            Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2,text/plain;q=0.5"),
        ] {
            assert!(!asks_protobuf(accept), "{accept:?}");
        }
    }

    #[derive(crate::MmStats)]
    #[mmstats(crate = "crate", prefix = "web.")]
    struct Served {
        requests: crate::Counter,
        #[mmstats(unit = "seconds")]
        latency: crate::Histogram,
    }

    /// A scrape that asks for protobuf gets it; one with a normal `Accept`
    /// (Prometheus' default, none, `*/*`) gets the text formats exactly as
    /// before.
    #[test]
    fn a_normal_accept_still_gets_the_text_format() {
        use crate::MmStats as _;
        use prost::Message as _;
        let dir = tempfile::tempdir().unwrap();
        let stats = Served::builder().dir(dir.path()).create().unwrap();
        stats.requests.incr_by(3);
        stats.latency.record(0.25);
        let state = State::new(vec![dir.path().display().to_string()], None);
        let text = respond_to(&state, "/metrics", None, None);
        assert_eq!(text.content_type, prom::Format::Text.content_type());
        let body = String::from_utf8(text.body.clone()).unwrap();
        assert!(
            body.contains("# TYPE mmstats_web_latency_seconds histogram"),
            "{body}"
        );
        assert!(body.contains("mmstats_web_requests_total{"), "{body}");
        for accept in [Some("*/*"), Some("text/plain")] {
            let again = respond_to(&state, "/metrics", None, accept);
            assert_eq!(again.content_type, text.content_type);
            assert_eq!(String::from_utf8(again.body).unwrap(), body);
        }
        let om = respond_to(&state, "/metrics", None, Some(PROMETHEUS_DEFAULT));
        assert_eq!(om.content_type, prom::Format::OpenMetrics.content_type());
        assert!(String::from_utf8(om.body).unwrap().ends_with("# EOF\n"));
        let pb = respond_to(&state, "/metrics", None, Some(PROMETHEUS_NATIVE));
        assert_eq!((pb.status, pb.content_type), (200, protobuf::CONTENT_TYPE));
        let mut rest = pb.body.as_slice();
        let mut names = Vec::new();
        while !rest.is_empty() {
            let family = protobuf::proto::MetricFamily::decode_length_delimited(&mut rest).unwrap();
            if family.name == "mmstats_web_latency_seconds" {
                let h = family.metric[0].histogram.as_ref().unwrap();
                assert_eq!((h.sample_count, h.positive_delta.as_slice()), (1, &[1][..]));
            }
            names.push(family.name);
        }
        for name in ["mmstats_web_requests_total", "mmstats_web_latency_seconds"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
    }

    #[derive(crate::MmStats)]
    #[mmstats(crate = "crate", prefix = "big.")]
    struct Big {
        a: crate::Histogram,
        b: crate::Histogram,
        c: crate::Histogram,
    }

    /// A protobuf answer over `--max-response-bytes` is an error, as the
    /// text's is, not a part of the exposition.
    #[test]
    fn a_protobuf_answer_over_the_limit_is_an_error() {
        use crate::MmStats as _;
        let dir = tempfile::tempdir().unwrap();
        let stats = Big::builder().dir(dir.path()).create().unwrap();
        stats.a.record(1.0);
        let state = State::new(vec![dir.path().display().to_string()], None).with_limits(Limits {
            max_fields: DEFAULT_MAX_FIELDS,
            max_response_bytes: MIN_RESPONSE_BYTES,
        });
        let whole = protobuf::render(
            &series::model(
                &[crate::reader::read_path(stats.path().unwrap()).unwrap()],
                0,
                &series::Options::default(),
                None,
            )
            .0,
        );
        assert!(whole.len() > MIN_RESPONSE_BYTES, "{}", whole.len());
        let reply = respond_to(&state, "/metrics", None, Some(PROMETHEUS_NATIVE));
        assert_eq!(reply.status, 500);
        let body = String::from_utf8(reply.body).unwrap();
        assert!(body.contains("--max-response-bytes"), "{body}");
    }
}
