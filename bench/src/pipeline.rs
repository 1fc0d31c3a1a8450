//! `shortline bench pipeline`: N jobs with the `null` provider set (no media work, tiny
//! placeholder files) through the three real services, C in flight: what the orchestration alone
//! costs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde_json::json;
use shortline_db::Backend;

use super::collector::Export;
use super::driver::{self, ms_between, Observe, Submitted};
use super::pgwire::{CountingProxy, Counts};
use super::stats::{mib, ms, table, Summary};
use super::system::{self, BenchDb, Memory, System, SystemSpec};

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Jobs to measure.
    #[arg(long, default_value_t = 1000)]
    pub jobs: usize,
    /// Jobs in flight at once (StartJob is sent for the next as soon as one ends).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// `sqlite` (a fresh file), `postgres` (the local server) or a `postgres://` server URL: a
    /// fresh database is created on it, migrated, and dropped at the end.
    #[arg(long, default_value = "sqlite", value_name = "URL")]
    pub database: String,
    /// Jobs run first and not measured (pools fill, caches warm).
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// PostgreSQL without pg_stat_statements: jobs of the separate pass in which a proxy counts
    /// statements and round trips on the wire (0 skips it).
    #[arg(long, default_value_t = 200)]
    pub count_jobs: usize,
    /// Follow each job with WatchJob (as `shortline run` does) instead of watching the database.
    #[arg(long)]
    pub watch: bool,
    /// Export traces over OTLP/gRPC to a receiver the bench runs, and OpenLineage events to a
    /// file: the cost of observability (compare with a run without it).
    #[arg(long)]
    pub export: bool,
    /// Extra settings for every service, e.g. `SHORTLINE_DATABASE__MAX_CONNECTIONS=20` (repeatable):
    /// to see what a setting changes. Without it the services run with their defaults.
    #[arg(long, value_name = "KEY=VALUE")]
    pub service_env: Vec<String>,
    /// How long to wait for PostgreSQL's idle backends to report their statistics (they do within 10 s).
    #[arg(long, default_value_t = 11_000, hide = true)]
    pub stats_settle_ms: u64,
}

pub async fn run(args: &PipelineArgs, json_out: bool) -> anyhow::Result<serde_json::Value> {
    if args.jobs == 0 || args.concurrency == 0 {
        bail!("--jobs and --concurrency must be at least 1");
    }
    system::on_fresh_database(&args.database, async |db, dir| measure(args, db, dir, json_out).await).await
}

