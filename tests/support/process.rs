//! Child processes of the tests, and the ports they listen on.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// A child process killed when dropped: a server, Prometheus, a browser.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `mmstats` command of this build, with the environment's stats
/// settings removed, so that only a test's arguments say what it reads.
pub fn mmstats() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mmstats"));
    for var in ["MMSTATS_PATH", "MMSTATS_GLOB", "MMSTATS_FILES"] {
        command.env_remove(var);
    }
    command
}

/// Runs `mmstats ARGS` to its end: whether it succeeded, and its standard
/// output and error.
pub fn run(args: &[&str]) -> (bool, String, String) {
    let output = mmstats().args(args).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A free loopback port: bound, then released for another process to take.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `mmstats serve ARGS` on a free loopback port (the environment's stats
/// settings removed, so that only ARGS say what it reads), once it says
/// where it listens.
pub fn serve(args: &[&str]) -> (Guard, SocketAddr) {
    let mut child = mmstats()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (guard, address)
}
