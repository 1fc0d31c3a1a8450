//! The quality gate: before the video counts, its loudness (`ebur128`, integrated and true peak),
//! its black stretches (`blackdetect`) and its silences (`silencedetect`) are measured. A failed
//! check names itself and the value it measured; the same input fails the same way, so it is not
//! worth retrying.
//!
//! The measuring filters run inside the render's own ffmpeg pass, on branches split off the
//! picture and the mix exactly as they go to the encoders ([`analysis_graph`]): a separate pass
//! over the MP4 would decode the whole file again to measure the same frames and samples (less
//! the encoders' rounding, which moves neither a black frame nor the loudness measurably).

use serde::Serialize;

use super::{LOUDNESS_TARGET_LUFS, TRUE_PEAK_CEILING_DBTP};

/// How far the integrated loudness may be from [`LOUDNESS_TARGET_LUFS`].
pub const LOUDNESS_TOLERANCE_LU: f64 = 1.0;
/// The longest black stretch a video may have.
pub const MAX_BLACK_SECONDS: f64 = 0.5;
/// The longest silence allowed while the voice speaks.
pub const MAX_SILENCE_SECONDS: f64 = 1.0;
/// A pixel is black below 10 % luma; a frame is black when 98 % of its pixels are (ffmpeg's default).
const BLACK_PIXEL_THRESHOLD: f64 = 0.10;
/// Quieter than this is silence (the music bed, ducked, stays well above it).
const SILENCE_NOISE_DB: i32 = -50;

/// What the analysis pass measured; stored with the video (in its generation log).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// EBU R128 integrated loudness; `None` when the track is silence (ebur128 reports −70).
    pub integrated_lufs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    /// `[start, end]` seconds of every black stretch longer than [`MAX_BLACK_SECONDS`].
    pub black_stretches: Vec<[f64; 2]>,
    /// `[start, end]` seconds of every silence longer than [`MAX_SILENCE_SECONDS`] (`end` is the
    /// video's end when the silence runs to it).
    pub silences: Vec<[f64; 2]>,
    /// Every text box (captions, overlays) as laid out, all inside the safe area and none on
    /// top of another ([`super::layout::check`], run before the render).
    pub text_boxes: Vec<super::layout::TextBox>,
}

/// What the gate is told about the render besides the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateInputs {
    /// Whether the mix had any voice or music (a silent video has no loudness to check).
    pub audible: bool,
    /// The spoken part: `[0, spoken_seconds]`; silence after it is fine.
    pub spoken_seconds: f64,
    pub duration_seconds: f64,
}

/// The measuring branches of the render's filter graph: `video` (a pad of the final picture)
/// into `blackdetect`; `audio` (the final mix) split into `audio_out`, for the encoder, and into
/// `ebur128` and `silencedetect`. Their results reach ffmpeg's log (at `info`), read by
/// [`parse_report`].
pub(crate) fn analysis_graph(video: &str, audio: &str, audio_out: &str) -> String {
    format!(
        "{video}blackdetect=d={MAX_BLACK_SECONDS}:pix_th={BLACK_PIXEL_THRESHOLD},nullsink;\n\
         {audio}asplit=3{audio_out}[qloud][qquiet];\n\
         [qloud]ebur128=peak=true:framelog=verbose,anullsink;\n\
         [qquiet]silencedetect=n={SILENCE_NOISE_DB}dB:d={MAX_SILENCE_SECONDS},anullsink\n"
    )
}

/// Reads the analysis filters' log lines.
pub(crate) fn parse_report(log: &str, duration_seconds: f64) -> QualityReport {
    let value = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    let mut report = QualityReport {
        integrated_lufs: None,
        true_peak_dbtp: None,
        black_stretches: Vec::new(),
        silences: Vec::new(),
        text_boxes: Vec::new(),
    };
    let mut silence_start = None;
    let mut in_summary = false;
    for line in log.lines() {
        if line.contains("blackdetect") {
            if let (Some(start), Some(end)) = (value(line, "black_start:"), value(line, "black_end:")) {
                report.black_stretches.push([start, end]);
            }
        } else if line.contains("silencedetect") {
            if let Some(start) = value(line, "silence_start:") {
                silence_start = Some(start);
            } else if let (Some(start), Some(end)) = (silence_start.take(), value(line, "silence_end:")) {
                report.silences.push([start, end]);
            }
        } else if line.contains("Summary:") {
            in_summary = true;
        } else if in_summary {
            // The summary's own lines are indented `I:` and `Peak:` (the encoders' statistics
            // later in the log have `frame I:` too).
            let summary_value = |key: &str| value(line.trim_start().strip_prefix(key).map(|_| line)?, key);
            if let Some(lufs) = summary_value("I:") {
                // ebur128 reports silence as −70 LUFS, its gate.
                report.integrated_lufs = Some(lufs).filter(|l| *l > -70.0);
            } else if let Some(peak) = summary_value("Peak:") {
                report.true_peak_dbtp = Some(peak).filter(|p| p.is_finite());
            }
        }
    }
    // A silence still open at the end runs to the end.
    if let Some(start) = silence_start {
        report.silences.push([start, duration_seconds]);
    }
    report
}

