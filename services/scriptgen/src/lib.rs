//! shortline scriptgen service.
