//! gRPC scaffolding every shortline service uses.
//!
//! - the server ([`GrpcServer`], [`serve`]): health, reflection, request spans with `job_id`,
//!   readiness polling and graceful shutdown; `codes` maps what the transport refuses to
//!   gRPC codes;
//! - [`status`]: the errors every service answers ([`status::RequestError`]) and the one mapping
//!   of the services' errors to `tonic::Status` at the edge; job-scoped request checks;
//! - [`convert`]: rows and domain types to and from protobuf messages;
//! - [`auth`], [`tls`]: who may call what, and the certificates that prove it, both re-read
//!   when their files change (`watched`);
//! - [`client`]: channels, job-scoped requests with deadlines, and what a failed call means;
//!   [`balance`]: channels to a service's replicas; [`slots`]: back-pressure on heavy calls;
//! - [`service`]: what every service does to start and serve: port, pool, metrics, TLS, media
//!   store and its sweep, schema gate, access policy.
//!
//! It depends on the shared crates below it (config, domain, db, media, telemetry) and never on
//! a service crate.

pub mod auth;
pub mod balance;
pub mod client;
mod codes;
pub mod convert;
mod server;
pub mod service;
pub mod slots;
pub mod status;
pub mod tls;
mod watched;

pub use server::*;
