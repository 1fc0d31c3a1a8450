//! From a script and its media assets (as scriptgen answers them) to what the render engine takes:
//! the assets to use, the output settings, the clips on the timeline and the overlays.
//!
//! # The timeline
//! Scene `i` lasts its clip asset's duration: media generation reconciled those with the
//! voiceover, so they (not the plan's) are what picture and sound must fill. A fade or dissolve
//! overlaps two clips, which would make the video shorter than its scenes and cut the end of the
//! voiceover; so the clip *before* each fade/dissolve is lengthened by the overlap (the render
//! holds its last frame). Each scene then starts exactly where the scenes' durations put it and
//! the video lasts their sum. Overlays are timed on the plan's scenes: each instant is mapped into
//! the same scene of the rendered timeline, proportionally (the identity when nothing was
//! stretched).

use std::path::PathBuf;

use shortline_config::MediaConfig;
use shortline_domain::{OverlayPosition, OverlayStyle, TextOverlay, Transition};
use shortline_proto::v1;

use crate::render::{expected_duration, ClipInput, RenderSettings};

// ---- proto enums -> domain ----------------------------------------------------------------------
// The plan was validated when it was stored; UNSPECIFIED falls back to the plainest choice.

pub fn transition_from(value: i32) -> Transition {
    match v1::Transition::try_from(value) {
        Ok(v1::Transition::Fade) => Transition::Fade,
        Ok(v1::Transition::Dissolve) => Transition::Dissolve,
        _ => Transition::Cut,
    }
}

pub fn position_from(value: i32) -> OverlayPosition {
    match v1::OverlayPosition::try_from(value) {
        Ok(v1::OverlayPosition::Top) => OverlayPosition::Top,
        Ok(v1::OverlayPosition::Center) => OverlayPosition::Center,
        _ => OverlayPosition::Bottom,
    }
}

pub fn style_from(value: i32) -> OverlayStyle {
    match v1::OverlayStyle::try_from(value) {
        Ok(v1::OverlayStyle::Bold) => OverlayStyle::Bold,
        Ok(v1::OverlayStyle::Highlight) => OverlayStyle::Highlight,
        _ => OverlayStyle::Normal,
    }
}

// ---- settings -----------------------------------------------------------------------------------

/// The render settings for a plan's aspect ratio: `[media]` width x height for 9:16; for 1:1 and
/// 16:9 the configured short side is kept and the other side follows the ratio. `None` for a
/// ratio the composer does not know.
pub fn render_settings(media: &MediaConfig, aspect_ratio: &str) -> Option<RenderSettings> {
    let defaults = RenderSettings::for_aspect_ratio(aspect_ratio)?;
    let short = media.width.min(media.height);
    let (width, height) = match aspect_ratio {
        "9:16" => (media.width, media.height),
        "1:1" => (short, short),
        _ => (even(f64::from(short) * 16.0 / 9.0), short),
    };
    Some(RenderSettings {
        width,
        height,
        fps: media.fps,
        x264_preset: media.x264_preset.clone(),
        crf: media.crf,
        font: media.font.clone(),
        music_volume: media.music_volume,
        thumbnail_at_seconds: media.thumbnail_at_seconds,
        ..defaults
    })
}

fn even(value: f64) -> u32 {
    ((value / 2.0).round() as u32) * 2
}

// ---- asset selection ----------------------------------------------------------------------------

/// The assets a video is composed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// One clip per scene, in scene order.
    pub clips: Vec<v1::MediaAsset>,
    pub voiceover: Option<v1::MediaAsset>,
    /// Music the media stage made; `None`: the offline music bed.
    pub music: Option<v1::MediaAsset>,
    /// The voiceover's captions (SubRip, and WebVTT with the words' times).
    pub captions_srt: Option<v1::MediaAsset>,
    pub captions_vtt: Option<v1::MediaAsset>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectionError {
    /// `asset_ids[index]` is not an asset of the script.
    NotOfScript { index: usize, id: i64 },
    /// The assets hold no clip at all.
    NoClips,
    /// These scenes (1-based) have no clip.
    MissingScenes(Vec<u32>),
}

