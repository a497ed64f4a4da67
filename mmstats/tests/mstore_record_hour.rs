//! An hour of `record` at one sample a second, on simulated time: a stats
//! file shaped like the web server demo's is updated as a server would
//! update it, and a [`Recorder`] samples it into slots 0..3600 of a store
//! with the default chunk size. Every sample reads back; the bytes the
//! store takes on disk per point written are printed (the figure in the
//! book's "Keeping history" chapter).

use std::path::Path;
use std::time::Duration;

use mmstats::record::{open_or_create, Recorder};
use mmstats::{Counter, Flag, Gauge, MmStats, Timer};

#[derive(MmStats)]
#[mmstats(prefix = "web.")]
struct Demo {
    requests: Counter,
    responses_get_2xx: Counter,
    responses_get_4xx: Counter,
    responses_post_2xx: Counter,
    responses_post_5xx: Counter,
    bytes_sent: Counter,
    in_flight: Gauge<u32>,
    latency: Timer<100>,
    up: Flag,
}

fn du(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = e.metadata().unwrap();
        total += if md.is_dir() {
            du(&e.path())
        } else {
            md.blocks() * 512
        };
    }
    total
}

#[test]
fn an_hour_of_the_demo_recorded_reads_back_and_its_size_is_measured() {
    let d = tempfile::tempdir().unwrap();
    let stats_dir = d.path().join("stats");
    std::fs::create_dir(&stats_dir).unwrap();
    let s = Demo::builder().dir(&stats_dir).cmd("web").create().unwrap();
    s.up.set(true);
    let hist = d.path().join("history");
    let store = open_or_create(&hist, 1000, 3600, 1_800_000_000_000).unwrap();
    let mut rec = Recorder::new(store, vec![stats_dir.display().to_string()]);
    let mut x = 0x1234_5678_u64;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let (mut written, mut requests) = (0u64, Vec::new());
    for slot in 0..3600u64 {
        // A second of traffic: 5 to 60 requests, a few errors.
        let n = 5 + rnd(56);
        for _ in 0..n {
            s.requests.incr();
            match rnd(100) {
                0..=69 => s.responses_get_2xx.incr(),
                70..=89 => s.responses_post_2xx.incr(),
                90..=97 => s.responses_get_4xx.incr(),
                _ => s.responses_post_5xx.incr(),
            }
            s.bytes_sent.incr_by(512 + rnd(1024));
            s.latency
                .record(Duration::from_micros(200 + rnd(800) + rnd(800)));
        }
        s.in_flight.set(rnd(4) as u32);
        let sample = rec.sample(slot).unwrap();
        written += sample.written;
        requests.push(s.requests.get());
    }
    rec.close().unwrap();
    let mut r = mmstats::mstore::Reader::open(&hist).unwrap();
    let name = r
        .metrics()
        .unwrap()
        .into_iter()
        .find(|m| m.name.ends_with("web.requests"))
        .unwrap()
        .name;
    let p = r.get::<u64>(&name, 0, 3600).unwrap();
    let back: Vec<Option<u64>> = p.iter().map(|(_, v)| v).collect();
    let want: Vec<Option<u64>> = requests.into_iter().map(Some).collect();
    assert_eq!(back, want);
    let bytes = du(&hist);
    println!(
        "an hour of the demo's series: {written} points, {bytes} bytes on disk, {:.3} bytes per point",
        bytes as f64 / written as f64
    );
    assert!(written >= 3600 * 9, "{written}");
}
