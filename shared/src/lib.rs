//! What every shortline service shares: domain types, config, telemetry, errors, the database
//! layer and gRPC server scaffolding.

pub mod auth;
pub mod balance;
pub mod budget;
pub mod captions;
pub mod config;
pub mod convert;
pub mod db;
pub mod domain;
pub mod grpc;
mod grpc_codes;
pub mod http;
pub mod media_store;
pub mod metrics;
pub mod partial;
pub mod process;
pub mod service;
pub mod slots;
pub mod status;
pub mod sweep;
pub mod telemetry;
pub mod text;
pub mod tls;

// The database macros (`dispatch!`, `insert_rows!`, `transaction!`) expand in the calling crate;
// they name diesel through these paths so callers need no diesel dependency of their own.
#[doc(hidden)]
pub use {diesel as __diesel, diesel_async as __diesel_async};
