//! The run-time schema against the derive: the same fields declared both
//! ways make byte-identical files, and any schema's layout keeps the
//! format's rules and reads back.

use std::path::Path;

use mmstats::format::{
    FieldLayout, FieldSpec, FIELDS_START, LABEL_SIZE_BYTES, SIGNATURE_SIZE_BYTES,
};
use mmstats::schema::{RuntimeStats, Schema};
use mmstats::stats::Model;
use mmstats::Field;
use mmstats::{
    Average, Counter, DynFamily, Family, Flag, Gauge, Histogram, Kind, Labels, MmStats,
    MovingAverage, Static, StaticText, Summary, Text, Timer,
};
use proptest::prelude::*;

mod support;

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "method")]
enum Method {
    Get,
    Post,
    #[mmstats(value = "with \"quote\"")]
    Odd,
}

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "status")]
enum Status {
    #[mmstats(value = "2xx")]
    Ok,
    #[mmstats(value = "5xx")]
    Server,
}

/// Every field type, every field attribute and the struct attributes.
#[derive(MmStats)]
#[mmstats(name = "every_kind", prefix = "app.")]
struct EveryKind {
    /// Jobs done.
    jobs: Counter,
    #[mmstats(unit = "jobs", help = "waiting")]
    queue: Gauge<u32>,
    g_i8: Gauge<i8>,
    g_u8: Gauge<u8>,
    g_i16: Gauge<i16>,
    g_u16: Gauge<u16>,
    g_i32: Gauge<i32>,
    g_i64: Gauge<i64>,
    g_u64: Gauge<u64>,
    g_f32: Gauge<f32>,
    load: Gauge<f64>,
    up: Flag,
    state: Text<32>,
    long_state: Text,
    mean: Average,
    moving: MovingAverage<10>,
    #[mmstats(label = "latency.timer")]
    timer: Timer<5>,
    #[mmstats(unit = "seconds")]
    summary: Summary,
    hist: Histogram,
    small_hist: Histogram<2, 10>,
    #[mmstats(value = 64)]
    workers: Static<u32>,
    #[mmstats(value = -1.5)]
    ratio: Static<f64>,
    #[mmstats(value = "v1.2")]
    build: StaticText<16>,
    requests: Family<(Method, Status), Counter>,
    #[mmstats(unit = "seconds")]
    latency: Family<Method, Summary>,
    sizes: Family<Status, Histogram<1, 8>>,
}

fn every_kind_schema() -> Schema {
    Schema::new()
        .name("every_kind")
        .prefix("app.")
        .counter("jobs")
        .help("Jobs done.")
        .gauge::<u32>("queue")
        .unit("jobs")
        .help("waiting")
        .gauge::<i8>("g_i8")
        .gauge::<u8>("g_u8")
        .gauge::<i16>("g_i16")
        .gauge::<u16>("g_u16")
        .gauge::<i32>("g_i32")
        .gauge::<i64>("g_i64")
        .gauge::<u64>("g_u64")
        .gauge::<f32>("g_f32")
        .gauge::<f64>("load")
        .flag("up")
        .field::<Text<32>>("state")
        .text("long_state")
        .average("mean")
        .field::<MovingAverage<10>>("moving")
        .field::<Timer<5>>("latency.timer")
        .summary("summary")
        .unit("seconds")
        .histogram("hist")
        .field::<Histogram<2, 10>>("small_hist")
        .static_field::<Static<u32>>("workers", &64)
        .static_field::<Static<f64>>("ratio", &-1.5)
        .static_field::<StaticText<16>>("build", "v1.2")
        .family::<Counter>(
            "requests",
            &[
                ("method", &["get", "post", "with \"quote\""]),
                ("status", &["2xx", "5xx"]),
            ],
        )
        .family::<Summary>("latency", &[("method", &["get", "post", "with \"quote\""])])
        .unit("seconds")
        .family::<Histogram<1, 8>>("sizes", &[("status", &["2xx", "5xx"])])
}

