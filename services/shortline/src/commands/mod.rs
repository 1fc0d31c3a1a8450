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

use anyhow::Context as _;
use futures::future::BoxFuture;
use shortline_config::Config;

use crate::client::{Client, Services, Work};

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

/// One reading, reviewing or cancelling call to the orchestrator ([`with_services`] with
/// [`Work::Inspect`]): `call` makes it with the client; its failure says `what` failed (e.g.
/// "job 7", "cannot list jobs").
pub async fn inspect<T: Send + 'static>(
    config: &Config,
    what: String,
    call: impl for<'a> FnOnce(&'a mut Client) -> BoxFuture<'a, Result<tonic::Response<T>, tonic::Status>> + Send + 'static,
) -> anyhow::Result<T> {
    with_services(config, Work::Inspect, |services| {
        Box::pin(async move { Ok(call(&mut services.client).await.context(what)?.into_inner()) })
    })
    .await
}
