//! Behaviour of the mstore API on real files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use mmstats::mstore::{
    make_splits, Error, MetricInfo, OpenOptions, Options, Reader, Run, Store, ValueType,
    MAX_NAME_LEN,
};

fn opts(s: u64) -> Options {
    Options {
        chunk_size: s,
        ..Options::default()
    }
}

/// Every file under `dir` with its length and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            }
            out.insert(e.path(), (md.len(), md.modified().unwrap()));
        }
    }
    out
}

#[test]
fn put_get_across_chunks_unset_is_not_zero() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts(10)).unwrap();
    let vals: Vec<u64> = (0..25).map(|i| i * 3).collect(); // includes a zero
    s.put("a", 7, &vals).unwrap();
    let p = s.get::<u64>("a", 0, 40).unwrap();
    assert_eq!(p.len(), 40);
    for slot in 0..40u64 {
        let want = (7..32).contains(&slot).then(|| (slot - 7) * 3);
        assert_eq!(p.at(slot), want, "slot {slot}");
    }
    assert_eq!(p.get(0), None);
    assert_eq!(p.at(7), Some(0));
    assert_eq!(p.count_set(), 25);
    s.close().unwrap();
    let mut r = Reader::open(d.path()).unwrap();
    let q = r.get::<u64>("a", 0, 40).unwrap();
    assert_eq!(q.iter().collect::<Vec<_>>(), p.iter().collect::<Vec<_>>());
    assert_eq!(q.at(6), None);
}

#[test]
fn typed_values_round_trip_exactly() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts(64)).unwrap();
    let f = [
        f64::NAN,
        -0.0,
        f64::INFINITY,
        1e-310,
        f64::from_bits(0x7ff4_0000_0000_0001),
    ];
    let i = [i64::MIN, -1, 0, i64::MAX];
    let u = [u64::MAX, 1 << 63, (1 << 56) + 1];
    s.put("f", 100, &f).unwrap();
    s.put("i", 60, &i).unwrap();
    s.put("u", 0, &u).unwrap();
    s.close().unwrap();
    let mut s = Store::open(d.path()).unwrap();
    let got = s.get::<f64>("f", 100, 105).unwrap();
    for (k, v) in f.iter().enumerate() {
        assert_eq!(got.get(k).unwrap().to_bits(), v.to_bits());
    }
    assert_eq!(s.get::<i64>("i", 60, 64).unwrap().raw_values(), &i);
    assert_eq!(s.get::<u64>("u", 0, 3).unwrap().raw_values(), &u);
    assert_eq!(
        s.metrics().unwrap(),
        vec![
            MetricInfo {
                name: "f".into(),
                value_type: ValueType::F64
            },
            MetricInfo {
                name: "i".into(),
                value_type: ValueType::I64
            },
            MetricInfo {
                name: "u".into(),
                value_type: ValueType::U64
            },
        ]
    );
    assert_eq!(s.count(), 3);
}

#[test]
fn wrong_type_is_rejected_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts(10)).unwrap();
    s.put("m", 0, &[1u64, 2]).unwrap();
    s.sync().unwrap();
    let before = snapshot(d.path());
    let e = s.put("m", 50, &[1.5f64]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::WrongType {
                stored: ValueType::U64,
                given: ValueType::F64,
                ..
            }
        ),
        "{e}"
    );
    let e = s.get::<i64>("m", 0, 2).unwrap_err();
    assert!(matches!(e, Error::WrongType { .. }));
    s.sync().unwrap();
    let after = snapshot(d.path());
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert_eq!(s.get::<u64>("m", 0, 60).unwrap().count_set(), 2);
    assert!(matches!(
        s.get::<u64>("nope", 0, 1),
        Err(Error::UnknownMetric { .. })
    ));
}

