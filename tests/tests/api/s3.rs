//! The pipeline on the S3 media store (issue 7, must show 3): against a local S3-compatible
//! server the test starts (moto, `pip install 'moto[server]'`; scripts/dev test installs it), a
//! job on PostgreSQL with the offline providers leaves its clips, voiceover, MP4 and thumbnail in
//! the bucket, its rows hold their `s3://` URIs, and nothing but scratch stays on local disk.
//! Without moto the test fails: it is the only proof the S3 store works.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt as _};
use sha2::{Digest as _, Sha256};
use shortline_proto::v1;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::durability::files_under;
use crate::helpers::TestDb;
use crate::pipeline::{approve, probe, small_theme, start_request, wait_for};
use crate::processes::{SystemOptions, TestSystem};

const BUCKET: &str = "shortline-media";
const PREFIX: &str = "test-run";
/// moto accepts any credentials; the services must still send some.
const ACCESS_KEY_ID: &str = "shortline-test";
const SECRET_ACCESS_KEY: &str = "shortline-test-secret";
const REGION: &str = "us-east-1";

/// A moto S3 server on a free port of 127.0.0.1; killed when dropped.
struct Moto {
    _child: Child,
    endpoint: String,
}

impl Moto {
    async fn start() -> Moto {
        let mut child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("moto_server cannot start ({e}): install it with `pip install 'moto[server]'` (scripts/dev test does)"));
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        // werkzeug names the port it bound: ` * Running on http://127.0.0.1:41277`.
        let endpoint = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read moto's stderr") {
                if let Some((_, url)) = line.split_once("Running on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("moto_server exited before serving");
        })
        .await
        .expect("moto_server serves within 60 s");
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Moto { _child: child, endpoint }
    }

    async fn create_bucket(&self, bucket: &str) {
        let response =
            reqwest::Client::new().put(format!("{}/{bucket}", self.endpoint)).send().await.expect("create bucket");
        assert!(response.status().is_success(), "creating bucket {bucket}: {}", response.status());
    }

    /// A client of the bucket, to read back what the services stored.
    fn bucket(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        let client = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region(REGION)
            .with_bucket_name(bucket)
            .with_access_key_id(ACCESS_KEY_ID)
            .with_secret_access_key(SECRET_ACCESS_KEY)
            .build()
            .expect("S3 client");
        Arc::new(client)
    }
}

/// The object key of an `s3://` URI in [`BUCKET`] under [`PREFIX`].
fn key_of(uri: &str) -> String {
    let key = uri
        .strip_prefix(&format!("s3://{BUCKET}/{PREFIX}/"))
        .unwrap_or_else(|| panic!("{uri} is not in s3://{BUCKET}/{PREFIX}/"));
    format!("{PREFIX}/{key}")
}

