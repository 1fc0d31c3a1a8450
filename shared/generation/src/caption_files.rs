//! The voiceover's captions as sidecar files: SRT and WebVTT, timed by the voice engine when it
//! gave word timings, otherwise by the fallback.
//!
//! # Fallback (engines without timings: OpenAI TTS, Fish Audio, an avatar's voice)
//! The voice file's speech is found by its level ([`speech_segments`]: 10 ms frames under
//! −40 dBFS are silent, pauses of 150 ms or more split the speech) and the text's words are
//! spread over the speech alone, in proportion to their letters plus the pause a comma or a
//! sentence's end brings ([`captions::pause_weight`]): a word never starts inside a pause. Its error against
//! libespeak-ng's word events is measured by `fallback_error_against_the_engine_events`
//! (docs/CAPTIONS.md has the figures).

use std::path::Path;

use sha2::{Digest, Sha256};
use shortline_domain::captions::{self, Cue};

use super::output::{commit, partial};
use super::speech::speech_segments;
use super::{GeneratedFile, MediaError};

/// How the words were timed, recorded as the caption assets' model.
pub const FROM_ENGINE: &str = "captions/engine-timings";
pub const FALLBACK: &str = "captions/speech-by-letters";

/// The cues of `text` as spoken in `voice`: the engine's word timings when it gave them for
/// every word, else the fallback over the voice file's speech. Returns the cues and the method.
pub async fn caption_cues(text: &str, voice: &GeneratedFile) -> Result<(Vec<Cue>, &'static str), MediaError> {
    if let Some(cues) = voice.word_timings.as_deref().and_then(|words| captions::cues(text, words)) {
        return Ok((cues, FROM_ENGINE));
    }
    let bytes = tokio::fs::read(&voice.path)
        .await
        .map_err(|e| MediaError::io(format!("reading {}", voice.path.display()), e))?;
    // A voice that is not a WAV (an avatar's audio), or has no sound above the floor, is spread
    // over its whole length.
    let segments =
        speech_segments(&bytes).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| vec![(0.0, voice.duration_seconds)]);
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let timed = captions::spread(&words, &segments, captions::pause_weight);
    let cues = captions::cues(text, &timed).unwrap_or_default();
    Ok((cues, FALLBACK))
}

/// Writes `contents` to `path` completely or not at all, described as made by `voice`'s
/// provider with `method`.
pub async fn write_caption_file(
    path: &Path,
    contents: &str,
    voice: &GeneratedFile,
    method: &str,
) -> Result<GeneratedFile, MediaError> {
    let slot = partial(path)?;
    slot.write(contents).await.map_err(|e| MediaError::io(format!("writing {}", slot.path().display()), e))?;
    let path = commit(slot).await?;
    Ok(GeneratedFile {
        path,
        duration_seconds: voice.duration_seconds,
        size_bytes: contents.len() as u64,
        sha256: hex::encode(Sha256::digest(contents.as_bytes())),
        provider: voice.provider.clone(),
        model: method.to_owned(),
        cost_micros: 0,
        word_timings: None,
    })
}
