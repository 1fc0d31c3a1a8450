//! What every shortline service shares: domain types, config, telemetry, errors, the database
//! layer and gRPC server scaffolding.

pub mod auth;
pub mod budget;
pub mod config;
pub mod convert;
pub mod db;
pub mod domain;
pub mod grpc;
pub mod http;
pub mod media_store;
pub mod partial;
pub mod process;
pub mod service;
pub mod status;
pub mod telemetry;
pub mod tls;
