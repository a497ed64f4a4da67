//! What each route answers. Plain blocking code: a request in, a [`Reply`]
//! out, the files read afresh every time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::aggregate::{self, Aggregate, Combined, Mode};
use crate::collect::Collector;
use crate::discover::{self, Skip};
use crate::export::json::{float, value as json_value};
use crate::format::{Kind, Shown};
use crate::mstore::{self, ValueType};
use crate::reader::{Snapshot, Value};
use serde_json::{json, Map, Value as Json};

use crate::export::prometheus as prom;

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
        let kinds: Map<String, Json> = Kind::ALL
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

/// What the server was started with.
#[derive(Debug)]
pub struct State {
    /// The PATH arguments (the default glob when empty).
    paths: Vec<String>,
    /// The directory `glob=` and `/files/GLOB` are relative to.
    dir: PathBuf,
    /// The mstore directory, if one was given.
    store: Option<PathBuf>,
    /// Collectors of the files, reused between requests.
    collectors: std::sync::Mutex<Vec<Collector>>,
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
            collectors: std::sync::Mutex::new(Vec::new()),
        }
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
}

const JSON_TYPE: &str = "application/json";

impl Reply {
    fn json(value: &Json) -> Reply {
        Reply {
            status: 200,
            content_type: JSON_TYPE,
            body: value.to_string().into_bytes(),
        }
    }

    fn text(content_type: &'static str, body: &str) -> Reply {
        Reply {
            status: 200,
            content_type,
            body: body.as_bytes().to_vec(),
        }
    }

    /// An error: `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            content_type: JSON_TYPE,
            body: json!({ "error": message }).to_string().into_bytes(),
        }
    }
}

/// Answers a GET of `path` with `query`.
pub fn respond(state: &State, path: &str, query: Option<&str>) -> Reply {
    match route(state, path, query) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn route(state: &State, path: &str, query: Option<&str>) -> Result<Reply, Reply> {
    let params = Params::parse(query.unwrap_or(""))?;
    let reply = match path {
        "/" | "/index.html" => Reply::text("text/html; charset=utf-8", DASHBOARD_HTML),
        "/dashboard.js" => Reply::text("text/javascript; charset=utf-8", dashboard_js()),
        "/dashboard.css" => Reply::text("text/css; charset=utf-8", DASHBOARD_CSS),
        "/metrics" => metrics(state),
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
    fn number(&self, name: &str) -> Result<Option<u64>, Reply> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                Reply::error(
                    400,
                    &format!("{name}={text}: not a whole number of at least 0"),
                )
            }),
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
    /// Paths that could not be read, and arguments that gave no file,
    /// with why.
    errors: Vec<(String, String)>,
}

impl Files<'_> {
    fn snapshots(&self) -> &[Snapshot] {
        self.collector.get().map_or(&[], |c| c.last().files)
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

/// Reads the server's files, or with `glob` the files it matches in the
/// stats directory.
fn read<'s>(state: &'s State, glob: Option<&str>) -> Result<Files<'s>, Reply> {
    let found = match glob {
        None | Some("") => None,
        Some(glob) => Some(discover_in_dir(&state.dir, glob)?),
    };
    let taken = state.collectors.lock().ok().and_then(|mut pool| pool.pop());
    let mut collector = taken.unwrap_or_else(|| Collector::new(state.paths.clone()));
    let collection = match found {
        None => collector.collect(),
        Some(found) => collector.collect_paths(found.files, found.skipped),
    };
    let mut errors: Vec<(String, String)> = Vec::new();
    for skip in collection.skipped {
        if !matches!(skip, Skip::NoMatch { .. }) {
            errors.push((String::new(), skip.to_string()));
        }
    }
    for failure in collection.failed {
        errors.push((
            failure.path.display().to_string(),
            failure.error.to_string(),
        ));
    }
    Ok(Files {
        collector: Pooled {
            pool: &state.collectors,
            collector: Some(collector),
        },
        errors,
    })
}

