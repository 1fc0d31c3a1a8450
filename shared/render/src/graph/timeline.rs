//! Where each scene sits on the output timeline, in whole frames ([`Timeline`], [`Piece`]), and
//! seconds as filter arguments write them ([`secs`]).

use shortline_domain::Transition;

use crate::{ClipInput, RenderSettings};

/// Where each scene sits on the output timeline, in whole frames of the output rate.
///
/// Clip `i` lasts `frames[i]` frames (its `duration_seconds` rounded to the nearest frame, at
/// least one). A fade/dissolve into clip `i` overlaps it with what came before by `overlaps[i]`
/// frames: `transition_seconds` rounded to frames, but at most half of the shorter of the two
/// neighbouring clips, so a clip's incoming and outgoing transitions never overlap each other. A cut
/// (and the first clip) has overlap 0. Hence the total length is
///
/// ```text
/// total_frames = Σ frames[i] − Σ overlaps[i]        total_seconds = total_frames / fps
/// ```
///
/// and the transition into clip `i` starts at frame `Σ_{j<i} frames[j] − Σ_{j≤i} overlaps[j]` —
/// everything before it, minus the overlap — which is where a chain of `xfade`s would put its
/// `offset`. The graph lays the same timeline out as [`Piece`]s instead (see [`Timeline::pieces`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Timeline {
    pub fps: u32,
    pub frames: Vec<u64>,
    pub overlaps: Vec<u64>,
    pub transitions: Vec<Transition>,
}

impl Timeline {
    pub fn new(clips: &[ClipInput], settings: &RenderSettings) -> Self {
        let fps = settings.fps.max(1);
        let frames: Vec<u64> = clips.iter().map(|c| to_frames(c.duration_seconds, fps).max(1)).collect();
        let wanted = to_frames(settings.transition_seconds, fps);
        let mut overlaps = vec![0; clips.len()];
        let mut transitions = vec![Transition::Cut; clips.len()];
        for i in 1..clips.len() {
            if clips[i].transition != Transition::Cut {
                let overlap = wanted.min(frames[i - 1].min(frames[i]) / 2);
                if overlap > 0 {
                    overlaps[i] = overlap;
                    transitions[i] = clips[i].transition;
                }
            }
        }
        Timeline { fps, frames, overlaps, transitions }
    }

    pub fn total_frames(&self) -> u64 {
        self.frames.iter().sum::<u64>() - self.overlaps.iter().sum::<u64>()
    }

    pub fn total_seconds(&self) -> f64 {
        self.total_frames() as f64 / f64::from(self.fps)
    }

    pub fn seconds(&self, frames: u64) -> f64 {
        frames as f64 / f64::from(self.fps)
    }

    /// The timeline as consecutive pieces, to be concatenated: every clip's body (what no
    /// transition touches) and, between clips, the overlap where the last `m` frames of one are
    /// cross-faded with the first `m` frames of the next. Empty bodies are left out.
    pub fn pieces(&self) -> Vec<Piece> {
        let n = self.frames.len();
        let mut pieces = Vec::with_capacity(2 * n);
        for i in 0..n {
            let incoming = self.overlaps[i];
            let outgoing = if i + 1 < n { self.overlaps[i + 1] } else { 0 };
            if incoming > 0 {
                pieces.push(Piece::Transition { to: i, frames: incoming, kind: self.transitions[i] });
            }
            if self.frames[i] > incoming + outgoing {
                pieces.push(Piece::Body { clip: i, start: incoming, end: self.frames[i] - outgoing });
            }
        }
        pieces
    }
}

/// A stretch of the output timeline; see [`Timeline::pieces`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Piece {
    /// Frames `start..end` of clip `clip`.
    Body { clip: usize, start: u64, end: u64 },
    /// The last `frames` frames of clip `to − 1` cross-faded into the first `frames` of clip `to`.
    Transition { to: usize, frames: u64, kind: Transition },
}

impl Piece {
    pub fn frames(&self) -> u64 {
        match *self {
            Piece::Body { start, end, .. } => end - start,
            Piece::Transition { frames, .. } => frames,
        }
    }
}

pub(super) fn to_frames(seconds: f64, fps: u32) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * f64::from(fps)).round() as u64
    } else {
        0
    }
}

/// Seconds as filter arguments want them: at most 6 decimals, no trailing zeros (the bench's
/// plain ffmpeg command writes them so too, as [`crate::filter_seconds`]).
pub fn secs(value: f64) -> String {
    let s = format!("{value:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs_prints_short_exact_numbers() {
        assert_eq!(secs(2.0), "2");
        assert_eq!(secs(0.4), "0.4");
        assert_eq!(secs(22.0 / 15.0), "1.466667");
        assert_eq!(secs(0.0), "0");
        assert_eq!(secs(-0.0000001), "0");
    }
}
