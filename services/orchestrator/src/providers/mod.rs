//! Real (HTTP) providers of the orchestrator's own stages, built on
//! [`shortline_providers`]: trend sources ([`ApifyTikTok`], [`YoutubeShorts`]) and the LLM
//! analyst ([`LlmAnalyst`]). Chosen by `providers.trends` and `providers.analyst`; the bundled
//! samples and the heuristic analyst stay the default.

mod analyst;
mod sources;

use std::sync::Arc;

use shortline_config::{ProvidersConfig, TrendSourceName};
pub use shortline_providers::SetupError;
use shortline_providers::{source_endpoint, structured_llm};

pub use analyst::{report_schema, LlmAnalyst, REPORT_SCHEMA_NAME};
pub use sources::{ApifyTikTok, YoutubeShorts};

use crate::trends::{Analyst, HeuristicAnalyst, SampleTrendSource, TrendSource};

/// The trend sources: `providers.trends` when set, else one bundled sample per platform.
pub fn trend_sources(config: &ProvidersConfig) -> Result<Vec<Arc<dyn TrendSource>>, SetupError> {
    if config.trends.is_empty() {
        return Ok(SampleTrendSource::all().into_iter().map(|s| Arc::new(s) as Arc<dyn TrendSource>).collect());
    }
    let mut sources: Vec<Arc<dyn TrendSource>> = Vec::new();
    for &name in &config.trends {
        let client = source_endpoint(config, name).client(config)?;
        let source: Arc<dyn TrendSource> = match name {
            TrendSourceName::ApifyTiktok => {
                let c = &config.apify;
                Arc::new(
                    ApifyTikTok::new(
                        client,
                        &c.actor_id,
                        c.hashtags.clone(),
                        config.http.poll_interval(),
                        config.http.generation_timeout(),
                    )
                    .with_daily_runs(c.daily_runs),
                )
            }
            TrendSourceName::Youtube => {
                let c = &config.youtube;
                Arc::new(
                    YoutubeShorts::new(client, c.region_code.clone(), c.published_within_hours)
                        .with_daily_quota_units(c.daily_quota_units),
                )
            }
        };
        sources.push(source);
    }
    Ok(sources)
}

/// The analyst: the LLM of `providers.analyst` when set, else the heuristic one.
pub fn analyst(config: &ProvidersConfig) -> Result<Arc<dyn Analyst>, SetupError> {
    match config.analyst {
        None => Ok(Arc::new(HeuristicAnalyst)),
        Some(name) => {
            let llm = structured_llm(config, name)?;
            let price = config.price(llm.model()).copied();
            Ok(Arc::new(LlmAnalyst::new(llm, price)))
        }
    }
}
