//! Stock footage from Pexels: `GET /videos/search?query=…&orientation=…&size=medium&per_page=…`
//! with the key as the bare `Authorization` header; the answer lists `videos`, each with
//! `video_files` (`{quality, file_type, width, height, link}`). The best-fitting MP4 file is
//! downloaded from its link (a CDN: no key). Pexels footage is free; the page URL and
//! videographer are kept for attribution.

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use shortline_domain::Scene;
use shortline_providers::{ModelApi, ModelClient, ProviderClient, ProviderError, Usage};

use super::clips::{aspect_ratio, FetchedVideo, VideoApi};
use crate::media::ClipTarget;

/// Recorded as the model of stock clips.
pub const PEXELS_MODEL: &str = "pexels-stock";

/// Words of the visual prompt used as the search query (stock search wants few words).
const QUERY_WORDS: usize = 8;

pub struct PexelsVideo {
    api: ModelClient,
    download_timeout: std::time::Duration,
}

#[derive(Debug, Deserialize)]
struct SearchAnswer {
    videos: Vec<Video>,
}

#[derive(Debug, Deserialize)]
struct Video {
    id: u64,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    video_files: Vec<VideoFile>,
}

#[derive(Debug, Deserialize)]
struct User {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct VideoFile {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    file_type: Option<String>,
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    height: Option<u32>,
    link: String,
}

impl PexelsVideo {
    /// `client` must use [`Auth::AuthorizationPrefix("")`](shortline_providers::Auth).
    pub fn new(client: ProviderClient, download_timeout: std::time::Duration) -> Self {
        Self { api: ModelClient::new(client, PEXELS_MODEL), download_timeout }
    }

    async fn search(&self, scene: &Scene, target: &ClipTarget) -> Result<FetchedVideo, ProviderError> {
        let query = search_query(&scene.visual_prompt);
        let orientation = match aspect_ratio(target) {
            "9:16" => "portrait",
            "16:9" => "landscape",
            _ => "square",
        };
        let url = self.api.client.url("/videos/search");
        let reply = self
            .api
            .client
            .send("search videos", |http| {
                http.get(&url).query(&[
                    ("query", query.as_str()),
                    ("orientation", orientation),
                    ("size", "medium"),
                    ("per_page", "15"),
                ])
            })
            .await?;
        let answer: SearchAnswer = self.api.client.json(&reply)?;
        let (video, file) = pick(&answer.videos, target).ok_or_else(|| ProviderError::JobFailed {
            provider: self.api.client.name().to_owned(),
            message: format!("no usable MP4 footage found for {query:?}"),
        })?;
        let download = self.api.client.download("download video", &file.link, self.download_timeout).await?;
        Ok(FetchedVideo {
            bytes: download.body.to_vec(),
            usage: Usage::seconds(target.seconds),
            source: json!({
                "pexels_video_id": video.id,
                "pexels_file_id": file.id,
                "page_url": video.url,
                "videographer": video.user.as_ref().and_then(|u| u.name.clone()),
                "query": query,
            }),
        })
    }
}

/// The first words of a prompt, without punctuation.
fn search_query(prompt: &str) -> String {
    let words: Vec<String> = prompt
        .split_whitespace()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric() || *c == '-' || *c == '\'').collect::<String>())
        .filter(|w| !w.is_empty())
        .take(QUERY_WORDS)
        .collect();
    if words.is_empty() {
        "abstract background".to_owned()
    } else {
        words.join(" ")
    }
}

/// The best file: among videos at least as long as the target (else any), an MP4 of the
/// target's orientation that covers the frame with the fewest pixels; else the largest MP4.
fn pick<'v>(videos: &'v [Video], target: &ClipTarget) -> Option<(&'v Video, VideoFile)> {
    let portrait = target.height >= target.width;
    let usable = |f: &&VideoFile| {
        f.file_type.as_deref().is_none_or(|t| t == "video/mp4")
            && (f.link.starts_with("https://") || f.link.starts_with("http://"))
    };
    let best_file = |video: &'v Video| -> Option<VideoFile> {
        let files: Vec<&VideoFile> = video.video_files.iter().filter(usable).collect();
        let size = |f: &VideoFile| (f.width.unwrap_or(0), f.height.unwrap_or(0));
        let covering = files
            .iter()
            .filter(|f| {
                let (w, h) = size(f);
                w >= target.width && h >= target.height && (h >= w) == portrait
            })
            .min_by_key(|f| u64::from(size(f).0) * u64::from(size(f).1));
        covering
            .or_else(|| files.iter().max_by_key(|f| u64::from(size(f).0) * u64::from(size(f).1)))
            .map(|f| (*f).clone())
    };
    let long_enough = |v: &&Video| v.duration.is_some_and(|d| d + 1e-6 >= target.seconds);
    videos
        .iter()
        .filter(long_enough)
        .find_map(|v| best_file(v).map(|f| (v, f)))
        .or_else(|| videos.iter().find_map(|v| best_file(v).map(|f| (v, f))))
}

impl ModelApi for PexelsVideo {
    fn model_client(&self) -> &ModelClient {
        &self.api
    }
}

impl VideoApi for PexelsVideo {
    fn estimate(&self, seconds: f64) -> Usage {
        Usage::seconds(seconds)
    }

    fn fetch<'a>(
        &'a self,
        scene: &'a Scene,
        target: &'a ClipTarget,
    ) -> BoxFuture<'a, Result<FetchedVideo, ProviderError>> {
        Box::pin(self.search(scene, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: u64, w: u32, h: u32) -> VideoFile {
        VideoFile {
            id: Some(id),
            file_type: Some("video/mp4".into()),
            width: Some(w),
            height: Some(h),
            link: format!("https://cdn/{id}.mp4"),
        }
    }

    #[test]
    fn picks_the_smallest_portrait_file_covering_the_frame_of_a_long_enough_video() {
        let target = ClipTarget { width: 360, height: 640, fps: 30, seconds: 4.0, out_path: "x.mp4".into() };
        let short = Video { id: 1, url: None, duration: Some(2.0), user: None, video_files: vec![file(10, 720, 1280)] };
        let long = Video {
            id: 2,
            url: None,
            duration: Some(9.0),
            user: None,
            video_files: vec![file(20, 1080, 1920), file(21, 540, 960), file(22, 960, 540), file(23, 240, 426)],
        };
        let videos = [short, long];
        let (video, chosen) = pick(&videos, &target).expect("a file");
        assert_eq!((video.id, chosen.id), (2, Some(21)));
        assert_eq!(
            search_query("Close-up: a chef's hands, slicing fresh basil on a board, warm light"),
            "Close-up a chef's hands slicing fresh basil on"
        );
        assert!(pick(&[], &target).is_none());
    }
}
