//! The real trend sources, through the same parsers as the bundled samples.
//!
//! - [`ApifyTikTok`]: start a run of the Apify actor (`POST /v2/acts/{actorId}/runs`), poll it
//!   (`GET /v2/actor-runs/{runId}`) until `SUCCEEDED`, read its default dataset
//!   (`GET /v2/datasets/{datasetId}/items`) and parse it with [`parse_apify_tiktok`]. The token
//!   goes in the `Authorization: Bearer` header (Apify accepts it there as well as in `?token=`;
//!   a header keeps it out of URLs).
//! - [`YoutubeShorts`]: `search.list` (`type=video`, `videoDuration=short`, `order=viewCount`,
//!   `publishedAfter`) for ids, then `videos.list` (`part=snippet,contentDetails,statistics`)
//!   parsed with [`parse_youtube_videos_list`], which keeps Shorts (at most 3 minutes). The API key
//!   is the `key` query parameter, as the API requires; URLs are never logged.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use shortline_domain::{Platform, TrendItem};
use shortline_providers::{ErrorClass, ProviderClient, ProviderError};

use crate::trends::{parse_apify_tiktok, parse_youtube_videos_list, Fetched, SourceQuota, TrendError, TrendSource};

/// A provider error as the trend stage reports it.
fn trend_error(platform: Platform, error: ProviderError) -> TrendError {
    match error {
        ProviderError::Malformed { reason, .. } => TrendError::Malformed { platform, reason },
        ProviderError::Timeout { .. } | ProviderError::Transport { .. } => {
            TrendError::Transport { platform, message: error.to_string() }
        }
        other => TrendError::Api { platform, status: other.status(), message: other.to_string() },
    }
}

/// TikTok trends from an Apify actor run.
pub struct ApifyTikTok {
    client: ProviderClient,
    actor_id: String,
    hashtags: Vec<String>,
    poll_interval: Duration,
    run_timeout: Duration,
    daily_runs: Option<u64>,
}

impl ApifyTikTok {
    /// `client` must use [`Auth::Bearer`](shortline_providers::Auth::Bearer).
    pub fn new(
        client: ProviderClient,
        actor_id: impl Into<String>,
        hashtags: Vec<String>,
        poll_interval: Duration,
        run_timeout: Duration,
    ) -> Self {
        Self { client, actor_id: actor_id.into(), hashtags, poll_interval, run_timeout, daily_runs: None }
    }

    /// Runs allowed per day (`providers.apify.daily_runs`); `None`: no limit.
    pub fn with_daily_runs(mut self, runs: Option<u64>) -> Self {
        self.daily_runs = runs;
        self
    }

    async fn run(&self, limit: usize) -> Result<Fetched, ProviderError> {
        let input = json!({
            "hashtags": self.hashtags,
            "resultsPerPage": limit,
            "shouldDownloadVideos": false,
            "shouldDownloadCovers": false,
            "shouldDownloadSubtitles": false,
        });
        let start_url = self.client.url(&format!("/v2/acts/{}/runs", self.actor_id));
        // A run is billed: started at most once (Apify documents no idempotency key).
        let reply = self.client.submit_once("start actor run", |http| http.post(&start_url).json(&input)).await?;
        let started: Value = self.client.json(&reply)?;
        let run_id = started
            .pointer("/data/id")
            .and_then(Value::as_str)
            .ok_or_else(|| self.client.malformed_answer("the run has no data.id"))?
            .to_owned();
        let run_url = self.client.url(&format!("/v2/actor-runs/{run_id}"));
        let begun = Instant::now();
        let mut run = started;
        loop {
            let status = run.pointer("/data/status").and_then(Value::as_str).unwrap_or("");
            match status {
                "SUCCEEDED" => break,
                "READY" | "RUNNING" => {}
                "FAILED" | "ABORTING" | "ABORTED" | "TIMING-OUT" | "TIMED-OUT" => {
                    let message = run.pointer("/data/statusMessage").and_then(Value::as_str).unwrap_or("");
                    return Err(ProviderError::JobFailed {
                        provider: self.client.name().to_owned(),
                        message: self.client.redact(&format!("actor run {run_id} ended {status}: {message}")),
                    });
                }
                other => return Err(self.client.malformed_answer(format!("unknown run status {other:?}"))),
            }
            if begun.elapsed() + self.poll_interval > self.run_timeout {
                return Err(ProviderError::JobFailed {
                    provider: self.client.name().to_owned(),
                    message: format!("actor run {run_id} did not finish within {} s", self.run_timeout.as_secs()),
                });
            }
            tokio::time::sleep(self.poll_interval).await;
            let reply = self.client.send("poll actor run", |http| http.get(&run_url)).await?;
            run = self.client.json(&reply)?;
        }
        // The run's platform usage in dollars, as Apify computes it "for informative purposes" (its
        // API docs); a pay-per-event actor's charges (`chargedEventCounts`) are not in it.
        let usd =
            run.pointer("/data/usageTotalUsd").and_then(Value::as_f64).filter(|usd| usd.is_finite() && *usd >= 0.0);
        let cost_micros = usd.map_or(0, |usd| (usd * 1e6).round() as i64);
        tracing::info!(provider = self.client.name(), run_id = %run_id, cost_micros, "actor run finished");
        let dataset = run
            .pointer("/data/defaultDatasetId")
            .and_then(Value::as_str)
            .ok_or_else(|| self.client.malformed_answer("the run has no data.defaultDatasetId"))?
            .to_owned();
        let items_url = self.client.url(&format!("/v2/datasets/{dataset}/items"));
        let limit_text = limit.to_string();
        let reply = self
            .client
            .send("read dataset", |http| {
                http.get(&items_url).query(&[("format", "json"), ("clean", "true"), ("limit", limit_text.as_str())])
            })
            .await?;
        let text =
            std::str::from_utf8(&reply.body).map_err(|_| self.client.malformed_answer("the dataset is not UTF-8"))?;
        let parsed = parse_apify_tiktok(text).map_err(|e| self.client.malformed_answer(e.to_string()))?;
        let mut items = parsed.items;
        items.truncate(limit);
        Ok(Fetched { items, cost_micros })
    }
}

