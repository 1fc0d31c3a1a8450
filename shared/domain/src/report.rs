//! What the analyst concludes from recent trends.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoStyle {
    pub category: String,
    /// 0.0..=1.0: the share of analysed items showing this style.
    pub confidence: f64,
    pub count: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonPattern {
    pub format: String,
    pub avg_duration_seconds: f64,
    pub hook_type: String,
    pub uses_text_overlay: bool,
    pub audio_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashtagCount {
    pub tag: String,
    pub count: i32,
}

/// The body of a trend report (the row adds job, analyst and the analysed trends); the default
/// is a report that found nothing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrendReportBody {
    pub video_styles: Vec<VideoStyle>,
    pub common_patterns: Vec<CommonPattern>,
    pub avg_engagement_velocity: f64,
    pub top_hashtags: Vec<HashtagCount>,
    pub recommendations: Vec<String>,
}
