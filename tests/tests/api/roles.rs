//! Least privilege in PostgreSQL (issue 7): the `service_roles` migration gives each service a
//! group role that may write only its own tables. Services log in as LOGIN roles that are
//! members of those groups (the operator creates them; here each test makes its own, uniquely
//! named, and drops them afterwards). PostgreSQL only: SQLite has no roles.

use std::collections::BTreeSet;
use std::time::Duration;

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use shortline_db::{self as db, DbError, DbPool, PoolOptions, VideoStatus};
use shortline_proto::v1;

use crate::helpers::TestDb;
use crate::lineage_schema::seed_tree;
use crate::pipeline::{approve, small_theme, start_request, wait_for};
use crate::processes::ServiceProcess;
use shortline_testing::fixtures::{generated_video, stored_asset, template_script};

const GROUP_ROLES: [&str; 3] = ["shortline_orchestrator", "shortline_scriptgen", "shortline_composer"];

use shortline_db::TABLES;

/// What each group role may do, table by table: the grants of the migration, which follow what
/// each service's repository calls do (INSERT where it writes, UPDATE where it updates, SELECT
/// where it reads; DELETE and TRUNCATE nowhere).
fn designed_privileges() -> BTreeSet<String> {
    let mut grants = BTreeSet::new();
    let mut grant = |role: &str, privileges: &[&str], tables: &[&str]| {
        for table in tables {
            for privilege in privileges {
                grants.insert(format!("{role} {privilege} {table}"));
            }
        }
    };
    grant("shortline_orchestrator", &["SELECT"], &TABLES);
    grant(
        "shortline_orchestrator",
        &["INSERT"],
        &["jobs", "job_stages", "trends", "trend_sightings", "trend_reports", "trend_report_items"],
    );
    grant("shortline_orchestrator", &["UPDATE"], &["jobs", "job_stages", "trends"]);
    // Shared trend collections: claimed, finished or failed, used, and each source's quota.
    grant("shortline_orchestrator", &["INSERT", "UPDATE"], &["trend_collections", "source_quota_usage"]);
    grant("shortline_orchestrator", &["INSERT"], &["trend_collection_uses"]);
    grant(
        "shortline_scriptgen",
        &["SELECT"],
        &["jobs", "trend_reports", "trend_report_items", "scripts", "media_assets"],
    );
    grant("shortline_scriptgen", &["INSERT"], &["scripts", "media_assets"]);
    grant("shortline_composer", &["SELECT"], &["jobs", "videos"]);
    grant("shortline_composer", &["INSERT", "UPDATE"], &["videos"]);
    grants
}

/// A LOGIN role of its own for one test, a member of `group`; dropped when the test ends (even
/// when it fails).
struct LoginRole {
    name: String,
    url: String,
    admin_url: String,
}

impl LoginRole {
    async fn create(db: &TestDb, group: &str) -> LoginRole {
        let name = format!("{group}_t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut admin = AsyncPgConnection::establish(&db.url).await.expect("connect as the test's superuser");
        admin
            .batch_execute(&format!("CREATE ROLE {name} LOGIN PASSWORD 'test-only' IN ROLE {group}"))
            .await
            .expect("create the login role");
        LoginRole { url: url_as(&db.url, &name, "test-only"), name, admin_url: db.url.clone() }
    }

    fn pool(&self) -> DbPool {
        DbPool::connect(&self.url, &PoolOptions::default()).expect("pool")
    }
}

impl Drop for LoginRole {
    fn drop(&mut self) {
        let statement = format!("DROP ROLE IF EXISTS {}", self.name);
        let url = self.admin_url.clone();
        // Drop runs inside the test's runtime; a thread with its own runtime can block on it.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&url).await {
                    let _ = admin.batch_execute(&statement).await;
                }
            });
        })
        .join();
    }
}

/// `postgres://user@host/db` with another user and password.
fn url_as(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    format!("{scheme}://{user}:{password}@{host_and_path}")
}

