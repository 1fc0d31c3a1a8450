//! The primitives of shared trend collections (issue 19), on both backends without services:
//! one claim per key at a time (an expired one taken over), the freshest ready collection,
//! uses recorded once per job, a daily quota that concurrent callers never pass together, and
//! one analysis of a collection at a time.

use std::time::Duration;

use shortline_db::{
    self as db, CollectionKey, CollectionStatus, Conn, Job, JobKind, MadeBy, NewJob, NewTrendCollection,
};
use shortline_testing::fixtures::{report_body, trend_item};
use shortline_testing::on_both_backends;
use shortline_testing::TestDb;

const CLAIM: Duration = Duration::from_secs(60);

fn key() -> CollectionKey {
    CollectionKey { sources: "tiktok,youtube".into(), region: String::new(), window_hours: 24 }
}

async fn job(conn: &mut Conn<'_>) -> Job {
    db::jobs::insert(conn, &NewJob::queued(JobKind::Pipeline, "collection test", None, 1)).await.expect("job")
}

async fn one_claim_per_key_and_an_expired_claim_is_taken_over(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let (first, second) = (job(conn).await, job(conn).await);
    let claimed = db::trend_collections::claim(conn, &NewTrendCollection::claim(&key(), first.id, MadeBy::Job, CLAIM))
        .await
        .expect("claim")
        .expect("the first claim of the key");
    assert_eq!((claimed.status, claimed.made_by_job_id), (CollectionStatus::Collecting, first.id));
    let refused =
        db::trend_collections::claim(conn, &NewTrendCollection::claim(&key(), second.id, MadeBy::Job, CLAIM)).await;
    assert!(refused.expect("claim").is_none(), "a second maker of the key is refused while the first works");
    assert!(db::trend_collections::collecting(conn, &key()).await.expect("collecting"));
    let other_key = CollectionKey { region: "US".into(), ..key() };
    let other = NewTrendCollection::claim(&other_key, second.id, MadeBy::Schedule, CLAIM);
    assert!(db::trend_collections::claim(conn, &other).await.expect("claim").is_some(), "keys are independent");

    // A maker that died: its claim lapses and the next job takes the key over.
    let lapsed = NewTrendCollection::claim(&key(), second.id, MadeBy::Job, Duration::ZERO);
    db::trend_collections::fail(conn, claimed.id, "test: start over").await.expect("fail");
    let dead = db::trend_collections::claim(conn, &lapsed).await.expect("claim").expect("free again");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let taker = db::trend_collections::claim(conn, &NewTrendCollection::claim(&key(), first.id, MadeBy::Job, CLAIM))
        .await
        .expect("claim")
        .expect("an expired claim is taken over");
    assert_eq!(db::trend_collections::find(conn, dead.id).await.expect("find").status, CollectionStatus::Failed);
    assert_eq!(taker.status, CollectionStatus::Collecting);

    // The maker's own retry (its attempt died) takes its claim back at once.
    let retry = db::trend_collections::claim(conn, &NewTrendCollection::claim(&key(), first.id, MadeBy::Job, CLAIM))
        .await
        .expect("claim")
        .expect("the job's own earlier claim is no obstacle");
    assert_eq!(db::trend_collections::find(conn, taker.id).await.expect("find").status, CollectionStatus::Failed);
    assert_ne!(retry.id, taker.id);

    // A claim taken back (another collection became ready meanwhile) leaves no row and frees the
    // key; withdrawing touches only a claim, never a made collection.
    db::trend_collections::withdraw(conn, retry.id).await.expect("withdraw");
    assert!(db::trend_collections::find(conn, retry.id).await.is_err(), "the withdrawn claim is gone");
    assert!(!db::trend_collections::collecting(conn, &key()).await.expect("collecting"));
    let made = db::trend_collections::claim(conn, &NewTrendCollection::claim(&key(), second.id, MadeBy::Job, CLAIM))
        .await
        .expect("claim")
        .expect("the key is free after a withdrawal");
    let made = db::trend_collections::finish(conn, made.id, 1, 0, &serde_json::json!({})).await.expect("finish");
    db::trend_collections::withdraw(conn, made.id).await.expect("withdraw");
    assert_eq!(db::trend_collections::find(conn, made.id).await.expect("find").status, CollectionStatus::Ready);
}

