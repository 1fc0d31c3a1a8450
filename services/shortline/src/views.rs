//! `--json` output: the API's messages as JSON (prost messages don't implement `Serialize`).
//! Enums are printed by name (`awaiting_review`), timestamps as RFC 3339, media URIs as given
//! plus a `path` where they are local files.

use serde_json::{json, Value};
use shortline_proto::v1;

use crate::names;
use crate::output::{local_path, time_json};

fn path_json(uri: &str) -> Value {
    local_path(uri).map(|p| Value::String(p.display().to_string())).unwrap_or(Value::Null)
}

pub fn stage_run(run: &v1::StageRun) -> Value {
    json!({
        "id": run.id,
        "job_id": run.job_id,
        "stage": names::stage(run.stage()),
        "attempt": run.attempt,
        "status": names::stage_status(run.status()),
        "started_at": time_json(run.started_at.as_ref()),
        "finished_at": time_json(run.finished_at.as_ref()),
        "error": run.error,
        "output_ref": run.output_ref,
    })
}

pub fn progress(progress: Option<&v1::Progress>) -> Value {
    match progress {
        None => Value::Null,
        Some(p) => json!({
            "stages_done": p.stages_done,
            "stages_total": p.stages_total,
            "current_stage": (p.current_stage() != v1::Stage::Unspecified).then(|| names::stage(p.current_stage())),
        }),
    }
}

pub fn theme(theme: Option<&v1::Theme>) -> Value {
    let Some(theme) = theme else { return Value::Null };
    let config = theme.config.as_ref().map(|c| {
        json!({
            "theme": c.theme,
            "target_platform": c.target_platform,
            "video_duration_seconds": c.video_duration_seconds,
            "style": c.style,
            "auto_post": c.auto_post,
            "product_name": c.product_name,
            "tagline": c.tagline,
            "target_audience": c.target_audience,
            "tone": c.tone,
        })
    });
    let references: Vec<Value> = theme
        .content_references
        .iter()
        .map(|r| {
            json!({
                "ref_id": r.ref_id,
                "type": r.r#type,
                "title": r.title,
                "description": r.description,
                "media_url": r.media_url,
                "talking_points": r.talking_points,
            })
        })
        .collect();
    json!({ "config": config, "content_references": references })
}

pub fn job(job: &v1::Job) -> Value {
    json!({
        "id": job.id,
        "kind": names::job_kind(job.kind()),
        "status": names::job_status(job.status()),
        "theme_name": job.theme_name,
        "theme": theme(job.theme.as_ref()),
        "variants": job.variants,
        "client_request_id": job.client_request_id,
        "started_by": job.started_by,
        "trace_id": job.trace_id,
        "created_at": time_json(job.created_at.as_ref()),
        "updated_at": time_json(job.updated_at.as_ref()),
        "finished_at": time_json(job.finished_at.as_ref()),
        "failed_stage": (job.failed_stage() != v1::Stage::Unspecified).then(|| names::stage(job.failed_stage())),
        "error": job.error,
        "progress": progress(job.progress.as_ref()),
        "stages": job.stages.iter().map(stage_run).collect::<Vec<_>>(),
    })
}

pub fn event(event: &v1::JobEvent) -> Value {
    json!({
        "job_id": event.job_id,
        "stage": (event.stage() != v1::Stage::Unspecified).then(|| names::stage(event.stage())),
        "stage_status": (event.stage_status() != v1::StageStatus::Unspecified).then(|| names::stage_status(event.stage_status())),
        "job_status": names::job_status(event.job_status()),
        "attempt": event.attempt,
        "message": event.message,
        "at": time_json(event.at.as_ref()),
        "progress": progress(event.progress.as_ref()),
    })
}

pub fn trend(trend: &v1::Trend) -> Value {
    json!({
        "id": trend.id,
        "platform": names::platform(trend.platform()),
        "external_id": trend.external_id,
        "title": trend.title,
        "description": trend.description,
        "hashtags": trend.hashtags,
        "views": trend.views,
        "likes": trend.likes,
        "comments": trend.comments,
        "shares": trend.shares,
        "duration_seconds": trend.duration_seconds,
        "creator": trend.creator,
        "sound_name": trend.sound_name,
        "video_url": trend.video_url,
        "thumbnail_url": trend.thumbnail_url,
        "posted_at": time_json(trend.posted_at.as_ref()),
        "engagement_velocity": trend.engagement_velocity,
        "first_seen_job_id": trend.first_seen_job_id,
        "last_seen_job_id": trend.last_seen_job_id,
    })
}

pub fn collection(collection: &v1::TrendCollection) -> Value {
    json!({
        "id": collection.id,
        "made_by_job_id": collection.made_by_job_id,
        "made_by_schedule": collection.made_by_schedule,
        "made_at": crate::output::time_json(collection.made_at.as_ref()),
        "sources": collection.sources,
        "region": collection.region,
        "trends_seen": collection.trends_seen,
        "cost_micros": collection.cost_micros,
        "shared": collection.shared,
        "uses": collection.uses,
        "summary": crate::tree::collection_label(collection),
    })
}