#[test]
fn bad_names_and_slots_are_typed_errors() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts(10)).unwrap();
    assert!(matches!(s.put("", 0, &[1u64]), Err(Error::EmptyName)));
    let long = "x".repeat(MAX_NAME_LEN + 1);
    assert!(
        matches!(s.put(&long, 0, &[1u64]), Err(Error::NameTooLong { len, max }) if len == MAX_NAME_LEN + 1 && max == MAX_NAME_LEN)
    );
    // Longer than a u16 length prefix could hold: must not wrap.
    let huge = "y".repeat(70_000);
    assert!(matches!(
        s.put(&huge, 0, &[1u64]),
        Err(Error::NameTooLong { .. })
    ));
    let ok = "z".repeat(MAX_NAME_LEN);
    s.put(&ok, 0, &[9u64]).unwrap();
    assert!(matches!(
        s.put("o", u64::MAX, &[1u64, 2]),
        Err(Error::SlotOverflow { .. })
    ));
    let limit = u64::MAX / 10 * 10;
    assert!(
        matches!(s.put("o", limit - 1, &[1u64, 2]), Err(Error::SlotOverflow { limit: l, .. }) if l == limit)
    );
    s.put("o", limit - 2, &[1u64, 2]).unwrap();
    assert_eq!(s.get::<u64>("o", limit - 3, limit).unwrap().count_set(), 2);
    assert!(matches!(
        s.get::<u64>("o", limit - 1, limit + 1),
        Err(Error::SlotOverflow { .. })
    ));
    assert!(matches!(
        s.get::<u64>("o", 5, 4),
        Err(Error::ReversedRange { .. })
    ));
    assert!(matches!(
        s.get::<u64>("o", 0, u64::MAX / 20),
        Err(Error::RangeTooLarge { .. })
    ));
    assert_eq!(
        s.metrics().unwrap().len(),
        2,
        "failed puts created no metric"
    );
    s.close().unwrap();
    let mut r = Reader::open(d.path()).unwrap();
    assert_eq!(r.get::<u64>(&ok, 0, 1).unwrap().get(0), Some(9));
}

#[test]
fn options_and_time_conversion() {
    let d = tempfile::tempdir().unwrap();
    assert!(matches!(
        Store::create(d.path(), opts(0)),
        Err(Error::InvalidOptions(_))
    ));
    let o = Options {
        chunk_size: 10,
        resolution: 5,
        start_time: 1000,
        max_open_chunks: 4,
    };
    let s = Store::create(d.path(), o).unwrap();
    assert_eq!(s.slot_at(1012).unwrap(), 2);
    assert!(matches!(
        s.slot_at(999),
        Err(Error::BeforeStart {
            time: 999,
            start: 1000
        })
    ));
    assert_eq!(s.info().resolution, 5);
    drop(s);
    assert!(matches!(
        Store::create(d.path(), o),
        Err(Error::AlreadyExists { .. })
    ));
    let e = Store::open_or_create(d.path(), opts(20)).unwrap_err();
    match e {
        Error::ChunkSizeMismatch {
            expected,
            found,
            path,
        } => {
            assert_eq!((expected, found), (20, 10));
            assert!(path.ends_with("mstore.meta"));
            let msg = Error::ChunkSizeMismatch {
                expected,
                found,
                path,
            }
            .to_string();
            assert!(msg.contains("20") && msg.contains("10"), "{msg}");
        }
        e => panic!("{e}"),
    }
    let bad = OpenOptions {
        expected_chunk_size: Some(11),
        ..OpenOptions::default()
    };
    assert!(matches!(
        Reader::open_with(d.path(), bad),
        Err(Error::ChunkSizeMismatch {
            expected: 11,
            found: 10,
            ..
        })
    ));
    assert!(Store::open_or_create(d.path(), opts(10)).is_ok());
    let missing = d.path().join("none");
    assert!(matches!(Store::open(&missing), Err(Error::Io { .. })));
    assert!(!missing.exists());
}

#[test]
fn second_writer_is_locked_readers_are_not() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts(10)).unwrap();
    s.put("a", 0, &[1u64]).unwrap();
    s.sync().unwrap();
    match Store::open(d.path()) {
        Err(Error::Locked { path }) => assert!(path.ends_with("lock")),
        other => panic!("{other:?}"),
    }
    let mut r = Reader::open(d.path()).unwrap();
    assert_eq!(r.get::<u64>("a", 0, 1).unwrap().get(0), Some(1));
    drop(s);
    let s2 = Store::open(d.path()).unwrap();
    s2.close().unwrap();
}

#[test]
fn readers_never_create_or_modify_files() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts(10)).unwrap();
    s.put("a", 15, &[1u64, 2, 3]).unwrap();
    s.close().unwrap();
    fs::remove_file(d.path().join("lock")).unwrap();
    let before = snapshot(d.path());
    let mut r = Reader::open(d.path()).unwrap();
    let p = r.get::<u64>("a", 0, 1000).unwrap();
    assert_eq!(p.count_set(), 3);
    assert!(matches!(
        r.get::<u64>("b", 5000, 6000),
        Err(Error::UnknownMetric { .. })
    ));
    r.metrics().unwrap();
    r.fold(0, |n, _, _, _| n + 1).unwrap();
    drop(r);
    // The writer's get of a missing chunk creates nothing either.
    let mut s = Store::open(d.path()).unwrap();
    assert_eq!(s.get::<u64>("a", 100_000, 100_100).unwrap().count_set(), 0);
    drop(s);
    let mut after = snapshot(d.path());
    after.remove(&d.path().join("lock"));
    assert_eq!(before, after);
}