fn assert_permission_denied<T: std::fmt::Debug>(result: Result<T, DbError>, table: &str) {
    match result {
        Err(DbError::Internal(message)) if message == format!("permission denied for table {table}") => {}
        other => panic!("expected `permission denied for table {table}`, got {other:?}"),
    }
}

/// Runs `statement` as the role of `url` and succeeds only if PostgreSQL refuses it with
/// SQLSTATE 42501 (insufficient_privilege); any other outcome, success included, fails.
async fn assert_refused_with_42501(url: &str, statement: &str) {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect as the login role");
    let block = format!(
        "DO $$ BEGIN {statement}; RAISE EXCEPTION 'shortline test: the statement was allowed'; \
         EXCEPTION WHEN insufficient_privilege THEN NULL; END $$"
    );
    if let Err(error) = conn.batch_execute(&block).await {
        panic!("`{statement}` was not refused with SQLSTATE 42501: {error}");
    }
}

async fn rows_of_script(db: &TestDb, table: &str, script_id: i64) -> i64 {
    let mut admin = AsyncPgConnection::establish(&db.url).await.expect("connect");
    let query = format!("(SELECT COUNT(*)::text FROM {table} WHERE script_id = {script_id})");
    let count: String = diesel::select(diesel::dsl::sql::<Text>(&query)).get_result(&mut admin).await.expect("count");
    count.parse().expect("a number")
}

// The group roles exist, cannot log in, and hold exactly the designed privileges on every table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_group_role_holds_exactly_its_services_privileges() {
    let db = TestDb::postgres().await;
    let mut admin = AsyncPgConnection::establish(&db.url).await.expect("connect");

    let roles = GROUP_ROLES.map(|r| format!("'{r}'")).join(", ");
    let login: String = diesel::select(diesel::dsl::sql::<Text>(&format!(
        "(SELECT string_agg(rolname || '=' || rolcanlogin::text, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ({roles}))"
    )))
    .get_result(&mut admin)
    .await
    .expect("pg_roles");
    assert_eq!(login, "shortline_composer=false,shortline_orchestrator=false,shortline_scriptgen=false");

    let tables = TABLES.map(|t| format!("'{t}'")).join(", ");
    let held: String = diesel::select(diesel::dsl::sql::<Text>(&format!(
        "(SELECT coalesce(string_agg(r || ' ' || p || ' ' || t, ','), '') \
           FROM unnest(ARRAY[{roles}]) AS r, unnest(ARRAY[{tables}]) AS t, \
                unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p \
          WHERE has_table_privilege(r, t, p))"
    )))
    .get_result(&mut admin)
    .await
    .expect("has_table_privilege");
    let held: BTreeSet<String> = held.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let designed = designed_privileges();
    let extra: Vec<_> = held.difference(&designed).collect();
    let missing: Vec<_> = designed.difference(&held).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "granted but not designed: {extra:?}; designed but not granted: {missing:?}"
    );

    // Inserting draws from the identity sequences of the writer's own tables only.
    let sequences: String = diesel::select(diesel::dsl::sql::<Text>(&format!(
        "(SELECT string_agg(r || ' ' || t, ',' ORDER BY r, t) \
           FROM unnest(ARRAY[{roles}]) AS r, \
                (SELECT t, CASE WHEN EXISTS (SELECT 1 FROM information_schema.columns c \
                                              WHERE c.table_schema = current_schema() AND c.table_name = t \
                                                AND c.column_name = 'id') \
                                THEN pg_get_serial_sequence(t, 'id') END AS s \
                   FROM unnest(ARRAY[{tables}]) AS t) AS tables \
          WHERE s IS NOT NULL AND has_sequence_privilege(r, s, 'USAGE'))"
    )))
    .get_result(&mut admin)
    .await
    .expect("has_sequence_privilege");
    assert_eq!(
        sequences,
        "shortline_composer videos,shortline_orchestrator job_stages,shortline_orchestrator jobs,\
         shortline_orchestrator trend_collections,shortline_orchestrator trend_reports,shortline_orchestrator trends,\
         shortline_scriptgen media_assets,shortline_scriptgen scripts"
    );
}

