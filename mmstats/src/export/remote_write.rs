//! Prometheus remote write 1.0 (feature `push`): the series of
//! [`crate::export::series`], exactly as `/metrics` gives them plus an
//! `instance` label, sampled again and again and sent to a receiver
//! (Prometheus with `--web.enable-remote-write-receiver`, Mimir, Thanos
//! Receive, VictoriaMetrics) as protobuf `WriteRequest`s, snappy-compressed
//! (the raw block format), over HTTP or HTTPS.
//!
//! A [`Pusher`] holds the samples in a bounded queue until the receiver
//! takes them:
//!
//! - the queue holds at most [`Config::max_samples`] samples and none older
//!   than [`Config::max_age`]; beyond either, the oldest are dropped and
//!   counted ([`Figures::dropped`]);
//! - a request answered 2xx is done; one answered 5xx or 429, or that
//!   could not be sent (connection refused, reset, timed out), is sent
//!   again after a pause that doubles from [`Config::min_backoff`] to
//!   [`Config::max_backoff`] (its samples counted in
//!   [`Figures::retried`]); one answered with any other status (400: the
//!   receiver will never take it) is dropped at once, never retried, and
//!   counted;
//! - a series that was sampled last time and is not any more (its process
//!   went away, or a field left the files) gets a stale marker, the NaN
//!   [`STALE_NAN`] Prometheus uses itself, so that queries stop seeing it
//!   at once instead of five minutes later.
//!
//! Within a request the samples of one series are in time order, and the
//! queue sends them oldest first, so a receiver that refuses samples older
//! than its newest (Prometheus) takes every one after an outage.

// Runs on whatever files users give: nothing here may panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;

use super::series::{self, Family, Options, Tracker};
use crate::reader::Snapshot;

