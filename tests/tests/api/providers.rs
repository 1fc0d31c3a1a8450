//! A full pipeline with every kind of real provider, each pointed at a local mock server that
//! answers as the real API documents and checks what it is sent: trends from the YouTube Data
//! API, the trend report and the production plan from the Anthropic Messages API, the
//! voiceover from OpenAI (which answers 402, so the chain fails over) then ElevenLabs, and the
//! clips from fal.ai's Kling queue, downloaded from a CDN as real MP4 files. The job completes;
//! every row records provider, usage and cost; the video's costs are their sums by kind. Then
//! the keys (distinctive fakes) are searched for in the services' logs (at debug level), every
//! error message and every row of every table: none appears. Also: a budget too small for the
//! plan, a provider refusing its key, and `shortline providers`.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use shortline_db::{self as db, AssetKind};
use shortline_grpc::convert;
use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient};
use shortline_scriptgen::planner::{Planner, TemplatePlanner};
use shortline_testing::http_mock::{MockResponse, MockServer, RecordedRequest};
use shortline_testing::media::{mp4, pcm};
use shortline_testing::providers::{anthropic_tool_answer, fal_queue};
use tonic::transport::Channel;

use crate::helpers::{trend_mocks, TestDb};
use crate::pipeline::{small_theme, start_request, wait_for};
use crate::processes::{SystemOptions, TestSystem};
use shortline_testing::on_both_backends;

/// One fake key per provider, each distinctive enough to be found anywhere it leaks.
const KEYS: [(&str, &str); 5] = [
    ("SHORTLINE_YOUTUBE_API_KEY", "yt-FAKE-KEY-5e1f0c9b8a7d"),
    ("SHORTLINE_ANTHROPIC_API_KEY", "sk-ant-FAKE-KEY-2b4d6f8a0c1e"),
    ("SHORTLINE_OPENAI_API_KEY", "sk-openai-FAKE-KEY-9c8b7a6d5e4f"),
    ("SHORTLINE_ELEVENLABS_API_KEY", "el-FAKE-KEY-3a5c7e9b1d2f"),
    ("SHORTLINE_FAL_API_KEY", "fal-FAKE-KEY-8f6e4d2c0b9a"),
];

fn key(variable: &str) -> &'static str {
    KEYS.iter().find(|(v, _)| *v == variable).map(|(_, k)| *k).expect("a test key")
}

const MODEL: &str = "claude-sonnet-4-5";
const KLING: &str = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video";

/// The answers' token usage and the prices below, in micro-USD.
const REPORT_COST: i64 = 6_285 + 7_545; // 2095 in at $3/M, 503 out at $15/M
const PLAN_COST: i64 = 4_500 + 13_500; // 1500 in, 900 out
const CLIP_COST: i64 = 250_000; // 5 generated seconds at $0.05
const TTS_PER_1K_CHARACTERS: i64 = 300_000;

struct Mocks {
    youtube: MockServer,
    anthropic: MockServer,
    openai: MockServer,
    elevenlabs: MockServer,
    fal: MockServer,
    cdn: MockServer,
}

