//! Long-running generations (a fal.ai queue request, a HeyGen render): how patiently they are
//! waited for and fetched ([`JobTimings`]), and the poll loop that waits for them.

use std::future::Future;
use std::time::{Duration, Instant};

use shortline_config::ProviderHttpConfig;

use super::ProviderError;

/// How a long-running generation is polled, how long it may take, and how long downloading
/// its result may take (`[providers.http]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTimings {
    pub poll_interval: Duration,
    pub generation_timeout: Duration,
    pub download_timeout: Duration,
}

impl JobTimings {
    /// The timings configured in `[providers.http]`.
    pub fn from_config(http: &ProviderHttpConfig) -> Self {
        Self {
            poll_interval: http.poll_interval(),
            generation_timeout: http.generation_timeout(),
            download_timeout: http.download_timeout(),
        }
    }

    /// Calls `poll` until it gives the finished job's result (`Ok(None)`: not done yet),
    /// [`poll_interval`](Self::poll_interval) apart. A job of `provider` that is not done within
    /// [`generation_timeout`](Self::generation_timeout) is [`ProviderError::JobFailed`], naming
    /// `job` (e.g. `request 4f1c…`); an error from `poll` ends the wait.
    pub async fn poll_until_done<T, F, Fut>(&self, provider: &str, job: &str, mut poll: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, ProviderError>>,
    {
        let started = Instant::now();
        loop {
            if let Some(done) = poll().await? {
                return Ok(done);
            }
            if started.elapsed() + self.poll_interval > self.generation_timeout {
                return Err(ProviderError::JobFailed {
                    provider: provider.to_owned(),
                    message: format!("{job} did not complete within {} s", self.generation_timeout.as_secs()),
                });
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timings(poll_ms: u64, timeout_ms: u64) -> JobTimings {
        JobTimings {
            poll_interval: Duration::from_millis(poll_ms),
            generation_timeout: Duration::from_millis(timeout_ms),
            download_timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn polls_until_the_job_is_done() {
        let mut polls = 0;
        let done = timings(1, 10_000)
            .poll_until_done("fal_kling", "request r1", || {
                polls += 1;
                let polled = polls;
                async move { Ok((polled == 3).then_some(polled)) }
            })
            .await;
        assert_eq!(done.expect("done"), 3);
    }

    #[tokio::test]
    async fn a_job_past_the_generation_timeout_failed() {
        let error = timings(5, 8)
            .poll_until_done("heygen", "video v1", || async { Ok(None::<()>) })
            .await
            .expect_err("timed out");
        assert!(matches!(&error, ProviderError::JobFailed { provider, .. } if provider == "heygen"), "{error}");
        assert!(error.to_string().contains("video v1 did not complete within 0 s"), "{error}");
    }
}
