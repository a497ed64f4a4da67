//! Every quantile a reader reports of a histogram is within the stated
//! bound (half a bucket, geometrically: sqrt(2^(1/16)) - 1 = 2.19 % at the
//! default schema 4) of the exact quantile of the sorted values, for many
//! distributions of 10^5 values each; and a histogram merged from several
//! files is exactly the histogram of all their values.

use mmstats::aggregate::{Combined, Rules};
use mmstats::reader::{self, Histogram as Read, Snapshot};
use mmstats::{Histogram, MmStats};
use proptest::prelude::*;

#[derive(MmStats)]
#[mmstats(defaults = false)]
struct Model {
    #[mmstats(unit = "seconds")]
    latency: Histogram,
}

/// The bound of the default schema: half a bucket, geometrically.
fn bound() -> f64 {
    2f64.powf(1.0 / 32.0) - 1.0
}

/// A small, seeded random number generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The distributions, by name: each gives one value in seconds, within
/// the default range (0.93 ns to 36 h) of a histogram in seconds.
/// A named way to draw one value.
type Distribution = (&'static str, Box<dyn Fn(&mut Rng) -> f64>);

fn distributions() -> Vec<Distribution> {
    vec![
        ("uniform 0..1 s", Box::new(|r: &mut Rng| r.unit())),
        (
            "uniform 1..2 ms",
            Box::new(|r: &mut Rng| 1e-3 + 1e-3 * r.unit()),
        ),
        (
            "uniform 1 ns..1 day",
            Box::new(|r: &mut Rng| 1e-9 + 86400.0 * r.unit()),
        ),
        (
            "log-uniform 1 ns..1 day",
            Box::new(|r: &mut Rng| 1e-9 * (86400e9f64).powf(r.unit())),
        ),
        (
            "log-normal 10 ms, sigma 0.5",
            Box::new(|r: &mut Rng| 0.01 * (0.5 * r.normal()).exp()),
        ),
        (
            "log-normal 1 ms, sigma 2",
            Box::new(|r: &mut Rng| 1e-3 * (2.0 * r.normal()).exp()),
        ),
        (
            "log-normal 100 us, sigma 1",
            Box::new(|r: &mut Rng| 1e-4 * r.normal().exp()),
        ),
        (
            "normal 50 ms, sd 5 ms",
            Box::new(|r: &mut Rng| (0.05 + 0.005 * r.normal()).max(1e-6)),
        ),
        (
            "exponential mean 20 ms",
            Box::new(|r: &mut Rng| -0.02 * r.unit().ln()),
        ),
        (
            "exponential mean 1 us",
            Box::new(|r: &mut Rng| (-1e-6 * r.unit().ln()).max(1e-9)),
        ),
        (
            "pareto alpha 1.1 from 1 ms",
            Box::new(|r: &mut Rng| (1e-3 * r.unit().powf(-1.0 / 1.1)).min(86400.0)),
        ),
        (
            "pareto alpha 0.5 from 1 us",
            Box::new(|r: &mut Rng| (1e-6 * r.unit().powf(-2.0)).min(86400.0)),
        ),
        (
            "bimodal 1 ms and 100 ms",
            Box::new(|r: &mut Rng| {
                if r.unit() < 0.9 {
                    1e-3 * (0.1 * r.normal()).exp()
                } else {
                    0.1 * (0.1 * r.normal()).exp()
                }
            }),
        ),
        (
            "bimodal 50/50 1 us and 1 s",
            Box::new(|r: &mut Rng| {
                if r.unit() < 0.5 {
                    1e-6 * (1.0 + r.unit())
                } else {
                    1.0 + r.unit()
                }
            }),
        ),
        (
            "trimodal",
            Box::new(|r: &mut Rng| {
                [1e-5, 3e-3, 7.0][(r.next() % 3) as usize] * (1.0 + 0.01 * r.unit())
            }),
        ),
        ("constant 12.3 ms", Box::new(|_: &mut Rng| 0.0123)),
        ("constant on a bound, 1 s", Box::new(|_: &mut Rng| 1.0)),
        (
            "one value per run: 3 h",
            Box::new(|_: &mut Rng| 3.0 * 3600.0),
        ),
        (
            "two values 1 ms and 2 ms",
            Box::new(|r: &mut Rng| {
                if r.next().is_multiple_of(2) {
                    1e-3
                } else {
                    2e-3
                }
            }),
        ),
        (
            "heavy tail: 99.9 % at 1 ms, the rest up to 10 h",
            Box::new(|r: &mut Rng| {
                if r.unit() < 0.999 {
                    1e-3
                } else {
                    36000.0 * r.unit()
                }
            }),
        ),
        (
            "weibull k 0.5, scale 1 ms",
            Box::new(|r: &mut Rng| (1e-3 * (-r.unit().ln()).powf(2.0)).clamp(1e-9, 86400.0)),
        ),
        (
            "integers 1..1000 us",
            Box::new(|r: &mut Rng| (1 + r.next() % 1000) as f64 * 1e-6),
        ),
        (
            "near the top: 1 day",
            Box::new(|r: &mut Rng| 86400.0 * (1.0 - 0.01 * r.unit())),
        ),
        (
            "near the bottom: 1 ns",
            Box::new(|r: &mut Rng| 1e-9 * (1.0 + 0.01 * r.unit())),
        ),
    ]
}

/// Records `values` into a new file of `dir`; the snapshot of the file.
fn recorded(dir: &std::path::Path, values: &[f64]) -> Snapshot {
    let stats = Model::builder()
        .dir(dir)
        .file(format!(
            "h-{}.mmstats",
            values.len() ^ values.first().map_or(0, |v| v.to_bits() as usize)
        ))
        .create()
        .unwrap();
    for &v in values {
        stats.latency.record(v);
    }
    reader::read_path(stats.path().unwrap()).unwrap()
}

/// The exact `q`-quantile by nearest rank: the value of rank ceil(q n).
fn exact(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

const QUANTILES: [f64; 14] = [
    0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0,
];

fn check(name: &str, h: &Read, sorted: &[f64]) -> f64 {
    let mut worst = 0.0f64;
    for q in QUANTILES {
        let got = h.quantile(q).unwrap();
        let want = exact(sorted, q);
        let error = (got / want - 1.0).abs();
        assert!(
            error <= bound(),
            "{name}: q {q}: {got} for {want}, {:.3} %",
            error * 100.0
        );
        worst = worst.max(error);
    }
    worst
}

#[test]
fn every_quantile_of_every_distribution_is_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut worst = 0.0f64;
    let all = distributions();
    assert!(all.len() >= 20);
    for (i, (name, draw)) in all.iter().enumerate() {
        let mut rng = Rng(i as u64 + 1);
        let values: Vec<f64> = (0..100_000).map(|_| draw(&mut rng)).collect();
        let snapshot = recorded(dir.path(), &values);
        let h = Read::read(&snapshot, "latency").unwrap().unwrap();
        assert_eq!(h.count, 100_000, "{name}");
        assert_eq!((h.zero, h.overflow, h.invalid), (0, 0, 0), "{name}");
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        worst = worst.max(check(name, &h, &sorted));
        let (lo, hi) = h.min_bounds().unwrap();
        assert!(lo < sorted[0] && sorted[0] <= hi, "{name}: min");
        let (lo, hi) = h.max_bounds().unwrap();
        assert!(
            lo < sorted[sorted.len() - 1] && sorted[sorted.len() - 1] <= hi,
            "{name}: max"
        );
        let sum: f64 = values.iter().sum();
        assert!((h.sum / sum - 1.0).abs() < 1e-9, "{name}: sum");
    }
    eprintln!(
        "worst quantile error over {} distributions: {:.3} % (bound {:.3} %)",
        all.len(),
        worst * 100.0,
        bound() * 100.0
    );
}

#[test]
fn histograms_of_several_files_merge_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(99);
    let values: Vec<f64> = (0..300_000)
        .map(|_| 1e-4 * (1.5 * rng.normal()).exp())
        .collect();
    let parts: Vec<Snapshot> = values
        .chunks(100_000)
        .map(|chunk| recorded(dir.path(), chunk))
        .collect();
    let whole = Read::read(&recorded(dir.path(), &values), "latency")
        .unwrap()
        .unwrap();
    let combined = Rules::default().combine(&parts);
    let merged = combined.iter().find(|a| a.label == "latency").unwrap();
    assert_eq!(merged.files, 3);
    let Combined::Histogram(merged) = &merged.combined else {
        panic!("{merged:?}")
    };
    assert_eq!(merged.buckets, whole.buckets);
    assert_eq!(
        (merged.count, merged.zero, merged.overflow),
        (300_000, 0, 0)
    );
    assert!((merged.sum / whole.sum - 1.0).abs() < 1e-12);
    // The parts are no aggregates of their own (the sequence number is
    // one, as every group's).
    let labels: Vec<&str> = combined.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(labels, ["latency", "latency.seq"]);
    let mut sorted = values;
    sorted.sort_by(f64::total_cmp);
    check("merged", merged, &sorted);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any values within the range, any quantile.
    #[test]
    fn any_quantile_of_any_values_is_within_the_bound(
        exponents in proptest::collection::vec(-29.9f64..16.9, 1..2000),
        q in 0.0f64..=1.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f64> = exponents.iter().map(|e| e.exp2()).collect();
        let snapshot = recorded(dir.path(), &values);
        let h = Read::read(&snapshot, "latency").unwrap().unwrap();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let got = h.quantile(q).unwrap();
        let want = exact(&sorted, q);
        prop_assert!((got / want - 1.0).abs() <= bound(), "q {} {} for {}", q, got, want);
    }
}
