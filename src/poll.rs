//! `mmstats poll`: a vmstat-like line per interval, summed over files.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use mmstats::aggregate::{self, Aggregate, Combined, Poller, Rules};
use mmstats::collect::Collector;
use mmstats::labels::Selector;
use mmstats::reader::{Histogram, Snapshot, Value};
use mmstats::Kind;

use mmstats::time as when;

use crate::out::{self, Out, Status, Stop};
use crate::reading::{LimitArgs, OthersNote};

/// Print one line per interval with one column per field, summed over every
/// matching file (threads and processes).
///
/// Counters show their change since the previous line (the first line shows
/// their whole value; `FIELD:rate` shows it per second), gauges their current value, averages and timers the
/// mean over files, flags whether any file has them set; the rules are those
/// of mmstats::aggregate; a histogram's quantiles are those of the values
/// recorded during the interval, from the change of its buckets. Files that appear are picked up; files that vanish
/// are dropped without the sums stepping back. A file is used when it has at
/// least one of the FIELDS and matches every --filter. Only the files of
/// the user poll runs as are summed, unless --all-users is given.
#[derive(clap::Args)]
pub struct Args {
    /// Comma-separated labels, each put after --prefix (`requests,status.5XX`).
    /// A labelled family's label sums its members (`requests`), and with
    /// some of its labels the members that have them
    /// (`requests{status="5xx"}`). A histogram's label takes the number to
    /// show over each interval after a colon (`latency:p99,latency:count`;
    /// also sum, mean, min, max, and any quantile such as p50 or p999).
    /// `:rate` shows a counter's change, or a histogram's count, per second
    /// (`requests:rate`; `-` on the first line).
    fields: String,
    /// Files, directories (their *.mmstats files) or glob patterns, looked
    /// up again for every line; by default the default glob.
    #[arg(value_name = "PATH|DIR|GLOB")]
    paths: Vec<String>,
    /// Time between lines, as every command takes durations (`1s`, `500ms`,
    /// `2m`, or a number of seconds such as `0.5`); `--delay` is the same.
    #[arg(short, long, alias = "delay", value_name = "DURATION", default_value = "1s",
          value_parser = parse_delay)]
    interval: Duration,
    /// Repeat the header every N lines; 0 prints it once.
    #[arg(long, value_name = "N", default_value_t = 20)]
    headers: u64,
    /// Put in front of every field (`web.`); headers leave it out.
    #[arg(short, long, default_value = "")]
    prefix: String,
    /// Stop after this many lines.
    #[arg(short, long)]
    count: Option<u64>,
    /// Use only files with a label starting with KEY, or whose field KEY has
    /// the value VALUE (repeatable: a file must match every filter).
    #[arg(short, long, value_name = "KEY|KEY=VALUE")]
    filter: Vec<String>,
    /// How integers of unknown kind (files without metadata, such as the
    /// original implementation's) are shown: as gauges (their value) or as
    /// counters (their change).
    #[arg(long, value_enum, default_value = "gauge")]
    unknown_as: UnknownAs,
    /// Take a sample each time a line arrives on standard input instead of
    /// every --interval; stop at the end of the input.
    #[arg(long)]
    on_input: bool,
    /// Sum the files of every user, not only those of the user poll runs
    /// as (any user can put a file in a shared directory such as /tmp, under
    /// any name).
    #[arg(long)]
    all_users: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum UnknownAs {
    Gauge,
    Counter,
}

fn parse_delay(text: &str) -> Result<Duration, String> {
    match when::parse_duration_ms(text)? {
        0 => Err("the interval must be at least 1ms".into()),
        ms => Ok(Duration::from_millis(ms)),
    }
}

/// Narrowest and widest a column gets.
const MIN_WIDTH: usize = 6;
const MAX_WIDTH: usize = 20;