impl TrendSource for ApifyTikTok {
    fn platform(&self) -> Platform {
        Platform::Tiktok
    }

    fn fetch(&self, limit: usize) -> BoxFuture<'_, Result<Fetched, TrendError>> {
        Box::pin(async move { self.run(limit).await.map_err(|e| trend_error(Platform::Tiktok, e)) })
    }

    fn quota(&self) -> Option<SourceQuota> {
        let daily_limit = i64::try_from(self.daily_runs?).unwrap_or(i64::MAX);
        Some(SourceQuota { source: "apify", unit: "runs", per_fetch: 1, daily_limit })
    }
}

/// YouTube Shorts from the YouTube Data API v3.
pub struct YoutubeShorts {
    client: ProviderClient,
    region_code: Option<String>,
    published_within: chrono::Duration,
    daily_quota_units: u64,
}

/// `maxResults` of `search.list` and `videos.list` is at most 50.
const YOUTUBE_PAGE: usize = 50;

impl YoutubeShorts {
    /// `client` must use [`Auth::Query("key")`](shortline_providers::Auth::Query).
    pub fn new(client: ProviderClient, region_code: Option<String>, published_within_hours: u32) -> Self {
        Self {
            client: client.with_classifier(classify_youtube),
            region_code,
            published_within: chrono::Duration::hours(i64::from(published_within_hours)),
            daily_quota_units: shortline_config::YoutubeConfig::default().daily_quota_units,
        }
    }

    /// The project's daily quota (`providers.youtube.daily_quota_units`).
    pub fn with_daily_quota_units(mut self, units: u64) -> Self {
        self.daily_quota_units = units;
        self
    }

    async fn shorts(&self, limit: usize) -> Result<Vec<TrendItem>, ProviderError> {
        let published_after = (Utc::now() - self.published_within).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let max_results = limit.clamp(1, YOUTUBE_PAGE).to_string();
        let mut query: Vec<(&str, &str)> = vec![
            ("part", "snippet"),
            ("type", "video"),
            ("videoDuration", "short"),
            ("order", "viewCount"),
            ("publishedAfter", published_after.as_str()),
            ("maxResults", max_results.as_str()),
        ];
        if let Some(region) = &self.region_code {
            query.push(("regionCode", region.as_str()));
        }
        let search_url = self.client.url("/youtube/v3/search");
        let reply = self.client.send("search.list", |http| http.get(&search_url).query(&query)).await?;
        let found: Value = self.client.json(&reply)?;
        let items = found
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| self.client.malformed_answer("search.list has no items"))?;
        let ids: Vec<&str> = items.iter().filter_map(|i| i.pointer("/id/videoId").and_then(Value::as_str)).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.join(",");
        let videos_url = self.client.url("/youtube/v3/videos");
        let reply = self
            .client
            .send("videos.list", |http| {
                http.get(&videos_url).query(&[("part", "snippet,contentDetails,statistics"), ("id", ids.as_str())])
            })
            .await?;
        let text =
            std::str::from_utf8(&reply.body).map_err(|_| self.client.malformed_answer("videos.list is not UTF-8"))?;
        let parsed = parse_youtube_videos_list(text).map_err(|e| self.client.malformed_answer(e.to_string()))?;
        let mut items = parsed.items;
        items.truncate(limit);
        Ok(items)
    }
}

/// YouTube answers an exhausted quota with 403 `errors[0].reason = "quotaExceeded"`: a rate
/// limit, not a bad key.
/// The YouTube Data API's error reasons (its "Errors" reference): a spent daily quota
/// (`quotaExceeded`, `dailyLimitExceeded`) comes back only at midnight Pacific time, not within
/// a job, so it is not retried but read like an empty balance; short-term rate limits are.
fn classify_youtube(status: u16, body: &[u8]) -> Option<ErrorClass> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let reason = doc.pointer("/error/errors/0/reason").and_then(Value::as_str)?;
    match (status, reason) {
        (403 | 429, "quotaExceeded" | "dailyLimitExceeded") => Some(ErrorClass::PaymentRequired),
        (403 | 429, "rateLimitExceeded" | "userRateLimitExceeded") => Some(ErrorClass::RateLimited),
        _ => None,
    }
}

impl TrendSource for YoutubeShorts {
    fn platform(&self) -> Platform {
        Platform::Youtube
    }

    fn fetch(&self, limit: usize) -> BoxFuture<'_, Result<Fetched, TrendError>> {
        // Paid in quota units (see `quota`), not money.
        Box::pin(
            async move { self.shorts(limit).await.map(Fetched::free).map_err(|e| trend_error(Platform::Youtube, e)) },
        )
    }

    fn region(&self) -> Option<&str> {
        self.region_code.as_deref()
    }

    /// `search.list` costs 100 units and `videos.list` 1 (the API's quota calculator).
    fn quota(&self) -> Option<SourceQuota> {
        let daily_limit = i64::try_from(self.daily_quota_units).unwrap_or(i64::MAX);
        Some(SourceQuota { source: "youtube", unit: "units", per_fetch: 101, daily_limit })
    }
}
