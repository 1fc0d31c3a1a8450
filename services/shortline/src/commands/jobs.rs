//! Jobs: `jobs`, `review-queue`, `status`, `show`, `watch`, `retry`, `cancel`.

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::json;
use shortline_config::Config;
use shortline_proto::v1;

use super::{follow, inspect, with_services};
use crate::client::Work;
use crate::output::{self, Table};
use crate::{names, tree, views, JobsArgs, StageArg};

pub async fn list(config: &Config, args: &JobsArgs, json: bool) -> anyhow::Result<ExitCode> {
    let request = v1::ListJobsRequest {
        status: args.status.map(v1::JobStatus::from).unwrap_or_default() as i32,
        kind: args.kind.map(v1::JobKind::from).unwrap_or_default() as i32,
        page_size: args.limit.unwrap_or(0),
        page_token: args.page_token.clone().unwrap_or_default(),
    };
    let response =
        inspect(config, "cannot list jobs".into(), move |client| Box::pin(client.list_jobs(request))).await?;
    if json {
        output::print_json(&json!({
            "jobs": response.jobs.iter().map(views::job).collect::<Vec<_>>(),
            "next_page_token": response.next_page_token,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if response.jobs.is_empty() {
        println!("no jobs");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["ID", "KIND", "STATUS", "THEME", "VARIANTS", "PROGRESS", "STAGE", "CREATED", "ERROR"]);
    for job in &response.jobs {
        let progress = job.progress.unwrap_or_default();
        let stage = match (job.failed_stage(), progress.current_stage()) {
            (v1::Stage::Unspecified, v1::Stage::Unspecified) => String::new(),
            (v1::Stage::Unspecified, current) => names::stage(current),
            (failed, _) => names::stage(failed),
        };
        table.row(vec![
            job.id.to_string(),
            names::job_kind(job.kind()),
            names::job_status(job.status()),
            job.theme_name.clone(),
            job.variants.to_string(),
            format!("{}/{}", progress.stages_done, progress.stages_total),
            stage,
            output::time(job.created_at.as_ref()),
            output::truncate(&job.error, 60),
        ]);
    }
    table.print();
    if !response.next_page_token.is_empty() {
        println!("more: --page-token {}", response.next_page_token);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn status(config: &Config, job_id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let job =
        inspect(config, format!("job {job_id}"), move |client| Box::pin(client.get_job(v1::GetJobRequest { job_id })))
            .await?;
    if json {
        output::print_json(&views::job(&job))?;
        return Ok(ExitCode::SUCCESS);
    }
    let progress = job.progress.unwrap_or_default();
    println!(
        "job {}  {}  {}  theme {}  variants {}  {}/{} stages done",
        job.id,
        names::job_kind(job.kind()),
        names::job_status(job.status()),
        job.theme_name,
        job.variants,
        progress.stages_done,
        progress.stages_total
    );
    println!("created {}  updated {}", output::time(job.created_at.as_ref()), output::time(job.updated_at.as_ref()));
    if !job.error.is_empty() {
        let stage = match job.failed_stage() {
            v1::Stage::Unspecified => String::new(),
            stage => format!(" at {}", names::stage(stage)),
        };
        println!("error{stage}: {}", job.error);
    }
    if !job.stages.is_empty() {
        println!();
        let mut table = Table::new(&["STAGE", "ATTEMPT", "STATUS", "STARTED", "TOOK", "RESULT"]);
        for run in &job.stages {
            table.row(vec![
                names::stage(run.stage()),
                run.attempt.to_string(),
                names::stage_status(run.status()),
                output::time(run.started_at.as_ref()),
                output::seconds_between(run.started_at.as_ref(), run.finished_at.as_ref())
                    .map(output::duration)
                    .unwrap_or_default(),
                if run.error.is_empty() { output::truncate(&run.output_ref, 60) } else { run.error.clone() },
            ]);
        }
        table.print();
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn show(config: &Config, job_id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let lineage = lineage(config, job_id).await?;
    if json {
        output::print_json(&views::lineage(&lineage))?;
    } else {
        print!("{}", tree::lineage(&lineage).render());
    }
    Ok(ExitCode::SUCCESS)
}

/// The job's lineage: its stages, trends, report, scripts, assets and videos.
pub async fn lineage(config: &Config, job_id: i64) -> anyhow::Result<v1::JobLineage> {
    inspect(config, format!("job {job_id}"), move |client| {
        Box::pin(client.get_job_lineage(v1::GetJobLineageRequest { job_id }))
    })
    .await
}

pub async fn watch(config: &Config, job_id: i64, json: bool) -> anyhow::Result<ExitCode> {
    with_services(config, Work::Pipeline, |services| Box::pin(follow::to_the_end(services, job_id, json))).await
}

pub async fn retry(
    config: &Config,
    job_id: i64,
    from_stage: Option<StageArg>,
    detach: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    with_services(config, Work::Pipeline, |services| {
        Box::pin(async move {
            let request =
                v1::RetryJobRequest { job_id, from_stage: from_stage.map(v1::Stage::from).unwrap_or_default() as i32 };
            let retried = services.client.retry_job(request).await;
            let job = retried.with_context(|| format!("cannot retry job {job_id}"))?.into_inner();
            if detach && !services.is_embedded() {
                if json {
                    output::print_json(&views::job(&job))?;
                } else {
                    println!(
                        "job {job_id} is {} again; follow it with `shortline watch {job_id}`",
                        names::job_status(job.status())
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            if detach {
                eprintln!(
                    "--detach ignored: the services run in this process, so the command follows the job to its end"
                );
            }
            if !json {
                let from = from_stage
                    .map(|s| names::stage(s.into()))
                    .unwrap_or_else(|| "its first unfinished stage".to_owned());
                println!("job {job_id} resumes from {from}");
            }
            follow::to_the_end(services, job_id, json).await
        })
    })
    .await
}

pub async fn cancel(config: &Config, job_id: i64, reason: &str, json: bool) -> anyhow::Result<ExitCode> {
    let request = v1::CancelJobRequest { job_id, reason: reason.to_owned() };
    let job =
        inspect(config, format!("cannot cancel job {job_id}"), move |client| Box::pin(client.cancel_job(request)))
            .await?;
    if json {
        output::print_json(&views::job(&job))?;
    } else {
        println!("job {job_id} is {}; `shortline retry {job_id}` resumes it", names::job_status(job.status()));
    }
    Ok(ExitCode::SUCCESS)
}
