//! Damage the store did not make: a flipped bit in a data file, garbage in
//! a presence file, a damaged metric list, a FIFO or a directory where a
//! file should be. Each gives a typed error naming the file (and, for
//! points, the slots), never a wrong value and never a hang; what the
//! damage does not reach stays readable.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use mmstats::mstore::{Error, Options, Reader, Store, ValueType};

const S: u64 = 1000;

fn opts() -> Options {
    Options {
        chunk_size: S,
        ..Options::default()
    }
}

fn val(m: u64, t: u64) -> u64 {
    // Values far from zero in every bit position, so that a flipped bit or
    // a hole is never mistaken for a real value.
    (m << 56 | t).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// Metrics "a" (u64), "b" (i64), "c" (f64) with points 0..2 * S, synced.
fn build(dir: &Path) {
    let mut s = Store::create(dir, opts()).unwrap();
    s.set_sealing(false); // these tests are about open chunks
    let a: Vec<u64> = (0..2 * S).map(|t| val(0, t)).collect();
    let b: Vec<i64> = (0..2 * S).map(|t| val(1, t) as i64).collect();
    let c: Vec<f64> = (0..2 * S).map(|t| f64::from_bits(val(2, t))).collect();
    s.put("a", 0, &a).unwrap();
    s.put("b", 0, &b).unwrap();
    s.put("c", 0, &c).unwrap();
    s.close().unwrap();
}

fn chunk_file(dir: &Path, base: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// Copies the files of the store in `src` (not its subdirectories) into a
/// new directory `dst`.
fn copy_files(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

fn flip_bit(path: &Path, byte: usize, bit: u8) {
    let mut b = fs::read(path).unwrap();
    b[byte] ^= 1 << bit;
    fs::write(path, b).unwrap();
}

/// `a` over `from..to`, checked: every set point is exact.
fn read_a(r: &mut Reader, from: u64, to: u64) -> Result<u64, Error> {
    let p = r.get::<u64>("a", from, to)?;
    for (slot, v) in p.iter() {
        if let Some(v) = v {
            assert_eq!(v, val(0, slot), "slot {slot}: a wrong value was read");
        }
    }
    Ok(p.count_set())
}

/// The numbers in an error message, for checking the slots it names.
fn numbers(msg: &str) -> Vec<u64> {
    msg.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[test]
fn a_flipped_bit_in_a_data_file_is_an_error_naming_the_file_and_slots() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let dat = chunk_file(d.path(), 0, "dat");
    // Every bit of one point of `a` (row 0, slot 123), one at a time.
    for bit in 0..64u8 {
        let byte = 123 * 8 + bit as usize / 8;
        flip_bit(&dat, byte, bit % 8);
        let mut r = Reader::open(d.path()).unwrap();
        match r.get::<u64>("a", 0, S) {
            Ok(p) => panic!(
                "bit {bit}: read {:?} for slot 123 (written {}) without an error",
                p.at(123),
                val(0, 123)
            ),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&dat.display().to_string()), "{msg}");
                let ns = numbers(&msg);
                assert!(
                    ns.windows(2).any(|w| w[0] <= 123 && 123 <= w[1]),
                    "the slots around 123 are named: {msg}"
                );
            }
        }
        // The rest of the chunk outside the damaged block, the other
        // metrics of the chunk and the other chunk read normally.
        assert_eq!(read_a(&mut r, 800, 2 * S).unwrap(), 2 * S - 800);
        assert_eq!(r.get::<i64>("b", 0, S).unwrap().count_set(), S);
        flip_bit(&dat, byte, bit % 8);
        assert_eq!(
            read_a(&mut Reader::open(d.path()).unwrap(), 0, 2 * S).unwrap(),
            2 * S
        );
    }
    // The writer does not take the damage for its own: it reports it too,
    // and does not make it valid by writing next to it or over it.
    flip_bit(&dat, 5 * 8, 0);
    let named = |r: Result<(), Error>| match r {
        Ok(()) => {}
        Err(e) => assert!(e.to_string().contains(&dat.display().to_string()), "{e}"),
    };
    let mut s = Store::open(d.path()).unwrap();
    s.set_sealing(false); // these tests are about open chunks
    assert!(s.get::<u64>("a", 0, 10).is_err());
    named(s.put("a", 10, &[val(0, 10)]));
    named(s.sync());
    named(s.put("a", 6, &[val(0, 6)]));
    named(s.close());
    assert!(Reader::open(d.path())
        .unwrap()
        .get::<u64>("a", 0, 10)
        .is_err());
}