/// One job at a time analyses a collection: a second is refused while the claim holds, the
/// claimer's own retry takes it back, a released or expired claim is free again, and only the
/// holder's release ends it.
async fn one_analysis_claim_per_collection_and_an_expired_one_is_taken_over(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let (maker, first, second) = (job(conn).await, job(conn).await, job(conn).await);
    let claimed = db::trend_collections::claim(conn, &NewTrendCollection::claim(&key(), maker.id, MadeBy::Job, CLAIM))
        .await
        .expect("claim")
        .expect("claimed");
    let collection =
        db::trend_collections::finish(conn, claimed.id, 3, 0, &serde_json::json!({})).await.expect("finish");
    let id = collection.id;
    assert!(db::trend_collections::claim_analysis(conn, id, first.id, CLAIM).await.expect("claim"));
    assert!(!db::trend_collections::claim_analysis(conn, id, second.id, CLAIM).await.expect("claim"), "held");
    assert!(db::trend_collections::claim_analysis(conn, id, first.id, CLAIM).await.expect("claim"), "its own retry");
    // Only the holder's release ends the claim.
    db::trend_collections::release_analysis(conn, id, second.id).await.expect("release");
    assert!(!db::trend_collections::claim_analysis(conn, id, second.id, CLAIM).await.expect("claim"), "still held");
    db::trend_collections::release_analysis(conn, id, first.id).await.expect("release");
    assert!(db::trend_collections::claim_analysis(conn, id, second.id, Duration::ZERO).await.expect("claim"), "free");
    // The second job died holding it: the claim lapses and the first takes it over.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(db::trend_collections::claim_analysis(conn, id, first.id, CLAIM).await.expect("claim"), "taken over");
    assert!(!db::trend_collections::claim_analysis(conn, id, second.id, CLAIM).await.expect("claim"));
}

async fn the_freshest_ready_collection_is_used_and_each_job_uses_one(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let (maker, user, late) = (job(conn).await, job(conn).await, job(conn).await);
    let before = db::now();
    assert!(db::trend_collections::freshest(conn, &key(), None).await.expect("freshest").is_none());
    let claimed = db::trend_collections::claim(conn, &NewTrendCollection::claim(&key(), maker.id, MadeBy::Job, CLAIM))
        .await
        .expect("claim")
        .expect("claimed");
    assert!(db::trend_collections::freshest(conn, &key(), None).await.expect("freshest").is_none(), "not ready yet");
    let ready = db::trend_collections::finish(conn, claimed.id, 7, 0, &serde_json::json!({"youtube": 101}))
        .await
        .expect("finish");
    assert_eq!((ready.status, ready.trends_seen), (CollectionStatus::Ready, 7));

    let fresh = db::trend_collections::freshest(conn, &key(), Some(before)).await.expect("freshest").expect("fresh");
    assert_eq!(fresh.id, ready.id);
    let later = db::now() + chrono::Duration::seconds(1);
    assert!(db::trend_collections::freshest(conn, &key(), Some(later)).await.expect("freshest").is_none());

    assert_eq!(db::trend_collections::record_use(conn, user.id, &fresh).await.expect("use"), fresh.id);
    let (used, collection) = db::trend_collections::used_by(conn, user.id).await.expect("used_by").expect("a use");
    assert_eq!((used.shared, collection.id), (true, fresh.id));
    let (made, _) = db::trend_collections::used_by(conn, maker.id).await.expect("used_by").expect("the maker's use");
    assert!(!made.shared);
    assert_eq!(db::trend_collections::uses(conn, fresh.id).await.expect("uses"), 2);
    assert!(db::trend_collections::used_by(conn, late.id).await.expect("used_by").is_none());
}

