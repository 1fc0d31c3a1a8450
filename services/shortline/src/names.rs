//! The API's enums as the command line spells them: flags (`--status awaiting-review`) and
//! printed names (`awaiting_review`, the pipeline's own stage and status names).

use shortline_proto::v1;

/// `JOB_STATUS_AWAITING_REVIEW` -> `awaiting_review`.
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase()
}

pub fn job_status(status: v1::JobStatus) -> String {
    short(status.as_str_name(), "JOB_STATUS_")
}

pub fn job_kind(kind: v1::JobKind) -> String {
    short(kind.as_str_name(), "JOB_KIND_")
}

pub fn stage(stage: v1::Stage) -> String {
    short(stage.as_str_name(), "STAGE_")
}

pub fn stage_status(status: v1::StageStatus) -> String {
    short(status.as_str_name(), "STAGE_STATUS_")
}

pub fn platform(platform: v1::Platform) -> String {
    short(platform.as_str_name(), "PLATFORM_")
}

pub fn asset_kind(kind: v1::AssetKind) -> String {
    short(kind.as_str_name(), "ASSET_KIND_")
}

pub fn video_status(status: v1::VideoStatus) -> String {
    short(status.as_str_name(), "VIDEO_STATUS_")
}

pub fn transition(transition: v1::Transition) -> String {
    short(transition.as_str_name(), "TRANSITION_")
}

/// Whether a job ended without its result: failed or cancelled.
pub fn is_failure(status: v1::JobStatus) -> bool {
    matches!(status, v1::JobStatus::Failed | v1::JobStatus::Cancelled)
}

/// `--status`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JobStatusArg {
    Queued,
    Running,
    #[value(alias = "awaiting_review")]
    AwaitingReview,
    Approved,
    Rejected,
    Failed,
    Cancelled,
    Succeeded,
}

impl From<JobStatusArg> for v1::JobStatus {
    fn from(arg: JobStatusArg) -> Self {
        match arg {
            JobStatusArg::Queued => v1::JobStatus::Queued,
            JobStatusArg::Running => v1::JobStatus::Running,
            JobStatusArg::AwaitingReview => v1::JobStatus::AwaitingReview,
            JobStatusArg::Approved => v1::JobStatus::Approved,
            JobStatusArg::Rejected => v1::JobStatus::Rejected,
            JobStatusArg::Failed => v1::JobStatus::Failed,
            JobStatusArg::Cancelled => v1::JobStatus::Cancelled,
            JobStatusArg::Succeeded => v1::JobStatus::Succeeded,
        }
    }
}

/// `--kind`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JobKindArg {
    Pipeline,
    #[value(alias = "trend_refresh")]
    TrendRefresh,
    #[value(alias = "trend_analysis")]
    TrendAnalysis,
}

impl From<JobKindArg> for v1::JobKind {
    fn from(arg: JobKindArg) -> Self {
        match arg {
            JobKindArg::Pipeline => v1::JobKind::Pipeline,
            JobKindArg::TrendRefresh => v1::JobKind::TrendRefresh,
            JobKindArg::TrendAnalysis => v1::JobKind::TrendAnalysis,
        }
    }
}

/// `--from-stage`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StageArg {
    #[value(alias = "trend_collection")]
    TrendCollection,
    #[value(alias = "trend_analysis")]
    TrendAnalysis,
    #[value(alias = "script_generation")]
    ScriptGeneration,
    #[value(alias = "media_generation")]
    MediaGeneration,
    Composition,
    Review,
}

impl From<StageArg> for v1::Stage {
    fn from(arg: StageArg) -> Self {
        match arg {
            StageArg::TrendCollection => v1::Stage::TrendCollection,
            StageArg::TrendAnalysis => v1::Stage::TrendAnalysis,
            StageArg::ScriptGeneration => v1::Stage::ScriptGeneration,
            StageArg::MediaGeneration => v1::Stage::MediaGeneration,
            StageArg::Composition => v1::Stage::Composition,
            StageArg::Review => v1::Stage::Review,
        }
    }
}

/// `--platform`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlatformArg {
    Tiktok,
    #[value(alias = "youtube_shorts", alias = "youtube-shorts")]
    Youtube,
}

impl From<PlatformArg> for v1::Platform {
    fn from(arg: PlatformArg) -> Self {
        match arg {
            PlatformArg::Tiktok => v1::Platform::Tiktok,
            PlatformArg::Youtube => v1::Platform::Youtube,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_pipeline_names() {
        assert_eq!(job_status(v1::JobStatus::AwaitingReview), "awaiting_review");
        assert_eq!(stage(v1::Stage::TrendCollection), "trend_collection");
        assert_eq!(platform(v1::Platform::Youtube), "youtube");
        assert_eq!(asset_kind(v1::AssetKind::Voiceover), "voiceover");
    }
}
