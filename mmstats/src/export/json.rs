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
use crate::reader::{Snapshot, Stat, Value};

/// A value as JSON (see the module docs).
pub fn value(value: &Value) -> Json {
    match value {
        Value::Unsigned(n) => (*n).into(),
        Value::Signed(n) => (*n).into(),
        Value::Float(x) => float(*x),
        Value::Bool(b) => (*b).into(),
        Value::Text(t) => t.as_str().into(),
    }
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
pub fn file<'a>(snapshot: &Snapshot, stats: impl IntoIterator<Item = &'a Stat>) -> Json {
    let stats: Vec<Json> = stats.into_iter().map(stat).collect();
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
}