/// A reader that keeps a chunk open checks a block's values once under
/// each record: a block that a writer changes afterwards is checked again,
/// so damage that comes with or after the change is found by the same
/// reader.
#[test]
fn a_block_changed_after_a_reader_checked_it_is_checked_again() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let dat = chunk_file(d.path(), 0, "dat");
    let mut r = Reader::open(d.path()).unwrap();
    assert_eq!(read_a(&mut r, 0, S).unwrap(), S);
    // Read again, under the same records: still exact.
    assert_eq!(read_a(&mut r, 0, S).unwrap(), S);
    // A writer changes slot 120 (in the block of slot 123), then slot
    // 123's stored bytes are damaged.
    let mut s = Store::open(d.path()).unwrap();
    s.set_sealing(false); // these tests are about open chunks
    s.put("a", 120, &[val(9, 120)]).unwrap();
    s.close().unwrap();
    flip_bit(&dat, 123 * 8 + 3, 5);
    match r.get::<u64>("a", 0, S) {
        Ok(p) => panic!(
            "read {:?} for slot 123 (written {}) without an error",
            p.at(123),
            val(0, 123)
        ),
        Err(e) => assert!(e.to_string().contains(&dat.display().to_string()), "{e}"),
    }
    // Other blocks of the row, checked before, read as before.
    assert_eq!(read_a(&mut r, 800, S).unwrap(), S - 800);
}

/// Damage to the presence records of blocks a reader has checked and
/// remembers is found by that same reader: it trusts a block only under
/// the very record it checked it with.
#[test]
fn damaged_records_of_blocks_a_reader_checked_are_found_by_that_reader() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let bit = chunk_file(d.path(), 0, "bit");
    let len = fs::metadata(&bit).unwrap().len() as usize;
    let good = fs::read(&bit).unwrap();
    // One presence bit of the first block of `a` (slot 19) cleared, which
    // would make a point vanish; then the whole file overwritten.
    let mut one_bit = good.clone();
    one_bit[2] ^= 1 << 3;
    let damage = [one_bit, vec![0xff; len], vec![0x55; len], vec![0x01; len]];
    for (i, bytes) in damage.iter().enumerate() {
        let mut r = Reader::open(d.path()).unwrap();
        assert_eq!(read_a(&mut r, 0, S).unwrap(), S);
        fs::write(&bit, bytes).unwrap();
        match r.get::<u64>("a", 0, S) {
            Ok(p) => panic!("damage {i}: {} points read without an error", p.count_set()),
            Err(e) => assert!(e.to_string().contains(&bit.display().to_string()), "{e}"),
        }
        fs::write(&bit, &good).unwrap();
    }
}

#[test]
fn garbage_in_a_presence_file_is_an_error_naming_it_not_extra_points() {
    let d = tempfile::tempdir().unwrap();
    let mut s = Store::create(d.path(), opts()).unwrap();
    s.set_sealing(false); // these tests are about open chunks
                          // Half of each chunk set, so that garbage could invent points.
    s.put("a", 0, &(0..S / 2).map(|t| val(0, t)).collect::<Vec<_>>())
        .unwrap();
    s.put(
        "a",
        S,
        &(S..S + S / 2).map(|t| val(0, t)).collect::<Vec<_>>(),
    )
    .unwrap();
    // A second row makes the first row's unwritten half a hole of zeros.
    s.put("z", 0, &vec![7u64; S as usize]).unwrap();
    s.close().unwrap();
    let bit = chunk_file(d.path(), 0, "bit");
    let len = fs::metadata(&bit).unwrap().len() as usize;
    for fill in [0xffu8, 0x55, 0x01] {
        fs::write(&bit, vec![fill; len]).unwrap();
        let mut r = Reader::open(d.path()).unwrap();
        match r.get::<u64>("a", 0, S) {
            Ok(p) => panic!(
                "fill {fill:#x}: {} points read where {} were written",
                p.count_set(),
                S / 2
            ),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&bit.display().to_string()), "{msg}");
            }
        }
        assert_eq!(read_a(&mut r, S, 2 * S).unwrap(), S / 2);
    }
}

