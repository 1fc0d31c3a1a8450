//! Only the right users get in (issue 15): with `auth.tokens_file` set, every orchestrator RPC
//! answers exactly as the caller's token and role allow, a refused call writes nothing, the
//! user who started a job and the one who reviewed its video are on their rows, and a changed
//! token file is used without a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::Message as _;
use shortline_config::BearerToken;
use shortline_config::TlsConfig;
use shortline_grpc::auth::hash_token;
use shortline_proto::v1;
use shortline_proto::v1::orchestrator_service_client::OrchestratorServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::bad_input::all_counts;
use crate::helpers::TestDb;
use crate::pipeline::{approval, small_theme, start_request, wait_for};
use crate::processes::{channel, SystemOptions, TestSystem};
use shortline_testing::on_both_backends;

type Client = OrchestratorServiceClient<InterceptedService<Channel, BearerToken>>;

/// The users of the token file: name, role, token.
const USERS: [(&str, &str, &str); 4] = [
    ("vera", "viewer", "token-of-vera"),
    ("olga", "operator", "token-of-olga"),
    ("rita", "reviewer", "token-of-rita"),
    ("adam", "admin", "token-of-adam"),
];

/// The callers of the table, in its column order: no token, then the users of [`USERS`].
const CALLERS: [Option<&str>; 5] =
    [None, Some("token-of-vera"), Some("token-of-olga"), Some("token-of-rita"), Some("token-of-adam")];

/// Every RPC and its outcome for each of [`CALLERS`]: `U` UNAUTHENTICATED, `D` PERMISSION_DENIED,
/// `A` admitted (the handler answers the deliberately bad request: INVALID_ARGUMENT, or
/// NOT_FOUND for the latest report of an empty database).
const TABLE: [(&str, &str); 13] = [
    //                       none vera olga rita adam
    ("StartJob", "U D A D A"),
    ("GetJob", "U A A A A"),
    ("ListJobs", "U A A A A"),
    ("WatchJob", "U A A A A"),
    ("CancelJob", "U D A D A"),
    ("RetryJob", "U D A D A"),
    ("GetJobLineage", "U A A A A"),
    ("ReviewVideo", "U D D A A"),
    ("CollectTrends", "U D A D A"),
    ("ListTrends", "U A A A A"),
    ("AnalyzeTrends", "U D A D A"),
    ("ListTrendReports", "U A A A A"),
    ("GetLatestTrendReport", "U A A A A"),
];

async fn client(system: &TestSystem, token: Option<&str>) -> Client {
    let token = BearerToken::new(token).expect("token");
    OrchestratorServiceClient::with_interceptor(channel(&system.orchestrator.url()).await, token)
}

/// Calls `method` with a request its handler refuses (so an admitted call writes nothing
/// either) and returns the status code.
async fn call(client: &mut Client, method: &str) -> Code {
    let outcome = match method {
        "StartJob" => client.start_job(v1::StartJobRequest::default()).await.map(drop),
        "GetJob" => client.get_job(v1::GetJobRequest { job_id: 0 }).await.map(drop),
        "ListJobs" => client.list_jobs(v1::ListJobsRequest { page_size: -1, ..Default::default() }).await.map(drop),
        "WatchJob" => client.watch_job(v1::WatchJobRequest { job_id: 0 }).await.map(drop),
        "CancelJob" => client.cancel_job(v1::CancelJobRequest { job_id: 0, reason: String::new() }).await.map(drop),
        "RetryJob" => client.retry_job(v1::RetryJobRequest { job_id: 0, from_stage: 0 }).await.map(drop),
        "GetJobLineage" => client.get_job_lineage(v1::GetJobLineageRequest { job_id: 0 }).await.map(drop),
        "ReviewVideo" => {
            client.review_video(v1::ReviewVideoRequest { job_id: 0, ..Default::default() }).await.map(drop)
        }
        "CollectTrends" => client
            .collect_trends(v1::CollectTrendsRequest { platforms: vec![], limit_per_platform: -1 })
            .await
            .map(drop),
        "ListTrends" => {
            client.list_trends(v1::ListTrendsRequest { page_size: 100_000, ..Default::default() }).await.map(drop)
        }
        "AnalyzeTrends" => {
            client.analyze_trends(v1::AnalyzeTrendsRequest { window_hours: -1, max_trends: 0 }).await.map(drop)
        }
        "ListTrendReports" => client
            .list_trend_reports(v1::ListTrendReportsRequest { page_size: 0, page_token: "-".into() })
            .await
            .map(drop),
        "GetLatestTrendReport" => client.get_latest_trend_report(v1::GetLatestTrendReportRequest {}).await.map(drop),
        other => panic!("no probe for {other}"),
    };
    outcome.err().map_or(Code::Ok, |status| status.code())
}