async fn concurrent_charges_never_pass_the_daily_quota_and_refunds_give_room_back(db: TestDb) {
    // Ten replicas charge a collection each (101 units) against 500 units at once: four fit.
    let mut charges = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let pool = db.pool.clone();
        charges.spawn(async move {
            let mut pooled = pool.get().await.expect("connection");
            db::trend_collections::charge_quota(&mut pooled.conn(), "youtube", "2026-12-06", 101, 500)
                .await
                .expect("charge")
        });
    }
    let charged = charges.join_all().await;
    assert_eq!(charged.iter().filter(|c| **c).count(), 4, "{charged:?}");
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    assert_eq!(db::trend_collections::quota_used(conn, "youtube", "2026-12-06").await.expect("used"), 404);
    assert_eq!(db::trend_collections::quota_used(conn, "youtube", "2026-12-07").await.expect("used"), 0);
    assert!(!db::trend_collections::charge_quota(conn, "apify", "2026-12-06", 2, 1).await.expect("charge"));

    // A charge given back (the next source's quota refused the collection) is room again, and a
    // refund never takes the count below zero.
    db::trend_collections::refund_quota(conn, "youtube", "2026-12-06", 101).await.expect("refund");
    assert_eq!(db::trend_collections::quota_used(conn, "youtube", "2026-12-06").await.expect("used"), 303);
    assert!(db::trend_collections::charge_quota(conn, "youtube", "2026-12-06", 101, 500).await.expect("charge"));
    db::trend_collections::refund_quota(conn, "apify", "2026-12-06", 5).await.expect("refund");
    assert_eq!(db::trend_collections::quota_used(conn, "apify", "2026-12-06").await.expect("used"), 0);
}

/// A reused report gets the original's items, copied by the database under its own job and id;
/// a second write for the same job returns the report it has.
async fn a_reused_report_copies_the_original_items(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let (paid, reusing) = (job(conn).await, job(conn).await);
    let items = [trend_item("a", 300), trend_item("b", 200), trend_item("c", 100)];
    let (trends, _) = db::trends::upsert_collected(conn, paid.id, None, &items).await.expect("trends");
    let analysed: Vec<(i64, f64)> = trends.iter().map(|t| (t.id, t.engagement_velocity)).collect();
    let new = db::NewTrendReport::new(paid.id, "heuristic", 48, 3, &report_body());
    let (original, _) = db::trend_reports::insert_or_get(conn, &new, &analysed).await.expect("original");

    let copy = db::NewTrendReport::reuse_of(reusing.id, &original);
    let reused = db::trend_reports::insert_reuse(conn, &copy, original.id).await.expect("reuse");
    assert_eq!((reused.job_id, reused.reused_from_id), (reusing.id, Some(original.id)));
    let copied = db::trend_reports::items(conn, reused.id).await.expect("items");
    let expected = db::trend_reports::items(conn, original.id).await.expect("items");
    assert_eq!(copied.len(), 3);
    for (copy, original) in copied.iter().zip(&expected) {
        assert_eq!((copy.job_id, copy.trend_report_id), (reusing.id, reused.id));
        assert_eq!(
            (copy.trend_id, copy.rank, copy.engagement_velocity),
            (original.trend_id, original.rank, original.engagement_velocity)
        );
    }
    let again = db::trend_reports::insert_reuse(conn, &copy, original.id).await.expect("again");
    assert_eq!(again.id, reused.id, "a job has one report");
    assert_eq!(db::trend_reports::items(conn, reused.id).await.expect("items").len(), 3, "nothing copied twice");
}

on_both_backends!(
    one_claim_per_key_and_an_expired_claim_is_taken_over,
    one_analysis_claim_per_collection_and_an_expired_one_is_taken_over,
    the_freshest_ready_collection_is_used_and_each_job_uses_one,
    concurrent_charges_never_pass_the_daily_quota_and_refunds_give_room_back,
    a_reused_report_copies_the_original_items,
);
