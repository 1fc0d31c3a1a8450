//! Issue 16, must-show 3: the orchestrator's OpenLineage events (here written as JSON lines to
//! a file) of a successful and of a failed job validate against the OpenLineage JSON Schema in
//! `../shared/reference/openlineage/` (Python's `jsonschema`, which resolves the facets' `$ref`s
//! by `$id`); every stage run points at its job's run; the failed stage's event carries the
//! error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use shortline_proto::v1;
use shortline_proto::v1::orchestrator_service_client::OrchestratorServiceClient;

use crate::helpers::TestDb;
use crate::pipeline::{small_theme, start_request, wait_for};
use crate::processes::{channel, free_port, SystemOptions, TestSystem};
use shortline_testing::on_both_backends;

/// Validates every line of `events` as a RunEvent, and its run facets against the ParentRunFacet
/// and ErrorMessageRunFacet schemas; prints one line per violation and exits 1 if any.
const VALIDATE: &str = r##"
import json, pathlib, sys
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
spec = pathlib.Path(sys.argv[1])
# The core schema and the facets shortline sends (facets/LineageRunFacet.json is an empty file).
files = [spec / "OpenLineage.json", spec / "facets/ParentRunFacet.json", spec / "facets/ErrorMessageRunFacet.json"]
schemas = {path.stem: json.loads(path.read_text()) for path in files}
registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
def validator(schema):
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)
run_event = validator({"$ref": schemas["OpenLineage"]["$id"] + "#/$defs/RunEvent"})
facets = [validator(schemas[name]) for name in ("ParentRunFacet", "ErrorMessageRunFacet")]
errors = []
for number, line in enumerate(open(sys.argv[2]), 1):
    event = json.loads(line)
    errors += [f"line {number}: {e.message}" for e in run_event.iter_errors(event)]
    for facet in facets:
        errors += [f"line {number} facets: {e.message}" for e in facet.iter_errors(event.get("run", {}).get("facets", {}))]
print("\n".join(errors))
sys.exit(1 if errors else 0)
"##;

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/openlineage")
}

/// Runs the validator over `events`; `Err` with its report when an event breaks the schema.
fn validate(events: &Path) -> Result<(), String> {
    let output = std::process::Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(spec_dir())
        .arg(events)
        .output()
        .expect("python3 (with the jsonschema package: scripts/dev test installs it)");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(())
    } else {
        Err(report)
    }
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

/// Events arrive through a queue: waits until one matches.
async fn wait_for_event(path: &Path, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
    for _ in 0..100 {
        let all = events(path);
        if all.iter().any(&matches) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no such lineage event in {:#?}", events(path));
}

fn job_event<'a>(all: &'a [Value], kind: &str) -> Option<&'a Value> {
    all.iter().find(|e| e["job"]["name"] == "shortline.pipeline" && e["eventType"] == kind)
}

