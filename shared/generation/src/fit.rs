//! Making picture and sound end together (the replaced system never did).
//!
//! # Policy
//!
//! Let `P` be the planned total (the sum of the plan's scene durations) and `V` the measured
//! length of the spoken voiceover.
//!
//! 1. **Voice fits** (`V <= P + overrun_tolerance`, 0.25 s): it is not re-spoken.
//! 2. **Voice overruns** by more than the tolerance: it is re-spoken faster, once, with the
//!    rate factor that would make it end a tail before the planned end (`V / (P - tail)`),
//!    capped at `max_speedup` (1.35x words per minute — faster than that is hard to follow).
//!    The shorter of the two takes is kept.
//! 3. **Scenes follow the kept voice**: the picture must last at least `V + tail` (0.4 s of
//!    breathing room after the last word). If the plan is already that long, the scenes are kept
//!    as planned (a shorter voice is padded with silence at composition); otherwise every scene
//!    is stretched by the same factor so their total is exactly `V + tail`. Scenes are never
//!    shortened, and the voice is never slowed down.
//!
//! 4. **The video has a ceiling**: `max_total_seconds` (the longest video a theme may ask for,
//!    28 s). A kept voice that needs more than that (`V + tail`) is refused
//!    ([`MediaError::VoiceTooLong`]): the words themselves are too long to speak in a short, and
//!    speaking them faster still would be hard to follow.
//!
//! So after reconciliation `sum(scene_seconds) >= voice + tail` always holds, the voice is at
//! most 1.35x its requested rate, and the picture is stretched only as much as the voice needs.
//! Clips must be rendered for the *reconciled* durations, so the voiceover is made before the
//! clips. The policy ([`FitPolicy`]) is pure; [`generate_voiceover_fitted`] runs it against a
//! [`VoiceProvider`].

use std::path::Path;

use tokio_util::sync::CancellationToken;

use shortline_domain::theme::DURATION_SECONDS;

use super::output::{commit, partial};
use super::{GeneratedFile, MediaError, VoiceProvider};

/// The knobs of the reconciliation policy (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitPolicy {
    /// How far past the planned end the voice may run before it is re-spoken faster.
    pub overrun_tolerance_seconds: f64,
    /// The largest words-per-minute factor a re-speak may use.
    pub max_speedup: f64,
    /// Silence kept after the last word: the picture lasts at least voice + tail.
    pub tail_seconds: f64,
    /// The longest the picture may become: a voice needing more is refused.
    pub max_total_seconds: f64,
}

impl Default for FitPolicy {
    fn default() -> Self {
        Self {
            overrun_tolerance_seconds: 0.25,
            max_speedup: 1.35,
            tail_seconds: 0.4,
            max_total_seconds: f64::from(*DURATION_SECONDS.end()),
        }
    }
}

/// The outcome of the policy for one plan and one voice length.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    /// One duration per planned scene, in plan order.
    pub scene_seconds: Vec<f64>,
    /// Words-per-minute factor to re-speak with; exactly 1.0 when the voice is kept as is.
    pub voice_rate_factor: f64,
    /// The voice length the scenes were fitted to (the input divided by the rate factor).
    pub expected_voice_seconds: f64,
}