/// Picks one clip per scene, the voiceover and any music from the script's `assets`: from all
/// of them, or only from `asset_ids` when it is not empty.
pub fn select(assets: &[v1::MediaAsset], asset_ids: &[i64], scenes: usize) -> Result<Selection, SelectionError> {
    let chosen: Vec<&v1::MediaAsset> = if asset_ids.is_empty() {
        assets.iter().collect()
    } else {
        let mut chosen: Vec<&v1::MediaAsset> = Vec::with_capacity(asset_ids.len());
        for (index, id) in asset_ids.iter().enumerate() {
            let asset = assets.iter().find(|a| a.id == *id).ok_or(SelectionError::NotOfScript { index, id: *id })?;
            if !chosen.iter().any(|c| c.id == asset.id) {
                chosen.push(asset);
            }
        }
        chosen
    };
    let of_kind = |kind: v1::AssetKind| chosen.iter().copied().filter(move |a| a.kind == kind as i32);
    let mut clips = Vec::with_capacity(scenes);
    let mut missing = Vec::new();
    for scene in 1..=scenes as u32 {
        match of_kind(v1::AssetKind::Clip).find(|a| a.scene_number == scene as i32) {
            Some(clip) => clips.push(clip.clone()),
            None => missing.push(scene),
        }
    }
    if clips.is_empty() {
        return Err(SelectionError::NoClips);
    }
    if !missing.is_empty() {
        return Err(SelectionError::MissingScenes(missing));
    }
    Ok(Selection {
        clips,
        voiceover: of_kind(v1::AssetKind::Voiceover).next().cloned(),
        music: of_kind(v1::AssetKind::Music).next().cloned(),
        captions_srt: of_kind(v1::AssetKind::CaptionsSrt).next().cloned(),
        captions_vtt: of_kind(v1::AssetKind::CaptionsVtt).next().cloned(),
    })
}

// ---- timeline -----------------------------------------------------------------------------------

/// How long each scene lasts on screen: its clip's duration, or the plan's when the clip has
/// none recorded.
pub fn scene_seconds(plan: &v1::ProductionPlan, clips: &[v1::MediaAsset]) -> Vec<f64> {
    clips
        .iter()
        .zip(&plan.scenes)
        .map(|(clip, scene)| {
            if clip.duration_seconds.is_finite() && clip.duration_seconds > 0.0 {
                clip.duration_seconds
            } else {
                scene.duration_seconds
            }
        })
        .collect()
}

/// The clips on the timeline, each scene lasting `seconds[i]` and entered by the plan's
/// transition, lengthened so that transitions do not shorten the video (see the module docs).
pub fn clip_inputs(
    paths: Vec<PathBuf>,
    seconds: &[f64],
    plan: &v1::ProductionPlan,
    settings: &RenderSettings,
) -> Vec<ClipInput> {
    let mut clips: Vec<ClipInput> = paths
        .into_iter()
        .zip(seconds)
        .zip(&plan.scenes)
        .map(|((path, seconds), scene)| ClipInput {
            path,
            duration_seconds: *seconds,
            transition: transition_from(scene.transition),
        })
        .collect();
    compensate_transitions(&mut clips, settings);
    clips
}

/// Lengthens the clip before each fade/dissolve by the transition's overlap.
pub fn compensate_transitions(clips: &mut [ClipInput], settings: &RenderSettings) {
    let base: Vec<f64> = clips.iter().map(|c| c.duration_seconds).collect();
    let mut extra = vec![0.0; clips.len()];
    // The overlap is capped by the clips' lengths, which the extension changes: a few rounds
    // reach the fixed point (the first one does unless a clip is shorter than two transitions).
    for _ in 0..4 {
        let mut next = vec![0.0; clips.len()];
        for i in 1..clips.len() {
            next[i - 1] =
                overlap_seconds(base[i - 1] + extra[i - 1], base[i] + extra[i], clips[i].transition, settings);
        }
        let settled = next.iter().zip(&extra).all(|(a, b)| (a - b).abs() < 1e-9);
        extra = next;
        if settled {
            break;
        }
    }
    for (clip, (base, extra)) in clips.iter_mut().zip(base.iter().zip(&extra)) {
        clip.duration_seconds = base + extra;
    }
}

