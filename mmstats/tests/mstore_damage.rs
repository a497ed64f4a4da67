//! Torn appends and damaged files: truncate or garble the metric list and a
//! chunk index at every byte position; the store must open, drop only what
//! is torn, never read a wrong value, never shift another metric's row, and
//! name the file when it reports damage.

use std::fs;
use std::path::{Path, PathBuf};

use mmstats::mstore::{Error, Options, Reader, Store, ValueType};

const S: u64 = 16;

/// Three metrics of three types in chunks 0 and 1 (rows a, b, c in chunk 0).
fn build(dir: &Path) {
    let mut s = Store::create(
        dir,
        Options {
            chunk_size: S,
            ..Options::default()
        },
    )
    .unwrap();
    // These tests damage the files of open chunks; sealed chunks have
    // their own (mstore_sealed.rs).
    s.set_sealing(false);
    s.put("alpha", 0, &(0..20u64).collect::<Vec<_>>()).unwrap();
    s.put(
        "beta-metric",
        2,
        &(0..20i64).map(|x| -x).collect::<Vec<_>>(),
    )
    .unwrap();
    s.put("c", 5, &(0..20).map(|x| x as f64 / 4.0).collect::<Vec<_>>())
        .unwrap();
    s.close().unwrap();
}

fn expect(name: &str, slot: u64) -> Option<u64> {
    match name {
        "alpha" => (slot < 20).then_some(slot),
        "beta-metric" => (2..22)
            .contains(&slot)
            .then(|| (-((slot - 2) as i64)) as u64),
        "c" => (5..25)
            .contains(&slot)
            .then(|| ((slot - 5) as f64 / 4.0).to_bits()),
        "new" => (slot < 4).then_some(1000 + slot),
        _ => None,
    }
}

fn ty(name: &str) -> ValueType {
    match name {
        "beta-metric" => ValueType::I64,
        "c" => ValueType::F64,
        _ => ValueType::U64,
    }
}

/// Reads `name` over `from..to` as raw bits.
fn read(r: &mut Reader, name: &str, from: u64, to: u64) -> Result<Vec<Option<u64>>, Error> {
    Ok(match ty(name) {
        ValueType::U64 => r.get::<u64>(name, from, to)?.iter().map(|x| x.1).collect(),
        ValueType::I64 => r
            .get::<i64>(name, from, to)?
            .iter()
            .map(|x| x.1.map(|v| v as u64))
            .collect(),
        ValueType::F64 => r
            .get::<f64>(name, from, to)?
            .iter()
            .map(|x| x.1.map(f64::to_bits))
            .collect(),
    })
}

/// Every point of `name` in `from..to` is exact or unset; returns how many
/// were set.
fn exact_or_unset(r: &mut Reader, name: &str, from: u64, to: u64) -> Result<usize, Error> {
    let pts = read(r, name, from, to)?;
    let mut n = 0;
    for (i, p) in pts.into_iter().enumerate() {
        if let Some(v) = p {
            assert_eq!(
                Some(v),
                expect(name, from + i as u64),
                "{name} at {}",
                from + i as u64
            );
            n += 1;
        }
    }
    Ok(n)
}

fn fresh_copy(src: &Path, dst: &Path) {
    let _ = fs::remove_dir_all(dst);
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

fn idx0(dir: &Path) -> PathBuf {
    dir.join(format!("{:020}.idx", 0))
}

/// After damage, a writer opens, adds a metric to chunk 0 and every read is
/// still exact or unset; the new metric reads back exactly.
fn writer_recovers(dir: &Path) {
    let mut s = Store::open(dir).unwrap();
    match s.put("new", 0, &(1000..1004u64).collect::<Vec<_>>()) {
        Ok(()) => {}
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, idx0(dir)),
        Err(e) => panic!("{e}"),
    }
    // Before any sync (as after a crash right here), the new metric's row
    // must not pick up presence bits a dropped record's metric left.
    let mut r = Reader::open(dir).unwrap();
    match exact_or_unset(&mut r, "new", 0, S) {
        Ok(_) | Err(Error::UnknownMetric { .. }) => {}
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, idx0(dir)),
        Err(e) => panic!("{e}"),
    }
    s.close().unwrap();
    let mut r = Reader::open(dir).unwrap();
    for name in ["alpha", "beta-metric", "c", "new"] {
        match exact_or_unset(&mut r, name, 0, S) {
            Ok(_) | Err(Error::UnknownMetric { .. }) => {}
            Err(Error::Corrupt { path, .. }) => assert_eq!(path, idx0(dir)),
            Err(e) => panic!("{name}: {e}"),
        }
        // Chunk 1 is untouched by damage to chunk 0.
        assert!(exact_or_unset(&mut r, name, S, 2 * S).is_ok() || name == "new");
    }
    if let Ok(n) = exact_or_unset(&mut r, "new", 0, S) {
        assert_eq!(n, 4, "the new metric's own points");
    }
}