pub fn report(report: &v1::TrendReport) -> Value {
    json!({
        "id": report.id,
        "job_id": report.job_id,
        "trend_collection_id": report.trend_collection_id,
        "reused_from_id": report.reused_from_id,
        "analyst": report.analyst,
        "trends_analyzed": report.trends_analyzed,
        "video_styles": report.video_styles.iter().map(|s| json!({
            "category": s.category, "confidence": s.confidence, "count": s.count,
        })).collect::<Vec<_>>(),
        "common_patterns": report.common_patterns.iter().map(|p| json!({
            "format": p.format,
            "avg_duration_seconds": p.avg_duration_seconds,
            "hook_type": p.hook_type,
            "uses_text_overlay": p.uses_text_overlay,
            "audio_type": p.audio_type,
        })).collect::<Vec<_>>(),
        "avg_engagement_velocity": report.avg_engagement_velocity,
        "top_hashtags": report.top_hashtags.iter().map(|h| json!({ "tag": h.tag, "count": h.count })).collect::<Vec<_>>(),
        "recommendations": report.recommendations,
        "trend_ids": report.trend_ids,
        "created_at": time_json(report.created_at.as_ref()),
    })
}

pub fn plan(plan: Option<&v1::ProductionPlan>) -> Value {
    let Some(plan) = plan else { return Value::Null };
    json!({
        "video_prompt": plan.video_prompt,
        "duration_seconds": plan.duration_seconds,
        "aspect_ratio": plan.aspect_ratio,
        "scenes": plan.scenes.iter().map(|s| json!({
            "number": s.number,
            "duration_seconds": s.duration_seconds,
            "visual_prompt": s.visual_prompt,
            "transition": names::transition(s.transition()),
        })).collect::<Vec<_>>(),
        "voiceover_script": plan.voiceover_script,
        "hook_text": plan.hook_text,
        "cta_text": plan.cta_text,
        "text_overlays": plan.text_overlays.iter().map(|o| json!({
            "text": o.text,
            "start_seconds": o.start_seconds,
            "end_seconds": o.end_seconds,
            "position": o.position().as_str_name().trim_start_matches("OVERLAY_POSITION_").to_ascii_lowercase(),
            "style": o.style().as_str_name().trim_start_matches("OVERLAY_STYLE_").to_ascii_lowercase(),
        })).collect::<Vec<_>>(),
        "hashtags": plan.hashtags,
        "title": plan.title,
        "description": plan.description,
    })
}

pub fn script(script: &v1::Script) -> Value {
    json!({
        "id": script.id,
        "job_id": script.job_id,
        "trend_report_id": script.trend_report_id,
        "variant": script.variant,
        "planner": script.planner,
        "cost_micros": script.cost_micros,
        "plan": plan(script.plan.as_ref()),
        "created_at": time_json(script.created_at.as_ref()),
    })
}

pub fn asset(asset: &v1::MediaAsset) -> Value {
    json!({
        "id": asset.id,
        "job_id": asset.job_id,
        "script_id": asset.script_id,
        "kind": names::asset_kind(asset.kind()),
        "scene_number": asset.scene_number,
        "uri": asset.uri,
        "path": path_json(&asset.uri),
        "duration_seconds": asset.duration_seconds,
        "size_bytes": asset.size_bytes,
        "sha256": asset.sha256,
        "provider": asset.provider,
        "model": asset.model,
        "cost_micros": asset.cost_micros,
        "created_at": time_json(asset.created_at.as_ref()),
    })
}

pub fn costs(costs: Option<&v1::CostBreakdown>) -> Value {
    let c = costs.cloned().unwrap_or_default();
    json!({
        "llm_micros": c.llm_micros,
        "tts_micros": c.tts_micros,
        "video_generation_micros": c.video_generation_micros,
        "total_micros": c.total_micros,
    })
}

pub fn video(video: &v1::Video) -> Value {
    let log: Value = serde_json::from_str(&video.generation_log_json).unwrap_or(Value::Null);
    json!({
        "id": video.id,
        "job_id": video.job_id,
        "script_id": video.script_id,
        "variant": video.variant,
        "status": names::video_status(video.status()),
        "uri": video.uri,
        "path": path_json(&video.uri),
        "thumbnail_uri": video.thumbnail_uri,
        "thumbnail_path": path_json(&video.thumbnail_uri),
        "captions_srt_uri": video.captions_srt_uri,
        "captions_vtt_uri": video.captions_vtt_uri,
        "duration_seconds": video.duration_seconds,
        "size_bytes": video.size_bytes,
        "sha256": video.sha256,
        "width": video.width,
        "height": video.height,
        "costs": costs(video.costs.as_ref()),
        "generation_log": log,
        "review_note": video.review_note,
        "reviewed_at": time_json(video.reviewed_at.as_ref()),
        "reviewed_by": video.reviewed_by,
        "created_at": time_json(video.created_at.as_ref()),
    })
}

pub fn lineage(lineage: &v1::JobLineage) -> Value {
    json!({
        "job": lineage.job.as_ref().map(job),
        "stages": lineage.stages.iter().map(stage_run).collect::<Vec<_>>(),
        "collection": lineage.collection.as_ref().map(collection),
        "trends": lineage.trends.iter().map(trend).collect::<Vec<_>>(),
        "report": lineage.report.as_ref().map(report),
        "scripts": lineage.scripts.iter().map(script).collect::<Vec<_>>(),
        "assets": lineage.assets.iter().map(asset).collect::<Vec<_>>(),
        "videos": lineage.videos.iter().map(video).collect::<Vec<_>>(),
    })
}
