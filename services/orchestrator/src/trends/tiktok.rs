//! TikTok through the Apify TikTok scraper actor (`clockworks/tiktok-scraper`): its dataset items
//! (`GET /v2/datasets/{id}/items` or `run-sync-get-dataset-items`) are a JSON array of objects:
//!
//! ```json
//! [{ "id": "7441…", "text": "caption #tags", "createTimeISO": "2026-11-24T18:00:00.000Z",
//!    "createTime": 1795543200, "authorMeta": { "name": "chef.mara", "nickName": "Mara Cooks" },
//!    "musicMeta": { "musicName": "original sound - chef.mara", "musicOriginal": true },
//!    "webVideoUrl": "https://www.tiktok.com/@chef.mara/video/7441…",
//!    "videoMeta": { "duration": 38, "coverUrl": "https://…" }, "covers": ["https://…"],
//!    "diggCount": 198000, "shareCount": 11800, "playCount": 2140000, "commentCount": 2140,
//!    "hashtags": [{ "name": "cooking" }] }]
//! ```

use serde_json::Value;
use shortline_domain::{Platform, TrendItem};

use super::hashtags::{extract_hashtags, push_unique};
use super::parse::{self, clip, count, rfc3339, squash, string, unix_seconds, Parsed, SkipReason};
use super::TrendError;

/// TikTok captions have no separate title; the caption without its hashtags, cut to this length,
/// serves as one.
const TITLE_CHARS: usize = 100;

/// Parses an Apify TikTok scraper dataset (a JSON array of items). Broken items are skipped and
/// counted; an answer that is not an array (or is an error document) is an error.
pub fn parse_apify_tiktok(json: &str) -> Result<Parsed, TrendError> {
    parse::answer(Platform::Tiktok, json, Value::as_array, "a JSON array of dataset items", item)
}

fn item(entry: &Value) -> Result<TrendItem, SkipReason> {
    let Value::Object(obj) = entry else {
        return Err(SkipReason::NotAnObject);
    };
    let external_id = string(obj.get("id")).ok_or(SkipReason::MissingId)?;
    let author = obj.get("authorMeta");
    let username = string(author.and_then(|a| a.get("name")));
    let creator =
        username.clone().or_else(|| string(author.and_then(|a| a.get("nickName")))).unwrap_or_else(|| "unknown".into());
    let video_url = string(obj.get("webVideoUrl"))
        .or_else(|| username.as_ref().map(|u| format!("https://www.tiktok.com/@{u}/video/{external_id}")))
        .ok_or(SkipReason::MissingUrl)?;
    let posted_at = rfc3339(obj.get("createTimeISO"))
        .or_else(|| unix_seconds(obj.get("createTime")))
        .ok_or(SkipReason::BadPostedTime)?;

    let video_meta = obj.get("videoMeta");
    let duration_seconds = video_meta
        .and_then(|m| m.get("duration"))
        .and_then(Value::as_f64)
        .filter(|d| d.is_finite() && *d >= 0.5 && *d < f64::from(i32::MAX))
        .map(|d| d.round() as i32)
        .ok_or(SkipReason::BadDuration)?;

    let views = count(obj.get("playCount"))?;
    let likes = count(obj.get("diggCount"))?;
    let comments = count(obj.get("commentCount"))?;
    let shares = count(obj.get("shareCount"))?;

    let text = string(obj.get("text")).unwrap_or_default();
    let mut hashtags = Vec::new();
    if let Some(Value::Array(tags)) = obj.get("hashtags") {
        push_unique(&mut hashtags, tags.iter().filter_map(|t| string(t.get("name")).or_else(|| string(Some(t)))));
    }
    push_unique(&mut hashtags, extract_hashtags(&text));

    let title = caption_title(&text).unwrap_or_else(|| format!("TikTok by @{creator}"));
    let sound_name = string(obj.get("musicMeta").and_then(|m| m.get("musicName")));
    let thumbnail_url = string(video_meta.and_then(|m| m.get("coverUrl")))
        .or_else(|| string(video_meta.and_then(|m| m.get("originalCoverUrl"))))
        .or_else(|| cover(obj.get("covers")));

    Ok(TrendItem {
        platform: Platform::Tiktok,
        external_id,
        title,
        description: text,
        hashtags,
        views,
        likes,
        comments,
        shares,
        duration_seconds,
        creator,
        sound_name,
        video_url,
        thumbnail_url,
        posted_at,
    })
}

