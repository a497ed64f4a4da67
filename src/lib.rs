//! Examples and integration tests of mmstats live in `examples/` and
//! `tests/`; this library only makes the README's and the user guide's Rust
//! samples part of the test suite.

/// The README, whose Rust sample is compiled and run as a doctest by
/// `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub mod readme {}

/// Every chapter of the guide in `book/src`, compiled and run as doctests by
/// `cargo test`, so that a sample that stops compiling or stops being true
/// fails the build.
#[cfg(doctest)]
pub mod book {
    macro_rules! chapters {
        ($($name:ident => $file:literal),* $(,)?) => {
            $(
                #[doc = include_str!(concat!("../book/src/", $file))]
                pub mod $name {}
            )*
        };
    }

    chapters! {
        introduction => "introduction.md",
        quick_start => "quick-start.md",
        field_types => "field-types.md",
        derive => "derive.md",
        runtime => "runtime.md",
        threads => "threads.md",
        files => "files.md",
        reading => "reading.md",
        history => "history.md",
        serving => "serving.md",
        format => "format.md",
        performance => "performance.md",
        comparison => "comparison.md",
        guarantees => "guarantees.md",
        production => "production.md",
        cookbook => "cookbook.md",
        faq => "faq.md",
        troubleshooting => "troubleshooting.md",
        contributing => "contributing.md",
    }
}
