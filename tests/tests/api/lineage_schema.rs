//! The lineage schema's invariants, on both backends (issue 2).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shortline_db::dispatch;
use shortline_db::schema::jobs;
use shortline_db::{self as db, lineage, media_assets, scripts, trend_reports, trends, videos, Conn, DbError};
use shortline_db::{JobKind, JobStage, NewJob, NewJobStage, NewTrendReport, StageName, TrendReportItem};
use shortline_domain::{TrendItem, TrendReportBody};

use crate::helpers::{count_rows, TestDb};
use shortline_testing::fixtures::{generated_video, stored_asset, template_script, trend_item};
use shortline_testing::on_both_backends;

const CHILD_TABLES: [&str; 7] =
    ["job_stages", "trend_sightings", "trend_reports", "trend_report_items", "scripts", "media_assets", "videos"];

fn report_body() -> TrendReportBody {
    TrendReportBody {
        video_styles: vec![],
        common_patterns: vec![],
        avg_engagement_velocity: 12.5,
        top_hashtags: vec![],
        recommendations: vec!["open with a question".into()],
    }
}

/// The ids of one job's full tree.
#[derive(Debug)]
pub(crate) struct Tree {
    pub job_id: i64,
    pub stage_id: i64,
    pub trend_id: i64,
    pub report_id: i64,
    pub script_id: i64,
    pub asset_ids: Vec<i64>,
    pub video_id: i64,
}

/// A job with one row in every child table, as a pipeline run would leave it.
pub(crate) async fn seed_tree(conn: &mut Conn<'_>, tag: &str) -> Tree {
    let job = db::jobs::insert(conn, &NewJob::queued(JobKind::Pipeline, tag, None, 1)).await.expect("job");
    let stage: JobStage = db::job_stages::insert(conn, &NewJobStage::running(job.id, StageName::TrendCollection, 1))
        .await
        .expect("stage");
    let (seen, _) = trends::upsert_seen(conn, job.id, &[trend_item(tag, 100)]).await.expect("trends");
    let (report, _) = trend_reports::insert_or_get(
        conn,
        &NewTrendReport::new(job.id, "heuristic", 24, 1, &report_body()),
        &[(seen[0].id, seen[0].engagement_velocity)],
    )
    .await
    .expect("report");
    let (script, _) =
        scripts::insert_or_get(conn, &template_script(job.id, report.id, 1, "testing")).await.expect("script");
    let assets = media_assets::insert_all_or_get(
        conn,
        job.id,
        script.id,
        &[stored_asset(job.id, script.id, 0), stored_asset(job.id, script.id, 1)],
    )
    .await
    .expect("assets");
    let (video, _) = videos::insert_or_get(conn, &generated_video(job.id, script.id, 1)).await.expect("video");
    Tree {
        job_id: job.id,
        stage_id: stage.id,
        trend_id: seen[0].id,
        report_id: report.id,
        script_id: script.id,
        asset_ids: assets.iter().map(|a| a.id).collect(),
        video_id: video.id,
    }
}

async fn child_row_counts(conn: &mut Conn<'_>) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in CHILD_TABLES {
        counts.push(count_rows(conn, table).await);
    }
    counts
}

fn assert_fk(result: Result<impl std::fmt::Debug, DbError>, what: &str) {
    match result {
        Err(DbError::ForeignKeyViolation { .. }) => {}
        other => panic!("{what}: expected a foreign key violation, got {other:?}"),
    }
}

