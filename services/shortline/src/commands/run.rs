//! `shortline run`: submit a pipeline job and follow it to its video.

use std::process::ExitCode;

use anyhow::Context as _;
use shortline_config::Config;
use shortline_domain::Theme;
use shortline_orchestrator::themes;
use shortline_proto::v1::{self, start_job_request::Source};

use super::follow;
use super::themes::describe_theme_error;
use crate::client::{Services, Work};
use crate::RunArgs;

/// Checks `--theme FILE` before anything else happens, so a missing or invalid theme file
/// fails with its fields and reasons and writes nothing.
pub fn check_theme_file(args: &RunArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.theme {
        if let Err(error) = Theme::load(path) {
            anyhow::bail!("{}", describe_theme_error(path, &error));
        }
    }
    Ok(())
}

/// The StartJob request for the flags: the theme file's text, or a theme by name.
fn start_request(args: &RunArgs) -> anyhow::Result<v1::StartJobRequest> {
    let (source, format) = match (&args.theme, &args.theme_name) {
        (Some(path), _) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read theme file {}", path.display()))?;
            let toml = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("toml"));
            (Source::ThemeFile(text), if toml { "toml" } else { "yaml" })
        }
        (None, Some(name)) => (Source::ThemeName(name.clone()), ""),
        (None, None) => (Source::ThemeName(themes::DEFAULT_THEME.to_owned()), ""),
    };
    Ok(v1::StartJobRequest {
        source: Some(source),
        theme_file_format: format.to_owned(),
        variants: args.variants,
        client_request_id: String::new(),
    })
}

pub async fn run(config: &Config, args: &RunArgs, json: bool) -> anyhow::Result<ExitCode> {
    let request = start_request(args)?;
    if let Some(name) = &args.theme_name {
        // A running orchestrator may know more themes (its themes directory); in-process
        // services know the bundled ones, so an unknown name fails before they start.
        if themes::bundled(name).is_none() && !orchestrator_answers(config).await {
            anyhow::bail!(
                "no bundled theme `{name}` (known: {}); or give a theme file with --theme FILE",
                themes::names().collect::<Vec<_>>().join(", ")
            );
        }
    }
    super::with_services(config, Work::Pipeline, |services| Box::pin(drive(services, request, json))).await
}

async fn orchestrator_answers(config: &Config) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(config.orchestrator.url.clone()) else { return false };
    tokio::time::timeout(
        crate::client::CONNECT_TIMEOUT * 2,
        endpoint.connect_timeout(crate::client::CONNECT_TIMEOUT).connect(),
    )
    .await
    .is_ok_and(|connected| connected.is_ok())
}

async fn drive(services: &mut Services, request: v1::StartJobRequest, json: bool) -> anyhow::Result<ExitCode> {
    let job = services.client.start_job(request).await.context("cannot start the job")?.into_inner();
    if !json {
        let place = if services.is_embedded() {
            "on the services of this process".to_owned()
        } else {
            format!("on the running services at {}", services.url)
        };
        println!("job {} started {place}: theme {}, {} variant(s)", job.id, job.theme_name, job.variants);
    }
    follow::to_the_end(services, job.id, json).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(theme: Option<&str>, name: Option<&str>) -> RunArgs {
        RunArgs { theme: theme.map(Into::into), theme_name: name.map(Into::into), variants: 2 }
    }

    #[test]
    fn the_default_theme_is_the_bundled_product_demo() {
        let request = start_request(&args(None, None)).expect("request");
        assert_eq!(request.source, Some(Source::ThemeName("product-demo".into())));
        assert_eq!(request.variants, 2);
    }

    #[test]
    fn theme_files_are_sent_as_text_with_their_format() {
        let dir = std::env::temp_dir().join(format!("shortline-run-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("t.toml");
        std::fs::write(&path, "[config]\ntheme = \"x\"\n").expect("write");
        let request = start_request(&args(Some(path.to_str().expect("utf-8")), None)).expect("request");
        assert_eq!(request.theme_file_format, "toml");
        assert!(matches!(request.source, Some(Source::ThemeFile(text)) if text.contains("theme = \"x\"")));
        let _ = std::fs::remove_dir_all(dir);
    }
}
