//! The WatchJob stream.

use std::collections::HashMap;
use std::time::Duration;

use futures::Stream;
use shortline_db::{self as db, JobStatus, StageStatus};
use shortline_grpc::convert;
use shortline_proto::v1;
use tonic::Status;

use crate::error::RequestError;

/// How often WatchJob looks at the job; polling the database makes a watch work whichever
/// replica runs the job.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// The WatchJob stream: the job's state now, then an event per stage attempt change and per job
/// status change, until the job rests (awaiting review or terminal). It looks again when this
/// process changes the job, and at least every [`WATCH_INTERVAL`] (for other replicas' changes).
pub(super) fn watch_stream(
    pool: db::DbPool,
    changes: tokio::sync::broadcast::Receiver<i64>,
    job_id: i64,
) -> impl Stream<Item = std::result::Result<v1::JobEvent, Status>> + Send {
    struct State {
        pool: db::DbPool,
        changes: tokio::sync::broadcast::Receiver<i64>,
        seen_stages: HashMap<i64, StageStatus>,
        seen_status: Option<JobStatus>,
        queue: std::collections::VecDeque<v1::JobEvent>,
        done: bool,
    }
    let state =
        State { pool, changes, seen_stages: HashMap::new(), seen_status: None, queue: Default::default(), done: false };
    futures::stream::unfold(state, move |mut state| async move {
        loop {
            if let Some(event) = state.queue.pop_front() {
                return Some((Ok(event), state));
            }
            if state.done {
                return None;
            }
            if state.seen_status.is_some() {
                let changed = async {
                    loop {
                        match state.changes.recv().await {
                            Ok(id) if id == job_id => return,
                            Ok(_) => {}
                            // Missed some announcements: look now.
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                        }
                    }
                };
                let _ = tokio::time::timeout(WATCH_INTERVAL, changed).await;
            }
            let snapshot = async {
                let mut pooled = state.pool.get().await?;
                let conn = &mut pooled.conn();
                let job = db::jobs::find(conn, job_id).await?;
                let stages = db::job_stages::list_for_job(conn, job_id).await?;
                Ok::<_, db::DbError>((job, stages))
            }
            .await;
            let (job, stages) = match snapshot {
                Ok(snapshot) => snapshot,
                Err(error) => {
                    state.done = true;
                    return Some((Err(Status::from(RequestError::from(error))), state));
                }
            };
            // Each event carries the time its change happened and the progress as of it, so a
            // replay of past attempts reads as they happened, not as of the subscription.
            let event = |stage: Option<&db::JobStage>, message: String, at, progress| v1::JobEvent {
                job_id,
                stage: stage.map(|s| convert::stage(s.stage)).unwrap_or(v1::Stage::Unspecified) as i32,
                stage_status: stage.map(|s| convert::stage_status(s.status)).unwrap_or(v1::StageStatus::Unspecified)
                    as i32,
                job_status: convert::job_status(job.status) as i32,
                attempt: stage.map(|s| s.attempt).unwrap_or(0),
                message,
                at: Some(convert::timestamp(at)),
                progress: Some(progress),
            };
            for (made, stage) in stages.iter().enumerate() {
                if state.seen_stages.get(&stage.id) != Some(&stage.status) {
                    state.seen_stages.insert(stage.id, stage.status);
                    let detail = stage.error.clone().or_else(|| stage.output_ref.clone()).unwrap_or_default();
                    state.queue.push_back(event(
                        Some(stage),
                        format!("{} {} (attempt {}) {detail}", stage.stage, stage.status, stage.attempt)
                            .trim_end()
                            .to_owned(),
                        stage.finished_at.unwrap_or(stage.started_at),
                        // Attempts are made one after another: the earlier ones are what was
                        // known when this one reached its status.
                        convert::progress(&job, &stages[..=made]),
                    ));
                }
            }
            if state.seen_status != Some(job.status) {
                state.seen_status = Some(job.status);
                let message = match (&job.error, job.failed_stage) {
                    (Some(error), Some(stage)) => format!("job {}: {stage} failed: {error}", job.status),
                    (Some(error), None) => format!("job {}: {error}", job.status),
                    _ => format!("job {}", job.status),
                };
                state.queue.push_back(event(None, message, job.updated_at, convert::progress(&job, &stages)));
            }
            if job.status.is_terminal() || job.status == JobStatus::AwaitingReview {
                state.done = true;
            }
        }
    })
}
