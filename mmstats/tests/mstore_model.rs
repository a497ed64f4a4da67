//! The store against an in-memory model: random puts (right and wrong
//! types), gets from the writer and from a reader, deletes, retention,
//! sealing (at syncs, and all chunks at once), reads at a step, syncs and
//! reopens; the store must always answer like the model.

use std::collections::{BTreeMap, BTreeSet};

use mmstats::mstore::{Error, Options, Reader, Store, ValueType};
use proptest::prelude::*;

const S: u64 = 16;
const NAMES: [&str; 4] = ["u", "i", "f", "u2"];

#[derive(Debug, Clone)]
enum Op {
    Put {
        m: usize,
        start: u64,
        vals: Vec<u64>,
        wrong: bool,
    },
    Get {
        m: usize,
        from: u64,
        len: u64,
    },
    ReaderGet {
        m: usize,
        from: u64,
        len: u64,
    },
    Delete {
        slot: u64,
    },
    Sync,
    Reopen,
    SealAll,
    Retain {
        keep_from: u64,
    },
    Step {
        m: usize,
        from: u64,
        len: u64,
        step: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..200u64, proptest::collection::vec(any::<u64>(), 0..40), proptest::bool::weighted(0.1))
            .prop_map(|(m, start, vals, wrong)| Op::Put { m, start, vals, wrong }),
        3 => (0..4usize, 0..220u64, 0..80u64).prop_map(|(m, from, len)| Op::Get { m, from, len }),
        1 => (0..4usize, 0..220u64, 0..80u64).prop_map(|(m, from, len)| Op::ReaderGet { m, from, len }),
        1 => (0..200u64).prop_map(|slot| Op::Delete { slot }),
        1 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => Just(Op::SealAll),
        1 => (0..220u64).prop_map(|keep_from| Op::Retain { keep_from }),
        1 => (0..4usize, 0..220u64, 0..120u64, 1..40u64)
            .prop_map(|(m, from, len, step)| Op::Step { m, from, len, step }),
    ]
}

fn put(s: &mut Store, m: usize, start: u64, v: &[u64], wrong: bool) -> Result<(), Error> {
    let kind = if wrong { (m + 1) % 3 } else { m % 3 };
    match kind {
        0 => s.put(NAMES[m], start, v),
        1 => s.put(
            NAMES[m],
            start,
            &v.iter().map(|x| *x as i64).collect::<Vec<_>>(),
        ),
        _ => s.put(
            NAMES[m],
            start,
            &v.iter().map(|x| f64::from_bits(*x)).collect::<Vec<_>>(),
        ),
    }
}

macro_rules! get_bits {
    ($s:expr, $m:expr, $from:expr, $to:expr) => {
        match $m % 3 {
            0 => $s
                .get::<u64>(NAMES[$m], $from, $to)
                .map(|p| p.iter().map(|x| x.1).collect::<Vec<_>>()),
            1 => $s
                .get::<i64>(NAMES[$m], $from, $to)
                .map(|p| p.iter().map(|x| x.1.map(|v| v as u64)).collect()),
            _ => $s
                .get::<f64>(NAMES[$m], $from, $to)
                .map(|p| p.iter().map(|x| x.1.map(f64::to_bits)).collect()),
        }
    };
}

