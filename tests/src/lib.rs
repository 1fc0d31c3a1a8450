//! The integration tests live in `tests/api`.
