//! `EspeakVoice`: the offline voice provider, espeak-ng to a WAV file.
//!
//! The text goes to espeak-ng through a temporary UTF-8 file (`-f`, `-b 1`), never through a
//! shell or as an argument (a text starting with `-` would be read as an option). The duration
//! is read from the WAV header by walking its chunks ([`super::wav::parse_wav`]).

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::output::{commit, partial};
use super::process::Tool;
use super::wav::parse_wav;
use super::{GeneratedFile, MediaError, MediaFuture, VoiceProvider};

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
        let owned = text.to_owned();
        let text_file = tokio::task::spawn_blocking(move || -> std::io::Result<tempfile::NamedTempFile> {
            let mut file = tempfile::Builder::new().prefix("shortline-voice-").suffix(".txt").tempfile()?;
            file.write_all(owned.as_bytes())?;
            file.flush()?;
            Ok(file)
        })
        .await
        .map_err(|e| MediaError::io("writing the voice text", std::io::Error::other(e)))?
        .map_err(|e| MediaError::io("writing the voice text", e))?;

        let partial = partial(out_path)?;
        let args: Vec<OsString> = vec![
            "-w".into(),
            partial.path().as_os_str().to_owned(),
            "-s".into(),
            wpm.to_string().into(),
            "-v".into(),
            self.voice.clone().into(),
            "-b".into(),
            "1".into(),
            "-f".into(),
            text_file.path().as_os_str().to_owned(),
        ];
        self.tool.run(&args, cancel).await?;
        drop(text_file);

        let bytes = tokio::fs::read(partial.path())
            .await
            .map_err(|e| MediaError::io(format!("reading {}", partial.path().display()), e))?;
        let info = parse_wav(&bytes).map_err(|e| MediaError::invalid_output(partial.dest(), e.to_string()))?;
        let duration_seconds = info.duration_seconds();
        if info.data_bytes == 0 || duration_seconds <= 0.0 {
            return Err(MediaError::invalid_output(partial.dest(), "espeak-ng wrote no audio"));
        }
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
        })
    }
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

    fn ffprobe_duration(path: &Path) -> f64 {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .expect("ffprobe runs");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a duration")
    }

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
}