#[test]
fn metric_list_truncated_at_every_byte() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("orig");
    build(&orig);
    let list = fs::read(orig.join("metrics.list")).unwrap();
    let work = d.path().join("work");
    for cut in 0..list.len() {
        fresh_copy(&orig, &work);
        fs::write(work.join("metrics.list"), &list[..cut]).unwrap();
        let mut r = Reader::open(&work).unwrap();
        match r.metrics() {
            Ok(m) => {
                // A prefix of the list, in order.
                let names: Vec<_> = m.iter().map(|x| x.name.as_str()).collect();
                assert_eq!(
                    names,
                    ["alpha", "beta-metric", "c"][..names.len()],
                    "cut {cut}"
                );
            }
            Err(Error::Corrupt { path, .. }) => {
                assert!(cut < 8, "cut {cut}");
                assert_eq!(path, work.join("metrics.list"));
            }
            Err(e) => panic!("{e}"),
        }
        // Chunk indexes carry the types: every metric reads back whole.
        for name in ["alpha", "beta-metric", "c"] {
            assert_eq!(
                exact_or_unset(&mut r, name, 0, 2 * S).unwrap(),
                20,
                "cut {cut} {name}"
            );
        }
        // The writer rebuilds the list through a new file and a rename.
        let mut s = Store::open(&work).unwrap();
        let names: Vec<_> = s.metrics().unwrap().into_iter().map(|m| m.name).collect();
        assert_eq!(names.len(), 3, "cut {cut}: {names:?}");
        assert!(matches!(
            s.put("c", 0, &[1u64]),
            Err(Error::WrongType { .. })
        ));
        drop(s);
        assert!(!work.join("metrics.list.tmp").exists());
        writer_recovers(&work);
    }
}

#[test]
fn metric_list_garbled_at_every_byte() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("orig");
    build(&orig);
    let list = fs::read(orig.join("metrics.list")).unwrap();
    let work = d.path().join("work");
    for at in 0..list.len() {
        fresh_copy(&orig, &work);
        let mut g = list.clone();
        g[at] ^= 0x5a;
        fs::write(work.join("metrics.list"), &g).unwrap();
        let mut r = Reader::open(&work).unwrap();
        match r.metrics() {
            Ok(m) => {
                for x in &m {
                    assert_eq!(x.value_type, ty(&x.name), "byte {at}: {x:?}");
                    assert!(["alpha", "beta-metric", "c"].contains(&x.name.as_str()));
                }
                assert!(m.len() >= 2, "byte {at}");
            }
            Err(Error::Corrupt { path, .. }) => assert_eq!(path, work.join("metrics.list")),
            Err(e) => panic!("{e}"),
        }
        for name in ["alpha", "beta-metric", "c"] {
            assert_eq!(
                exact_or_unset(&mut r, name, 0, 2 * S).unwrap(),
                20,
                "byte {at} {name}"
            );
        }
        let mut s = Store::open(&work).unwrap();
        assert_eq!(s.metrics().unwrap().len(), 3, "byte {at}");
        drop(s);
        writer_recovers(&work);
    }
}

#[test]
fn chunk_index_truncated_at_every_byte() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("orig");
    build(&orig);
    let idx = fs::read(idx0(&orig)).unwrap();
    let work = d.path().join("work");
    for cut in 0..idx.len() {
        fresh_copy(&orig, &work);
        fs::write(idx0(&work), &idx[..cut]).unwrap();
        let mut r = Reader::open(&work).unwrap();
        let mut complete = 0;
        for name in ["alpha", "beta-metric", "c"] {
            match exact_or_unset(&mut r, name, 0, S) {
                Ok(n) => {
                    assert!(cut >= 32);
                    if n > 0 {
                        complete += 1;
                    }
                }
                Err(Error::Corrupt { path, .. }) => {
                    assert!(cut < 32, "cut {cut}");
                    assert_eq!(path, idx0(&work));
                }
                Err(e) => panic!("{e}"),
            }
            // The other chunk is intact.
            let n = exact_or_unset(&mut r, name, S, 2 * S).unwrap();
            assert_eq!(n, expect_count(name, S, 2 * S));
        }
        // Only whole records count, and they are the first ones.
        let recs = [32 + 13, 32 + 13 + 19, 32 + 13 + 19 + 9];
        assert_eq!(
            complete,
            recs.iter().filter(|e| **e <= cut).count(),
            "cut {cut}"
        );
        writer_recovers(&work);
    }
}

fn expect_count(name: &str, from: u64, to: u64) -> usize {
    (from..to).filter(|t| expect(name, *t).is_some()).count()
}

