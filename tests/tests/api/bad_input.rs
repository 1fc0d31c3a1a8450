//! Bad input on every RPC of the three services: the right status code, and nothing written.

use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use shortline_db::dispatch;
use shortline_db::schema::{jobs, videos};
use shortline_db::{JobStatus, VideoStatus};
use shortline_proto::v1::{self, start_job_request::Source};
use tonic::Code;

use crate::helpers::{count_rows, TestDb};
use crate::lineage_schema::seed_tree;
use crate::pipeline::small_theme;
use crate::processes::TestSystem;
use shortline_testing::on_both_backends;

use shortline_db::TABLES;

pub async fn all_counts(system: &TestSystem) -> Vec<i64> {
    let mut pooled = system.db.conn().await;
    let conn = &mut pooled.conn();
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push(count_rows(conn, table).await);
    }
    counts
}

#[track_caller]
fn expect<T: std::fmt::Debug>(
    case: &str,
    result: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    field: Option<&str>,
) {
    match result {
        Ok(response) => panic!("{case}: expected {code:?}, got {:?}", response.into_inner()),
        Err(status) => {
            assert_eq!(status.code(), code, "{case}: {}", status.message());
            if let Some(field) = field {
                assert!(status.message().contains(field), "{case}: `{}` should name `{field}`", status.message());
            }
            assert_ne!(status.message(), "internal error", "{case}");
        }
    }
}