/// Columns of the terminal on standard output, else `COLUMNS`, else 80.
fn terminal_columns() -> usize {
    let stdout = std::io::stdout();
    if rustix::termios::isatty(&stdout) {
        if let Ok(size) = rustix::termios::tcgetwinsize(&stdout) {
            if size.ws_col > 0 {
                return usize::from(size.ws_col);
            }
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|c| *c > 0)
        .unwrap_or(80)
}

/// Width of each of `n` columns separated by one space on `columns`.
fn column_width(columns: usize, n: usize) -> usize {
    let share = columns
        .saturating_add(1)
        .checked_div(n)
        .unwrap_or(MAX_WIDTH)
        .saturating_sub(1);
    share.clamp(MIN_WIDTH, MAX_WIDTH)
}

/// A file filter: a label prefix, or a label with an exact value.
enum Filter {
    Key(String),
    Value(String, String),
}

impl Filter {
    fn parse(text: &str) -> Filter {
        match text.split_once('=') {
            Some((key, value)) => Filter::Value(key.into(), value.into()),
            None => Filter::Key(text.into()),
        }
    }

    fn matches(&self, snapshot: &Snapshot) -> bool {
        match self {
            Filter::Key(key) => snapshot.stats.iter().any(|s| s.label.starts_with(key)),
            Filter::Value(key, value) => snapshot
                .stats
                .iter()
                .any(|s| &s.label == key && s.value.to_string() == *value),
        }
    }
}

/// A column: the field or family members it shows, and for a histogram
/// the number shown of it (`latency:p99`), if any.
/// The statistic that turns a counter's change (or a histogram's count)
/// into a rate per second.
const RATE: &str = "rate";

struct Column {
    selector: Selector,
    statistic: Option<String>,
}

impl Column {
    fn parse(field: &str, prefix: &str) -> Result<Column, Stop> {
        let (label, statistic) = match field.rsplit_once(':') {
            Some((label, statistic)) if statistic == RATE || Histogram::is_statistic(statistic) => {
                (label, Some(statistic.to_string()))
            }
            _ => (field, None),
        };
        let label = format!("{prefix}{label}");
        let selector = Selector::parse(&label)
            .map_err(|e| Stop::Fatal(format!("cannot read the field {label:?}: {e}")))?;
        Ok(Column {
            selector,
            statistic,
        })
    }
}

pub fn run(args: &Args) -> Result<Status, Stop> {
    let columns: Vec<Column> = mmstats::labels::split_list(&args.fields)
        .into_iter()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| Column::parse(f, &args.prefix))
        .collect::<Result<Vec<Column>, Stop>>()?;
    if columns.is_empty() {
        return Err(Stop::Fatal("poll needs at least one field".into()));
    }
    let selectors: Vec<Selector> = columns.iter().map(|c| c.selector.clone()).collect();
    let mut labels: Vec<String> = Vec::new();
    for column in &columns {
        if !labels.contains(&column.selector.text) {
            labels.push(column.selector.text.clone());
        }
    }
    let filters: Vec<Filter> = args.filter.iter().map(|f| Filter::parse(f)).collect();
    let rules = Rules {
        unknown_integer: match args.unknown_as {
            UnknownAs::Gauge => Kind::Gauge,
            UnknownAs::Counter => Kind::Counter,
        },
    };
    let mut poller = Poller::with_rules(rules).only_selected(selectors.clone());
    let mut collector = args.limits.collector(&args.paths).all_users(args.all_users);
    let mut warned: HashSet<PathBuf> = HashSet::new();
    let mut others = OthersNote::default();
    let mut out = Out::new();
    let mut lines: u64 = 0;
    let mut since_header: Option<u64> = None;
    let mut matched = false;
    let unmatched = format!(
        "no file has any of the fields {}{}",
        labels.join(", "),
        if args.filter.is_empty() {
            String::new()
        } else {
            " and matches every --filter".to_string()
        }
    );
    // Said at the first line that shows nothing, so that a poll left
    // running does not print `-` without a word.
    let mut warned_unmatched = false;
    let mut input = std::io::stdin().lock();
    let mut previous_at: Option<std::time::Instant> = None;
    if args.count == Some(0) {
        return out.finish();
    }
    loop {
        if args.on_input {
            let mut line = String::new();
            match input.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(Stop::Fatal(format!("cannot read standard input: {e}"))),
            }
        }
        let (snapshots, unreadable) = sample(
            &mut collector,
            &selectors,
            &filters,
            &mut warned,
            &mut others,
        );
        matched = matched || !snapshots.is_empty();
        if !matched && !warned_unmatched {
            out::warn(&format!(
                "{unmatched} (yet: poll goes on, and counts them when they appear)"
            ));
            warned_unmatched = true;
        }
        let aggregates = poller.step(snapshots.iter().copied(), &unreadable);
        // Rates divide by the time measured between the two samples, not by
        // --interval: printing and reading the files take time too.
        let now = std::time::Instant::now();
        let elapsed = previous_at.map(|at| now.duration_since(at).as_secs_f64());
        previous_at = Some(now);
        let width = column_width(terminal_columns(), columns.len());
        let header_due = match since_header {
            None => true,
            Some(n) => args.headers > 0 && n >= args.headers,
        };
        if header_due {
            out.line(&header(&args.fields, &args.prefix, width))?;
            since_header = Some(0);
        }
        out.line(&row(&columns, &aggregates, elapsed, width))?;
        out.flush()?;
        since_header = since_header.map(|n| n.saturating_add(1));
        lines = lines.saturating_add(1);
        if args.count.is_some_and(|c| lines >= c) {
            break;
        }
        if !args.on_input {
            std::thread::sleep(args.interval);
        }
    }
    if !matched {
        // Every line was `-`: say why rather than exit as if all was well.
        if !warned_unmatched {
            out::warn(&unmatched);
        }
        out.failed();
    }
    out.finish()
}

