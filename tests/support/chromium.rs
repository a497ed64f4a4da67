//! A real headless Chromium (the Debian package `chromium`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::Guard;

/// The page at `url` as a headless Chromium renders it after five seconds
/// of (virtual) time, as HTML.
pub fn rendered_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = profile.path().join("dom.html");
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium must be installed for this test (Debian package chromium)");
    let mut browser = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = browser.0.try_wait().unwrap() {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "chromium did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(out).unwrap()
}