/// The files `glob` matches relative to `dir`. Refused (400): an absolute
/// pattern, one with `..`, and any match that leads out of `dir` through a
/// symbolic link.
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
    let root = std::fs::canonicalize(dir)
        .map_err(|e| Reply::error(500, &format!("the stats directory {}: {e}", dir.display())))?;
    let pattern = format!(
        "{}/{glob}",
        ::glob::Pattern::escape(&root.to_string_lossy()).trim_end_matches('/')
    );
    let found = discover::discover(&[pattern]);
    for skip in &found.skipped {
        if let Skip::BehindLink { link, .. } = skip {
            return Err(bad(&format!(
                "{} is a symbolic link, which is not followed",
                link.display()
            )));
        }
    }
    for path in &found.files {
        let inside = std::fs::canonicalize(path).is_ok_and(|real| real.starts_with(&root));
        if !inside {
            return Err(bad(&format!(
                "{} leads out of the stats directory",
                path.display()
            )));
        }
    }
    Ok(found)
}

/// `/stats/`: every label, sorted, each once.
fn labels(state: &State, params: &Params) -> Result<Reply, Reply> {
    let files = read(state, params.get("glob"))?;
    let labels: BTreeSet<&str> = files
        .snapshots()
        .iter()
        .flat_map(|s| s.stats.iter().map(|stat| stat.label.as_str()))
        .collect();
    Ok(Reply::json(&json!({ "stats": labels })))
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
    let files = read(state, params.get("glob"))?;
    let mut values: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for snapshot in files.snapshots() {
        for s in &snapshot.stats {
            let matches = if exact {
                s.label == name
            } else {
                s.label.starts_with(name)
            };
            if matches {
                values.entry(s.label.as_str()).or_default().push(&s.value);
            }
        }
    }
    let mut document = Map::new();
    for (label, values) in values {
        let value = match aggr {
            None => Json::Array(values.iter().map(|v| json_value(v)).collect()),
            Some(aggr) => aggr
                .apply(&values)
                .map_err(|why| Reply::error(400, &format!("{label}: {why}")))?
                .as_ref()
                .map_or(Json::Null, json_value),
        };
        document.insert(label.to_string(), value);
    }
    Ok(Reply::json(&Json::Object(document)))
}

/// `/files/` and `/files/GLOB`: the files read.
fn files(state: &State, glob: Option<&str>) -> Result<Reply, Reply> {
    let files = read(state, glob)?;
    let paths: Vec<String> = files
        .snapshots()
        .iter()
        .filter_map(|s| s.path.as_ref().map(|p| p.display().to_string()))
        .collect();
    Ok(Reply::json(&json!({ "files": paths })))
}

/// `/metrics`: the Prometheus text exposition.
fn metrics(state: &State) -> Reply {
    // No glob: the server's own paths, which cannot be refused.
    let files = match read(state, None) {
        Ok(files) => files,
        Err(reply) => return reply,
    };
    let (snapshots, errors) = (files.snapshots(), files.errors.len());
    Reply::text(
        "text/plain; version=0.0.4; charset=utf-8",
        &prom::exposition(snapshots, errors),
    )
}

