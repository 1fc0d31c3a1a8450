//! The orchestrator's errors: it has none of its own, so it answers with the common
//! [`RequestError`] and its one mapping to gRPC statuses.

pub use shortline_grpc::status::RequestError;

pub type Result<T, E = RequestError> = std::result::Result<T, E>;