#[test]
fn delete_before_rounds_down_to_chunk_boundary() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts(10)).unwrap();
    let v: Vec<u64> = (0..50).collect();
    s.put("a", 0, &v).unwrap();
    // 25 rounds down to 20: chunks 0 and 10 go, 20..25 stays.
    assert_eq!(s.delete_before(25).unwrap(), 2);
    let p = s.get::<u64>("a", 0, 50).unwrap();
    for slot in 0..50u64 {
        assert_eq!(p.at(slot), (slot >= 20).then_some(slot), "slot {slot}");
    }
    // On a boundary: exactly the chunks before it.
    assert_eq!(s.delete_before(30).unwrap(), 1);
    assert_eq!(s.delete_before(39).unwrap(), 0);
    assert_eq!(s.get::<u64>("a", 0, 50).unwrap().count_set(), 20);
    s.close().unwrap();
    let mut r = Reader::open(d.path()).unwrap();
    assert_eq!(r.get::<u64>("a", 0, 50).unwrap().at(30), Some(30));
    assert_eq!(r.get::<u64>("a", 0, 50).unwrap().at(29), None);
    // The metric stays known after its chunks are gone.
    let mut s = Store::open(d.path()).unwrap();
    s.delete_before(u64::MAX).unwrap();
    assert_eq!(s.count(), 1);
    assert_eq!(s.get::<u64>("a", 0, 50).unwrap().count_set(), 0);
}

#[test]
fn fold_visits_runs_in_time_order_per_metric() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts(10)).unwrap();
    s.put("b", 25, &[1i64, 2, 3]).unwrap();
    s.put("a", 3, &[1.0f64, 2.0]).unwrap();
    s.put("a", 8, &[3.0f64, 4.0, 5.0]).unwrap();
    s.put("b", 2, &[7i64]).unwrap();
    s.put("c", 0, &[0u64; 0]).unwrap(); // empty: creates nothing
    let runs = s
        .fold(Vec::new(), |mut acc, name, slot, run| {
            let vals: Vec<f64> = match run {
                Run::U64(v) => v.iter().map(|x| *x as f64).collect(),
                Run::I64(v) => v.iter().map(|x| *x as f64).collect(),
                Run::F64(v) => v.to_vec(),
            };
            acc.push((name.to_string(), slot, vals));
            acc
        })
        .unwrap();
    let per = |m: &str| {
        runs.iter()
            .filter(|r| r.0 == m)
            .map(|r| (r.1, r.2.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        per("a"),
        vec![(3, vec![1.0, 2.0]), (8, vec![3.0, 4.0]), (10, vec![5.0])]
    );
    assert_eq!(per("b"), vec![(2, vec![7.0]), (25, vec![1.0, 2.0, 3.0])]);
    assert_eq!(s.count(), 2);
}

#[test]
fn open_chunks_stay_within_bound() {
    let d = tempfile::tempdir().unwrap();
    let o = Options {
        chunk_size: 8,
        max_open_chunks: 2,
        ..Options::default()
    };
    let mut s = Store::create(d.path(), o).unwrap();
    for c in 0..6u64 {
        s.put("a", c * 8, &[c; 8]).unwrap();
        s.put("b", c * 8 + 1, &[c + 100; 3]).unwrap();
        assert!(s.open_chunks() <= 2);
    }
    // Evicted chunks were flushed: a reader sees them without a sync.
    let mut r = Reader::open_with(
        d.path(),
        OpenOptions {
            max_open_chunks: 1,
            ..OpenOptions::default()
        },
    )
    .unwrap();
    let p = r.get::<u64>("a", 0, 32).unwrap();
    assert_eq!(p.count_set(), 32);
    for c in 0..6u64 {
        let p = s.get::<u64>("b", c * 8, c * 8 + 8).unwrap();
        assert_eq!(
            p.iter().filter_map(|x| x.1).collect::<Vec<_>>(),
            vec![c + 100; 3]
        );
        assert!(s.open_chunks() <= 2);
    }
}

#[test]
fn splits_follow_the_spec() {
    let s = make_splits(95, 321, 100);
    let v: Vec<_> = s.iter().map(|p| (p.base, p.offset, p.len)).collect();
    assert_eq!(
        v,
        vec![(0, 95, 5), (100, 0, 100), (200, 0, 100), (300, 0, 21)]
    );
}