/// No default fields, no prefix.
#[derive(MmStats)]
#[mmstats(name = "bare", defaults = false)]
struct Bare {
    a: Counter,
    #[mmstats(label = "b.flag")]
    b: Flag,
    c: Gauge<i16>,
}

fn bare_schema() -> Schema {
    Schema::new()
        .name("bare")
        .defaults(false)
        .counter("a")
        .flag("b.flag")
        .gauge::<i16>("c")
}

/// The same spec, field by field.
fn same_spec(a: &FieldSpec, b: &FieldSpec) -> bool {
    a.file_label() == b.file_label()
        && a.ty.signature == b.ty.signature
        && a.ty.value_size == b.ty.value_size
        && a.ty.align == b.ty.align
        && a.ty.buffered == b.ty.buffered
        && a.ty.kind == b.ty.kind
        && a.unit == b.unit
        && a.help == b.help
}

fn assert_same_model(derived: &Model, runtime: &Model) {
    assert_eq!(derived.fields.len(), runtime.fields.len());
    for (i, (a, b)) in derived.fields.iter().zip(runtime.fields).enumerate() {
        assert!(same_spec(a, b), "field {i}: {a:?} vs {b:?}");
    }
    assert_eq!(derived.layout, runtime.layout);
    assert_eq!(derived.own_fields, runtime.own_fields);
    assert_eq!(derived.content_size, runtime.content_size);
    assert_eq!(derived.short_name, runtime.short_name);
}

/// A file's fields, terminator and metadata, with `sys.created` (the only
/// value that differs between two files made one after the other) zeroed.
fn content(path: &Path, model: &Model) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    bytes.truncate(model.content_size);
    for (spec, place) in model.fields.iter().zip(model.layout) {
        if spec.label.ends_with("sys.created") {
            bytes[place.value_offset..place.value_offset + 8].fill(0);
        }
    }
    bytes
}

#[test]
fn every_kind_declared_at_run_time_makes_the_derives_bytes() {
    let model = every_kind_schema().build().unwrap();
    assert_same_model(&EveryKind::MODEL, model.model());

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("derived")).unwrap();
    std::fs::create_dir(dir.path().join("runtime")).unwrap();
    let d = EveryKind::builder()
        .dir(dir.path().join("derived"))
        .create()
        .unwrap();
    let r = model
        .builder()
        .dir(dir.path().join("runtime"))
        .create()
        .unwrap();
    // Before any update, then after the same updates.
    assert_eq!(
        content(d.path().unwrap(), &EveryKind::MODEL),
        content(r.path().unwrap(), model.model())
    );
    update_derived(&d);
    update_runtime(&r);
    let (a, b) = (
        content(d.path().unwrap(), &EveryKind::MODEL),
        content(r.path().unwrap(), model.model()),
    );
    assert_eq!(a.len(), b.len());
    let first_difference = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(first_difference, None);
    // And the updates are there.
    let snapshot = mmstats::reader::read_path(r.path().unwrap()).unwrap();
    let value = |label: &str| snapshot.get(label).unwrap().value.to_string();
    assert_eq!(value("app.jobs"), "3");
    assert_eq!(
        value(r#"app.requests{method="with \"quote\"",status="5xx"}"#),
        "7"
    );
    assert_eq!(value("app.build"), "v1.2");
    assert_eq!(value("app.workers"), "64");
    assert_eq!(snapshot.get("app.latency.timer").unwrap().kind, Kind::Timer);
}

