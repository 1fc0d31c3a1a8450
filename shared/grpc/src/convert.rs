//! Conversions between rows / domain types and protobuf messages: the one place that knows both.

use chrono::NaiveDateTime;
use prost_types::Timestamp;
use shortline_proto::v1;

use shortline_db::{self as db, AssetKind, JobKind, JobStatus, StageName, StageStatus, VideoStatus};
use shortline_domain::{self as domain, OverlayPosition, OverlayStyle, Platform, Transition, Violation};

pub fn timestamp(at: NaiveDateTime) -> Timestamp {
    let utc = at.and_utc();
    Timestamp { seconds: utc.timestamp(), nanos: utc.timestamp_subsec_nanos() as i32 }
}

fn optional_timestamp(at: Option<NaiveDateTime>) -> Option<Timestamp> {
    at.map(timestamp)
}

// ---- enums ------------------------------------------------------------------------------------

pub fn job_status(status: JobStatus) -> v1::JobStatus {
    match status {
        JobStatus::Queued => v1::JobStatus::Queued,
        JobStatus::Running => v1::JobStatus::Running,
        JobStatus::AwaitingReview => v1::JobStatus::AwaitingReview,
        JobStatus::Approved => v1::JobStatus::Approved,
        JobStatus::Rejected => v1::JobStatus::Rejected,
        JobStatus::Succeeded => v1::JobStatus::Succeeded,
        JobStatus::Failed => v1::JobStatus::Failed,
        JobStatus::Cancelled => v1::JobStatus::Cancelled,
    }
}

/// `None` for UNSPECIFIED (e.g. "any status" in a filter).
pub fn job_status_from(status: v1::JobStatus) -> Option<JobStatus> {
    JobStatus::ALL.iter().copied().find(|s| job_status(*s) == status)
}

pub fn job_kind(kind: JobKind) -> v1::JobKind {
    match kind {
        JobKind::Pipeline => v1::JobKind::Pipeline,
        JobKind::TrendRefresh => v1::JobKind::TrendRefresh,
        JobKind::TrendAnalysis => v1::JobKind::TrendAnalysis,
    }
}

pub fn job_kind_from(kind: v1::JobKind) -> Option<JobKind> {
    JobKind::ALL.iter().copied().find(|k| job_kind(*k) == kind)
}

pub fn stage(stage: StageName) -> v1::Stage {
    match stage {
        StageName::TrendCollection => v1::Stage::TrendCollection,
        StageName::TrendAnalysis => v1::Stage::TrendAnalysis,
        StageName::ScriptGeneration => v1::Stage::ScriptGeneration,
        StageName::MediaGeneration => v1::Stage::MediaGeneration,
        StageName::Composition => v1::Stage::Composition,
        StageName::Review => v1::Stage::Review,
    }
}

pub fn stage_from(value: v1::Stage) -> Option<StageName> {
    StageName::ALL.iter().copied().find(|s| stage(*s) == value)
}

pub fn stage_status(status: StageStatus) -> v1::StageStatus {
    match status {
        StageStatus::Running => v1::StageStatus::Running,
        StageStatus::Succeeded => v1::StageStatus::Succeeded,
        StageStatus::Failed => v1::StageStatus::Failed,
        StageStatus::Cancelled => v1::StageStatus::Cancelled,
    }
}

pub fn asset_kind(kind: AssetKind) -> v1::AssetKind {
    match kind {
        AssetKind::Clip => v1::AssetKind::Clip,
        AssetKind::Voiceover => v1::AssetKind::Voiceover,
        AssetKind::Music => v1::AssetKind::Music,
        AssetKind::CaptionsSrt => v1::AssetKind::CaptionsSrt,
        AssetKind::CaptionsVtt => v1::AssetKind::CaptionsVtt,
    }
}

pub fn video_status(status: VideoStatus) -> v1::VideoStatus {
    match status {
        VideoStatus::Generated => v1::VideoStatus::Generated,
        VideoStatus::Approved => v1::VideoStatus::Approved,
        VideoStatus::Rejected => v1::VideoStatus::Rejected,
    }
}

pub fn platform(platform: Platform) -> v1::Platform {
    match platform {
        Platform::Tiktok => v1::Platform::Tiktok,
        Platform::Youtube => v1::Platform::Youtube,
    }
}

