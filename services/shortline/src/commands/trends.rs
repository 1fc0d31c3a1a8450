//! `shortline trends collect|list|analyze|report|reports`.

use std::process::ExitCode;

use serde_json::json;
use shortline_config::Config;
use shortline_proto::v1;

use super::inspect;
use crate::output::{self, Table};
use crate::{names, views, TrendsCommand};

pub async fn run(config: &Config, command: TrendsCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        TrendsCommand::Collect { platform, limit_per_platform } => {
            let request = v1::CollectTrendsRequest {
                platforms: platform.into_iter().map(|p| v1::Platform::from(p) as i32).collect(),
                limit_per_platform: limit_per_platform.unwrap_or(0),
            };
            let response =
                inspect(config, "cannot collect trends".into(), move |client| Box::pin(client.collect_trends(request)))
                    .await?;
            if json {
                output::print_json(&json!({
                    "job_id": response.job_id,
                    "collected": response.collected,
                    "new_trends": response.new_trends,
                    "trends": response.trends.iter().map(views::trend).collect::<Vec<_>>(),
                }))?;
            } else {
                trend_table(&response.trends).print();
                println!(
                    "job {} collected {} trend(s), {} new",
                    response.job_id, response.collected, response.new_trends
                );
            }
        }
        TrendsCommand::List { platform, job, limit, page_token } => {
            let request = v1::ListTrendsRequest {
                platform: platform.map(v1::Platform::from).unwrap_or_default() as i32,
                page_size: limit.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                seen_by_job_id: job.unwrap_or(0),
            };
            let response =
                inspect(config, "cannot list trends".into(), move |client| Box::pin(client.list_trends(request)))
                    .await?;
            if json {
                output::print_json(&json!({
                    "trends": response.trends.iter().map(views::trend).collect::<Vec<_>>(),
                    "next_page_token": response.next_page_token,
                }))?;
            } else if response.trends.is_empty() {
                println!("no trends yet (`shortline trends collect` collects some)");
            } else {
                trend_table(&response.trends).print();
                if !response.next_page_token.is_empty() {
                    println!("more: --page-token {}", response.next_page_token);
                }
            }
        }
        TrendsCommand::Analyze { window_hours, max_trends } => {
            let request = v1::AnalyzeTrendsRequest {
                window_hours: window_hours.unwrap_or(0),
                max_trends: max_trends.unwrap_or(0),
            };
            let report =
                inspect(config, "cannot analyse trends".into(), move |client| Box::pin(client.analyze_trends(request)))
                    .await?;
            print_report(&report, json)?;
        }
        TrendsCommand::Report => {
            let report = inspect(config, "no trend report".into(), move |client| {
                Box::pin(client.get_latest_trend_report(v1::GetLatestTrendReportRequest {}))
            })
            .await?;
            print_report(&report, json)?;
        }
        TrendsCommand::Reports { limit, page_token } => {
            let request = v1::ListTrendReportsRequest {
                page_size: limit.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
            };
            let response = inspect(config, "cannot list trend reports".into(), move |client| {
                Box::pin(client.list_trend_reports(request))
            })
            .await?;
            if json {
                output::print_json(&json!({
                    "reports": response.reports.iter().map(views::report).collect::<Vec<_>>(),
                    "next_page_token": response.next_page_token,
                }))?;
            } else if response.reports.is_empty() {
                println!("no trend reports yet (`shortline trends analyze` writes one)");
            } else {
                let mut table =
                    Table::new(&["ID", "JOB", "ANALYST", "TRENDS", "AVG VELOCITY", "TOP HASHTAGS", "CREATED"]);
                for report in &response.reports {
                    table.row(vec![
                        report.id.to_string(),
                        report.job_id.to_string(),
                        report.analyst.clone(),
                        report.trends_analyzed.to_string(),
                        format!("{:.0}/h", report.avg_engagement_velocity),
                        report.top_hashtags.iter().take(3).map(|h| h.tag.clone()).collect::<Vec<_>>().join(" "),
                        output::time(report.created_at.as_ref()),
                    ]);
                }
                table.print();
                if !response.next_page_token.is_empty() {
                    println!("more: --page-token {}", response.next_page_token);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn trend_table(trends: &[v1::Trend]) -> Table {
    let mut table = Table::new(&["ID", "PLATFORM", "VELOCITY", "VIEWS", "LIKES", "SECONDS", "CREATOR", "TITLE"]);
    for trend in trends {
        table.row(vec![
            trend.id.to_string(),
            names::platform(trend.platform()),
            format!("{:.0}/h", trend.engagement_velocity),
            trend.views.to_string(),
            trend.likes.to_string(),
            trend.duration_seconds.to_string(),
            output::truncate(&trend.creator, 20),
            output::truncate(&trend.title, 50),
        ]);
    }
    table
}

fn print_report(report: &v1::TrendReport, json: bool) -> anyhow::Result<()> {
    if json {
        return output::print_json(&views::report(report));
    }
    println!(
        "trend report {} (job {}, {}, {}): {} trends analysed, average velocity {:.0}/h",
        report.id,
        report.job_id,
        report.analyst,
        output::time(report.created_at.as_ref()),
        report.trends_analyzed,
        report.avg_engagement_velocity
    );
    if !report.video_styles.is_empty() {
        println!();
        let mut table = Table::new(&["STYLE", "CONFIDENCE", "COUNT"]);
        for style in &report.video_styles {
            table.row(vec![
                style.category.clone(),
                format!("{:.0}%", style.confidence * 100.0),
                style.count.to_string(),
            ]);
        }
        table.print();
    }
    if !report.common_patterns.is_empty() {
        println!();
        let mut table = Table::new(&["FORMAT", "AVG SECONDS", "HOOK", "TEXT OVERLAY", "AUDIO"]);
        for pattern in &report.common_patterns {
            table.row(vec![
                pattern.format.clone(),
                format!("{:.1}", pattern.avg_duration_seconds),
                pattern.hook_type.clone(),
                if pattern.uses_text_overlay { "yes" } else { "no" }.to_owned(),
                pattern.audio_type.clone(),
            ]);
        }
        table.print();
    }
    if !report.top_hashtags.is_empty() {
        println!();
        let tags: Vec<String> = report.top_hashtags.iter().map(|h| format!("{} ({})", h.tag, h.count)).collect();
        println!("top hashtags: {}", tags.join(", "));
    }
    if !report.recommendations.is_empty() {
        println!();
        println!("recommendations:");
        for recommendation in &report.recommendations {
            println!("  - {recommendation}");
        }
    }
    Ok(())
}