async fn mocks(plan: &shortline_domain::ProductionPlan) -> Mocks {
    let youtube = trend_mocks::youtube(Duration::ZERO).await;

    // One Anthropic endpoint for both LLM roles, told apart by the tool the request forces.
    let plan_value = serde_json::to_value(plan).expect("plan json");
    let anthropic = MockServer::start(move |r| match r.json()["tool_choice"]["name"].as_str() {
        Some("trend_report") => trend_mocks::trend_report_answer(),
        Some("production_plan") => anthropic_tool_answer("production_plan", plan_value.clone(), 1500, 900),
        _ => MockResponse::json(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "no tool"}}),
        ),
    })
    .await;

    // OpenAI is out of credits and echoes the key it was given: the chain moves on.
    let openai_key = key("SHORTLINE_OPENAI_API_KEY");
    let openai = MockServer::start(move |_| {
        MockResponse::json(
            402,
            json!({"error": {"message": format!("Billing hard limit reached for key {openai_key}"), "type": "billing", "code": null}}),
        )
    })
    .await;
    // ElevenLabs speaks as long as the plan, times every character it was sent (evenly) and
    // bills them.
    let seconds = plan.duration_seconds;
    let speech = base64::engine::general_purpose::STANDARD.encode(pcm(seconds));
    let elevenlabs = MockServer::start(move |r| {
        let characters: Vec<String> = r.json()["text"].as_str().unwrap_or_default().chars().map(String::from).collect();
        let step = seconds / characters.len().max(1) as f64;
        let starts: Vec<f64> = (0..characters.len()).map(|i| i as f64 * step).collect();
        let ends: Vec<f64> = starts.iter().map(|s| s + step).collect();
        let count = characters.len();
        let answer = json!({
            "audio_base64": speech,
            "alignment": {"characters": characters, "character_start_times_seconds": starts, "character_end_times_seconds": ends},
        });
        MockResponse::json(200, answer).with_header("x-character-count", &count.to_string())
    })
    .await;

    let video = mp4(2.0, 320, 568);
    let cdn = MockServer::start(move |_| MockResponse::bytes(200, "video/mp4", video.clone())).await;
    let cdn_url = cdn.url();
    let fal = fal_queue(cdn_url).await;
    Mocks { youtube, anthropic, openai, elevenlabs, fal, cdn }
}

/// The config file of the three services: every real provider at its mock, with prices. Keys
/// are not in it; they come from the environment.
fn config_file(dir: &Path, mocks: &Mocks) -> String {
    let path = dir.join("providers.toml");
    let toml = format!(
        r#"
[providers]
trends = ["youtube"]
analyst = "anthropic"
planner = "anthropic"
voice = ["openai", "elevenlabs"]
clips = ["fal_kling"]

[providers.http]
backoff_initial_ms = 1
backoff_max_ms = 5
poll_interval_ms = 10

[providers.youtube]
base_url = "{youtube}"
[providers.anthropic]
base_url = "{anthropic}"
[providers.openai]
base_url = "{openai}"
[providers.elevenlabs]
base_url = "{elevenlabs}"
voice_id = "VOICE"
[providers.fal]
base_url = "{fal}"

[providers.prices."{MODEL}"]
per_1k_input_tokens = 3000
per_1k_output_tokens = 15000
[providers.prices."tts-1"]
per_1k_characters = 15000
[providers.prices.eleven_multilingual_v2]
per_1k_characters = {TTS_PER_1K_CHARACTERS}
[providers.prices."{KLING}"]
per_second = 50000
"#,
        youtube = mocks.youtube.url(),
        anthropic = mocks.anthropic.url(),
        openai = mocks.openai.url(),
        elevenlabs = mocks.elevenlabs.url(),
        fal = mocks.fal.url(),
    );
    std::fs::write(&path, toml).expect("config file");
    path.display().to_string()
}

/// The services with every real provider at its mock (config file in `dir`) and every key in
/// their environment.
fn system_options(dir: &Path, mocks: &Mocks) -> SystemOptions {
    let options = SystemOptions::default().env("SHORTLINE_CONFIG", config_file(dir, mocks));
    KEYS.iter().fold(options, |options, (variable, key)| options.env(variable, key))
}

/// Every row of every table as text: PostgreSQL's `row_to_json` of each; for SQLite, the
/// database file and its WAL themselves.
async fn database_text(db: &TestDb) -> String {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    if let Some(file) = db.url.strip_prefix("sqlite://") {
        let read =
            |path: String| std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        return format!("{}\n{}", read(file.to_owned()), read(format!("{file}-wal")));
    }
    let mut text = String::new();
    let mut pooled = db.conn().await;
    for table in shortline_db::TABLES {
        let query = diesel::sql_query(format!("SELECT row_to_json(t)::text AS row FROM {table} t"));
        let rows: Vec<Row> = shortline_db::dispatch!(&mut pooled.conn(), c => query.load(c).await).expect("rows");
        for row in rows {
            text.push_str(&row.row);
            text.push('\n');
        }
    }
    text
}