// Must show 1: a child row whose job_id is 0 or of no job fails with the typed FK error, and
// nothing is written.
async fn child_rows_need_an_existing_job(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let tree = seed_tree(conn, "parent").await;
    let (unanalysed, _) = trends::upsert_seen(conn, tree.job_id, &[trend_item("unanalysed", 5)]).await.expect("trend");
    let before = child_row_counts(conn).await;

    for bad_job_id in [0, 987_654] {
        assert_fk(db::job_stages::insert(conn, &NewJobStage::running(bad_job_id, StageName::Review, 1)).await, "stage");
        assert_fk(
            trend_reports::insert_or_get(
                conn,
                &NewTrendReport::new(bad_job_id, "heuristic", 24, 0, &report_body()),
                &[],
            )
            .await,
            "report",
        );
        let item = TrendReportItem {
            job_id: bad_job_id,
            trend_report_id: tree.report_id,
            trend_id: unanalysed[0].id,
            rank: 2,
            engagement_velocity: 1.0,
        };
        assert_fk(trend_reports::insert_item(conn, &item).await, "report item");
        assert_fk(
            scripts::insert_or_get(conn, &template_script(bad_job_id, tree.report_id, 7, "testing")).await,
            "script",
        );
        assert_fk(
            media_assets::insert_all_or_get(
                conn,
                bad_job_id,
                tree.script_id,
                &[stored_asset(bad_job_id, tree.script_id, 5)],
            )
            .await,
            "asset",
        );
        let mut video = generated_video(bad_job_id, tree.script_id, 1);
        video.script_id = tree.script_id;
        assert_fk(videos::insert_or_get(conn, &video).await, "video");
        assert_fk(trends::upsert_seen(conn, bad_job_id, &[trend_item("orphan", 1)]).await, "trend");
    }
    assert_eq!(child_row_counts(conn).await, before, "a refused write wrote something");
    assert_eq!(count_rows(conn, "trends").await, 2);
}

// Must show 1 (missing): a child row without job_id is refused by NOT NULL.
async fn child_rows_without_a_job_id_are_refused(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let tree = seed_tree(conn, "parent").await;
    let before = child_row_counts(conn).await;
    let now = "'2026-01-01 00:00:00'";
    let statements = [
        format!("INSERT INTO job_stages (stage, attempt, status, started_at) VALUES ('review', 1, 'running', {now})"),
        format!(
            "INSERT INTO trend_reports (analyst, window_hours, trends_analyzed, video_styles, common_patterns, \
             avg_engagement_velocity, top_hashtags, recommendations, cost_micros, created_at) \
             VALUES ('x', 24, 0, '[]', '[]', 0, '[]', '[]', 0, {now})"
        ),
        format!(
            "INSERT INTO trend_report_items (trend_report_id, trend_id, rank, engagement_velocity) VALUES ({}, {}, 9, 1)",
            tree.report_id, tree.trend_id
        ),
        format!(
            "INSERT INTO scripts (trend_report_id, variant, title, duration_seconds, plan, theme, planner, model, cost_micros, created_at) \
             VALUES ({}, 9, 't', 9, '{{}}', '{{}}', 'p', 'm', 0, {now})",
            tree.report_id
        ),
        format!(
            "INSERT INTO media_assets (script_id, kind, scene_number, uri, duration_seconds, size_bytes, sha256, provider, model, usage, cost_micros, created_at) \
             VALUES ({}, 'clip', 9, 'u', 1, 1, 's', 'p', 'm', '{{}}', 0, {now})",
            tree.script_id
        ),
        format!(
            "INSERT INTO videos (script_id, status, uri, thumbnail_uri, duration_seconds, size_bytes, sha256, width, height, \
             llm_cost_micros, tts_cost_micros, video_generation_cost_micros, generation_log, created_at, updated_at) \
             VALUES ({}, 'generated', 'u', 't', 1, 1, 's', 1, 1, 0, 0, 0, '{{}}', {now}, {now})",
            tree.script_id
        ),
    ];
    for statement in statements {
        let result: Result<usize, DbError> =
            dispatch!(conn, c => diesel::sql_query(statement.as_str()).execute(c).await).map_err(DbError::from);
        assert!(matches!(result, Err(DbError::NotNullViolation { .. })), "{statement}: {result:?}");
    }
    assert_eq!(child_row_counts(conn).await, before);
}