pub fn platform_from(value: v1::Platform) -> Option<Platform> {
    Platform::ALL.iter().copied().find(|p| platform(*p) == value)
}

fn transition(value: Transition) -> v1::Transition {
    match value {
        Transition::Cut => v1::Transition::Cut,
        Transition::Fade => v1::Transition::Fade,
        Transition::Dissolve => v1::Transition::Dissolve,
    }
}

fn position(value: OverlayPosition) -> v1::OverlayPosition {
    match value {
        OverlayPosition::Top => v1::OverlayPosition::Top,
        OverlayPosition::Center => v1::OverlayPosition::Center,
        OverlayPosition::Bottom => v1::OverlayPosition::Bottom,
    }
}

fn style(value: OverlayStyle) -> v1::OverlayStyle {
    match value {
        OverlayStyle::Bold => v1::OverlayStyle::Bold,
        OverlayStyle::Normal => v1::OverlayStyle::Normal,
        OverlayStyle::Highlight => v1::OverlayStyle::Highlight,
    }
}

// ---- domain <-> proto ---------------------------------------------------------------------------

pub fn caption_style(style: domain::CaptionStyle) -> v1::CaptionStyle {
    match style {
        domain::CaptionStyle::Off => v1::CaptionStyle::Off,
        domain::CaptionStyle::Phrase => v1::CaptionStyle::Phrase,
        domain::CaptionStyle::Word => v1::CaptionStyle::Word,
    }
}

/// UNSPECIFIED (and an unknown value from a newer client) is the default, `phrase`.
pub fn caption_style_from(value: i32) -> domain::CaptionStyle {
    match v1::CaptionStyle::try_from(value) {
        Ok(v1::CaptionStyle::Off) => domain::CaptionStyle::Off,
        Ok(v1::CaptionStyle::Word) => domain::CaptionStyle::Word,
        _ => domain::CaptionStyle::Phrase,
    }
}

pub fn theme(theme: &domain::Theme) -> v1::Theme {
    let c = &theme.config;
    v1::Theme {
        config: Some(v1::ThemeConfig {
            theme: c.theme.clone(),
            target_platform: c.target_platform.clone(),
            video_duration_seconds: c.video_duration_seconds,
            style: c.style.clone(),
            auto_post: c.auto_post,
            product_name: c.product_name.clone(),
            tagline: c.tagline.clone(),
            target_audience: c.target_audience.clone(),
            tone: c.tone.clone(),
            budget_usd: c.budget_usd,
            avatar: c
                .avatar
                .as_ref()
                .map(|a| v1::ThemeAvatar { avatar_id: a.avatar_id.clone(), voice_id: a.voice_id.clone() }),
            captions: caption_style(c.captions) as i32,
            fresh_analysis: c.fresh_analysis,
        }),
        content_references: theme
            .content_references
            .iter()
            .map(|r| v1::ContentReference {
                ref_id: r.ref_id.clone(),
                r#type: r.kind.clone(),
                title: r.title.clone(),
                description: r.description.clone(),
                media_url: r.media_url.clone(),
                talking_points: r.talking_points.clone(),
            })
            .collect(),
    }
}

/// A theme sent over the API, with the same defaults and validation as a theme file.
pub fn theme_from(message: &v1::Theme, field: &str) -> Result<domain::Theme, Vec<Violation>> {
    let Some(c) = &message.config else {
        return Err(vec![Violation::new(format!("{field}.config"), "is required")]);
    };
    let or = |value: &str, default: &str| if value.is_empty() { default.to_owned() } else { value.to_owned() };
    let mut theme = domain::Theme {
        config: domain::ThemeConfig {
            theme: c.theme.clone(),
            target_platform: or(&c.target_platform, "tiktok"),
            video_duration_seconds: if c.video_duration_seconds == 0 { 20 } else { c.video_duration_seconds },
            style: or(&c.style, "energetic"),
            auto_post: c.auto_post,
            product_name: c.product_name.clone(),
            tagline: c.tagline.clone(),
            target_audience: c.target_audience.clone(),
            tone: c.tone.clone(),
            budget_usd: c.budget_usd,
            avatar: c
                .avatar
                .as_ref()
                .map(|a| domain::ThemeAvatar { avatar_id: a.avatar_id.clone(), voice_id: a.voice_id.clone() }),
            captions: caption_style_from(c.captions),
            fresh_analysis: c.fresh_analysis,
        },
        content_references: message
            .content_references
            .iter()
            .map(|r| domain::ContentReference {
                ref_id: r.ref_id.clone(),
                kind: r.r#type.clone(),
                title: r.title.clone(),
                description: r.description.clone(),
                media_url: r.media_url.clone(),
                talking_points: r.talking_points.clone(),
            })
            .collect(),
    };
    theme.normalize();
    let mut violations: Vec<Violation> =
        theme.violations().into_iter().map(|v| Violation::new(format!("{field}.{}", v.field), v.reason)).collect();
    if let Err(reason) = theme.check_stored_size() {
        violations.push(Violation::new(field, format!("theme is too large: {reason}")));
    }
    if violations.is_empty() {
        Ok(theme)
    } else {
        Err(violations)
    }
}