/// The caption without its hashtags, on one line; `None` if nothing else is written.
fn caption_title(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().filter(|w| !w.starts_with('#')).collect();
    let title = squash(&words.join(" "));
    (!title.is_empty()).then(|| clip(&title, TITLE_CHARS))
}

/// Older actor versions send `covers` as a list of URLs or as `{ "default": url, ... }`.
fn cover(covers: Option<&Value>) -> Option<String> {
    match covers? {
        Value::Array(urls) => urls.iter().find_map(|u| string(Some(u))),
        Value::Object(map) => string(map.get("default")).or_else(|| map.values().find_map(|u| string(Some(u)))),
        other => string(Some(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("samples/tiktok_apify.json");

    #[test]
    fn every_bundled_item_parses() {
        let parsed = parse_apify_tiktok(SAMPLE).expect("sample parses");
        assert_eq!(parsed.items.len(), 24);
        assert_eq!(parsed.skipped_total(), 0);
        let first = &parsed.items[0];
        assert_eq!(first.platform, Platform::Tiktok);
        assert_eq!(first.title, "How to make crispy garlic butter potatoes in 15 minutes 🥔");
        assert_eq!(first.hashtags, ["#cooking", "#recipe", "#easyrecipe", "#foodtok"]);
        assert_eq!((first.views, first.likes, first.comments, first.shares), (2_140_000, 198_000, 2_140, 11_800));
        assert_eq!(first.duration_seconds, 38);
        assert_eq!(first.creator, "chef.mara");
        assert_eq!(first.sound_name.as_deref(), Some("original sound - chef.mara"));
        assert!(first.video_url.starts_with("https://www.tiktok.com/@chef.mara/video/"));
        assert!(first.thumbnail_url.as_deref().is_some_and(|u| u.starts_with("https://")));
        assert_eq!(first.posted_at.to_rfc3339(), "2026-11-24T18:00:00+00:00");
    }

    #[test]
    fn broken_items_are_skipped_and_counted() {
        let good = json!({
            "id": 7441, "text": "#One #two", "createTime": 1795543200, "authorMeta": { "name": "a" },
            "videoMeta": { "duration": 12.4 }, "covers": { "default": "https://c/1.jpg" }, "diggCount": "5"
        });
        let mut no_id = good.clone();
        no_id["id"] = Value::Null;
        let mut no_time = good.clone();
        no_time["id"] = json!("2");
        no_time["createTime"] = json!("soon");
        let mut bad_count = good.clone();
        bad_count["id"] = json!("3");
        bad_count["playCount"] = json!(-4);
        let mut slideshow = good.clone();
        slideshow["id"] = json!("4");
        slideshow["videoMeta"] = json!({ "duration": 0 });
        let mut no_url = good.clone();
        no_url["id"] = json!("5");
        no_url["authorMeta"] = json!({ "nickName": "Only A Nickname" });
        let doc = json!([good, no_id, no_time, bad_count, slideshow, no_url, "junk", good]);

        let parsed = parse_apify_tiktok(&doc.to_string()).expect("parses");
        assert_eq!(parsed.items.len(), 1);
        let item = &parsed.items[0];
        assert_eq!(item.external_id, "7441");
        assert_eq!(item.title, "TikTok by @a");
        assert_eq!(item.hashtags, ["#one", "#two"]);
        assert_eq!((item.likes, item.views, item.duration_seconds), (5, 0, 12));
        assert_eq!(item.video_url, "https://www.tiktok.com/@a/video/7441");
        assert_eq!(item.thumbnail_url.as_deref(), Some("https://c/1.jpg"));
        for reason in [
            SkipReason::MissingId,
            SkipReason::BadPostedTime,
            SkipReason::BadCount,
            SkipReason::BadDuration,
            SkipReason::MissingUrl,
            SkipReason::NotAnObject,
            SkipReason::DuplicateId,
        ] {
            assert_eq!(parsed.skipped(reason), 1, "{reason}");
        }
    }

    #[test]
    fn a_document_that_is_not_a_dataset_is_an_error() {
        for doc in ["not json", "{\"items\": []}", "42"] {
            let err = parse_apify_tiktok(doc).expect_err(doc);
            assert!(matches!(err, TrendError::Malformed { platform: Platform::Tiktok, .. }), "{err}");
        }
        let err = parse_apify_tiktok(r#"{"error": {"type": "record-not-found", "message": "Dataset was not found"}}"#)
            .expect_err("error document");
        assert_eq!(err.to_string(), "tiktok API error: Dataset was not found");
        assert!(parse_apify_tiktok("[]").expect("empty is fine").items.is_empty());
    }
}
