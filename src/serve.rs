//! `mmstats serve`: the arguments of `mmstats::serve`, the JSON API, the
//! live dashboard and the Prometheus exporter over HTTP.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::out::{self, Status, Stop};
use crate::reading::LimitArgs;

/// Serve the stats over HTTP: a live dashboard at `/`, a JSON API, and
/// Prometheus metrics at `/metrics`.
///
/// Routes: `/` (dashboard), `/metrics` (Prometheus text format, or
/// OpenMetrics when the request's Accept header asks for it),
/// `/stats/` and `/stats/NAME?exact=1&aggr=sum&glob=GLOB` (labels and
/// values), `/files/` and `/files/GLOB`, `/snapshot` (every file, process
/// and command, for the dashboard), `/history/` and
/// `/history/METRIC?from=T&to=T` (with --store). Every request reads the
/// files afresh.
///
/// With no PATH, reads the default glob (MMSTATS_GLOB, else
/// MMSTATS_PATH/*.mmstats, MMSTATS_PATH defaulting to the temporary
/// directory). `glob=` and `/files/GLOB` match names of files in the stats
/// directory: the only PATH when it is a directory, else MMSTATS_PATH; a
/// pattern with `/` or `..` is refused. A symbolic link that a directory or
/// pattern expands to is never read through (it is reported as an error).
///
/// A request must name as its Host an address the server listens on,
/// `localhost`, or a name given with --allow-host (else 421).
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on. Only a loopback address unless
    /// --allow-remote is given; port 0 picks a free port.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9717")]
    listen: String,
    /// Allow a --listen address that other machines can reach. The server
    /// has no authentication: anyone who reaches it reads every stat.
    #[arg(long)]
    allow_remote: bool,
    /// Also answer requests whose Host is NAME (repeatable): a name of this
    /// machine that clients use. The addresses listened on and `localhost`
    /// are always answered; any other name is refused, so that a web page
    /// cannot reach the server through a name it controls.
    #[arg(long, value_name = "NAME")]
    allow_host: Vec<String>,
    /// An mstore directory (as `mmstats record` writes) whose history
    /// `/history/` serves and the dashboard graphs.
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Most fields one answer is built from, summed over the files it
    /// reads. Files are taken fewest fields first; those left out are
    /// reported as errors, and the answer says it is incomplete.
    #[arg(long, value_name = "N", default_value_t = mmstats::serve::routes::DEFAULT_MAX_FIELDS)]
    max_answer_fields: usize,
    /// Also serve the files of other users (by default only those of the
    /// user the server runs as); each is labelled with its owner.
    #[arg(long)]
    all_users: bool,
    #[command(flatten)]
    file_limits: LimitArgs,
    /// Most bytes of one answer. A JSON document that can say so stops
    /// there with "truncated": true; `/stats/NAME` and `/metrics` are an
    /// error instead. At least 4096.
    #[arg(long, value_name = "BYTES", default_value_t = mmstats::serve::routes::DEFAULT_MAX_RESPONSE_BYTES,
          value_parser = response_bytes)]
    max_response_bytes: usize,
    /// What one series of `/metrics` stands for: `process` (the default:
    /// one series per process, its threads combined, labelled cmd and
    /// pid) or `thread` (one per file, labelled tid too). Per process, a
    /// counter keeps the counts of threads that ended, so it never goes
    /// down while its process lives.
    #[arg(long, value_name = "process|thread", default_value = "process", value_parser = per)]
    per: mmstats::export::series::Per,
    /// Files, directories (their *.mmstats files) or glob patterns.
    #[arg(value_name = "PATH|DIR|GLOB")]
    paths: Vec<String>,
}

/// Checks the address, then serves until the process is stopped; returns
/// only when the server cannot start.
pub fn run(args: &Args) -> Result<Status, Stop> {
    let address = listen_address(&args.listen, args.allow_remote).map_err(Stop::Fatal)?;
    let limits = mmstats::serve::routes::Limits {
        max_fields: args.max_answer_fields,
        max_response_bytes: args.max_response_bytes,
    };
    let state = mmstats::serve::State::new(args.paths.clone(), args.store.clone())
        .with_limits(limits)
        .reading(args.file_limits.limits(), args.all_users)
        .series(mmstats::export::series::Options { per: args.per });
    let server = mmstats::serve::Server::bind(address, state)
        .map_err(|e| Stop::Fatal(e.to_string()))?
        .allow_hosts(&args.allow_host);
    announce(server.local_addr())?;
    server.run().map_err(|e| Stop::Fatal(e.to_string()))?;
    Ok(Status::default())
}

/// The address `--listen` names, refused when it is not a loopback address
/// and remote access was not asked for.
fn listen_address(listen: &str, allow_remote: bool) -> Result<SocketAddr, String> {
    let mut addresses = listen
        .to_socket_addrs()
        .map_err(|e| format!("--listen {listen}: not an address and port: {e}"))?;
    let address = addresses
        .next()
        .ok_or_else(|| format!("--listen {listen}: the name has no address"))?;
    if !address.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "--listen {listen}: {} is not a loopback address; the server has no \
             authentication, so serving other machines must be asked for with --allow-remote",
            address.ip()
        ));
    }
    Ok(address)
}

/// A `--per` value.
fn per(text: &str) -> Result<mmstats::export::series::Per, String> {
    mmstats::export::series::Per::parse(text).ok_or_else(|| "process or thread".to_string())
}

/// A `--max-response-bytes` value: a whole number of at least 4096.
fn response_bytes(text: &str) -> Result<usize, String> {
    let least = mmstats::serve::routes::MIN_RESPONSE_BYTES;
    match text.parse::<usize>() {
        Ok(n) if n >= least => Ok(n),
        _ => Err(format!("not a whole number of at least {least}")),
    }
}

/// Says where the server listens: on standard output (a script or test
/// that started it with port 0 reads the port from there), flushed.
fn announce(address: SocketAddr) -> Result<(), Stop> {
    let mut out = out::Out::new();
    out.line(&format!("listening on http://{address}/"))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_unless_asked() {
        assert!(listen_address("127.0.0.1:9717", false).is_ok());
        assert!(listen_address("[::1]:0", false).is_ok());
        let refused = listen_address("0.0.0.0:9717", false).unwrap_err();
        assert!(refused.contains("--allow-remote"), "{refused}");
        assert!(listen_address("0.0.0.0:9717", true).is_ok());
        assert!(listen_address("nonsense", false).is_err());
    }
}