#[test]
fn a_damaged_metric_list_names_itself_and_leaves_the_metrics_readable() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("orig");
    build(&orig);
    let list = fs::read(orig.join("metrics.list")).unwrap();
    // Byte 0 (the magic), the first record's tag, name and checksum, and
    // the last record's name (which looks like a torn append).
    for at in [0, 8, 12, 14, list.len() - 6] {
        let work = d.path().join(format!("w{at}"));
        copy_files(&orig, &work);
        let mut g = list.clone();
        g[at] ^= 0x5a;
        fs::write(work.join("metrics.list"), &g).unwrap();
        let mut r = Reader::open(&work).unwrap();
        for (name, ty) in [
            ("a", ValueType::U64),
            ("b", ValueType::I64),
            ("c", ValueType::F64),
        ] {
            assert_eq!(
                r.value_type(name).unwrap(),
                Some(ty),
                "byte {at}: {name} is still known by its chunks"
            );
        }
        assert_eq!(read_a(&mut r, 0, 2 * S).unwrap(), 2 * S, "byte {at}");
        match r.metrics() {
            Ok(m) => assert_eq!(m.len(), 3, "byte {at}: {m:?}"),
            Err(e) => assert!(
                e.to_string()
                    .contains(&work.join("metrics.list").display().to_string()),
                "{e}"
            ),
        }
    }
}

/// Runs `f` on another thread; fails the test if it takes over 10 s.
fn within_10s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what}: still blocked after 10 s"))
}

fn mkfifo(path: &Path) {
    let _ = fs::remove_file(path);
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_fifo_or_directory_in_place_of_a_store_file_is_refused_without_blocking() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("orig");
    build(&orig);
    let targets = [
        PathBuf::from("mstore.meta"),
        PathBuf::from("metrics.list"),
        PathBuf::from(format!("{:020}.idx", 0)),
        PathBuf::from(format!("{:020}.dat", 0)),
        PathBuf::from(format!("{:020}.bit", 0)),
    ];
    for (i, target) in targets.iter().enumerate() {
        for kind in ["fifo", "dir"] {
            let work = d.path().join(format!("w{i}{kind}"));
            copy_files(&orig, &work);
            let p = work.join(target);
            if kind == "fifo" {
                mkfifo(&p);
            } else {
                fs::remove_file(&p).unwrap();
                fs::create_dir(&p).unwrap();
            }
            let shown = p.display().to_string();
            let w = work.clone();
            let read = within_10s(&format!("reader, {kind} at {shown}"), move || {
                let mut r = Reader::open(&w)?;
                let _ = r.metrics();
                r.get::<u64>("a", 0, 2 * S).map(|p| p.count_set())
            });
            match read {
                Ok(n) => panic!("{kind} at {shown}: read {n} points"),
                Err(e) => assert!(e.to_string().contains(&shown), "{kind}: {e}"),
            }
            let w = work.clone();
            let write = within_10s(&format!("writer, {kind} at {shown}"), move || {
                let mut s = Store::open(&w)?;
                s.set_sealing(false); // these tests are about open chunks
                s.put("a", 5, &[1u64])?;
                s.get::<u64>("a", 0, 2 * S)?;
                s.sync()
            });
            // The metric list is the writer's to rebuild: a directory in
            // its place fails the rename, a FIFO is replaced.
            match write {
                Ok(()) => assert_eq!(target, &PathBuf::from("metrics.list"), "{kind}"),
                Err(e) => assert!(e.to_string().contains(&shown), "{kind}: {e}"),
            }
            // Other chunks are not touched by it.
            if target
                .extension()
                .is_some_and(|x| x != "meta" && x != "list")
            {
                let mut r = Reader::open(&work).unwrap();
                assert_eq!(read_a(&mut r, S, 2 * S).unwrap(), S);
            }
        }
    }
}

