//! Shared trend collections (issue 19): jobs within `pipeline.trend_max_age` use one collection
//! and one report of it, paid for once; jobs starting together make one collection and one
//! analysis of it, on one replica or two; a spent source quota reuses the freshest collection or fails naming it.
//! The YouTube source and the Anthropic analyst are local mocks that count their calls; media
//! are the `null` set's placeholders, so jobs take seconds.

use std::path::Path;
use std::time::Duration;

use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient};
use shortline_testing::http_mock::MockServer;
use shortline_testing::on_both_backends;
use tonic::transport::Channel;

use crate::helpers::{trend_mocks, TestDb};
use crate::pipeline::{small_theme, start_request, wait_for};
use crate::processes::{SystemOptions, TestSystem};

const MODEL: &str = "claude-sonnet-4-5";
/// The mock's report usage at the prices below: 2095 tokens in at $3/M, 503 out at $15/M.
const REPORT_COST: i64 = 6_285 + 7_545;

struct Mocks {
    youtube: MockServer,
    anthropic: MockServer,
}

impl Mocks {
    /// YouTube answers each `search.list`, and the analyst each request, after `delay` (so jobs
    /// started together overlap).
    async fn start(delay: Duration) -> Mocks {
        let youtube = trend_mocks::youtube(delay).await;
        let anthropic = MockServer::start(move |_| trend_mocks::trend_report_answer().with_delay(delay)).await;
        Mocks { youtube, anthropic }
    }

    /// How many collections reached YouTube.
    fn searches(&self) -> usize {
        self.youtube.requests().iter().filter(|r| r.path == "/youtube/v3/search").count()
    }

    fn analyses(&self) -> usize {
        self.anthropic.requests().len()
    }
}