/// The bits of Prometheus' stale marker: a NaN no computation makes.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// The remote-write protocol's messages (`prometheus/prompb/types.proto`,
/// the fields remote write 1.0 uses).
pub mod proto {
    /// One request: series with their samples.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// The series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// One series: its labels, sorted by name, `__name__` among them, and
    /// its samples in time order.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// The labels.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// The samples.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    /// A label.
    #[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
    pub struct Label {
        /// Its name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Its value.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// A sample.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// The value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the Unix epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

use proto::Label;

/// How a [`Pusher`] sends.
#[derive(Clone, Debug)]
pub struct Config {
    /// The receiver's URL (`http://host:9090/api/v1/write`).
    pub url: String,
    /// Headers sent with every request besides the protocol's own
    /// (`X-Scope-OrgID` for Mimir, `Authorization`).
    pub headers: Vec<(String, String)>,
    /// The value of the `instance` label every series gets (the host
    /// name, by default in the command).
    pub instance: String,
    /// How the series are made.
    pub options: Options,
    /// The most samples queued; beyond, the oldest are dropped.
    pub max_samples: usize,
    /// The oldest a queued sample may be; older ones are dropped.
    pub max_age: Duration,
    /// The most samples of one request.
    pub batch: usize,
    /// How long one request may take, connection included.
    pub timeout: Duration,
    /// The first pause before a request is sent again.
    pub min_backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
}

impl Config {
    /// The defaults for sending to `url`: 500,000 samples or 15 minutes
    /// queued, 2,000 samples a request, 10 s a request, pauses from
    /// 100 ms to 10 s.
    pub fn new(url: &str, instance: &str) -> Config {
        Config {
            url: url.to_string(),
            headers: Vec::new(),
            instance: instance.to_string(),
            options: Options::default(),
            max_samples: 500_000,
            max_age: Duration::from_secs(15 * 60),
            batch: 2000,
            timeout: Duration::from_secs(10),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// What a [`Pusher`] has done, since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Samples put in the queue (stale markers included).
    pub queued: u64,
    /// Samples the receiver took.
    pub sent: u64,
    /// Samples sent again after a 5xx, a 429 or a failed connection
    /// (counted once per attempt).
    pub retried: u64,
    /// Samples dropped: by the queue's bounds, or refused by the receiver.
    pub dropped: u64,
    /// Of those, the samples the receiver refused (a 4xx other than 429).
    pub refused: u64,
    /// Stale markers queued.
    pub stale_markers: u64,
    /// Requests sent (each attempt).
    pub requests: u64,
    /// Requests that failed (any answer but 2xx, or no answer).
    pub failed_requests: u64,
    /// Samples in the queue now.
    pub queue: u64,
}

/// Why a [`Pusher`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The URL is not an `http://` or `https://` URL.
    #[error("--remote-write {url}: not an http:// or https:// URL")]
    Url {
        /// The URL given.
        url: String,
    },
    /// A header's name or value cannot be sent.
    #[error("header {name:?}: not a valid HTTP header")]
    Header {
        /// The header's name.
        name: String,
    },
}

/// One queued sample: its series (shared) and its point.
#[derive(Clone, Debug)]
struct Queued {
    series: Arc<[Label]>,
    timestamp: i64,
    value: f64,
    /// When it was queued, for [`Config::max_age`].
    at: Instant,
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Taken (2xx).
    Sent,
    /// To be sent again: a 5xx, a 429 or no answer; why.
    Retry(String),
    /// Refused for good (another 4xx, or a 3xx); why.
    Refused(String),
}

/// Samples the files again and again and sends their series (see the
/// [module docs](self)).
pub struct Pusher {
    config: Config,
    agent: ureq::Agent,
    tracker: Tracker,
    queue: VecDeque<Queued>,
    /// The series of the last sample, to mark the ones that go stale.
    last: HashSet<Arc<[Label]>>,
    figures: Figures,
    backoff: Duration,
    /// No request before this, after a failure.
    pause_until: Option<Instant>,
    last_error: Option<String>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("url", &self.config.url)
            .field("figures", &self.figures)
            .finish_non_exhaustive()
    }
}

impl Pusher {
    /// A pusher with `config`, or why the URL or a header cannot be used.
    pub fn new(config: Config) -> Result<Pusher, PushError> {
        let uri: Result<ureq::http::Uri, _> = config.url.parse();
        let scheme_ok = uri
            .as_ref()
            .ok()
            .and_then(|u| u.scheme_str())
            .is_some_and(|s| s == "http" || s == "https")
            && uri.as_ref().ok().and_then(|u| u.host()).is_some();
        if !scheme_ok {
            return Err(PushError::Url {
                url: config.url.clone(),
            });
        }
        for (name, value) in &config.headers {
            let name_ok = ureq::http::HeaderName::from_bytes(name.as_bytes()).is_ok();
            let value_ok = ureq::http::HeaderValue::from_str(value).is_ok();
            if !name_ok || !value_ok {
                return Err(PushError::Header { name: name.clone() });
            }
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("mmstats-push/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Pusher {
            backoff: config.min_backoff,
            config,
            agent,
            tracker: Tracker::new(),
            queue: VecDeque::new(),
            last: HashSet::new(),
            figures: Figures::default(),
            pause_until: None,
            last_error: None,
        })
    }

    /// What it has done so far.
    pub fn figures(&self) -> Figures {
        let mut figures = self.figures;
        figures.queue = u64::try_from(self.queue.len()).unwrap_or(u64::MAX);
        figures
    }

    /// Why the last request that failed did.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Queues one sample of every series of `snapshots` (`errors` files
    /// could not be read), taken at `time`, and a stale marker for every
    /// series of the previous sample that has none now.
    pub fn sample(&mut self, snapshots: &[Snapshot], errors: usize, time: SystemTime) {
        let (families, _) = series::model(
            snapshots,
            errors,
            &self.config.options,
            Some(&mut self.tracker),
        );
        let timestamp = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let at = Instant::now();
        let mut now: HashSet<Arc<[Label]>> = HashSet::new();
        for (series, value) in samples_of(&families, &self.config.instance) {
            // A label set the model gives twice (it does not) is sent once.
            let series = match self.last.get(&series) {
                Some(known) => Arc::clone(known),
                None => series,
            };
            if !now.insert(Arc::clone(&series)) {
                continue;
            }
            self.push(Queued {
                series,
                timestamp,
                value,
                at,
            });
        }
        let mut gone: Vec<Arc<[Label]>> = self.last.difference(&now).cloned().collect();
        gone.sort_by(|a, b| {
            let key = |s: &Arc<[Label]>| {
                s.iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect::<Vec<_>>()
            };
            key(a).cmp(&key(b))
        });
        for series in gone {
            self.figures.stale_markers = self.figures.stale_markers.saturating_add(1);
            self.push(Queued {
                series,
                timestamp,
                value: f64::from_bits(STALE_NAN),
                at,
            });
        }
        self.last = now;
        self.expire();
    }

