//! The arguments every reading command shares: how much a file may cost
//! (`--max-file-bytes`, `--max-fields`), and whose files count
//! (`--all-users`).

use mmstats::collect::{Collector, Other};
use mmstats::reader::Limits;

use crate::out;

/// How much one file may cost a read.
#[derive(clap::Args, Clone, Copy)]
pub struct LimitArgs {
    /// The most bytes of one file that are read (`64M`, `1G`, or a number
    /// of bytes; K, M, G are powers of 1024): a file whose fields need more
    /// is reported instead of read.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    max_file_bytes: usize,
    /// The most fields one file may have: a file with more is reported
    /// instead of read.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT.max_fields)]
    max_fields: usize,
}

impl LimitArgs {
    /// The library's limits.
    pub fn limits(&self) -> Limits {
        Limits::default()
            .max_bytes(self.max_file_bytes)
            .max_fields(self.max_fields)
    }

    /// A collector of `paths` within these limits.
    pub fn collector(&self, paths: &[String]) -> Collector {
        Collector::new(paths.to_vec()).limits(self.limits())
    }
}

/// `SIZE`: a number of bytes, or one with K, M, G (KiB, MiB, GiB) after it.
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let (digits, unit) = match trimmed.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => trimmed.split_at(at),
        None => (trimmed, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("{text:?}: not a size (such as 4096, 64M or 1G)")),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{text:?}: not a size (such as 4096, 64M or 1G)"))?;
    n.checked_mul(1usize << shift)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?}: must be above zero and fit in memory"))
}

/// Says, once per run and path, which files of other users were left out.
#[derive(Default)]
pub struct OthersNote {
    said: std::collections::HashSet<std::path::PathBuf>,
}

impl OthersNote {
    /// Warns about the files of `others` not warned about before.
    pub fn warn(&mut self, others: &[Other]) {
        let new: Vec<&Other> = others
            .iter()
            .filter(|o| !self.said.contains(&o.path))
            .collect();
        if new.is_empty() {
            return;
        }
        let listed: Vec<String> = new
            .iter()
            .take(3)
            .map(|o| format!("{} (user {})", o.path.display(), o.owner))
            .collect();
        let more = new.len().saturating_sub(listed.len());
        out::warn(&format!(
            "{} {} of another user left out: {}{}; --all-users includes them",
            new.len(),
            if new.len() == 1 { "file" } else { "files" },
            listed.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
        self.said.extend(new.into_iter().map(|o| o.path.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("16k"), Ok(16 << 10));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        // The flag's default is the library's.
        assert_eq!(parse_size("64M"), Ok(Limits::DEFAULT.max_bytes));
    }
}
