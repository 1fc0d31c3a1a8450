//! shortline composer service.
