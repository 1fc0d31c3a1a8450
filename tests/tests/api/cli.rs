//! The `shortline` command as a user runs it (issue 4): the real binary in a temporary
//! directory, small fast renders, and an orchestrator URL where nothing listens unless a test
//! starts `shortline up` itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::pipeline::{path_of, probe};
use crate::processes::{channel, shortline_binary};

/// A port of 127.0.0.1 where nothing listens (bound, then released).
fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Small, fast renders; the orchestrator URL is `orchestrator_url`, or the default (the
/// one-machine mode, where a command with no orchestrator to talk to starts its own services).
fn env(orchestrator_url: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("SHORTLINE_MEDIA__WIDTH", "360".into()),
        ("SHORTLINE_MEDIA__HEIGHT", "640".into()),
        ("SHORTLINE_MEDIA__FPS", "15".into()),
        ("SHORTLINE_MEDIA__X264_PRESET", "ultrafast".into()),
    ];
    env.extend(orchestrator_url.map(|url| ("SHORTLINE_ORCHESTRATOR__URL", url.to_owned())));
    env
}

/// `shortline ARGS` in `dir`, with `env`, to completion (at most 5 minutes).
async fn shortline(dir: &Path, env: &[(&'static str, String)], args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(shortline_binary());
    command
        .args(args)
        .current_dir(dir)
        .env_remove("SHORTLINE_CONFIG")
        .env_remove("SHORTLINE_DATA_DIR")
        .env_remove("SHORTLINE_DATABASE__URL")
        .env_remove("SHORTLINE_ORCHESTRATOR__URL")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .unwrap_or_else(|_| panic!("`shortline {}` did not finish within 5 minutes", args.join(" ")))
        .expect("run shortline")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(args: &str, output: &Output) -> String {
    format!(
        "`shortline {args}` exited {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The value after `label` on the first stdout line that has it.
fn field_after(stdout: &str, label: &str) -> Option<String> {
    stdout.lines().find_map(|line| line.trim_start().strip_prefix(label).map(|rest| rest.trim().to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_no_services_renders_a_playable_mp4_and_show_prints_its_lineage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = env(None);

    let output = shortline(dir.path(), &env, &["run"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", describe("run", &output));
    assert!(text(&output.stderr).contains("starting the services in this process"), "{}", describe("run", &output));
    assert!(stdout.contains("job 1 started"), "{stdout}");

    // The video and thumbnail paths, the costs and the lineage tree are printed.
    let video = PathBuf::from(field_after(&stdout, "file:").expect("a video path"));
    let thumbnail = PathBuf::from(field_after(&stdout, "thumbnail:").expect("a thumbnail path"));
    assert!(video.is_absolute() && video.starts_with(dir.path()), "{}", video.display());
    assert!(thumbnail.is_file(), "{}", thumbnail.display());
    let (video_codec, audio_codec, duration) = probe(&video);
    assert_eq!((video_codec.as_str(), audio_codec.as_str()), ("h264", "aac"), "{}", video.display());
    assert!(duration > 5.0, "{duration}");
    assert!(stdout.contains("costs:") && stdout.contains("TOTAL") && stdout.contains('$'), "{stdout}");
    assert!(stdout.contains("lineage:"), "{stdout}");
    // The default theme is not auto_post: the video awaits review and the run says how to approve it.
    assert!(stdout.contains("awaiting_review"), "{stdout}");
    assert!(stdout.contains("shortline videos approve 1 1"), "{stdout}");
    assert!(dir.path().join(".shortline/shortline.db").is_file());

    // `show` finds the same job through services of its own on the same data directory.
    let output = shortline(dir.path(), &env, &["show", "1"]).await;
    let tree = text(&output.stdout);
    assert!(output.status.success(), "{}", describe("show 1", &output));
    assert!(tree.starts_with("job 1  pipeline  awaiting_review  theme product-demo"), "{tree}");
    for stage in
        ["trend_collection", "trend_analysis", "script_generation", "media_generation", "composition", "review"]
    {
        assert!(tree.contains(stage), "no {stage} in:\n{tree}");
    }
    for part in [
        "├── trends (",
        "├── report 1",
        "script 1 (variant 1)",
        "scenes (",
        "assets (",
        "clip scene 1",
        "voiceover",
        "video 1 (variant 1)",
    ] {
        assert!(tree.contains(part), "no `{part}` in:\n{tree}");
    }
    assert!(tree.contains(&format!("file: {}", video.display())), "{tree}");

    // --json: the same lineage, machine-readable.
    let output = shortline(dir.path(), &env, &["show", "1", "--json"]).await;
    assert!(output.status.success(), "{}", describe("show 1 --json", &output));
    let lineage: serde_json::Value = serde_json::from_slice(&output.stdout).expect("show --json prints JSON");
    assert_eq!(lineage["job"]["id"], 1);
    assert_eq!(lineage["job"]["status"], "awaiting_review");
    assert_eq!(lineage["videos"][0]["path"], video.display().to_string());
    assert_eq!(path_of(lineage["videos"][0]["uri"].as_str().expect("uri")), video);
    assert!(lineage["scripts"][0]["plan"]["scenes"].as_array().is_some_and(|s| s.len() >= 3), "{lineage}");

    // The review goes through the orchestrator and moves the file.
    let output = shortline(dir.path(), &env, &["videos", "approve", "1", "1", "--note", "ship it"]).await;
    assert!(output.status.success(), "{}", describe("videos approve 1 1", &output));
    assert!(text(&output.stdout).contains("job 1 is approved"), "{}", describe("videos approve 1 1", &output));
    let output = shortline(dir.path(), &env, &["jobs", "--json"]).await;
    let jobs: serde_json::Value = serde_json::from_slice(&output.stdout).expect("jobs --json prints JSON");
    assert_eq!(jobs["jobs"][0]["status"], "approved", "{jobs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_exits_1_naming_the_stage_and_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = env(None);
    // Media generation takes seconds; one attempt of at most one second fails it.
    env.push(("SHORTLINE_PIPELINE__STAGE_TIMEOUT_SECONDS__MEDIA_GENERATION", "1".into()));
    env.push(("SHORTLINE_PIPELINE__MAX_ATTEMPTS", "1".into()));
    let output = shortline(dir.path(), &env, &["run"]).await;
    let described = describe("run", &output);
    assert_eq!(output.status.code(), Some(1), "{described}");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: job 1 failed at stage media_generation: "), "{described}");
    assert!(stderr.contains("shortline retry 1"), "{described}");

    let output = shortline(dir.path(), &env, &["run", "--json"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", describe("run --json", &output));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("run --json prints JSON");
    assert_eq!(result["job"]["status"], "failed", "{result}");
    assert_eq!(result["job"]["failed_stage"], "media_generation", "{result}");
    assert!(!result["job"]["error"].as_str().unwrap_or_default().is_empty(), "{result}");
}

/// `shortline up` as a child process on free ports; killed when dropped.
struct Up {
    address: SocketAddr,
    child: tokio::process::Child,
}

impl Up {
    async fn start(dir: &Path) -> Up {
        let mut env = env(None);
        for key in ["SHORTLINE_ORCHESTRATOR__LISTEN", "SHORTLINE_SCRIPTGEN__LISTEN", "SHORTLINE_COMPOSER__LISTEN"] {
            env.push((key, "127.0.0.1:0".into()));
        }
        let log = std::fs::File::create(dir.join("up.log")).expect("log file");
        let mut child = tokio::process::Command::new(shortline_binary())
            .arg("up")
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn shortline up");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(address) = line.strip_prefix("orchestrator listening on ") {
                    return address.trim().parse::<SocketAddr>().expect("address");
                }
            }
            panic!("shortline up exited before listening; see {}", dir.join("up.log").display());
        })
        .await
        .expect("shortline up did not start within 60 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Up { address, child }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_uses_a_running_shortline_up_instead_of_starting_its_own_services() {
    let up_dir = tempfile::tempdir().expect("tempdir");
    let run_dir = tempfile::tempdir().expect("tempdir");
    let mut up = Up::start(up_dir.path()).await;

    let output = shortline(run_dir.path(), &env(Some(&up.url())), &["run", "--json"]).await;
    assert!(output.status.success(), "{}", describe("run --json", &output));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("run --json prints JSON");
    assert_eq!(result["services"], "running", "{result}");
    assert_eq!(result["orchestrator_url"], up.url(), "{result}");
    assert_eq!(result["job"]["status"], "awaiting_review", "{result}");
    let job_id = result["job"]["id"].as_i64().expect("job id");
    let video = PathBuf::from(result["videos"][0]["path"].as_str().expect("video path"));
    assert!(
        !text(&output.stderr).contains("starting the services in this process"),
        "{}",
        describe("run --json", &output)
    );

    // The job lives in `up`'s database and media store; the run wrote nothing of its own.
    assert!(video.starts_with(up_dir.path()), "{}", video.display());
    assert_eq!(probe(&video).0, "h264");
    assert!(entries(run_dir.path()).is_empty(), "{:?}", entries(run_dir.path()));
    let mut client = OrchestratorServiceClient::new(channel(&up.url()).await);
    let jobs = client.list_jobs(v1::ListJobsRequest::default()).await.expect("list jobs").into_inner().jobs;
    assert!(jobs.iter().any(|job| job.id == job_id), "job {job_id} not listed by `shortline up`: {jobs:?}");

    // Human output says so too, and other commands use the same instance.
    let output = shortline(run_dir.path(), &env(Some(&up.url())), &["jobs"]).await;
    assert!(output.status.success(), "{}", describe("jobs", &output));
    assert!(
        text(&output.stdout)
            .lines()
            .any(|line| line.starts_with(&format!("{job_id} ")) && line.contains("awaiting_review")),
        "{}",
        describe("jobs", &output)
    );
    assert!(entries(run_dir.path()).is_empty(), "{:?}", entries(run_dir.path()));

    up.child.start_kill().expect("kill up");
    let _ = up.child.wait().await;
}

/// In the one-machine default, a command that only reads starts the services in-process
/// without the job engine: a queued job (or one a crashed run left) stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_command_in_the_default_mode_claims_no_job() {
    use shortline_db::{self as db, DbPool, JobKind, JobStatus, NewJob, PoolOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".shortline")).expect("data dir");
    let url = format!("sqlite://{}", dir.path().join(".shortline/shortline.db").display());
    db::migrations::run_pending(&url).await.expect("migrate");
    let pool = DbPool::connect(&url, &PoolOptions::default()).expect("pool");
    let job = {
        let mut pooled = pool.get().await.expect("connection");
        db::jobs::insert(&mut pooled.conn(), &NewJob::queued(JobKind::TrendRefresh, "left behind", None, 1))
            .await
            .expect("insert a queued job")
    };

    for args in [&["jobs", "--json"][..], &["show", &job.id.to_string()]] {
        let output = shortline(dir.path(), &env(None), args).await;
        let described = describe(&args.join(" "), &output);
        assert!(output.status.success(), "{described}");
        assert!(text(&output.stderr).contains("starting the services in this process"), "{described}");
    }

    let mut pooled = pool.get().await.expect("connection");
    let conn = &mut pooled.conn();
    let after = db::jobs::find(conn, job.id).await.expect("the job");
    assert_eq!(after.status, JobStatus::Queued, "a read-only command changed the job: {after:?}");
    let attempts = db::job_stages::list_for_job(conn, job.id).await.expect("attempts");
    assert!(attempts.is_empty(), "a read-only command ran the job: {attempts:?}");
}

/// A configured orchestrator that does not answer is reported, never replaced by services of
/// the command's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_configured_orchestrator_is_reported_not_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{}", unused_port());
    for args in [&["jobs"][..], &["show", "1"], &["run"]] {
        let output = shortline(dir.path(), &env(Some(&url)), args).await;
        let described = describe(&args.join(" "), &output);
        assert_eq!(output.status.code(), Some(1), "{described}");
        assert!(text(&output.stderr).contains(&format!("orchestrator unreachable at {url}")), "{described}");
        assert!(!text(&output.stderr).contains("starting the services in this process"), "{described}");
        assert!(entries(dir.path()).is_empty(), "the command wrote {:?}: {described}", entries(dir.path()));
    }
}

/// Runs `args` in a fresh directory holding `files`; asserts a non-zero exit with `code` (if
/// given) and that the directory holds nothing but `files` afterwards; returns stderr.
async fn fails_writing_nothing(args: &[&str], files: &[(&str, &str)], code: Option<i32>) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write file");
    }
    let output = shortline(dir.path(), &env(None), args).await;
    let described = describe(&args.join(" "), &output);
    assert!(!output.status.success(), "{described}");
    if let Some(code) = code {
        assert_eq!(output.status.code(), Some(code), "{described}");
    }
    let mut expected: Vec<String> = files.iter().map(|(name, _)| (*name).to_owned()).collect();
    expected.sort();
    assert_eq!(entries(dir.path()), expected, "the command wrote something: {described}");
    assert!(output.stdout.is_empty() || args.contains(&"--json"), "{described}");
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error:"), "{described}");
    stderr
}

#[tokio::test]
async fn bad_flags_are_clap_errors_with_exit_code_2_and_write_nothing() {
    let stderr = fails_writing_nothing(&["run", "--variants", "many"], &[], Some(2)).await;
    assert!(stderr.contains("--variants") && stderr.contains("many"), "{stderr}");
    let stderr = fails_writing_nothing(&["run", "--variants", "0"], &[], Some(2)).await;
    assert!(stderr.contains("--variants"), "{stderr}");
    let stderr = fails_writing_nothing(&["run", "--colour", "blue"], &[], Some(2)).await;
    assert!(stderr.contains("--colour"), "{stderr}");
    let stderr = fails_writing_nothing(&["jobs", "--status", "done"], &[], Some(2)).await;
    assert!(stderr.contains("awaiting-review"), "the error lists the possible values: {stderr}");
    let stderr = fails_writing_nothing(&["launch"], &[], Some(2)).await;
    assert!(stderr.contains("launch"), "{stderr}");
}

#[tokio::test]
async fn a_missing_theme_file_is_named_and_nothing_is_written() {
    let stderr = fails_writing_nothing(&["run", "--theme", "no-such-theme.yaml"], &[], Some(1)).await;
    assert!(stderr.contains("no-such-theme.yaml") && stderr.contains("does not exist"), "{stderr}");
    let stderr = fails_writing_nothing(&["themes", "validate", "no-such-theme.toml"], &[], Some(1)).await;
    assert!(stderr.contains("no-such-theme.toml"), "{stderr}");
}

const INVALID_YAML: &str = "config:
  theme: \"Standing desks\"
  target_platform: myspace
  video_duration_seconds: 99
content_references:
  - ref_id: desk
    type: gadget
    title: \"The desk\"
";

const INVALID_TOML: &str = "[config]
theme = \"\"
video_duration_seconds = 3
";

#[tokio::test]
async fn an_invalid_theme_names_each_field_and_reason_and_nothing_is_written() {
    let stderr = fails_writing_nothing(&["run", "--theme", "bad.yaml"], &[("bad.yaml", INVALID_YAML)], Some(1)).await;
    for expected in [
        "bad.yaml",
        "config.target_platform: `myspace` is not one of",
        "config.video_duration_seconds: 99 is outside 6..=28",
        "content_references[0].type: `gadget` is not one of",
    ] {
        assert!(stderr.contains(expected), "no `{expected}` in:\n{stderr}");
    }
    let stderr = fails_writing_nothing(&["run", "--theme", "bad.toml"], &[("bad.toml", INVALID_TOML)], Some(1)).await;
    assert!(stderr.contains("config.theme: must not be empty"), "{stderr}");
    assert!(stderr.contains("config.video_duration_seconds: 3 is outside"), "{stderr}");
    let stderr =
        fails_writing_nothing(&["run", "--theme", "broken.yaml"], &[("broken.yaml", "config: [")], Some(1)).await;
    assert!(stderr.contains("broken.yaml") && stderr.contains("YAML"), "{stderr}");

    // `themes validate` says the same, and OK for a good theme.
    let stderr =
        fails_writing_nothing(&["themes", "validate", "bad.yaml"], &[("bad.yaml", INVALID_YAML)], Some(1)).await;
    assert!(stderr.contains("config.video_duration_seconds: 99 is outside 6..=28"), "{stderr}");
    let dir = tempfile::tempdir().expect("tempdir");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../themes/cooking-niche.toml");
    let output = shortline(dir.path(), &[], &["themes", "validate", good.to_str().expect("utf-8")]).await;
    assert!(output.status.success(), "{}", describe("themes validate", &output));
    assert!(text(&output.stdout).starts_with("OK: "), "{}", describe("themes validate", &output));
    assert!(entries(dir.path()).is_empty());
}

/// Item 7 of issue 12: `themes validate --json` names the field of a type error and of a
/// missing `config`, gives a non-UTF-8 file's byte position, and loads the replaced system's
/// platform spellings.
#[tokio::test]
async fn themes_validate_json_names_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: [(&str, &[u8]); 4] = [
        ("type.yaml", b"config:\n  theme: Desks\n  video_duration_seconds: soon\n"),
        ("no-config.yaml", b"content_references:\n  - {ref_id: a, type: product, title: A}\n"),
        ("latin1.yaml", b"config:\n  theme: \"Caf\xe9\"\n"),
        ("old.yaml", b"config:\n  theme: Desks\n  target_platform: youtube\n"),
    ];
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write theme");
    }
    let validate = |name: &'static str| {
        let dir = dir.path().to_owned();
        async move {
            let output = shortline(&dir, &[], &["themes", "validate", "--json", name]).await;
            let json: serde_json::Value = serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}", describe("themes validate", &output)));
            json
        }
    };
    let first_error =
        |json: &serde_json::Value| (json["errors"][0]["field"].clone(), json["errors"][0]["reason"].clone());
    let (field, reason) = first_error(&validate("type.yaml").await);
    assert_eq!(field, "config.video_duration_seconds", "{reason}");
    assert_eq!(first_error(&validate("no-config.yaml").await), ("config".into(), "is required".into()));
    let (_, reason) = first_error(&validate("latin1.yaml").await);
    assert!(reason.as_str().is_some_and(|r| r.contains("invalid byte at position 21")), "{reason}");
    let old = validate("old.yaml").await;
    assert_eq!(old["valid"], true, "{old}");
    assert_eq!(old["theme"]["config"]["target_platform"], "youtube_shorts", "{old}");
}

/// The README's quick start, literally: its first command is the one this test runs (with a
/// data directory of its own and small renders), and it leaves a playable video.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_run_command_renders_a_video() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root");
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README");
    let quick_start = readme.split("## Quick start").nth(1).expect("a Quick start section");
    let block = quick_start.split("```").nth(1).expect("a code block");
    let commands: Vec<&str> = block
        .lines()
        .skip(1) // the fence's language tag
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(commands.len(), 2, "exactly two quick-start commands: {commands:?}");
    assert_eq!(commands[1], "scripts/dev test", "CI runs the second one");

    let data = tempfile::tempdir().expect("tempdir");
    let mut words = commands[0].split_whitespace();
    let program = repo.join(words.next().expect("a program"));
    let mut command = tokio::process::Command::new(program);
    command
        .args(words)
        .arg("--data-dir")
        .arg(data.path())
        .current_dir(repo)
        .env_remove("SHORTLINE_CONFIG")
        .env_remove("SHORTLINE_ORCHESTRATOR__URL")
        .envs(env(None))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output =
        tokio::time::timeout(Duration::from_secs(600), command.output()).await.expect("finishes").expect("runs");
    assert!(output.status.success(), "{}", describe(commands[0], &output));
    let videos: Vec<PathBuf> = shortline_testing::files_under(&data.path().join("media/generated"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(videos.len(), 1, "{videos:?}");
    let (video, audio, _) = probe(&videos[0]);
    assert_eq!((video.as_str(), audio.as_str()), ("h264", "aac"));
}
