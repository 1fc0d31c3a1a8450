//! YouTube Shorts through the YouTube Data API v3: the answer of
//! `videos.list?part=snippet,contentDetails,statistics` (e.g. with `chart=mostPopular`):
//!
//! ```json
//! { "kind": "youtube#videoListResponse",
//!   "items": [{ "id": "InO7I8O-6dg",
//!     "snippet": { "publishedAt": "2026-11-24T19:30:00Z", "title": "…", "description": "…",
//!                  "tags": ["knife sharpening"], "channelTitle": "Blade & Board",
//!                  "thumbnails": { "high": { "url": "https://i.ytimg.com/vi/…/hqdefault.jpg" } } },
//!     "contentDetails": { "duration": "PT48S" },
//!     "statistics": { "viewCount": "1840000", "likeCount": "92100", "commentCount": "1330" } }] }
//! ```
//!
//! Statistics are strings; YouTube reports no shares (0 here); hidden likes or disabled comments
//! omit the field (0 here). Only Shorts are kept: videos of at most [`YOUTUBE_SHORTS_MAX_SECONDS`].

use serde_json::Value;
use shortline_domain::{Platform, TrendItem};

use super::hashtags::{extract_hashtags, push_unique};
use super::parse::{self, count, rfc3339, squash, string, Parsed, SkipReason};
use super::TrendError;

/// The longest video kept, in seconds: since 15 October 2024 a Short may run up to 3 minutes
/// (YouTube Help, "Upload YouTube Shorts"), so `PT3M` is kept and `PT3M1S` is not.
pub const YOUTUBE_SHORTS_MAX_SECONDS: u32 = 180;

/// Parses a `videos.list` answer. Broken items are skipped and counted, videos longer than a Short
/// are filtered out (counted as [`SkipReason::NotAShort`]); an answer without an `items` array, or
/// an error document, is an error.
pub fn parse_youtube_videos_list(json: &str) -> Result<Parsed, TrendError> {
    parse::answer(Platform::Youtube, json, |doc| doc.get("items")?.as_array(), "an object with an `items` array", item)
}

fn item(entry: &Value) -> Result<TrendItem, SkipReason> {
    let Value::Object(obj) = entry else {
        return Err(SkipReason::NotAnObject);
    };
    // `videos.list` sends the id as a string; `search.list` would send `{ "videoId": … }`.
    let external_id = string(obj.get("id"))
        .or_else(|| string(obj.get("id").and_then(|id| id.get("videoId"))))
        .ok_or(SkipReason::MissingId)?;
    let snippet = obj.get("snippet");
    let field = |name: &str| snippet.and_then(|s| s.get(name));

    let posted_at = rfc3339(field("publishedAt")).ok_or(SkipReason::BadPostedTime)?;
    let duration = obj
        .get("contentDetails")
        .and_then(|c| c.get("duration"))
        .and_then(Value::as_str)
        .and_then(parse_iso8601_duration)
        .filter(|d| *d > 0)
        .ok_or(SkipReason::BadDuration)?;
    if duration > YOUTUBE_SHORTS_MAX_SECONDS {
        return Err(SkipReason::NotAShort);
    }

    let statistics = obj.get("statistics");
    let stat = |name: &str| count(statistics.and_then(|s| s.get(name)));
    let views = stat("viewCount")?;
    let likes = stat("likeCount")?;
    let comments = stat("commentCount")?;

    let title = string(field("title")).map(|t| squash(&t)).unwrap_or_default();
    let description = string(field("description")).unwrap_or_default();
    let mut hashtags = Vec::new();
    if let Some(Value::Array(tags)) = field("tags") {
        push_unique(&mut hashtags, tags.iter().filter_map(|t| string(Some(t))));
    }
    push_unique(&mut hashtags, extract_hashtags(&title));
    push_unique(&mut hashtags, extract_hashtags(&description));

    let thumbnails = field("thumbnails");
    let thumbnail_url = ["high", "medium", "standard", "maxres", "default"]
        .iter()
        .find_map(|size| string(thumbnails.and_then(|t| t.get(size)).and_then(|t| t.get("url"))));

    Ok(TrendItem {
        platform: Platform::Youtube,
        video_url: format!("https://www.youtube.com/shorts/{external_id}"),
        external_id,
        title,
        description,
        hashtags,
        views,
        likes,
        comments,
        shares: 0,
        duration_seconds: i32::try_from(duration).map_err(|_| SkipReason::BadDuration)?,
        creator: string(field("channelTitle")).unwrap_or_else(|| "unknown".into()),
        sound_name: None,
        thumbnail_url,
        posted_at,
    })
}

