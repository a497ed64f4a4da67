//! `mmstats slurp`: every field of every file.

use mmstats::discover;
use mmstats::reader::{self, Snapshot, Stat, Value};

use crate::out::{self, Out, Status, Stop};

/// Print every field of every stats file.
///
/// For each file: a line `==> PATH`, then one line per field, labels in a
/// column, then the value and its unit. With no PATH, reads the default glob
/// (MMSTATS_GLOB, else MMSTATS_PATH/*.mmstats, MMSTATS_PATH defaulting to
/// the temporary directory).
#[derive(clap::Args)]
pub struct Args {
    /// Files, directories (their *.mmstats files) or glob patterns.
    #[arg(value_name = "PATH|DIR|GLOB")]
    paths: Vec<String>,
    /// Print one JSON document instead: {"files": [{"file", "pid", "stats":
    /// [{"label", "kind", "value", "unit"}]}], "errors": [{"file", "error"}]}.
    #[arg(long)]
    json: bool,
    /// Keep only the fields whose label starts with PREFIX (repeatable);
    /// files with no such field are left out.
    #[arg(short, long, value_name = "PREFIX")]
    filter: Vec<String>,
}

/// A file read, or why it could not be.
type Read = Result<Snapshot, (String, String)>;

pub fn run(args: &Args) -> Result<Status, Stop> {
    let found = discover::discover(&args.paths);
    let mut errors: Vec<(String, String)> = found
        .skipped
        .iter()
        .map(|skip| (skip_path(skip), skip.to_string()))
        .collect();
    // Each file with its process, found before the filter drops `sys.pid`.
    let mut files: Vec<(Snapshot, Option<u32>)> = Vec::new();
    for path in &found.files {
        let read: Read =
            reader::read_path(path).map_err(|e| (path.display().to_string(), e.to_string()));
        match read {
            Ok(mut snapshot) => {
                let pid = snapshot.pid();
                if !args.filter.is_empty() {
                    snapshot
                        .stats
                        .retain(|s| args.filter.iter().any(|f| s.label.starts_with(f)));
                    if snapshot.stats.is_empty() {
                        continue;
                    }
                }
                files.push((snapshot, pid));
            }
            Err(e) => errors.push(e),
        }
    }
    let mut out = Out::new();
    for (_, message) in &errors {
        out::warn(message);
        out.failed();
    }
    if args.json {
        let document = json(&files, &errors);
        out.line(&document.to_string())?;
    } else {
        for (i, (snapshot, _)) in files.iter().enumerate() {
            if i > 0 {
                out.line("")?;
            }
            text(&mut out, snapshot)?;
        }
    }
    if args.paths.is_empty() && files.is_empty() && errors.is_empty() {
        out::warn(&format!(
            "no stats files match {}",
            mmstats::file::default_glob()
        ));
    }
    out.finish()
}

/// The path an argument skip is about, for the JSON `errors` list.
fn skip_path(skip: &discover::Skip) -> String {
    match skip {
        discover::Skip::NoMatch { arg } | discover::Skip::BadPattern { arg, .. } => arg.clone(),
        discover::Skip::NotRegular { path, .. }
        | discover::Skip::BehindLink { path, .. }
        | discover::Skip::Io { path, .. } => path.display().to_string(),
        _ => String::new(),
    }
}

fn text(out: &mut Out, snapshot: &Snapshot) -> Result<(), Stop> {
    let path = snapshot
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    out.line(&format!("==> {path}"))?;
    let width = snapshot
        .stats
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(0);
    for stat in &snapshot.stats {
        out.line(&field_line(stat, width))?;
    }
    Ok(())
}

fn field_line(stat: &Stat, width: usize) -> String {
    let value = stat.value.to_string();
    if stat.unit.is_empty() {
        format!("  {:<width$}  {value}", stat.label)
    } else {
        format!("  {:<width$}  {value} {}", stat.label, stat.unit)
    }
}

fn json(files: &[(Snapshot, Option<u32>)], errors: &[(String, String)]) -> serde_json::Value {
    use serde_json::{json, Value as Json};
    let files: Vec<Json> = files
        .iter()
        .map(|(snapshot, pid)| {
            let stats: Vec<Json> = snapshot
                .stats
                .iter()
                .map(|s| {
                    json!({
                        "label": s.label,
                        "kind": s.kind.name(),
                        "value": json_value(&s.value),
                        "unit": s.unit,
                    })
                })
                .collect();
            json!({
                "file": snapshot.path.as_ref().map(|p| p.display().to_string()),
                "pid": pid,
                "stats": stats,
            })
        })
        .collect();
    let errors: Vec<Json> = errors
        .iter()
        .map(|(file, error)| json!({ "file": file, "error": error }))
        .collect();
    json!({ "files": files, "errors": errors })
}

/// Numbers as JSON numbers (a float that is not finite as `null`), flags as
/// booleans, texts as strings.
fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Unsigned(n) => (*n).into(),
        Value::Signed(n) => (*n).into(),
        Value::Float(x) => serde_json::Number::from_f64(*x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Bool(b) => (*b).into(),
        Value::Text(t) => t.as_str().into(),
    }
}