// Must show 1 (upsert): the same item twice keeps one row and moves its "last seen" job.
async fn upserting_a_trend_twice_keeps_one_row(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let first = db::jobs::insert(conn, &NewJob::queued(JobKind::TrendRefresh, "refresh", None, 1)).await.expect("job");
    let second = db::jobs::insert(conn, &NewJob::queued(JobKind::TrendRefresh, "refresh", None, 1)).await.expect("job");

    let (rows, created) = trends::upsert_seen(conn, first.id, &[trend_item("abc", 100)]).await.expect("first");
    assert_eq!(created, 1);
    let (again, created_again) = trends::upsert_seen(conn, second.id, &[trend_item("abc", 250)]).await.expect("second");
    assert_eq!(created_again, 0);
    assert_eq!(again[0].id, rows[0].id);
    assert_eq!(count_rows(conn, "trends").await, 1);
    let stored = trends::find(conn, rows[0].id).await.expect("trend");
    assert_eq!((stored.first_seen_job_id, stored.last_seen_job_id), (first.id, second.id));
    assert_eq!(stored.likes, 250);
    // Both jobs keep their own sighting, so each job's lineage still lists the item.
    assert_eq!(trends::seen_by_job(conn, first.id).await.expect("seen").len(), 1);
    assert_eq!(trends::seen_by_job(conn, second.id).await.expect("seen").len(), 1);
}

// A collection goes in as a few multi-row statements: more items than one statement takes, an
// item listed twice (the last figures win), and a mix of known and new items all come out right.
async fn a_large_collection_upserts_in_batches(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let first = db::jobs::insert(conn, &NewJob::queued(JobKind::TrendRefresh, "refresh", None, 1)).await.expect("job");
    let second = db::jobs::insert(conn, &NewJob::queued(JobKind::TrendRefresh, "refresh", None, 1)).await.expect("job");
    let known: Vec<TrendItem> = (0..300).map(|n| trend_item(&format!("item-{n:04}"), n)).collect();
    let (rows, created) = trends::upsert_seen(conn, first.id, &known).await.expect("first collection");
    assert_eq!((rows.len(), created), (300, 300));

    // 300 known items again, 700 new ones, and one item twice with different figures.
    let mut items: Vec<TrendItem> = (0..1000).rev().map(|n| trend_item(&format!("item-{n:04}"), 1000 + n)).collect();
    items.push(trend_item("item-0005", 42));
    let (rows, created) = trends::upsert_seen(conn, second.id, &items).await.expect("second collection");
    assert_eq!(created, 700);
    assert_eq!(rows.len(), items.len(), "one row per input item, in input order");
    for (row, item) in rows.iter().zip(&items) {
        assert_eq!(row.external_id, item.external_id);
    }
    assert_eq!(count_rows(conn, "trends").await, 1000);
    assert_eq!(trends::seen_by_job(conn, second.id).await.expect("seen").len(), 1000);
    let twice = rows.iter().find(|r| r.external_id == "item-0005").expect("item-0005");
    assert_eq!(twice.likes, 42, "the item's last figures win");
    assert_eq!((twice.first_seen_job_id, twice.last_seen_job_id), (first.id, second.id));
}

// Must show 2: 50 jobs written concurrently; every child names its own job, and each job's
// lineage is exactly its own rows.
async fn concurrent_jobs_keep_separate_lineages(db: TestDb) {
    let mut handles = Vec::new();
    for n in 0..50 {
        let pool = db.pool.clone();
        handles.push(tokio::spawn(async move {
            let mut pooled = pool.get().await.expect("connection");
            seed_tree(&mut pooled.conn(), &format!("job-{n}")).await
        }));
    }
    let mut trees = Vec::new();
    for handle in handles {
        trees.push(handle.await.expect("task"));
    }
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    for tree in &trees {
        let lineage = lineage::for_job(conn, tree.job_id).await.expect("lineage");
        assert_eq!(lineage.job.id, tree.job_id);
        assert_eq!(lineage.stages.iter().map(|s| (s.id, s.job_id)).collect::<Vec<_>>(), [(tree.stage_id, tree.job_id)]);
        assert_eq!(lineage.trends.iter().map(|t| t.id).collect::<Vec<_>>(), [tree.trend_id]);
        let report = lineage.report.as_ref().expect("report");
        assert_eq!((report.id, report.job_id), (tree.report_id, tree.job_id));
        assert!(lineage.report_items.iter().all(|i| i.job_id == tree.job_id && i.trend_report_id == tree.report_id));
        assert_eq!(
            lineage.scripts.iter().map(|s| (s.id, s.job_id)).collect::<Vec<_>>(),
            [(tree.script_id, tree.job_id)]
        );
        assert_eq!(lineage.assets.iter().map(|a| a.id).collect::<Vec<_>>(), tree.asset_ids);
        assert!(lineage.assets.iter().all(|a| a.job_id == tree.job_id && a.script_id == tree.script_id));
        assert_eq!(lineage.videos.iter().map(|v| (v.id, v.job_id)).collect::<Vec<_>>(), [(tree.video_id, tree.job_id)]);
    }
    assert_eq!(child_row_counts(conn).await, vec![50, 50, 50, 50, 50, 100, 50]);
}

