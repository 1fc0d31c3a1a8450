//! The `shortline` command: run the whole pipeline on one machine, serve one service (what a
//! container runs), submit and inspect jobs, review videos, run migrations.
//!
//! Every command that needs the services talks only to the orchestrator's public API
//! (`OrchestratorService`) at `orchestrator.url`. Where nothing answers there, the command starts
//! the three services in-process for its own duration (see [`client::Services`]), on the data
//! directory's SQLite database and media folder.

mod client;
mod commands;
mod embedded;
mod names;
mod output;
mod tree;
mod views;

use shortline_config::BearerToken;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use shortline_config::Config;
use shortline_grpc::Shutdown;

pub use client::Work;
pub use embedded::{Embedded, Service};
pub use names::{JobKindArg, JobStatusArg, PlatformArg, StageArg};

#[derive(Debug, Parser)]
#[command(
    name = "shortline",
    version,
    about = "Trending short videos, from trend to reviewed MP4, with full lineage.",
    after_help = "Commands that need the services use the orchestrator at `orchestrator.url` \
                  (default http://127.0.0.1:50051); where nothing answers there they start the \
                  three services in this process for their own duration, on --data-dir."
)]
pub struct Cli {
    /// Configuration file (TOML). `SHORTLINE_*` environment variables override it.
    #[arg(long, global = true, env = "SHORTLINE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the embedded mode keeps its SQLite database and media (default `.shortline`).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`postgres://…` or `sqlite://…`); overrides the config.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Print machine-readable JSON instead of tables, trees and progress lines.
    #[arg(long, global = true)]
    pub json: bool,
    /// The bearer token the orchestrator knows you by (when its `auth.tokens_file` is set).
    #[arg(long, global = true, env = "SHORTLINE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// A file holding the token (a mounted Secret), instead of --token.
    #[arg(long, global = true, env = "SHORTLINE_TOKEN_FILE", value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The CA that an `https://` orchestrator.url's certificate chains to (sets tls.ca_file).
    #[arg(long, global = true, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// A client certificate to present over TLS (sets tls.cert_file; with --key).
    #[arg(long, global = true, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The key of --cert (sets tls.key_file).
    #[arg(long, global = true, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a pipeline job and follow it until its video awaits review (or is approved).
    Run(RunArgs),
    /// List jobs, newest first (`--status awaiting-review` is the review queue).
    Jobs(JobsArgs),
    /// The review queue: pipeline jobs whose video awaits a decision.
    ReviewQueue {
        /// At most this many jobs (server default when unset).
        #[arg(long, value_name = "N")]
        limit: Option<i32>,
    },
    /// One job: status, progress and every stage attempt.
    Status {
        /// The job's id.
        job: i64,
    },
    /// A job's lineage as a tree: job, stages, trends, report, scripts, assets, videos.
    Show {
        /// The job's id.
        job: i64,
    },
    /// Follow a job's progress until it awaits review or ends.
    Watch {
        /// The job's id.
        job: i64,
    },
    /// Resume a failed or cancelled job from its checkpoint, then follow it.
    Retry {
        /// The job's id.
        job: i64,
        /// Re-run from this stage (and every later one); default: the first unfinished stage.
        #[arg(long, value_enum, value_name = "STAGE")]
        from_stage: Option<StageArg>,
        /// Return once the job is queued instead of following it (only with running services).
        #[arg(long)]
        detach: bool,
    },
    /// Cancel a job that has not ended.
    Cancel {
        /// The job's id.
        job: i64,
        /// Why; recorded as the job's error.
        #[arg(long, default_value = "cancelled from the shortline command")]
        reason: String,
    },
    /// Collect, list and analyse trends.
    #[command(subcommand)]
    Trends(TrendsCommand),
    /// List and review a job's videos.
    #[command(subcommand)]
    Videos(VideosCommand),
    /// Check theme files; list the bundled themes.
    #[command(subcommand)]
    Themes(ThemesCommand),
    /// Serve all three services in this process, on the embedded default (SQLite + local media).
    Up {
        /// Serve plaintext gRPC on a non-loopback listen address (refused without TLS otherwise).
        #[arg(long)]
        insecure: bool,
    },
    /// Serve one service until SIGTERM / Ctrl-C (the container entry point).
    Serve {
        #[arg(value_enum)]
        service: Service,
        /// Serve plaintext gRPC on a non-loopback listen address (refused without TLS otherwise).
        #[arg(long)]
        insecure: bool,
    },
    /// Check this pod's own service over its gRPC health service, as Kubernetes probes do: exit 0
    /// when SERVING. Over TLS when `tls.cert_file` is set (kubelet's own gRPC probe speaks only
    /// plaintext), verifying the certificate as the service's identity.
    Probe {
        #[arg(value_enum)]
        service: Service,
        /// Ask for the service itself (SERVING while its database answers: readiness) rather
        /// than the whole server (liveness, startup).
        #[arg(long)]
        ready: bool,
    },
    /// Apply the database migrations (serialised: a second run waits for the first, then finds
    /// nothing to do).
    Migrate {
        /// Wait for the database to accept connections (up to --wait-seconds) instead of failing
        /// at once: for a migration Job or init container that may start before its database.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, value_name = "SECONDS", default_value_t = 300, requires = "wait")]
        wait_seconds: u64,
    },
    /// The providers of each kind (sources, analyst, planner, clips, voice, avatar): base URL,
    /// whether a key is set (never the key), and whether each answers an authenticated request.
    /// Exits 1 when a check fails.
    Providers {
        /// Only list them; call nothing.
        #[arg(long)]
        no_check: bool,
        /// How long each check may take.
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// Benchmarks: pipeline throughput, RPC latency, render speed, growth (docs/BENCHMARKS.md).
    #[command(subcommand)]
    Bench(shortline_bench::BenchCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A theme file (`.yaml`/`.yml` in the old system's layout, or `.toml`); checked before
    /// anything starts.
    #[arg(long, value_name = "FILE", conflicts_with = "theme_name")]
    pub theme: Option<PathBuf>,
    /// A theme known to the orchestrator by name (`shortline themes list`).
    #[arg(long, value_name = "NAME")]
    pub theme_name: Option<String>,
    /// How many script/video variants to make.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=10))]
    pub variants: i32,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only jobs with this status.
    #[arg(long, value_enum, value_name = "STATUS")]
    pub status: Option<JobStatusArg>,
    /// Only jobs of this kind.
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<JobKindArg>,
    /// At most this many jobs (server default when unset).
    #[arg(long, value_name = "N")]
    pub limit: Option<i32>,
    /// Continue after this page token (printed under a full page).
    #[arg(long, value_name = "TOKEN")]
    pub page_token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TrendsCommand {
    /// Collect trends now (a trend-refresh job of its own).
    Collect {
        /// Only this platform (repeatable); default: all.
        #[arg(long, value_enum, value_name = "PLATFORM")]
        platform: Vec<PlatformArg>,
        /// At most this many items per platform (server default when unset).
        #[arg(long, value_name = "N")]
        limit_per_platform: Option<i32>,
    },
    /// List collected trends, highest engagement velocity first.
    List {
        /// Only this platform.
        #[arg(long, value_enum, value_name = "PLATFORM")]
        platform: Option<PlatformArg>,
        /// Only trends this job saw.
        #[arg(long, value_name = "JOB")]
        job: Option<i64>,
        /// At most this many trends (server default when unset).
        #[arg(long, value_name = "N")]
        limit: Option<i32>,
        /// Continue after this page token.
        #[arg(long, value_name = "TOKEN")]
        page_token: Option<String>,
    },
    /// Analyse recent trends now (a trend-analysis job of its own) and print the report.
    Analyze {
        /// Trends posted within this many hours (server default 24).
        #[arg(long, value_name = "HOURS")]
        window_hours: Option<i32>,
        /// At most this many trends, highest velocity first (server default 100).
        #[arg(long, value_name = "N")]
        max_trends: Option<i32>,
    },
    /// Print the newest trend report.
    Report,
    /// List trend reports, newest first.
    Reports {
        /// At most this many reports (server default when unset).
        #[arg(long, value_name = "N")]
        limit: Option<i32>,
        /// Continue after this page token.
        #[arg(long, value_name = "TOKEN")]
        page_token: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum VideosCommand {
    /// List a job's videos with their files, status and costs.
    List {
        /// The job's id.
        job: i64,
    },
    /// Approve a video of a job awaiting review.
    Approve {
        /// The job's id.
        job: i64,
        /// The video's id (`shortline videos list JOB`).
        video: i64,
        /// A note kept on the video.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject a video of a job awaiting review.
    Reject {
        /// The job's id.
        job: i64,
        /// The video's id (`shortline videos list JOB`).
        video: i64,
        /// A note kept on the video.
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ThemesCommand {
    /// Check a theme file: prints OK, or every bad field and why (exit 1).
    Validate {
        /// A `.yaml`/`.yml` or `.toml` theme file.
        file: PathBuf,
    },
    /// The themes bundled with shortline (usable with `run --theme-name`).
    List,
}

impl Cli {
    /// The configuration: file, then environment, then flags.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            config.database.url = Some(url.clone());
        }
        for (flag, key) in [
            (&self.ca, &mut config.tls.ca_file),
            (&self.cert, &mut config.tls.cert_file),
            (&self.key, &mut config.tls.key_file),
        ] {
            if let Some(file) = flag {
                *key = Some(file.clone());
            }
        }
        let from_file = match &self.token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| anyhow::anyhow!("--token-file {}: {error}", path.display()))?,
            ),
            None => None,
        };
        let token = from_file.as_deref().or(self.token.as_deref()).map(str::trim).filter(|token| !token.is_empty());
        config.client_token = BearerToken::new(token).map_err(|reason| anyhow::anyhow!("--token: {reason}"))?;
        config.validate()?;
        Ok(config)
    }
}

/// Parses the arguments, runs the command, and turns any error into a message and exit code 1
/// (bad flags: clap's message and exit code 2).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let outcome = run(cli).await;
        // What the trace exporter still holds leaves before the process does.
        shortline_telemetry::otel::shutdown(std::time::Duration::from_secs(5)).await;
        outcome
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", output::describe_error(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Checks that need no configuration and must write nothing come first.
    if let Command::Themes(command) = &cli.command {
        return commands::themes::run(command, cli.json);
    }
    if let Command::Run(args) = &cli.command {
        commands::run::check_theme_file(args)?;
    }
    let config = cli.load_config()?;
    let serving = matches!(cli.command, Command::Serve { .. } | Command::Up { .. } | Command::Migrate { .. });
    let filter = if serving { config.telemetry.filter.clone() } else { client::cli_log_filter(&config) };
    let service = match &cli.command {
        Command::Serve { service, .. } => format!("shortline-{service:?}").to_lowercase(),
        _ => "shortline".to_owned(),
    };
    shortline_telemetry::init(config.telemetry.format, &filter, &service)?;
    let json = cli.json;
    match cli.command {
        Command::Run(args) => commands::run::run(&config, &args, json).await,
        Command::Jobs(args) => commands::jobs::list(&config, &args, json).await,
        Command::ReviewQueue { limit } => {
            let args = JobsArgs { status: Some(JobStatusArg::AwaitingReview), kind: None, limit, page_token: None };
            commands::jobs::list(&config, &args, json).await
        }
        Command::Status { job } => commands::jobs::status(&config, job, json).await,
        Command::Show { job } => commands::jobs::show(&config, job, json).await,
        Command::Watch { job } => commands::jobs::watch(&config, job, json).await,
        Command::Retry { job, from_stage, detach } => {
            commands::jobs::retry(&config, job, from_stage, detach, json).await
        }
        Command::Cancel { job, reason } => commands::jobs::cancel(&config, job, &reason, json).await,
        Command::Trends(command) => commands::trends::run(&config, command, json).await,
        Command::Videos(command) => commands::videos::run(&config, command, json).await,
        Command::Themes(_) => unreachable!("handled above"),
        Command::Bench(command) => shortline_bench::run(&command, json).await,
        Command::Providers { no_check, timeout_ms } => {
            commands::providers::run(&config.providers, !no_check, std::time::Duration::from_millis(timeout_ms), json)
                .await
        }
        Command::Serve { service, insecure } => {
            embedded::check_plaintext_listen(&config, &[service], insecure)?;
            embedded::migrate_if_embedded(&config).await?;
            let shutdown = Shutdown::on_signals();
            let (address, task) = embedded::spawn(service, config, shutdown, client::Work::Pipeline).await?;
            // A machine-readable line: tests and scripts learn the port (0 picks one) from it.
            println!("shortline {service:?} listening on {address}");
            task.await??;
            Ok(ExitCode::SUCCESS)
        }
        Command::Up { insecure } => {
            embedded::check_plaintext_listen(
                &config,
                &[Service::Orchestrator, Service::Scriptgen, Service::Composer],
                insecure,
            )?;
            client::check_media_tools(&config)?;
            let shutdown = Shutdown::on_signals();
            let embedded = Embedded::start(config, &shutdown, client::Work::Pipeline).await?;
            // Machine-readable lines: with port 0 in the config, the addresses are learnt here.
            println!("orchestrator listening on {}", embedded.orchestrator);
            println!("scriptgen    listening on {}", embedded.scriptgen);
            println!("composer     listening on {}", embedded.composer);
            println!("Ctrl-C stops all three.");
            embedded.stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Probe { service, ready } => commands::probe::run(&config, service, ready).await,
        Command::Migrate { wait, wait_seconds } => {
            let url = config.database_url();
            if shortline_db::Backend::from_url(&url)? == shortline_db::Backend::Sqlite {
                embedded::create_sqlite_dir(&url)?;
            }
            let migrations = shortline_db::migrations::run_pending_when_reachable;
            let patience = if wait { std::time::Duration::from_secs(wait_seconds) } else { std::time::Duration::ZERO };
            let applied = migrations(&url, &shortline_db::PgAccess::from(&config.database), patience).await?;
            if json {
                output::print_json(&serde_json::json!({ "applied": applied }))?;
            } else if applied.is_empty() {
                println!("database is up to date");
            } else {
                println!("applied {} migration(s): {}", applied.len(), applied.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
