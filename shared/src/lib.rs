//! What every shortline service shares: domain types, config, telemetry, errors, the database
//! layer and gRPC server scaffolding.

pub mod db;
pub mod domain;
