//! shortline shared crate.