async fn lineage_events_of_a_successful_and_a_failed_job_follow_the_schema(db: TestDb) {
    let file = tempfile::tempdir().expect("tempdir");
    let path = file.path().join("lineage.jsonl");
    let options = SystemOptions::default()
        .orchestrator_env("SHORTLINE_LINEAGE__FILE", path.display())
        .orchestrator_env("SHORTLINE_LINEAGE__NAMESPACE", "shortline-test");
    let mut system = TestSystem::start_with(db, options).await;

    // A job that succeeds (up to the review).
    let mut client = system.orchestrator_client().await;
    let ok = client.start_job(start_request(small_theme(false))).await.expect("start").into_inner();
    wait_for(&mut client, ok.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;
    let all = wait_for_event(&path, |e| e["job"]["name"] == "shortline.pipeline" && e["eventType"] == "COMPLETE").await;
    let start = job_event(&all, "START").expect("the job's START");
    let complete = job_event(&all, "COMPLETE").expect("the job's COMPLETE");
    let job_run = start["run"]["runId"].as_str().expect("runId").to_owned();
    assert_eq!(complete["run"]["runId"], job_run.as_str(), "START and COMPLETE are one run");
    assert_eq!(start["job"]["namespace"], "shortline-test");
    for stage in ["trend_collection", "trend_analysis", "script_generation", "media_generation", "composition"] {
        let name = format!("shortline.pipeline.{stage}");
        let of_stage: Vec<&Value> = all.iter().filter(|e| e["job"]["name"] == name.as_str()).collect();
        let types: Vec<&str> = of_stage.iter().filter_map(|e| e["eventType"].as_str()).collect();
        assert_eq!(types, ["START", "COMPLETE"], "{stage}: {of_stage:#?}");
        for event in &of_stage {
            assert_eq!(event["run"]["facets"]["parent"]["run"]["runId"], job_run.as_str(), "{event}");
            assert_eq!(event["run"]["facets"]["parent"]["job"]["name"], "shortline.pipeline");
        }
    }
    let composed = all
        .iter()
        .find(|e| e["job"]["name"] == "shortline.pipeline.composition" && e["eventType"] == "COMPLETE")
        .expect("composition COMPLETE");
    let dataset = |side: &str| {
        composed[side]
            .as_array()
            .expect("datasets")
            .iter()
            .map(|d| d["name"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(dataset("inputs"), [format!("job/{}/scripts", ok.id), format!("job/{}/media_assets", ok.id)]);
    assert_eq!(dataset("outputs"), [format!("job/{}/videos", ok.id)]);

    // An inline job (CollectTrends) is a run too, with its one stage as a child run.
    let collected = client
        .collect_trends(v1::CollectTrendsRequest { platforms: vec![], limit_per_platform: 5 })
        .await
        .expect("collect")
        .into_inner();
    let all =
        wait_for_event(&path, |e| e["job"]["name"] == "shortline.trend_refresh" && e["eventType"] == "COMPLETE").await;
    let refresh = all
        .iter()
        .find(|e| e["job"]["name"] == "shortline.trend_refresh" && e["eventType"] == "COMPLETE")
        .expect("refresh COMPLETE");
    let collection = all
        .iter()
        .find(|e| e["job"]["name"] == "shortline.trend_refresh.trend_collection" && e["eventType"] == "COMPLETE")
        .expect("its stage's COMPLETE");
    assert_eq!(collection["run"]["facets"]["parent"]["run"]["runId"], refresh["run"]["runId"], "{collected:?}");

    // A job that fails: its composer is away past the composition deadline. The first
    // orchestrator stops so that only the second one, pointed at nothing, claims it.
    system.orchestrator.signal("TERM");
    system.orchestrator.wait(Duration::from_secs(30)).await.expect("the orchestrator stops");
    let dead_composer = format!("http://127.0.0.1:{}", free_port());
    let second = system
        .spawn_orchestrator(
            "orchestrator-2",
            &[
                ("SHORTLINE_COMPOSER__URL", dead_composer.as_str()),
                ("SHORTLINE_PIPELINE__STAGE_TIMEOUT_SECONDS__COMPOSITION", "2"),
            ],
        )
        .await;
    let mut client = OrchestratorServiceClient::new(channel(&second.url()).await);
    let failed = client.start_job(start_request(small_theme(false))).await.expect("start").into_inner();
    wait_for(&mut client, failed.id, &[v1::JobStatus::Failed], Duration::from_secs(300)).await;
    let all = wait_for_event(&path, |e| e["job"]["name"] == "shortline.pipeline" && e["eventType"] == "FAIL").await;
    let job_failed = job_event(&all, "FAIL").expect("the job's FAIL");
    let message = job_failed["run"]["facets"]["errorMessage"]["message"].as_str().expect("the job's error");
    assert!(message.starts_with("composition: ") && message.contains("unreachable"), "{message}");
    let stage_failed = all
        .iter()
        .find(|e| e["job"]["name"] == "shortline.pipeline.composition" && e["eventType"] == "FAIL")
        .expect("the composition attempt's FAIL");
    assert!(stage_failed["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("unreachable")));
    assert_eq!(stage_failed["run"]["facets"]["errorMessage"]["programmingLanguage"], "Rust");
    assert_eq!(stage_failed["run"]["facets"]["parent"]["run"]["runId"], job_failed["run"]["runId"]);
    assert_ne!(job_failed["run"]["runId"], job_run.as_str(), "each job is its own run");
    assert!(stage_failed["outputs"].as_array().is_some_and(Vec::is_empty), "a failed stage made nothing");

    // Both jobs' events follow the schema; the validator does reject a broken event.
    validate(&path).expect("the events follow the OpenLineage schema");
    let broken = file.path().join("broken.jsonl");
    let mut event = job_failed.clone();
    event["run"]["runId"] = Value::from("not-a-uuid");
    event.as_object_mut().expect("object").remove("eventTime");
    std::fs::write(&broken, format!("{event}\n")).expect("write");
    let report = validate(&broken).expect_err("a broken event is refused");
    assert!(report.contains("eventTime") && report.contains("uuid"), "{report}");
}

on_both_backends!(lineage_events_of_a_successful_and_a_failed_job_follow_the_schema);
