//! A YouTube Data API mock that serves the orchestrator's `videos.list` sample as fresh trends,
//! and the Anthropic analyst's answer: the trend source and analyst of the tests that run real
//! trend providers.

use std::time::Duration;

use serde_json::{json, Value};
use shortline_testing::http_mock::{MockResponse, MockServer};
use shortline_testing::providers::anthropic_tool_answer;

const YOUTUBE_SAMPLE: &str =
    include_str!("../../../../services/orchestrator/src/trends/samples/youtube_videos_list.json");

/// The YouTube sample answer, posted within the last hours so the analysis window takes it.
pub fn youtube_videos() -> Value {
    let mut sample: Value = serde_json::from_str(YOUTUBE_SAMPLE).expect("sample json");
    let now = chrono::Utc::now();
    for (i, item) in sample["items"].as_array_mut().expect("items").iter_mut().enumerate() {
        let posted = now - chrono::Duration::hours(i as i64 + 1);
        item["snippet"]["publishedAt"] = json!(posted.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    sample
}

/// YouTube: `search.list` names the sample's videos (answered after `search_delay`, so jobs
/// started together can overlap), `videos.list` answers [`youtube_videos`]; anything else 404.
pub async fn youtube(search_delay: Duration) -> MockServer {
    let videos = youtube_videos();
    let ids: Vec<Value> = videos["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| json!({"kind": "youtube#searchResult", "id": {"kind": "youtube#video", "videoId": i["id"]}}))
        .collect();
    MockServer::start(move |r| match r.path.as_str() {
        "/youtube/v3/search" => MockResponse::json(200, json!({"kind": "youtube#searchListResponse", "items": ids}))
            .with_delay(search_delay),
        "/youtube/v3/videos" => MockResponse::json(200, videos.clone()),
        _ => MockResponse::json(404, json!({"error": {"code": 404, "message": "Not Found"}})),
    })
    .await
}

/// The analyst's `trend_report` tool answer, reporting 2095 tokens in and 503 out.
pub fn trend_report_answer() -> MockResponse {
    anthropic_tool_answer(
        "trend_report",
        json!({
            "video_styles": [{"category": "tutorial", "confidence": 0.6, "count": 2}],
            "common_patterns": [{"format": "vertical", "avg_duration_seconds": 20.0, "hook_type": "question",
                                 "uses_text_overlay": true, "audio_type": "voiceover"}],
            "recommendations": ["Open with a question"]
        }),
        2095,
        503,
    )
}