/// Parses an ISO-8601 duration as YouTube sends it (`PT45S`, `PT1M2S`, `PT1H2M3S`, `P1DT2H`,
/// `P0D`, also weeks and fractional seconds) into whole seconds, rounding fractions. Years and
/// months (whose length varies) are not accepted; `None` for anything malformed.
pub fn parse_iso8601_duration(text: &str) -> Option<u32> {
    let rest = text.trim().strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((_, "")) => return None,
        Some((date, time)) => (date, Some(time)),
        None => (rest, None),
    };
    let mut seconds = 0.0_f64;
    seconds += components(date, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(time) = time {
        seconds += components(time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    let rounded = seconds.round();
    (rounded <= f64::from(u32::MAX)).then_some(rounded as u32)
}

/// Sums `<number><unit>` pairs whose units appear in `units`' order, each at most once.
fn components(text: &str, units: &[(char, f64)]) -> Option<f64> {
    let mut total = 0.0;
    let mut next_unit = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            number.push(if c == ',' { '.' } else { c });
            continue;
        }
        let offset = units[next_unit..].iter().position(|(unit, _)| *unit == c)?;
        let (_, scale) = units[next_unit + offset];
        // Only the smallest unit may have a fraction; a bare unit letter is malformed.
        let value: f64 = number.parse().ok()?;
        if number.contains('.') && c != 'S' {
            return None;
        }
        total += value * scale;
        number.clear();
        next_unit += offset + 1;
    }
    number.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("samples/youtube_videos_list.json");

    #[test]
    fn iso8601_durations() {
        for (text, seconds) in [
            ("PT45S", 45),
            ("PT1M2S", 62),
            ("PT1M", 60),
            ("PT20M15S", 1215),
            ("PT1H", 3600),
            ("PT1H2M3S", 3723),
            ("P1DT1S", 86_401),
            ("P1W", 604_800),
            ("P0D", 0),
            ("PT0S", 0),
            ("PT12.6S", 13),
            ("PT1,4S", 1),
        ] {
            assert_eq!(parse_iso8601_duration(text), Some(seconds), "{text}");
        }
        for text in
            ["", "P", "PT", "45S", "PT45", "PTS", "PT1S1M", "PT1M1M", "P1Y", "P1M", "PT-5S", "PT1.5M", "1:02", "P1DT"]
        {
            assert_eq!(parse_iso8601_duration(text), None, "{text}");
        }
    }

    #[test]
    fn bundled_answer_keeps_only_shorts() {
        let parsed = parse_youtube_videos_list(SAMPLE).expect("sample parses");
        assert_eq!(parsed.items.len(), 13);
        assert_eq!(parsed.skipped(SkipReason::NotAShort), 3, "PT20M15S, PT8M42S and PT4M35S");
        assert_eq!(parsed.skipped_total(), 3);
        assert!(parsed.items.iter().all(|i| (1..=180).contains(&i.duration_seconds)));

        let first = &parsed.items[0];
        assert_eq!(first.platform, Platform::Youtube);
        assert_eq!(first.title, "How to sharpen a kitchen knife in 60 seconds");
        assert_eq!(first.duration_seconds, 48);
        assert_eq!((first.views, first.likes, first.comments, first.shares), (1_840_000, 92_100, 1_330, 0));
        assert_eq!(first.creator, "Blade & Board");
        assert_eq!(first.sound_name, None);
        assert_eq!(first.video_url, format!("https://www.youtube.com/shorts/{}", first.external_id));
        assert!(first.thumbnail_url.as_deref().is_some_and(|u| u.ends_with("/hqdefault.jpg")));
        // Tags first, then `#words` from title and description; normalised and deduplicated.
        assert_eq!(
            first.hashtags,
            ["#knifesharpening", "#kitchentips", "#cooking", "#whetstone", "#knifeskills", "#shorts"]
        );
        // Hidden likes count as 0.
        let pressure = parsed.items.iter().find(|i| i.title.starts_with("Satisfying pressure")).expect("present");
        assert_eq!(pressure.likes, 0);
    }

    #[test]
    fn broken_items_are_skipped_and_counted() {
        let good = json!({
            "id": "abc", "snippet": { "publishedAt": "2026-11-24T10:00:00Z", "title": "Hi #Cats", "tags": ["cats"] },
            "contentDetails": { "duration": "PT30S" }, "statistics": { "viewCount": "10", "likeCount": 2 }
        });
        let mut long = good.clone();
        long["id"] = json!("long");
        long["contentDetails"]["duration"] = json!("PT3M1S");
        let mut three_minutes = good.clone();
        three_minutes["id"] = json!("three");
        three_minutes["contentDetails"]["duration"] = json!("PT3M");
        let mut live = good.clone();
        live["id"] = json!("live");
        live["contentDetails"]["duration"] = json!("P0D");
        let mut bad_time = good.clone();
        bad_time["id"] = json!("time");
        bad_time["snippet"]["publishedAt"] = json!("2026-13-45");
        let mut bad_count = good.clone();
        bad_count["id"] = json!("count");
        bad_count["statistics"]["viewCount"] = json!("lots");
        let doc = json!({ "kind": "youtube#videoListResponse", "items": [good, three_minutes, long, live, bad_time, bad_count, 7, { "snippet": {} }] });

        let parsed = parse_youtube_videos_list(&doc.to_string()).expect("parses");
        assert_eq!(parsed.items.len(), 2, "PT3M is as long as a Short may be");
        assert_eq!(parsed.items[0].hashtags, ["#cats"]);
        assert_eq!(parsed.items[0].creator, "unknown");
        assert_eq!((parsed.items[0].views, parsed.items[0].likes, parsed.items[0].comments), (10, 2, 0));
        for (reason, n) in [
            (SkipReason::NotAShort, 1),
            (SkipReason::BadDuration, 1),
            (SkipReason::BadPostedTime, 1),
            (SkipReason::BadCount, 1),
            (SkipReason::NotAnObject, 1),
            (SkipReason::MissingId, 1),
        ] {
            assert_eq!(parsed.skipped(reason), n, "{reason}");
        }
    }

    #[test]
    fn a_document_without_items_is_an_error() {
        for doc in ["", "[]", "{\"kind\": \"youtube#videoListResponse\"}", "{\"items\": {}}"] {
            let err = parse_youtube_videos_list(doc).expect_err(doc);
            assert!(matches!(err, TrendError::Malformed { platform: Platform::Youtube, .. }), "{err}");
        }
        let quota = r#"{"error": {"code": 403, "message": "The request cannot be completed because you have exceeded your quota.", "errors": [{"reason": "quotaExceeded"}]}}"#;
        let err = parse_youtube_videos_list(quota).expect_err("error document");
        assert!(matches!(err, TrendError::Api { status: Some(403), .. }), "{err}");
        assert!(err.to_string().starts_with("youtube API error (HTTP 403): The request cannot"), "{err}");
    }
}
