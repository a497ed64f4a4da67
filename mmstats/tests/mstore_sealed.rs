//! Sealed (compressed) chunks: stores in the open-chunk layout read the
//! same before and after sealing, readers never see a chunk vanish while it
//! is sealed, a write into a sealed chunk keeps every point, and damage to
//! a sealed file is a typed error naming it, never a wrong value.

use std::fs;
use std::path::{Path, PathBuf};

use mmstats::mstore::{Error, Options, Reader, Store};

const S: u64 = 1000;

fn opts() -> Options {
    Options {
        chunk_size: S,
        ..Options::default()
    }
}

fn chunk_file(dir: &Path, base: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

fn noise(t: u64) -> u64 {
    let mut z = t.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

/// Every metric of the mix over `0..to`, as (name, raw bits per slot).
type Dump = Vec<(String, Vec<Option<u64>>)>;

fn dump(r: &mut Reader, to: u64) -> Dump {
    let mut out = Vec::new();
    for m in r.metrics().unwrap() {
        let bits: Vec<Option<u64>> = match m.value_type {
            mmstats::mstore::ValueType::U64 => r
                .get::<u64>(&m.name, 0, to)
                .unwrap()
                .iter()
                .map(|x| x.1)
                .collect(),
            mmstats::mstore::ValueType::I64 => r
                .get::<i64>(&m.name, 0, to)
                .unwrap()
                .iter()
                .map(|x| x.1.map(|v| v as u64))
                .collect(),
            mmstats::mstore::ValueType::F64 => r
                .get::<f64>(&m.name, 0, to)
                .unwrap()
                .iter()
                .map(|x| x.1.map(f64::to_bits))
                .collect(),
        };
        out.push((m.name, bits));
    }
    out
}

/// A mix over `0..n`: a steady counter, a counter with restarts, a noisy
/// gauge, a constant, a float average, odd floats, and gaps.
fn write_mix(s: &mut Store, from: u64, n: u64) {
    for t in from..from + n {
        s.put("counter", t, &[t * 10]).unwrap();
        s.put("restarts", t, &[t % 777]).unwrap();
        if t % 50 < 40 {
            s.put("gauge", t, &[(noise(t) % 1000) as i64 - 500])
                .unwrap();
        }
        s.put("constant", t, &[42i64]).unwrap();
        s.put("avg", t, &[20.0 + (t as f64 / 30.0).sin()]).unwrap();
        let odd = [
            f64::NAN,
            -0.0,
            f64::INFINITY,
            1e-310,
            f64::from_bits(noise(t)),
        ];
        s.put("odd", t, &[odd[(t % 5) as usize]]).unwrap();
        if t % 3 == 0 {
            s.put("sparse", t, &[noise(t)]).unwrap();
        }
    }
}

/// A store in the open-chunk layout (sealing off: byte for byte what the
/// version before sealing wrote) opens and reads identically, before and
/// after a writer seals its chunks; fold sees the same runs.
#[test]
fn stores_in_the_open_layout_read_the_same_before_and_after_sealing() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts()).unwrap();
    s.set_sealing(false);
    write_mix(&mut s, 0, 3 * S + 123);
    s.close().unwrap();
    for base in [0, S, 2 * S, 3 * S] {
        assert!(chunk_file(d.path(), base, "idx").exists());
        assert!(!chunk_file(d.path(), base, "sea").exists());
    }
    let mut r = Reader::open(d.path()).unwrap();
    let before = dump(&mut r, 4 * S);
    let runs_before = r
        .fold(Vec::new(), |mut v, name, slot, run| {
            v.push((name.to_owned(), slot, run.len()));
            v
        })
        .unwrap();
    assert!(before.iter().any(|(_, b)| b.iter().flatten().count() > 0));

    let mut s = Store::open(d.path()).unwrap();
    assert_eq!(s.seal_passed().unwrap(), 3);
    s.close().unwrap();
    for base in [0, S, 2 * S] {
        assert!(!chunk_file(d.path(), base, "idx").exists(), "{base}");
        assert!(!chunk_file(d.path(), base, "dat").exists(), "{base}");
        assert!(chunk_file(d.path(), base, "sea").exists(), "{base}");
    }
    // The newest chunk stays open.
    assert!(chunk_file(d.path(), 3 * S, "idx").exists());
    // The reader opened before the sealing, and a new one, read the same.
    assert_eq!(dump(&mut r, 4 * S), before);
    let mut r2 = Reader::open(d.path()).unwrap();
    assert_eq!(dump(&mut r2, 4 * S), before);
    let runs_after = r2
        .fold(Vec::new(), |mut v, name, slot, run| {
            v.push((name.to_owned(), slot, run.len()));
            v
        })
        .unwrap();
    assert_eq!(runs_after, runs_before);
    // The writer reads sealed chunks too.
    let mut s = Store::open(d.path()).unwrap();
    let p = s.get::<u64>("counter", 0, 4 * S).unwrap();
    assert!(p
        .iter()
        .all(|(t, v)| v == (t < 3 * S + 123).then_some(t * 10)));
}

