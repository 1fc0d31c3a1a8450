//! Rows and bodies tests write through the db layer.

use shortline_db::{self as db, AssetKind, NewMediaAsset, NewScript, NewVideo, VideoStatus};
use shortline_domain::{
    CommonPattern, HashtagCount, Platform, ProductionPlan, Theme, TrendItem, TrendReportBody, VideoStyle,
};

/// A TikTok item posted three hours ago, `likes` setting its engagement.
pub fn trend_item(external_id: &str, likes: i64) -> TrendItem {
    TrendItem {
        platform: Platform::Tiktok,
        external_id: external_id.into(),
        title: format!("item {external_id}"),
        description: "a trending video".into(),
        hashtags: vec!["#fyp".into()],
        views: 1000,
        likes,
        comments: 10,
        shares: 5,
        duration_seconds: 21,
        creator: "creator".into(),
        sound_name: None,
        video_url: format!("https://example.test/{external_id}"),
        thumbnail_url: None,
        posted_at: chrono::Utc::now() - chrono::Duration::hours(3),
    }
}

/// A small trend report: one style, one pattern, one hashtag, one recommendation.
pub fn report_body() -> TrendReportBody {
    TrendReportBody {
        video_styles: vec![VideoStyle { category: "tutorial".into(), confidence: 0.6, count: 12 }],
        common_patterns: vec![CommonPattern {
            format: "vertical".into(),
            avg_duration_seconds: 18.0,
            hook_type: "question".into(),
            uses_text_overlay: true,
            audio_type: "voiceover".into(),
        }],
        avg_engagement_velocity: 420.0,
        top_hashtags: vec![HashtagCount { tag: "#hydration".into(), count: 9 }],
        recommendations: vec!["Open with a question".into()],
    }
}

/// The row of a template-planned script of [`ProductionPlan::sample`] for `job_id`'s report,
/// its theme named `theme`.
#[allow(clippy::expect_used)]
pub fn template_script(job_id: i64, trend_report_id: i64, variant: i32, theme: &str) -> NewScript {
    let theme = Theme::from_yaml(&format!("config:\n  theme: {theme}\n")).expect("theme");
    NewScript::new(job_id, trend_report_id, variant, &ProductionPlan::sample(), &theme, "template", "template-v1", 0)
}

/// A stored 3 s media asset row of `script_id`: scene 0 is the voiceover, any other a clip
/// (files it names need not exist).
pub fn stored_asset(job_id: i64, script_id: i64, scene_number: i32) -> NewMediaAsset {
    NewMediaAsset {
        job_id,
        script_id,
        kind: if scene_number == 0 { AssetKind::Voiceover } else { AssetKind::Clip },
        scene_number,
        uri: format!("file:///media/{job_id}/{scene_number}"),
        duration_seconds: 3.0,
        size_bytes: 10,
        sha256: "00".repeat(32),
        provider: "test".into(),
        model: "test".into(),
        usage: serde_json::json!({}),
        cost_micros: 0,
        created_at: db::now(),
    }
}

/// A generated 9 s 1080x1920 video row of `script_id`'s `variant` (files it names need not exist).
pub fn generated_video(job_id: i64, script_id: i64, variant: i32) -> NewVideo {
    NewVideo {
        job_id,
        script_id,
        variant,
        status: VideoStatus::Generated,
        uri: format!("file:///media/{job_id}/video.mp4"),
        thumbnail_uri: format!("file:///media/{job_id}/thumb.jpg"),
        duration_seconds: 9.0,
        size_bytes: 1000,
        sha256: "00".repeat(32),
        width: 1080,
        height: 1920,
        llm_cost_micros: 0,
        tts_cost_micros: 0,
        video_generation_cost_micros: 0,
        generation_log: serde_json::json!({}),
        created_at: db::now(),
        updated_at: db::now(),
    }
}