async fn measure(args: &PipelineArgs, db: &BenchDb, dir: &Path, json_out: bool) -> anyhow::Result<serde_json::Value> {
    let machine = system::machine();
    let load_before = system::loadavg();
    let pool = db.pool()?;
    let export = if args.export { Some(Export::start(dir).await?) } else { None };
    let mut spec = SystemSpec::new(&db.url, dir, "null");
    if let Some(export) = &export {
        spec = export.wire(spec);
    }
    let services = System::start(&spec.service_env(&args.service_env)?).await?;
    // Idle: started, connected to nothing yet but the database's readiness probe.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = services.memory();
    let client = services.orchestrator_client().await?;
    let observe = if args.watch { Observe::Watch } else { Observe::Database };
    if !json_out {
        eprintln!("warming up with {} jobs ...", args.warmup);
    }
    if args.warmup > 0 {
        driver::run_jobs(&client, &pool, args.warmup, args.concurrency, observe).await?;
    }

    // Transactions: the server's counters around the measured phase. Idle backends report within
    // 10 s, so the counters are read after a pause on both sides (the engine's idle polls during
    // the pauses are counted too: a couple per second).
    let settle = Duration::from_millis(args.stats_settle_ms);
    let postgres = db.backend == Backend::Postgres;
    let pgss = if postgres { Some(db.reset_pg_stat_statements().await) } else { None };
    if postgres {
        tokio::time::sleep(settle).await;
    }
    let xact_before = db.xact_counters().await?;
    let bench_before = driver::BENCH_STATEMENTS.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(Ok(())) = pgss {
        db.reset_pg_stat_statements().await.map_err(anyhow::Error::msg)?;
    }

    if !json_out {
        eprintln!("measuring {} jobs at concurrency {} ...", args.jobs, args.concurrency);
    }
    let exported_before = export.as_ref().map(Export::counts);
    let cpu_before = CpuSnapshot::take(&services, db.postgres_name());
    let started = Instant::now();
    let jobs = driver::run_jobs(&client, &pool, args.jobs, args.concurrency, observe).await?;
    let wall = started.elapsed();
    let cpu = CpuSnapshot::take(&services, db.postgres_name()).since(&cpu_before, jobs.len());
    let peak = services.memory();
    let load_after = system::loadavg();
    let pgss_counts = match pgss {
        Some(Ok(())) => Some(db.pg_stat_statements().await?),
        _ => None,
    };
    if postgres {
        tokio::time::sleep(settle).await;
    }
    let xact_after = db.xact_counters().await?;
    let bench_statements = driver::BENCH_STATEMENTS.load(std::sync::atomic::Ordering::Relaxed) - bench_before;
    drop(client);
    // Stopping flushes each service's last batch of spans.
    services.stop().await;
    let exported = match (&export, exported_before) {
        (Some(export), Some((spans, requests, events))) => {
            let (spans_after, requests_after, events_after) = export.counts();
            let n = jobs.len().max(1) as f64;
            json!({
                "traces": "OTLP/gRPC to the bench's receiver, the SDK's default batching",
                "lineage": "JSON lines to a file",
                "spans_per_job": (spans_after - spans) as f64 / n,
                "otlp_requests": requests_after - requests,
                "lineage_events_per_job": (events_after - events) as f64 / n,
            })
        }
        _ => json!("off"),
    };

    let analysis = analyse(&pool, &jobs, args.concurrency).await?;

    // Statements: pg_stat_statements if the server has it loaded, else the wire count.
    let statements = if let Some((total, top)) = &pgss_counts {
        json!({
            "source": "pg_stat_statements over the measured phase, minus the bench's own polling queries",
            "per_job": (*total - bench_statements as i64) as f64 / jobs.len() as f64,
            "top": top.iter().map(|(calls, query)| json!({ "calls": calls, "query": query })).collect::<Vec<_>>(),
        })
    } else if postgres && args.count_jobs > 0 {
        if !json_out {
            eprintln!("counting statements on the wire over {} more jobs ...", args.count_jobs);
        }
        wire_count(args, db, dir, observe).await?
    } else if postgres {
        json!({ "source": "n/a", "why": "pg_stat_statements is not loaded (shared_preload_libraries) and --count-jobs is 0" })
    } else {
        json!({
            "source": "n/a",
            "why": "SQLite runs inside each service process: there is no server to count statements or transactions at. \
                    The repository code is the same on both backends, so the PostgreSQL count applies.",
        })
    };
    let transactions = match (xact_before, xact_after) {
        (Some(before), Some(after)) => {
            let server = (after.commits - before.commits) + (after.rollbacks - before.rollbacks);
            // The bench's own queries (its completion poll) are transactions in the same database:
            // one each (the poll is a prepared statement; its first use adds one to parse it).
            let total = server - bench_statements as i64 - 1;
            json!({
                "source": "pg_stat_database xact_commit + xact_rollback of the bench database over the measured phase, \
                           minus the bench's own polling queries; parse-only implicit transactions included",
                "server_total": server,
                "bench_queries": bench_statements,
                "total": total,
                "rollbacks": after.rollbacks - before.rollbacks,
                "per_job": total as f64 / jobs.len() as f64,
            })
        }
        _ => json!({ "source": "n/a", "why": "SQLite: no server-side transaction counter" }),
    };

    let backend = match db.backend {
        Backend::Postgres => "postgresql",
        Backend::Sqlite => "sqlite",
    };
    let report = json!({
        "bench": "pipeline",
        "backend": backend,
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "observe": if args.watch { "WatchJob" } else { "database poll" },
        "poll_interval_ms": driver::poll_interval(args.concurrency).as_millis() as u64,
        "service_env": args.service_env,
        "export": exported,
        "machine": machine,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "wall_seconds": wall.as_secs_f64(),
        "throughput_jobs_per_second": analysis.throughput,
        "ended": analysis.ended,
        "failed_stage_attempts": analysis.failed_attempts,
        "latency_ms": analysis.end_to_end,
        "server_latency_ms": analysis.server,
        "observed_latency_ms": analysis.observed,
        "breakdown": analysis.breakdown_json(),
        "transactions": transactions,
        "statements": statements,
        "memory": memory_json(&idle, &peak),
        "cpu": cpu,
    });
    if !json_out {
        print!("{}", render(&report, &analysis));
    }
    Ok(report)
}