async fn read(bucket: &dyn ObjectStore, uri: &str) -> Vec<u8> {
    let location = object_store::path::Path::from(key_of(uri));
    bucket
        .get(&location)
        .await
        .unwrap_or_else(|e| panic!("{uri} is not in the bucket: {e}"))
        .bytes()
        .await
        .expect("object body")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_stores_its_media_in_s3() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let options = SystemOptions::default()
        .env("SHORTLINE_MEDIA__ROOT", format!("s3://{BUCKET}/{PREFIX}"))
        .env("SHORTLINE_MEDIA__S3__ENDPOINT", &moto.endpoint)
        .env("SHORTLINE_MEDIA__S3__ALLOW_HTTP", "true")
        .env("SHORTLINE_MEDIA__S3__REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
    let system = TestSystem::start_with(TestDb::postgres().await, options).await;
    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(small_theme(false))).await.expect("start").into_inner();
    let job = wait_for(&mut client, job.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;

    let lineage =
        client.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner();
    let plan = lineage.scripts[0].plan.as_ref().expect("plan");
    assert_eq!(lineage.assets.len(), plan.scenes.len() + 3, "a clip per scene, the voiceover and its captions");
    assert_eq!(lineage.videos.len(), 1);
    let video = &lineage.videos[0];

    // The rows hold s3:// URIs of the bucket; every one names an object there.
    let bucket = moto.bucket(BUCKET);
    for asset in &lineage.assets {
        assert!(
            asset.uri.starts_with(&format!("s3://{BUCKET}/{PREFIX}/jobs/{}/", job.id)),
            "asset {}: {}",
            asset.id,
            asset.uri
        );
        let bytes = read(bucket.as_ref(), &asset.uri).await;
        assert_eq!(bytes.len() as i64, asset.size_bytes, "asset {}", asset.id);
        assert_eq!(hex::encode(Sha256::digest(&bytes)), asset.sha256, "asset {}", asset.id);
    }
    let generated = format!("s3://{BUCKET}/{PREFIX}/generated/job-{}/video-{}", job.id, video.script_id);
    assert_eq!(
        (video.uri.clone(), video.thumbnail_uri.clone()),
        (format!("{generated}.mp4"), format!("{generated}.jpg"))
    );
    {
        let mut pooled = system.db.conn().await;
        let rows = shortline_db::lineage::for_job(&mut pooled.conn(), job.id).await.expect("db lineage");
        assert_eq!(
            (rows.videos[0].uri.as_str(), rows.videos[0].thumbnail_uri.as_str()),
            (video.uri.as_str(), video.thumbnail_uri.as_str())
        );
        assert!(rows.assets.iter().all(|a| a.uri.starts_with("s3://")));
    }

    // The MP4 is the one the row describes: a valid H.264/AAC file of its size and digest.
    let mp4 = read(bucket.as_ref(), &video.uri).await;
    assert_eq!(&mp4[4..8], b"ftyp", "an MP4 starts with its ftyp box");
    assert_eq!(mp4.len() as i64, video.size_bytes);
    assert_eq!(hex::encode(Sha256::digest(&mp4)), video.sha256);
    let copy = system.dir.path().join("downloaded.mp4");
    std::fs::write(&copy, &mp4).expect("write the download");
    let (video_codec, audio_codec, duration) = probe(&copy);
    assert_eq!((video_codec.as_str(), audio_codec.as_str()), ("h264", "aac"));
    assert!((duration - video.duration_seconds).abs() < 0.5, "file {duration} s, row {} s", video.duration_seconds);
    std::fs::remove_file(&copy).expect("remove the download");
    let thumbnail = read(bucket.as_ref(), &video.thumbnail_uri).await;
    assert_eq!(&thumbnail[..2], &[0xFF, 0xD8], "a JPEG");

    // Approval moves both objects (copy, then delete) to the approved place.
    approve(&mut client, job.id, video.id, "").await;
    let videos =
        client.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner().videos;
    let approved_prefix = format!("s3://{BUCKET}/{PREFIX}/approved/job-{}/video-{}", job.id, video.script_id);
    assert_eq!(
        (videos[0].uri.clone(), videos[0].thumbnail_uri.clone()),
        (format!("{approved_prefix}.mp4"), format!("{approved_prefix}.jpg"))
    );
    assert_eq!(read(bucket.as_ref(), &videos[0].uri).await, mp4);

    // The bucket holds exactly the job's media, and nothing half-made.
    let listed: BTreeSet<String> =
        bucket.list(None).map_ok(|meta| meta.location.to_string()).try_collect().await.expect("list the bucket");
    let expected: BTreeSet<String> = lineage
        .assets
        .iter()
        .map(|a| a.uri.as_str())
        .chain([videos[0].uri.as_str(), videos[0].thumbnail_uri.as_str()])
        .map(key_of)
        .collect();
    assert_eq!(listed, expected);

    // Locally: no media store directory at all, and in scratch only the composer's music bed
    // (a local cache, never stored): every upload removed its file, every download went away.
    assert!(!system.media_root().exists(), "{} exists", system.media_root().display());
    let scratch = system.dir.path().join("scratch");
    assert_eq!(
        files_under(&scratch),
        [PathBuf::from("library/music/offline-bed.wav")],
        "files left in {}",
        scratch.display()
    );
}

/// The sweep on object storage: an object under the swept prefix is listed with the very URI
/// `publish` gave it (what rows hold, so the sweep keeps every object a row names) and is
/// removed; objects under another prefix are not listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_lists_objects_by_the_uris_rows_hold() {
    use shortline_config::S3Config;
    use shortline_media::MediaStore;

    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    // The store reads its credentials from the environment only (this test is its own process).
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
    let settings = S3Config {
        endpoint: Some(moto.endpoint.clone()),
        region: Some(REGION.to_owned()),
        allow_http: true,
        virtual_hosted_style: false,
    };
    let scratch = tempfile::tempdir().expect("scratch");
    let store = MediaStore::s3(BUCKET, PREFIX, &settings, scratch.path()).expect("store");
    let mut published = Vec::new();
    for key in ["jobs/1/script-1/scene-1.mp4", "generated/job-1/video-1.mp4"] {
        let file = store.local_path(key).expect("scratch path");
        std::fs::write(&file, b"media").expect("write");
        published.push(store.publish(key, &file).await.expect("publish"));
    }

    let stale = store.list_stale("jobs", Duration::ZERO).await.expect("list");
    let uris: Vec<Option<String>> = stale.iter().map(|item| item.uri.clone()).collect();
    assert_eq!(uris, [Some(published[0].clone())]);
    assert!(store.remove_stale(&stale[0]).await.expect("remove"));
    assert!(store.list_stale("jobs", Duration::ZERO).await.expect("list").is_empty());
    let others = store.list_stale("generated", Duration::ZERO).await.expect("list");
    assert_eq!(others.iter().map(|item| item.uri.clone()).collect::<Vec<_>>(), [Some(published[1].clone())]);
}