pub fn plan(plan: &domain::ProductionPlan) -> v1::ProductionPlan {
    v1::ProductionPlan {
        video_prompt: plan.video_prompt.clone(),
        duration_seconds: plan.duration_seconds,
        aspect_ratio: plan.aspect_ratio.clone(),
        scenes: plan
            .scenes
            .iter()
            .map(|s| v1::Scene {
                number: s.number,
                duration_seconds: s.duration_seconds,
                visual_prompt: s.visual_prompt.clone(),
                transition: transition(s.transition) as i32,
            })
            .collect(),
        voiceover_script: plan.voiceover_script.clone(),
        hook_text: plan.hook_text.clone(),
        cta_text: plan.cta_text.clone(),
        text_overlays: plan
            .text_overlays
            .iter()
            .map(|o| v1::TextOverlay {
                text: o.text.clone(),
                start_seconds: o.start_seconds,
                end_seconds: o.end_seconds,
                position: position(o.position) as i32,
                style: style(o.style) as i32,
            })
            .collect(),
        hashtags: plan.hashtags.clone(),
        title: plan.title.clone(),
        description: plan.description.clone(),
    }
}

pub fn report_body(
    body: &domain::TrendReportBody,
) -> (Vec<v1::VideoStyle>, Vec<v1::CommonPattern>, Vec<v1::HashtagCount>) {
    (
        body.video_styles
            .iter()
            .map(|s| v1::VideoStyle { category: s.category.clone(), confidence: s.confidence, count: s.count })
            .collect(),
        body.common_patterns
            .iter()
            .map(|p| v1::CommonPattern {
                format: p.format.clone(),
                avg_duration_seconds: p.avg_duration_seconds,
                hook_type: p.hook_type.clone(),
                uses_text_overlay: p.uses_text_overlay,
                audio_type: p.audio_type.clone(),
            })
            .collect(),
        body.top_hashtags.iter().map(|h| v1::HashtagCount { tag: h.tag.clone(), count: h.count }).collect(),
    )
}

/// The analysis a report message carries (what the planner reads).
pub fn report_body_from(report: &v1::TrendReport) -> domain::TrendReportBody {
    domain::TrendReportBody {
        video_styles: report
            .video_styles
            .iter()
            .map(|s| domain::VideoStyle { category: s.category.clone(), confidence: s.confidence, count: s.count })
            .collect(),
        common_patterns: report
            .common_patterns
            .iter()
            .map(|p| domain::CommonPattern {
                format: p.format.clone(),
                avg_duration_seconds: p.avg_duration_seconds,
                hook_type: p.hook_type.clone(),
                uses_text_overlay: p.uses_text_overlay,
                audio_type: p.audio_type.clone(),
            })
            .collect(),
        avg_engagement_velocity: report.avg_engagement_velocity,
        top_hashtags: report
            .top_hashtags
            .iter()
            .map(|h| domain::HashtagCount { tag: h.tag.clone(), count: h.count })
            .collect(),
        recommendations: report.recommendations.clone(),
    }
}

// ---- rows -> proto --------------------------------------------------------------------------------

pub fn stage_run(row: &db::JobStage) -> v1::StageRun {
    v1::StageRun {
        id: row.id,
        job_id: row.job_id,
        stage: stage(row.stage) as i32,
        attempt: row.attempt,
        status: stage_status(row.status) as i32,
        started_at: Some(timestamp(row.started_at)),
        finished_at: optional_timestamp(row.finished_at),
        error: row.error.clone().unwrap_or_default(),
        output_ref: row.output_ref.clone().unwrap_or_default(),
    }
}

