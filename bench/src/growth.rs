//! `shortline bench growth`: read latency as the database grows.
//!
//! One real job runs through the pipeline (null providers) and becomes the template; the database
//! is then filled with copies of its whole lineage — the job, its stage attempts, trend
//! sightings, report and report items, script, media assets and video, ids remapped so every
//! composite foreign key holds — by bulk SQL (`INSERT … SELECT` over `generate_series` on
//! PostgreSQL, a recursive CTE on SQLite), until each requested size is reached. At each size it
//! measures, one request at a time through the orchestrator: GetJobLineage of random jobs,
//! ListJobs' first page, a full page 90 % of the way down (keyset token), the review queue's
//! first page (empty: every seeded job is approved, so it shows what finding nothing costs),
//! and a few fresh pipeline jobs end to end.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _};
use clap::Args;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::QueryableByName;
use serde_json::json;
use shortline_db::{Backend, DbPool};
use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient};
use tonic::transport::Channel;

use super::driver::{self, execute_sql, load_rows, ms_between, Observe};
use super::stats::{ms, table, Summary};
use super::system::{self, BenchDb, System, SystemSpec};

#[derive(Debug, Args)]
pub struct GrowthArgs {
    /// The database sizes (pipeline jobs with full lineages) to measure at, ascending.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    pub sizes: Vec<u64>,
    /// `sqlite` (a fresh file), `postgres` (the local server) or a `postgres://` server URL.
    #[arg(long, default_value = "sqlite", value_name = "URL")]
    pub database: String,
    /// Requests per measurement (one at a time, after a few untimed ones).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Jobs per bulk insert (one transaction each).
    #[arg(long, default_value_t = 20_000)]
    pub chunk: u64,
    /// Extra settings for every service, e.g. `SHORTLINE_DATABASE__MAX_CONNECTIONS=20` (repeatable):
    /// to see what a setting changes. Without it the services run with their defaults.
    #[arg(long, value_name = "KEY=VALUE")]
    pub service_env: Vec<String>,
    /// Fresh pipeline jobs run end to end at each size.
    #[arg(long, default_value_t = 5)]
    pub pipeline_jobs: usize,
}

/// The lineage tables whose rows belong to one job, in insertion (foreign key) order; `trends`
/// rows are shared by every job that saw them, and a trend collection (its row, its sightings,
/// the sources' quota counts) by every job that used it.
fn job_tables() -> impl Iterator<Item = &'static str> {
    const SHARED: [&str; 4] = ["trends", "trend_collections", "trend_sightings", "source_quota_usage"];
    shortline_db::TABLES.into_iter().filter(|table| !SHARED.contains(table))
}