/// A chunk index record, as the store writes it: tag, type, length, name,
/// CRC-32.
fn name_record(name: &str, ty: u8) -> Vec<u8> {
    let mut v = vec![b'R', ty];
    v.extend_from_slice(&(name.len() as u16).to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    let c = crc32fast::hash(&v);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

fn with_crc(mut v: Vec<u8>) -> Vec<u8> {
    let c = crc32fast::hash(&v);
    v.extend_from_slice(&c.to_le_bytes());
    v
}

/// Writes, byte by byte, a store as the version without checksums laid
/// it out: `MSTINDX1` indexes, plain presence bitmaps. Chunk size 100;
/// "old_u" (u64) at slots 0..150, "old_f" (f64) at slots 50..120 and 130.
fn write_v1_store(dir: &Path) {
    const S1: u64 = 100;
    fs::create_dir_all(dir.join("chunks")).unwrap();
    let mut meta = b"MSTORE01".to_vec();
    for x in [S1, 1, 0] {
        meta.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(dir.join("mstore.meta"), with_crc(meta)).unwrap();
    let mut list = b"MSTLIST1".to_vec();
    list.extend(name_record("old_u", 1));
    list.extend(name_record("old_f", 3));
    fs::write(dir.join("metrics.list"), list).unwrap();
    let words = S1.div_ceil(64) as usize;
    for base in [0u64, S1] {
        let mut idx = b"MSTINDX1".to_vec();
        idx.extend_from_slice(&S1.to_le_bytes());
        idx.extend_from_slice(&base.to_le_bytes());
        let mut idx = with_crc(idx);
        idx.extend(name_record("old_u", 1));
        idx.extend(name_record("old_f", 3));
        let mut dat = vec![0u8; 2 * S1 as usize * 8];
        let mut bit = vec![0u8; 2 * words * 8];
        for t in base..base + S1 {
            let off = (t - base) as usize;
            let points = [
                (0usize, (t < 150).then(|| val(0, t))),
                (
                    1,
                    ((50..120).contains(&t) || t == 130).then(|| (t as f64 * 0.5).to_bits()),
                ),
            ];
            for (row, v) in points {
                if let Some(v) = v {
                    let at = (row * S1 as usize + off) * 8;
                    dat[at..at + 8].copy_from_slice(&v.to_le_bytes());
                    bit[(row * words + off / 64) * 8 + off % 64 / 8] |= 1 << (off % 8);
                }
            }
        }
        let stem = dir.join("chunks").join(format!("{base:020}"));
        fs::write(stem.with_extension("idx"), idx).unwrap();
        fs::write(stem.with_extension("dat"), dat).unwrap();
        fs::write(stem.with_extension("bit"), bit).unwrap();
    }
}

fn check_v1_points(r: &mut Reader) {
    let u = r.get::<u64>("old_u", 0, 200).unwrap();
    for t in 0..200 {
        assert_eq!(u.at(t), (t < 150).then(|| val(0, t)), "old_u {t}");
    }
    let f = r.get::<f64>("old_f", 0, 200).unwrap();
    for t in 0..200 {
        let want = ((50..120).contains(&t) || t == 130).then_some(t as f64 * 0.5);
        assert_eq!(f.at(t), want, "old_f {t}");
    }
}

#[test]
fn stores_written_before_checksums_open_read_and_grow() {
    let d = tempfile::tempdir().unwrap();
    write_v1_store(d.path());
    let mut r = Reader::open(d.path()).unwrap();
    assert_eq!(
        r.metrics()
            .unwrap()
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["old_u", "old_f"]
    );
    check_v1_points(&mut r);
    let runs = r
        .fold(0usize, |n, name, _, run| {
            assert!(name.starts_with("old_"));
            n + run.len()
        })
        .unwrap();
    assert_eq!(runs, 150 + 71);
    // The writer goes on in the old chunks (in their layout) and makes new
    // chunks in the new one.
    let mut s = Store::open(d.path()).unwrap();
    s.set_sealing(false); // these tests are about open chunks
    s.put(
        "old_u",
        150,
        &(150..250).map(|t| val(0, t)).collect::<Vec<_>>(),
    )
    .unwrap();
    s.put("new", 10, &[1i64, 2, 3]).unwrap();
    s.put("new", 210, &[4i64]).unwrap();
    s.close().unwrap();
    // A store of the first header version keeps its chunks in `chunks/`.
    let idx = |base: u64| fs::read(chunk_file(&d.path().join("chunks"), base, "idx")).unwrap();
    assert_eq!(&idx(0)[..8], b"MSTINDX1");
    assert!(!chunk_file(d.path(), 200, "idx").exists());
    assert_eq!(
        &fs::read(d.path().join("mstore.meta")).unwrap()[..8],
        b"MSTORE01"
    );
    assert_eq!(&idx(200)[..8], b"MSTINDX2");
    let mut r = Reader::open(d.path()).unwrap();
    let u = r.get::<u64>("old_u", 0, 250).unwrap();
    assert_eq!(u.count_set(), 250);
    assert!(u.iter().all(|(t, v)| v == Some(val(0, t))));
    let n = r.get::<i64>("new", 0, 300).unwrap();
    assert_eq!(
        n.iter()
            .filter_map(|(t, v)| v.map(|v| (t, v)))
            .collect::<Vec<_>>(),
        [(10, 1), (11, 2), (12, 3), (210, 4)]
    );
    let f = r.get::<f64>("old_f", 0, 200).unwrap();
    assert_eq!(f.count_set(), 71);
}

/// Every file name of the store in `dir` and its subdirectories, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.extend(tree(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            out.push(name);
        }
    }
    out.sort();
    out
}

