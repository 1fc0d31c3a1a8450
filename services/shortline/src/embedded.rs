//! The three services in one process, each on its own gRPC port and still talking gRPC to each
//! other: what `shortline up` serves and what `shortline run` starts when nothing answers.

use std::net::SocketAddr;

use shortline_config::Config;
use shortline_db::{self as db, Backend};
use shortline_grpc::service::StartError;
use shortline_grpc::Shutdown;
use tokio::task::JoinHandle;

use crate::client::Work;

/// Which service `shortline serve` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    Orchestrator,
    Scriptgen,
    Composer,
}

/// Applies the migrations where the embedded mode owns the database (SQLite). PostgreSQL is
/// migrated by `shortline migrate` (a Kubernetes Job), never behind a deployment's back.
pub async fn migrate_if_embedded(config: &Config) -> Result<(), StartError> {
    let url = config.database_url();
    if Backend::from_url(&url)? == Backend::Sqlite {
        create_sqlite_dir(&url)?;
        db::migrations::run_pending(&url).await?;
    }
    Ok(())
}

/// Creates the directory of a SQLite database file (the data directory on a fresh machine).
pub fn create_sqlite_dir(url: &str) -> Result<(), StartError> {
    let path = std::path::Path::new(db::pool::sqlite_path(url));
    match path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        Some(parent) => std::fs::create_dir_all(parent).map_err(|error| {
            StartError::Other(format!("cannot create the data directory {}: {error}", parent.display()))
        }),
        None => Ok(()),
    }
}

/// Builds (binds) and spawns one service; returns its address and its task. For
/// [`Work::Inspect`] the orchestrator serves without its job engine.
pub async fn spawn(
    service: Service,
    config: Config,
    shutdown: Shutdown,
    work: Work,
) -> Result<(SocketAddr, JoinHandle<anyhow::Result<()>>), StartError> {
    Ok(match service {
        Service::Orchestrator => {
            let app = shortline_orchestrator::Application::build(config, shutdown).await?;
            let app = if work == Work::Inspect { app.without_engine() } else { app };
            (app.address(), tokio::spawn(async move { Ok(app.run().await?) }))
        }
        Service::Scriptgen => {
            let app = shortline_scriptgen::Application::build(config, shutdown).await?;
            (app.address(), tokio::spawn(async move { Ok(app.run().await?) }))
        }
        Service::Composer => {
            let app = shortline_composer::Application::build(config, shutdown).await?;
            (app.address(), tokio::spawn(async move { Ok(app.run().await?) }))
        }
    })
}

/// `https` when the services serve TLS (`tls.cert_file`), else `http`.
pub fn scheme(config: &Config) -> &'static str {
    if config.tls.cert_file.is_some() {
        "https"
    } else {
        "http"
    }
}

/// Refuses to serve plaintext gRPC on an address other machines can reach (anything but
/// loopback) unless `insecure` says the user means it: tokens and videos would cross the
/// network readable. Loopback plaintext stays the no-certificate default of `run` and `up`.
pub fn check_plaintext_listen(config: &Config, services: &[Service], insecure: bool) -> Result<(), StartError> {
    if config.tls.cert_file.is_some() || insecure {
        return Ok(());
    }
    for service in services {
        let (name, address) = match service {
            Service::Orchestrator => ("orchestrator", config.orchestrator.listen),
            Service::Scriptgen => ("scriptgen", config.scriptgen.listen),
            Service::Composer => ("composer", config.composer.listen),
        };
        if !address.ip().is_loopback() {
            return Err(StartError::Other(format!(
                "{name}: refusing to serve plaintext gRPC on {address}, which is not a loopback address: \
                 set tls.cert_file and tls.key_file (README: TLS and mutual TLS), listen on 127.0.0.1, \
                 or pass --insecure to serve plaintext anyway"
            )));
        }
    }
    Ok(())
}

/// The three services of one process.
pub struct Embedded {
    pub orchestrator: SocketAddr,
    pub scriptgen: SocketAddr,
    pub composer: SocketAddr,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Embedded {
    /// Starts scriptgen and composer, then the orchestrator pointed at their real addresses
    /// (so port 0 works for all three). For [`Work::Inspect`] nothing drives jobs.
    pub async fn start(mut config: Config, shutdown: &Shutdown, work: Work) -> Result<Self, StartError> {
        migrate_if_embedded(&config).await?;
        let scheme = scheme(&config);
        let (scriptgen, scriptgen_task) = spawn(Service::Scriptgen, config.clone(), shutdown.clone(), work).await?;
        config.scriptgen.url = format!("{scheme}://{scriptgen}");
        let (composer, composer_task) = spawn(Service::Composer, config.clone(), shutdown.clone(), work).await?;
        config.composer.url = format!("{scheme}://{composer}");
        let (orchestrator, orchestrator_task) = spawn(Service::Orchestrator, config, shutdown.clone(), work).await?;
        Ok(Embedded {
            orchestrator,
            scriptgen,
            composer,
            tasks: vec![orchestrator_task, scriptgen_task, composer_task],
        })
    }

    /// Waits until every service has stopped (after the shutdown was triggered).
    pub async fn stopped(self) -> anyhow::Result<()> {
        for task in self.tasks {
            task.await??;
        }
        Ok(())
    }
}
