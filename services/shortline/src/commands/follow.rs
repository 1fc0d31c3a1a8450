//! Following a job (WatchJob): one progress line per stage attempt, then the outcome — the
//! video and thumbnail paths, the costs, the lineage tree — or the failed stage and its reason.
//! Shared by `run`, `watch` and `retry`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use shortline_proto::v1;

use crate::client::Services;
use crate::output::{self, duration, show_uri, usd, Table};
use crate::{names, tree, views};

/// Exit code after Ctrl-C, as shells expect (128 + SIGINT).
const INTERRUPTED: u8 = 130;

/// How following a job ended.
pub enum Followed {
    /// The job is awaiting review or terminal.
    Rested { job: Box<v1::Job>, events: Vec<v1::JobEvent> },
    /// Ctrl-C.
    Interrupted,
}

/// Follows `job_id` until it rests, then reports how it ended: the end of `run`, `watch` and
/// `retry`.
pub async fn to_the_end(services: &mut Services, job_id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let followed = follow(services, job_id, json).await?;
    report(services, followed, job_id, json).await
}

/// Follows `job_id` until it rests, showing progress on stderr (hidden with `--json`).
async fn follow(services: &mut Services, job_id: i64, json: bool) -> anyhow::Result<Followed> {
    let client = &mut services.client;
    // What already happened, with its timings (the stream's first events replay it).
    let before =
        client.get_job(v1::GetJobRequest { job_id }).await.with_context(|| format!("job {job_id}"))?.into_inner();
    let mut display = Display::new(json, &before);
    let mut stream = client
        .watch_job(v1::WatchJobRequest { job_id })
        .await
        .with_context(|| format!("watching job {job_id}"))?
        .into_inner();
    let mut events = Vec::new();
    loop {
        let next = tokio::select! {
            next = stream.message() => next,
            _ = tokio::signal::ctrl_c() => {
                display.abandon();
                return Ok(Followed::Interrupted);
            }
        };
        match next.with_context(|| format!("watching job {job_id}"))? {
            Some(event) => {
                if display.lacks_timing(&event) {
                    // The stage ran between two polls of the stream: its row has the times.
                    if let Ok(job) = client.get_job(v1::GetJobRequest { job_id }).await {
                        display.learn(&job.into_inner());
                    }
                }
                display.show(&event);
                events.push(event);
            }
            None => break,
        }
    }
    let job = client.get_job(v1::GetJobRequest { job_id }).await.with_context(|| format!("job {job_id}"))?.into_inner();
    display.close(&job);
    Ok(Followed::Rested { job: Box::new(job), events })
}

/// The progress lines: indicatif spinners on a terminal, plain lines otherwise, nothing for JSON.
struct Display {
    mode: Mode,
    bars: HashMap<(i32, i32), ProgressBar>,
    /// When each (stage, attempt) started, as the server recorded or reported it.
    started: HashMap<(i32, i32), prost_types::Timestamp>,
    /// Stage runs known before watching began (for their timings).
    known: HashMap<(i32, i32), v1::StageRun>,
}

enum Mode {
    Bars(MultiProgress),
    Lines,
    Quiet,
}

impl Display {
    fn new(json: bool, job: &v1::Job) -> Display {
        let mode = if json {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Mode::Lines
        };
        let known = job.stages.iter().map(|run| ((run.stage, run.attempt), run.clone())).collect();
        Display { mode, bars: HashMap::new(), started: HashMap::new(), known }
    }

    /// Whether `event` ends a stage attempt whose start this display never saw.
    fn lacks_timing(&self, event: &v1::JobEvent) -> bool {
        let key = (event.stage, event.attempt);
        event.stage() != v1::Stage::Unspecified
            && event.stage_status() != v1::StageStatus::Running
            && !self.started.contains_key(&key)
            && !self.known.get(&key).is_some_and(|run| run.started_at.is_some() && run.finished_at.is_some())
            && !matches!(self.mode, Mode::Quiet)
    }

    fn learn(&mut self, job: &v1::Job) {
        self.known.extend(job.stages.iter().map(|run| ((run.stage, run.attempt), run.clone())));
    }