/// Set points as (slot, value bits).
type SetPoints = Vec<(u64, u64)>;

/// The set points of the series "u" (`u64`) and "f" (`f64`, as bits) of
/// a store, as a reader gives them, and the series it lists.
fn all_points(dir: &Path) -> (Vec<String>, SetPoints, SetPoints) {
    let mut r = Reader::open(dir).unwrap();
    let names = r.metrics().unwrap().into_iter().map(|m| m.name).collect();
    let u = r.get::<u64>("u", 0, 10 * S).unwrap();
    let f = r.get::<f64>("f", 0, 10 * S).unwrap();
    (
        names,
        u.iter().filter_map(|(t, v)| v.map(|v| (t, v))).collect(),
        f.iter()
            .filter_map(|(t, v)| v.map(|v| (t, v.to_bits())))
            .collect(),
    )
}

/// A store made before chunk files moved into the store's directory
/// (header `MSTORE01`, chunk files in `chunks/`), here made from a store
/// of this version by moving its files back: it reads the same, and the
/// writer goes on in `chunks/` (new chunks, sealing, deletion), never
/// beside them.
#[test]
fn a_store_with_a_chunks_directory_reads_and_writes_the_same() {
    let d = tempfile::tempdir().unwrap();
    let flat = d.path().join("flat");
    let nested = d.path().join("nested");
    let mut s = Store::create(&flat, opts()).unwrap();
    for t in 0..3 * S {
        s.put("u", t, &[val(0, t)]).unwrap();
        if t % 3 == 0 {
            s.put("f", t, &[t as f64 * 0.25]).unwrap();
        }
    }
    s.close().unwrap();
    // Chunks 0 and 1 sealed, chunk 2 open.
    assert!(chunk_file(&flat, 0, "sea").exists());
    assert!(chunk_file(&flat, 2 * S, "idx").exists());
    assert!(!flat.join("chunks").exists());
    assert_eq!(
        &fs::read(flat.join("mstore.meta")).unwrap()[..8],
        b"MSTORE02"
    );
    copy_files(&flat, &nested);
    fs::create_dir(nested.join("chunks")).unwrap();
    for name in tree(&nested) {
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            fs::rename(nested.join(&name), nested.join("chunks").join(&name)).unwrap();
        }
    }
    let mut meta = fs::read(nested.join("mstore.meta")).unwrap();
    meta[..8].copy_from_slice(b"MSTORE01");
    let meta = with_crc(meta[..32].to_vec());
    fs::write(nested.join("mstore.meta"), meta).unwrap();
    let before = all_points(&flat);
    assert_eq!(all_points(&nested), before);

    // The same writes into both stores: a new chunk (which seals chunk 2),
    // then the deletion of chunk 0.
    for dir in [&flat, &nested] {
        let mut s = Store::open(dir).unwrap();
        s.put("u", 3 * S + 1, &[7u64]).unwrap();
        s.sync().unwrap();
        s.delete_before(S).unwrap();
        s.close().unwrap();
    }
    assert_eq!(all_points(&nested), all_points(&flat));
    let after = all_points(&flat);
    assert_ne!(after, before);
    let strip = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .map(|n| n.trim_start_matches("chunks/").to_owned())
            .collect()
    };
    let flat_files = tree(&flat);
    let nested_files = tree(&nested);
    assert!(
        nested_files.iter().all(|n| n.starts_with("chunks/")
            || ["lock", "metrics.list", "mstore.meta"].contains(&n.as_str())),
        "{nested_files:?}"
    );
    assert_eq!(strip(nested_files), flat_files);
    assert!(chunk_file(&flat, 2 * S, "sea").exists());
    assert!(!chunk_file(&flat, 0, "sea").exists());
}