/// The stages a job of this kind runs, in order.
pub fn stages_of(kind: JobKind) -> &'static [StageName] {
    match kind {
        JobKind::Pipeline => StageName::ALL,
        JobKind::TrendRefresh => &[StageName::TrendCollection],
        JobKind::TrendAnalysis => &[StageName::TrendAnalysis],
    }
}

pub fn progress(row: &db::Job, stages: &[db::JobStage]) -> v1::Progress {
    let plan = stages_of(row.kind);
    let done = plan.iter().filter(|name| db::job_stages::is_done(stages, **name)).count();
    let current = stages.iter().rev().find(|s| s.status == StageStatus::Running).map(|s| stage(s.stage));
    v1::Progress {
        stages_done: done as i32,
        stages_total: plan.len() as i32,
        current_stage: current.unwrap_or(v1::Stage::Unspecified) as i32,
    }
}

pub fn job(row: &db::Job, stages: &[db::JobStage]) -> v1::Job {
    let theme = row
        .theme
        .as_ref()
        .and_then(|value| serde_json::from_value::<domain::Theme>(value.clone()).ok())
        .map(|t| theme(&t));
    v1::Job {
        id: row.id,
        kind: job_kind(row.kind) as i32,
        status: job_status(row.status) as i32,
        theme_name: row.theme_name.clone(),
        theme,
        variants: row.variants,
        client_request_id: row.client_request_id.clone().unwrap_or_default(),
        started_by: row.started_by.clone().unwrap_or_default(),
        trace_id: row
            .trace_parent
            .as_deref()
            .and_then(shortline_telemetry::otel::trace_id_of)
            .unwrap_or_default()
            .to_owned(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        finished_at: optional_timestamp(row.finished_at),
        failed_stage: row.failed_stage.map(stage).unwrap_or(v1::Stage::Unspecified) as i32,
        error: row.error.clone().unwrap_or_default(),
        progress: Some(progress(row, stages)),
        stages: stages.iter().map(stage_run).collect(),
    }
}

pub fn trend(row: &db::Trend) -> v1::Trend {
    let hashtags: Vec<String> = serde_json::from_value(row.hashtags.clone()).unwrap_or_default();
    v1::Trend {
        id: row.id,
        platform: row.platform.parse::<Platform>().map(platform).unwrap_or(v1::Platform::Unspecified) as i32,
        external_id: row.external_id.clone(),
        title: row.title.clone(),
        description: row.description.clone(),
        hashtags,
        views: row.views,
        likes: row.likes,
        comments: row.comments,
        shares: row.shares,
        duration_seconds: row.duration_seconds,
        creator: row.creator.clone(),
        sound_name: row.sound_name.clone(),
        video_url: row.video_url.clone(),
        thumbnail_url: row.thumbnail_url.clone(),
        posted_at: Some(timestamp(row.posted_at)),
        engagement_velocity: row.engagement_velocity,
        first_seen_job_id: row.first_seen_job_id,
        last_seen_job_id: row.last_seen_job_id,
    }
}

pub fn trend_report(row: &db::TrendReport, items: &[db::TrendReportItem]) -> db::DbResult<v1::TrendReport> {
    let body = row.body()?;
    let (video_styles, common_patterns, top_hashtags) = report_body(&body);
    Ok(v1::TrendReport {
        id: row.id,
        job_id: row.job_id,
        analyst: row.analyst.clone(),
        trends_analyzed: row.trends_analyzed,
        video_styles,
        common_patterns,
        avg_engagement_velocity: body.avg_engagement_velocity,
        top_hashtags,
        recommendations: body.recommendations,
        trend_ids: items.iter().map(|i| i.trend_id).collect(),
        created_at: Some(timestamp(row.created_at)),
        cost_micros: row.cost_micros,
        trend_collection_id: row.trend_collection_id.unwrap_or_default(),
        reused_from_id: row.reused_from_id.unwrap_or_default(),
    })
}

/// A job's collection as its lineage shows it: `uses` jobs used it, `shared` unless this job
/// made it.
pub fn trend_collection(row: &db::TrendCollection, shared: bool, uses: i64) -> v1::TrendCollection {
    v1::TrendCollection {
        id: row.id,
        made_by_job_id: row.made_by_job_id,
        made_by_schedule: row.made_by == db::MadeBy::Schedule,
        made_at: Some(timestamp(row.made_at)),
        sources: row.sources.clone(),
        region: row.region.clone(),
        trends_seen: row.trends_seen,
        cost_micros: row.cost_micros,
        shared,
        uses,
        quota_json: row.quota.to_string(),
    }
}

pub fn script(row: &db::Script) -> db::DbResult<v1::Script> {
    Ok(v1::Script {
        id: row.id,
        job_id: row.job_id,
        trend_report_id: row.trend_report_id,
        variant: row.variant,
        plan: Some(plan(&row.plan()?)),
        planner: row.planner.clone(),
        cost_micros: row.cost_micros,
        created_at: Some(timestamp(row.created_at)),
    })
}

pub fn media_asset(row: &db::MediaAsset) -> v1::MediaAsset {
    v1::MediaAsset {
        id: row.id,
        job_id: row.job_id,
        script_id: row.script_id,
        kind: asset_kind(row.kind) as i32,
        scene_number: row.scene_number,
        uri: row.uri.clone(),
        duration_seconds: row.duration_seconds,
        size_bytes: row.size_bytes,
        sha256: row.sha256.clone(),
        provider: row.provider.clone(),
        model: row.model.clone(),
        cost_micros: row.cost_micros,
        created_at: Some(timestamp(row.created_at)),
    }
}

pub fn video(row: &db::Video) -> v1::Video {
    v1::Video {
        id: row.id,
        job_id: row.job_id,
        script_id: row.script_id,
        variant: row.variant,
        status: video_status(row.status) as i32,
        uri: row.uri.clone(),
        thumbnail_uri: row.thumbnail_uri.clone(),
        duration_seconds: row.duration_seconds,
        size_bytes: row.size_bytes,
        sha256: row.sha256.clone(),
        width: row.width,
        height: row.height,
        costs: Some(v1::CostBreakdown {
            llm_micros: row.llm_cost_micros,
            tts_micros: row.tts_cost_micros,
            video_generation_micros: row.video_generation_cost_micros,
            total_micros: row.total_cost_micros(),
        }),
        generation_log_json: row.generation_log.to_string(),
        review_note: row.review_note.clone().unwrap_or_default(),
        reviewed_at: optional_timestamp(row.reviewed_at),
        created_at: Some(timestamp(row.created_at)),
        reviewed_by: row.reviewed_by.clone().unwrap_or_default(),
        captions_srt_uri: caption_uri(row, "srt_uri"),
        captions_vtt_uri: caption_uri(row, "vtt_uri"),
    }
}

/// A caption sidecar the composition used, as its generation log records it (the files are
/// the script's media assets; the log says which ones this video was made with).
fn caption_uri(row: &db::Video, field: &str) -> String {
    row.generation_log
        .pointer(&format!("/composition/inputs/captions/{field}"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_round_trips() {
        for s in JobStatus::ALL {
            assert_eq!(job_status_from(job_status(*s)), Some(*s));
        }
        for k in JobKind::ALL {
            assert_eq!(job_kind_from(job_kind(*k)), Some(*k));
        }
        for s in StageName::ALL {
            assert_eq!(stage_from(stage(*s)), Some(*s));
        }
        for p in Platform::ALL {
            assert_eq!(platform_from(platform(p)), Some(p));
        }
        assert_eq!(job_status_from(v1::JobStatus::Unspecified), None);
    }

    #[test]
    fn an_api_theme_gets_file_defaults_and_named_violations() {
        let mut message = theme(&domain::Theme::from_yaml("config:\n  theme: bottles\n").expect("theme"));
        let config = message.config.as_mut().expect("config");
        config.target_platform.clear();
        config.video_duration_seconds = 0;
        let parsed = theme_from(&message, "theme").expect("valid");
        assert_eq!((parsed.config.target_platform.as_str(), parsed.config.video_duration_seconds), ("tiktok", 20));

        message.config.as_mut().expect("config").video_duration_seconds = 99;
        let violations = theme_from(&message, "theme").expect_err("invalid");
        assert_eq!(violations[0].field, "theme.config.video_duration_seconds");
    }
}
