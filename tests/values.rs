//! Every value lands in its own field: what the writer is given is what
//! every reader reads back, whatever the mix and order of field types.

use mmstats::reader::{read_path, Value};
use mmstats::{MmStats, Static, StaticText, Summary};

/// A static declared after a `Summary` (which publishes six fields) is
/// written into its own field, not into the summary's `.count`.
#[test]
fn a_static_after_a_summary_is_written_into_its_own_field() {
    #[derive(MmStats)]
    #[mmstats(defaults = false)]
    struct S {
        s: Summary,
        #[mmstats(value = 7u64)]
        v: Static<u64>,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = S::builder()
        .dir(dir.path())
        .file("s.mmstats")
        .create()
        .unwrap();
    assert_eq!(stats.v.get(), 7);
    let snapshot = read_path(stats.path().unwrap()).unwrap();
    assert_eq!(snapshot.get("s.count").unwrap().value, Value::Unsigned(0));
    assert_eq!(snapshot.get("v").unwrap().value, Value::Unsigned(7));
}

/// With a static narrower than the summary's `.count`, the wrong field was
/// refused outright: `create()` failed with a layout error.
#[test]
fn a_narrow_static_after_summaries_can_be_created() {
    #[derive(MmStats)]
    #[mmstats(defaults = false)]
    struct S {
        a: Summary,
        b: Summary,
        #[mmstats(value = 7u32)]
        v: Static<u32>,
        #[mmstats(value = "after")]
        t: StaticText<8>,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = S::builder()
        .dir(dir.path())
        .file("s.mmstats")
        .create()
        .unwrap_or_else(|e| panic!("create: {e}"));
    let snapshot = read_path(stats.path().unwrap()).unwrap();
    assert_eq!(snapshot.get("v").unwrap().value, Value::Unsigned(7));
    assert_eq!(
        snapshot.get("t").unwrap().value,
        Value::Text("after".into())
    );
    assert_eq!(snapshot.get("b.count").unwrap().value, Value::Unsigned(0));
    assert_eq!(snapshot.get("a.seq").unwrap().value, Value::Unsigned(0));
}

/// A 16-bit gauge is double-buffered: after any number of updates, every
/// reader reads the value set last (the buffer the write index does not
/// name), and the file says which buffer that is.
#[test]
fn a_16_bit_gauge_reads_back_after_every_update() {
    use mmstats::Gauge;
    #[derive(MmStats)]
    #[mmstats(defaults = false)]
    struct G {
        u: Gauge<u16>,
        i: Gauge<i16>,
        b: Gauge<u8>,
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = G::builder()
        .dir(dir.path())
        .file("g.mmstats")
        .create()
        .unwrap();
    let path = stats.path().unwrap().to_owned();
    let snapshot = read_path(&path).unwrap();
    assert!(snapshot.get("u").unwrap().buffered);
    assert!(snapshot.get("i").unwrap().buffered);
    assert!(!snapshot.get("b").unwrap().buffered);
    assert_eq!(snapshot.get("u").unwrap().value, Value::Unsigned(0));
    for n in 1..=5u16 {
        stats.u.set(n * 1000);
        stats.i.sub(n as i16);
        stats.b.add(1);
        let snapshot = read_path(&path).unwrap();
        assert_eq!(
            snapshot.get("u").unwrap().value,
            Value::Unsigned(u64::from(n) * 1000)
        );
        let expected: i64 = -(1..=n as i64).sum::<i64>();
        assert_eq!(snapshot.get("i").unwrap().value, Value::Signed(expected));
        assert_eq!(snapshot.get("b").unwrap().value, Value::Unsigned(n.into()));
        assert_eq!(stats.u.get(), n * 1000);
        assert_eq!(i64::from(stats.i.get()), expected);
    }
}
