//! Mutual TLS between the services (issue 15): three processes, each with its own certificate
//! from one test CA, run a job end to end; scriptgen and composer refuse a plaintext client, a
//! client without a certificate and a client whose certificate names another identity; a rotated
//! server certificate is served to new connections without a restart.

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use shortline_config::TlsConfig;
use shortline_proto::v1;
use shortline_proto::v1::composer_service_client::ComposerServiceClient;
use shortline_proto::v1::orchestrator_service_client::OrchestratorServiceClient;
use shortline_proto::v1::script_service_client::ScriptServiceClient;
use tonic::transport::Channel;
use tonic::Code;

use crate::helpers::TestDb;
use crate::pipeline::{small_theme, start_request, wait_for};
use crate::processes::{SystemOptions, TestSystem};

pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A CA whose certificate is written to `dir/ca.pem`.
    pub(crate) fn new(dir: &Path) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        std::fs::write(dir.join("ca.pem"), params.self_signed(&key).expect("CA").pem()).expect("write CA");
        TestCa { issuer: Issuer::new(params, key) }
    }

    /// A certificate for `identity` (and the loopback address it is reached at), as the
    /// `[tls]` settings of a process or a test client: CA, certificate and key files.
    pub(crate) fn issue(&self, dir: &Path, identity: &str) -> TlsConfig {
        let key = KeyPair::generate().expect("key");
        let names = vec![identity.to_owned(), "127.0.0.1".to_owned()];
        let cert = CertificateParams::new(names).expect("params").signed_by(&key, &self.issuer).expect("cert");
        let (cert_file, key_file) = (dir.join(format!("{identity}.crt")), dir.join(format!("{identity}.key")));
        std::fs::write(&cert_file, cert.pem()).expect("write cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        TlsConfig { cert_file: Some(cert_file), key_file: Some(key_file), ca_file: Some(dir.join("ca.pem")) }
    }

    /// The three services serving mutual TLS, each with a certificate of this CA written to
    /// `dir`.
    pub(crate) fn system_options(&self, dir: &Path) -> SystemOptions {
        SystemOptions {
            orchestrator_env: env(&self.issue(dir, "orchestrator")),
            scriptgen_env: env(&self.issue(dir, "scriptgen")),
            composer_env: env(&self.issue(dir, "composer")),
            ..SystemOptions::default()
        }
    }
}

pub(crate) fn env(tls: &TlsConfig) -> Vec<(String, String)> {
    let path = |file: &Option<std::path::PathBuf>| file.as_ref().expect("file").display().to_string();
    vec![
        ("SHORTLINE_TLS__CERT_FILE".into(), path(&tls.cert_file)),
        ("SHORTLINE_TLS__KEY_FILE".into(), path(&tls.key_file)),
        ("SHORTLINE_TLS__CA_FILE".into(), path(&tls.ca_file)),
    ]
}

async fn channel(url: &str, tls: &TlsConfig) -> Channel {
    shortline_grpc::tls::endpoint(url, tls).expect("endpoint").connect().await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_run_a_job_over_mutual_tls_and_refuse_other_callers() {
    let db = TestDb::postgres().await;
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(certs.path());
    let options = ca.system_options(certs.path());
    let system = TestSystem::start_with(db, options).await;
    for service in [&system.orchestrator, &system.scriptgen, &system.composer] {
        assert!(service.url().starts_with("https://"), "{}", service.url());
    }

    // A user reaches the orchestrator over TLS, trusting the CA; the job runs end to end, so
    // the orchestrator → scriptgen, composer and composer → scriptgen calls were admitted.
    let user = TlsConfig { ca_file: Some(certs.path().join("ca.pem")), ..TlsConfig::default() };
    let mut client = OrchestratorServiceClient::new(channel(&system.orchestrator.url(), &user).await);
    let job = client.start_job(start_request(small_theme(true))).await.expect("start").into_inner();
    let job = wait_for(&mut client, job.id, &[v1::JobStatus::Approved], Duration::from_secs(300)).await;

    // Plaintext is refused by every service.
    for service in [&system.orchestrator, &system.scriptgen, &system.composer] {
        let plaintext = format!("http://{}", service.address);
        let answered = match Channel::from_shared(plaintext).expect("url").connect().await {
            Err(_) => false,
            Ok(channel) => ScriptServiceClient::new(channel)
                .get_script(v1::GetScriptRequest { job_id: job.id, script_id: 1 })
                .await
                .is_ok(),
        };
        assert!(!answered, "{} answered plaintext", service.name);
    }

    // Scriptgen and composer: no certificate is UNAUTHENTICATED, another identity (even from
    // the same CA) PERMISSION_DENIED; composer's ReviewVideo is the orchestrator's alone.
    let intruder = ca.issue(certs.path(), "intruder");
    let composer_identity = TlsConfig {
        cert_file: Some(certs.path().join("composer.crt")),
        key_file: Some(certs.path().join("composer.key")),
        ca_file: Some(certs.path().join("ca.pem")),
    };
    for (tls, code) in [(&user, Code::Unauthenticated), (&intruder, Code::PermissionDenied)] {
        let mut scriptgen = ScriptServiceClient::new(channel(&system.scriptgen.url(), tls).await);
        let status = scriptgen.list_scripts(v1::ListScriptsRequest { job_id: job.id }).await.expect_err("scriptgen");
        assert_eq!(status.code(), code, "scriptgen: {}", status.message());
        let mut composer = ComposerServiceClient::new(channel(&system.composer.url(), tls).await);
        let status = composer.list_videos(v1::ListVideosRequest { job_id: job.id }).await.expect_err("composer");
        assert_eq!(status.code(), code, "composer: {}", status.message());
    }
    let mut composer = ComposerServiceClient::new(channel(&system.composer.url(), &composer_identity).await);
    let review = v1::ComposerReviewVideoRequest { job_id: job.id, video_id: 1, decision: 1, ..Default::default() };
    let status = composer.review_video(review).await.expect_err("the composer's own identity may not review");
    assert_eq!(status.code(), Code::PermissionDenied);
    // The composer's identity is admitted by scriptgen.
    let mut scriptgen = ScriptServiceClient::new(channel(&system.scriptgen.url(), &composer_identity).await);
    scriptgen.list_scripts(v1::ListScriptsRequest { job_id: job.id }).await.expect("composer → scriptgen");

    // Rotation, as cert-manager does it: the orchestrator's certificate and key files are
    // replaced (here by ones from another CA, so the two are told apart). The running process
    // serves the new certificate to new connections: a client trusting only the new CA gets in,
    // one trusting only the old CA no longer does.
    let rotated = tempfile::tempdir().expect("tempdir");
    let next_ca = TestCa::new(rotated.path());
    let next = next_ca.issue(rotated.path(), "orchestrator");
    std::fs::copy(next.key_file.as_ref().expect("key"), certs.path().join("orchestrator.key")).expect("rotate key");
    std::fs::copy(next.cert_file.as_ref().expect("cert"), certs.path().join("orchestrator.crt")).expect("rotate cert");
    let trusting_next = TlsConfig { ca_file: Some(rotated.path().join("ca.pem")), ..TlsConfig::default() };
    let mut client = OrchestratorServiceClient::new(channel(&system.orchestrator.url(), &trusting_next).await);
    let same = client.get_job(v1::GetJobRequest { job_id: job.id }).await.expect("the rotated certificate");
    assert_eq!(same.into_inner().id, job.id);
    let old_ca = shortline_grpc::tls::endpoint(&system.orchestrator.url(), &user).expect("endpoint").connect().await;
    assert!(old_ca.is_err(), "the old certificate is still served");
}
