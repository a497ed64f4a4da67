//! Simulated power cuts: random workloads (puts, syncs, deletes, clean
//! reopens) on the in-memory file system of `sim.rs`, whose power fails at
//! a random file-system call; then the store is reopened on what survived.
//! Every point synced before the cut must read back exactly, every other
//! point exactly (one of the values written to it) or unset, never wrong;
//! every metric synced must be listed with its type; the store must open
//! for reading and writing and go on working.

// The oracle keeps parallel arrays indexed by metric and slot.
#![allow(clippy::needless_range_loop)]

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::sim::{Rng, SimFs};
use super::vfs::FsRef;
use super::{Error, OpenOptions, Options, Reader, Store, ValueType};

/// Chunk size: two whole checksummed blocks and a short one per row.
const S: u64 = 800;
/// Slots used: five chunks.
const SLOTS: u64 = 5 * S;
const METRICS: usize = 4;
const NAMES: [&str; METRICS] = ["m-u64", "m-i64", "m-f64", "m-u64-b"];

fn ty(m: usize) -> ValueType {
    match m {
        1 => ValueType::I64,
        2 => ValueType::F64,
        _ => ValueType::U64,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        m: usize,
        start: u64,
        len: u64,
        seed: u64,
    },
    Sync,
    Delete {
        slot: u64,
    },
    Reopen,
    /// The power fails at the `after`-th file-system call from here (or,
    /// if the workload ends first, at its end).
    Cut {
        after: u64,
        seed: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..METRICS, 0..SLOTS, 1..2 * S, any::<u64>())
            .prop_map(|(m, start, len, seed)| Op::Put { m, start, len: len.min(SLOTS - start), seed }),
        3 => Just(Op::Sync),
        1 => (0..SLOTS + S).prop_map(|slot| Op::Delete { slot }),
        1 => Just(Op::Reopen),
        3 => (1..400u64, any::<u64>()).prop_map(|(after, seed)| Op::Cut { after, seed }),
    ]
}

/// Every slot of a metric, as raw bits, `None` for unset.
type Slots = Vec<Option<u64>>;

fn value(seed: u64, slot: u64) -> u64 {
    let mut r = Rng::new(seed ^ slot.wrapping_mul(0x2545_F491_4F6C_DD1D));
    r.next()
}

/// What each slot of each metric may read back as: `None` for unset.
struct Oracle {
    /// What the writer's own reads would give.
    view: Vec<Vec<Option<u64>>>,
    /// What a read after a power cut may give.
    allowed: Vec<Vec<Vec<Option<u64>>>>,
    /// Metrics that must be listed (their creation was synced).
    listed: [bool; METRICS],
    /// Metrics written since the last completed sync.
    created: [bool; METRICS],
}

impl Oracle {
    fn new() -> Oracle {
        Oracle {
            view: vec![vec![None; SLOTS as usize]; METRICS],
            allowed: vec![vec![vec![None]; SLOTS as usize]; METRICS],
            listed: [false; METRICS],
            created: [false; METRICS],
        }
    }

    fn synced(&mut self) {
        for m in 0..METRICS {
            for t in 0..SLOTS as usize {
                self.allowed[m][t] = vec![self.view[m][t]];
            }
            self.listed[m] |= self.created[m];
        }
    }
}

fn put(s: &mut Store, m: usize, start: u64, raw: &[u64]) -> Result<(), Error> {
    let name = NAMES[m];
    match ty(m) {
        ValueType::U64 => s.put(name, start, raw),
        ValueType::I64 => s.put(
            name,
            start,
            &raw.iter().map(|x| *x as i64).collect::<Vec<_>>(),
        ),
        ValueType::F64 => s.put(
            name,
            start,
            &raw.iter().map(|x| f64::from_bits(*x)).collect::<Vec<_>>(),
        ),
    }
}

/// Reads every slot of metric `m` as raw bits.
fn read_all_slots(
    get: &mut dyn FnMut(&str, ValueType) -> Result<Slots, Error>,
    m: usize,
) -> Result<Vec<Option<u64>>, Error> {
    match get(NAMES[m], ty(m)) {
        Err(Error::UnknownMetric { .. }) => Ok(vec![None; SLOTS as usize]),
        other => other,
    }
}

fn reader_get(r: &mut Reader, name: &str, t: ValueType) -> Result<Vec<Option<u64>>, Error> {
    Ok(match t {
        ValueType::U64 => r.get::<u64>(name, 0, SLOTS)?.iter().map(|x| x.1).collect(),
        ValueType::I64 => r
            .get::<i64>(name, 0, SLOTS)?
            .iter()
            .map(|x| x.1.map(|v| v as u64))
            .collect(),
        ValueType::F64 => r
            .get::<f64>(name, 0, SLOTS)?
            .iter()
            .map(|x| x.1.map(f64::to_bits))
            .collect(),
    })
}