impl QualityReport {
    /// The first failed check, as a reason naming the check and the value it measured.
    pub fn verdict(&self, inputs: &GateInputs) -> Result<(), String> {
        if inputs.audible {
            let Some(lufs) = self.integrated_lufs else {
                return Err(format!("ebur128: the mix is silent, expected about {LOUDNESS_TARGET_LUFS} LUFS"));
            };
            if (lufs - LOUDNESS_TARGET_LUFS).abs() > LOUDNESS_TOLERANCE_LU {
                return Err(format!(
                    "ebur128: integrated loudness {lufs:.1} LUFS is outside {LOUDNESS_TARGET_LUFS} ± \
                     {LOUDNESS_TOLERANCE_LU} LU"
                ));
            }
            if let Some(peak) = self.true_peak_dbtp.filter(|p| *p > TRUE_PEAK_CEILING_DBTP) {
                return Err(format!("ebur128: true peak {peak:.1} dBTP is above {TRUE_PEAK_CEILING_DBTP} dBTP"));
            }
        }
        if let Some([start, end]) = self.black_stretches.iter().find(|[s, e]| e - s > MAX_BLACK_SECONDS) {
            return Err(format!(
                "blackdetect: black from {start:.2} s to {end:.2} s ({:.2} s, more than {MAX_BLACK_SECONDS} s)",
                end - start
            ));
        }
        let spoken_end = inputs.spoken_seconds.min(inputs.duration_seconds);
        for [start, end] in &self.silences {
            let inside = end.min(spoken_end) - start;
            if inside > MAX_SILENCE_SECONDS {
                return Err(format!(
                    "silencedetect: silence from {start:.2} s to {:.2} s ({inside:.2} s) while the voice speaks \
                     (until {spoken_end:.2} s), more than {MAX_SILENCE_SECONDS} s",
                    end.min(spoken_end)
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[blackdetect @ 0x1] black_start:0 black_end:2 black_duration:2
[silencedetect @ 0x2] silence_start: 3.5
[silencedetect @ 0x2] silence_end: 4.75 | silence_duration: 1.25
[silencedetect @ 0x2] silence_start: 5.2
[Parsed_ebur128_2 @ 0x3] Summary:

  Integrated loudness:
    I:         -14.4 LUFS
    Threshold: -24.5 LUFS

  True peak:
    Peak:       -1.3 dBFS
[libx264 @ 0x4] frame I:1     Avg QP:17.60  size: 41311
";

    fn inputs(spoken_seconds: f64) -> GateInputs {
        GateInputs { audible: true, spoken_seconds, duration_seconds: 6.0 }
    }

    #[test]
    fn the_analysis_log_is_parsed() {
        let report = parse_report(LOG, 6.0);
        assert_eq!(report.integrated_lufs, Some(-14.4));
        assert_eq!(report.true_peak_dbtp, Some(-1.3));
        assert_eq!(report.black_stretches, [[0.0, 2.0]]);
        assert_eq!(report.silences, [[3.5, 4.75], [5.2, 6.0]], "the open silence runs to the end");
    }

    #[test]
    fn each_check_fails_with_its_name_and_value() {
        let good = QualityReport {
            integrated_lufs: Some(-14.6),
            true_peak_dbtp: Some(-1.2),
            black_stretches: Vec::new(),
            silences: vec![[5.2, 6.0]],
            text_boxes: Vec::new(),
        };
        assert_eq!(good.verdict(&inputs(6.0)), Ok(()));
        let quiet = QualityReport { integrated_lufs: Some(-15.2), ..good.clone() };
        let reason = quiet.verdict(&inputs(6.0)).expect_err("too quiet");
        assert!(reason.starts_with("ebur128: integrated loudness -15.2 LUFS"), "{reason}");
        assert_eq!(
            QualityReport { integrated_lufs: None, ..good.clone() }
                .verdict(&GateInputs { audible: false, ..inputs(0.0) }),
            Ok(())
        );
        let peaky = QualityReport { true_peak_dbtp: Some(-0.4), ..good.clone() };
        assert!(peaky.verdict(&inputs(6.0)).expect_err("peak").starts_with("ebur128: true peak -0.4 dBTP"));
        let black = QualityReport { black_stretches: vec![[1.0, 3.0]], ..good.clone() };
        let reason = black.verdict(&inputs(6.0)).expect_err("black");
        assert!(reason.starts_with("blackdetect: black from 1.00 s to 3.00 s (2.00 s"), "{reason}");
        let gap = QualityReport { silences: vec![[2.0, 3.5]], ..good.clone() };
        assert!(gap.verdict(&inputs(6.0)).expect_err("gap").starts_with("silencedetect: silence from 2.00 s"));
        assert_eq!(gap.verdict(&inputs(2.5)), Ok(()), "only 0.5 s of it is inside the spoken part");
    }
}