/// Sealing happens at sync once the writer writes a newer chunk, and the
/// sealed files are small.
#[test]
fn sync_seals_the_chunks_the_writer_moved_past() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts()).unwrap();
    write_mix(&mut s, 0, S);
    s.sync().unwrap();
    assert_eq!(s.sealed_chunks(), 0, "the newest chunk stays open");
    write_mix(&mut s, S, 10);
    s.sync().unwrap();
    assert_eq!(s.sealed_chunks(), 1);
    s.close().unwrap();
    let sea = fs::metadata(chunk_file(d.path(), 0, "sea")).unwrap().len();
    // 7 metrics x 1000 slots stored as 8 bytes each would be 56,000 bytes.
    assert!(sea < 28_000, "sealed chunk is {sea} bytes");
}

/// A reader that has a chunk open while the writer seals it keeps reading
/// it; afterwards it reads the sealed file; points never go missing.
#[test]
fn a_reader_reads_through_sealing() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts()).unwrap();
    write_mix(&mut s, 0, S);
    s.sync().unwrap();
    let mut r = Reader::open(d.path()).unwrap();
    let before = dump(&mut r, S);
    write_mix(&mut s, S, 5);
    s.sync().unwrap(); // seals chunk 0 under the reader
    assert_eq!(dump(&mut r, S), before);
    drop(s);
    assert_eq!(dump(&mut r, S), before);
}

/// A write into a sealed chunk unseals it: the chunk's other points stay,
/// the new one is there, and the next sync seals it again.
#[test]
fn a_late_write_into_a_sealed_chunk_keeps_every_point() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts()).unwrap();
    write_mix(&mut s, 0, S + 10);
    s.sync().unwrap();
    assert!(chunk_file(d.path(), 0, "sea").exists());
    s.put("counter", 5, &[1u64]).unwrap();
    s.put("late", 7, &[2u64]).unwrap();
    assert!(!chunk_file(d.path(), 0, "sea").exists());
    let p = s.get::<u64>("counter", 0, S).unwrap();
    assert!(p
        .iter()
        .all(|(t, v)| v == Some(if t == 5 { 1 } else { t * 10 })));
    s.sync().unwrap();
    assert!(chunk_file(d.path(), 0, "sea").exists());
    drop(s);
    let mut r = Reader::open(d.path()).unwrap();
    let p = r.get::<u64>("counter", 0, S).unwrap();
    assert!(p
        .iter()
        .all(|(t, v)| v == Some(if t == 5 { 1 } else { t * 10 })));
    assert_eq!(r.get::<u64>("late", 0, S).unwrap().count_set(), 1);
    assert_eq!(r.get::<i64>("constant", 0, S).unwrap().count_set(), S);
}

/// Every byte of a sealed file flipped, and the file cut at every length:
/// a read gives exact points or a typed error naming the sealed file,
/// never a wrong value; other chunks stay readable.
#[test]
fn a_damaged_sealed_chunk_is_an_error_naming_it_never_a_wrong_value() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("orig");
    let mut s = Store::create(
        &orig,
        Options {
            chunk_size: 100,
            ..Options::default()
        },
    )
    .unwrap();
    for t in 0..250u64 {
        s.put("a", t, &[t * 3]).unwrap();
        s.put("f", t, &[t as f64 / 7.0]).unwrap();
    }
    s.close().unwrap();
    let sea = chunk_file(&orig, 0, "sea");
    let good = fs::read(&sea).unwrap();
    let shown = chunk_file(&d.path().join("work"), 0, "sea")
        .display()
        .to_string();
    let check = |bytes: &[u8], what: &str| {
        let work = d.path().join("work");
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).unwrap();
        for e in fs::read_dir(&orig).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                let rel = e.path().strip_prefix(&orig).unwrap().to_path_buf();
                fs::copy(e.path(), work.join(rel)).unwrap();
            }
        }
        fs::write(chunk_file(&work, 0, "sea"), bytes).unwrap();
        let mut r = Reader::open(&work).unwrap();
        match r.get::<u64>("a", 0, 250) {
            Ok(p) => {
                for (t, v) in p.iter() {
                    assert!(
                        v.is_none() || v == Some(t * 3),
                        "{what}: slot {t} reads {v:?}"
                    );
                }
            }
            Err(e @ (Error::Damaged { .. } | Error::Corrupt { .. })) => {
                assert!(e.to_string().contains(&shown), "{what}: {e}")
            }
            Err(e) => panic!("{what}: {e}"),
        }
        // Chunk 100 is untouched.
        let p = r.get::<f64>("f", 100, 200).unwrap();
        assert!(p.iter().all(|(t, v)| v == Some(t as f64 / 7.0)), "{what}");
    };
    for at in 0..good.len() {
        let mut b = good.clone();
        b[at] ^= 0x10;
        check(&b, &format!("byte {at} flipped"));
    }
    for cut in 0..good.len() {
        check(&good[..cut], &format!("cut at {cut}"));
    }
}