/// `/snapshot`: everything the dashboard shows, in one document.
///
/// ```text
/// {"time": MS, "views": [{"id", "name", "files", "stats": [{"label",
///  "kind", "value"}], "series"}], "meta": {LABEL: {"unit", "help"}},
///  "errors": [{"file", "error"}]}
/// ```
///
/// Views: `all` (every file), `cmd:NAME` and `pid:PID` (files combined by
/// the rules of `crate::aggregate`), `file:PATH` (one file as it is).
fn snapshot(state: &State, params: &Params) -> Result<Reply, Reply> {
    let files = read(state, params.get("glob"))?;
    let snapshots = files.snapshots();
    let mut views = Vec::new();
    // Each view with the prefix of its series in a store `mmstats record`
    // wrote (`cmd:NAME`, `pid:PID`, `file:STEM`, then `:LABEL`); all files
    // together have one only when they are all one command's.
    let view = |id: String, name: String, count: usize, series: Option<String>, stats| json!({ "id": id, "name": name, "files": count, "series": series, "stats": stats });
    let commands = aggregate::by_command(snapshots);
    let only_command = match commands.as_slice() {
        [only] => Some(format!("cmd:{}", only.key)),
        _ => None,
    };
    views.push(view(
        "all".into(),
        "all files".into(),
        snapshots.len(),
        only_command,
        combined(&aggregate::combine(snapshots)),
    ));
    for group in &commands {
        let id = format!("cmd:{}", group.key);
        let stats = combined(&group.combine());
        let name = format!("command {}", group.key);
        views.push(view(
            id.clone(),
            name,
            group.snapshots.len(),
            Some(id),
            stats,
        ));
    }
    for group in aggregate::by_process(snapshots) {
        let Some(pid) = group.key else { continue };
        let stats = combined(&group.combine());
        let id = format!("pid:{pid}");
        let name = format!("process {pid}");
        views.push(view(
            id.clone(),
            name,
            group.snapshots.len(),
            Some(id),
            stats,
        ));
    }
    let mut meta = Map::new();
    for snapshot in snapshots {
        let path = snapshot
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let stats = snapshot
            .stats
            .iter()
            .map(|s| json!({ "label": s.label, "kind": s.kind.name(), "value": json_value(&s.value) }))
            .collect();
        let stem = snapshot
            .path
            .as_deref()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let series = format!("file:{}", stem.strip_suffix(".mmstats").unwrap_or(&stem));
        views.push(view(format!("file:{path}"), path, 1, Some(series), stats));
        for s in &snapshot.stats {
            if !meta.contains_key(&s.label) {
                meta.insert(s.label.clone(), json!({ "unit": s.unit, "help": s.help }));
            }
        }
    }
    let errors: Vec<Json> = files
        .errors
        .iter()
        .map(|(file, error)| json!({ "file": file, "error": error }))
        .collect();
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let history = state.store.is_some();
    Ok(Reply::json(&json!({
        "time": u64::try_from(time).unwrap_or(u64::MAX),
        "history": history,
        "views": views,
        "meta": meta,
        "errors": errors,
    })))
}

fn combined(aggregates: &[Aggregate]) -> Vec<Json> {
    aggregates
        .iter()
        .map(|a| {
            let value = match &a.combined {
                Combined::Value(v) => json_value(v),
                Combined::Distinct(values) => values.iter().map(json_value).collect(),
            };
            json!({ "label": a.label, "kind": a.kind.name(), "value": value })
        })
        .collect()
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
    let metrics: Vec<Json> = store
        .metrics()
        .map_err(|e| Reply::error(500, &e.to_string()))?
        .into_iter()
        .map(|m| json!({ "name": m.name, "type": m.value_type.to_string() }))
        .collect();
    let info = store.info();
    Ok(Reply::json(&json!({
        "metrics": metrics,
        "resolution": info.resolution,
        "start_time": info.start_time,
    })))
}

/// `/history/METRIC?from=T&to=T`: the set points of METRIC from time `from`
/// up to, not including, time `to`, in the store's units of time; `to`
/// defaults to now in milliseconds since the Unix epoch (the unit of
/// `mmstats record`) plus one, `from` to [`DEFAULT_HISTORY_SLOTS`] slots
/// before `to`.
fn history(state: &State, metric: &str, params: &Params) -> Result<Reply, Reply> {
    let to = match params.number("to")? {
        Some(to) => to,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .saturating_add(1),
    };
    let mut store = open_store(state)?;
    let info = store.info();
    let from = match params.number("from")? {
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
    let last = store.slot_at(to.max(info.start_time)).map_err(bad)?;
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
}