/// NaN, infinities and negatives count as zero.
fn sane(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

impl FitPolicy {
    /// Step 2: the words-per-minute factor for a voice of `voice_seconds` against a plan of
    /// `planned_seconds` in total; 1.0 means "keep it".
    pub fn speedup_for(&self, planned_seconds: f64, voice_seconds: f64) -> f64 {
        let (planned, voice) = (sane(planned_seconds), sane(voice_seconds));
        let max = self.max_speedup.max(1.0);
        if voice <= planned + self.overrun_tolerance_seconds {
            return 1.0;
        }
        let room = planned - self.tail_seconds;
        if room <= 0.0 {
            max
        } else {
            (voice / room).clamp(1.0, max)
        }
    }

    /// Step 3: scene durations for a (kept) voice of `voice_seconds`.
    pub fn fit_scenes(&self, plan_scene_seconds: &[f64], voice_seconds: f64) -> Vec<f64> {
        let plan: Vec<f64> = plan_scene_seconds.iter().copied().map(sane).collect();
        if plan.is_empty() {
            return plan;
        }
        let needed = sane(voice_seconds) + sane(self.tail_seconds);
        let planned: f64 = plan.iter().sum();
        if planned + 1e-9 >= needed {
            return plan;
        }
        if planned <= 0.0 {
            // Nothing to be proportional to: share the length equally.
            return vec![needed / plan.len() as f64; plan.len()];
        }
        let factor = needed / planned;
        let mut scenes: Vec<f64> = plan.iter().map(|s| s * factor).collect();
        // Absorb float rounding in the last scene so the total is exactly `needed`.
        let rest: f64 = scenes[..scenes.len() - 1].iter().sum();
        if let Some(last) = scenes.last_mut() {
            *last = (needed - rest).max(0.0);
        }
        scenes
    }

    /// The whole policy, predicting that a re-spoken voice lasts `voice_seconds / factor`
    /// ([`generate_voiceover_fitted`] measures the real take instead).
    pub fn reconcile(&self, plan_scene_seconds: &[f64], voice_seconds: f64) -> Reconciled {
        let planned: f64 = plan_scene_seconds.iter().copied().map(sane).sum();
        let voice_rate_factor = self.speedup_for(planned, voice_seconds);
        let expected_voice_seconds = sane(voice_seconds) / voice_rate_factor;
        Reconciled {
            scene_seconds: self.fit_scenes(plan_scene_seconds, expected_voice_seconds),
            voice_rate_factor,
            expected_voice_seconds,
        }
    }
}

/// [`FitPolicy::reconcile`] with the default policy (0.25 s tolerance, 1.35x, 0.4 s tail).
pub fn reconcile(plan_scene_seconds: &[f64], voice_seconds: f64) -> Reconciled {
    FitPolicy::default().reconcile(plan_scene_seconds, voice_seconds)
}

/// A voiceover and the scene durations it was reconciled with.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedVoiceover {
    /// The kept take, at the requested output path. Its `cost_micros` is what *all* takes cost.
    pub file: GeneratedFile,
    /// Reconciled scene durations, one per planned scene: render the clips for these.
    pub scene_seconds: Vec<f64>,
    /// The rate the kept take was spoken at.
    pub words_per_minute: u32,
    /// `words_per_minute` / the requested rate.
    pub voice_rate_factor: f64,
    /// The length of the first take (equal to `file.duration_seconds` unless re-spoken).
    pub first_take_seconds: f64,
    pub respoken: bool,
}

/// Speak → measure → maybe re-speak faster → reconcile (the policy of [`FitPolicy`]).
///
/// Takes are written to hidden temporary names beside `out_path`; only the kept take is moved
/// to `out_path`, after everything succeeded. On error or cancellation no file is left.
pub async fn generate_voiceover_fitted(
    voice: &dyn VoiceProvider,
    text: &str,
    words_per_minute: u32,
    plan_scene_seconds: &[f64],
    policy: &FitPolicy,
    out_path: &Path,
    cancel: &CancellationToken,
) -> Result<FittedVoiceover, MediaError> {
    let words_per_minute = words_per_minute.max(1);
    let planned: f64 = plan_scene_seconds.iter().copied().map(sane).sum();

    let first_slot = partial(out_path)?;
    let first = voice.speak(text, words_per_minute, first_slot.path(), cancel).await?;
    let first_take_seconds = first.duration_seconds;
    let factor = policy.speedup_for(planned, first_take_seconds);

    let (slot, mut file, used_wpm) = if factor > 1.0 {
        // The epsilon keeps float noise (120 * 1.35 = 162.00000000000003) from adding a word per minute.
        let faster = ((f64::from(words_per_minute) * factor - 1e-6).ceil() as u32).max(words_per_minute + 1);
        let second_slot = partial(out_path)?;
        let second = voice.speak(text, faster, second_slot.path(), cancel).await?;
        tracing::info!(
            provider = voice.name(),
            planned_seconds = planned,
            first_take_seconds,
            second_take_seconds = second.duration_seconds,
            words_per_minute,
            faster,
            "voiceover overran the plan: re-spoken faster"
        );
        let cost = first.cost_micros.saturating_add(second.cost_micros);
        // The slot not kept is removed when it drops.
        let (slot, mut kept, wpm) = if second.duration_seconds < first.duration_seconds {
            (second_slot, second, faster)
        } else {
            (first_slot, first, words_per_minute)
        };
        kept.cost_micros = cost;
        (slot, kept, wpm)
    } else {
        (first_slot, first, words_per_minute)
    };

    // Refused before the take is kept: the slots remove their files when they drop.
    if file.duration_seconds + policy.tail_seconds > policy.max_total_seconds + 1e-9 {
        return Err(MediaError::VoiceTooLong {
            voice_seconds: file.duration_seconds,
            words_per_minute: used_wpm,
            max_seconds: policy.max_total_seconds,
        });
    }
    let scene_seconds = policy.fit_scenes(plan_scene_seconds, file.duration_seconds);
    if cancel.is_cancelled() {
        return Err(MediaError::Cancelled);
    }
    file.path = commit(slot).await?;
    Ok(FittedVoiceover {
        file,
        scene_seconds,
        words_per_minute: used_wpm,
        voice_rate_factor: f64::from(used_wpm) / f64::from(words_per_minute),
        first_take_seconds,
        respoken: factor > 1.0,
    })
}

