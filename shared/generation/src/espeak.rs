//! `EspeakVoice`: the offline voice provider, espeak-ng to a WAV file.
//!
//! The text goes to espeak-ng through a temporary UTF-8 file (`-f`, `-b 1`), never through a
//! shell or as an argument (a text starting with `-` would be read as an option). The duration
//! is read from the WAV header by walking its chunks ([`super::wav::parse_wav`]).
//!
//! # Timings for captions
//! espeak-ng's command line reports no word events, so the voice is spoken **phrase by phrase**
//! (the caption phrases of [`captions::phrases`]) and the phrases' PCM is joined into one WAV.
//! espeak-ng speaks a text clause by clause, each ending in its own pause, so joining phrases
//! that end a clause gives the same audio as one call (measured: "Stop scrolling." 1.213 s +
//! "This one trick changes everything" 2.205 s = the 3.418 s of both at once). Each phrase's
//! start and its speech (by [`speech_segments`]) are therefore measured, not estimated; words
//! inside a phrase are spread over its speech by letters ([`captions::distribute`]).
//! Against libespeak-ng's own word events (`espeakEVENT_WORD`), word onsets land within the
//! error measured by `espeak_word_onsets_match_the_engine_events` (docs/CAPTIONS.md).

use std::ffi::OsString;
use std::path::Path;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use shortline_domain::captions;

use super::output::{commit, partial};
use super::process::Tool;
use super::speech::speech_segments;
use super::wav::parse_wav;
use super::{GeneratedFile, MediaError, MediaFuture, VoiceProvider};
use crate::wav::wav_from_pcm16;

/// espeak-ng's accepted speaking rates (words per minute); requests outside are clamped.
pub const ESPEAK_MIN_WPM: u32 = 80;
pub const ESPEAK_MAX_WPM: u32 = 450;

/// Offline text-to-speech with espeak-ng.
#[derive(Debug, Clone)]
pub struct EspeakVoice {
    tool: Tool,
    voice: String,
}

impl Default for EspeakVoice {
    fn default() -> Self {
        Self::new()
    }
}

impl EspeakVoice {
    /// `espeak-ng` from `PATH`, voice `en-us`.
    pub fn new() -> Self {
        Self { tool: Tool::espeak_ng(), voice: "en-us".into() }
    }

    /// An espeak-ng voice name (`espeak-ng --voices` lists them), e.g. `en-gb`, `en-us+f3`.
    pub fn with_voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = voice.into();
        self
    }

    pub fn with_tool(mut self, tool: Tool) -> Self {
        self.tool = tool;
        self
    }

    pub fn voice(&self) -> &str {
        &self.voice
    }

    /// Speaks one phrase to a WAV in `dir`; returns its bytes.
    async fn speak_phrase(
        &self,
        phrase: &str,
        wpm: u32,
        dir: &Path,
        index: usize,
        cancel: &CancellationToken,
    ) -> Result<Vec<u8>, MediaError> {
        let text_path = dir.join(format!("phrase-{index}.txt"));
        let wav_path = dir.join(format!("phrase-{index}.wav"));
        tokio::fs::write(&text_path, phrase).await.map_err(|e| MediaError::io("writing the voice text", e))?;
        let args: Vec<OsString> = vec![
            "-w".into(),
            wav_path.as_os_str().to_owned(),
            "-s".into(),
            wpm.to_string().into(),
            "-v".into(),
            self.voice.clone().into(),
            "-b".into(),
            "1".into(),
            "-f".into(),
            text_path.as_os_str().to_owned(),
        ];
        self.tool.run(&args, cancel).await?;
        tokio::fs::read(&wav_path).await.map_err(|e| MediaError::io(format!("reading {}", wav_path.display()), e))
    }

    async fn synthesize(
        &self,
        text: &str,
        words_per_minute: u32,
        out_path: &Path,
        cancel: &CancellationToken,
    ) -> Result<GeneratedFile, MediaError> {
        if text.trim().is_empty() {
            return Err(MediaError::InvalidRequest("no text to speak".into()));
        }
        if self.voice.is_empty() || self.voice.starts_with('-') {
            return Err(MediaError::InvalidRequest(format!("bad espeak-ng voice name {:?}", self.voice)));
        }
        let wpm = words_per_minute.clamp(ESPEAK_MIN_WPM, ESPEAK_MAX_WPM);
        let scratch = tempfile::Builder::new()
            .prefix("shortline-voice-")
            .tempdir()
            .map_err(|e| MediaError::io("creating a scratch directory", e))?;
        let partial = partial(out_path)?;

        // Phrase by phrase (see the module docs): each phrase's audio is measured, so its words
        // are placed on the voice's timeline by what was synthesised, not by an estimate.
        let phrases = captions::phrases(text);
        let mut pcm: Vec<u8> = Vec::new();
        let mut format: Option<(u32, u16)> = None;
        let mut words = Vec::new();
        for (index, phrase) in phrases.iter().enumerate() {
            let bytes = self.speak_phrase(&phrase.join(" "), wpm, scratch.path(), index, cancel).await?;
            let info = parse_wav(&bytes).map_err(|e| MediaError::invalid_output(partial.dest(), e.to_string()))?;
            if info.format_tag != 1
                || info.bits_per_sample != 16
                || *format.get_or_insert((info.sample_rate, info.channels)) != (info.sample_rate, info.channels)
            {
                return Err(MediaError::invalid_output(
                    partial.dest(),
                    "espeak-ng wrote phrases in differing or non-16-bit formats",
                ));
            }
            let mut segments =
                speech_segments(&bytes).map_err(|e| MediaError::invalid_output(partial.dest(), e.to_string()))?;
            if segments.is_empty() {
                // Nothing above the silence floor (a lone dash): its words share the phrase.
                segments.push((0.0, info.duration_seconds()));
            }
            let data = &bytes[info.data_offset as usize..(info.data_offset + info.data_bytes) as usize];
            // espeak-ng ends a clause with its pause; a phrase cut inside a clause (to fit two
            // lines) keeps only a short join instead, as one utterance would have none there.
            let keep_seconds = match segments.last() {
                Some((_, end)) if index + 1 < phrases.len() && !ends_clause(phrase) => end + JOIN_SECONDS,
                _ => info.duration_seconds(),
            };
            let keep = ((keep_seconds * f64::from(info.byte_rate)) as usize / usize::from(info.block_align)
                * usize::from(info.block_align))
            .min(data.len());
            let offset = pcm.len() as f64 / f64::from(info.byte_rate);
            let shifted: Vec<(f64, f64)> = segments.iter().map(|(s, e)| (offset + s, offset + e)).collect();
            words.extend(captions::distribute(phrase, &shifted));
            pcm.extend_from_slice(&data[..keep]);
        }
        drop(scratch);
        let (sample_rate, channels) = format.unwrap_or((22_050, 1));
        let bytes = wav_from_pcm16(&pcm, sample_rate, channels);
        let info = parse_wav(&bytes).map_err(|e| MediaError::invalid_output(partial.dest(), e.to_string()))?;
        let duration_seconds = info.duration_seconds();
        if info.data_bytes == 0 || duration_seconds <= 0.0 {
            return Err(MediaError::invalid_output(partial.dest(), "espeak-ng wrote no audio"));
        }
        partial
            .write(bytes.as_slice())
            .await
            .map_err(|e| MediaError::io(format!("writing {}", partial.path().display()), e))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if cancel.is_cancelled() {
            return Err(MediaError::Cancelled);
        }
        let path = commit(partial).await?;
        Ok(GeneratedFile {
            path,
            duration_seconds,
            size_bytes: bytes.len() as u64,
            sha256,
            provider: "espeak-ng".into(),
            model: format!("espeak-ng/{}", self.voice),
            cost_micros: 0,
            word_timings: Some(words),
        })
    }
}