    fn push(&mut self, queued: Queued) {
        self.figures.queued = self.figures.queued.saturating_add(1);
        self.queue.push_back(queued);
        while self.queue.len() > self.config.max_samples {
            self.queue.pop_front();
            self.figures.dropped = self.figures.dropped.saturating_add(1);
        }
    }

    /// Drops the samples older than [`Config::max_age`].
    fn expire(&mut self) {
        let max_age = self.config.max_age;
        while self.queue.front().is_some_and(|q| q.at.elapsed() > max_age) {
            self.queue.pop_front();
            self.figures.dropped = self.figures.dropped.saturating_add(1);
        }
    }

    /// Sends what is queued, oldest first, until the queue is empty or
    /// `deadline` comes; after a failure waits (at most until `deadline`)
    /// before trying again. Returns whether the queue is empty.
    pub fn send_until(&mut self, deadline: Instant) -> bool {
        loop {
            self.expire();
            if self.queue.is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if let Some(until) = self.pause_until {
                if until > now {
                    std::thread::sleep(until.min(deadline).saturating_duration_since(now));
                    continue;
                }
                self.pause_until = None;
            }
            let n = self.queue.len().min(self.config.batch.max(1));
            let batch: Vec<&Queued> = self.queue.iter().take(n).collect();
            let body = encode(&batch);
            let count = u64::try_from(n).unwrap_or(u64::MAX);
            self.figures.requests = self.figures.requests.saturating_add(1);
            match self.post(&body) {
                Outcome::Sent => {
                    self.queue.drain(..n);
                    self.figures.sent = self.figures.sent.saturating_add(count);
                    self.backoff = self.config.min_backoff;
                }
                Outcome::Retry(why) => {
                    self.figures.failed_requests = self.figures.failed_requests.saturating_add(1);
                    self.figures.retried = self.figures.retried.saturating_add(count);
                    self.last_error = Some(why);
                    self.pause_until = Instant::now().checked_add(self.backoff);
                    self.backoff = self
                        .backoff
                        .saturating_mul(2)
                        .min(self.config.max_backoff)
                        .max(self.config.min_backoff);
                }
                Outcome::Refused(why) => {
                    self.figures.failed_requests = self.figures.failed_requests.saturating_add(1);
                    self.queue.drain(..n);
                    self.figures.dropped = self.figures.dropped.saturating_add(count);
                    self.figures.refused = self.figures.refused.saturating_add(count);
                    self.last_error = Some(why);
                }
            }
        }
    }

    /// One request with `body`, and what became of it.
    fn post(&self, body: &[u8]) -> Outcome {
        let mut request = self
            .agent
            .post(&self.config.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        for (name, value) in &self.config.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                if (200..300).contains(&status) {
                    return Outcome::Sent;
                }
                let text = response
                    .body_mut()
                    .with_config()
                    .limit(1024)
                    .read_to_string()
                    .unwrap_or_default();
                let why = format!("{status} from {}: {}", self.config.url, text.trim());
                if status == 429 || status >= 500 {
                    Outcome::Retry(why)
                } else {
                    Outcome::Refused(why)
                }
            }
            Err(e) => Outcome::Retry(format!("{}: {e}", self.config.url)),
        }
    }
}

/// Every sample of a model as a series (labels sorted by name, `__name__`
/// and `instance` among them) and its value. A label `instance` the files
/// give is renamed `exported_instance`, as a Prometheus scrape does.
pub fn samples_of(families: &[Family], instance: &str) -> Vec<(Arc<[Label]>, f64)> {
    let mut out = Vec::new();
    for family in families {
        for sample in &family.samples {
            let Some(value) = sample.value.as_f64() else {
                continue;
            };
            let mut labels: Vec<Label> = Vec::with_capacity(sample.labels.len().saturating_add(2));
            labels.push(Label {
                name: "__name__".into(),
                value: sample.name(family),
            });
            labels.push(Label {
                name: "instance".into(),
                value: instance.to_string(),
            });
            for (name, value) in &sample.labels {
                let name = if name == "instance" {
                    "exported_instance".to_string()
                } else {
                    name.clone()
                };
                labels.push(Label {
                    name,
                    value: value.clone(),
                });
            }
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            out.push((Arc::from(labels), value));
        }
    }
    out
}

/// The body of a request for `batch`: its `WriteRequest`, one series per
/// label set with its samples in queue order, snappy-compressed.
fn encode(batch: &[&Queued]) -> Vec<u8> {
    let mut index: HashMap<&[Label], usize> = HashMap::new();
    let mut request = proto::WriteRequest::default();
    for queued in batch {
        let sample = proto::Sample {
            value: queued.value,
            timestamp: queued.timestamp,
        };
        match index.get(&*queued.series) {
            Some(&i) => {
                if let Some(series) = request.timeseries.get_mut(i) {
                    series.samples.push(sample);
                }
            }
            None => {
                index.insert(&queued.series, request.timeseries.len());
                request.timeseries.push(proto::TimeSeries {
                    labels: queued.series.to_vec(),
                    samples: vec![sample],
                });
            }
        }
    }
    let bytes = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&bytes)
        .unwrap_or_default()
}