/// Bytes of the chunk files and the metric list.
fn store_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n == "metrics.list"
                || [".idx", ".dat", ".bit", ".sea"]
                    .iter()
                    .any(|x| n.ends_with(x))
        })
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Retention by age and by size on a long simulated run: the store's size
/// stays flat, only whole chunks of the oldest go, and every kept point
/// reads back exactly.
#[test]
fn retention_keeps_the_size_flat_on_a_long_run() {
    for (keep, max_bytes) in [(Some(2000u64), None), (None, Some(40_000u64))] {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::create(
            d.path(),
            Options {
                chunk_size: 200,
                ..Options::default()
            },
        )
        .unwrap();
        let mut sizes = Vec::new();
        let mut deleted = Vec::new();
        for t in 0..40_000u64 {
            s.put("counter", t, &[t * 10]).unwrap();
            s.put("gauge", t, &[(noise(t) % 1000) as i64]).unwrap();
            s.put("avg", t, &[0.5 + (noise(t) % 100) as f64 / 1e4])
                .unwrap();
            if t % 50 == 49 {
                s.sync().unwrap();
                deleted.extend(
                    s.retain(keep.map(|k| (t + 1).saturating_sub(k)), max_bytes)
                        .unwrap(),
                );
                sizes.push(store_bytes(d.path()));
            }
        }
        s.close().unwrap();
        // Flat: the second half of the run is no bigger than the first,
        // give or take how well its values compress (without retention it
        // would be twice as big).
        let half = sizes.len() / 2;
        let first = *sizes[..half].iter().max().unwrap();
        let second = *sizes[half..].iter().max().unwrap();
        assert!(
            second * 10 <= first * 11,
            "{keep:?} {max_bytes:?}: grew from {first} to {second}"
        );
        if let Some(m) = max_bytes {
            // Over by at most the newest chunk (open, 3 x 200 x 8 bytes
            // and its presence records).
            assert!(second <= m + 8_000, "{second} bytes, limit {m}");
        }
        // Oldest first, whole chunks, each once.
        assert!(deleted.windows(2).all(|w| w[0].base + 200 == w[1].base));
        assert_eq!(deleted[0].base, 0);
        assert!(deleted
            .iter()
            .all(|x| x.last == x.base + 199 && x.bytes > 0));
        let mut r = Reader::open(d.path()).unwrap();
        let gone = deleted.last().unwrap().last + 1;
        let p = r.get::<u64>("counter", 0, 40_000).unwrap();
        for (t, v) in p.iter() {
            assert_eq!(v, (t >= gone).then_some(t * 10), "{keep:?} slot {t}");
        }
        if let Some(k) = keep {
            assert!(
                gone >= 40_000 - k - 200 && gone <= 40_000 - k,
                "kept from {gone}"
            );
        }
    }
}

/// A reader over a chunk that retention deletes: a reader that has it
/// open keeps reading the same points; one that opens it afterwards reads
/// unset; no reader reads a wrong value. Also while chunks are deleted
/// and made again under it.
#[test]
fn a_reader_over_a_deleted_chunk_reads_its_points_or_unset_never_garbage() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(
        d.path(),
        Options {
            chunk_size: 100,
            ..Options::default()
        },
    )
    .unwrap();
    for t in 0..350u64 {
        s.put("a", t, &[t + 1]).unwrap();
    }
    s.sync().unwrap();
    let mut held = Reader::open(d.path()).unwrap();
    let before = held.get::<u64>("a", 0, 350).unwrap();
    assert_eq!(before.count_set(), 350);
    let del = s.retain(Some(200), None).unwrap();
    assert_eq!(del.iter().map(|x| x.base).collect::<Vec<_>>(), [0, 100]);
    // The reader that had the chunks open reads them on.
    assert_eq!(held.get::<u64>("a", 0, 350).unwrap(), before);
    // A new reader: unset where deleted.
    let mut fresh = Reader::open(d.path()).unwrap();
    let p = fresh.get::<u64>("a", 0, 350).unwrap();
    assert!(p.iter().all(|(t, v)| v == (t >= 200).then_some(t + 1)));
    // The chunk made again with other values: both readers read the new
    // ones (or unset before they are synced), never the old.
    for t in 0..100u64 {
        s.put("a", t, &[t + 1000]).unwrap();
    }
    s.sync().unwrap();
    for r in [&mut held, &mut fresh] {
        let p = r.get::<u64>("a", 0, 100).unwrap();
        assert!(p.iter().all(|(t, v)| v == Some(t + 1000)), "{:?}", p.at(0));
    }
}
