//! One integration-test binary (as in zero2prod): `helpers` makes databases, `processes` runs
//! the real services.

mod auth;
mod bad_input;
mod bench;
mod captions;
mod cli;
mod collections;
mod deploy;
mod durability;
mod grpcurl;
mod helpers;
mod lineage_schema;
mod metrics;
mod migrate;
mod mtls;
mod openlineage;
mod pg_tls;
mod pipeline;
mod processes;
mod providers;
mod recovery;
mod roles;
mod s3;
mod scaling;
mod secure_access;
mod traces;
