// Generated code must not depend on what the user's crate calls things:
// every standard item it names must be spelled out in full.
#![allow(dead_code, non_camel_case_types)]

use mmstats::MmStats;

struct Result;
struct Option;
struct Some;
struct None;
struct Ok;
struct Err;
struct Box;
struct String;
struct Vec;
mod core {}
mod std {}
mod __mm {}
trait Field {}
trait MmStatsTrait {}
type u64 = ();
type usize = ();

#[derive(MmStats)]
#[mmstats(prefix = "hygiene.")]
struct Hygienic {
    hits: mmstats::Counter,
    #[mmstats(value = 3)]
    workers: mmstats::Static<u32>,
    #[mmstats(value = "v1")]
    version: mmstats::StaticText<8>,
}

mod reexport {
    pub use mmstats;
}

#[derive(reexport::mmstats::MmStats)]
#[mmstats(crate = "reexport::mmstats", defaults = false)]
struct ThroughAReexport {
    hits: reexport::mmstats::Counter,
}

fn main() {
    let stats = Hygienic::in_memory();
    stats.hits.incr();
    let other = ThroughAReexport::in_memory();
    other.hits.incr();
}
