//! The LLM planner against a local mock of the Anthropic Messages API (tool use) and of an
//! OpenAI-compatible chat API: the documented request, a valid plan, a plan breaking the rules
//! asked for again with the violations, and a readable failure when it breaks them twice.

#![allow(clippy::unwrap_used)]

mod providers_support;

use std::sync::Arc;

use providers_support::{anthropic_answer, overrunning, plan_answer};
use serde_json::json;
use shortline_config::Price;
use shortline_domain::{ProductionPlan, Theme};
use shortline_providers::llm::{AnthropicMessages, OpenAiCompatibleChat};
use shortline_providers::Auth;
use shortline_scriptgen::planner::{PlanError, Planner, TemplatePlanner};
use shortline_scriptgen::providers::LlmPlanner;
use shortline_testing::http_mock::{MockResponse, MockServer};
use shortline_testing::providers::{client, KEY};

const THEME: &str = "config:\n  theme: Eco-friendly water bottles\n  target_platform: tiktok\n  video_duration_seconds: 12\n  \
                     style: energetic\n  product_name: AquaPure\n  tagline: Hydrate sustainably\n  target_audience: Gen Z\n";

fn theme() -> Theme {
    Theme::from_yaml(THEME).unwrap()
}

/// A plan that keeps every rule (the template planner's).
fn valid_plan() -> ProductionPlan {
    TemplatePlanner.plan(&theme(), None, 1).unwrap()
}

fn planner(url: &str) -> LlmPlanner {
    let llm = AnthropicMessages::new(
        client("anthropic", url, Auth::Header("x-api-key")),
        "claude-sonnet-4-5",
        4096,
        "2023-06-01",
    );
    LlmPlanner::new(
        Arc::new(llm),
        Some(Price { per_1k_input_tokens: 3_000, per_1k_output_tokens: 15_000, ..Price::default() }),
    )
}

#[tokio::test]
async fn a_valid_plan_comes_back_with_usage_and_cost() {
    let plan = valid_plan();
    let server = MockServer::sequence(vec![plan_answer(&plan)]).await;
    let planned = planner(&server.url()).plan_with_usage(&theme(), None, 2).await.unwrap();
    assert_eq!(planned.plan, plan);
    assert_eq!((planned.usage.input_tokens, planned.usage.output_tokens, planned.calls), (1500, 900, 1));
    assert_eq!(planned.cost_micros, 4_500 + 13_500);

    let request = &server.requests()[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/messages"));
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    let body = request.json();
    assert_eq!(body["tools"][0]["name"], "production_plan");
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "production_plan"}));
    let schema = &body["tools"][0]["input_schema"];
    assert_eq!(
        schema["properties"]["scenes"]["items"]["properties"]["transition"]["enum"],
        json!(["cut", "fade", "dissolve"])
    );
    let prompt = body["messages"][0]["content"].as_str().unwrap();
    assert!(prompt.contains("AquaPure") && prompt.contains("variant 2"), "{prompt}");
    assert!(prompt.contains("3 to 7 scenes"), "{prompt}");
}

#[tokio::test]
async fn a_plan_breaking_the_rules_is_asked_again_then_fails_readably_and_is_never_returned() {
    // Overlays past the end: asked again with the violations; the second answer is valid.
    let good = valid_plan();
    let server = MockServer::sequence(vec![plan_answer(&overrunning(&good)), plan_answer(&good)]).await;
    let planned = planner(&server.url()).plan_with_usage(&theme(), None, 1).await.unwrap();
    assert_eq!((planned.plan, planned.calls), (good.clone(), 2));
    assert_eq!(planned.usage.input_tokens, 3000, "both calls count");
    let second = server.requests()[1].json()["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(second.contains("Your previous plan broke these rules"), "{second}");
    assert!(second.contains("text_overlays[0].end_seconds"), "{second}");

    // A missing field, twice: planning fails, naming what is wrong; nothing is returned.
    let mut missing = serde_json::to_value(valid_plan()).unwrap();
    missing.as_object_mut().unwrap().remove("title");
    let server = MockServer::sequence(vec![anthropic_answer(missing)]).await;
    let err = planner(&server.url()).plan_with_usage(&theme(), None, 1).await.unwrap_err();
    let PlanError::InvalidPlan { planner: name, violations } = &err else { panic!("{err:?}") };
    assert_eq!(name, "anthropic/claude-sonnet-4-5");
    assert!(violations[0].reason.contains("missing field `title`"), "{violations:?}");
    assert!(err.to_string().contains("produced an invalid plan"), "{err}");
    assert_eq!(server.requests().len(), 2);

    // Overlays past the end twice.
    let server = MockServer::sequence(vec![plan_answer(&overrunning(&good))]).await;
    let err = planner(&server.url()).plan_with_usage(&theme(), None, 1).await.unwrap_err();
    assert!(err.to_string().contains("text_overlays[0].end_seconds"), "{err}");
}

#[tokio::test]
async fn provider_errors_are_planner_errors_without_the_key() {
    let server = MockServer::sequence(vec![MockResponse::json(
        401,
        json!({"type": "error", "error": {"type": "authentication_error", "message": format!("invalid x-api-key {KEY}")}}),
    )])
    .await;
    let err = planner(&server.url()).plan_with_usage(&theme(), None, 1).await.unwrap_err();
    assert!(
        matches!(&err, PlanError::Provider { message, .. } if message.contains("unauthorized (HTTP 401)")),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(KEY));
}

#[tokio::test]
async fn openai_compatible_chat_answers_in_the_plan_schema() {
    let plan = valid_plan();
    let server = MockServer::sequence(vec![MockResponse::json(
        200,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": serde_json::to_string(&plan).unwrap(), "refusal": null}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
        }),
    )])
    .await;
    let llm = OpenAiCompatibleChat::new(
        client("openai_compatible", &format!("{}/v1", server.url()), Auth::Bearer),
        "gpt-4o-mini",
    );
    let planner = LlmPlanner::new(Arc::new(llm), None);
    assert_eq!(planner.name(), "openai_compatible/gpt-4o-mini");
    let got = planner.plan_with_usage(&theme(), None, 1).await.unwrap();
    assert_eq!((got.plan, got.usage.input_tokens, got.cost_micros), (plan, 10, 0));
    let body = server.requests()[0].json();
    assert_eq!(body["response_format"]["json_schema"]["name"], "production_plan");
}
