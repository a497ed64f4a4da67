// Attribute values passed through `macro_rules!` as `$x:literal` arrive in
// an invisible group; the derive reads them like the literals themselves.

use mmstats::MmStats;

macro_rules! stats_struct {
    ($name:ident, $file:literal, $dir:literal, $prefix:literal, $defaults:literal,
     $krate:literal, $label:literal, $unit:literal, $help:literal, $doc:literal,
     $value:literal, $text:literal) => {
        #[derive(MmStats)]
        #[mmstats(file = $file, dir = $dir, prefix = $prefix, defaults = $defaults)]
        #[mmstats(crate = $krate)]
        struct $name {
            #[mmstats(label = $label, unit = $unit, help = $help)]
            hits: mmstats::Counter,
            #[doc = $doc]
            #[mmstats(value = $value)]
            workers: mmstats::Static<u32>,
            #[mmstats(value = $text)]
            version: mmstats::StaticText<8>,
        }
    };
}

stats_struct!(
    Made,
    "made-{PID}.mmstats",
    "/run/made",
    "made.",
    false,
    "::mmstats",
    "requests",
    "1",
    "requests served",
    "Worker threads.",
    4,
    "v1"
);

fn main() {
    assert_eq!(Made::MODEL.file, Some("made-{PID}.mmstats"));
    assert_eq!(Made::MODEL.dir, Some("/run/made"));
    assert_eq!(Made::MODEL.fields.len(), 3);
    assert_eq!(Made::MODEL.fields[0].label, "made.requests");
    assert_eq!(Made::MODEL.fields[0].unit, "1");
    assert_eq!(Made::MODEL.fields[0].help, "requests served");
    assert_eq!(Made::MODEL.fields[1].help, "Worker threads.");
    let stats = Made::in_memory();
    stats.hits.incr();
    assert_eq!(stats.workers.get(), 4);
    assert_eq!(stats.version.get(), "v1");
}