/// How much of the timeline a transition between clips of `a` and `b` seconds overlaps.
fn overlap_seconds(a: f64, b: f64, transition: Transition, settings: &RenderSettings) -> f64 {
    if transition == Transition::Cut {
        return 0.0;
    }
    let pair = |transition| {
        [
            ClipInput { path: PathBuf::new(), duration_seconds: a, transition: Transition::Cut },
            ClipInput { path: PathBuf::new(), duration_seconds: b, transition },
        ]
    };
    (expected_duration(&pair(Transition::Cut), settings) - expected_duration(&pair(transition), settings)).max(0.0)
}

/// The plan's overlays on the rendered timeline, whose scenes last `seconds`.
pub fn overlays(plan: &v1::ProductionPlan, seconds: &[f64]) -> Vec<TextOverlay> {
    let planned = boundaries(plan.scenes.iter().map(|s| s.duration_seconds));
    let rendered = boundaries(seconds.iter().copied());
    let map = |t: f64| map_time(t, &planned, &rendered);
    plan.text_overlays
        .iter()
        .map(|o| TextOverlay {
            text: o.text.clone(),
            start_seconds: map(o.start_seconds),
            end_seconds: map(o.end_seconds),
            position: position_from(o.position),
            style: style_from(o.style),
        })
        .collect()
}

/// `[0, d0, d0 + d1, …]`.
fn boundaries(durations: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut at = vec![0.0];
    for d in durations {
        let last = at.last().copied().unwrap_or_default();
        at.push(last + d);
    }
    at
}