fn store_get(s: &mut Store, name: &str, t: ValueType) -> Result<Vec<Option<u64>>, Error> {
    Ok(match t {
        ValueType::U64 => s.get::<u64>(name, 0, SLOTS)?.iter().map(|x| x.1).collect(),
        ValueType::I64 => s
            .get::<i64>(name, 0, SLOTS)?
            .iter()
            .map(|x| x.1.map(|v| v as u64))
            .collect(),
        ValueType::F64 => s
            .get::<f64>(name, 0, SLOTS)?
            .iter()
            .map(|x| x.1.map(f64::to_bits))
            .collect(),
    })
}

const DIR: &str = "/stores/s";

fn open_opts() -> OpenOptions {
    OpenOptions {
        expected_chunk_size: Some(S),
        max_open_chunks: 2,
    }
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

/// After a cut: checks what survived against the oracle, with a fresh
/// reader and then with the reopened writer, and makes it the new state.
fn verify_after_cut(fs: &FsRef, o: &mut Oracle, cut: usize) -> Result<Store, TestCaseError> {
    let dir = Path::new(DIR);
    let mut r = Reader::open_in(fs.clone(), dir, open_opts())
        .map_err(|e| fail(format!("cut {cut}: reader open: {e}")))?;
    let listed = r
        .metrics()
        .map_err(|e| fail(format!("cut {cut}: metrics: {e}")))?;
    for m in 0..METRICS {
        if o.listed[m] {
            let found = listed.iter().find(|x| x.name == NAMES[m]);
            prop_assert_eq!(
                found.map(|x| x.value_type),
                Some(ty(m)),
                "cut {}: synced metric {} not listed: {:?}",
                cut,
                NAMES[m],
                listed
            );
        }
    }
    let mut got = Vec::new();
    for m in 0..METRICS {
        let pts = read_all_slots(&mut |n, t| reader_get(&mut r, n, t), m)
            .map_err(|e| fail(format!("cut {cut}: reader get {}: {e}", NAMES[m])))?;
        for (t, p) in pts.iter().enumerate() {
            if !o.allowed[m][t].contains(p) {
                return Err(fail(format!(
                    "cut {cut}: {} slot {t} reads {p:?}, allowed {:?}",
                    NAMES[m], o.allowed[m][t]
                )));
            }
        }
        got.push(pts);
    }
    drop(r);
    let mut s = Store::open_in(fs.clone(), dir, open_opts())
        .map_err(|e| fail(format!("cut {cut}: writer open: {e}")))?;
    let names = s
        .metrics()
        .map_err(|e| fail(format!("cut {cut}: writer metrics: {e}")))?;
    for m in 0..METRICS {
        let pts = read_all_slots(&mut |n, t| store_get(&mut s, n, t), m)
            .map_err(|e| fail(format!("cut {cut}: writer get {}: {e}", NAMES[m])))?;
        prop_assert_eq!(&pts, &got[m], "cut {}: writer and reader differ", cut);
        if let Some(x) = names.iter().find(|x| x.name == NAMES[m]) {
            prop_assert_eq!(x.value_type, ty(m));
        }
        let known = names.iter().any(|x| x.name == NAMES[m]);
        o.listed[m] = known;
        o.created[m] = false;
        o.view[m] = pts;
    }
    for m in 0..METRICS {
        for t in 0..SLOTS as usize {
            o.allowed[m][t] = vec![o.view[m][t]];
        }
    }
    Ok(s)
}

thread_local! {
    /// Sealed chunks seen after syncs, summed over the workloads.
    static SEALED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Runs one workload; returns the number of power cuts it made.
fn run(ops: &[Op]) -> Result<u64, TestCaseError> {
    let sim = SimFs::new();
    let fs: FsRef = Arc::new(sim.clone());
    let dir = Path::new(DIR);
    let created = Store::create_in(
        fs.clone(),
        dir,
        Options {
            chunk_size: S,
            resolution: 1,
            start_time: 0,
            max_open_chunks: 2,
        },
    )
    .map_err(|e| fail(format!("create: {e}")))?;
    let mut s = Some(created);
    let mut o = Oracle::new();
    let mut cuts = 0;
    let mut pending_cut: Option<u64> = None;
    let mut i = 0;
    loop {
        let op = ops.get(i);
        let due = pending_cut.is_some() && matches!(op, None | Some(Op::Cut { .. }));
        if sim.is_dead() || due {
            drop(s.take());
            let seed = pending_cut.take().unwrap_or(0);
            sim.power_cut(&mut Rng::new(seed));
            cuts += 1;
            s = Some(verify_after_cut(&fs, &mut o, cuts as usize)?);
            continue;
        }
        let Some(op) = op else { break };
        i += 1;
        if std::env::var_os("MSTORE_TRACE").is_some() {
            eprintln!("op {i}: {op:?} (calls {})", sim.calls());
        }
        let Some(st) = s.as_mut() else {
            return Err(fail(format!("{op:?}: no store although the power is on")));
        };
        let res = match op {
            Op::Put {
                m,
                start,
                len,
                seed,
            } => {
                let raw: Vec<u64> = (*start..start + len).map(|t| value(*seed, t)).collect();
                for (k, v) in raw.iter().enumerate() {
                    let t = *start as usize + k;
                    o.view[*m][t] = Some(*v);
                    o.allowed[*m][t].push(Some(*v));
                }
                o.created[*m] = true;
                put(st, *m, *start, &raw)
            }
            Op::Sync => st.sync().map(|()| {
                o.synced();
                SEALED.with(|c| c.set(c.get() + st.sealed_chunks() as u64));
            }),
            Op::Delete { slot } => {
                let cutoff = (slot / S * S).min(SLOTS) as usize;
                for m in 0..METRICS {
                    for t in 0..cutoff {
                        o.view[m][t] = None;
                        o.allowed[m][t].push(None);
                    }
                }
                st.delete_before(*slot).map(|_| {
                    for m in 0..METRICS {
                        for t in 0..cutoff {
                            o.allowed[m][t] = vec![None];
                        }
                    }
                })
            }
            Op::Reopen => match s.take().map(Store::close) {
                Some(Ok(())) => {
                    o.synced();
                    Store::open_in(fs.clone(), dir, open_opts()).map(|n| {
                        s = Some(n);
                    })
                }
                Some(Err(e)) => Err(e),
                None => Ok(()),
            },
            Op::Cut { after, seed } => {
                sim.arm(*after);
                pending_cut = Some(*seed);
                Ok(())
            }
        };
        if let Err(e) = res {
            if !sim.is_dead() {
                return Err(fail(format!("{op:?}: {e}")));
            }
        }
    }
    Ok(cuts)
}

#[test]
fn power_cuts_lose_nothing_synced_and_read_nothing_wrong() {
    let mut runner = TestRunner::new(Config {
        cases: 500,
        failure_persistence: None,
        ..Config::default()
    });
    let total = std::cell::Cell::new(0u64);
    let result = runner.run(&proptest::collection::vec(op(), 10..60), |ops| {
        total.set(total.get() + run(&ops)?);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Shrinking reruns cases; a passing run counts each case once.
    let sealed = SEALED.with(|c| c.get());
    eprintln!(
        "{} simulated power cuts, {sealed} sealed chunks seen",
        total.get()
    );
    assert!(total.get() >= 1000, "only {} power cuts", total.get());
    // Sealing, and writes into sealed chunks (unsealing), are part of the
    // workloads.
    assert!(
        sealed >= 500,
        "only {sealed} sealed chunks seen after syncs"
    );
}

/// A power cut at every call of `Store::create`: afterwards there is no
/// store, or a whole one that opens and takes points.
#[test]
fn power_cut_while_creating_leaves_no_store_or_a_whole_one() {
    let calls = {
        let sim = SimFs::new();
        let fs: FsRef = Arc::new(sim.clone());
        Store::create_in(fs, Path::new(DIR), Options::default()).unwrap();
        sim.calls()
    };
    for at in 1..=calls {
        for seed in 0..8 {
            let sim = SimFs::new();
            let fs: FsRef = Arc::new(sim.clone());
            sim.arm(at);
            let made = Store::create_in(fs.clone(), Path::new(DIR), Options::default());
            let finished = made.is_ok();
            drop(made);
            sim.power_cut(&mut Rng::new(seed));
            match Reader::open_in(fs.clone(), Path::new(DIR), OpenOptions::default()) {
                Ok(mut r) => {
                    assert_eq!(r.metrics().unwrap(), vec![], "call {at}");
                    let mut s = Store::open_in(fs.clone(), Path::new(DIR), OpenOptions::default())
                        .unwrap_or_else(|e| panic!("call {at} seed {seed}: {e}"));
                    s.put("x", 3, &[7u64]).unwrap();
                    s.close().unwrap();
                    let mut r =
                        Reader::open_in(fs, Path::new(DIR), OpenOptions::default()).unwrap();
                    assert_eq!(r.get::<u64>("x", 0, 5).unwrap().at(3), Some(7));
                }
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    assert!(!finished, "call {at} seed {seed}: a created store vanished");
                }
                Err(e) => panic!("call {at} seed {seed}: {e}"),
            }
        }
    }
}

/// Calls `f` makes on a fresh copy of the same history: the workloads are
/// deterministic, so this is where the power can be made to fail inside it.
fn calls_of(setup: &dyn Fn(&FsRef), f: &dyn Fn(&FsRef)) -> u64 {
    let sim = SimFs::new();
    let fs: FsRef = Arc::new(sim.clone());
    setup(&fs);
    let before = sim.calls();
    f(&fs);
    sim.calls() - before
}

fn store_with_points(fs: &FsRef) {
    let mut s = Store::create_in(
        fs.clone(),
        Path::new(DIR),
        Options {
            chunk_size: S,
            ..Options::default()
        },
    )
    .unwrap();
    // Open chunks: their data and presence files are what must not come
    // back (sealed chunks have their own tests).
    s.set_sealing(false);
    s.put("m", 0, &(0..10u64).map(|t| 100 + t).collect::<Vec<_>>())
        .unwrap();
    s.put("m", S, &[1u64]).unwrap();
    s.close().unwrap();
}

/// Only slots 0..3 may be set, to 7, 8, 9: 3..10 were deleted.
fn check_no_deleted_point(fs: &FsRef) {
    let mut r = Reader::open_in(fs.clone(), Path::new(DIR), OpenOptions::default()).unwrap();
    let p = r
        .get::<u64>("m", 0, S)
        .unwrap_or_else(|e| panic!("a deleted chunk made again: {e}"));
    for (t, v) in p.iter() {
        let ok = match v {
            None => true,
            Some(v) => t < 3 && v == 7 + t,
        };
        assert!(ok, "slot {t} reads {v:?}: a deleted point came back");
    }
}

/// A deleted chunk made again, then a power cut that keeps the new index
/// but none of the unsynced changes to the names of the data and presence
/// files: their old files must not come back beside it. This needs the
/// sync of the chunks directory after a deletion removes them (within a
/// session), and after the writer's cleanup removes leftovers (a power cut
/// during the deletion, then a new session).
#[test]
fn a_deleted_chunk_made_again_never_finds_its_old_files() {
    let only_index = |name: &str| name.ends_with(".idx");
    // Within one session.
    let sim = SimFs::new();
    let fs: FsRef = Arc::new(sim.clone());
    store_with_points(&fs);
    let mut s = Store::open_in(fs.clone(), Path::new(DIR), OpenOptions::default()).unwrap();
    assert_eq!(s.delete_before(S).unwrap(), 1);
    s.put("m", 0, &[7u64, 8, 9]).unwrap();
    std::mem::forget(s);
    sim.power_cut_keeping(&only_index);
    check_no_deleted_point(&fs);

    // The power fails inside the deletion, after the indexes are gone.
    let delete = |fs: &FsRef| {
        let mut s = Store::open_in(fs.clone(), Path::new(DIR), OpenOptions::default()).unwrap();
        let _ = s.delete_before(S);
        std::mem::forget(s);
    };
    let open = |fs: &FsRef| {
        std::mem::forget(Store::open_in(
            fs.clone(),
            Path::new(DIR),
            OpenOptions::default(),
        ));
    };
    let opening = calls_of(&store_with_points, &open);
    let deleting = calls_of(&store_with_points, &delete);
    let mut tried = 0;
    for at in opening + 1..=deleting {
        let sim = SimFs::new();
        let fs: FsRef = Arc::new(sim.clone());
        store_with_points(&fs);
        sim.arm(at);
        delete(&fs);
        sim.power_cut_keeping(&|_| false);
        let idx = Path::new(DIR).join(format!("{:020}.idx", 0));
        if fs.stat(&idx).is_ok() {
            // The power failed before the deletion was durable.
            continue;
        }
        tried += 1;
        let mut s = Store::open_in(fs.clone(), Path::new(DIR), OpenOptions::default()).unwrap();
        s.put("m", 0, &[7u64, 8, 9]).unwrap();
        std::mem::forget(s);
        sim.power_cut_keeping(&only_index);
        check_no_deleted_point(&fs);
    }
    assert!(tried >= 3, "{tried} cuts after the indexes were removed");
}
