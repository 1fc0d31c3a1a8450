//! Where a voice file speaks: the stretches of a WAV louder than a silence floor, for timing
//! captions (a phrase's span, or the fallback spreading of words over the speech).

use super::wav::{parse_wav, WavError, WavInfo};

/// A 10 ms frame whose peak stays under this (−40 dBFS) is silent.
const SILENCE_PEAK: f32 = 0.01;
const FRAME_SECONDS: f64 = 0.01;
/// Silences at least this long split the speech; shorter ones are gaps between sounds.
pub const MIN_PAUSE_SECONDS: f64 = 0.15;

/// The samples of a 16-bit PCM or 32-bit float WAV, channels averaged; `None` for any other
/// encoding.
fn mono_samples(bytes: &[u8], info: &WavInfo) -> Option<Vec<f32>> {
    let start = usize::try_from(info.data_offset).ok()?;
    let data = bytes.get(start..start + usize::try_from(info.data_bytes).ok()?)?;
    let channels = usize::from(info.channels);
    let decode: fn(&[u8]) -> f32 = match (info.format_tag, info.bits_per_sample) {
        (1 | 0xFFFE, 16) => |b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0,
        (3 | 0xFFFE, 32) => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        _ => return None,
    };
    let width = usize::from(info.bits_per_sample / 8);
    Some(
        data.chunks_exact(width * channels)
            .map(|frame| frame.chunks_exact(width).map(decode).sum::<f32>() / channels as f32)
            .collect(),
    )
}

/// The speech of a WAV file as `(start, end)` seconds, split at pauses of at least
/// [`MIN_PAUSE_SECONDS`]; an encoding it cannot read counts as speech from end to end.
pub fn speech_segments(bytes: &[u8]) -> Result<Vec<(f64, f64)>, WavError> {
    let info = parse_wav(bytes)?;
    let Some(samples) = mono_samples(bytes, &info) else {
        return Ok(vec![(0.0, info.duration_seconds())]);
    };
    let rate = f64::from(info.sample_rate);
    let frame = ((rate * FRAME_SECONDS) as usize).max(1);
    let min_pause = (MIN_PAUSE_SECONDS / FRAME_SECONDS).round() as usize;
    let loud: Vec<bool> =
        samples.chunks(frame).map(|f| f.iter().fold(0.0f32, |m, s| m.max(s.abs())) >= SILENCE_PEAK).collect();
    let mut segments: Vec<(usize, usize)> = Vec::new();
    for (i, _) in loud.iter().enumerate().filter(|(_, l)| **l) {
        match segments.last_mut() {
            Some((_, end)) if i - *end <= min_pause => *end = i + 1,
            _ => segments.push((i, i + 1)),
        }
    }
    let seconds = |frames: usize| ((frames * frame) as f64 / rate).min(info.duration_seconds());
    Ok(segments.into_iter().map(|(s, e)| (seconds(s), seconds(e))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav::wav_from_pcm16;

    fn pcm(parts: &[(f64, bool)], rate: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for (seconds, loud) in parts {
            for i in 0..(seconds * f64::from(rate)) as usize {
                let v: i16 = if *loud {
                    if i % 20 < 10 {
                        8000
                    } else {
                        -8000
                    }
                } else {
                    3
                };
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        wav_from_pcm16(&out, rate, 1)
    }

    #[test]
    fn finds_speech_between_pauses_and_bridges_short_gaps() {
        let wav = pcm(
            &[(0.2, false), (0.5, true), (0.05, false), (0.3, true), (0.4, false), (0.6, true), (0.3, false)],
            22_050,
        );
        let got = speech_segments(&wav).expect("segments");
        let want = [(0.2, 1.05), (1.45, 2.05)];
        assert_eq!(got.len(), 2, "{got:?}");
        for ((s, e), (ws, we)) in got.iter().zip(want) {
            assert!((s - ws).abs() <= 0.011 && (e - we).abs() <= 0.011, "{got:?}");
        }
        assert!(speech_segments(&pcm(&[(0.5, false)], 8_000)).expect("silence").is_empty());
    }
}
