//! `shortline themes validate FILE` and `shortline themes list`: no services, nothing written.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use shortline_domain::{Theme, ThemeError};
use shortline_orchestrator::themes;

use crate::output::{self, Table};
use crate::ThemesCommand;

pub fn run(command: &ThemesCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        ThemesCommand::Validate { file } => validate(file, json),
        ThemesCommand::List => list(json),
    }
}

fn validate(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    match Theme::load(file) {
        Ok(theme) => {
            if json {
                output::print_json(&json!({ "file": file, "valid": true, "theme": theme, "errors": [] }))?;
            } else {
                println!(
                    "OK: {} (theme \"{}\", {}, {} s, {} content reference(s){})",
                    file.display(),
                    theme.config.theme,
                    theme.config.target_platform,
                    theme.config.video_duration_seconds,
                    theme.content_references.len(),
                    if theme.config.auto_post { ", posts automatically" } else { "" },
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            if json {
                output::print_json(&json!({ "file": file, "valid": false, "errors": error_fields(&error) }))?;
            } else {
                eprintln!("error: {}", describe_theme_error(file, &error));
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Each problem as `{field, reason}` (field empty for problems with the whole file).
fn error_fields(error: &ThemeError) -> Vec<serde_json::Value> {
    match error {
        ThemeError::Invalid(violations) => {
            violations.iter().map(|v| json!({ "field": v.field, "reason": v.reason })).collect()
        }
        ThemeError::Syntax { field, message, .. } if !field.is_empty() => {
            vec![json!({ "field": field, "reason": message })]
        }
        other => vec![json!({ "field": "", "reason": other.to_string() })],
    }
}

/// A theme file's problem in words: every bad field with its reason, one per line.
pub fn describe_theme_error(file: &Path, error: &ThemeError) -> String {
    match error {
        ThemeError::Invalid(violations) => {
            let lines: String = violations.iter().map(|v| format!("\n  {}: {}", v.field, v.reason)).collect();
            format!("theme file {} is invalid:{lines}", file.display())
        }
        ThemeError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            format!("theme file {} does not exist", file.display())
        }
        ThemeError::Syntax { .. } => format!("theme file {}: {error}", file.display()),
        other => other.to_string(),
    }
}

fn list(json: bool) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for name in themes::names() {
        let theme = themes::bundled(name).transpose().map_err(|e| anyhow::anyhow!("bundled theme {name}: {e}"))?;
        if let Some(theme) = theme {
            rows.push((name, theme));
        }
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(name, theme)| json!({ "name": name, "default": *name == themes::DEFAULT_THEME, "theme": theme }))
            .collect();
        output::print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["NAME", "THEME", "PLATFORM", "SECONDS", "AUTO POST", "REFERENCES"]);
    for (name, theme) in &rows {
        let label = if *name == themes::DEFAULT_THEME { format!("{name} (default)") } else { (*name).to_owned() };
        table.row(vec![
            label,
            output::truncate(&theme.config.theme, 40),
            theme.config.target_platform.clone(),
            theme.config.video_duration_seconds.to_string(),
            if theme.config.auto_post { "yes" } else { "no" }.to_owned(),
            theme.content_references.len().to_string(),
        ]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}
