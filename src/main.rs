//! `mmstats`: read the statistics that programs publish in mmstats files.
//!
//! ```text
//! mmstats slurp [PATH|DIR|GLOB]...        every field of every file
//! mmstats poll FIELDS [PATH|DIR|GLOB]...  a vmstat-like line per interval
//! mmstats clean [PATH|DIR|GLOB]...        remove the files of dead processes
//! mmstats record --store DIR [PATH|DIR|GLOB]...  keep their history in a store
//! mmstats query --store DIR SERIES        the points of one series
//! mmstats metrics --store DIR             the series of a store
//! mmstats serve [PATH|DIR|GLOB]...        JSON API, dashboard, Prometheus /metrics
//! mmstats push --remote-write URL [PATH|DIR|GLOB]...  Prometheus remote write
//! ```
//!
//! Every subcommand reads through `mmstats::reader` only, maps files
//! read-only (only those no other user can shrink; others are read through
//! bounded copies), takes no lock a writer could wait on, and never writes
//! to a live file. Totals (`poll`, `record`, `serve`) count only the files
//! of the user the command runs as (`poll` and `record` take `--all-users`
//! for every user's, kept apart by owner); `slurp` shows every file, with
//! its owner when it is another user's. `record` writes only to its history store (`mmstats::mstore`),
//! which `query` and `metrics` read without a lock.
//!
//! Exit status: 0 when everything went well, 1 when a file could not be read
//! or removed (the others are still handled), 2 for a usage error. Output
//! into a pipe that closes early (`mmstats slurp | head`) ends the command
//! quietly with the status it would have had.

// Runs on whatever files and arguments users give: nothing here may panic
// (the tests opt out).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod clean;
mod out;
mod poll;
mod push;
mod query;
mod reading;
mod record;
mod serve;
mod slurp;

/// Read the statistics that programs publish in mmstats files.
#[derive(Parser)]
#[command(name = "mmstats", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Slurp(slurp::Args),
    Poll(poll::Args),
    Clean(clean::Args),
    Record(record::Args),
    Query(query::Args),
    Metrics(query::MetricsArgs),
    Serve(serve::Args),
    Push(push::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Slurp(args) => slurp::run(&args),
        Command::Poll(args) => poll::run(&args),
        Command::Clean(args) => clean::run(&args),
        Command::Record(args) => record::run(&args),
        Command::Query(args) => query::run(&args),
        Command::Metrics(args) => query::run_metrics(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Push(args) => push::run(&args),
    };
    match result {
        Ok(status) => status.into(),
        Err(out::Stop::Closed(status)) => status.into(),
        Err(out::Stop::Fatal(message)) => {
            out::warn(&message);
            ExitCode::from(1)
        }
    }
}
