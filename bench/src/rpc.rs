//! `shortline bench rpc`: the orchestrator's read RPCs under load — GetJob, ListJobs (a first
//! page, the server's default size of 50) and GetJobLineage (which also calls scriptgen twice
//! and composer once) — at each concurrency, over jobs made by real `null`-provider runs.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde_json::json;
use shortline_db::Backend;
use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient};
use tonic::transport::Channel;

use super::driver::{self, Observe};
use super::stats::{ms, table, Summary};
use super::system::{self, BenchDb, System, SystemSpec};

#[derive(Debug, Args)]
pub struct RpcArgs {
    /// `sqlite` (a fresh file), `postgres` (the local server) or a `postgres://` server URL.
    #[arg(long, default_value = "sqlite", value_name = "URL")]
    pub database: String,
    /// Jobs run first through the pipeline (null providers), so every RPC reads real rows.
    #[arg(long, default_value_t = 200)]
    pub seed_jobs: usize,
    /// Timed requests per RPC and concurrency (a tenth more are sent first, untimed).
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Requests in flight at once, one measurement per value.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Extra settings for every service, e.g. `SHORTLINE_DATABASE__MAX_CONNECTIONS=20` (repeatable):
    /// to see what a setting changes. Without it the services run with their defaults.
    #[arg(long, value_name = "KEY=VALUE")]
    pub service_env: Vec<String>,
    /// gRPC (HTTP/2) connections the requests are spread over.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    GetJob,
    ListJobs,
    GetJobLineage,
}

impl Rpc {
    const ALL: [Rpc; 3] = [Rpc::GetJob, Rpc::ListJobs, Rpc::GetJobLineage];

    fn name(self) -> &'static str {
        match self {
            Rpc::GetJob => "GetJob",
            Rpc::ListJobs => "ListJobs",
            Rpc::GetJobLineage => "GetJobLineage",
        }
    }
}

pub async fn run(args: &RpcArgs, json_out: bool) -> anyhow::Result<serde_json::Value> {
    if args.seed_jobs == 0 || args.requests == 0 || args.concurrency.contains(&0) {
        bail!("--seed-jobs, --requests and every --concurrency must be at least 1");
    }
    system::on_fresh_database(&args.database, async |db, dir| measure(args, db, dir, json_out).await).await
}

async fn measure(args: &RpcArgs, db: &BenchDb, dir: &Path, json_out: bool) -> anyhow::Result<serde_json::Value> {
    let load_before = system::loadavg();
    let services = System::start(&SystemSpec::new(&db.url, dir, "null").service_env(&args.service_env)?).await?;
    let pool = db.pool()?;
    let seeding = services.orchestrator_client().await?;
    if !json_out {
        eprintln!("seeding {} jobs through the pipeline ...", args.seed_jobs);
    }
    let seeded = driver::run_jobs(&seeding, &pool, args.seed_jobs, 8, Observe::Database).await?;
    let ids: Arc<Vec<i64>> = Arc::new(seeded.iter().map(|j| j.id).collect());
    let orchestrator_url = services.orchestrator.as_ref().map(|o| o.url()).unwrap_or_default();
    let mut clients = Vec::new();
    for _ in 0..args.connections.max(1) {
        clients.push(
            OrchestratorServiceClient::new(system::channel(&orchestrator_url).await?)
                .max_decoding_message_size(64 * 1024 * 1024),
        );
    }

    let mut results = Vec::new();
    for rpc in Rpc::ALL {
        for &concurrency in &args.concurrency {
            if !json_out {
                eprintln!("{} at concurrency {concurrency} ...", rpc.name());
            }
            let warmup = (args.requests / 10).max(1);
            load(&clients, &ids, rpc, concurrency, warmup).await?;
            let started = Instant::now();
            let mut samples = load(&clients, &ids, rpc, concurrency, args.requests).await?;
            let wall = started.elapsed();
            let summary = Summary::of_durations(&samples);
            samples.clear();
            results.push(json!({
                "rpc": rpc.name(),
                "concurrency": concurrency,
                "requests": args.requests,
                "latency_ms": summary,
                "throughput_per_second": args.requests as f64 / wall.as_secs_f64(),
            }));
        }
    }
    let memory = services.memory();
    drop(clients);
    drop(seeding);
    services.stop().await;

    let report = json!({
        "bench": "rpc",
        "backend": if db.backend == Backend::Postgres { "postgresql" } else { "sqlite" },
        "seed_jobs": args.seed_jobs,
        "connections": args.connections,
        "service_env": args.service_env,
        "machine": system::machine(),
        "loadavg_before": load_before,
        "loadavg_after": system::loadavg(),
        "results": results,
        "memory": system::memory_json(&memory),
    });
    if !json_out {
        println!(
            "shortline bench rpc: {}, {} seeded jobs, {} connection(s); load average {} before, {} after",
            report["backend"].as_str().unwrap_or_default(),
            args.seed_jobs,
            args.connections,
            load_before,
            report["loadavg_after"].as_str().unwrap_or_default()
        );
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                let l = &r["latency_ms"];
                let f = |k: &str| ms(l[k].as_f64().unwrap_or(0.0));
                vec![
                    r["rpc"].as_str().unwrap_or_default().to_owned(),
                    r["concurrency"].to_string(),
                    f("p50_ms"),
                    f("p99_ms"),
                    format!("{:.0}/s", r["throughput_per_second"].as_f64().unwrap_or(0.0)),
                ]
            })
            .collect();
        print!("{}", table(&["rpc", "concurrency", "p50", "p99", "throughput"], &rows));
        println!("ListJobs: the first page at the server's default size (50 jobs with their stages).");
        println!("GetJobLineage: the orchestrator's rows plus ListScripts and ListMediaAssets (scriptgen) and ListVideos (composer).");
    }
    Ok(report)
}

/// Sends `count` requests of `rpc` with `concurrency` in flight; returns each one's latency.
async fn load(
    clients: &[OrchestratorServiceClient<Channel>],
    ids: &Arc<Vec<i64>>,
    rpc: Rpc,
    concurrency: usize,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency.min(count) {
        let mut client = clients[worker % clients.len()].clone();
        let ids = ids.clone();
        let next = next.clone();
        workers.spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, tonic::Status>(samples);
                }
                // Spread the reads over every seeded job (7919 is prime).
                let job_id = ids[(i * 7919) % ids.len()];
                let started = Instant::now();
                match rpc {
                    Rpc::GetJob => {
                        client.get_job(v1::GetJobRequest { job_id }).await?;
                    }
                    Rpc::ListJobs => {
                        client.list_jobs(v1::ListJobsRequest::default()).await?;
                    }
                    Rpc::GetJobLineage => {
                        client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await?;
                    }
                }
                samples.push(started.elapsed());
            }
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(joined) = workers.join_next().await {
        all.extend(joined??);
    }
    Ok(all)
}
