//! JSON renderings of snapshots (feature `json`), shared by `mmstats slurp
//! --json` and the server's JSON API.
//!
//! Values: integers as JSON numbers, floats as JSON numbers, flags as
//! booleans, texts as strings. JSON has no number for NaN and the
//! infinities, so those are the strings `"NaN"`, `"+Inf"` and `"-Inf"`, as
//! Prometheus writes them: a script can tell them apart, and from a missing
//! value (`null`).

use serde_json::{json, Value as Json};

use crate::discover::Skip;
use crate::reader::{Histogram, Snapshot, Stat, Value, QUANTILES};

/// A value as JSON (see the module docs).
pub fn value(value: &Value) -> Json {
    match value {
        Value::Unsigned(n) => (*n).into(),
        Value::Signed(n) => (*n).into(),
        Value::Float(x) => float(*x),
        Value::Bool(b) => (*b).into(),
        Value::Text(t) => t.as_str().into(),
        Value::Counts(c) => c.as_slice().into(),
    }
}

/// A histogram: `{"count", "sum", "mean", "p50", "p90", "p99", "p999",
/// "min", "max", "invalid", "wrapped", "schema", "first", "buckets"}`;
/// `min` and `max` are the bounds `[lower, upper]` of the buckets that hold
/// the smallest and the largest value, `buckets` the buckets that hold
/// values as `[upper bound, count]` (`"+Inf"` for the overflow bucket).
/// Quantiles, mean and bounds are `null` when no value was recorded.
pub fn histogram(h: &Histogram) -> Json {
    let mut out = serde_json::Map::new();
    out.insert("count".into(), h.count.into());
    out.insert("sum".into(), float(h.sum));
    out.insert("mean".into(), h.mean().map_or(Json::Null, float));
    for (name, q) in QUANTILES {
        out.insert(name.into(), h.quantile(q).map_or(Json::Null, float));
    }
    let bounds = |b: Option<(f64, f64)>| b.map_or(Json::Null, |(l, u)| json!([float(l), float(u)]));
    out.insert("min".into(), bounds(h.min_bounds()));
    out.insert("max".into(), bounds(h.max_bounds()));
    out.insert("invalid".into(), h.invalid.into());
    out.insert("wrapped".into(), h.wrapped().into());
    out.insert("schema".into(), h.schema.into());
    out.insert("first".into(), h.first.into());
    let buckets: Vec<Json> = h
        .non_empty()
        .into_iter()
        .map(|(upper, c)| json!([float(upper), c]))
        .collect();
    out.insert("buckets".into(), buckets.into());
    Json::Object(out)
}

/// A float as a JSON number; NaN and the infinities, which JSON has no
/// number for, as the strings `"NaN"`, `"+Inf"` and `"-Inf"`.
pub fn float(x: f64) -> Json {
    match serde_json::Number::from_f64(x) {
        Some(number) => Json::Number(number),
        None if x.is_nan() => "NaN".into(),
        None if x > 0.0 => "+Inf".into(),
        None => "-Inf".into(),
    }
}

/// One field: `{"label", "kind", "value", "unit"}`, and for a member of a
/// labelled family (see [`crate::labels`]) its `"family"` and `"labels"`
/// (`{"method": "get"}`).
pub fn stat(stat: &Stat) -> Json {
    let mut out = json!({
        "label": stat.label,
        "kind": stat.kind.name(),
        "value": value(&stat.value),
        "unit": stat.unit,
    });
    if let (Ok(Some(member)), Json::Object(map)) = (crate::labels::split(&stat.label), &mut out) {
        let labels: serde_json::Map<String, Json> = member
            .labels
            .into_iter()
            .map(|(k, v)| (k, Json::String(v)))
            .collect();
        map.insert("family".into(), member.family.into());
        map.insert("labels".into(), Json::Object(labels));
    }
    out
}

/// One file with the given fields of it: `{"file", "pid", "stats"}`; the
/// pid is the file's own (its `sys.pid`), whichever fields are given.
///
/// A histogram's field also has the keys of [`histogram`] (or `"error"`,
/// why it could not be read whole).
pub fn file<'a>(snapshot: &Snapshot, stats: impl IntoIterator<Item = &'a Stat>) -> Json {
    let stats: Vec<Json> = stats
        .into_iter()
        .map(|s| {
            let mut out = stat(s);
            if let (Some(read), Json::Object(map)) = (Histogram::read(snapshot, &s.label), &mut out)
            {
                match read {
                    Ok(h) => {
                        if let Json::Object(h) = histogram(&h) {
                            map.extend(h);
                        }
                    }
                    Err(e) => {
                        map.insert("error".into(), e.to_string().into());
                    }
                }
            }
            out
        })
        .collect();
    json!({
        "file": snapshot.path.as_ref().map(|p| p.display().to_string()),
        "pid": snapshot.pid(),
        "stats": stats,
    })
}