/// The `WriteRequest` of a request body (snappy-compressed protobuf), for
/// receivers written in tests, or why it is not one.
pub fn decode(body: &[u8]) -> Result<proto::WriteRequest, String> {
    let bytes = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("not a snappy block: {e}"))?;
    proto::WriteRequest::decode(bytes.as_slice()).map_err(|e| format!("not a WriteRequest: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    use crate::{Counter, MmStats};

    #[derive(MmStats)]
    #[mmstats(crate = "crate")]
    struct Web {
        hits: Counter,
    }

    /// A receiver on a loopback port answering each request with the next
    /// status of `statuses` (the last one again when they run out), and
    /// handing over each request's headers and decoded body.
    fn receiver(
        statuses: Vec<u16>,
    ) -> (String, mpsc::Receiver<(Vec<String>, proto::WriteRequest)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter().peekable();
            let mut status = 200;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = Vec::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let line = line.trim_end().to_string();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = n.trim().parse().unwrap();
                    }
                    headers.push(line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                if let Some(next) = statuses.next() {
                    status = next;
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"
                );
                if tx.send((headers, decode(&body).unwrap())).is_err() {
                    return;
                }
            }
        });
        (url, rx)
    }

    fn files(dir: &std::path::Path) -> Vec<Snapshot> {
        let mut collector = crate::collect::Collector::new(vec![dir.display().to_string()]);
        collector.collect().files.to_vec()
    }

    #[test]
    fn a_request_has_the_protocols_headers_and_the_series_of_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        stats.hits.incr_by(7);
        let (url, requests) = receiver(vec![200]);
        let mut config = Config::new(&url, "host-a");
        config
            .headers
            .push(("X-Scope-OrgID".into(), "tenant-1".into()));
        let mut pusher = Pusher::new(config).unwrap();
        pusher.sample(
            &files(dir.path()),
            0,
            UNIX_EPOCH + Duration::from_secs(1000),
        );
        assert!(pusher.send_until(Instant::now() + Duration::from_secs(10)));
        let (headers, request) = requests.recv().unwrap();
        let has = |h: &str| headers.iter().any(|l| l.eq_ignore_ascii_case(h));
        assert!(has("content-encoding: snappy"), "{headers:?}");
        assert!(has("content-type: application/x-protobuf"), "{headers:?}");
        assert!(
            has("x-prometheus-remote-write-version: 0.1.0"),
            "{headers:?}"
        );
        assert!(has("x-scope-orgid: tenant-1"), "{headers:?}");
        assert!(
            headers.iter().any(|l| l
                .to_ascii_lowercase()
                .starts_with("user-agent: mmstats-push/")),
            "{headers:?}"
        );
        let hits = request
            .timeseries
            .iter()
            .find(|s| s.labels.iter().any(|l| l.value == "mmstats_hits_total"))
            .unwrap();
        let names: Vec<&str> = hits.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "cmd", "instance", "pid"]);
        assert_eq!(hits.labels[2].value, "host-a");
        assert_eq!(hits.labels[3].value, std::process::id().to_string());
        assert_eq!(
            hits.samples,
            [proto::Sample {
                value: 7.0,
                timestamp: 1_000_000
            }]
        );
        let f = pusher.figures();
        assert_eq!((f.sent, f.queue, f.dropped, f.retried), (f.queued, 0, 0, 0));
    }

    #[test]
    fn a_5xx_is_retried_a_400_is_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        stats.hits.incr();
        let (url, requests) = receiver(vec![503, 429, 200, 400]);
        let mut config = Config::new(&url, "h");
        config.min_backoff = Duration::from_millis(10);
        let mut pusher = Pusher::new(config).unwrap();
        pusher.sample(&files(dir.path()), 0, SystemTime::now());
        let n = pusher.figures().queued;
        assert!(pusher.send_until(Instant::now() + Duration::from_secs(20)));
        for _ in 0..3 {
            requests.recv().unwrap();
        }
        let f = pusher.figures();
        assert_eq!((f.sent, f.retried, f.dropped), (n, 2 * n, 0));
        assert_eq!((f.requests, f.failed_requests), (3, 2));
        // A 400: dropped at once, no second try.
        pusher.sample(&files(dir.path()), 0, SystemTime::now());
        assert!(pusher.send_until(Instant::now() + Duration::from_secs(20)));
        requests.recv().unwrap();
        let f = pusher.figures();
        assert_eq!((f.retried, f.dropped, f.refused), (2 * n, n, n));
        assert_eq!(f.requests, 4);
        assert!(
            pusher.last_error().unwrap().starts_with("400 from"),
            "{:?}",
            pusher.last_error()
        );
        assert!(requests.recv_timeout(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn the_queue_is_bounded_and_unreachable_receivers_are_retried() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        stats.hits.incr();
        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = Config::new(&format!("http://127.0.0.1:{port}/api/v1/write"), "h");
        config.max_samples = 25;
        config.min_backoff = Duration::from_millis(1);
        let mut pusher = Pusher::new(config).unwrap();
        let snapshots = files(dir.path());
        for _ in 0..10 {
            pusher.sample(&snapshots, 0, SystemTime::now());
        }
        let f = pusher.figures();
        assert_eq!(f.queue, 25);
        assert_eq!(f.dropped, f.queued - 25);
        assert!(!pusher.send_until(Instant::now() + Duration::from_millis(200)));
        let f = pusher.figures();
        assert!(f.retried >= 25 && f.sent == 0 && f.queue == 25, "{f:?}");
        // By age.
        let mut config = Config::new(&format!("http://127.0.0.1:{port}/"), "h");
        config.max_age = Duration::from_millis(50);
        let mut pusher = Pusher::new(config).unwrap();
        pusher.sample(&snapshots, 0, SystemTime::now());
        std::thread::sleep(Duration::from_millis(100));
        assert!(pusher.send_until(Instant::now() + Duration::from_secs(1)));
        let f = pusher.figures();
        assert_eq!((f.queue, f.dropped, f.requests), (0, f.queued, 0));
    }

    #[test]
    fn a_series_that_goes_away_gets_a_stale_marker() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Web::builder().dir(dir.path()).create().unwrap();
        let (url, requests) = receiver(vec![200]);
        let mut pusher = Pusher::new(Config::new(&url, "h")).unwrap();
        pusher.sample(&files(dir.path()), 0, SystemTime::now());
        stats.remove().unwrap();
        pusher.sample(&files(dir.path()), 0, SystemTime::now());
        assert!(pusher.send_until(Instant::now() + Duration::from_secs(10)));
        let (_, request) = requests.recv().unwrap();
        let hits = request
            .timeseries
            .iter()
            .find(|s| s.labels.iter().any(|l| l.value == "mmstats_hits_total"))
            .unwrap();
        assert_eq!(hits.samples.len(), 2);
        assert_eq!(hits.samples[0].value, 0.0);
        assert_eq!(hits.samples[1].value.to_bits(), STALE_NAN);
        assert!(pusher.figures().stale_markers >= 1);
        // Not marked again.
        pusher.sample(&files(dir.path()), 0, SystemTime::now());
        let before = pusher.figures().stale_markers;
        pusher.sample(&files(dir.path()), 0, SystemTime::now());
        assert_eq!(pusher.figures().stale_markers, before);
    }

    #[test]
    fn bad_urls_and_headers_are_typed_errors() {
        for url in ["", "ftp://x/", "not a url", "http://"] {
            assert!(
                matches!(
                    Pusher::new(Config::new(url, "h")),
                    Err(PushError::Url { .. })
                ),
                "{url}"
            );
        }
        let mut config = Config::new("http://127.0.0.1:1/", "h");
        config.headers.push(("Bad Name".into(), "v".into()));
        assert!(matches!(Pusher::new(config), Err(PushError::Header { .. })));
    }
}