// Must show 4: with the per-service roles, scriptgen cannot write `videos` and composer cannot
// write `scripts`; each can write its own table, through the same repository calls the services
// make.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scriptgen_cannot_write_videos_and_composer_cannot_write_scripts() {
    let db = TestDb::postgres().await;
    let tree = {
        let mut pooled = db.conn().await;
        seed_tree(&mut pooled.conn(), "roles").await
    };
    let scriptgen = LoginRole::create(&db, "shortline_scriptgen").await;
    let composer = LoginRole::create(&db, "shortline_composer").await;
    let (scriptgen_pool, composer_pool) = (scriptgen.pool(), composer.pool());

    // scriptgen writes its own rows: a second variant's script and its voiceover.
    let script = {
        let mut pooled = scriptgen_pool.get().await.expect("scriptgen connection");
        let conn = &mut pooled.conn();
        let (script, inserted) =
            db::scripts::insert_or_get(conn, &template_script(tree.job_id, tree.report_id, 2, "roles"))
                .await
                .expect("scriptgen inserts a script");
        assert!(inserted);
        assert_eq!((script.job_id, script.trend_report_id, script.variant), (tree.job_id, tree.report_id, 2));
        let assets = db::media_assets::insert_all_or_get(
            conn,
            tree.job_id,
            script.id,
            &[stored_asset(tree.job_id, script.id, 0)],
        )
        .await
        .expect("scriptgen inserts media assets");
        assert_eq!(assets.len(), 1);
        // ... but not composer's.
        assert_permission_denied(
            db::videos::insert_or_get(conn, &generated_video(tree.job_id, script.id, 2)).await,
            "videos",
        );
        script
    };
    assert_eq!(rows_of_script(&db, "videos", script.id).await, 0, "the refused insert wrote nothing");

    // composer writes its own rows: the video of that script, then a review decision.
    {
        let mut pooled = composer_pool.get().await.expect("composer connection");
        let conn = &mut pooled.conn();
        let (video, inserted) = db::videos::insert_or_get(conn, &generated_video(tree.job_id, script.id, 2))
            .await
            .expect("composer inserts a video");
        assert!(inserted);
        assert_eq!((video.job_id, video.script_id), (tree.job_id, script.id));
        let reviewed = db::videos::record_review(
            conn,
            tree.job_id,
            video.id,
            db::videos::Decision { status: VideoStatus::Approved, note: Some("ok"), reviewer: Some("rita") },
            &video.uri,
            &video.thumbnail_uri,
        )
        .await
        .expect("composer records a review");
        assert_eq!(reviewed.map(|v| v.status), Some(VideoStatus::Approved));
        // ... but not scriptgen's.
        assert_permission_denied(
            db::scripts::insert_or_get(conn, &template_script(tree.job_id, tree.report_id, 3, "roles")).await,
            "scripts",
        );
        assert_permission_denied(
            db::media_assets::insert_all_or_get(
                conn,
                tree.job_id,
                script.id,
                &[stored_asset(tree.job_id, script.id, 0)],
            )
            .await,
            "media_assets",
        );
    }
    assert_eq!(rows_of_script(&db, "videos", script.id).await, 1);

    // The refusals are PostgreSQL's insufficient_privilege (SQLSTATE 42501), for inserts and
    // updates alike, and for the orchestrator's tables too.
    let (job, report, script_id) = (tree.job_id, tree.report_id, script.id);
    let insert_video = format!(
        "INSERT INTO videos (job_id, script_id, variant, status, uri, thumbnail_uri, duration_seconds, size_bytes, sha256, \
         width, height, llm_cost_micros, tts_cost_micros, video_generation_cost_micros, generation_log, created_at, updated_at) \
         VALUES ({job}, {script_id}, 2, 'generated', 'file:///v.mp4', 'file:///t.jpg', 9, 1, 'x', 1080, 1920, 0, 0, 0, '{{}}', now(), now())"
    );
    let insert_script = format!(
        "INSERT INTO scripts (job_id, trend_report_id, variant, title, duration_seconds, plan, theme, planner, model, created_at) \
         VALUES ({job}, {report}, 4, 't', 9, '{{}}', '{{}}', 'p', 'm', now())"
    );
    assert_refused_with_42501(&scriptgen.url, &insert_video).await;
    assert_refused_with_42501(&scriptgen.url, &format!("UPDATE videos SET status = 'rejected' WHERE job_id = {job}"))
        .await;
    assert_refused_with_42501(&scriptgen.url, &format!("UPDATE scripts SET title = 'changed' WHERE job_id = {job}"))
        .await;
    assert_refused_with_42501(&scriptgen.url, &format!("UPDATE jobs SET status = 'failed' WHERE id = {job}")).await;
    assert_refused_with_42501(&composer.url, &insert_script).await;
    assert_refused_with_42501(&composer.url, &format!("SELECT count(*) FROM scripts WHERE job_id = {job}")).await;
    assert_refused_with_42501(&composer.url, &format!("UPDATE jobs SET status = 'failed' WHERE id = {job}")).await;
    assert_refused_with_42501(&composer.url, &format!("DELETE FROM videos WHERE job_id = {job}")).await;

    drop((scriptgen_pool, composer_pool));
}