mod random_damage {
    use super::*;
    use proptest::prelude::*;

    const S2: u64 = 500;

    /// "a" u64 over 0..1200, "b" i64 over 300..900, "c" f64 over 0..1500
    /// (chunks of 500: rows of two whole blocks and a short one).
    fn build(dir: &Path) {
        let mut s = Store::create(
            dir,
            Options {
                chunk_size: S2,
                ..Options::default()
            },
        )
        .unwrap();
        s.set_sealing(false); // these tests are about open chunks
        s.put("a", 0, &(0..1200).map(|t| val(0, t)).collect::<Vec<_>>())
            .unwrap();
        s.put(
            "b",
            300,
            &(300..900).map(|t| val(1, t) as i64).collect::<Vec<_>>(),
        )
        .unwrap();
        s.put(
            "c",
            0,
            &(0..1500)
                .map(|t| f64::from_bits(val(2, t)))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        s.close().unwrap();
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = ["mstore.meta", "metrics.list"]
            .iter()
            .map(|n| dir.join(n))
            .collect();
        let mut chunks: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && !out.contains(p) && !p.ends_with("lock"))
            .collect();
        chunks.sort();
        out.extend(chunks);
        out
    }

    /// Every point read is the one written; errors are allowed.
    fn check(r: &mut Reader) {
        for (m, name) in ["a", "b", "c"].iter().enumerate() {
            let read: Result<Vec<(u64, Option<u64>)>, Error> = match m {
                0 => r.get::<u64>(name, 0, 1500).map(|p| p.iter().collect()),
                1 => r
                    .get::<i64>(name, 0, 1500)
                    .map(|p| p.iter().map(|(t, v)| (t, v.map(|v| v as u64))).collect()),
                _ => r
                    .get::<f64>(name, 0, 1500)
                    .map(|p| p.iter().map(|(t, v)| (t, v.map(f64::to_bits))).collect()),
            };
            let Ok(points) = read else { continue };
            let span = [0..1201, 300..900, 0..1500][m].clone();
            for (t, v) in points {
                if let Some(v) = v {
                    assert!(
                        span.contains(&t),
                        "{name} {t}: a point that was never written"
                    );
                    assert_eq!(v, val(m as u64, t), "{name} {t}: a wrong value");
                }
            }
        }
        let _ = r.fold(0usize, |n, _, _, run| n + run.len());
        let _ = r.salvage_metrics();
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

        /// One file of the store damaged at random (bits flipped, bytes
        /// overwritten, cut short or grown): reads give the written values
        /// or errors, never a wrong value, a point never written, or a
        /// panic; the writer opens or fails with an error, and after it
        /// the same holds.
        #[test]
        fn random_damage_never_reads_a_wrong_value(
            pick in 0usize..64,
            how in 0u8..4,
            at in any::<proptest::sample::Index>(),
            bytes in proptest::collection::vec(any::<u8>(), 1..64),
        ) {
            let d = tempfile::tempdir().unwrap();
            build(d.path());
            let all = files(d.path());
            let target = &all[pick % all.len()];
            let mut content = fs::read(target).unwrap();
            let i = if content.is_empty() { 0 } else { at.index(content.len()) };
            match how {
                0 => {
                    for (k, b) in bytes.iter().enumerate() {
                        if let Some(x) = content.get_mut(i + k * 7) {
                            *x ^= b | 1;
                        }
                    }
                }
                1 => {
                    let end = (i + bytes.len()).min(content.len());
                    content.splice(i..end, bytes.iter().copied());
                }
                2 => content.truncate(i),
                _ => content.extend_from_slice(&bytes),
            }
            fs::write(target, &content).unwrap();
            if let Ok(mut r) = Reader::open(d.path()) {
                check(&mut r);
            }
            if let Ok(mut s) = Store::open(d.path()) {
                let _ = s.put("a", 1200, &[val(0, 1200)]);
                let _ = s.close();
            }
            if let Ok(mut r) = Reader::open(d.path()) {
                check(&mut r);
            }
        }
    }
}
