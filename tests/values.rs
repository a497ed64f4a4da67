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
