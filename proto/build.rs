//! Compiles the gRPC contract under `proto/` without a system `protoc`: `protox` parses the
//! files into a descriptor set, `tonic-prost-build` generates messages, clients and servers from
//! it, and the encoded descriptor set is written next to the generated code for server
//! reflection (`compile_fds` does not write `file_descriptor_set_path` itself).

use std::path::PathBuf;

use prost::Message;

/// The contract's files, relative to the include root `proto/`.
const PROTOS: [&str; 4] = [
    "proto/shortline/v1/common.proto",
    "proto/shortline/v1/orchestrator.proto",
    "proto/shortline/v1/scriptgen.proto",
    "proto/shortline/v1/composer.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }

    // Source info is kept so the proto comments become doc comments and reach grpcurl users;
    // imports (google/protobuf/timestamp.proto, shipped by protox) are included so reflection
    // can serve every file the contract depends on.
    let fds = protox::compile(PROTOS, ["proto"])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("shortline_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