#[cfg(test)]
mod tests {
    use super::super::espeak::EspeakVoice;
    use super::super::null::NullVoice;
    use super::*;

    const EPS: f64 = 1e-9;

    fn total(v: &[f64]) -> f64 {
        v.iter().sum()
    }

    #[test]
    fn a_shorter_voice_keeps_the_planned_scenes() {
        let r = reconcile(&[3.0, 3.0, 3.0], 6.2);
        assert_eq!(
            r,
            Reconciled { scene_seconds: vec![3.0, 3.0, 3.0], voice_rate_factor: 1.0, expected_voice_seconds: 6.2 }
        );
        // Ending exactly a tail before the end is still "fits".
        assert_eq!(reconcile(&[3.0, 3.0, 3.0], 8.6).scene_seconds, vec![3.0, 3.0, 3.0]);
    }

    #[test]
    fn a_voice_within_the_tolerance_is_kept_and_the_scenes_make_room_for_it_and_the_tail() {
        let r = reconcile(&[2.0, 4.0, 3.0], 9.2);
        assert_eq!(r.voice_rate_factor, 1.0);
        assert!((total(&r.scene_seconds) - 9.6).abs() < EPS);
        // Proportional: the 4 s scene stays twice the 2 s one.
        assert!((r.scene_seconds[1] / r.scene_seconds[0] - 2.0).abs() < 1e-9);
        // Voice a hair shorter than the plan but inside the tail: stretched just enough.
        let r = reconcile(&[3.0, 3.0, 3.0], 8.8);
        assert_eq!(r.voice_rate_factor, 1.0);
        assert!((total(&r.scene_seconds) - 9.2).abs() < EPS);
    }

    #[test]
    fn a_moderate_overrun_is_fixed_by_speaking_faster_alone() {
        // 10.3 s over a 9 s plan: 10.3 / 8.6 ≈ 1.198x makes it end a tail before the end.
        let r = reconcile(&[3.0, 3.0, 3.0], 10.3);
        assert!((r.voice_rate_factor - 10.3 / 8.6).abs() < EPS);
        assert!((r.expected_voice_seconds - 8.6).abs() < EPS);
        assert_eq!(r.scene_seconds, vec![3.0, 3.0, 3.0]);
    }

    #[test]
    fn a_large_overrun_caps_the_speedup_and_stretches_the_scenes() {
        let r = reconcile(&[2.0, 3.0, 4.0], 20.0);
        assert!((r.voice_rate_factor - 1.35).abs() < EPS);
        let voice = 20.0 / 1.35;
        assert!((r.expected_voice_seconds - voice).abs() < EPS);
        assert!((total(&r.scene_seconds) - (voice + 0.4)).abs() < EPS);
        let k = r.scene_seconds[0] / 2.0;
        for (got, planned) in r.scene_seconds.iter().zip([2.0, 3.0, 4.0]) {
            assert!((got / planned - k).abs() < 1e-9, "proportional");
        }
    }

    #[test]
    fn degenerate_inputs_stay_sane() {
        assert_eq!(reconcile(&[], 5.0).scene_seconds, Vec::<f64>::new());
        let r = reconcile(&[0.0, 0.0], 3.0);
        assert!((r.voice_rate_factor - 1.35).abs() < EPS, "no room at all: fastest");
        assert!((total(&r.scene_seconds) - (3.0 / 1.35 + 0.4)).abs() < EPS);
        assert!((r.scene_seconds[0] - r.scene_seconds[1]).abs() < EPS);
        let r = reconcile(&[3.0, f64::NAN, -1.0], f64::NAN);
        assert_eq!(r.voice_rate_factor, 1.0);
        assert_eq!(r.scene_seconds, vec![3.0, 0.0, 0.0]);
        let custom = FitPolicy { overrun_tolerance_seconds: 0.0, max_speedup: 0.5, ..FitPolicy::default() };
        assert_eq!(custom.speedup_for(9.0, 12.0), 1.0, "a cap below 1 never slows the voice");
    }

