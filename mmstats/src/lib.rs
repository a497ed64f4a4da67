//! # mmstats: `/proc` for your own program
//!
//! A program declares its statistics as a plain struct; mmstats lays them
//! out at compile time in a memory-mapped file, and every update is a plain
//! store into that file: no lock, no system call. Separate tools read the
//! files without disturbing the writer.
//!
//! ```
//! use mmstats::{MmStats, Counter, Gauge, Timer, Flag, Text};
//!
//! #[derive(MmStats)]
//! #[mmstats(prefix = "web.")]
//! struct WebStats {
//!     /// Responses with a 2XX status.
//!     #[mmstats(label = "status.2XX")]
//!     status_2xx: Counter,
//!     queue: Gauge<u32>,
//!     latency: Timer<100>,
//!     up: Flag,
//!     state: Text<32>,
//! }
//!
//! # fn main() -> Result<(), mmstats::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let stats = WebStats::builder().dir(dir.path()).create()?;
//! // let stats = WebStats::create()?;   // /dev/shm/<cmd>-<pid>-<tid>.mmstats
//! stats.status_2xx.incr();
//! stats.up.set(true);
//! {
//!     let _timing = stats.latency.start(); // timed until dropped
//! }
//! // Any reader, in this process or another, sees the values at once.
//! let snapshot = mmstats::reader::read_path(stats.path().unwrap()).unwrap();
//! assert_eq!(snapshot.get("web.status.2XX").unwrap().value.to_string(), "1");
//! assert_eq!(snapshot.get("web.status.2XX").unwrap().kind, mmstats::Kind::Counter);
//! # Ok(()) }
//! ```
//!
//! A tour:
//! - [`MmStats`] is the derive and the trait it implements: create a stats
//!   object with [`MmStats::create`] or [`MmStats::builder`], or use one per
//!   thread with [`MmStats::with_thread`].
//! - [`fields`] lists the field types; [`Stats`] is the live object.
//! - [`reader`] parses any version-1 file, written by this crate or by the
//!   original Python mmstats.
//! - [`format`](mod@format) is the byte layout, shared by the writer and the reader.
//! - [`file`](mod@file) names, creates and removes files safely.
//! - [`discover`](mod@discover) expands the files, directories and globs a
//!   user names into stats files; [`aggregate`] combines many files' stats
//!   (threads, processes) into one view, counters as changes over time.
//!
//! The user guide (the `book/` directory of the repository) covers every
//! feature with examples, the command-line tools and the file format.

#![warn(missing_docs)]
// Every `unsafe` block of the crate is in `map`, where one argument covers
// them all; anywhere else, `unsafe` does not compile.
#![deny(unsafe_code)]

pub mod aggregate;
pub mod clean;
pub mod collect;
pub mod discover;
pub mod error;
pub mod export;
pub mod fields;
pub mod file;
pub mod format;
pub mod history;
pub mod labels;
#[allow(unsafe_code)]
mod map;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod mstore;
pub mod reader;
pub mod record;
pub mod schema;
mod seqlock;
#[cfg(feature = "serve")]
pub mod serve;
pub mod stats;
pub mod time;

pub use error::Error;
pub use fields::{
    Average, Counter, DynFamily, Family, Field, Flag, Gauge, Labels, MovingAverage, Static,
    StaticField, StaticText, Summary, Text, Timer, TimerGuard,
};
pub use fields::{Histogram, HistogramTimer};
pub use format::Kind;
pub use schema::Schema;
pub use stats::{Builder, Model, Stats};

/// Derives [`MmStats`](trait@MmStats) for a struct of field types.
///
/// Struct attributes, all optional, inside `#[mmstats(...)]`:
/// - `prefix = "web."`: put in front of every label, the default fields' too;
/// - `defaults = false`: leave out the default fields (`sys.pid`, ...);
/// - `dir = "/run/app"`, `file = "{CMD}-{PID}-{TID}-{MODEL}.mmstats"`,
///   `name = "db"` (the model's name in `{MODEL}`): file settings
///   that win over the environment;
/// - `crate = "path::to::mmstats"`: where the runtime crate is, if renamed.
///
/// Field attributes: `label = "..."` (instead of the field's name),
/// `unit = "..."`, `help = "..."` (else the doc comment), and for static
/// fields `value = <expression>`.
pub use mmstats_derive::MmStats;