/// What is kept of the silence after a phrase cut inside a clause.
const JOIN_SECONDS: f64 = 0.06;

/// Whether a phrase ends where espeak-ng pauses anyway (a sentence, a clause, a dash, a comma).
fn ends_clause(phrase: &[String]) -> bool {
    phrase.last().is_some_and(|w| captions::closes_phrase(w) || w.ends_with(','))
}

impl VoiceProvider for EspeakVoice {
    fn name(&self) -> &str {
        "espeak-ng"
    }

    fn speak<'a>(
        &'a self,
        text: &'a str,
        words_per_minute: u32,
        out_path: &'a Path,
        cancel: &'a CancellationToken,
    ) -> MediaFuture<'a, GeneratedFile> {
        Box::pin(self.synthesize(text, words_per_minute, out_path, cancel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ffprobe_duration;

    #[tokio::test(flavor = "multi_thread")]
    async fn speaks_to_a_wav_whose_parsed_duration_agrees_with_ffprobe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("voice.wav");
        let text = "-s 999 is not an option here. Stop scrolling: this one trick changes everything!";
        let file = EspeakVoice::new().speak(text, 175, &out, &CancellationToken::new()).await.expect("speaks");
        assert_eq!(file.path, out);
        assert!(file.duration_seconds > 1.0, "{}", file.duration_seconds);
        let probed = ffprobe_duration(&out);
        assert!((file.duration_seconds - probed).abs() < 0.05, "parsed {} vs ffprobe {probed}", file.duration_seconds);
        let bytes = std::fs::read(&out).expect("read");
        assert_eq!(file.size_bytes, bytes.len() as u64);
        assert_eq!(file.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(
            (file.provider.as_str(), file.model.as_str(), file.cost_micros),
            ("espeak-ng", "espeak-ng/en-us", 0)
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no temporary files left");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_faster_rate_gives_a_shorter_voice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let voice = EspeakVoice::new();
        let text = "A steady sentence, spoken twice at two different rates, to compare the lengths.";
        let cancel = CancellationToken::new();
        let slow = voice.speak(text, 160, &dir.path().join("slow.wav"), &cancel).await.expect("slow");
        let fast = voice.speak(text, 216, &dir.path().join("fast.wav"), &cancel).await.expect("fast");
        let ratio = slow.duration_seconds / fast.duration_seconds;
        assert!((1.2..1.5).contains(&ratio), "{ratio}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn empty_text_and_a_missing_program_fail_without_leaving_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("voice.wav");
        let cancel = CancellationToken::new();
        let err = EspeakVoice::new().speak("  ", 175, &out, &cancel).await.expect_err("empty");
        assert!(matches!(err, MediaError::InvalidRequest(_)), "{err:?}");
        let missing = EspeakVoice::new().with_tool(Tool::new("/nonexistent/espeak-ng", "apt-get install espeak-ng"));
        let err = missing.speak("hello", 175, &out, &cancel).await.expect_err("missing");
        assert_eq!(err.to_string(), "/nonexistent/espeak-ng not found: install it with `apt-get install espeak-ng`");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    /// Word onsets of one espeak-ng synthesis by libespeak-ng's word events, matched to the
    /// text's words by character position, and that synthesis' audio at `wav`.
    fn engine_onsets(text: &str, wpm: u32, wav: &Path) -> Vec<(usize, f64)> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/espeak_word_events.py");
        let out = std::process::Command::new("python3").arg(script).arg(text).arg(wpm.to_string()).arg(wav).output();
        let out = out.expect("python3 runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        // 1-based character position of each word's start -> word index.
        let mut starts = std::collections::HashMap::new();
        let mut index = 0;
        let mut in_word = false;
        for (at, c) in text.chars().enumerate() {
            if !c.is_whitespace() && !in_word {
                starts.insert(at + 1, index);
                index += 1;
            }
            in_word = !c.is_whitespace();
        }
        let events = doc["words"].as_array().expect("words");
        events
            .iter()
            .filter_map(|e| {
                let word = starts.get(&(e["pos"].as_u64()? as usize))?;
                Some((*word, e["ms"].as_f64()? / 1000.0))
            })
            .collect()
    }

    fn errors(words: &[captions::WordTiming], onsets: &[(usize, f64)]) -> (f64, f64) {
        let errors: Vec<f64> = onsets.iter().map(|(i, t)| (words[*i].start - t).abs()).collect();
        let mean = errors.iter().sum::<f64>() / errors.len() as f64;
        (mean, errors.iter().copied().fold(0.0, f64::max))
    }

    /// Every phrase of this text ends a clause, so the phrase-by-phrase voice is the same audio
    /// as one call (but for the silence after the last word) and the engine's events time its
    /// words.
    const MEASURED: &str = "Stop scrolling. Hydration shapes your energy, focus and mood, all day long. \
        AquaPure bottles keep water cold for twenty-four hours, with no plastic taste. \
        Over 10,000 hikers switched last year. Tap the link in bio and drink better today!";

    #[tokio::test(flavor = "multi_thread")]
    async fn espeak_word_onsets_match_the_engine_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = EspeakVoice::new()
            .speak(MEASURED, 175, &dir.path().join("v.wav"), &CancellationToken::new())
            .await
            .expect("speaks");
        let onsets = engine_onsets(MEASURED, 175, &dir.path().join("engine.wav"));
        let words = file.word_timings.expect("espeak-ng times its words");
        assert_eq!(words.len(), MEASURED.split_whitespace().count());
        assert!(onsets.len() >= words.len() / 2, "{} events for {} words", onsets.len(), words.len());
        let (mean, max) = errors(&words, &onsets);
        eprintln!(
            "espeak-ng phrase synthesis: word onset error mean {mean:.3} s, max {max:.3} s over {} words",
            onsets.len()
        );
        assert!(mean < 0.12 && max < 0.3, "mean {mean} max {max}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn fallback_error_against_the_engine_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wav = dir.path().join("engine.wav");
        let onsets = engine_onsets(MEASURED, 175, &wav);
        let segments = crate::speech::speech_segments(&std::fs::read(&wav).expect("wav")).expect("segments");
        let words: Vec<String> = MEASURED.split_whitespace().map(str::to_owned).collect();
        let timed = captions::spread(&words, &segments, captions::pause_weight);
        let (mean, max) = errors(&timed, &onsets);
        eprintln!(
            "fallback (speech by letters): word onset error mean {mean:.3} s, max {max:.3} s over {} words",
            onsets.len()
        );
        // Measured: mean 0.126 s, max 0.495 s (words after short comma pauses the level detector
        // bridges); letters alone gave 0.171 s and 0.620 s.
        assert!(mean < 0.15 && max < 0.55, "mean {mean} max {max}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_word_gets_a_time_in_order_even_a_silent_phrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        // "—" alone is a phrase espeak-ng says nothing for.
        let text = "Go now. — Then stop, and keep going without ever pausing for breath at all here.";
        let file = EspeakVoice::new().speak(text, 175, &dir.path().join("v.wav"), &CancellationToken::new()).await;
        let words = file.expect("speaks").word_timings.expect("timings");
        assert_eq!(
            words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
        assert!(words.windows(2).all(|p| p[0].start <= p[1].start && p[0].end <= p[1].start + 1e-9), "{words:?}");
        assert!(words[2].start > words[1].start, "the dash is placed after the sentence: {words:?}");
    }
}