/// YouTube as the only trend source and Anthropic as the analyst, at their mocks; `pipeline`
/// holds extra `[pipeline]` keys, `youtube` extra `[providers.youtube]` keys.
fn options(dir: &Path, mocks: &Mocks, pipeline: &str, youtube: &str) -> SystemOptions {
    options_with_sources(dir, mocks, r#"["youtube"]"#, pipeline, youtube, "")
}

/// [`options`] with the trend sources `trends` (a TOML array) and more sections, `sections`.
fn options_with_sources(
    dir: &Path,
    mocks: &Mocks,
    trends: &str,
    pipeline: &str,
    youtube: &str,
    sections: &str,
) -> SystemOptions {
    let path = dir.join("collections.toml");
    let toml = format!(
        r#"
[pipeline]
{pipeline}

[providers]
set = "null"
trends = {trends}
analyst = "anthropic"

[providers.youtube]
base_url = "{youtube_url}"
{youtube}
[providers.anthropic]
base_url = "{anthropic_url}"

[providers.prices."{MODEL}"]
per_1k_input_tokens = 3000
per_1k_output_tokens = 15000

{sections}
"#,
        youtube_url = mocks.youtube.url(),
        anthropic_url = mocks.anthropic.url(),
    );
    std::fs::write(&path, toml).expect("config file");
    SystemOptions::default()
        .env("SHORTLINE_CONFIG", path.display())
        .env("SHORTLINE_YOUTUBE_API_KEY", "yt-FAKE-KEY-19")
        .env("SHORTLINE_ANTHROPIC_API_KEY", "sk-ant-FAKE-KEY-19")
        .env("SHORTLINE_APIFY_API_KEY", "apify-FAKE-KEY-19")
}

async fn run_job(client: &mut OrchestratorServiceClient<Channel>) -> v1::JobLineage {
    let job = client.start_job(start_request(small_theme(true))).await.expect("start").into_inner();
    lineage_when_done(client, job.id).await
}

async fn lineage_when_done(client: &mut OrchestratorServiceClient<Channel>, job_id: i64) -> v1::JobLineage {
    wait_for(client, job_id, &[v1::JobStatus::Approved], Duration::from_secs(120)).await;
    client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await.expect("lineage").into_inner()
}

fn collection(lineage: &v1::JobLineage) -> &v1::TrendCollection {
    lineage.collection.as_ref().expect("the lineage names its collection")
}

fn job_id(lineage: &v1::JobLineage) -> i64 {
    lineage.job.as_ref().expect("job").id
}

/// Must show: two jobs within trend_max_age use one collection (YouTube called once) and one
/// report (the analyst called once), both lineages show them, and the cost is the first job's.
async fn jobs_within_the_max_age_share_one_collection_and_its_report_paid_once(db: TestDb) {
    let mocks = Mocks::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let system = TestSystem::start_with(db, options(dir.path(), &mocks, "trend_max_age_seconds = 3600", "")).await;
    let mut client = system.orchestrator_client().await;
    let first = run_job(&mut client).await;
    let second = run_job(&mut client).await;

    assert_eq!((mocks.searches(), mocks.analyses()), (1, 1), "one collection and one analysis for two jobs");
    let (made, used) = (collection(&first), collection(&second));
    assert_eq!(made.id, used.id);
    assert_eq!((made.made_by_job_id, made.made_by_schedule), (job_id(&first), false));
    assert_eq!((made.shared, used.shared, used.uses), (false, true, 2));
    assert!(made.trends_seen > 0 && made.quota_json.contains("\"youtube\":101"), "{made:?}");
    let trend_ids = |l: &v1::JobLineage| l.trends.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(trend_ids(&first), trend_ids(&second), "both lineages show the collection's trends");
    assert_eq!(trend_ids(&first).len(), made.trends_seen as usize);

    let (paid, reused) = (first.report.as_ref().expect("report"), second.report.as_ref().expect("report"));
    assert_eq!((paid.job_id, paid.trend_collection_id, paid.reused_from_id), (job_id(&first), made.id, 0));
    assert_eq!((reused.job_id, reused.reused_from_id), (job_id(&second), paid.id));
    assert_eq!((paid.cost_micros, reused.cost_micros), (REPORT_COST, 0), "the analysis is paid once");
    assert_eq!(
        (paid.recommendations.clone(), paid.trend_ids.clone()),
        (reused.recommendations.clone(), reused.trend_ids.clone())
    );
    // The videos' costs count the analysis once too: on the job that paid for it.
    let llm = |l: &v1::JobLineage| l.videos[0].costs.as_ref().expect("costs").llm_micros;
    assert!(
        llm(&first) >= REPORT_COST && llm(&second) == llm(&first) - REPORT_COST,
        "{} {}",
        llm(&first),
        llm(&second)
    );
}

/// Must show: a job after the max age collects anew.
async fn a_job_after_the_max_age_collects_anew(db: TestDb) {
    let mocks = Mocks::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let system = TestSystem::start_with(db, options(dir.path(), &mocks, "trend_max_age_seconds = 1", "")).await;
    let mut client = system.orchestrator_client().await;
    let first = run_job(&mut client).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = run_job(&mut client).await;

    assert_eq!(mocks.searches(), 2);
    assert_ne!(collection(&first).id, collection(&second).id);
    assert_eq!((collection(&second).made_by_job_id, collection(&second).shared), (job_id(&second), false));
    // A new collection is analysed anew.
    assert_eq!(mocks.analyses(), 2);
    assert_eq!(second.report.as_ref().expect("report").reused_from_id, 0);
}

/// Must show: jobs starting at the same moment, on two orchestrator replicas, make one
/// collection: the others wait for it instead of calling YouTube again. They analyse it once
/// too: the others wait for that report and reuse it.
async fn jobs_starting_together_on_two_replicas_make_one_collection(db: TestDb) {
    // YouTube takes a while, so every job starts while the first collection is being made.
    let mocks = Mocks::start(Duration::from_millis(1500)).await;
    let dir = tempfile::tempdir().expect("dir");
    let system = TestSystem::start_with(db, options(dir.path(), &mocks, "trend_max_age_seconds = 3600", "")).await;
    let replica = system.spawn_orchestrator("orchestrator-2", &[]).await;
    let mut clients = [
        system.orchestrator_client().await,
        OrchestratorServiceClient::new(crate::processes::channel(&replica.url()).await),
    ];
    let starts = (0..4).map(|i| {
        let mut client = clients[i % 2].clone();
        async move { client.start_job(start_request(small_theme(true))).await.expect("start").into_inner().id }
    });
    let ids = futures::future::join_all(starts).await;
    let mut collections = Vec::new();
    for id in ids {
        collections.push(collection(&lineage_when_done(&mut clients[0], id).await).clone());
    }
    assert_eq!(mocks.searches(), 1, "one provider call for four jobs");
    assert!(collections.iter().all(|c| c.id == collections[0].id), "{collections:?}");
    assert_eq!(collections.iter().filter(|c| !c.shared).count(), 1, "one job made it, the others shared it");
    assert_eq!(mocks.analyses(), 1, "one analysis for four jobs");
}

/// Must show: a collection the YouTube quota cannot pay for uses the freshest collection.
async fn a_spent_quota_reuses_the_freshest_collection(db: TestDb) {
    let mocks = Mocks::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    // Room for one collection (101 units) a day; any collection is too old for the next job.
    let options = options(dir.path(), &mocks, "trend_max_age_seconds = 1", "daily_quota_units = 150");
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let first = run_job(&mut client).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = run_job(&mut client).await;

    assert_eq!(mocks.searches(), 1, "the quota kept the second collection from YouTube");
    assert_eq!(collection(&second).id, collection(&first).id);
    assert!(collection(&second).shared);
    let log = system.orchestrator.log();
    assert!(log.contains("the youtube daily quota is spent (101 of 150 units used today"), "{log}");
}

/// Starts a job and waits for it to fail in its trend collection.
async fn failed_collection(client: &mut OrchestratorServiceClient<Channel>) -> v1::Job {
    let job = client.start_job(start_request(small_theme(true))).await.expect("start").into_inner();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job = client.get_job(v1::GetJobRequest { job_id: job.id }).await.expect("job").into_inner();
        if job.status() == v1::JobStatus::Failed {
            assert_eq!(job.failed_stage(), v1::Stage::TrendCollection);
            return job;
        }
        assert!(tokio::time::Instant::now() < deadline, "job still {:?}", job.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A collection that one source's quota refuses calls no source, and gives the sources charged
/// before it their units back (YouTube is charged first, then Apify's runs are found spent).
async fn a_collection_one_quota_refuses_gives_the_other_quotas_back(db: TestDb) {
    let mocks = Mocks::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let trends = r#"["youtube", "apify_tiktok"]"#;
    let options = options_with_sources(dir.path(), &mocks, trends, "", "", "[providers.apify]\ndaily_runs = 0");
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let failed = failed_collection(&mut client).await;
    assert!(failed.error.contains("the apify daily quota is spent"), "{}", failed.error);
    assert_eq!(mocks.searches(), 0);
    let today = shortline_db::now().format("%Y-%m-%d").to_string();
    let mut pooled = system.db.conn().await;
    let used = shortline_db::trend_collections::quota_used(&mut pooled.conn(), "youtube", &today).await.expect("used");
    assert_eq!(used, 0, "YouTube's 101 units are given back");
}

/// Must show: with the quota spent and no collection to fall back on, the job fails naming it.
async fn a_spent_quota_without_a_collection_fails_naming_the_quota(db: TestDb) {
    let mocks = Mocks::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let system = TestSystem::start_with(db, options(dir.path(), &mocks, "", "daily_quota_units = 100")).await;
    let mut client = system.orchestrator_client().await;
    let failed = failed_collection(&mut client).await;
    assert!(
        failed.error.contains("the youtube daily quota is spent (0 of 100 units used today, a collection needs 101)"),
        "{}",
        failed.error
    );
    assert_eq!(mocks.searches(), 0);
}

on_both_backends!(
    jobs_within_the_max_age_share_one_collection_and_its_report_paid_once,
    a_job_after_the_max_age_collects_anew,
    jobs_starting_together_on_two_replicas_make_one_collection,
    a_spent_quota_reuses_the_freshest_collection,
    a_spent_quota_without_a_collection_fails_naming_the_quota,
    a_collection_one_quota_refuses_gives_the_other_quotas_back,
);