/// CPU ticks of everything that works for the jobs, at one moment.
struct CpuSnapshot {
    services: Vec<(&'static str, u64)>,
    postgres: HashMap<u32, u64>,
    /// The backend of the bench's own poll (its ticks are reported apart).
    poll_pid: u32,
    bench: u64,
    machine: (u64, u64),
}

impl CpuSnapshot {
    fn take(services: &System, postgres: Option<&str>) -> CpuSnapshot {
        CpuSnapshot {
            services: services.processes().iter().map(|p| (p.name, system::cpu_ticks(p.pid))).collect(),
            postgres: postgres.map(system::postgres_backend_ticks).unwrap_or_default(),
            poll_pid: driver::POLL_BACKEND_PID.load(std::sync::atomic::Ordering::Relaxed),
            bench: system::cpu_ticks(std::process::id()),
            machine: system::machine_ticks(),
        }
    }

    /// CPU milliseconds per job of each part since `before`, and how busy the machine was.
    fn since(&self, before: &CpuSnapshot, jobs: usize) -> serde_json::Value {
        let tick_ms = 1000.0 / system::clock_ticks();
        let per_job = |ticks: u64| ticks as f64 * tick_ms / jobs.max(1) as f64;
        let mut parts = serde_json::Map::new();
        let mut known = 0;
        for ((name, now), (_, then)) in self.services.iter().zip(&before.services) {
            known += now - then;
            parts.insert((*name).to_owned(), json!(per_job(now - then)));
        }
        if !self.postgres.is_empty() {
            let delta = |pid: &u32, now: &u64| now - before.postgres.get(pid).copied().unwrap_or(0).min(*now);
            let ticks: u64 =
                self.postgres.iter().filter(|(pid, _)| **pid != self.poll_pid).map(|(pid, now)| delta(pid, now)).sum();
            let poll: u64 =
                self.postgres.iter().filter(|(pid, _)| **pid == self.poll_pid).map(|(pid, now)| delta(pid, now)).sum();
            known += ticks + poll;
            parts.insert("postgres backends".to_owned(), json!(per_job(ticks)));
            parts.insert("postgres backend of the bench's poll".to_owned(), json!(per_job(poll)));
        }
        known += self.bench - before.bench;
        parts.insert("bench (this process)".to_owned(), json!(per_job(self.bench - before.bench)));
        let busy = self.machine.0 - before.machine.0;
        let total = self.machine.1 - before.machine.1;
        parts.insert("everything else on the machine".to_owned(), json!(per_job(busy.saturating_sub(known))));
        json!({
            "ms_per_job": parts,
            "machine_busy_percent": if total > 0 { 100.0 * busy as f64 / total as f64 } else { 0.0 },
        })
    }
}

fn memory_json(idle: &[(&'static str, Memory)], peak: &[(&'static str, Memory)]) -> serde_json::Value {
    let peak: HashMap<&str, Memory> = peak.iter().copied().collect();
    idle.iter()
        .map(|(name, m)| {
            let p = peak.get(name).copied().unwrap_or_default();
            (
                (*name).to_owned(),
                json!({ "idle_rss_kib": m.rss_kib, "peak_rss_kib": p.peak_kib, "rss_at_end_kib": p.rss_kib }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The pipeline's stages in order, as `job_stages.stage` names them.
const STAGES: [&str; 6] =
    ["trend_collection", "trend_analysis", "script_generation", "media_generation", "composition", "review"];

struct Analysis {
    concurrency: usize,
    throughput: f64,
    ended: BTreeMap<String, usize>,
    /// Stage attempts that did not succeed (and were retried).
    failed_attempts: usize,
    end_to_end: Summary,
    server: Summary,
    observed: Summary,
    /// (component, samples in ms) in timeline order.
    breakdown: Vec<(String, Summary)>,
}

impl Analysis {
    fn breakdown_json(&self) -> serde_json::Value {
        self.breakdown.iter().map(|(name, s)| json!({ "part": name, "ms": s })).collect::<Vec<_>>().into()
    }
}

/// Latencies and where they go, from the rows the services wrote.
async fn analyse(pool: &shortline_db::DbPool, jobs: &[Submitted], concurrency: usize) -> anyhow::Result<Analysis> {
    let first = jobs.iter().map(|j| j.id).min().unwrap_or(0);
    let last = jobs.iter().map(|j| j.id).max().unwrap_or(0);
    let ours: HashSet<i64> = jobs.iter().map(|j| j.id).collect();
    let (rows, stages) = driver::job_times(pool, first, last).await?;
    let rows: HashMap<i64, driver::JobTimes> =
        rows.into_iter().filter(|r| ours.contains(&r.id)).map(|r| (r.id, r)).collect();
    let mut by_job: HashMap<i64, Vec<driver::StageTimes>> = HashMap::new();
    for stage in stages.into_iter().filter(|s| ours.contains(&s.job_id)) {
        by_job.entry(stage.job_id).or_default().push(stage);
    }

    let mut ended = BTreeMap::new();
    let mut e2e = Vec::new();
    let mut server = Vec::new();
    let mut observed = Vec::new();
    let mut parts: Vec<(String, Vec<f64>)> = Vec::new();
    let mut part = |name: String, value: f64| match parts.iter_mut().find(|(n, _)| *n == name) {
        Some((_, samples)) => samples.push(value),
        None => parts.push((name, vec![value])),
    };
    let mut failed_attempts = 0;
    let mut first_sent = None;
    let mut last_finished = None;
    for job in jobs {
        *ended.entry(job.status.clone()).or_insert(0) += 1;
        observed.push(job.observed.as_secs_f64() * 1e3);
        let Some(row) = rows.get(&job.id) else { continue };
        let end = row.finished_at.unwrap_or(row.updated_at);
        first_sent = Some(first_sent.map_or(job.sent_at, |t: chrono::NaiveDateTime| t.min(job.sent_at)));
        last_finished = Some(last_finished.map_or(end, |t: chrono::NaiveDateTime| t.max(end)));
        e2e.push(ms_between(job.sent_at, end));
        server.push(ms_between(row.created_at, end));
        // The timeline: StartJob in flight, queued until claimed, each stage, the gaps between.
        part("StartJob (sent → job row created)".into(), ms_between(job.sent_at, row.created_at));
        let attempts = by_job.get(&job.id).map(Vec::as_slice).unwrap_or_default();
        failed_attempts += attempts.iter().filter(|a| a.status != "succeeded").count();
        let mut cursor = row.created_at;
        let mut first_stage = true;
        for stage in STAGES {
            let of_stage: Vec<&driver::StageTimes> = attempts.iter().filter(|a| a.stage == stage).collect();
            let (Some(start), Some(finish)) =
                (of_stage.iter().map(|a| a.started_at).min(), of_stage.iter().filter_map(|a| a.finished_at).max())
            else {
                continue;
            };
            let gap = if first_stage {
                "queued → claimed (engine)".to_owned()
            } else {
                format!("orchestrator, before {stage}")
            };
            part(gap, ms_between(cursor, start));
            part(
                format!("{stage}{}", if of_stage.len() > 1 { " (all attempts)" } else { "" }),
                ms_between(start, finish),
            );
            cursor = finish;
            first_stage = false;
        }
        part("orchestrator, review → job approved".into(), ms_between(cursor, end));
    }
    let throughput = match (first_sent, last_finished) {
        (Some(a), Some(b)) if b > a => jobs.len() as f64 / (ms_between(a, b) / 1e3),
        _ => 0.0,
    };
    Ok(Analysis {
        concurrency,
        throughput,
        ended,
        failed_attempts,
        end_to_end: Summary::of(&mut e2e),
        server: Summary::of(&mut server),
        observed: Summary::of(&mut observed),
        breakdown: parts.into_iter().map(|(name, mut samples)| (name, Summary::of(&mut samples))).collect(),
    })
}

/// Restarts the services behind one counting proxy each and runs `--count-jobs` more jobs.
async fn wire_count(
    args: &PipelineArgs,
    db: &BenchDb,
    dir: &Path,
    observe: Observe,
) -> anyhow::Result<serde_json::Value> {
    let Some(upstream) = system::postgres_host_port(&db.url) else { bail!("no host in the database URL") };
    let names = ["orchestrator", "scriptgen", "composer"];
    let mut proxies = Vec::new();
    for _ in names {
        proxies.push(CountingProxy::start(upstream.clone()).await?);
    }
    let via = |proxy: &CountingProxy| {
        let after_scheme = db.url.find("://").map(|i| i + 3).unwrap_or(0);
        let rest = &db.url[after_scheme..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let userinfo = authority.rfind('@').map(|at| &authority[..=at]).unwrap_or("");
        format!("{}{userinfo}{}{}", &db.url[..after_scheme], proxy.address, &rest[authority_end..])
    };
    let mut spec = SystemSpec::new(&db.url, dir, "null").service_env(&args.service_env)?;
    spec.database_url_of = Some([via(&proxies[0]), via(&proxies[1]), via(&proxies[2])]);
    let services = System::start(&spec).await?;
    let pool = db.pool()?;
    let client = services.orchestrator_client().await?;
    // A few jobs first, so connection setup is not counted against the jobs.
    driver::run_jobs(&client, &pool, args.concurrency.min(args.count_jobs), args.concurrency, observe).await?;
    let before: Vec<Counts> = proxies.iter().map(CountingProxy::counts).collect();
    let jobs = driver::run_jobs(&client, &pool, args.count_jobs, args.concurrency, observe).await?;
    let after: Vec<Counts> = proxies.iter().map(CountingProxy::counts).collect();
    drop(client);
    services.stop().await;
    let n = jobs.len() as f64;
    let mut total = Counts::default();
    let mut per_service = serde_json::Map::new();
    for ((name, a), b) in names.iter().zip(&after).zip(&before) {
        let mut delta = Counts::default();
        for (k, v) in &a.statements {
            let d = v - b.statements.get(k).copied().unwrap_or(0);
            if d > 0 {
                delta.statements.insert(k.clone(), d);
            }
        }
        delta.round_trips = a.round_trips - b.round_trips;
        delta.transactions = a.transactions - b.transactions;
        delta.server_transactions = a.server_transactions - b.server_transactions;
        delta.parses = a.parses - b.parses;
        for (text, (executions, parses)) in &a.by_text {
            let (e0, p0) = b.by_text.get(text).copied().unwrap_or_default();
            if executions > &e0 || parses > &p0 {
                delta.by_text.insert(format!("{name}: {text}"), (executions - e0, parses - p0));
            }
        }
        total.add(&delta);
        per_service.insert(
            (*name).to_owned(),
            json!({
                "statements_per_job": delta.total_statements() as f64 / n,
                "data_statements_per_job": delta.data_statements() as f64 / n,
                "round_trips_per_job": delta.round_trips as f64 / n,
                "transactions_per_job": delta.transactions as f64 / n,
                "server_transactions_per_job": delta.server_transactions as f64 / n,
                "parses_per_job": delta.parses as f64 / n,
                "by_kind_per_job": delta.statements.iter().map(|(k, v)| (k.clone(), json!(*v as f64 / n))).collect::<serde_json::Map<_, _>>(),
            }),
        );
    }
    let mut top: Vec<(&String, &(u64, u64))> = total.by_text.iter().collect();
    top.sort_by_key(|(_, (executions, parses))| std::cmp::Reverse(executions + parses));
    let top_statements: Vec<serde_json::Value> = top
        .iter()
        .take(20)
        .map(|(text, (executions, parses))| {
            json!({ "statement": text, "executions_per_job": *executions as f64 / n, "parses_per_job": *parses as f64 / n })
        })
        .collect();
    Ok(json!({
        "source": format!("wire count by a proxy in front of PostgreSQL, separate pass of {} jobs at concurrency {} \
                          (pg_stat_statements is not loaded: it needs shared_preload_libraries)", jobs.len(), args.concurrency),
        "per_job": total.total_statements() as f64 / n,
        "data_statements_per_job": total.data_statements() as f64 / n,
        "round_trips_per_job": total.round_trips as f64 / n,
        "transactions_per_job": total.transactions as f64 / n,
        "server_transactions_per_job": total.server_transactions as f64 / n,
        "parses_per_job": total.parses as f64 / n,
        "by_kind_per_job": total.statements.iter().map(|(k, v)| (k.clone(), json!(*v as f64 / n))).collect::<serde_json::Map<_, _>>(),
        "by_service": per_service,
        "top_statements": top_statements,
    }))
}

fn num(value: &serde_json::Value) -> f64 {
    value.as_f64().unwrap_or(0.0)
}

fn render(report: &serde_json::Value, analysis: &Analysis) -> String {
    let mut out = String::new();
    let m = &report["machine"];
    out.push_str(&format!(
        "shortline bench pipeline: {} jobs, concurrency {}, {}, null providers, completion seen by {}\n",
        report["jobs"],
        report["concurrency"],
        report["backend"].as_str().unwrap_or_default(),
        report["observe"].as_str().unwrap_or_default()
    ));
    out.push_str(&format!(
        "machine: {} CPUs ({}), {} GiB; load average {} before, {} after\n",
        m["cpus"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["memory_gib"],
        report["loadavg_before"].as_str().unwrap_or_default(),
        report["loadavg_after"].as_str().unwrap_or_default()
    ));
    let export = &report["export"];
    if export.is_object() {
        out.push_str(&format!(
            "export: traces over OTLP/gRPC to the bench's receiver ({:.1} spans per job in {} requests), \
             OpenLineage to a file ({:.1} events per job)\n\n",
            export["spans_per_job"].as_f64().unwrap_or_default(),
            export["otlp_requests"],
            export["lineage_events_per_job"].as_f64().unwrap_or_default()
        ));
    } else {
        out.push_str("export: off (no traces, no lineage events)\n\n");
    }
    out.push_str(&format!(
        "throughput   {:.1} jobs/s   ({} jobs; ended: {}; {} failed stage attempts retried)\n",
        analysis.throughput,
        report["jobs"],
        analysis.ended.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "),
        analysis.failed_attempts
    ));
    let line = |name: &str, s: &Summary, what: &str| {
        format!(
            "{name:<12} p50 {}  p95 {}  p99 {}  max {}   ({what})\n",
            ms(s.p50_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            ms(s.max_ms)
        )
    };
    out.push_str(&line(
        "latency",
        &analysis.end_to_end,
        "StartJob sent → job approved, from the timestamps the services wrote",
    ));
    out.push_str(&line("server-side", &analysis.server, "job row created → approved"));
    let observed = if report["observe"] == "WatchJob" {
        "StartJob sent → WatchJob reported the end".to_owned()
    } else {
        format!(
            "StartJob sent → the bench saw the end; includes its {} ms poll",
            driver::poll_interval(analysis.concurrency).as_millis()
        )
    };
    out.push_str(&line("observed", &analysis.observed, &observed));
    out.push_str("\nwhere a job's time goes (per job, from jobs and job_stages timestamps):\n");
    let rows: Vec<Vec<String>> = analysis
        .breakdown
        .iter()
        .map(|(name, s)| vec![name.clone(), ms(s.mean_ms), ms(s.p50_ms), ms(s.p95_ms)])
        .collect();
    out.push_str(&table(&["part", "mean", "p50", "p95"], &rows));

    out.push_str("\ndatabase work per job:\n");
    let tx = &report["transactions"];
    match tx["per_job"].as_f64() {
        Some(per_job) => {
            out.push_str(&format!("  transactions  {per_job:.1}   ({})\n", tx["source"].as_str().unwrap_or_default()))
        }
        None => out.push_str(&format!("  transactions  n/a   ({})\n", tx["why"].as_str().unwrap_or_default())),
    }
    let st = &report["statements"];
    match st["per_job"].as_f64() {
        Some(per_job) => {
            out.push_str(&format!("  statements    {per_job:.1}   ({})\n", st["source"].as_str().unwrap_or_default()));
            if let Some(rt) = st["round_trips_per_job"].as_f64() {
                out.push_str(&format!(
                    "  of which data {:.1}; round trips {rt:.1}; statements parsed (not kept prepared) {:.1}\n",
                    num(&st["data_statements_per_job"]),
                    num(&st["parses_per_job"])
                ));
                out.push_str(&format!(
                    "  transactions on the wire: {:.1} that ran statements, {:.1} as the server counts them (with parse-only ones)\n",
                    num(&st["transactions_per_job"]),
                    num(&st["server_transactions_per_job"])
                ));
            }
            if let Some(kinds) = st["by_kind_per_job"].as_object() {
                out.push_str(&format!(
                    "  by kind: {}\n",
                    kinds.iter().map(|(k, v)| format!("{k} {:.1}", num(v))).collect::<Vec<_>>().join(", ")
                ));
            }
            if let Some(services) = st["by_service"].as_object() {
                for (name, s) in services {
                    out.push_str(&format!(
                        "  {name:<13} {:.1} statements ({:.1} pings), {:.1} round trips, {:.1} parses, {:.1} transactions ({:.1} server-counted)\n",
                        num(&s["statements_per_job"]),
                        num(&s["by_kind_per_job"]["PING"]),
                        num(&s["round_trips_per_job"]),
                        num(&s["parses_per_job"]),
                        num(&s["transactions_per_job"]),
                        num(&s["server_transactions_per_job"])
                    ));
                }
            }
            if let Some(top) = st["top_statements"].as_array() {
                out.push_str(
                    "  most frequent statements (per job: executions, parses; by the service that sent them):\n",
                );
                for q in top.iter().take(15) {
                    out.push_str(&format!(
                        "    {:>5.1} {:>5.1}  {}\n",
                        num(&q["executions_per_job"]),
                        num(&q["parses_per_job"]),
                        q["statement"].as_str().unwrap_or_default().chars().take(120).collect::<String>()
                    ));
                }
            }
            if let Some(top) = st["top"].as_array() {
                out.push_str("  most frequent statements (calls per job, all services):\n");
                let jobs = report["jobs"].as_f64().unwrap_or(1.0).max(1.0);
                for q in top.iter().take(12) {
                    out.push_str(&format!(
                        "    {:>6.1}  {}\n",
                        num(&q["calls"]) / jobs,
                        q["query"]
                            .as_str()
                            .unwrap_or_default()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            .chars()
                            .take(120)
                            .collect::<String>()
                    ));
                }
            }
        }
        None => out.push_str(&format!("  statements    n/a   ({})\n", st["why"].as_str().unwrap_or_default())),
    }

    let cpu = &report["cpu"];
    out.push_str(&format!(
        "\nCPU time per job during the measured phase (the machine was {:.0} % busy over all its cores):\n",
        num(&cpu["machine_busy_percent"])
    ));
    if let Some(parts) = cpu["ms_per_job"].as_object() {
        let rows: Vec<Vec<String>> = parts.iter().map(|(name, v)| vec![name.clone(), ms(num(v))]).collect();
        out.push_str(&table(&["process", "CPU per job"], &rows));
    }

    out.push_str("\nmemory per service (VmRSS idle before the first job; VmHWM peak at the end):\n");
    let rows: Vec<Vec<String>> = report["memory"]
        .as_object()
        .map(|services| {
            services
                .iter()
                .map(|(name, m)| {
                    let kib = |key: &str| m[key].as_u64().unwrap_or(0);
                    vec![name.clone(), mib(kib("idle_rss_kib")), mib(kib("peak_rss_kib"))]
                })
                .collect()
        })
        .unwrap_or_default();
    out.push_str(&table(&["service", "idle RSS", "peak RSS"], &rows));
    out
}
