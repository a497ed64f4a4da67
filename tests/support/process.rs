//! Child processes of the tests, and the ports they listen on.

use std::process::Child;

/// A child process killed when dropped: a server, Prometheus, a browser.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port: bound, then released for another process to take.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
