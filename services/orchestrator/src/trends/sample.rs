//! The offline trend sources: bundled answers of the real APIs, parsed by the real parsers.

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use shortline_domain::{Platform, TrendItem};

use super::{parse_apify_tiktok, parse_youtube_videos_list, Fetched, Parsed, TrendError, TrendSource};

/// An Apify `clockworks/tiktok-scraper` dataset (24 items).
const TIKTOK_APIFY: &str = include_str!("samples/tiktok_apify.json");
/// A YouTube Data API v3 `videos.list` answer (16 items, 3 of them longer than a Short).
const YOUTUBE_VIDEOS_LIST: &str = include_str!("samples/youtube_videos_list.json");

/// How old the newest sample item is made to look, in minutes. The samples span about 19 hours,
/// so after re-basing every item lies within the last 20 hours: inside the 24 h analysis window.
pub const SAMPLE_NEWEST_AGE_MINUTES: i64 = 60;

/// The offline twin of a platform's trend source: it answers with a bundled sample of the real
/// API's answer, parsed by the same parser as the real source, with posted times shifted so the
/// newest item is [`SAMPLE_NEWEST_AGE_MINUTES`] old at the moment of fetching (the samples keep
/// their relative spacing). For a given `now` the answer is always the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleTrendSource {
    platform: Platform,
}

impl SampleTrendSource {
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }

    /// One sample source per platform.
    pub fn all() -> Vec<Self> {
        Platform::ALL.into_iter().map(Self::new).collect()
    }

    /// The bundled answer parsed as the real source would parse it, with the stored dates.
    pub fn raw(&self) -> Result<Parsed, TrendError> {
        match self.platform {
            Platform::Tiktok => parse_apify_tiktok(TIKTOK_APIFY),
            Platform::Youtube => parse_youtube_videos_list(YOUTUBE_VIDEOS_LIST),
        }
    }

    /// What [`TrendSource::fetch`] answers when the clock reads `now`.
    pub fn items_at(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<TrendItem>, TrendError> {
        let mut items = self.raw()?.items;
        if let Some(newest) = items.iter().map(|i| i.posted_at).max() {
            let shift = (now - Duration::minutes(SAMPLE_NEWEST_AGE_MINUTES)) - newest;
            for item in &mut items {
                item.posted_at += shift;
            }
        }
        items.truncate(limit);
        Ok(items)
    }
}

impl TrendSource for SampleTrendSource {
    fn platform(&self) -> Platform {
        self.platform
    }

    fn fetch(&self, limit: usize) -> BoxFuture<'_, Result<Fetched, TrendError>> {
        let result = self.items_at(Utc::now(), limit).map(Fetched::free);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2031-05-06T07:08:09Z").expect("valid").with_timezone(&Utc)
    }

    #[test]
    fn samples_are_rebased_to_the_last_20_hours() {
        for source in SampleTrendSource::all() {
            let items = source.items_at(now(), usize::MAX).expect("sample parses");
            let ages: Vec<_> = items.iter().map(|i| now() - i.posted_at).collect();
            assert_eq!(ages.iter().min().copied(), Some(Duration::hours(1)), "{:?}", source.platform());
            assert!(ages.iter().all(|a| *a <= Duration::hours(20)), "{:?}", source.platform());
            // Relative spacing is kept.
            let raw = source.raw().expect("parses").items;
            assert_eq!(raw[0].posted_at - raw[1].posted_at, items[0].posted_at - items[1].posted_at);
        }
    }

    #[test]
    fn sample_answers_are_deterministic_and_limited() {
        let source = SampleTrendSource::new(Platform::Tiktok);
        assert_eq!(source.items_at(now(), 100).expect("ok"), source.items_at(now(), 100).expect("ok"));
        assert_eq!(source.items_at(now(), 100).expect("ok").len(), 24);
        assert_eq!(source.items_at(now(), 5).expect("ok").len(), 5);
        assert_eq!(SampleTrendSource::new(Platform::Youtube).items_at(now(), 100).expect("ok").len(), 13);
    }

    #[tokio::test]
    async fn sources_are_object_safe_and_fetch_recent_items() {
        let sources: Vec<Box<dyn TrendSource>> =
            SampleTrendSource::all().into_iter().map(|s| Box::new(s) as Box<dyn TrendSource>).collect();
        let mut total = 0;
        for source in &sources {
            let fetched = source.fetch(50).await.expect("fetches");
            assert_eq!(fetched.cost_micros, 0, "the samples are free");
            let items = fetched.items;
            assert!(items.iter().all(|i| i.platform == source.platform()));
            assert!(items.iter().all(|i| Utc::now() - i.posted_at < Duration::hours(21)));
            total += items.len();
        }
        assert_eq!(total, 37);
    }
}
