//! A trending short video as collected from a platform.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Tiktok,
    Youtube,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::Tiktok, Platform::Youtube];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Tiktok => "tiktok",
            Platform::Youtube => "youtube",
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tiktok" => Ok(Platform::Tiktok),
            "youtube" | "youtube_shorts" | "shorts" => Ok(Platform::Youtube),
            other => Err(format!("unknown platform `{other}` (expected tiktok or youtube)")),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One platform item, normalised from whatever API answered (or the bundled samples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendItem {
    pub platform: Platform,
    /// The platform's own id of the video; unique together with `platform`.
    pub external_id: String,
    pub title: String,
    pub description: String,
    pub hashtags: Vec<String>,
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
    pub duration_seconds: i32,
    pub creator: String,
    pub sound_name: Option<String>,
    pub video_url: String,
    pub thumbnail_url: Option<String>,
    pub posted_at: DateTime<Utc>,
}

impl TrendItem {
    /// (likes + comments + shares) per hour since posting; an item younger than an hour counts
    /// as one hour old so brand-new posts do not divide by ~0.
    pub fn engagement_velocity(&self, now: DateTime<Utc>) -> f64 {
        let hours = ((now - self.posted_at).num_seconds() as f64 / 3600.0).max(1.0);
        (self.likes + self.comments + self.shares) as f64 / hours
    }
}