/// Polls the job until it fails; panics if it gets to review or runs out of time first.
async fn wait_for_failure(client: &mut OrchestratorServiceClient<Channel>, job_id: i64) -> v1::Job {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let job = client.get_job(v1::GetJobRequest { job_id }).await.expect("job").into_inner();
        match job.status() {
            v1::JobStatus::Failed => return job,
            v1::JobStatus::AwaitingReview | v1::JobStatus::Approved => panic!("job {job_id} did not fail"),
            status => assert!(tokio::time::Instant::now() < deadline, "job {job_id} still {status:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[track_caller]
fn assert_no_key(what: &str, text: &str) {
    for (variable, key) in KEYS {
        assert!(!text.contains(key), "the key of {variable} appears in {what}");
    }
}

async fn a_job_with_every_real_provider_completes_with_its_costs_and_no_key_leaks(db: TestDb) {
    let theme = small_theme(false);
    let plan = TemplatePlanner.plan(&convert::theme_from(&theme, "theme").expect("theme"), None, 1).expect("plan");
    let mocks = mocks(&plan).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Debug logs, HTTP libraries included: a key in any of them would show.
    let options = system_options(dir.path(), &mocks).env("SHORTLINE_TELEMETRY__FILTER", "debug");
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(theme)).await.expect("start").into_inner();
    let job = wait_for(&mut client, job.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;

    // Trends: YouTube, with the key as its `key` parameter.
    let searches = mocks.youtube.requests();
    assert_eq!(searches[0].path, "/youtube/v3/search");
    assert!(searches.iter().all(|r| r.query_param("key").as_deref() == Some(key("SHORTLINE_YOUTUBE_API_KEY"))));
    // Analysis, then the plan: Anthropic, each forcing its tool.
    let llm = mocks.anthropic.requests();
    let tools: Vec<_> =
        llm.iter().map(|r| r.json()["tool_choice"]["name"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(tools, ["trend_report", "production_plan"]);
    assert!(llm.iter().all(|r| r.path == "/v1/messages"
        && r.header("x-api-key") == Some(key("SHORTLINE_ANTHROPIC_API_KEY"))
        && r.header("anthropic-version") == Some("2023-06-01")
        && r.json()["model"] == MODEL));
    assert!(
        llm[0].json()["messages"][0]["content"].as_str().unwrap_or_default().contains("youtube"),
        "the trends are in the prompt"
    );
    // Voice: OpenAI first (402), then ElevenLabs.
    let openai = mocks.openai.requests();
    assert!(
        !openai.is_empty()
            && openai.iter().all(|r| r.path == "/v1/audio/speech"
                && r.header("authorization") == Some(format!("Bearer {}", key("SHORTLINE_OPENAI_API_KEY")).as_str()))
    );
    let spoken = mocks.elevenlabs.requests();
    assert!(
        !spoken.is_empty()
            && spoken.iter().all(|r| r.path == "/v1/text-to-speech/VOICE/with-timestamps"
                && r.header("xi-api-key") == Some(key("SHORTLINE_ELEVENLABS_API_KEY"))
                && r.json()["text"] == plan.voiceover_script.as_str())
    );
    // Clips: fal's queue with `Key …`; the CDN download carries no key.
    let fal = mocks.fal.requests();
    let submits: Vec<_> = fal.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(submits.len(), plan.scenes.len());
    assert!(submits.iter().all(|r| r.path == format!("/{KLING}") && r.json()["duration"] == "5"));
    assert!(fal
        .iter()
        .all(|r| r.header("authorization") == Some(format!("Key {}", key("SHORTLINE_FAL_API_KEY")).as_str())));
    assert!(mocks.cdn.requests().iter().all(|r| r.header("authorization").is_none()));

    // Every row records provider, usage and cost.
    let rows = {
        let mut pooled = system.db.conn().await;
        db::lineage::for_job(&mut pooled.conn(), job.id).await.expect("lineage rows")
    };
    let report = rows.report.as_ref().expect("report");
    assert_eq!((report.analyst.as_str(), report.model.as_str()), ("anthropic/claude-sonnet-4-5", MODEL));
    assert_eq!(
        (report.cost_micros, report.usage["reported_usage"]["input_tokens"].as_u64()),
        (REPORT_COST, Some(2095))
    );
    assert_eq!(rows.scripts.len(), 1);
    let script = &rows.scripts[0];
    assert_eq!((script.planner.as_str(), script.model.as_str()), ("anthropic/claude-sonnet-4-5", MODEL));
    assert_eq!((script.cost_micros, script.usage["reported_usage"]["output_tokens"].as_u64()), (PLAN_COST, Some(900)));
    assert_eq!(script.plan().expect("plan"), plan, "the model's plan is the one stored");
    assert_eq!(rows.assets.len(), plan.scenes.len() + 3);
    let voice = rows.assets.iter().find(|a| a.kind == AssetKind::Voiceover).expect("voiceover");
    assert_eq!((voice.provider.as_str(), voice.model.as_str()), ("elevenlabs", "eleven_multilingual_v2"));
    let characters = voice.usage["reported_usage"]["characters"].as_u64().expect("characters billed");
    assert_eq!(voice.cost_micros, (characters * TTS_PER_1K_CHARACTERS as u64).div_ceil(1000) as i64);
    assert_eq!(voice.usage["provider_attempts"][0]["failover"], "payment_required");
    for clip in rows.assets.iter().filter(|a| a.kind == AssetKind::Clip) {
        assert_eq!((clip.provider.as_str(), clip.model.as_str(), clip.cost_micros), ("fal_kling", KLING, CLIP_COST));
        assert_eq!(clip.usage["reported_usage"]["seconds"], 5.0);
    }

    // The video's costs are the sums by kind, and its file is real.
    assert_eq!(rows.videos.len(), 1);
    let video = convert::video(&rows.videos[0]);
    let costs = video.costs.expect("costs");
    let clips = CLIP_COST * plan.scenes.len() as i64;
    assert_eq!(
        (costs.llm_micros, costs.tts_micros, costs.video_generation_micros, costs.total_micros),
        (REPORT_COST + PLAN_COST, voice.cost_micros, clips, REPORT_COST + PLAN_COST + voice.cost_micros + clips)
    );
    let log: Value = serde_json::from_str(&video.generation_log_json).expect("log");
    assert_eq!(log["trend_report"]["cost_micros"], REPORT_COST);
    let (video_codec, audio_codec, _) = crate::pipeline::probe(&crate::pipeline::path_of(&video.uri));
    assert_eq!((video_codec.as_str(), audio_codec.as_str()), ("h264", "aac"));

    // No key anywhere: logs, errors, answers, rows.
    let lineage =
        client.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner();
    assert_no_key("the lineage answer", &format!("{lineage:?}"));
    let logs = [&system.orchestrator, &system.scriptgen, &system.composer].map(|service| service.log()).join("\n");
    assert!(logs.contains("failing over to the next provider"), "the failover is logged");
    assert!(logs.contains("provider call"), "the HTTP calls are logged at debug");
    assert_no_key("the services' logs", &logs);
    assert!(
        voice.usage["provider_attempts"][0]["error"].as_str().unwrap_or_default().contains("***"),
        "the echoed key is redacted"
    );
    assert_no_key("the database", &database_text(&system.db).await);
}

on_both_backends!(a_job_with_every_real_provider_completes_with_its_costs_and_no_key_leaks);

/// `shortline providers [ARGS]` with `env`; (exit code, stdout, stderr).
async fn providers_command(env: &[(&str, String)], args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = tokio::process::Command::new(crate::processes::shortline_binary());
    command.arg("providers").args(args).current_dir(dir.path()).env_remove("SHORTLINE_CONFIG").kill_on_drop(true);
    for (variable, _) in KEYS {
        command.env_remove(variable);
    }
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let output = tokio::time::timeout(Duration::from_secs(60), command.output()).await.expect("in time").expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_providers_command_lists_every_kind_and_checks_each_provider_without_showing_a_key() {
    let anthropic =
        MockServer::start(|r| match (r.path.as_str(), r.header("x-api-key"), r.header("anthropic-version")) {
            ("/v1/models", Some(k), Some("2023-06-01")) if k == key("SHORTLINE_ANTHROPIC_API_KEY") => {
                MockResponse::json(200, json!({"data": [{"type": "model", "id": MODEL}], "has_more": false}))
            }
            _ => MockResponse::json(
                401,
                json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
            ),
        })
        .await;
    // A refused key, echoed back: the error says so, without the key.
    let openai_key = key("SHORTLINE_OPENAI_API_KEY");
    let openai = MockServer::start(move |_| {
        MockResponse::json(401, json!({"error": {"message": format!("Incorrect API key provided: {openai_key}"), "type": "invalid_request_error"}}))
    })
    .await;
    let pexels = MockServer::start(|_| MockResponse::json(200, json!({"videos": []}))).await;
    // fal's platform API prices a known endpoint for an accepted key; an unknown request's
    // status on the queue is 404 whatever the key, so it proves nothing and is not asked.
    let fal_key = format!("Key {}", key("SHORTLINE_FAL_API_KEY"));
    let fal = MockServer::start(move |r| {
        let endpoint = r.query_param("endpoint_id");
        match (r.path.as_str(), r.header("authorization"), endpoint.as_deref()) {
            ("/v1/models/pricing", Some(k), Some("kling")) if k == fal_key => MockResponse::json(
                200,
                json!({"prices": [{"endpoint_id": "kling", "unit_price": 0.07, "unit": "second", "currency": "USD"}], "has_more": false}),
            ),
            ("/v1/models/pricing", Some(k), _) if k == fal_key => {
                MockResponse::json(404, json!({"detail": "Endpoint not found"}))
            }
            (_, Some(k), _) if k == fal_key => MockResponse::json(404, json!({"detail": "Request not found"})),
            _ => MockResponse::json(401, json!({"detail": "No user found for Key ID and Secret"})),
        }
    })
    .await;
    let youtube =
        MockServer::start(|_| MockResponse::json(200, json!({"kind": "youtube#i18nRegionListResponse", "items": []})))
            .await;
    let env = vec![
        ("SHORTLINE_PROVIDERS__TRENDS", "[\"youtube\"]".to_owned()),
        ("SHORTLINE_PROVIDERS__YOUTUBE__BASE_URL", youtube.url()),
        ("SHORTLINE_PROVIDERS__PLANNER", "anthropic".to_owned()),
        ("SHORTLINE_PROVIDERS__ANTHROPIC__BASE_URL", anthropic.url()),
        ("SHORTLINE_PROVIDERS__ANTHROPIC__MODEL", "claude".to_owned()),
        ("SHORTLINE_PROVIDERS__PRICES__CLAUDE__PER_1K_INPUT_TOKENS", "3000".to_owned()),
        ("SHORTLINE_PROVIDERS__VOICE", "[\"openai\"]".to_owned()),
        ("SHORTLINE_PROVIDERS__OPENAI__BASE_URL", openai.url()),
        ("SHORTLINE_PROVIDERS__OPENAI__TTS_MODEL", "tts".to_owned()),
        ("SHORTLINE_PROVIDERS__PRICES__TTS__PER_1K_CHARACTERS", "15000".to_owned()),
        ("SHORTLINE_PROVIDERS__CLIPS", "[\"fal_kling\", \"fal_minimax\", \"pexels\"]".to_owned()),
        ("SHORTLINE_PROVIDERS__FAL__BASE_URL", fal.url()),
        ("SHORTLINE_PROVIDERS__FAL__PLATFORM_BASE_URL", fal.url()),
        ("SHORTLINE_PROVIDERS__FAL__MINIMAX_MODEL", "retired".to_owned()),
        ("SHORTLINE_PROVIDERS__PRICES__RETIRED__PER_SECOND", "50000".to_owned()),
        ("SHORTLINE_PROVIDERS__FAL__KLING_MODEL", "kling".to_owned()),
        ("SHORTLINE_PROVIDERS__PRICES__KLING__PER_SECOND", "50000".to_owned()),
        ("SHORTLINE_FAL_API_KEY", key("SHORTLINE_FAL_API_KEY").to_owned()),
        ("SHORTLINE_YOUTUBE_API_KEY", key("SHORTLINE_YOUTUBE_API_KEY").to_owned()),
        ("SHORTLINE_ANTHROPIC_API_KEY", key("SHORTLINE_ANTHROPIC_API_KEY").to_owned()),
        ("SHORTLINE_OPENAI_API_KEY", openai_key.to_owned()),
        ("SHORTLINE_PROVIDERS__PEXELS__BASE_URL", pexels.url()),
    ];

    let (code, stdout, stderr) = providers_command(&env, &["--json"]).await;
    assert_eq!(code, Some(1), "a failed check fails the command\n{stdout}\n{stderr}");
    assert_no_key("the command's output", &format!("{stdout}{stderr}"));
    let answer: Value = serde_json::from_str(&stdout).expect("json");
    let rows = answer["providers"].as_array().expect("rows");
    let row =
        |kind: &str| rows.iter().find(|r| r["kind"] == kind).unwrap_or_else(|| panic!("no {kind} row in {stdout}"));
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["sources", "analyst", "planner", "clips", "clips", "clips", "voice", "avatar"]);
    let kling = rows.iter().find(|r| r["provider"] == "fal_kling").expect("fal_kling row");
    assert_eq!((kling["check"].as_str(), kling["key"].as_str()), (Some("ok"), Some("env SHORTLINE_FAL_API_KEY")));
    // A 404 is never "ok": here the endpoint is unknown.
    let minimax = rows.iter().find(|r| r["provider"] == "fal_minimax").expect("fal_minimax row");
    assert!(minimax["check"].as_str().unwrap_or_default().contains("HTTP 404"), "{stdout}");
    let probes = fal.requests();
    assert!(probes.iter().all(|r| r.path == "/v1/models/pricing"), "{probes:?}");
    assert_eq!((row("sources")["provider"].as_str(), row("sources")["check"].as_str()), (Some("youtube"), Some("ok")));
    assert_eq!(row("sources")["key"], "env SHORTLINE_YOUTUBE_API_KEY");
    assert_eq!(
        (row("analyst")["provider"].as_str(), row("analyst")["check"].as_str()),
        (Some("heuristic"), Some("offline"))
    );
    assert_eq!(
        (row("planner")["provider"].as_str(), row("planner")["check"].as_str()),
        (Some("anthropic"), Some("ok"))
    );
    assert_eq!(row("planner")["base_url"], anthropic.url());
    let voice = row("voice")["check"].as_str().unwrap_or_default();
    assert!(voice.starts_with("error: openai: unauthorized (HTTP 401)") && voice.contains("***"), "{voice}");
    let pexels_row = rows.iter().find(|r| r["provider"] == "pexels").expect("pexels row");
    assert_eq!(pexels_row["key"], "not set");
    assert!(pexels_row["check"].as_str().unwrap_or_default().contains("no API key"), "{stdout}");
    assert_eq!(row("avatar")["provider"], "none");
    // One cheap authenticated GET each, no retries.
    assert_eq!(youtube.requests()[0].path, "/youtube/v3/i18nRegions");
    assert_eq!(youtube.requests()[0].query_param("key").as_deref(), Some(key("SHORTLINE_YOUTUBE_API_KEY")));
    assert_eq!((anthropic.requests().len(), openai.requests().len()), (1, 1));
    assert_eq!(openai.requests()[0].path, "/v1/models");
    assert!(pexels.requests().is_empty(), "pexels without a key is not called");

    let (code, stdout, _) = providers_command(&env, &["--no-check"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.starts_with("KIND"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("planner") && l.contains("anthropic") && l.contains("not checked")),
        "{stdout}"
    );
    assert_eq!(anthropic.requests().len(), 1, "--no-check calls nothing");
    assert_no_key("the listing", &stdout);
}

/// What a job with `clips = ["fal_kling", "pexels"]` made when fal answers every submit with
/// `fal_answer`: its clip rows, the plan's scene count, the requests fal got, scriptgen's log.
async fn clips_when_fal_answers(
    db: TestDb,
    fal_answer: MockResponse,
) -> (Vec<db::MediaAsset>, usize, Vec<RecordedRequest>, String) {
    let theme = small_theme(false);
    let plan = TemplatePlanner.plan(&convert::theme_from(&theme, "theme").expect("theme"), None, 1).expect("plan");
    let mut mocks = mocks(&plan).await;
    mocks.fal = MockServer::start(move |_| fal_answer.clone()).await;
    let video = mp4(3.0, 320, 568);
    let stock_cdn = MockServer::start(move |_| MockResponse::bytes(200, "video/mp4", video.clone())).await;
    let link = format!("{}/stock.mp4", stock_cdn.url());
    let pexels = MockServer::start(move |_| {
        MockResponse::json(
            200,
            json!({"page": 1, "per_page": 15, "total_results": 1, "videos": [{
                "id": 9, "width": 320, "height": 568, "duration": 12, "url": "https://www.pexels.com/video/9/",
                "user": {"id": 1, "name": "Jo", "url": "https://www.pexels.com/@jo"},
                "video_files": [{"id": 1, "quality": "sd", "file_type": "video/mp4", "width": 320, "height": 568, "fps": 10, "link": link}]
            }]}),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = system_options(dir.path(), &mocks)
        .env("SHORTLINE_PROVIDERS__CLIPS", "[\"fal_kling\", \"pexels\"]")
        .env("SHORTLINE_PROVIDERS__PEXELS__BASE_URL", pexels.url())
        .env("SHORTLINE_PEXELS_API_KEY", "pexels-FAKE-KEY-1d3f5a7c9e0b");
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(theme)).await.expect("start").into_inner();
    let job = wait_for(&mut client, job.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;
    let rows = {
        let mut pooled = system.db.conn().await;
        db::lineage::for_job(&mut pooled.conn(), job.id).await.expect("lineage rows")
    };
    let clips = rows.assets.into_iter().filter(|a| a.kind == AssetKind::Clip).collect();
    (clips, plan.scenes.len(), mocks.fal.requests(), system.scriptgen.log())
}

/// Must-show 4, end to end: fal answers every submit as it answers an endpoint it does not have
/// (404). The chain moves on: every clip comes from Pexels, and why is in the scriptgen log and
/// on each clip's row.
async fn clips_come_from_pexels_when_fal_answers_as_for_an_unknown_model(db: TestDb) {
    let (clips, scenes, submits, log) =
        clips_when_fal_answers(db, MockResponse::json(404, json!({"detail": "Not Found"}))).await;
    assert_eq!(clips.len(), scenes);
    for clip in &clips {
        assert_eq!((clip.provider.as_str(), clip.cost_micros), ("pexels", 0), "{}", clip.usage);
        let fal = &clip.usage["provider_attempts"][0];
        assert_eq!((fal["provider"].as_str(), fal["failover"].as_str()), (Some("fal_kling"), Some("unavailable")));
        assert!(fal["error"].as_str().unwrap_or_default().contains("HTTP 404"), "{fal}");
    }
    assert_eq!(submits.len(), scenes, "one refused submit per clip: {submits:?}");
    assert!(log.contains("failing over to the next provider"), "the reason is logged");
}

on_both_backends!(clips_come_from_pexels_when_fal_answers_as_for_an_unknown_model);

/// Must-show 3, end to end: fal answers every submit with 500 after recording it. Each submit
/// reached fal exactly once (never resent); each clip comes from Pexels, and its row records the
/// possibly charged submit, on the attempt and in its cost (so the job's budget counts it).
async fn a_fal_submit_answered_500_is_sent_once_and_recorded_as_possibly_charged(db: TestDb) {
    let (clips, scenes, submits, log) =
        clips_when_fal_answers(db, MockResponse::json(500, json!({"detail": "Internal Server Error"}))).await;
    assert_eq!(clips.len(), scenes);
    assert_eq!(submits.len(), scenes, "exactly one submit per clip reached fal: {submits:?}");
    for clip in &clips {
        assert_eq!(clip.provider, "pexels", "{}", clip.usage);
        let fal = &clip.usage["provider_attempts"][0];
        assert_eq!(fal["failover"], "possibly_charged", "{}", clip.usage);
        assert_eq!(fal["possibly_charged_micros"], CLIP_COST, "{}", clip.usage);
        assert_eq!(clip.cost_micros, CLIP_COST, "free footage plus the possibly charged submit");
    }
    assert!(log.contains("a paid submit may have been charged"), "logged");
}

on_both_backends!(a_fal_submit_answered_500_is_sent_once_and_recorded_as_possibly_charged);

/// A budget below the plan's media estimate: analysis and planning fit and are paid; media
/// generation is refused before its first call, and the job fails saying why, with no media
/// row and no media file.
async fn a_budget_below_the_plans_estimate_fails_the_job_before_the_first_media_call(db: TestDb) {
    let theme = small_theme(false);
    let plan = TemplatePlanner.plan(&convert::theme_from(&theme, "theme").expect("theme"), None, 1).expect("plan");
    let mocks = mocks(&plan).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = system_options(dir.path(), &mocks).env("SHORTLINE_PIPELINE__JOB_BUDGET_USD", "0.5");
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(theme)).await.expect("start").into_inner();
    let job = wait_for_failure(&mut client, job.id).await;
    assert_eq!(job.failed_stage(), v1::Stage::MediaGeneration);
    let expected = format!("job {} budget of $0.50 would be exceeded: media of script", job.id);
    assert!(job.error.contains(&expected) && job.error.contains("not called"), "{}", job.error);
    let lineage =
        client.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner();
    let media = lineage.stages.iter().filter(|s| s.stage == v1::Stage::MediaGeneration as i32).count();
    assert_eq!(media, 1, "not retried: a retry cannot change the budget");
    assert!(lineage.assets.is_empty() && lineage.videos.is_empty());
    assert!(
        mocks.openai.requests().is_empty() && mocks.elevenlabs.requests().is_empty() && mocks.fal.requests().is_empty()
    );
    assert_eq!(mocks.anthropic.requests().len(), 2, "the analysis and the plan fitted and were paid");
    // The refusal's words, the stages' errors and the logs carry no key either.
    let stage_errors: Vec<&str> = lineage.stages.iter().map(|s| s.error.as_str()).collect();
    assert_no_key("the job's and its stages' errors", &format!("{} {stage_errors:?}", job.error));
    let logs = [&system.orchestrator, &system.scriptgen, &system.composer].map(|service| service.log()).join("\n");
    assert_no_key("the services' logs", &logs);
    let media_files = system.media_root().join(format!("jobs/{}", job.id));
    let files: Vec<_> =
        std::fs::read_dir(&media_files).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(
        files.iter().all(|dir| std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true)),
        "no media file: {files:?}"
    );
}

on_both_backends!(a_budget_below_the_plans_estimate_fails_the_job_before_the_first_media_call);

/// Every voice provider refuses (ElevenLabs echoing its key in a 401): the job fails with a
/// reason naming the provider and the refusal, and neither that reason, the stages' errors, the
/// logs nor any row holds a key.
async fn a_provider_refusal_fails_the_job_readably_without_a_key_anywhere(db: TestDb) {
    let theme = small_theme(false);
    let plan = TemplatePlanner.plan(&convert::theme_from(&theme, "theme").expect("theme"), None, 1).expect("plan");
    let mut mocks = mocks(&plan).await;
    let elevenlabs_key = key("SHORTLINE_ELEVENLABS_API_KEY");
    mocks.elevenlabs = MockServer::start(move |_| {
        MockResponse::json(
            401,
            json!({"detail": {"status": "invalid_api_key", "message": format!("Invalid API key: {elevenlabs_key}")}}),
        )
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = system_options(dir.path(), &mocks).env("SHORTLINE_TELEMETRY__FILTER", "debug");
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(theme)).await.expect("start").into_inner();
    let job = wait_for_failure(&mut client, job.id).await;
    assert_eq!(job.failed_stage(), v1::Stage::MediaGeneration);
    assert!(
        job.error.contains("voice provider elevenlabs") && job.error.contains("unauthorized (HTTP 401)"),
        "{}",
        job.error
    );
    assert_eq!(mocks.elevenlabs.requests().len(), 1, "a refused key is not retried");

    let lineage =
        client.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner();
    assert_no_key("the lineage answer and its errors", &format!("{} {lineage:?}", job.error));
    let logs = [&system.orchestrator, &system.scriptgen, &system.composer].map(|service| service.log()).join("\n");
    assert!(logs.contains("every configured provider failed"), "the failure is logged");
    assert_no_key("the services' logs", &logs);
    assert_no_key("the database", &database_text(&system.db).await);
}

on_both_backends!(a_provider_refusal_fails_the_job_readably_without_a_key_anywhere);