fn update_derived(s: &EveryKind) {
    s.jobs.incr_by(3);
    s.queue.set(9);
    s.g_i8.set(-3);
    s.g_u8.set(200);
    s.g_i16.set(-300);
    s.g_u16.set(60_000);
    s.g_i32.set(-70_000);
    s.g_i64.set(-5);
    s.g_u64.set(u64::MAX);
    s.g_f32.set(0.25);
    s.load.set(1.5);
    s.up.set(true);
    s.state.set("running");
    s.long_state.set("a longer text");
    s.mean.add(2.0);
    s.moving.add(4.0);
    s.timer.record_seconds(0.5);
    s.summary.add(0.125);
    s.hist.record(0.003);
    s.small_hist.record(12.0);
    s.requests[(Method::Odd, Status::Server)].incr_by(7);
    s.latency[Method::Post].add(0.5);
    s.sizes[Status::Ok].record(3.0);
}

fn update_runtime(s: &RuntimeStats) {
    s.get::<Counter>("jobs").unwrap().incr_by(3);
    s.get::<Gauge<u32>>("queue").unwrap().set(9);
    s.get::<Gauge<i8>>("g_i8").unwrap().set(-3);
    s.get::<Gauge<u8>>("g_u8").unwrap().set(200);
    s.get::<Gauge<i16>>("g_i16").unwrap().set(-300);
    s.get::<Gauge<u16>>("g_u16").unwrap().set(60_000);
    s.get::<Gauge<i32>>("g_i32").unwrap().set(-70_000);
    s.get::<Gauge<i64>>("g_i64").unwrap().set(-5);
    s.get::<Gauge<u64>>("g_u64").unwrap().set(u64::MAX);
    s.get::<Gauge<f32>>("g_f32").unwrap().set(0.25);
    s.get::<Gauge<f64>>("load").unwrap().set(1.5);
    s.get::<Flag>("up").unwrap().set(true);
    s.get::<Text<32>>("state").unwrap().set("running");
    s.get::<Text>("long_state").unwrap().set("a longer text");
    s.get::<Average>("mean").unwrap().add(2.0);
    s.get::<MovingAverage<10>>("moving").unwrap().add(4.0);
    s.get::<Timer<5>>("latency.timer")
        .unwrap()
        .record_seconds(0.5);
    s.get::<Summary>("summary").unwrap().add(0.125);
    s.get::<Histogram>("hist").unwrap().record(0.003);
    s.get::<Histogram<2, 10>>("small_hist")
        .unwrap()
        .record(12.0);
    s.family::<Counter>("requests")
        .unwrap()
        .get(&["with \"quote\"", "5xx"])
        .unwrap()
        .incr_by(7);
    s.family::<Summary>("latency")
        .unwrap()
        .get(&["post"])
        .unwrap()
        .add(0.5);
    s.family::<Histogram<1, 8>>("sizes")
        .unwrap()
        .get(&["2xx"])
        .unwrap()
        .record(3.0);
}

#[test]
fn a_model_without_defaults_declared_at_run_time_makes_the_derives_bytes() {
    let model = bare_schema().build().unwrap();
    assert_same_model(&Bare::MODEL, model.model());
    let dir = tempfile::tempdir().unwrap();
    let d = Bare::builder()
        .dir(dir.path())
        .file("derived.mmstats")
        .create()
        .unwrap();
    let r = model
        .builder()
        .dir(dir.path())
        .file("runtime.mmstats")
        .create()
        .unwrap();
    d.a.incr_by(5);
    d.b.set(true);
    d.c.set(-2);
    r.get::<Counter>("a").unwrap().incr_by(5);
    r.get::<Flag>("b.flag").unwrap().set(true);
    r.get::<Gauge<i16>>("c").unwrap().set(-2);
    // Whole files, identity record aside: nothing here differs in time.
    assert_eq!(
        std::fs::read(d.path().unwrap()).unwrap()[..Bare::MODEL.content_size],
        std::fs::read(r.path().unwrap()).unwrap()[..Bare::MODEL.content_size]
    );
}

/// Two families with run-time labels among plain fields.
#[derive(MmStats)]
#[mmstats(name = "dynamic", prefix = "web.")]
struct Dynamic {
    hits: Counter,
    /// Requests by route.
    #[mmstats(key = "route")]
    routes: DynFamily<Counter, 3>,
    #[mmstats(unit = "seconds")]
    tenant: DynFamily<Histogram, 2>,
    load: Gauge<i64>,
}

