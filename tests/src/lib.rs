//! Walden's cross-crate test suite. The tests live in `tests/tests/`; this library holds the
//! helpers they share.
