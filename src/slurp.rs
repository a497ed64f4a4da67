//! `mmstats slurp`: every field of every file.

use mmstats::export::json;
use mmstats::reader::{Histogram, Snapshot, Stat};

use crate::out::{self, Out, Status, Stop};
use crate::reading::LimitArgs;

/// Print every field of every stats file.
///
/// For each file: a line `==> PATH`, then one line per field, labels in a
/// column, then the value and its unit. The members of a labelled family
/// (`web.requests{method="get"}`) are shown under the family's label, one
/// line per label set; --json gives each member's whole label, with its
/// "family" and "labels". A file of another user is shown
/// too, with `(owned by user UID)` after its path. With no PATH, reads the
/// default glob (MMSTATS_GLOB, else MMSTATS_PATH/*.mmstats, MMSTATS_PATH
/// defaulting to the temporary directory).
#[derive(clap::Args)]
pub struct Args {
    /// Files, directories (their *.mmstats files) or glob patterns.
    #[arg(value_name = "PATH|DIR|GLOB")]
    paths: Vec<String>,
    /// Print one JSON document instead: {"files": [{"file", "pid", "owner",
    /// "stats": [{"label", "kind", "value", "unit"}], "unsettled"}],
    /// "errors": [{"file", "error"}]}, written out file by file. A float
    /// that is NaN or infinite is the string "NaN", "+Inf" or "-Inf" (JSON
    /// has no number for them).
    #[arg(long)]
    json: bool,
    /// Keep only the fields whose label starts with PREFIX (repeatable);
    /// files with no such field are left out.
    #[arg(short, long, value_name = "PREFIX")]
    filter: Vec<String>,
    #[command(flatten)]
    limits: LimitArgs,
}

pub fn run(args: &Args) -> Result<Status, Stop> {
    // Every user's files: slurp adds nothing up, and shows whose each is.
    let mut collector = args.limits.collector(&args.paths).all_users(true);
    let me = collector.user();
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
    for (snapshot, _) in &files {
        for group in &snapshot.unsettled {
            out::warn(&format!(
                "{}: the group of {group} did not settle (its writer is in the middle of an \
                 update, or died in one); its values may be half old, half new",
                path_of(snapshot)
            ));
        }
    }
    if args.json {
        // One file at a time: the document is never whole in memory.
        out.line("{\"files\": [")?;
        for (i, (snapshot, stats)) in files.iter().enumerate() {
            let mut file = json::file(snapshot, stats.iter().copied());
            if let serde_json::Value::Object(map) = &mut file {
                map.insert("owner".into(), snapshot.owner.into());
                map.insert("unsettled".into(), snapshot.unsettled.clone().into());
            }
            let comma = if i.saturating_add(1) < files.len() {
                ","
            } else {
                ""
            };
            out.line(&format!("{file}{comma}"))?;
        }
        let errors: Vec<serde_json::Value> = errors
            .iter()
            .map(|(file, e)| json::error(file, e))
            .collect();
        out.line(&format!(
            "], \"errors\": {}}}",
            serde_json::Value::from(errors)
        ))?;
    } else {
        for (i, (snapshot, stats)) in files.iter().enumerate() {
            if i > 0 {
                out.line("")?;
            }
            text(&mut out, snapshot, stats, me)?;
        }
    }
    if args.paths.is_empty() && files.is_empty() && errors.is_empty() {
        out::warn(&format!(
            "no stats files match {}",
            mmstats::file::default_glob()
        ));
        // Nothing at all to show is a failure a script can see.
        out.failed();
    }
    out.finish()
}

fn path_of(snapshot: &Snapshot) -> String {
    snapshot
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn text(out: &mut Out, snapshot: &Snapshot, stats: &[&Stat], me: u32) -> Result<(), Stop> {
    let path = path_of(snapshot);
    match snapshot.owner {
        Some(owner) if owner != me => out.line(&format!("==> {path} (owned by user {owner})"))?,
        _ => out.line(&format!("==> {path}"))?,
    }
    // A member of a labelled family is shown under its family's label, by
    // its label set (and part): `web.requests` then `  {method="get"}`.
    let lines: Vec<(Option<&str>, &str, &Stat)> = stats
        .iter()
        .map(|stat| match mmstats::labels::split(&stat.label) {
            Ok(Some(member)) => {
                let base = member.base;
                let rest = stat.label.get(base.len()..).unwrap_or("");
                (Some(base), rest, *stat)
            }
            _ => (None, stat.label.as_str(), *stat),
        })
        .collect();
    let width = lines
        .iter()
        .map(|(family, shown, _)| {
            let indent = if family.is_some() { 2 } else { 0 };
            shown.chars().count().saturating_add(indent)
        })
        .max()
        .unwrap_or(0);
    let mut current: Option<&str> = None;
    for (family, shown, stat) in &lines {
        match family {
            Some(base) => {
                if current != Some(*base) {
                    out.line(&format!("  {base}"))?;
                    current = Some(*base);
                }
                out.line(&field_line(snapshot, &format!("  {shown}"), stat, width))?;
            }
            None => {
                current = None;
                out.line(&field_line(snapshot, shown, stat, width))?;
            }
        }
    }
    Ok(())
}

fn field_line(snapshot: &Snapshot, shown: &str, stat: &Stat, width: usize) -> String {
    // A histogram's line: count, p50, p90, p99, p999 and max.
    let value = match Histogram::read(snapshot, &stat.label) {
        Some(Ok(h)) => h.to_string(),
        Some(Err(e)) => format!("{} ({e})", stat.value),
        None => stat.value.to_string(),
    };
    if stat.unit.is_empty() {
        format!("  {shown:<width$}  {value}")
    } else {
        format!("  {shown:<width$}  {value} {}", stat.unit)
    }
}