    fn show(&mut self, event: &v1::JobEvent) {
        if event.stage() == v1::Stage::Unspecified {
            return;
        }
        let key = (event.stage, event.attempt);
        let stage = names::stage(event.stage());
        let attempt = if event.attempt > 1 { format!(" (attempt {})", event.attempt) } else { String::new() };
        match event.stage_status() {
            v1::StageStatus::Running => {
                let started = self.known.get(&key).and_then(|run| run.started_at).or(event.at);
                if let Some(at) = started {
                    self.started.insert(key, at);
                }
                if let Mode::Bars(multi) = &self.mode {
                    let already = output::seconds_between(started.as_ref(), event.at.as_ref()).unwrap_or(0.0).max(0.0);
                    let bar = multi.add(
                        ProgressBar::new_spinner()
                            .with_style(running_style())
                            .with_prefix(stage)
                            .with_message(format!("running{attempt}"))
                            .with_elapsed(Duration::from_secs_f64(already)),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    self.bars.insert(key, bar);
                }
            }
            status => {
                let (mark, result) = match status {
                    v1::StageStatus::Succeeded => ("✓", summarize(result_detail(&event.message))),
                    v1::StageStatus::Cancelled => ("✗", format!("cancelled: {}", result_detail(&event.message))),
                    _ => ("✗", format!("failed{attempt}: {}", result_detail(&event.message))),
                };
                let known = self.known.get(&key);
                let started = self.started.get(&key).copied().or_else(|| known.and_then(|run| run.started_at));
                let finished = known.and_then(|run| run.finished_at).or(event.at);
                let took =
                    output::seconds_between(started.as_ref(), finished.as_ref()).map(duration).unwrap_or_default();
                let line = format!("{mark} {stage:<17} {took:>6}  {result}");
                self.finish(key, line.trim_end().to_owned());
            }
        }
    }

    fn finish(&mut self, key: (i32, i32), line: String) {
        match &self.mode {
            Mode::Bars(multi) => {
                let bar = self.bars.remove(&key).unwrap_or_else(|| multi.add(ProgressBar::new_spinner()));
                bar.set_style(done_style());
                bar.finish_with_message(line);
            }
            Mode::Lines => eprintln!("{line}"),
            Mode::Quiet => {}
        }
    }

    /// Ends the lines of stages still open (the review stage waits for a person).
    fn close(&mut self, job: &v1::Job) {
        let waiting = job.status() == v1::JobStatus::AwaitingReview;
        let why = if waiting { "waiting for a review decision" } else { "not finished" };
        match &self.mode {
            Mode::Bars(_) => {
                let open: Vec<(i32, i32)> = self.bars.keys().copied().collect();
                for key in open {
                    let stage = names::stage(v1::Stage::try_from(key.0).unwrap_or_default());
                    self.finish(key, format!("… {stage:<17} {:>6}  {why}", ""));
                }
            }
            Mode::Lines if waiting => eprintln!("… {:<17} {:>6}  {why}", "review", ""),
            Mode::Lines | Mode::Quiet => {}
        }
    }

    fn abandon(&mut self) {
        for (_, bar) in self.bars.drain() {
            bar.abandon_with_message("interrupted");
        }
    }
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix:<17} {elapsed:>6}  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
}

fn done_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// The detail of a stage event's message (`"composition succeeded (attempt 1) videos:3"` ->
/// `"videos:3"`).
fn result_detail(message: &str) -> &str {
    match message.find("(attempt ") {
        Some(start) => match message[start..].find(')') {
            Some(end) => message[start + end + 1..].trim(),
            None => message,
        },
        None => message.trim(),
    }
}

/// `"trends:1,2,…,20"` -> `"20 trends"`, `"trend_report:7"` -> `"trend_report 7"`.
fn summarize(detail: &str) -> String {
    if let Some((kind, ids)) = detail.split_once(':') {
        let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
        if !kind.contains(' ') && ids.iter().all(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit())) {
            return match ids.as_slice() {
                [one] => format!("{kind} {one}"),
                many => format!("{} {kind}", many.len()),
            };
        }
    }
    match detail.split_once(':') {
        Some((kind, rest)) if !kind.contains(' ') => {
            let rest: Vec<&str> = rest.split(',').map(str::trim).collect();
            output::truncate(&format!("{kind}: {}", rest.join(", ")), 100)
        }
        _ => output::truncate(detail, 100),
    }
}