/// Config for the three processes as in `processes::TestSystem`, but each service with its own
/// database login.
fn service_env(db_url: &str, dir: &std::path::Path, service: &str, urls: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env = crate::processes::base_env(db_url, dir);
    env.push((format!("SHORTLINE_{}__LISTEN", service.to_uppercase()), "127.0.0.1:0".into()));
    for (other, url) in urls {
        env.push((format!("SHORTLINE_{}__URL", other.to_uppercase()), url.clone()));
    }
    env
}

// The grants are enough for the real thing: the whole pipeline, review included, runs with each
// service logged in as its own role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_with_one_login_role_per_service() {
    let db = TestDb::postgres().await;
    let orchestrator_role = LoginRole::create(&db, "shortline_orchestrator").await;
    let scriptgen_role = LoginRole::create(&db, "shortline_scriptgen").await;
    let composer_role = LoginRole::create(&db, "shortline_composer").await;
    let dir = tempfile::tempdir().expect("tempdir");

    let scriptgen =
        ServiceProcess::spawn("scriptgen", &service_env(&scriptgen_role.url, dir.path(), "scriptgen", &[]), dir.path())
            .await;
    let composer = ServiceProcess::spawn(
        "composer",
        &service_env(&composer_role.url, dir.path(), "composer", &[("scriptgen", scriptgen.url())]),
        dir.path(),
    )
    .await;
    let orchestrator = ServiceProcess::spawn(
        "orchestrator",
        &service_env(
            &orchestrator_role.url,
            dir.path(),
            "orchestrator",
            &[("scriptgen", scriptgen.url()), ("composer", composer.url())],
        ),
        dir.path(),
    )
    .await;

    let mut client = v1::orchestrator_service_client::OrchestratorServiceClient::new(
        crate::processes::channel(&orchestrator.url()).await,
    );
    let job = client.start_job(start_request(small_theme(false))).await.expect("start").into_inner();
    let job = wait_for(&mut client, job.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;
    let lineage =
        client.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner();
    assert!(!lineage.trends.is_empty() && lineage.report.is_some());
    assert_eq!((lineage.scripts.len(), lineage.videos.len()), (1, 1));
    assert!(!lineage.assets.is_empty());
    let video = &lineage.videos[0];
    approve(&mut client, job.id, video.id, "roles").await;

    drop((orchestrator, composer, scriptgen));
}
