//! `mmstats clean`: remove the stats files of processes that are gone.

use mmstats::clean::{examine, Kept, Verdict};
use mmstats::discover;

use crate::out::{self, Out, Status, Stop};

/// Remove stale stats files: files whose writing process is gone.
///
/// A file is removed only when all of these hold: it is a regular file (not
/// a symbolic link, which is never followed), it belongs to the user running
/// clean, it reads as an mmstats file with a sys.pid field, no process holds
/// the lock every writer of this project keeps on its file, and either no
/// process has that pid or the process that has it started after the file
/// was created (the pid was reused). Every file is reported, removed or kept,
/// with the reason, then the counts.
#[derive(clap::Args)]
pub struct Args {
    /// Files, directories (their *.mmstats files) or glob patterns; by
    /// default the default glob.
    #[arg(value_name = "PATH|DIR|GLOB")]
    paths: Vec<String>,
    /// Say what would be removed, remove nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,
}

pub fn run(args: &Args) -> Result<Status, Stop> {
    let found = discover::candidates(&args.paths);
    let mut out = Out::new();
    let mut removed = 0usize;
    let mut kept = [0usize; Kept::ALL.len()];
    for skip in &found.skipped {
        out::warn(&skip.to_string());
        out.failed();
    }
    for path in &found.files {
        let shown = path.display();
        match examine(path) {
            Verdict::Gone => {}
            Verdict::Keep(why, detail) => {
                if why == Kept::Failed {
                    out.failed();
                }
                if let Some(i) = Kept::ALL.iter().position(|k| *k == why) {
                    if let Some(count) = kept.get_mut(i) {
                        *count = count.saturating_add(1);
                    }
                }
                out.line(&format!("kept    {shown}: {}: {detail}", why.name()))?;
            }
            Verdict::Remove(stale) => {
                let reason = stale.reason().to_string();
                if args.dry_run {
                    out.line(&format!("would remove {shown}: {reason}"))?;
                    removed = removed.saturating_add(1);
                    continue;
                }
                match stale.remove(path) {
                    Ok(()) => {
                        out.line(&format!("removed {shown}: {reason}"))?;
                        removed = removed.saturating_add(1);
                    }
                    Err(e) => {
                        out.line(&format!("kept    {shown}: failed: cannot remove it: {e}"))?;
                        out.failed();
                        if let Some(count) = kept.last_mut() {
                            *count = count.saturating_add(1);
                        }
                    }
                }
            }
        }
    }
    let total: usize = kept.iter().sum();
    let details: Vec<String> = Kept::ALL
        .iter()
        .zip(kept)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {}", k.name()))
        .collect();
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let summary = if details.is_empty() {
        format!("{verb} {removed}, kept {total}")
    } else {
        format!("{verb} {removed}, kept {total} ({})", details.join(", "))
    };
    out.line(&summary)?;
    out.finish()
}
