//! `mmstats slurp`: every field of every file.

use mmstats::collect::Collector;
use mmstats::export::json;
use mmstats::reader::{Snapshot, Stat};

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
    /// A float that is NaN or infinite is the string "NaN", "+Inf" or "-Inf"
    /// (JSON has no number for them).
    #[arg(long)]
    json: bool,
    /// Keep only the fields whose label starts with PREFIX (repeatable);
    /// files with no such field are left out.
    #[arg(short, long, value_name = "PREFIX")]
    filter: Vec<String>,
}

pub fn run(args: &Args) -> Result<Status, Stop> {
    let mut collector = Collector::new(args.paths.clone());
    let collection = collector.collect();
    let mut errors: Vec<(String, String)> = collection
        .skipped
        .iter()
        .map(|skip| (json::skip_path(skip), skip.to_string()))
        .collect();
    errors.extend(
        collection
            .failed
            .iter()
            .map(|f| (f.path.display().to_string(), f.error.to_string())),
    );
    let keep = |stat: &Stat| {
        args.filter.is_empty() || args.filter.iter().any(|f| stat.label.starts_with(f))
    };
    // Each file with the fields it keeps; files the filter empties are left out.
    let files: Vec<(&Snapshot, Vec<&Stat>)> = collection
        .files
        .iter()
        .map(|snapshot| {
            (
                snapshot,
                snapshot.stats.iter().filter(|s| keep(s)).collect(),
            )
        })
        .filter(|(_, stats): &(_, Vec<&Stat>)| !stats.is_empty() || args.filter.is_empty())
        .collect();
    let mut out = Out::new();
    for (_, message) in &errors {
        out::warn(message);
        out.failed();
    }
    if args.json {
        let files: Vec<serde_json::Value> = files
            .iter()
            .map(|(snapshot, stats)| json::file(snapshot, stats.iter().copied()))
            .collect();
        let errors: Vec<serde_json::Value> = errors
            .iter()
            .map(|(file, e)| json::error(file, e))
            .collect();
        let document = serde_json::json!({ "files": files, "errors": errors });
        out.line(&document.to_string())?;
    } else {
        for (i, (snapshot, stats)) in files.iter().enumerate() {
            if i > 0 {
                out.line("")?;
            }
            text(&mut out, snapshot, stats)?;
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

fn text(out: &mut Out, snapshot: &Snapshot, stats: &[&Stat]) -> Result<(), Stop> {
    let path = snapshot
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    out.line(&format!("==> {path}"))?;
    let width = stats
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(0);
    for stat in stats {
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