fn model_get(
    model: &BTreeMap<(usize, u64), u64>,
    m: usize,
    from: u64,
    to: u64,
) -> Vec<Option<u64>> {
    (from..to).map(|t| model.get(&(m, t)).copied()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_answers_like_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let d = tempfile::tempdir().unwrap();
        let o = Options { chunk_size: S, max_open_chunks: 2, ..Options::default() };
        let mut s = Store::create(d.path(), o).unwrap();
        let mut model: BTreeMap<(usize, u64), u64> = BTreeMap::new();
        let mut known = [false; 4];
        let mut synced_model = model.clone();
        // Every value ever written to each point since its last delete.
        let mut history: BTreeMap<(usize, u64), Vec<u64>> = BTreeMap::new();
        // Bases of the chunks that exist.
        let mut chunks: BTreeSet<u64> = BTreeSet::new();
        for op in ops {
            match op {
                Op::Put { m, start, vals, wrong } => {
                    if wrong && !known[m] {
                        // A first write fixes the type; keep each metric's
                        // type fixed by index instead.
                        continue;
                    }
                    let r = put(&mut s, m, start, &vals, wrong);
                    if wrong {
                        let is_wrong_type = matches!(r, Err(Error::WrongType { .. }));
                        prop_assert!(is_wrong_type, "{:?}", r);
                    } else {
                        r.unwrap();
                        if !vals.is_empty() {
                            known[m] = true;
                        }
                        for (i, v) in vals.iter().enumerate() {
                            chunks.insert((start + i as u64) / S * S);
                            model.insert((m, start + i as u64), *v);
                            history.entry((m, start + i as u64)).or_default().push(*v);
                        }
                    }
                }
                Op::Get { m, from, len } => {
                    let got = get_bits!(s, m, from, from + len);
                    if known[m] {
                        prop_assert_eq!(got.unwrap(), model_get(&model, m, from, from + len));
                    } else {
                        let unknown = matches!(got, Err(Error::UnknownMetric { .. }));
                        prop_assert!(unknown);
                    }
                }
                Op::ReaderGet { m, from, len } => {
                    // A reader sees at least what was synced, and only
                    // values that were written. (A point overwritten since
                    // its chunk was last flushed may show its older value.)
                    let mut r = Reader::open(d.path()).unwrap();
                    match get_bits!(r, m, from, from + len) {
                        Ok(got) => {
                            let then = model_get(&synced_model, m, from, from + len);
                            for i in 0..got.len() {
                                let key = (m, from + i as u64);
                                let written = history.get(&key).cloned().unwrap_or_default();
                                if let Some(v) = got[i] {
                                    prop_assert!(written.contains(&v), "{:?} not among {:?}", v, written);
                                }
                                if then[i].is_some() {
                                    prop_assert!(got[i].is_some(), "synced point {:?} unset", key);
                                }
                                if then[i].is_some() && written.len() == 1 {
                                    prop_assert_eq!(got[i], then[i]);
                                }
                            }
                        }
                        Err(Error::UnknownMetric { .. }) => prop_assert!(!known[m] || synced_model.keys().all(|k| k.0 != m)),
                        Err(e) => prop_assert!(false, "{}", e),
                    }
                }
                Op::Delete { slot } => {
                    let cutoff = slot / S * S;
                    s.delete_before(slot).unwrap();
                    model.retain(|k, _| k.1 >= cutoff);
                    history.retain(|k, _| k.1 >= cutoff);
                    synced_model.retain(|k, _| k.1 >= cutoff);
                    chunks.retain(|b| *b >= cutoff);
                }
                Op::Retain { keep_from } => {
                    // Whole chunks wholly before `keep_from`, never the
                    // newest.
                    let newest = chunks.iter().next_back().copied();
                    let doomed: Vec<u64> = chunks
                        .iter()
                        .copied()
                        .filter(|b| b + S <= keep_from && Some(*b) != newest)
                        .collect();
                    let got: Vec<u64> = s.retain(Some(keep_from), None).unwrap().iter().map(|d| d.base).collect();
                    prop_assert_eq!(&got, &doomed);
                    let gone = |t: u64| doomed.contains(&(t / S * S));
                    model.retain(|k, _| !gone(k.1));
                    history.retain(|k, _| !gone(k.1));
                    synced_model.retain(|k, _| !gone(k.1));
                    chunks.retain(|b| !doomed.contains(b));
                }
                Op::SealAll => {
                    s.seal_all().unwrap();
                    synced_model = model.clone();
                }
                Op::Step { m, from, len, step } => {
                    if !known[m] {
                        continue;
                    }
                    let ty = [ValueType::U64, ValueType::I64, ValueType::F64][m % 3];
                    s.sync().unwrap();
                    synced_model = model.clone();
                    let mut r = Reader::open(d.path()).unwrap();
                    let w = mmstats::history::read_step(&mut r, NAMES[m], ty, (from, from + len), step, 1.0).unwrap();
                    prop_assert_eq!(w.len() as u64, len.div_ceil(step));
                    for (i, win) in w.iter().enumerate() {
                        let a = from + i as u64 * step;
                        let xs: Vec<f64> = (a..(a + step).min(from + len))
                            .filter_map(|t| model.get(&(m, t)))
                            .map(|b| match m % 3 {
                                0 => *b as f64,
                                1 => *b as i64 as f64,
                                _ => f64::from_bits(*b),
                            })
                            .collect();
                        prop_assert_eq!(win.start, a);
                        prop_assert_eq!(win.count, xs.len() as u64);
                        let same = |x: Option<f64>, y: Option<f64>| x.map(f64::to_bits) == y.map(f64::to_bits)
                            || (x.is_some_and(f64::is_nan) && y.is_some_and(f64::is_nan));
                        prop_assert!(same(win.last, xs.last().copied()), "last {:?} {:?}", win.last, xs);
                        let mean = (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
                        prop_assert!(same(win.mean, mean), "mean {:?} {:?}", win.mean, mean);
                        let min = xs.iter().copied().reduce(f64::min);
                        let max = xs.iter().copied().reduce(f64::max);
                        prop_assert!(same(win.min, min) && same(win.max, max), "{:?} {:?}", win, xs);
                    }
                }
                Op::Sync => {
                    s.sync().unwrap();
                    synced_model = model.clone();
                }
                Op::Reopen => {
                    s.close().unwrap();
                    synced_model = model.clone();
                    s = Store::open_with(d.path(), mmstats::mstore::OpenOptions { max_open_chunks: 2, ..Default::default() }).unwrap();
                }
            }
        }
        // The final reads and fold are of sealed chunks only.
        s.seal_all().unwrap();
        prop_assert_eq!(s.sealed_chunks(), chunks.len());
        s.close().unwrap();
        let mut r = Reader::open(d.path()).unwrap();
        for (m, k) in known.iter().enumerate() {
            if *k {
                prop_assert_eq!(get_bits!(r, m, 0, 260).unwrap(), model_get(&model, m, 0, 260));
            }
        }
        let folded = r.fold(BTreeMap::new(), |mut acc, name, slot, run| {
            let m = NAMES.iter().position(|n| *n == name).unwrap();
            let bits: Vec<u64> = match run {
                mmstats::mstore::Run::U64(v) => v.to_vec(),
                mmstats::mstore::Run::I64(v) => v.iter().map(|x| *x as u64).collect(),
                mmstats::mstore::Run::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
            };
            for (i, b) in bits.into_iter().enumerate() {
                acc.insert((m, slot + i as u64), b);
            }
            acc
        }).unwrap();
        prop_assert_eq!(folded, model);
    }
}