// Must show 3: the same (job_id, variant) twice yields one row; the retry gets the first back.
async fn a_script_variant_is_written_once(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let tree = seed_tree(conn, "idempotent").await;
    let (first, created) =
        scripts::insert_or_get(conn, &template_script(tree.job_id, tree.report_id, 2, "testing")).await.expect("first");
    assert!(created);
    let (second, created_again) =
        scripts::insert_or_get(conn, &template_script(tree.job_id, tree.report_id, 2, "testing"))
            .await
            .expect("second");
    assert!(!created_again);
    assert_eq!(second, first);
    assert_eq!(scripts::list_for_job(conn, tree.job_id).await.expect("list").len(), 2, "variants 1 and 2");
}

// Must show 4: a job with children cannot be deleted (no cascade; nothing disappears).
async fn deleting_a_job_with_children_is_refused(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let tree = seed_tree(conn, "keep").await;
    let before = child_row_counts(conn).await;
    let result: Result<usize, DbError> =
        dispatch!(conn, c => diesel::delete(jobs::table.find(tree.job_id)).execute(c).await).map_err(DbError::from);
    assert!(matches!(result, Err(DbError::ForeignKeyViolation { .. })), "{result:?}");
    assert!(db::jobs::find(conn, tree.job_id).await.is_ok());
    assert_eq!(child_row_counts(conn).await, before);
}

// Must show 5: running the migrations again changes nothing.
async fn migrating_twice_changes_nothing(db: TestDb) {
    let mut pooled = db.conn().await;
    let tree = seed_tree(&mut pooled.conn(), "survivor").await;
    let before = child_row_counts(&mut pooled.conn()).await;
    drop(pooled);
    let applied = db::migrations::run_pending(&db.url).await.expect("migrate again");
    assert!(applied.is_empty(), "re-applied {applied:?}");
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    assert_eq!(child_row_counts(conn).await, before);
    assert_eq!(lineage::for_job(conn, tree.job_id).await.expect("lineage").videos.len(), 1);
}

// Must show 6: a script cannot point at another job's report (composite foreign key), and
// no asset or video can point at another job's script.
async fn parents_of_another_job_are_refused(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let mine = seed_tree(conn, "mine").await;
    let theirs = seed_tree(conn, "theirs").await;
    let before = child_row_counts(conn).await;
    assert_fk(
        scripts::insert_or_get(conn, &template_script(mine.job_id, theirs.report_id, 5, "testing")).await,
        "script -> report",
    );
    assert_fk(
        media_assets::insert_all_or_get(
            conn,
            mine.job_id,
            theirs.script_id,
            &[stored_asset(mine.job_id, theirs.script_id, 9)],
        )
        .await,
        "asset -> script",
    );
    let mut video = generated_video(mine.job_id, theirs.script_id, 1);
    video.script_id = theirs.script_id;
    assert_fk(videos::insert_or_get(conn, &video).await, "video -> script");
    let item = TrendReportItem {
        job_id: mine.job_id,
        trend_report_id: theirs.report_id,
        trend_id: mine.trend_id,
        rank: 5,
        engagement_velocity: 1.0,
    };
    assert_fk(trend_reports::insert_item(conn, &item).await, "item -> report");
    assert_eq!(child_row_counts(conn).await, before);
    // Lookups are scoped by job too: another job's script is simply not there.
    assert!(matches!(scripts::find(conn, mine.job_id, theirs.script_id).await, Err(DbError::NotFound)));
}

on_both_backends!(
    child_rows_need_an_existing_job,
    child_rows_without_a_job_id_are_refused,
    upserting_a_trend_twice_keeps_one_row,
    a_large_collection_upserts_in_batches,
    concurrent_jobs_keep_separate_lineages,
    a_script_variant_is_written_once,
    deleting_a_job_with_children_is_refused,
    migrating_twice_changes_nothing,
    parents_of_another_job_are_refused,
);
