//! `shortline bench`: the benchmarks behind docs/BENCHMARKS.md, in a crate of their own (the CLI
//! keeps only the subcommand). Each one starts the real services as separate processes of the
//! running `shortline` executable (`shortline serve …`) on a fresh database, drives them through
//! their public gRPC APIs, and prints what it measured (`--json`: one JSON document).
//! Benchmarks are commands, not timed tests; CI runs each at a small size to prove it works.

mod collector;
mod compose;
mod driver;
mod growth;
mod pgwire;
mod pipeline;
mod rpc;
mod stats;
mod system;

use std::process::ExitCode;

use clap::Subcommand;

pub use compose::ComposeArgs;
pub use growth::GrowthArgs;
pub use pipeline::PipelineArgs;
pub use rpc::RpcArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Jobs/s, job latency, time per stage, SQL per job and memory: N jobs with the `null`
    /// provider set through the three real services, C in flight.
    Pipeline(PipelineArgs),
    /// GetJob, ListJobs and GetJobLineage latency (p50/p99) and throughput at several concurrencies.
    Rpc(RpcArgs),
    /// ComposeVideo against one plain ffmpeg command on the same standard input.
    Compose(ComposeArgs),
    /// GetJobLineage and ListJobs latency as the database grows to millions of jobs.
    Growth(GrowthArgs),
}

/// Runs one benchmark; prints its figures (or, with `json`, one JSON document on stdout).
pub async fn run(command: &BenchCommand, json: bool) -> anyhow::Result<ExitCode> {
    let pinned = tempfile::Builder::new().prefix("shortline-bench-exe-").tempdir()?;
    system::pin_executable(pinned.path())?;
    let report = match command {
        BenchCommand::Pipeline(args) => pipeline::run(args, json).await?,
        BenchCommand::Rpc(args) => rpc::run(args, json).await?,
        BenchCommand::Compose(args) => compose::run(args, json).await?,
        BenchCommand::Growth(args) => growth::run(args, json).await?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}
