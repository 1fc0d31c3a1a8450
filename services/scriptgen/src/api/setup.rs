//! What a [`super::ScriptApi`] is built from: the clip and voice providers of the configured set
//! ([`MediaProviders`]), who writes the plans ([`ScriptPlanner`]) and the clip format.

use std::sync::Arc;

use serde_json::json;
use shortline_config::{MediaConfig, ProviderSet, ProvidersConfig};
use shortline_domain::{ProductionPlan, Theme, TrendReportBody};

use crate::media::{ClipProvider, ClipTarget, EspeakVoice, NullClips, NullVoice, ProceduralClips, VoiceProvider};
use crate::planner::{PlanError, Planner, TemplatePlanner};
use crate::providers::{AvatarMedia, LlmPlanner, SetupError, UsageLedger};

/// Recorded as the script's model: the template planner's template set.
const TEMPLATE_MODEL: &str = "template-v1";

/// The clip and voice providers of one provider set.
#[derive(Clone)]
pub struct MediaProviders {
    pub clips: Arc<dyn ClipProvider>,
    pub voice: Arc<dyn VoiceProvider>,
    /// What the real providers reported about each file (attempts, failover, usage), merged
    /// into the asset's `usage`.
    pub usage: UsageLedger,
    /// Makes the voiceover and clips of themes with an avatar; `None`: no avatar provider.
    pub avatar: Option<Arc<AvatarMedia>>,
}

impl MediaProviders {
    /// `offline`: procedural clips (ffmpeg, the configured x264 preset and CRF) and espeak-ng;
    /// `null`: placeholder files, for orchestration benchmarks only.
    pub fn for_set(set: ProviderSet, media: &MediaConfig) -> Self {
        match set {
            ProviderSet::Offline => MediaProviders {
                clips: Arc::new(
                    ProceduralClips::new()
                        .with_preset(media.x264_preset.clone())
                        .with_crf(u8::try_from(media.crf).unwrap_or(51)),
                ),
                voice: Arc::new(EspeakVoice::new()),
                usage: UsageLedger::default(),
                avatar: None,
            },
            ProviderSet::Null => MediaProviders {
                clips: Arc::new(NullClips),
                voice: Arc::new(NullVoice),
                usage: UsageLedger::default(),
                avatar: None,
            },
        }
    }

    /// The providers `providers` configures: the set's own, with a non-empty `providers.voice`
    /// or `providers.clips` list replacing that kind by its real (HTTP) providers in failover
    /// order, and `providers.avatar` making the sets of themes with an avatar. Fails when a listed
    /// provider has no key.
    pub fn from_config(providers: &ProvidersConfig, media: &MediaConfig) -> std::result::Result<Self, SetupError> {
        let mut set = Self::for_set(providers.set, media);
        if let Some(voice) = crate::providers::voice_chain(providers, &set.usage)? {
            set.voice = Arc::new(voice);
        }
        if let Some(clips) = crate::providers::clip_chain(providers, media, &set.usage)? {
            set.clips = Arc::new(clips);
        }
        set.avatar = crate::providers::avatar_media(providers, media)?.map(Arc::new);
        Ok(set)
    }
}

/// Who writes production plans: the offline template planner, or the LLM of
/// `providers.planner`.
#[derive(Clone)]
pub enum ScriptPlanner {
    Template,
    Llm(Arc<LlmPlanner>),
}

/// A plan as written, with what writing it used.
pub(super) struct WrittenPlan {
    pub(super) plan: ProductionPlan,
    pub(super) planner: String,
    pub(super) model: String,
    pub(super) usage: serde_json::Value,
    pub(super) cost_micros: i64,
}

impl ScriptPlanner {
    /// The template planner unless `providers.planner` names an LLM; fails when that LLM has no
    /// key.
    pub fn from_config(providers: &ProvidersConfig) -> std::result::Result<Self, SetupError> {
        let Some(name) = providers.planner else { return Ok(ScriptPlanner::Template) };
        let llm = shortline_providers::structured_llm(providers, name)?;
        let price = providers.price(llm.model()).copied();
        Ok(ScriptPlanner::Llm(Arc::new(LlmPlanner::new(llm, price))))
    }

    pub(super) fn name(&self) -> &str {
        match self {
            ScriptPlanner::Template => TemplatePlanner.name(),
            ScriptPlanner::Llm(llm) => llm.name(),
        }
    }

    /// Plans variant `variant`; only a plan without violations comes back.
    pub(super) async fn write(
        &self,
        theme: &Theme,
        report: &TrendReportBody,
        variant: u32,
    ) -> std::result::Result<WrittenPlan, PlanError> {
        match self {
            ScriptPlanner::Template => Ok(WrittenPlan {
                plan: TemplatePlanner.plan(theme, Some(report), variant)?,
                planner: TemplatePlanner.name().to_owned(),
                model: TEMPLATE_MODEL.to_owned(),
                usage: json!({}),
                cost_micros: 0,
            }),
            ScriptPlanner::Llm(llm) => {
                let written = llm.plan_with_usage(theme, Some(report), variant).await?;
                Ok(WrittenPlan {
                    plan: written.plan,
                    planner: llm.name().to_owned(),
                    model: llm.model().to_owned(),
                    usage: json!({ "reported_usage": written.usage, "calls": written.calls }),
                    cost_micros: written.cost_micros,
                })
            }
        }
    }
}

/// The picture clips are rendered at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipFormat {
    /// The configured `media.width` x `media.height`: the size of a 9:16 video.
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl ClipFormat {
    pub fn from_config(media: &MediaConfig) -> Self {
        ClipFormat { width: media.width, height: media.height, fps: media.fps }
    }

    /// The frame size for a plan's aspect ratio: the configured size for 9:16, turned for 16:9,
    /// its short side squared for 1:1.
    pub fn frame_size(&self, aspect_ratio: &str) -> Option<(u32, u32)> {
        let (short, long) = (self.width.min(self.height), self.width.max(self.height));
        match aspect_ratio {
            "9:16" => Some((short, long)),
            "16:9" => Some((long, short)),
            other => ClipTarget::size_for_aspect(other, short),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_follow_the_plan_aspect_ratio() {
        let format = ClipFormat { width: 360, height: 640, fps: 15 };
        assert_eq!(format.frame_size("9:16"), Some((360, 640)));
        assert_eq!(format.frame_size("16:9"), Some((640, 360)));
        assert_eq!(format.frame_size("1:1"), Some((360, 360)));
        assert_eq!(format.frame_size("4:3"), None);
        let odd = ClipFormat { width: 1080, height: 1920, fps: 30 };
        assert_eq!(odd.frame_size("9:16"), Some((1080, 1920)));
    }
}
