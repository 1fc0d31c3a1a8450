//! The gRPC contract of shortline (package `shortline.v1`) and the code generated from it.
//!
//! The `.proto` files live under `proto/shortline/v1/` in this crate:
//!
//! - `common.proto`: messages and enums shared by every service (themes, plans, trends,
//!   reports, scripts, media assets, videos, jobs, lineage);
//! - `orchestrator.proto`: [`v1::orchestrator_service_server::OrchestratorService`], the
//!   public face: jobs, trends, reports, review;
//! - `scriptgen.proto`: [`v1::script_service_server::ScriptService`], scripts and media;
//! - `composer.proto`: [`v1::composer_service_server::ComposerService`], videos and their
//!   review.
//!
//! Every request of `ScriptService` and `ComposerService`, and every orchestrator request that
//! names a job, carries `int64 job_id = 1`, which scopes every lookup.
//!
//! Servers and clients: `v1::<service>_server::<Service>Server` wraps an implementation of the
//! `<Service>` trait; `v1::<service>_client::<Service>Client` calls it. Timestamps are
//! [`prost_types::Timestamp`].

/// Messages, enums, clients and servers generated from package `shortline.v1`.
#[allow(clippy::all, clippy::pedantic, clippy::nursery, clippy::unwrap_used, missing_docs, rustdoc::all)]
pub mod v1 {
    tonic::include_proto!("shortline.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of the contract, imports included
/// (`google/protobuf/timestamp.proto`), with source info (comments). Register it with
/// `tonic_reflection::server::Builder::register_encoded_file_descriptor_set` to serve
/// reflection (v1 and v1alpha) for every shortline service.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/shortline_descriptor.bin"));

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::FILE_DESCRIPTOR_SET;

    #[test]
    fn the_descriptor_set_decodes_and_names_every_service() {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("decodes");
        let services: Vec<String> = fds
            .file
            .iter()
            .filter(|f| f.package() == "shortline.v1")
            .flat_map(|f| f.service.iter().map(|s| s.name().to_owned()))
            .collect();
        assert_eq!(services, ["OrchestratorService", "ScriptService", "ComposerService"]);
        assert!(fds.file.iter().any(|f| f.name() == "google/protobuf/timestamp.proto"));
    }
}