/// After following: the outcome in words (or JSON), and the exit code.
async fn report(services: &mut Services, followed: Followed, job_id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let (job, events) = match followed {
        Followed::Rested { job, events } => (job, events),
        Followed::Interrupted => {
            if services.is_embedded() {
                eprintln!(
                    "interrupted: job {job_id} stops with the services of this process; it resumes from its last \
                     checkpoint the next time they run (`shortline watch {job_id}`)"
                );
            } else {
                eprintln!("interrupted: job {job_id} goes on at {} (`shortline watch {job_id}`)", services.url);
            }
            return Ok(ExitCode::from(INTERRUPTED));
        }
    };
    let lineage = services
        .client
        .get_job_lineage(v1::GetJobLineageRequest { job_id })
        .await
        .with_context(|| format!("lineage of job {job_id}"))?
        .into_inner();
    let failed = names::is_failure(job.status());
    if json {
        output::print_json(&json!({
            "job": views::job(&job),
            "services": services.mode(),
            "orchestrator_url": services.url,
            "videos": lineage.videos.iter().map(views::video).collect::<Vec<_>>(),
            "events": events.iter().map(views::event).collect::<Vec<_>>(),
            "lineage": views::lineage(&lineage),
        }))?;
        return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    if failed {
        print!("{}", tree::lineage(&lineage).render());
        let stage = match job.failed_stage() {
            v1::Stage::Unspecified => String::new(),
            stage => format!(" at stage {}", names::stage(stage)),
        };
        let reason = if job.error.is_empty() { "no reason recorded".to_owned() } else { job.error.clone() };
        eprintln!("error: job {job_id} {}{stage}: {reason}", names::job_status(job.status()));
        eprintln!("`shortline retry {job_id}` resumes it from its last checkpoint, reusing what it already made.");
        return Ok(ExitCode::FAILURE);
    }
    print_videos(&lineage.videos);
    println!();
    println!("lineage:");
    print!("{}", tree::lineage(&lineage).render());
    println!();
    match job.status() {
        v1::JobStatus::AwaitingReview => {
            for video in lineage.videos.iter().filter(|v| v.status() == v1::VideoStatus::Generated) {
                println!(
                    "video {} awaits review: approve it with `shortline videos approve {job_id} {}` \
                     (or `shortline videos reject {job_id} {} --note WHY`)",
                    video.id, video.id, video.id
                );
            }
        }
        v1::JobStatus::Approved => println!("job {job_id} is approved (the theme posts automatically)."),
        status => println!("job {job_id} is {}.", names::job_status(status)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Each video's file and thumbnail, then one cost line per video.
pub fn print_videos(videos: &[v1::Video]) {
    if videos.is_empty() {
        println!("no video yet");
        return;
    }
    for video in videos {
        println!("video {} (variant {}, {}):", video.id, video.variant, names::video_status(video.status()));
        println!("  file:      {}", show_uri(&video.uri));
        println!("  thumbnail: {}", show_uri(&video.thumbnail_uri));
        if !video.captions_srt_uri.is_empty() {
            println!("  captions:  {}", show_uri(&video.captions_srt_uri));
            println!("             {}", show_uri(&video.captions_vtt_uri));
        }
    }
    println!();
    println!("costs:");
    let mut table = Table::new(&["VIDEO", "LLM", "TTS", "VIDEO GENERATION", "TOTAL"]);
    for video in videos {
        let c = video.costs.unwrap_or_default();
        table.row(vec![
            video.id.to_string(),
            usd(c.llm_micros),
            usd(c.tts_micros),
            usd(c.video_generation_micros),
            usd(c.total_micros),
        ]);
    }
    table.print();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_messages_are_summarised() {
        assert_eq!(result_detail("trend_collection succeeded (attempt 1) trends:1,2,3"), "trends:1,2,3");
        assert_eq!(summarize("trends:1,2,3"), "3 trends");
        assert_eq!(summarize("trend_report:7"), "trend_report 7");
        assert_eq!(summarize("trends:37 seen,37 new"), "trends: 37 seen, 37 new");
        assert_eq!(summarize("ffmpeg exited with 1"), "ffmpeg exited with 1");
        assert_eq!(result_detail("no attempt here"), "no attempt here");
    }
}