fn expected(method: &str, letter: &str) -> Code {
    match letter {
        "U" => Code::Unauthenticated,
        "D" => Code::PermissionDenied,
        "A" if method == "GetLatestTrendReport" => Code::NotFound,
        "A" => Code::InvalidArgument,
        other => panic!("unknown outcome {other}"),
    }
}

/// `dir/tokens.toml`, the orchestrator's token file: each `(name, role, token)` of `users` with
/// the token's hash.
pub(crate) fn write_tokens_file(dir: &Path, users: &[(&str, &str, &str)]) -> PathBuf {
    let entries: String = users
        .iter()
        .map(|(name, role, token)| {
            format!("[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n", hash_token(token))
        })
        .collect();
    let path = dir.join("tokens.toml");
    std::fs::write(&path, entries).expect("write the token file");
    path
}

async fn each_rpc_answers_each_role_exactly_and_refusals_write_nothing(db: TestDb) {
    let secrets = tempfile::tempdir().expect("tempdir");
    let tokens_file = write_tokens_file(secrets.path(), &USERS);
    let options = SystemOptions::default().orchestrator_env("SHORTLINE_AUTH__TOKENS_FILE", tokens_file.display());
    let system = TestSystem::start_with(db, options).await;

    // The table covers every method of the service, no more.
    let set = prost_types::FileDescriptorSet::decode(shortline_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut methods: Vec<&str> = set
        .file
        .iter()
        .flat_map(|file| file.service.iter())
        .filter(|service| service.name() == "OrchestratorService")
        .flat_map(|service| service.method.iter().map(|method| method.name()))
        .collect();
    methods.sort_unstable();
    let mut tabled: Vec<&str> = TABLE.iter().map(|(method, _)| *method).collect();
    tabled.sort_unstable();
    assert_eq!(tabled, methods);

    let before = all_counts(&system).await;
    for (method, row) in TABLE {
        for (caller, letter) in CALLERS.iter().zip(row.split(' ')) {
            let mut client = client(&system, *caller).await;
            let code = call(&mut client, method).await;
            assert_eq!(code, expected(method, letter), "{method} as {caller:?}");
        }
        let mut wrong = client(&system, Some("not-a-known-token")).await;
        assert_eq!(call(&mut wrong, method).await, Code::Unauthenticated, "{method} with an unknown token");
    }
    assert_eq!(all_counts(&system).await, before, "refused and rejected calls wrote nothing");

    // Health stays open for probes.
    let mut health = HealthClient::new(channel(&system.orchestrator.url()).await);
    health.check(HealthCheckRequest { service: String::new() }).await.expect("health needs no token");

    // A real job: the operator starts it, the viewer may not approve it, the reviewer does.
    let mut olga = client(&system, Some("token-of-olga")).await;
    let job = olga.start_job(start_request(small_theme(false))).await.expect("the operator starts a job").into_inner();
    assert_eq!(job.started_by, "olga");
    let job = wait_for(&mut olga, job.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;
    let lineage =
        olga.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner();
    let video = lineage.videos.first().expect("a video");
    let review = approval(job.id, video.id, "ship it");
    let mut vera = client(&system, Some("token-of-vera")).await;
    let refused = vera.review_video(review.clone()).await.expect_err("a viewer may not review");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let mut rita = client(&system, Some("token-of-rita")).await;
    let approved = rita.review_video(review).await.expect("the reviewer approves").into_inner();
    assert_eq!(approved.status(), v1::JobStatus::Approved);
    assert_eq!(approved.started_by, "olga");
    let lineage =
        rita.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner();
    assert_eq!(lineage.videos[0].reviewed_by, "rita");

    // The rows themselves.
    let mut pooled = system.db.conn().await;
    let rows = shortline_db::lineage::for_job(&mut pooled.conn(), job.id).await.expect("rows");
    assert_eq!(rows.job.started_by.as_deref(), Some("olga"));
    assert_eq!(rows.videos[0].reviewed_by.as_deref(), Some("rita"));

    // The Secret is updated while the orchestrator runs: vera is revoked, nina added. The next
    // calls know it, on connections opened before the change as well.
    write_tokens_file(secrets.path(), &[USERS[1], USERS[2], USERS[3], ("nina", "viewer", "token-of-nina-new")]);
    assert_eq!(call(&mut vera, "GetJob").await, Code::Unauthenticated, "a revoked token is refused");
    let mut nina = client(&system, Some("token-of-nina-new")).await;
    assert_eq!(call(&mut nina, "GetJob").await, Code::InvalidArgument, "an added token is admitted");
    assert_eq!(call(&mut nina, "StartJob").await, Code::PermissionDenied, "with its role");
}

on_both_backends!(each_rpc_answers_each_role_exactly_and_refusals_write_nothing);

/// The callers of the table over TLS: the five of [`CALLERS`] (a token, no certificate), then a
/// certificate of an identity no service admits, then the composer's and the orchestrator's
/// certificates (no token).
const TLS_CALLERS: [&str; 8] = ["none", "vera", "olga", "rita", "adam", "intruder", "composer", "orchestrator"];

/// Scriptgen's and composer's RPCs: only the services that call them get in, by the identity in
/// their client certificate; a token is no identity (`U`: no certificate), another identity is
/// PERMISSION_DENIED, and composer admits only the orchestrator (a video is reviewed only through
/// it). The orchestrator's rows are [`TABLE`]'s, and a service certificate without a token is
/// UNAUTHENTICATED there.
const SERVICE_TABLE: [(&str, &str, &str); 9] = [
    //                                     none vera olga rita adam intruder composer orchestrator
    ("ScriptService", "GenerateScript", "U U U U U D A A"),
    ("ScriptService", "GenerateMedia", "U U U U U D A A"),
    ("ScriptService", "GetScript", "U U U U U D A A"),
    ("ScriptService", "ListScripts", "U U U U U D A A"),
    ("ScriptService", "ListMediaAssets", "U U U U U D A A"),
    ("ComposerService", "ComposeVideo", "U U U U U D D A"),
    ("ComposerService", "ReviewVideo", "U U U U U D D A"),
    ("ComposerService", "ListVideos", "U U U U U D D A"),
    ("ComposerService", "GetVideo", "U U U U U D D A"),
];

/// The methods of `service` in the contract, sorted.
fn methods_of(service: &str) -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(shortline_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut methods: Vec<String> = set
        .file
        .iter()
        .flat_map(|file| file.service.iter())
        .filter(|s| s.name() == service)
        .flat_map(|s| s.method.iter().map(|method| method.name().to_owned()))
        .collect();
    methods.sort_unstable();
    methods
}

/// Calls scriptgen's or composer's `method` with a request its handler refuses (job 0), so an
/// admitted call answers INVALID_ARGUMENT and writes nothing.
async fn call_service(channel: Channel, token: BearerToken, service: &str, method: &str) -> Code {
    use shortline_proto::v1::composer_service_client::ComposerServiceClient;
    use shortline_proto::v1::script_service_client::ScriptServiceClient;
    let mut s = ScriptServiceClient::with_interceptor(channel.clone(), token.clone());
    let mut c = ComposerServiceClient::with_interceptor(channel, token);
    let outcome = match (service, method) {
        ("ScriptService", "GenerateScript") => s.generate_script(v1::GenerateScriptRequest::default()).await.map(drop),
        ("ScriptService", "GenerateMedia") => s.generate_media(v1::GenerateMediaRequest::default()).await.map(drop),
        ("ScriptService", "GetScript") => s.get_script(v1::GetScriptRequest::default()).await.map(drop),
        ("ScriptService", "ListScripts") => s.list_scripts(v1::ListScriptsRequest::default()).await.map(drop),
        ("ScriptService", "ListMediaAssets") => {
            s.list_media_assets(v1::ListMediaAssetsRequest::default()).await.map(drop)
        }
        ("ComposerService", "ComposeVideo") => c.compose_video(v1::ComposeVideoRequest::default()).await.map(drop),
        ("ComposerService", "ReviewVideo") => c.review_video(v1::ComposerReviewVideoRequest::default()).await.map(drop),
        ("ComposerService", "ListVideos") => c.list_videos(v1::ListVideosRequest::default()).await.map(drop),
        ("ComposerService", "GetVideo") => c.get_video(v1::GetVideoRequest::default()).await.map(drop),
        other => panic!("no probe for {other:?}"),
    };
    outcome.err().map_or(Code::Ok, |status| status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_of_the_three_services_answers_each_caller_exactly_over_mutual_tls() {
    use crate::mtls::TestCa;
    let certs = tempfile::tempdir().expect("tempdir");
    let dir = certs.path();
    let ca = TestCa::new(dir);
    let tokens_file = write_tokens_file(dir, &USERS);
    let options = ca.system_options(dir).orchestrator_env("SHORTLINE_AUTH__TOKENS_FILE", tokens_file.display());
    let system = TestSystem::start_with(TestDb::sqlite().await, options).await;
    let intruder = ca.issue(dir, "intruder");

    // Each caller's TLS settings and token.
    let user = TlsConfig { ca_file: Some(dir.join("ca.pem")), ..TlsConfig::default() };
    let identity = |name: &str| TlsConfig {
        cert_file: Some(dir.join(format!("{name}.crt"))),
        key_file: Some(dir.join(format!("{name}.key"))),
        ca_file: Some(dir.join("ca.pem")),
    };
    let caller = |index: usize| -> (TlsConfig, BearerToken) {
        match TLS_CALLERS[index] {
            "intruder" => (intruder.clone(), BearerToken::default()),
            name @ ("composer" | "orchestrator") => (identity(name), BearerToken::default()),
            _ => (user.clone(), BearerToken::new(CALLERS[index]).expect("token")),
        }
    };
    let connect = |url: String, tls: TlsConfig| async move {
        shortline_grpc::tls::endpoint(&url, &tls).expect("endpoint").connect().await.expect("connect")
    };

    for service in ["ScriptService", "ComposerService"] {
        let mut tabled: Vec<String> =
            SERVICE_TABLE.iter().filter(|(s, _, _)| *s == service).map(|(_, m, _)| (*m).to_owned()).collect();
        tabled.sort_unstable();
        assert_eq!(tabled, methods_of(service), "the table covers every method of {service}");
    }

    let before = all_counts(&system).await;
    for (method, row) in TABLE {
        let row = format!("{row} U U U");
        for (index, letter) in row.split(' ').enumerate() {
            let (tls, token) = caller(index);
            let channel = connect(system.orchestrator.url(), tls).await;
            let code = call(&mut OrchestratorServiceClient::with_interceptor(channel, token), method).await;
            assert_eq!(code, expected(method, letter), "OrchestratorService/{method} as {}", TLS_CALLERS[index]);
        }
    }
    for (service, method, row) in SERVICE_TABLE {
        let url = if service == "ScriptService" { system.scriptgen.url() } else { system.composer.url() };
        for (index, letter) in row.split(' ').enumerate() {
            let (tls, token) = caller(index);
            let code = call_service(connect(url.clone(), tls).await, token, service, method).await;
            assert_eq!(code, expected(method, letter), "{service}/{method} as {}", TLS_CALLERS[index]);
        }
    }
    assert_eq!(all_counts(&system).await, before, "refused and rejected calls wrote nothing");
}