/// Reads the files that match now; returns them with the files that are
/// there but could not be read.
fn sample<'c>(
    collector: &'c mut Collector,
    selectors: &[Selector],
    filters: &[Filter],
    warned: &mut HashSet<PathBuf>,
    others: &mut OthersNote,
) -> (Vec<&'c Snapshot>, Vec<PathBuf>) {
    let collection = collector.collect();
    others.warn(collection.others);
    for skip in collection.skipped {
        // Keyed by the message: an argument that matches nothing is said
        // once, not at every line.
        if warned.insert(PathBuf::from(skip.to_string())) {
            out::warn(&skip.to_string());
        }
    }
    let mut unreadable = Vec::new();
    for failure in collection.failed {
        if warned.insert(failure.path.clone()) {
            out::warn(&failure.error.to_string());
        }
        unreadable.push(failure.path.clone());
    }
    let snapshots = collection
        .files
        .iter()
        .filter(|snapshot| {
            snapshot
                .stats
                .iter()
                .any(|s| selectors.iter().any(|sel| sel.matches(&s.label)))
                && filters.iter().all(|f| f.matches(snapshot))
        })
        .collect();
    (snapshots, unreadable)
}

/// The columns' names, as given (without the prefix).
fn header(fields: &str, prefix: &str, width: usize) -> String {
    // Split as the columns are: a label set's commas are not separators.
    let cells: Vec<String> = mmstats::labels::split_list(fields)
        .into_iter()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|field| {
            let name = field.strip_prefix(prefix).unwrap_or(field);
            let name: String = name.chars().take(width).collect();
            format!("{name:>width$}")
        })
        .collect();
    cells.join(" ")
}

/// One line of cells; `elapsed` is the time since the previous sample in
/// seconds (none on the first line, whose rates are `-`).
fn row(columns: &[Column], aggregates: &[Aggregate], elapsed: Option<f64>, width: usize) -> String {
    let cells: Vec<String> = columns
        .iter()
        .map(|column| {
            let cell = aggregate::select(aggregates, &column.selector)
                .map(|combined| match (&combined, &column.statistic) {
                    (_, Some(name)) if name == RATE => {
                        match rate(aggregates, &column.selector, &combined, elapsed) {
                            Some(x) => cell(&Combined::Value(Value::Float(x)), width),
                            None => "-".into(),
                        }
                    }
                    // A histogram's number over the interval.
                    (Combined::Histogram(h), Some(name)) => match h.statistic(name) {
                        Some(Some(x)) if name == "count" || name == "invalid" => {
                            format!("{x}")
                        }
                        Some(Some(x)) => cell(&Combined::Value(Value::Float(x)), width),
                        _ => "-".into(),
                    },
                    (_, Some(_)) => "-".into(),
                    (combined, None) => cell(combined, width),
                })
                .unwrap_or_else(|| "-".into());
            format!("{cell:>width$}")
        })
        .collect();
    cells.join(" ")
}

/// Per second over the last interval: a counter's change (every member the
/// selector picks must be a counter), or the number of values a histogram
/// recorded. Nothing on the first line, or for other kinds.
fn rate(
    aggregates: &[Aggregate],
    selector: &Selector,
    combined: &Combined,
    elapsed: Option<f64>,
) -> Option<f64> {
    let seconds = elapsed.filter(|s| *s > 0.0)?;
    let change = match combined {
        Combined::Histogram(h) => h.count as f64,
        Combined::Value(v) => {
            let mut members = aggregates
                .iter()
                .filter(|a| a.label == selector.text || selector.matches(&a.label))
                .peekable();
            members.peek()?;
            if !members.all(|a| a.kind == Kind::Counter) {
                return None;
            }
            v.as_f64()?
        }
        _ => return None,
    };
    Some(change / seconds)
}

/// A value in at most `width` characters: integers whole, floats with six
/// decimals, in scientific notation when that does not fit; texts cut.
fn cell(combined: &Combined, width: usize) -> String {
    let text = match combined {
        Combined::Value(Value::Float(x)) => format!("{x:.6}"),
        other => other.to_string(),
    };
    if text.chars().count() <= width {
        return text;
    }
    match combined.as_f64() {
        Some(x) => format!("{x:.2e}"),
        None => text.chars().take(width).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_cells() {
        assert_eq!(column_width(80, 3), 20);
        assert_eq!(column_width(80, 5), 15);
        assert_eq!(column_width(10, 5), MIN_WIDTH);
        let v = |v| Combined::Value(v);
        assert_eq!(cell(&v(Value::Unsigned(12)), 6), "12");
        assert_eq!(cell(&v(Value::Unsigned(123_456_789)), 6), "1.23e8");
        assert_eq!(cell(&v(Value::Float(0.25)), 10), "0.250000");
        assert_eq!(cell(&v(Value::Text("abcdefgh".into())), 6), "abcdef");
        assert!(parse_delay("0").is_err());
        assert!(parse_delay("-1").is_err());
        assert!(parse_delay("nan").is_err());
        assert!(parse_delay("1e30").is_err());
        assert_eq!(parse_delay("0.5"), Ok(Duration::from_millis(500)));
        // The syntax of every other command's durations.
        assert_eq!(parse_delay("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_delay("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_delay("2m"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn a_label_set_with_commas_is_one_column_of_the_header() {
        let header = header(
            r#"web.responses{method="post",status="5xx"},web.requests"#,
            "web.",
            20,
        );
        assert_eq!(
            header,
            format!("{:>20} {:>20}", r#"responses{method="po"#, "requests")
        );
    }
}