async fn every_rpc_refuses_bad_input_and_writes_nothing(db: TestDb) {
    // Two finished jobs with a row in every table (their videos already reviewed), seeded
    // before the services start so the engine has nothing to claim.
    let (mine, theirs) = {
        let mut pooled = db.conn().await;
        let conn = &mut pooled.conn();
        let trees = (seed_tree(conn, "mine").await, seed_tree(conn, "theirs").await);
        let reviewed = diesel::update(videos::table).set(videos::status.eq(VideoStatus::Approved));
        dispatch!(conn, c => reviewed.execute(c).await).expect("approve seeded videos");
        let finished = diesel::update(jobs::table).set(jobs::status.eq(JobStatus::Rejected));
        dispatch!(conn, c => finished.execute(c).await).expect("finish seeded jobs");
        trees
    };
    let system = TestSystem::start(db).await;
    let before = all_counts(&system).await;
    let unknown = 987_654;
    let mut o = system.orchestrator_client().await;
    let mut s = system.scriptgen_client().await;
    let mut c = system.composer_client().await;

    // orchestrator
    expect(
        "StartJob without a source",
        o.start_job(v1::StartJobRequest::default()).await,
        Code::InvalidArgument,
        Some("source"),
    );
    let mut bad_theme = small_theme(false);
    bad_theme.config.as_mut().expect("config").video_duration_seconds = 99;
    expect(
        "StartJob with a bad theme",
        o.start_job(crate::pipeline::start_request(bad_theme)).await,
        Code::InvalidArgument,
        Some("video_duration_seconds"),
    );
    expect(
        "StartJob with an unknown theme name",
        o.start_job(v1::StartJobRequest { source: Some(Source::ThemeName("nope".into())), ..Default::default() }).await,
        Code::InvalidArgument,
        Some("theme_name"),
    );
    expect(
        "StartJob with a broken theme file",
        o.start_job(v1::StartJobRequest { source: Some(Source::ThemeFile("config: [".into())), ..Default::default() })
            .await,
        Code::InvalidArgument,
        Some("theme_file"),
    );
    let mut too_many = crate::pipeline::start_request(small_theme(false));
    too_many.variants = 99;
    expect("StartJob with 99 variants", o.start_job(too_many).await, Code::InvalidArgument, Some("variants"));
    expect("GetJob 0", o.get_job(v1::GetJobRequest { job_id: 0 }).await, Code::InvalidArgument, Some("job_id"));
    expect("GetJob unknown", o.get_job(v1::GetJobRequest { job_id: unknown }).await, Code::NotFound, None);
    expect(
        "ListJobs page_size",
        o.list_jobs(v1::ListJobsRequest { page_size: -1, ..Default::default() }).await,
        Code::InvalidArgument,
        Some("page_size"),
    );
    expect(
        "ListJobs page_token",
        o.list_jobs(v1::ListJobsRequest { page_token: "x".into(), ..Default::default() }).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    expect(
        "ListJobs status",
        o.list_jobs(v1::ListJobsRequest { status: 77, ..Default::default() }).await,
        Code::InvalidArgument,
        Some("status"),
    );
    expect(
        "WatchJob 0",
        o.watch_job(v1::WatchJobRequest { job_id: 0 }).await.map(|r| r.map(|_| ())),
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "WatchJob unknown",
        o.watch_job(v1::WatchJobRequest { job_id: unknown }).await.map(|r| r.map(|_| ())),
        Code::NotFound,
        None,
    );
    expect(
        "CancelJob 0",
        o.cancel_job(v1::CancelJobRequest { job_id: 0, reason: String::new() }).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "CancelJob unknown",
        o.cancel_job(v1::CancelJobRequest { job_id: unknown, reason: String::new() }).await,
        Code::NotFound,
        None,
    );
    expect(
        "RetryJob 0",
        o.retry_job(v1::RetryJobRequest { job_id: 0, from_stage: 0 }).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "RetryJob unknown",
        o.retry_job(v1::RetryJobRequest { job_id: unknown, from_stage: 0 }).await,
        Code::NotFound,
        None,
    );
    expect(
        "RetryJob a finished job",
        o.retry_job(v1::RetryJobRequest { job_id: mine.job_id, from_stage: 0 }).await,
        Code::FailedPrecondition,
        None,
    );
    expect(
        "GetJobLineage 0",
        o.get_job_lineage(v1::GetJobLineageRequest { job_id: 0 }).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "GetJobLineage unknown",
        o.get_job_lineage(v1::GetJobLineageRequest { job_id: unknown }).await,
        Code::NotFound,
        None,
    );
    let review = |job_id, video_id, decision: v1::ReviewDecision| v1::ReviewVideoRequest {
        job_id,
        video_id,
        decision: decision as i32,
        note: String::new(),
    };
    expect(
        "ReviewVideo job 0",
        o.review_video(review(0, mine.video_id, v1::ReviewDecision::Approve)).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "ReviewVideo unknown job",
        o.review_video(review(unknown, mine.video_id, v1::ReviewDecision::Approve)).await,
        Code::NotFound,
        None,
    );
    expect(
        "ReviewVideo video 0",
        o.review_video(review(mine.job_id, 0, v1::ReviewDecision::Approve)).await,
        Code::InvalidArgument,
        Some("video_id"),
    );
    expect(
        "ReviewVideo no decision",
        o.review_video(review(mine.job_id, mine.video_id, v1::ReviewDecision::Unspecified)).await,
        Code::InvalidArgument,
        Some("decision"),
    );
    expect(
        "ReviewVideo a job not awaiting review",
        o.review_video(review(mine.job_id, mine.video_id, v1::ReviewDecision::Approve)).await,
        Code::FailedPrecondition,
        None,
    );
    expect(
        "CollectTrends limit",
        o.collect_trends(v1::CollectTrendsRequest { platforms: vec![], limit_per_platform: -1 }).await,
        Code::InvalidArgument,
        Some("limit_per_platform"),
    );
    expect(
        "CollectTrends platform",
        o.collect_trends(v1::CollectTrendsRequest { platforms: vec![0], limit_per_platform: 1 }).await,
        Code::InvalidArgument,
        Some("platforms[0]"),
    );
    expect(
        "ListTrends page_size",
        o.list_trends(v1::ListTrendsRequest { page_size: 100_000, ..Default::default() }).await,
        Code::InvalidArgument,
        Some("page_size"),
    );
    expect(
        "ListTrends seen_by_job_id",
        o.list_trends(v1::ListTrendsRequest { seen_by_job_id: -3, ..Default::default() }).await,
        Code::InvalidArgument,
        Some("seen_by_job_id"),
    );
    expect(
        "AnalyzeTrends window",
        o.analyze_trends(v1::AnalyzeTrendsRequest { window_hours: -1, max_trends: 0 }).await,
        Code::InvalidArgument,
        Some("window_hours"),
    );
    expect(
        "AnalyzeTrends max",
        o.analyze_trends(v1::AnalyzeTrendsRequest { window_hours: 0, max_trends: 100_000 }).await,
        Code::InvalidArgument,
        Some("max_trends"),
    );
    expect(
        "ListTrendReports page_token",
        o.list_trend_reports(v1::ListTrendReportsRequest { page_size: 0, page_token: "-".into() }).await,
        Code::InvalidArgument,
        Some("page_token"),
    );

    // scriptgen
    let theme = Some(small_theme(false));
    let generate = |job_id, trend_report_id, report: Option<v1::TrendReport>| v1::GenerateScriptRequest {
        job_id,
        trend_report_id,
        theme: theme.clone(),
        report,
        variant: 1,
    };
    let report_of = |id, job_id| Some(v1::TrendReport { id, job_id, ..Default::default() });
    expect(
        "GenerateScript job 0",
        s.generate_script(generate(0, mine.report_id, report_of(mine.report_id, 0))).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "GenerateScript unknown job",
        s.generate_script(generate(unknown, mine.report_id, report_of(mine.report_id, unknown))).await,
        Code::NotFound,
        None,
    );
    expect(
        "GenerateScript another job's report",
        s.generate_script(generate(mine.job_id, theirs.report_id, report_of(theirs.report_id, mine.job_id))).await,
        Code::NotFound,
        None,
    );
    expect(
        "GenerateScript without a theme",
        s.generate_script(v1::GenerateScriptRequest {
            theme: None,
            ..generate(mine.job_id, mine.report_id, report_of(mine.report_id, mine.job_id))
        })
        .await,
        Code::InvalidArgument,
        Some("theme"),
    );
    expect(
        "GenerateMedia job 0",
        s.generate_media(v1::GenerateMediaRequest { job_id: 0, script_id: mine.script_id }).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "GenerateMedia unknown job",
        s.generate_media(v1::GenerateMediaRequest { job_id: unknown, script_id: mine.script_id }).await,
        Code::NotFound,
        None,
    );
    expect(
        "GenerateMedia another job's script",
        s.generate_media(v1::GenerateMediaRequest { job_id: mine.job_id, script_id: theirs.script_id }).await,
        Code::NotFound,
        None,
    );
    expect(
        "GetScript 0",
        s.get_script(v1::GetScriptRequest { job_id: 0, script_id: mine.script_id }).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "GetScript script 0",
        s.get_script(v1::GetScriptRequest { job_id: mine.job_id, script_id: 0 }).await,
        Code::InvalidArgument,
        Some("script_id"),
    );
    expect(
        "GetScript another job's",
        s.get_script(v1::GetScriptRequest { job_id: mine.job_id, script_id: theirs.script_id }).await,
        Code::NotFound,
        None,
    );
    expect(
        "ListScripts 0",
        s.list_scripts(v1::ListScriptsRequest { job_id: 0 }).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "ListScripts unknown",
        s.list_scripts(v1::ListScriptsRequest { job_id: unknown }).await,
        Code::NotFound,
        None,
    );
    expect(
        "ListMediaAssets 0",
        s.list_media_assets(v1::ListMediaAssetsRequest { job_id: 0, script_id: 0 }).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "ListMediaAssets unknown",
        s.list_media_assets(v1::ListMediaAssetsRequest { job_id: unknown, script_id: 0 }).await,
        Code::NotFound,
        None,
    );
    expect(
        "ListMediaAssets another job's script",
        s.list_media_assets(v1::ListMediaAssetsRequest { job_id: mine.job_id, script_id: theirs.script_id }).await,
        Code::NotFound,
        None,
    );

    // composer
    let compose = |job_id, script_id, log: &str| v1::ComposeVideoRequest {
        job_id,
        script_id,
        asset_ids: vec![],
        generation_log_json: log.into(),
        upstream_costs: None,
        captions: 0,
    };
    expect(
        "ComposeVideo job 0",
        c.compose_video(compose(0, mine.script_id, "")).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "ComposeVideo unknown job",
        c.compose_video(compose(unknown, mine.script_id, "")).await,
        Code::NotFound,
        None,
    );
    expect(
        "ComposeVideo bad log",
        c.compose_video(compose(mine.job_id, mine.script_id, "{not json")).await,
        Code::InvalidArgument,
        Some("generation_log_json"),
    );
    expect(
        "ComposeVideo another job's script",
        c.compose_video(compose(theirs.job_id, mine.script_id, "")).await,
        Code::NotFound,
        None,
    );
    let composer_review = |job_id, video_id, decision: v1::ReviewDecision| v1::ComposerReviewVideoRequest {
        job_id,
        video_id,
        decision: decision as i32,
        note: String::new(),
        reviewer: String::new(),
    };
    expect(
        "ReviewVideo (composer) job 0",
        c.review_video(composer_review(0, mine.video_id, v1::ReviewDecision::Approve)).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect(
        "ReviewVideo (composer) unknown",
        c.review_video(composer_review(mine.job_id, unknown, v1::ReviewDecision::Approve)).await,
        Code::NotFound,
        None,
    );
    expect(
        "ReviewVideo (composer) no decision",
        c.review_video(composer_review(mine.job_id, mine.video_id, v1::ReviewDecision::Unspecified)).await,
        Code::InvalidArgument,
        Some("decision"),
    );
    expect(
        "ReviewVideo (composer) twice",
        c.review_video(composer_review(mine.job_id, mine.video_id, v1::ReviewDecision::Reject)).await,
        Code::FailedPrecondition,
        None,
    );
    expect(
        "ReviewVideo (composer) another job's",
        c.review_video(composer_review(mine.job_id, theirs.video_id, v1::ReviewDecision::Approve)).await,
        Code::NotFound,
        None,
    );
    expect(
        "ListVideos 0",
        c.list_videos(v1::ListVideosRequest { job_id: 0 }).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    expect("ListVideos unknown", c.list_videos(v1::ListVideosRequest { job_id: unknown }).await, Code::NotFound, None);
    expect(
        "GetVideo 0",
        c.get_video(v1::GetVideoRequest { job_id: mine.job_id, video_id: 0 }).await,
        Code::InvalidArgument,
        Some("video_id"),
    );
    expect(
        "GetVideo another job's",
        c.get_video(v1::GetVideoRequest { job_id: mine.job_id, video_id: theirs.video_id }).await,
        Code::NotFound,
        None,
    );

    assert_eq!(all_counts(&system).await, before, "a refused request wrote rows");
}

on_both_backends!(every_rpc_refuses_bad_input_and_writes_nothing);

/// Item 5 of issue 12: an error quotes a short prefix of a bad value, never all of it, even
/// when percent-encoding would triple it (accented characters).
async fn errors_quote_only_a_prefix_of_a_bad_value(db: TestDb) {
    let system = TestSystem::start(db).await;
    let mut o = system.orchestrator_client().await;
    let huge = "é".repeat(1_900_000); // 3.8 MB, under the 4 MiB message limit
    let mut theme = small_theme(false);
    theme.config.as_mut().expect("config").target_platform = huge.clone();
    let cases = [
        ("theme_name", v1::StartJobRequest { source: Some(Source::ThemeName(huge.clone())), ..Default::default() }),
        ("target_platform", crate::pipeline::start_request(theme)),
        (
            "theme_file",
            v1::StartJobRequest {
                source: Some(Source::ThemeFile(format!(
                    "config:\n  theme: x\n  video_duration_seconds: \"{}\"\n",
                    "é".repeat(100_000)
                ))),
                ..Default::default()
            },
        ),
    ];
    for (field, request) in cases {
        let status = o.start_job(request).await.expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {}", status.message());
        assert!(status.message().contains(field), "{field}: {}", status.message());
        assert!(status.message().len() < 2_100, "{field}: a {} byte message", status.message().len());
    }
}

on_both_backends!(errors_quote_only_a_prefix_of_a_bad_value);

/// Item 2 of issue 12: NUL and other control characters (newline and tab aside) are refused at
/// the edge, naming the field, before anything is written.
async fn control_characters_are_refused_naming_the_field(db: TestDb) {
    let system = TestSystem::start(db).await;
    let before = all_counts(&system).await;
    let mut o = system.orchestrator_client().await;
    let mut c = system.composer_client().await;
    let with = |edit: fn(&mut v1::Theme)| {
        let mut theme = small_theme(false);
        edit(&mut theme);
        crate::pipeline::start_request(theme)
    };
    let cases = [
        ("theme.config.theme", with(|t| t.config.as_mut().expect("config").theme = "Cups\0".into())),
        ("theme.config.tagline", with(|t| t.config.as_mut().expect("config").tagline = Some("a\u{1b}[2Jb".into()))),
        ("theme.content_references[0].description", with(|t| t.content_references[0].description = "x\0y".into())),
        (
            "theme.content_references[0].talking_points[1]",
            with(|t| t.content_references[0].talking_points[1] = "\u{7f}".into()),
        ),
        (
            "client_request_id",
            v1::StartJobRequest {
                client_request_id: "key\0".into(),
                ..crate::pipeline::start_request(small_theme(false))
            },
        ),
    ];
    for (field, request) in cases {
        expect(
            field,
            o.start_job(request).await,
            Code::InvalidArgument,
            Some(&format!("{field}: contains the control character")),
        );
    }
    expect(
        "CancelJob reason",
        o.cancel_job(v1::CancelJobRequest { job_id: 1, reason: "stop\0".into() }).await,
        Code::InvalidArgument,
        Some("reason: contains the control character"),
    );
    let note = |job_id, video_id| v1::ReviewVideoRequest {
        job_id,
        video_id,
        decision: v1::ReviewDecision::Approve as i32,
        note: "ok\0".into(),
    };
    expect(
        "ReviewVideo note",
        o.review_video(note(1, 1)).await,
        Code::InvalidArgument,
        Some("note: contains the control character"),
    );
    expect(
        "ReviewVideo (composer) note",
        c.review_video(v1::ComposerReviewVideoRequest {
            job_id: 1,
            video_id: 1,
            decision: v1::ReviewDecision::Approve as i32,
            note: "ok\0".into(),
            reviewer: String::new(),
        })
        .await,
        Code::InvalidArgument,
        Some("note: contains the control character"),
    );
    let fine = with(|t| t.content_references[0].description = "two\nlines\tand a tab".into());
    o.start_job(fine).await.expect("newline and tab are text");
    assert_eq!(all_counts(&system).await[0], before[0] + 1, "only the valid job was written");
}

on_both_backends!(control_characters_are_refused_naming_the_field);

/// Item 1 of issue 12: a theme is limited by the size it expands to (YAML aliases count each
/// time they are used) and the size it is stored at; lists show summaries, never whole themes,
/// so a huge theme stored before the limit cannot make a page unusable.
async fn themes_are_bounded_and_lists_never_carry_them(db: TestDb) {
    // A 5 MB theme stored by an older version (past the 4 MiB a client accepts by default).
    {
        let mut pooled = db.conn().await;
        let conn = &mut pooled.conn();
        let mut theme = serde_json::to_value(
            shortline_grpc::convert::theme_from(&small_theme(false), "theme").expect("valid theme"),
        )
        .expect("json");
        theme["content_references"][0]["description"] = "x".repeat(5_000_000).into();
        let mut new = shortline_db::NewJob::queued(shortline_db::JobKind::Pipeline, "huge", Some(theme), 1);
        new.status = JobStatus::Failed;
        shortline_db::jobs::insert(conn, &new).await.expect("insert the old job");
    }
    let system = TestSystem::start(db).await;
    let before = all_counts(&system).await;
    let mut o = system.orchestrator_client().await;

    let page = o.list_jobs(v1::ListJobsRequest::default()).await.expect("a page despite a huge theme").into_inner();
    assert_eq!(page.jobs.len(), 1);
    assert_eq!(page.jobs[0].theme_name, "huge");
    assert!(page.jobs[0].theme.is_none(), "lists carry no theme");

    // One 1 KiB description anchored and aliased by 200 references: 12 KiB expanding to 200 KiB.
    let mut aliased = format!(
        "config:\n  theme: t\ncontent_references:\n  - {{ref_id: r0, type: product, title: t, description: &big \"{}\"}}\n",
        "x".repeat(1024)
    );
    for i in 1..200 {
        aliased.push_str(&format!("  - {{ref_id: r{i}, type: product, title: t, description: *big}}\n"));
    }
    expect(
        "StartJob with an aliased theme file",
        o.start_job(v1::StartJobRequest { source: Some(Source::ThemeFile(aliased)), ..Default::default() }).await,
        Code::InvalidArgument,
        Some("theme_file: theme is too large: it expands to more than the limit of 131072 bytes"),
    );
    let mut large = small_theme(false);
    large.content_references[0].description = "x".repeat(200_000);
    expect(
        "StartJob with a 200 KB theme",
        o.start_job(crate::pipeline::start_request(large)).await,
        Code::InvalidArgument,
        Some("theme: theme is too large: it takes 200"),
    );
    assert_eq!(all_counts(&system).await, before, "a refused theme wrote rows");
}

on_both_backends!(themes_are_bounded_and_lists_never_carry_them);

/// Item 6 of issue 12: a message over the size limit is RESOURCE_EXHAUSTED, gRPC's code for
/// it (tonic says OUT_OF_RANGE). (Passed deadlines: `shared::grpc_codes`' tests, as a tonic
/// client gives up on its own deadline before any server can answer.)
async fn an_oversized_message_is_resource_exhausted(db: TestDb) {
    let system = TestSystem::start(db).await;
    let before = all_counts(&system).await;
    let oversized = v1::StartJobRequest { source: Some(Source::ThemeFile("x".repeat(5 << 20))), ..Default::default() };
    let status = system.orchestrator_client().await.start_job(oversized).await.expect_err("over the 4 MiB limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{}", status.message());
    let oversized = v1::ComposeVideoRequest {
        job_id: 1,
        script_id: 1,
        generation_log_json: "x".repeat(5 << 20),
        ..Default::default()
    };
    let status = system.composer_client().await.compose_video(oversized).await.expect_err("over the 4 MiB limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{}", status.message());
    assert_eq!(all_counts(&system).await, before);
}

on_both_backends!(an_oversized_message_is_resource_exhausted);