/// One error: `{"file", "error"}`.
pub fn error(file: &str, error: &str) -> Json {
    json!({ "file": file, "error": error })
}

/// The path, or the argument, that a skip is about.
pub fn skip_path(skip: &Skip) -> String {
    match skip {
        Skip::NoMatch { arg } | Skip::BadPattern { arg, .. } => arg.clone(),
        Skip::NotRegular { path, .. } | Skip::BehindLink { path, .. } | Skip::Io { path, .. } => {
            path.display().to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MmStats;

    #[test]
    fn values() {
        assert_eq!(value(&Value::Unsigned(u64::MAX)), json!(u64::MAX));
        assert_eq!(value(&Value::Signed(-3)), json!(-3));
        assert_eq!(value(&Value::Float(0.5)), json!(0.5));
        assert_eq!(value(&Value::Float(-0.0)), json!(-0.0));
        assert_eq!(value(&Value::Float(f64::MAX)), json!(f64::MAX));
        assert_eq!(value(&Value::Bool(true)), json!(true));
        assert_eq!(value(&Value::Text("a\"b".into())), json!("a\"b"));
    }

    #[test]
    fn non_finite_floats_are_named_as_prometheus_names_them() {
        assert_eq!(value(&Value::Float(f64::NAN)), json!("NaN"));
        assert_eq!(value(&Value::Float(-f64::NAN)), json!("NaN"));
        assert_eq!(value(&Value::Float(f64::INFINITY)), json!("+Inf"));
        assert_eq!(value(&Value::Float(f64::NEG_INFINITY)), json!("-Inf"));
        assert_eq!(float(f64::from(f32::INFINITY)), json!("+Inf"));
        // The text a script reads back tells the three apart.
        let text = json!([
            float(f64::NAN),
            float(f64::INFINITY),
            float(f64::NEG_INFINITY)
        ]);
        assert_eq!(text.to_string(), r#"["NaN","+Inf","-Inf"]"#);
    }

    #[test]
    fn floats_of_every_sign_and_kind() {
        assert_eq!(float(0.0), json!(0.0));
        assert_eq!(float(-2.5), json!(-2.5));
        assert_eq!(float(f64::INFINITY), json!("+Inf"));
        assert_eq!(float(f64::NEG_INFINITY), json!("-Inf"));
        assert_eq!(float(f64::NAN), json!("NaN"));
    }

    #[derive(crate::MmStats)]
    #[mmstats(crate = "crate", prefix = "web.")]
    struct Web {
        #[mmstats(unit = "seconds")]
        latency: crate::Histogram,
        hits: crate::Counter,
    }

    #[test]
    fn a_file_with_a_histogram_and_a_member_of_a_family() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        stats.latency.record(0.5);
        stats.latency.record(2.0);
        stats.hits.incr_by(3);
        let mut snapshot = crate::reader::read_path(stats.path().unwrap()).unwrap();
        let mut member = snapshot.get("web.hits").unwrap().clone();
        member.label = r#"web.requests{method="get"}"#.into();
        snapshot.stats.push(member);
        let chosen: Vec<&Stat> = snapshot
            .stats
            .iter()
            .filter(|s| s.label == "web.latency" || s.label.starts_with("web.requests"))
            .collect();
        let out = file(&snapshot, chosen);
        assert_eq!(
            out["file"],
            json!(stats.path().unwrap().display().to_string())
        );
        assert_eq!(out["pid"], json!(std::process::id()));
        let latency = &out["stats"][0];
        assert_eq!(latency["label"], json!("web.latency"));
        assert_eq!(latency["unit"], json!("seconds"));
        assert_eq!(latency["count"], json!(2));
        assert_eq!(latency["sum"], json!(2.5));
        assert_eq!(latency["buckets"].as_array().unwrap().len(), 2);
        let requests = &out["stats"][1];
        assert_eq!(requests["value"], json!(3));
        assert_eq!(requests["kind"], json!("counter"));
        assert_eq!(requests["family"], json!("web.requests"));
        assert_eq!(requests["labels"], json!({"method": "get"}));
    }

    #[test]
    fn errors_and_skips_name_their_file() {
        assert_eq!(
            error("/d/x.mmstats", "truncated"),
            json!({"file": "/d/x.mmstats", "error": "truncated"})
        );
        let no_match = Skip::NoMatch {
            arg: "/d/*.mmstats".into(),
        };
        assert_eq!(skip_path(&no_match), "/d/*.mmstats");
        let not_regular = Skip::NotRegular {
            path: "/d/sub".into(),
            what: "a directory",
        };
        assert_eq!(skip_path(&not_regular), "/d/sub");
    }
}