/// Maps `t` from the scene `k` it falls in on `from` proportionally into scene `k` of `to`.
fn map_time(t: f64, from: &[f64], to: &[f64]) -> f64 {
    if from.len() != to.len() || from.len() < 2 {
        return t;
    }
    let last = from.len() - 2;
    let k = (0..=last).find(|&k| t <= from[k + 1]).unwrap_or(last);
    let span = from[k + 1] - from[k];
    if span <= 0.0 {
        return to[k] + (t - from[k]);
    }
    to[k] + (t - from[k]) * (to[k + 1] - to[k]) / span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RenderSettings {
        RenderSettings { fps: 15, transition_seconds: 0.4, ..RenderSettings::default() }
    }

    fn plan(transitions: [v1::Transition; 3]) -> v1::ProductionPlan {
        v1::ProductionPlan {
            duration_seconds: 6.0,
            aspect_ratio: "9:16".into(),
            scenes: transitions
                .iter()
                .enumerate()
                .map(|(i, t)| v1::Scene {
                    number: i as u32 + 1,
                    duration_seconds: 2.0,
                    visual_prompt: "x".into(),
                    transition: *t as i32,
                })
                .collect(),
            text_overlays: vec![v1::TextOverlay {
                text: "Follow".into(),
                start_seconds: 4.5,
                end_seconds: 6.0,
                position: v1::OverlayPosition::Bottom as i32,
                style: v1::OverlayStyle::Highlight as i32,
            }],
            ..Default::default()
        }
    }

    fn asset(id: i64, kind: v1::AssetKind, scene: i32) -> v1::MediaAsset {
        v1::MediaAsset { id, kind: kind as i32, scene_number: scene, duration_seconds: 2.0, ..Default::default() }
    }

    #[test]
    fn transitions_do_not_shorten_the_video() {
        use v1::Transition::{Cut, Dissolve, Fade};
        let settings = settings();
        let plan = plan([Fade, Cut, Dissolve]);
        let clips = clip_inputs(vec![PathBuf::new(); 3], &[2.0, 2.0, 2.0], &plan, &settings);
        // The cut into scene 2 needs nothing; the dissolve into scene 3 overlaps 0.4 s (6 frames).
        assert_eq!(
            clips.iter().map(|c| c.transition).collect::<Vec<_>>(),
            [Transition::Fade, Transition::Cut, Transition::Dissolve]
        );
        assert!((clips[0].duration_seconds - 2.0).abs() < 1e-9);
        assert!((clips[1].duration_seconds - 2.4).abs() < 1e-9, "{clips:?}");
        assert!((clips[2].duration_seconds - 2.0).abs() < 1e-9);
        assert!((expected_duration(&clips, &settings) - 6.0).abs() < 1e-9);

        // Short clips cap the overlap; the total still comes out right.
        let plan = v1::ProductionPlan {
            scenes: plan.scenes.iter().map(|s| v1::Scene { transition: Fade as i32, ..s.clone() }).collect(),
            ..plan
        };
        let clips = clip_inputs(vec![PathBuf::new(); 3], &[0.4, 0.4, 0.4], &plan, &settings);
        assert!((expected_duration(&clips, &settings) - 1.2).abs() < 1e-9, "{clips:?}");
    }

    #[test]
    fn overlays_follow_their_scene_when_scenes_were_stretched() {
        let plan = plan([v1::Transition::Cut; 3]);
        let same = overlays(&plan, &[2.0, 2.0, 2.0]);
        assert_eq!((same[0].start_seconds, same[0].end_seconds), (4.5, 6.0));
        assert_eq!((same[0].position, same[0].style), (OverlayPosition::Bottom, OverlayStyle::Highlight));
        let stretched = overlays(&plan, &[2.0, 2.0, 3.0]);
        assert!((stretched[0].start_seconds - 4.75).abs() < 1e-9, "{stretched:?}");
        assert!((stretched[0].end_seconds - 7.0).abs() < 1e-9, "{stretched:?}");
    }

    #[test]
    fn selection_needs_one_clip_per_scene_from_the_script() {
        use v1::AssetKind::{Clip, Voiceover};
        let assets = [asset(10, Clip, 1), asset(11, Clip, 2), asset(12, Clip, 3), asset(13, Voiceover, 0)];
        let all = select(&assets, &[], 3).expect("all");
        assert_eq!(all.clips.iter().map(|c| c.id).collect::<Vec<_>>(), [10, 11, 12]);
        assert_eq!(all.voiceover.map(|v| v.id), Some(13));
        assert_eq!(all.music, None);

        let chosen = select(&assets, &[12, 11, 10, 10], 3).expect("chosen");
        assert_eq!(chosen.clips.iter().map(|c| c.id).collect::<Vec<_>>(), [10, 11, 12]);
        assert_eq!(chosen.voiceover, None);

        assert_eq!(select(&assets, &[10, 99], 3), Err(SelectionError::NotOfScript { index: 1, id: 99 }));
        assert_eq!(select(&assets, &[10, 13], 3), Err(SelectionError::MissingScenes(vec![2, 3])));
        assert_eq!(select(&assets[3..], &[], 3), Err(SelectionError::NoClips));
        assert_eq!(select(&[], &[], 3), Err(SelectionError::NoClips));
    }

    #[test]
    fn sizes_keep_the_short_side() {
        let media = MediaConfig {
            width: 360,
            height: 640,
            fps: 15,
            x264_preset: "ultrafast".into(),
            font: "DejaVu Sans".into(),
            ..MediaConfig::default()
        };
        let size = |ratio| render_settings(&media, ratio).map(|s| (s.width, s.height));
        assert_eq!(size("9:16"), Some((360, 640)));
        assert_eq!(size("1:1"), Some((360, 360)));
        assert_eq!(size("16:9"), Some((640, 360)));
        assert_eq!(size("4:3"), None);
        let settings = render_settings(&media, "9:16").expect("settings");
        assert_eq!((settings.fps, settings.x264_preset.as_str()), (15, "ultrafast"));
        assert_eq!(settings.font, "DejaVu Sans");
        let full = render_settings(&MediaConfig::default(), "16:9").expect("settings");
        assert_eq!((full.width, full.height), (1920, 1080));
    }
}
