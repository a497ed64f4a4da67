//! The `#[derive(MmStats)]` macro.
