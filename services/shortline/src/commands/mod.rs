//! One module per group of commands. Every command that needs the services talks to the
//! orchestrator's public API only, through [`Services`].

pub mod follow;
pub mod jobs;
pub mod probe;
pub mod providers;
pub mod run;
pub mod themes;
pub mod trends;
pub mod videos;

use std::process::ExitCode;

use anyhow::Context as _;
use futures::future::BoxFuture;
use shortline_config::Config;

use crate::client::{Services, Work};

/// Runs `call` against the orchestrator (started in-process if none answers), then stops the
/// in-process services whatever the outcome.
pub async fn with_services<T>(
    config: &Config,
    work: Work,
    call: impl for<'a> FnOnce(&'a mut Services) -> BoxFuture<'a, anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let mut services = Services::connect(config, work).await?;
    let outcome = call(&mut services).await;
    let stopped = services.stop().await;
    let value = outcome?;
    stopped.context("stopping the in-process services")?;
    Ok(value)
}

/// Stops the services whatever the outcome; the outcome's error wins over a stop error.
pub async fn finish(services: Services, outcome: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    let stopped = services.stop().await;
    let code = outcome?;
    stopped.context("stopping the in-process services")?;
    Ok(code)
}
