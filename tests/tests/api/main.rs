//! One integration-test binary (as in zero2prod): `helpers` spawns what a test needs.

mod helpers;
mod lineage_schema;