    #[test]
    fn the_invariant_holds_over_a_sweep() {
        let plan = [2.0, 2.5, 4.0, 3.0];
        for tenth in 0..400 {
            let voice = f64::from(tenth) / 10.0;
            let r = reconcile(&plan, voice);
            assert!((1.0..=1.35 + EPS).contains(&r.voice_rate_factor));
            assert!(total(&r.scene_seconds) + EPS >= r.expected_voice_seconds + 0.4);
            assert!(r.scene_seconds.iter().zip(plan).all(|(s, p)| *s + EPS >= p), "never shortened");
        }
    }

    const LONG_TEXT: &str = "Here is everything you need to know about this product in one breath: it is fast, \
        it is cheap, it works offline, it never loses a file, and it tells you exactly where every clip came from.";

    /// `text` spoken by espeak-ng at 175 words a minute, fitted to `plan` by the default policy.
    async fn espeak_fitted(text: &str, plan: &[f64], out: &Path) -> Result<FittedVoiceover, MediaError> {
        let cancel = CancellationToken::new();
        generate_voiceover_fitted(&EspeakVoice::new(), text, 175, plan, &FitPolicy::default(), out, &cancel).await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_overrunning_espeak_voice_is_respoken_and_the_scenes_stretched_to_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("voiceover.wav");
        let plan = [2.0, 2.0, 2.0];
        let fitted = espeak_fitted(LONG_TEXT, &plan, &out).await.expect("fitted");
        assert!(fitted.respoken, "{} s over a 6 s plan", fitted.first_take_seconds);
        assert!(fitted.first_take_seconds > 6.25);
        assert_eq!(fitted.words_per_minute, (175.0_f64 * 1.35).ceil() as u32);
        assert!(fitted.file.duration_seconds < fitted.first_take_seconds / 1.2);
        assert_eq!(fitted.file.path, out);
        assert!((total(&fitted.scene_seconds) - (fitted.file.duration_seconds + 0.4)).abs() < 1e-9);
        let bytes = std::fs::read(&out).expect("read");
        let parsed = super::super::wav::parse_wav(&bytes).expect("wav");
        assert!((parsed.duration_seconds() - fitted.file.duration_seconds).abs() < 1e-9);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "the other take is gone");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_voice_that_fits_is_spoken_once_and_the_plan_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("voiceover.wav");
        let plan = [4.0, 4.0, 4.0];
        let fitted = espeak_fitted("Short and sweet.", &plan, &out).await.expect("fitted");
        assert!(!fitted.respoken);
        assert_eq!((fitted.words_per_minute, fitted.voice_rate_factor), (175, 1.0));
        assert_eq!(fitted.scene_seconds, plan.to_vec());
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn null_voice_takes_are_costed_together_and_cancellation_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("voiceover.wav");
        // 40 words at 120 wpm: a nominal 20 s over a 6 s plan.
        let text = "word ".repeat(40);
        let fitted = generate_voiceover_fitted(
            &NullVoice,
            &text,
            120,
            &[2.0, 2.0, 2.0],
            &FitPolicy::default(),
            &out,
            &CancellationToken::new(),
        )
        .await
        .expect("fitted");
        assert!(fitted.respoken);
        assert_eq!(fitted.words_per_minute, 162);
        assert_eq!(fitted.file.provider, "null");
        assert!((total(&fitted.scene_seconds) - (40.0 * 60.0 / 162.0 + 0.4)).abs() < 1e-9);

        let cancelled = CancellationToken::new();
        cancelled.cancel();
        let out2 = dir.path().join("cancelled.wav");
        let err = generate_voiceover_fitted(&NullVoice, &text, 120, &[2.0], &FitPolicy::default(), &out2, &cancelled)
            .await
            .expect_err("cancelled");
        assert!(matches!(err, MediaError::Cancelled));
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "only the first voiceover");
    }

    /// Item 4 of issue 12: a 90-character nonsense word (espeak-ng spells out what it cannot
    /// read) made a 35.8 s voiceover for a video of at most 28 s. Speech that cannot fit is
    /// refused, and leaves no file.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_voice_longer_than_any_video_may_be_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("voiceover.wav");
        let nonsense = "x1z9q".repeat(18);
        let text = format!("Meet {nonsense}. {nonsense} changes everything.");
        let plan = [4.0; 7]; // 28 s, the longest plan
        let err = espeak_fitted(&text, &plan, &out).await.expect_err("no video may last that long");
        let message = err.to_string();
        let MediaError::VoiceTooLong { voice_seconds, max_seconds, .. } = err else { panic!("{message}") };
        assert!(voice_seconds + 0.4 > 28.0, "{voice_seconds}");
        assert_eq!(max_seconds, 28.0);
        assert!(message.contains("a video lasts at most 28 s"), "{message}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "no take is left");
    }
}
