//! Readers running beside the writer: every point a reader sees set has
//! its exact value; every point synced before the read began is set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use mmstats::mstore::{Error, Options, Reader, Store};

const S: u64 = 50;
const STEP: u64 = 30;
const ROUNDS: u64 = 120;

fn val(m: u64, t: u64) -> u64 {
    (m << 48) | (t * 31 + 7)
}

#[test]
fn readers_see_exact_values_while_the_writer_writes_syncs_and_deletes() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(
        d.path(),
        Options {
            chunk_size: S,
            max_open_chunks: 3,
            ..Options::default()
        },
    )
    .unwrap();
    // Highest round whose sync completed, plus one; and the delete cutoff.
    let synced = Arc::new(AtomicU64::new(0));
    let deleted = Arc::new(AtomicU64::new(0));
    let dir = d.path().to_path_buf();
    let readers: Vec<_> = (0..2)
        .map(|k| {
            let (synced, deleted, dir) = (synced.clone(), deleted.clone(), dir.clone());
            thread::spawn(move || {
                let mut r = Reader::open(&dir).unwrap();
                let mut checks = 0u64;
                loop {
                    let flag = synced.load(Ordering::SeqCst);
                    let done = flag.min(ROUNDS);
                    let cut = deleted.load(Ordering::SeqCst);
                    for m in 0..4u64 {
                        let p = match r.get::<u64>(&format!("m{m}"), 0, (ROUNDS + 1) * STEP) {
                            Ok(p) => p,
                            Err(Error::UnknownMetric { .. }) => continue,
                            Err(e) => panic!("reader {k}: {e}"),
                        };
                        for (t, v) in p.iter() {
                            if let Some(v) = v {
                                assert_eq!(v, val(m, t), "reader {k} metric {m} slot {t}");
                            } else if t < done * STEP && t >= cut {
                                // Synced before this read began and not
                                // deleted since: must be set.
                                let now_cut = deleted.load(Ordering::SeqCst);
                                assert!(
                                    t < now_cut,
                                    "reader {k}: metric {m} slot {t} synced but unset"
                                );
                            }
                        }
                        checks += 1;
                    }
                    if flag > ROUNDS {
                        return checks;
                    }
                }
            })
        })
        .collect();
    for round in 0..ROUNDS {
        for m in 0..4u64 {
            let start = round * STEP;
            let v: Vec<u64> = (start..start + STEP).map(|t| val(m, t)).collect();
            s.put(&format!("m{m}"), start, &v).unwrap();
        }
        if round % 3 == 2 {
            s.sync().unwrap();
            synced.store(round + 1, Ordering::SeqCst);
        }
        if round % 40 == 39 {
            let cut = (round - 20) * STEP / S * S;
            deleted.store(cut, Ordering::SeqCst);
            s.delete_before(cut).unwrap();
        }
    }
    s.sync().unwrap();
    synced.store(ROUNDS + 1, Ordering::SeqCst);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}