#[test]
fn chunk_index_garbled_at_every_byte() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("orig");
    build(&orig);
    let idx = fs::read(idx0(&orig)).unwrap();
    let work = d.path().join("work");
    for at in 0..idx.len() {
        fresh_copy(&orig, &work);
        let mut g = idx.clone();
        g[at] ^= 0xa5;
        fs::write(idx0(&work), &g).unwrap();
        let mut r = Reader::open(&work).unwrap();
        let mut errors = 0;
        for name in ["alpha", "beta-metric", "c"] {
            match exact_or_unset(&mut r, name, 0, S) {
                Ok(_) => {}
                Err(Error::Corrupt { path, .. }) => {
                    assert_eq!(path, idx0(&work));
                    errors += 1;
                }
                Err(e) => panic!("byte {at}: {e}"),
            }
            assert_eq!(
                exact_or_unset(&mut r, name, S, 2 * S).unwrap(),
                expect_count(name, S, 2 * S)
            );
        }
        // Damage before the last record is reported, not dropped silently.
        if at < 32 + 13 + 19 {
            assert_eq!(errors, 3, "byte {at}");
        }
        writer_recovers(&work);
    }
}

#[test]
fn truncated_data_file_is_reported_and_other_chunks_stay_readable() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let dat = d.path().join(format!("{:020}.dat", 0));
    let len = fs::metadata(&dat).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&dat)
        .unwrap()
        .set_len(len - 8)
        .unwrap();
    let mut r = Reader::open(d.path()).unwrap();
    match r.get::<f64>("c", 0, S) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, dat),
        other => panic!("{other:?}"),
    }
    assert_eq!(exact_or_unset(&mut r, "alpha", 0, S).unwrap(), 16);
    assert_eq!(exact_or_unset(&mut r, "c", S, 2 * S).unwrap(), 9);
}

#[test]
fn leftovers_of_an_interrupted_rewrite_are_ignored_and_removed() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    fs::write(d.path().join("metrics.list.tmp"), b"garbage").unwrap();
    // A chunk whose index never made it: data without index.
    let stray = d.path().join(format!("{:020}.dat", 160));
    fs::write(&stray, [0xffu8; 64]).unwrap();
    fs::write(stray.with_extension("bit"), [0xffu8; 8]).unwrap();
    let mut r = Reader::open(d.path()).unwrap();
    assert_eq!(r.metrics().unwrap().len(), 3);
    assert_eq!(exact_or_unset(&mut r, "alpha", 150, 180).unwrap(), 0);
    let mut s = Store::open(d.path()).unwrap();
    assert!(!d.path().join("metrics.list.tmp").exists());
    assert!(!stray.exists());
    // Reusing the slot range starts from empty files, not stale bits.
    s.put("alpha", 161, &[7u64]).unwrap();
    let p = s.get::<u64>("alpha", 160, 176).unwrap();
    assert_eq!(p.count_set(), 1);
    assert_eq!(p.at(161), Some(7));
}

#[test]
fn metric_without_points_in_a_chunk_reads_unset() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(
        d.path(),
        Options {
            chunk_size: S,
            ..Options::default()
        },
    )
    .unwrap();
    s.put("a", 0, &[1u64; 4]).unwrap();
    s.put("b", 20, &[2u64; 4]).unwrap();
    s.close().unwrap();
    let mut r = Reader::open(d.path()).unwrap();
    assert_eq!(r.get::<u64>("b", 0, 40).unwrap().count_set(), 4);
    assert_eq!(r.get::<u64>("b", 0, 16).unwrap().count_set(), 0);
    assert_eq!(r.get::<u64>("a", 16, 32).unwrap().count_set(), 0);
}

#[test]
fn chunk_index_of_another_chunk_size_names_both_values() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    build(&a);
    let mut s = Store::create(
        &b,
        Options {
            chunk_size: 32,
            ..Options::default()
        },
    )
    .unwrap();
    s.put("alpha", 0, &[1u64]).unwrap();
    s.close().unwrap();
    fs::copy(idx0(&b), idx0(&a)).unwrap();
    let mut r = Reader::open(&a).unwrap();
    match r.get::<u64>("alpha", 0, S) {
        Err(Error::ChunkSizeMismatch {
            path,
            expected,
            found,
        }) => {
            assert_eq!((path, expected, found), (idx0(&a), S, 32));
        }
        other => panic!("{other:?}"),
    }
    // The other chunk is unaffected.
    assert_eq!(exact_or_unset(&mut r, "alpha", S, 2 * S).unwrap(), 4);
    let mut s = Store::open(&a).unwrap();
    assert!(matches!(
        s.put("alpha", 1, &[5u64]),
        Err(Error::ChunkSizeMismatch {
            expected: 16,
            found: 32,
            ..
        })
    ));
}