pub async fn run(args: &GrowthArgs, json_out: bool) -> anyhow::Result<serde_json::Value> {
    if args.sizes.is_empty() || args.sizes.windows(2).any(|w| w[0] >= w[1]) || args.sizes[0] < 2 {
        bail!("--sizes must be ascending, each at least 2");
    }
    if args.samples == 0 || args.chunk == 0 {
        bail!("--samples and --chunk must be at least 1");
    }
    system::on_fresh_database(&args.database, async |db, dir| measure(args, db, dir, json_out).await).await
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

async fn scalar(pool: &DbPool, sql: String) -> anyhow::Result<i64> {
    let rows = load_rows!(pool, sql, Id);
    Ok(rows.first().map(|r| r.id).unwrap_or(0))
}

async fn measure(args: &GrowthArgs, db: &BenchDb, dir: &Path, json_out: bool) -> anyhow::Result<serde_json::Value> {
    let load_before = system::loadavg();
    let services = System::start(&SystemSpec::new(&db.url, dir, "null").service_env(&args.service_env)?).await?;
    let pool = db.pool()?;
    let client = services.orchestrator_client().await?;
    let template = driver::run_jobs(&client, &pool, 1, 1, Observe::Database).await?;
    let template = template.first().context("no template job")?.id;
    for (table, expected) in [("trend_reports", 1), ("scripts", 1)] {
        let n = scalar(&pool, format!("SELECT COUNT(*) AS id FROM {table} WHERE job_id = {template}")).await?;
        if n != expected {
            bail!("the template job has {n} rows in {table}, expected {expected}");
        }
    }
    let mut shape = serde_json::Map::new();
    for table in job_tables().skip(1) {
        let n = scalar(&pool, format!("SELECT COUNT(*) AS id FROM {table} WHERE job_id = {template}")).await?;
        shape.insert(table.to_owned(), json!(n));
    }
    let postgres = db.backend == Backend::Postgres;
    let superuser = postgres && {
        let rows =
            load_rows!(pool, "SELECT rolsuper AS flag FROM pg_roles WHERE rolname = current_user".to_owned(), Flag);
        rows.first().is_some_and(|r| r.flag)
    };
    let inserts = insert_statements(&pool, postgres).await?;

    let mut results = Vec::new();
    let mut baseline: Option<serde_json::Value> = None;
    for &size in &args.sizes {
        let have = scalar(&pool, "SELECT COUNT(*) AS id FROM jobs WHERE kind = 'pipeline'".to_owned()).await? as u64;
        let started = Instant::now();
        let mut added = 0;
        while have + added < size {
            let k = (size - have - added).min(args.chunk);
            seed_chunk(&pool, &inserts, template, k, postgres, superuser).await?;
            added += k;
            if !json_out {
                eprint!("\rseeding: {} / {size} jobs ({:.0} s)   ", have + added, started.elapsed().as_secs_f64());
            }
        }
        if postgres {
            for table in ["jobs", "trend_reports", "scripts"] {
                execute_sql!(
                    pool,
                    &format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                );
            }
            // What autovacuum would do after such a load.
            execute_sql!(pool, "ANALYZE");
        }
        let seeded_seconds = started.elapsed().as_secs_f64();
        if !json_out {
            eprintln!("\rseeded {added} jobs in {seeded_seconds:.1} s; measuring at {size} jobs ...");
        }
        let result = measure_size(args, &pool, &client, size).await?;
        let result = json!({ "jobs": size, "seeded": added, "seed_seconds": seeded_seconds, "latency_ms": result });
        if baseline.is_none() {
            baseline = Some(result["latency_ms"].clone());
        }
        results.push(result);
    }
    drop(client);
    services.stop().await;

    let ratio = |key: &str, stat: &str| {
        let first = baseline.as_ref().and_then(|b| b[key][stat].as_f64()).unwrap_or(0.0);
        let last = results.last().and_then(|r| r["latency_ms"][key][stat].as_f64()).unwrap_or(0.0);
        if first > 0.0 {
            last / first
        } else {
            0.0
        }
    };
    let keys = [
        "GetJobLineage",
        "ListJobs first page",
        "ListJobs 90% deep",
        "ListJobs review queue",
        "pipeline job end to end",
    ];
    let ratios: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .map(|k| ((*k).to_owned(), json!({ "p50": ratio(k, "p50_ms"), "p99": ratio(k, "p99_ms") })))
        .collect();
    let report = json!({
        "bench": "growth",
        "backend": if postgres { "postgresql" } else { "sqlite" },
        "template_job": template,
        "service_env": args.service_env,
        "rows_per_job": shape,
        "machine": system::machine(),
        "loadavg_before": load_before,
        "loadavg_after": system::loadavg(),
        "results": results,
        "ratio_largest_to_smallest": ratios,
    });
    if !json_out {
        println!(
            "shortline bench growth: {}; each job a copy of a real null-provider job's lineage ({}); load average {} before, {} after",
            report["backend"].as_str().unwrap_or_default(),
            shape.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "),
            load_before,
            report["loadavg_after"].as_str().unwrap_or_default(),
        );
        let mut rows = Vec::new();
        for r in &results {
            for key in keys {
                let l = &r["latency_ms"][key];
                rows.push(vec![
                    r["jobs"].to_string(),
                    key.to_owned(),
                    ms(l["p50_ms"].as_f64().unwrap_or(0.0)),
                    ms(l["p99_ms"].as_f64().unwrap_or(0.0)),
                ]);
            }
        }
        print!("{}", table(&["jobs", "request", "p50", "p99"], &rows));
        println!(
            "largest / smallest size (p50): {}",
            keys.iter().map(|k| format!("{k} {:.2}x", ratio(k, "p50_ms"))).collect::<Vec<_>>().join(", ")
        );
        for r in &results {
            println!("  seeding to {} jobs took {:.1} s", r["jobs"], r["seed_seconds"].as_f64().unwrap_or(0.0));
        }
    }
    Ok(report)
}

/// Latencies at the current size, one request at a time.
async fn measure_size(
    args: &GrowthArgs,
    pool: &DbPool,
    client: &OrchestratorServiceClient<Channel>,
    size: u64,
) -> anyhow::Result<serde_json::Value> {
    let min = scalar(pool, "SELECT MIN(id) AS id FROM jobs WHERE kind = 'pipeline'".to_owned()).await?;
    let max = scalar(pool, "SELECT MAX(id) AS id FROM jobs WHERE kind = 'pipeline'".to_owned()).await?;
    // A full page 90 % of the way down (on a small database: the last full page).
    let deep_token = (max - ((max - min) as f64 * 0.9) as i64).max(min + 51).min(max).to_string();
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15 ^ size);
    let mut client = client.clone();
    let mut out = serde_json::Map::new();
    for key in ["GetJobLineage", "ListJobs first page", "ListJobs 90% deep", "ListJobs review queue"] {
        let mut samples = Vec::with_capacity(args.samples);
        for i in 0..args.samples + 10 {
            let started = Instant::now();
            match key {
                "GetJobLineage" => {
                    let job_id = min + (random.next() % (max - min + 1) as u64) as i64;
                    client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await?;
                }
                "ListJobs first page" => {
                    client.list_jobs(v1::ListJobsRequest::default()).await?;
                }
                "ListJobs 90% deep" => {
                    client
                        .list_jobs(v1::ListJobsRequest { page_token: deep_token.clone(), ..Default::default() })
                        .await?;
                }
                _ => {
                    client
                        .list_jobs(v1::ListJobsRequest {
                            status: v1::JobStatus::AwaitingReview as i32,
                            ..Default::default()
                        })
                        .await?;
                }
            }
            if i >= 10 {
                samples.push(started.elapsed());
            }
        }
        out.insert(key.to_owned(), json!(Summary::of_durations(&samples)));
    }
    let jobs = driver::run_jobs(&client, pool, args.pipeline_jobs.max(1), 1, Observe::Database).await?;
    let first = jobs.iter().map(|j| j.id).min().unwrap_or(0);
    let last = jobs.iter().map(|j| j.id).max().unwrap_or(0);
    let (rows, _) = driver::job_times(pool, first, last).await?;
    let mut e2e: Vec<f64> = jobs
        .iter()
        .filter_map(|j| {
            rows.iter().find(|r| r.id == j.id).map(|r| ms_between(j.sent_at, r.finished_at.unwrap_or(r.updated_at)))
        })
        .collect();
    out.insert("pipeline job end to end".to_owned(), json!(Summary::of(&mut e2e)));
    Ok(out.into())
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// One `INSERT … SELECT` per lineage table, copying the template job's rows; `{JO}`, `{RO}`,
/// `{SO}` (the id offsets of jobs, reports and scripts), `{TPL}` and `{K}` are filled per chunk.
async fn insert_statements(pool: &DbPool, postgres: bool) -> anyhow::Result<Vec<String>> {
    let mut statements = Vec::new();
    for table in job_tables() {
        let sql = if postgres {
            format!(
                "SELECT column_name::TEXT AS name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
            )
        } else {
            format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
        };
        let columns: Vec<String> = load_rows!(pool, sql, Name).into_iter().map(|n| n.name).collect();
        if columns.is_empty() {
            bail!("table {table} not found");
        }
        let mut names = Vec::new();
        let mut values = Vec::new();
        let mut explicit_id = false;
        for column in &columns {
            let value = match (table, column.as_str()) {
                ("jobs", "id") => Some("{JO} + s.g".to_owned()),
                ("trend_reports", "id") => Some("{RO} + s.g".to_owned()),
                ("scripts", "id") => Some("{SO} + s.g".to_owned()),
                (_, "id") => None,
                (_, "job_id") => Some("{JO} + s.g".to_owned()),
                (_, "trend_report_id") => Some("{RO} + s.g".to_owned()),
                (_, "script_id") => Some("{SO} + s.g".to_owned()),
                // The copies use the template's collection, which the template made.
                ("trend_collection_uses", "shared") => Some("TRUE".to_owned()),
                ("jobs", "client_request_id" | "lease_owner" | "lease_token" | "lease_expires_at") => {
                    Some("NULL".to_owned())
                }
                _ => Some(format!("t.{column}")),
            };
            if let Some(value) = value {
                explicit_id |= column == "id";
                names.push(column.clone());
                values.push(value);
            }
        }
        let filter = if table == "jobs" { "t.id = {TPL}" } else { "t.job_id = {TPL}" };
        let cols = names.join(", ");
        let vals = values.join(", ");
        statements.push(if postgres {
            let overriding = if explicit_id { " OVERRIDING SYSTEM VALUE" } else { "" };
            format!("INSERT INTO {table} ({cols}){overriding} SELECT {vals} FROM {table} t CROSS JOIN generate_series(1, {{K}}) AS s(g) WHERE {filter}")
        } else {
            format!(
                "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {{K}}) \
                 INSERT INTO {table} ({cols}) SELECT {vals} FROM {table} t CROSS JOIN s WHERE {filter}"
            )
        });
    }
    Ok(statements)
}

/// Adds `k` copies of the template's lineage in one transaction.
async fn seed_chunk(
    pool: &DbPool,
    inserts: &[String],
    template: i64,
    k: u64,
    postgres: bool,
    superuser: bool,
) -> anyhow::Result<()> {
    let jo = scalar(pool, "SELECT COALESCE(MAX(id), 0) AS id FROM jobs".to_owned()).await?;
    let ro = scalar(pool, "SELECT COALESCE(MAX(id), 0) AS id FROM trend_reports".to_owned()).await?;
    let so = scalar(pool, "SELECT COALESCE(MAX(id), 0) AS id FROM scripts".to_owned()).await?;
    let fill = |s: &str| {
        s.replace("{JO}", &jo.to_string())
            .replace("{RO}", &ro.to_string())
            .replace("{SO}", &so.to_string())
            .replace("{TPL}", &template.to_string())
            .replace("{K}", &k.to_string())
    };
    let body: Vec<String> = inserts.iter().map(|s| fill(s)).collect();
    let batch = if postgres {
        // The copies are consistent by construction: with superuser rights the foreign key
        // triggers are skipped for the load (as pg_restore does), which makes it several times faster.
        let replica = if superuser { "SET LOCAL session_replication_role = replica; " } else { "" };
        format!("BEGIN; {replica}SET LOCAL synchronous_commit = off; {}; COMMIT;", body.join("; "))
    } else {
        format!("PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE; {}; COMMIT; PRAGMA foreign_keys = ON;", body.join("; "))
    };
    execute_sql!(pool, &batch);
    Ok(())
}