fn dynamic_schema() -> Schema {
    Schema::new()
        .name("dynamic")
        .prefix("web.")
        .counter("hits")
        .dyn_family::<Counter>("routes", "route", 3)
        .help("Requests by route.")
        .dyn_family::<Histogram>("tenant", "tenant", 2)
        .unit("seconds")
        .gauge::<i64>("load")
}

/// Label values that need escaping in a label set, and more values than
/// either family has room for.
const ROUTES: [&str; 5] = [
    "/api/items",
    "with \"quote\"",
    r"back\slash",
    "/fourth",
    "/fifth",
];
const TENANTS: [&str; 3] = ["a\"b", "c\\d", "e"];

#[test]
fn dyn_families_declared_at_run_time_make_the_derives_bytes() {
    let model = dynamic_schema().build().unwrap();
    assert_same_model(&Dynamic::MODEL, model.model());

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("derived")).unwrap();
    std::fs::create_dir(dir.path().join("runtime")).unwrap();
    let d = Dynamic::builder()
        .dir(dir.path().join("derived"))
        .create()
        .unwrap();
    let r = model
        .builder()
        .dir(dir.path().join("runtime"))
        .create()
        .unwrap();
    assert_eq!(
        content(d.path().unwrap(), &Dynamic::MODEL),
        content(r.path().unwrap(), model.model())
    );

    d.hits.incr_by(2);
    d.load.set(-4);
    for (i, route) in ROUTES.iter().enumerate() {
        d.routes.member(route).incr_by(i as u64 + 1);
    }
    for (i, tenant) in TENANTS.iter().enumerate() {
        d.tenant.member(tenant).record(i as f64 + 0.5);
    }
    d.routes.overflow().incr_by(10);

    r.get::<Counter>("hits").unwrap().incr_by(2);
    r.get::<Gauge<i64>>("load").unwrap().set(-4);
    let routes = r.dyn_family::<Counter>("routes").unwrap();
    for (i, route) in ROUTES.iter().enumerate() {
        routes.member(route).incr_by(i as u64 + 1);
    }
    let tenants = r.dyn_family::<Histogram>("tenant").unwrap();
    for (i, tenant) in TENANTS.iter().enumerate() {
        tenants.member(tenant).record(i as f64 + 0.5);
    }
    routes.overflow().incr_by(10);

    let (a, b) = (
        content(d.path().unwrap(), &Dynamic::MODEL),
        content(r.path().unwrap(), model.model()),
    );
    assert_eq!(a.len(), b.len());
    let first_difference = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(first_difference, None);

    // Past capacity, the values went to the overflow member.
    assert_eq!((routes.len(), routes.capacity()), (3, 3));
    assert_eq!(routes.overflow().get(), 4 + 5 + 10);
    assert_eq!(tenants.overflow().count(), 1);
    let taken: Vec<String> = routes.iter().map(|(v, _)| v).collect();
    assert_eq!(taken, &ROUTES[..3]);
    // The reader shows the members by their values, escaped.
    let snapshot = mmstats::reader::read_path(r.path().unwrap()).unwrap();
    let value = |label: &str| match snapshot.get(label) {
        Some(stat) => stat.value.to_string(),
        None => panic!("no {label}"),
    };
    assert_eq!(value(r#"web.routes{route="/api/items"}"#), "1");
    assert_eq!(value(r#"web.routes{route="with \"quote\""}"#), "2");
    assert_eq!(value(r#"web.routes{route="back\\slash"}"#), "3");
    assert_eq!(value(r#"web.routes{route="__overflow__"}"#), "19");
    assert!(snapshot.get(r#"web.tenant{tenant="a\"b"}"#).is_some());
    assert!(snapshot.get(r#"web.tenant{tenant="c\\d"}"#).is_some());
}

#[test]
fn slurp_json_shows_a_schemas_dyn_family_by_its_values() {
    let model = Schema::new()
        .name("dynamic")
        .prefix("web.")
        .dyn_family::<Counter>("routes", "route", 3)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stats = model.builder().dir(dir.path()).create().unwrap();
    let routes = stats.dyn_family::<Counter>("routes").unwrap();
    routes.member("/a \"q\"").incr_by(3);
    routes.member("/b").incr_by(4);
    routes.member("").incr_by(5);

    let (ok, out, err) = support::run(&["slurp", "--json", dir.path().to_str().unwrap()]);
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let listed = doc["files"][0]["stats"].as_array().unwrap();
    let member = |label: &str| match listed.iter().find(|s| s["label"] == label) {
        Some(stat) => stat.clone(),
        None => panic!("no {label} in {out}"),
    };
    let quoted = member(r#"web.routes{route="/a \"q\""}"#);
    assert_eq!(quoted["family"], "web.routes");
    assert_eq!(quoted["labels"]["route"], "/a \"q\"");
    assert_eq!(quoted["value"], 3);
    assert_eq!(member(r#"web.routes{route="/b"}"#)["value"], 4);
    assert_eq!(member(r#"web.routes{route="__overflow__"}"#)["value"], 5);
    // Neither the unused member nor the label fields are shown.
    let labels: Vec<&str> = listed.iter().filter_map(|s| s["label"].as_str()).collect();
    assert!(
        labels
            .iter()
            .all(|l| !l.contains(".label") && !l.contains("\"#")),
        "{labels:?}"
    );
    assert_eq!(
        labels
            .iter()
            .filter(|l| l.starts_with("web.routes"))
            .count(),
        3,
        "{labels:?}"
    );
}

/// A kind of field a random schema may declare.
#[derive(Clone, Copy, Debug)]
enum Kindly {
    Counter,
    GaugeU8,
    GaugeI16,
    GaugeU32,
    GaugeF64,
    Flag,
    Text7,
    Average,
    Moving3,
    Timer4,
    Summary,
    Histogram,
    SmallHistogram,
    StaticU16,
    StaticText9,
}

const KINDS: [Kindly; 15] = [
    Kindly::Counter,
    Kindly::GaugeU8,
    Kindly::GaugeI16,
    Kindly::GaugeU32,
    Kindly::GaugeF64,
    Kindly::Flag,
    Kindly::Text7,
    Kindly::Average,
    Kindly::Moving3,
    Kindly::Timer4,
    Kindly::Summary,
    Kindly::Histogram,
    Kindly::SmallHistogram,
    Kindly::StaticU16,
    Kindly::StaticText9,
];

#[derive(Clone, Debug)]
struct RandomField {
    name: String,
    kind: Kindly,
    dims: Vec<(String, Vec<String>)>,
    /// For a family with run-time labels (then `dims` is empty): its key,
    /// its capacity and how many of [`DYN_VALUES`] it takes.
    dynamic: Option<(String, usize, usize)>,
    unit: String,
}

/// The values a random run-time family takes, in order: some need
/// escaping in a label set.
const DYN_VALUES: [&str; 6] = ["x\"y", "back\\slash", "é", "n\nl", "a", "/b"];

fn declare(s: Schema, f: &RandomField) -> Schema {
    macro_rules! add {
        ($t:ty) => {
            if let Some((key, capacity, _)) = &f.dynamic {
                s.dyn_family::<$t>(f.name.as_str(), key.as_str(), *capacity)
            } else if f.dims.is_empty() {
                s.field::<$t>(f.name.as_str())
            } else {
                let values: Vec<Vec<&str>> = f
                    .dims
                    .iter()
                    .map(|(_, v)| v.iter().map(String::as_str).collect())
                    .collect();
                let dims: Vec<(&str, &[&str])> = f
                    .dims
                    .iter()
                    .zip(&values)
                    .map(|((k, _), v)| (k.as_str(), v.as_slice()))
                    .collect();
                s.family::<$t>(f.name.as_str(), &dims)
            }
        };
    }
    let s = match f.kind {
        Kindly::Counter => add!(Counter),
        Kindly::GaugeU8 => add!(Gauge<u8>),
        Kindly::GaugeI16 => add!(Gauge<i16>),
        Kindly::GaugeU32 => add!(Gauge<u32>),
        Kindly::GaugeF64 => add!(Gauge<f64>),
        Kindly::Flag => add!(Flag),
        Kindly::Text7 => add!(Text<7>),
        Kindly::Average => add!(Average),
        Kindly::Moving3 => add!(MovingAverage<3>),
        Kindly::Timer4 => add!(Timer<4>),
        Kindly::Summary => add!(Summary),
        Kindly::Histogram => add!(Histogram),
        Kindly::SmallHistogram => add!(Histogram<0, 3>),
        Kindly::StaticU16 => s.static_field::<Static<u16>>(f.name.as_str(), &513),
        Kindly::StaticText9 => s.static_field::<StaticText<9>>(f.name.as_str(), "static é"),
    };
    if f.unit.is_empty() {
        s
    } else {
        s.unit(f.unit.as_str())
    }
}

fn random_fields() -> impl Strategy<Value = Vec<RandomField>> {
    let value = prop::sample::select(vec![
        "a",
        "b",
        "get",
        "2xx",
        "x\"y",
        "back\\slash",
        "é",
        "n\nl",
    ]);
    let dim = (
        prop::sample::select(vec!["k", "method", "_z", "A9"]),
        prop::collection::btree_set(value, 1..4),
    );
    let field = (
        prop::sample::select(KINDS.to_vec()),
        prop::collection::vec(dim, 0..3),
        prop::sample::select(vec!["", "seconds", "bytes"]),
        "[a-z.]{0,6}",
        prop::option::weighted(
            0.3,
            (
                prop::sample::select(vec!["route", "k", "_t"]),
                1usize..4,
                0..=DYN_VALUES.len(),
            ),
        ),
    );
    prop::collection::vec(field, 1..12).prop_map(|fields| {
        fields
            .into_iter()
            .enumerate()
            .map(|(i, (kind, dims, unit, tail, dynamic))| {
                // Distinct keys within a family (a tuple names each once).
                let mut seen = std::collections::BTreeSet::new();
                let dims = dims
                    .into_iter()
                    .filter(|(k, _)| seen.insert(*k))
                    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
                    .collect::<Vec<_>>();
                let (dims, dynamic) = match (kind, dynamic) {
                    (Kindly::StaticU16 | Kindly::StaticText9, _) => (Vec::new(), None),
                    (_, Some((key, capacity, take))) => {
                        (Vec::new(), Some((key.to_string(), capacity, take)))
                    }
                    (_, None) => (dims, None),
                };
                RandomField {
                    // Unique: the index comes first and no name ends in a
                    // part's suffix of another (parts start with a dot
                    // after the whole name).
                    name: format!("f{i}_{tail}"),
                    kind,
                    dims,
                    dynamic,
                    unit: unit.to_string(),
                }
            })
            .collect()
    })
}

/// How many members a random field has.
fn member_count(f: &RandomField) -> usize {
    match &f.dynamic {
        Some((_, capacity, _)) => capacity + 1,
        None => f.dims.iter().map(|(_, v)| v.len()).product(),
    }
}

/// The label set of member `m` of a random field, as laid out in the file.
fn member_set(f: &RandomField, m: usize) -> String {
    match &f.dynamic {
        Some((key, capacity, _)) if m < *capacity => format!("{{{key}=\"#{m}\"}}"),
        Some((key, _, _)) => format!("{{{key}=\"__overflow__\"}}"),
        None => label_set(&f.dims, m),
    }
}

/// The label set a reader shows for member `m` of a random field: a run-time
/// family's taken member under its value; `None` for one not taken.
fn shown_set(f: &RandomField, m: usize) -> Option<String> {
    match &f.dynamic {
        Some((key, capacity, take)) if m < *capacity => {
            (m < *take).then(|| format!("{{{key}=\"{}\"}}", mmstats::labels::escape(DYN_VALUES[m])))
        }
        _ => Some(member_set(f, m)),
    }
}

/// Takes the first values of a random run-time family, in order.
fn take_values<F: Field + 'static>(stats: &RuntimeStats, f: &RandomField) {
    if let Some((_, _, take)) = &f.dynamic {
        let family = stats.dyn_family::<F>(&f.name).unwrap();
        for value in &DYN_VALUES[..*take] {
            family.member(value);
        }
    }
}

/// The label set of member `m` of `dims`, the first label varying slowest.
fn label_set(dims: &[(String, Vec<String>)], mut m: usize) -> String {
    if dims.is_empty() {
        return String::new();
    }
    let mut pairs = Vec::new();
    for (key, values) in dims.iter().rev() {
        let v = &values[m % values.len()];
        m /= values.len();
        pairs.push(format!("{key}=\"{}\"", mmstats::labels::escape(v)));
    }
    pairs.reverse();
    format!("{{{}}}", pairs.join(","))
}

fn check_layout(layout: &[FieldLayout], specs: &[FieldSpec]) {
    let mut offset = FIELDS_START;
    for (spec, place) in specs.iter().zip(layout) {
        assert_eq!(place.offset, offset, "{}", spec.file_label());
        let align = spec.ty.align.max(1);
        assert_eq!(place.value_offset % align, 0, "{}", spec.file_label());
        assert!(place.padding < align);
        assert_eq!(
            place.write_buffer_offset,
            offset
                + LABEL_SIZE_BYTES
                + spec.label_len()
                + SIGNATURE_SIZE_BYTES
                + place.padding
                + spec.ty.signature.len()
        );
        assert_eq!(place.value_offset, place.write_buffer_offset + 1);
        let copies = if spec.ty.buffered { 2 } else { 1 };
        assert_eq!(place.end, place.value_offset + copies * spec.ty.value_size);
        offset = place.end;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any schema: offsets, alignment and labels as format.md says, and
    /// the file reads back with every label, kind and unit, and the values
    /// written.
    #[test]
    fn any_schema_is_laid_out_by_the_format_and_reads_back(
        fields in random_fields(),
        prefix in prop::sample::select(vec!["", "app.", "x_"]),
        defaults in any::<bool>(),
    ) {
        let mut schema = Schema::new().name("random").prefix(prefix).defaults(defaults);
        for f in &fields {
            schema = declare(schema, f);
        }
        let model = schema.build().unwrap();
        let m = model.model();
        check_layout(m.layout, m.fields);

        // The labels, in order: each field's members, each with its parts.
        let mut at = 0;
        // And what a reader shows of each field: (label, kind, unit).
        let mut shown = Vec::new();
        for f in &fields {
            for member in 0..member_count(f) {
                let main = format!("{prefix}{}{}", f.name, member_set(f, member));
                let first = at;
                prop_assert_eq!(m.fields[at].file_label(), main.clone());
                // The declared unit, else the type's own.
                let unit = if f.unit.is_empty() { m.fields[at].ty.default_unit } else { f.unit.as_str() };
                prop_assert_eq!(m.fields[at].unit, unit);
                at += 1;
                while at < m.own_fields && m.fields[at].file_label().starts_with(&format!("{main}.")) {
                    at += 1;
                }
                let Some(set) = shown_set(f, member) else { continue };
                let shown_main = format!("{prefix}{}{set}", f.name);
                for spec in &m.fields[first..at] {
                    let label = spec.file_label().replacen(&main, &shown_main, 1);
                    // A run-time family's label fields are not values.
                    let own = spec.file_label();
                    if f.dynamic.is_some() && (own == format!("{main}.label") || own == format!("{main}.label.seq")) {
                        continue;
                    }
                    shown.push((label, spec.ty.kind, spec.unit.to_string()));
                }
            }
        }
        for spec in &m.fields[m.own_fields..] {
            shown.push((spec.file_label(), spec.ty.kind, spec.unit.to_string()));
        }
        prop_assert_eq!(at, m.own_fields);
        prop_assert_eq!(m.fields.len(), m.own_fields + if defaults { 8 } else { 0 });

        let dir = tempfile::tempdir().unwrap();
        let stats = model.builder().dir(dir.path()).create().unwrap();
        // A distinct count into every counter and every counter member.
        let mut expected = Vec::new();
        for f in &fields {
            match f.kind {
                Kindly::Counter => take_values::<Counter>(&stats, f),
                Kindly::GaugeU8 => take_values::<Gauge<u8>>(&stats, f),
                Kindly::GaugeI16 => take_values::<Gauge<i16>>(&stats, f),
                Kindly::GaugeU32 => take_values::<Gauge<u32>>(&stats, f),
                Kindly::GaugeF64 => take_values::<Gauge<f64>>(&stats, f),
                Kindly::Flag => take_values::<Flag>(&stats, f),
                Kindly::Text7 => take_values::<Text<7>>(&stats, f),
                Kindly::Average => take_values::<Average>(&stats, f),
                Kindly::Moving3 => take_values::<MovingAverage<3>>(&stats, f),
                Kindly::Timer4 => take_values::<Timer<4>>(&stats, f),
                Kindly::Summary => take_values::<Summary>(&stats, f),
                Kindly::Histogram => take_values::<Histogram>(&stats, f),
                Kindly::SmallHistogram => take_values::<Histogram<0, 3>>(&stats, f),
                Kindly::StaticU16 | Kindly::StaticText9 => {}
            }
        }
        for (i, f) in fields.iter().enumerate() {
            if !matches!(f.kind, Kindly::Counter) {
                continue;
            }
            if let Some((_, capacity, _)) = &f.dynamic {
                let family = stats.dyn_family::<Counter>(&f.name).unwrap();
                for (m, value) in DYN_VALUES.iter().enumerate().take(*capacity) {
                    let Some(set) = shown_set(f, m) else { continue };
                    let count = (i * 100 + m) as u64;
                    family.member(value).incr_by(count);
                    expected.push((format!("{prefix}{}{set}", f.name), count));
                }
                // (The values taken past capacity went to the overflow as
                // well, and counted nothing.)
                let count = (i * 100 + capacity) as u64;
                family.overflow().incr_by(count);
                expected.push((format!("{prefix}{}{}", f.name, member_set(f, *capacity)), count));
            } else if f.dims.is_empty() {
                stats.get::<Counter>(&f.name).unwrap().incr_by(i as u64 + 1);
                expected.push((format!("{prefix}{}", f.name), i as u64 + 1));
            } else {
                let family = stats.family::<Counter>(&f.name).unwrap();
                for (m, c) in family.iter().enumerate() {
                    c.incr_by((i * 100 + m) as u64);
                    expected.push((
                        format!("{prefix}{}{}", f.name, label_set(&f.dims, m)),
                        (i * 100 + m) as u64,
                    ));
                }
            }
        }
        let snapshot = mmstats::reader::read_path(stats.path().unwrap()).unwrap();
        prop_assert!(snapshot.meta);
        let read: Vec<(String, Kind, String)> = snapshot
            .stats
            .iter()
            .map(|stat| (stat.label.clone(), stat.kind, stat.unit.clone()))
            .collect();
        prop_assert_eq!(read, shown);
        for (label, count) in expected {
            prop_assert_eq!(snapshot.get(&label).unwrap().value.to_string(), count.to_string());
        }
        for f in fields.iter().filter(|f| matches!(f.kind, Kindly::StaticText9)) {
            prop_assert_eq!(
                snapshot.get(&format!("{prefix}{}", f.name)).unwrap().value.to_string(),
                "static é"
            );
        }
    }
}