/// Derives [`Labels`](trait@Labels) for a fieldless enum: its variants are
/// the values of one label of a [`Family`]. See the trait for the
/// attributes `key` and `value`, and their defaults.
pub use mmstats_derive::Labels;

/// A model of statistics: a struct whose fields are all field types.
///
/// Implement it with `#[derive(MmStats)]`; the hidden items are the derive's.
pub trait MmStats: Sized + Send + 'static {
    /// Every label, type, offset and the size, computed at compile time.
    const MODEL: Model;

    #[doc(hidden)]
    fn __write_statics(places: &stats::Places<'_>) -> Result<(), Error>;

    #[doc(hidden)]
    fn __bind(places: &stats::Places<'_>) -> Result<Self, Error>;

    #[doc(hidden)]
    fn __thread_slot() -> &'static std::thread::LocalKey<stats::ThreadSlot<Self>>;

    /// Creates this model's file for the calling thread, named by the model's
    /// settings, `MMSTATS_PATH` and `MMSTATS_FILES`, or the defaults.
    fn create() -> Result<Stats<Self>, Error> {
        Self::builder().create()
    }

    /// Settings for creating this model's file.
    fn builder() -> Builder<Self> {
        Builder::default()
    }

    /// A stats object with no file (see [`Stats::in_memory`]).
    fn in_memory() -> Stats<Self> {
        Stats::in_memory()
    }

    /// Runs `f` with the calling thread's own stats object for this model,
    /// creating its file on first use: each thread gets its own file, so
    /// threads never write the same memory.
    ///
    /// If the file cannot be created, the thread's stats are kept in memory
    /// and the reason is printed once on standard error; use
    /// [`MmStats::try_with_thread`] to handle the error instead.
    fn with_thread<R>(f: impl FnOnce(&Self) -> R) -> R {
        let mut f = Some(f);
        let ran = Self::__thread_slot().try_with(|slot| f.take().map(|f| slot.with(f, true)));
        match (ran, f) {
            (Ok(Some(Ok(result))), _) => result,
            // The thread is being torn down and its slot is gone: this last
            // call writes to a stats object in memory.
            (_, Some(f)) => f(&Stats::<Self>::in_memory()),
            (_, None) => unreachable!("mmstats: with fallback on, creating stats cannot fail"),
        }
    }

    /// Like [`MmStats::with_thread`], but returns the error if the thread's
    /// file cannot be created (and tries again on the next call).
    fn try_with_thread<R>(f: impl FnOnce(&Self) -> R) -> Result<R, Error> {
        let mut f = Some(f);
        let ran = Self::__thread_slot().try_with(|slot| f.take().map(|f| slot.with(f, false)));
        match (ran, f) {
            (Ok(Some(result)), _) => result,
            (_, Some(f)) => Ok(f(&Stats::<Self>::in_memory())),
            (_, None) => unreachable!("mmstats: the closure was taken but did not run"),
        }
    }
}

#[doc(hidden)]
pub mod __private {
    //! What the derive's generated code uses. Not a public API.
    pub use crate::fields::Labels;
    pub use crate::fields::{check_members, check_type, Field, StaticField};
    pub use crate::format::{
        content_size, expand_specs, first_indexes, layout, spec_count, Decl, FieldLayout, FieldSpec,
    };
    pub use crate::labels::{LabelDim, LabelDims};
    pub use crate::stats::{default_field, Model, Places, ThreadSlot, DEFAULT_LABELS};
    pub use crate::{Error, MmStats};
    pub use core;
    pub use std;

    /// Writes the value of the static field of type `T` whose main value is
    /// file field `index` (see [`first_indexes`]); a layout error if that
    /// field is not of type `T`.
    pub fn write_static<T: StaticField>(
        places: &crate::stats::Places<'_>,
        index: usize,
        value: &T::Value,
    ) -> Result<(), Error> {
        T::write_value(&places.place(index)?.of_type(&T::TYPE)?, value)
    }

    /// Fails compilation with `message` if the specs break a rule.
    pub const fn check_specs<const N: usize>(specs: &[FieldSpec; N]) {
        if let Some(message) = crate::format::check_specs(specs) {
            panic!("{}", message);
        }
    }
}

// Lets this crate's own tests and doc examples use the derive.
extern crate self as mmstats;
