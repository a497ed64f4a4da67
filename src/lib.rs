//! Examples and integration tests of mmstats live in `examples/` and `tests/`.
