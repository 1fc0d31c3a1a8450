//! The benchmark commands (issue 6) at small sizes: CI proves that each one runs against the real
//! services and reports every figure it promises. The figures themselves, taken at full size on
//! the reference machine, are in docs/BENCHMARKS.md.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::postgres_server_url;
use crate::processes::shortline_binary;

/// `shortline --json bench ARGS`, to completion; its JSON report.
async fn bench(args: &[&str]) -> Value {
    let mut command = tokio::process::Command::new(shortline_binary());
    command
        .arg("--json")
        .arg("bench")
        .args(args)
        .env_remove("SHORTLINE_CONFIG")
        .env_remove("SHORTLINE_DATABASE__URL")
        .env_remove("SHORTLINE_DATA_DIR")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .unwrap_or_else(|_| panic!("`shortline bench {}` did not finish within 10 minutes", args.join(" ")))
        .expect("run shortline bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`shortline bench {}` failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        args.join(" ")
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n--- stderr\n{stderr}"))
}

fn number(report: &Value, pointer: &str) -> f64 {
    report.pointer(pointer).and_then(Value::as_f64).unwrap_or_else(|| panic!("{pointer} is missing from {report:#}"))
}

/// Every service's idle and peak memory was read from /proc.
fn assert_memory(report: &Value) {
    for service in ["orchestrator", "scriptgen", "composer"] {
        let idle = number(report, &format!("/memory/{service}/idle_rss_kib"));
        let peak = number(report, &format!("/memory/{service}/peak_rss_kib"));
        assert!(idle > 1_000.0 && peak >= idle, "{service}: idle {idle} KiB, peak {peak} KiB");
    }
}

fn assert_pipeline(report: &Value, jobs: u64) {
    assert_eq!(report["ended"]["approved"].as_u64(), Some(jobs), "every job is approved: {:#}", report["ended"]);
    assert!(number(report, "/throughput_jobs_per_second") > 0.0);
    for stat in ["p50_ms", "p95_ms", "p99_ms"] {
        assert!(number(report, &format!("/latency_ms/{stat}")) > 0.0, "{stat}");
    }
    let parts: Vec<&str> =
        report["breakdown"].as_array().expect("breakdown").iter().filter_map(|p| p["part"].as_str()).collect();
    for stage in
        ["trend_collection", "trend_analysis", "script_generation", "media_generation", "composition", "review"]
    {
        assert!(parts.contains(&stage), "the breakdown names {stage}: {parts:?}");
    }
    assert_memory(report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_on_sqlite() {
    let report = bench(&["pipeline", "--jobs", "20", "--concurrency", "4", "--warmup", "2", "--export"]).await;
    assert_eq!(report["backend"], "sqlite");
    assert_pipeline(&report, 20);
    // Export on: the bench's OTLP receiver got the jobs' spans, the lineage file their events
    // (a job and its five stage runs start and complete: 12 events; the counts straddle the
    // measured phase's edges a little).
    assert!(number(&report, "/export/spans_per_job") > 10.0, "{:#}", report["export"]);
    assert!(number(&report, "/export/otlp_requests") >= 1.0, "{:#}", report["export"]);
    assert!(number(&report, "/export/lineage_events_per_job") >= 11.0, "{:#}", report["export"]);
    // No server to count at: said so, with the reason.
    assert_eq!(report["statements"]["source"], "n/a");
    assert!(report["statements"]["why"].as_str().is_some_and(|why| why.contains("SQLite")));
    assert_eq!(report["transactions"]["source"], "n/a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_on_postgres() {
    let server = postgres_server_url();
    let report = bench(&[
        "pipeline",
        "--jobs",
        "20",
        "--concurrency",
        "4",
        "--warmup",
        "2",
        "--database",
        &server,
        "--count-jobs",
        "8",
        "--stats-settle-ms",
        "1500",
    ])
    .await;
    assert_eq!(report["backend"], "postgresql");
    assert_pipeline(&report, 20);
    assert_eq!(report["export"], "off");
    assert!(report["transactions"]["source"].as_str().is_some_and(|s| s.contains("pg_stat_database")));
    assert!(number(&report, "/statements/per_job") > 10.0, "{:#}", report["statements"]);
    if report["statements"]["by_service"].is_object() {
        // Counted on the wire: per service, with round trips and the pool's checkout pings.
        for service in ["orchestrator", "scriptgen", "composer"] {
            assert!(
                number(&report, &format!("/statements/by_service/{service}/statements_per_job")) > 0.0,
                "{service}"
            );
        }
        assert!(
            number(&report, "/statements/round_trips_per_job") >= number(&report, "/statements/transactions_per_job")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_at_tiny_counts() {
    let report = bench(&["rpc", "--seed-jobs", "4", "--requests", "12", "--concurrency", "1,4"]).await;
    let results = report["results"].as_array().expect("results");
    let mut seen = Vec::new();
    for r in results {
        assert_eq!(r["requests"].as_u64(), Some(12));
        assert_eq!(r["latency_ms"]["count"].as_u64(), Some(12), "{r:#}");
        assert!(
            number(r, "/latency_ms/p50_ms") > 0.0 && number(r, "/latency_ms/p99_ms") >= number(r, "/latency_ms/p50_ms")
        );
        assert!(number(r, "/throughput_per_second") > 0.0);
        seen.push((r["rpc"].as_str().unwrap_or_default().to_owned(), r["concurrency"].as_u64().unwrap_or_default()));
    }
    for rpc in ["GetJob", "ListJobs", "GetJobLineage"] {
        for concurrency in [1, 4] {
            assert!(seen.contains(&(rpc.to_owned(), concurrency)), "{rpc} at {concurrency}: {seen:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_small() {
    let report = bench(&["compose", "--small", "--repeat", "1"]).await;
    assert_eq!(report["input"]["width"].as_u64(), Some(360));
    assert_eq!(report["input"]["overlays"].as_u64(), Some(6));
    assert!(number(&report, "/compose_video_median_seconds") > 0.0);
    assert!(number(&report, "/plain_ffmpeg_median_seconds") > 0.0);
    assert!(number(&report, "/render_engine_median_seconds") > 0.0);
    assert!(number(&report, "/ratio_median") > 0.0);
    // ComposeVideo made the real thing: a 6 s 360x640 video.
    assert_eq!(report["video"]["width"].as_i64(), Some(360));
    assert!((number(&report, "/video/duration_seconds") - 6.0).abs() < 0.5, "{:#}", report["video"]);
    assert!(report["plain_command"]
        .as_str()
        .is_some_and(|c| c.starts_with("ffmpeg ") && c.contains("-preset veryfast -crf 23")));
}

async fn growth(database: Option<&str>) {
    let mut args = vec!["growth", "--sizes", "100,1000", "--samples", "5", "--chunk", "400", "--pipeline-jobs", "1"];
    if let Some(database) = database {
        args.extend(["--database", database]);
    }
    let report = bench(&args).await;
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.iter().map(|r| r["jobs"].as_u64().unwrap_or_default()).collect::<Vec<_>>(), [100, 1000]);
    for r in results {
        for key in [
            "GetJobLineage",
            "ListJobs first page",
            "ListJobs 90% deep",
            "ListJobs review queue",
            "pipeline job end to end",
        ] {
            assert!(number(r, &format!("/latency_ms/{key}/p50_ms")) > 0.0, "{key} at {}", r["jobs"]);
        }
    }
    // Each seeded job carries a whole lineage, copied from a real one; it uses the real job's
    // trend collection (whose sightings are the collection's, not each job's).
    for table in ["job_stages", "trend_collection_uses", "trend_report_items", "scripts", "media_assets", "videos"] {
        assert!(number(&report, &format!("/rows_per_job/{table}")) >= 1.0, "{table}");
    }
    assert!(number(&report, "/ratio_largest_to_smallest/GetJobLineage/p50") > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growth_on_sqlite() {
    growth(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growth_on_postgres() {
    growth(Some(&postgres_server_url())).await;
}
