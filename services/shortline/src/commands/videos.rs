//! `shortline videos list JOB | approve JOB VIDEO | reject JOB VIDEO`: a job's videos and their
//! review, through the orchestrator (GetJobLineage, ReviewVideo).

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::json;
use shortline_config::Config;
use shortline_proto::v1;

use super::with_services;
use crate::client::Work;
use crate::output::{self, show_uri, usd, Table};
use crate::{names, views, VideosCommand};

pub async fn run(config: &Config, command: VideosCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        VideosCommand::List { job } => list(config, job, json).await,
        VideosCommand::Approve { job, video, note } => {
            review(config, job, video, v1::ReviewDecision::Approve, note, json).await
        }
        VideosCommand::Reject { job, video, note } => {
            review(config, job, video, v1::ReviewDecision::Reject, note, json).await
        }
    }
}

async fn list(config: &Config, job_id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let lineage = super::jobs::lineage(config, job_id).await?;
    if json {
        output::print_json(&json!({ "videos": lineage.videos.iter().map(views::video).collect::<Vec<_>>() }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if lineage.videos.is_empty() {
        println!("job {job_id} has no video yet");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table =
        Table::new(&["ID", "VARIANT", "STATUS", "SECONDS", "SIZE", "COST", "FILE", "THUMBNAIL", "CAPTIONS (SRT)"]);
    for video in &lineage.videos {
        table.row(vec![
            video.id.to_string(),
            video.variant.to_string(),
            names::video_status(video.status()),
            format!("{:.1}", video.duration_seconds),
            format!("{}x{}", video.width, video.height),
            usd(video.costs.as_ref().map(|c| c.total_micros).unwrap_or(0)),
            show_uri(&video.uri),
            show_uri(&video.thumbnail_uri),
            if video.captions_srt_uri.is_empty() { "-".to_owned() } else { show_uri(&video.captions_srt_uri) },
        ]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}

async fn review(
    config: &Config,
    job_id: i64,
    video_id: i64,
    decision: v1::ReviewDecision,
    note: String,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let verb = if decision == v1::ReviewDecision::Approve { "approve" } else { "reject" };
    let request = v1::ReviewVideoRequest { job_id, video_id, decision: decision as i32, note };
    let (job, lineage) = with_services(config, Work::Inspect, |services| {
        Box::pin(async move {
            let job = services
                .client
                .review_video(request)
                .await
                .with_context(|| format!("cannot {verb} video {video_id} of job {job_id}"))?
                .into_inner();
            let lineage = services.client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await;
            Ok((job, lineage.with_context(|| format!("job {job_id}"))?.into_inner()))
        })
    })
    .await?;
    let video = lineage.videos.iter().find(|v| v.id == video_id);
    if json {
        output::print_json(&json!({ "job": views::job(&job), "video": video.map(views::video) }))?;
        return Ok(ExitCode::SUCCESS);
    }
    match video {
        Some(video) => {
            println!("video {video_id} is {}: {}", names::video_status(video.status()), show_uri(&video.uri))
        }
        None => println!("video {video_id}: {verb}d"),
    }
    println!("job {job_id} is {}", names::job_status(job.status()));
    Ok(ExitCode::SUCCESS)
}
