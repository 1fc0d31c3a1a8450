//! The pure half of the renderer: the `-filter_complex_script` text ([`build_filtergraph`]) and
//! its audio part ([`audio_graph`], [`loudness_chain`]). What it is made of lives beside it:
//! the timeline arithmetic ([`timeline`]), escaping ([`escape`]) and the default music bed
//! ([`music`]); the text drawn on the picture is an ASS script ([`crate::subtitles`]). Nothing here touches the file
//! system or spawns a process, so all of it is unit-tested on strings.

mod escape;
mod music;
mod timeline;

use std::fmt::Write as _;
use std::path::Path;

use shortline_domain::Transition;

pub(crate) use escape::filter_arg;
pub(crate) use music::{music_bed_source, MUSIC_LOOP_SECONDS};
pub use timeline::secs;
pub(crate) use timeline::{Piece, Timeline};

use super::{RenderSettings, TRUE_PEAK_CEILING_DBTP};
use timeline::to_frames;

/// Audio is mixed and encoded at this rate, in stereo.
pub(crate) const SAMPLE_RATE: u32 = 48_000;

/// Everything the graph needs to know besides the settings.
pub(crate) struct GraphSpec<'a> {
    pub timeline: &'a Timeline,
    /// ffmpeg input index of the voiceover, if any (clips are inputs `0..n`).
    pub voice_input: Option<usize>,
    /// ffmpeg input index of the (endlessly looped) music, if any.
    pub music_input: Option<usize>,
    /// The gain that brings the mix to the loudness target ([`AudioEnd::Normalise`]).
    pub loudness_gain_db: f64,
    /// The ASS script of the captions and overlays to burn in, if any.
    pub text: Option<&'a Path>,
}

/// How the audio mix ends: always [`loudness_chain`] with this gain, then …
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AudioEnd {
    /// … `ebur128`, for the pre-passes that find the gain (its summary goes to the log);
    Measure { gain_db: f64 },
    /// … nothing more, for the render.
    Normalise { gain_db: f64 },
}

/// The `-filter_complex_script` text. Output pads: `[vout]` (video), `[aenc]` (audio) and
/// `[vthumb]` (the thumbnail frame onwards; the caller takes one frame); the quality gate's
/// filters end in sinks of their own and log what they measured.
pub(crate) fn build_filtergraph(spec: &GraphSpec<'_>, settings: &RenderSettings) -> String {
    let tl = spec.timeline;
    let (w, h, fps) = (settings.width, settings.height, tl.fps);
    let mut g = String::new();

    // 1. Every clip to the target rate and geometry, exactly `frames[i]` frames long (a clip that
    //    is too short is held on its last frame). fps first: a 60 fps source is scaled half as often.
    for (i, &n) in tl.frames.iter().enumerate() {
        let hold = secs(tl.seconds(n));
        let _ = writeln!(
            g,
            "[{i}:v]setpts=PTS-STARTPTS,fps={fps},scale={w}:{h}:force_original_aspect_ratio=increase,\
             crop={w}:{h},setsar=1,format=yuv420p,tpad=stop_mode=clone:stop_duration={hold},\
             trim=end_frame={n},setpts=PTS-STARTPTS[c{i}];"
        );
    }

    // 2. Cut each clip into head (blended with the previous clip), body and tail (blended with the
    //    next), cross-fade tail+head pairs with xfade, and concatenate everything in order. xfade
    //    only works in yuv444p in this ffmpeg, so it is confined to the overlap frames (and
    //    converted back) instead of dragging the whole timeline through two conversions per frame.
    let pieces = tl.pieces();
    for (i, &n) in tl.frames.iter().enumerate() {
        let incoming = tl.overlaps[i];
        let outgoing = tl.overlaps.get(i + 1).copied().unwrap_or(0);
        let mut outs: Vec<String> = Vec::new();
        let mut trims: Vec<String> = Vec::new();
        if incoming > 0 {
            outs.push(format!("[c{i}h]"));
            trims.push(format!("[c{i}h]trim=end_frame={incoming}[h{i}];"));
        }
        if pieces.iter().any(|p| matches!(p, Piece::Body { clip, .. } if *clip == i)) {
            outs.push(format!("[c{i}b]"));
            trims.push(format!(
                "[c{i}b]trim=start_frame={incoming}:end_frame={},setpts=PTS-STARTPTS[b{i}];",
                n - outgoing
            ));
        }
        if outgoing > 0 {
            outs.push(format!("[c{i}t]"));
            trims.push(format!("[c{i}t]trim=start_frame={},setpts=PTS-STARTPTS[t{i}];", n - outgoing));
        }
        if outs.len() == 1 && incoming == 0 && outgoing == 0 {
            // The whole clip is one body piece.
            let _ = writeln!(g, "[c{i}]null[b{i}];");
            continue;
        }
        let _ = writeln!(g, "[c{i}]split={}{};", outs.len(), outs.concat());
        for trim in trims {
            let _ = writeln!(g, "{trim}");
        }
    }
    let mut labels = Vec::with_capacity(pieces.len());
    for piece in &pieces {
        match *piece {
            Piece::Body { clip, .. } => labels.push(format!("[b{clip}]")),
            Piece::Transition { to, frames, kind } => {
                let kind = if kind == Transition::Dissolve { "dissolve" } else { "fadeblack" };
                let _ = writeln!(
                    g,
                    "[t{}][h{to}]xfade=transition={kind}:duration={}:offset=0,format=yuv420p[x{to}];",
                    to - 1,
                    secs(tl.seconds(frames)),
                );
                labels.push(format!("[x{to}]"));
            }
        }
    }
    debug_assert_eq!(pieces.iter().map(Piece::frames).sum::<u64>(), tl.total_frames());
    let joined = if labels.len() == 1 {
        labels.concat()
    } else {
        let _ = writeln!(g, "{}concat=n={}:v=1:a=0[joined];", labels.concat(), labels.len());
        "[joined]".to_owned()
    };

    // 3. Captions and overlays, then split off the thumbnail branch: just one frame, so the JPEG
    //    encoder's pixel format conversion runs once, not on every frame.
    let drawn = spec.text.map(|script| format!("ass=filename={},", filter_arg(&script.to_string_lossy())));
    let thumb_frame = to_frames(settings.thumbnail_at_seconds, fps).min(tl.total_frames().saturating_sub(1));
    let _ = writeln!(g, "{joined}{}split=3[vout][vt][vq];", drawn.unwrap_or_default());
    let _ =
        writeln!(g, "[vt]trim=start_frame={thumb_frame}:end_frame={},setpts=PTS-STARTPTS[vthumb];", thumb_frame + 1);

    // 4. Audio, exactly as long as the picture.
    let end = AudioEnd::Normalise { gain_db: spec.loudness_gain_db };
    g.push_str(&audio_graph(spec.voice_input, spec.music_input, tl.total_seconds(), settings, end));
    g.push_str(";\n");

    // 5. The quality gate's measurements, on branches of the picture and the mix as encoded.
    g.push_str(&super::quality::analysis_graph("[vq]", "[aout]", "[aenc]"));
    g
}

/// The audio part of the graph, output `[aout]`: voice and music, each exactly `total_seconds`
/// long, the music ducked under the voice, then `end`. Silence (neither input) is `anullsrc` and
/// is left as it is.
pub(crate) fn audio_graph(
    voice_input: Option<usize>,
    music_input: Option<usize>,
    total_seconds: f64,
    settings: &RenderSettings,
    end: AudioEnd,
) -> String {
    let mut g = String::new();
    let total = secs(total_seconds);
    let norm =
        format!("aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:sample_rates={SAMPLE_RATE}:channel_layouts=stereo");
    let fade_out = (total_seconds / 4.0).min(1.0);
    let music_chain = |input: usize| {
        format!(
            "[{input}:a]{norm},volume={},atrim=duration={total},asetpts=PTS-STARTPTS,afade=t=out:st={}:d={}",
            secs(settings.music_volume.max(0.0)),
            secs(total_seconds - fade_out),
            secs(fade_out),
        )
    };
    // apad: the voice never ends before the picture (and sidechaincompress, which stops with its
    // shorter input, never cuts the music); atrim: it never runs past it either.
    let voice_chain = |input: usize| {
        format!("[{input}:a]{norm},asetpts=PTS-STARTPTS,apad,atrim=duration={total},asetpts=PTS-STARTPTS")
    };
    let loud = match end {
        AudioEnd::Measure { gain_db } => format!("{},ebur128=framelog=verbose", loudness_chain(gain_db)),
        AudioEnd::Normalise { gain_db } => loudness_chain(gain_db),
    };
    match (voice_input, music_input) {
        (Some(v), Some(m)) => {
            let _ = writeln!(g, "{},asplit=2[voice][key];", voice_chain(v));
            let _ = writeln!(g, "{}[music];", music_chain(m));
            let _ = writeln!(g, "[music][key]sidechaincompress=threshold=0.02:ratio=8:attack=20:release=400[ducked];");
            let _ =
                write!(g, "[voice][ducked]amix=inputs=2:duration=first:dropout_transition=0:normalize=0,{loud}[aout]");
        }
        (Some(v), None) => {
            let _ = write!(g, "{},{loud}[aout]", voice_chain(v));
        }
        (None, Some(m)) => {
            let _ = write!(g, "{},{loud}[aout]", music_chain(m));
        }
        (None, None) => {
            let _ = write!(g, "anullsrc=r={SAMPLE_RATE}:cl=stereo,atrim=duration={total}[aout]");
        }
    }
    g
}

/// The last step of every audible mix: a constant gain (found by audio-only pre-passes over the
/// same chain so that it lands on [`super::LOUDNESS_TARGET_LUFS`]; the video is still rendered in
/// one pass), then `alimiter` holding sample peaks 3 dB under the true-peak ceiling, which keeps
/// the true peak of the AAC under [`TRUE_PEAK_CEILING_DBTP`]. The limiter takes loudness off
/// speech peaks (up to 1.6 LU for a short espeak-ng line raised 10 dB), which is why the gain is
/// measured through it rather than computed from the raw mix.
/// Single-pass `loudnorm` was tried first: its dynamic mode only knows the past 3 s and landed at
/// −14.3 to −16.6 LUFS, outside ±1 LU on the few-second videos of the tests.
pub(crate) fn loudness_chain(gain_db: f64) -> String {
    format!(
        "volume={}dB,alimiter=limit={}:level=disabled:attack=5:release=50,aresample={SAMPLE_RATE}",
        secs(gain_db),
        secs((10f64.powf(LIMITER_CEILING_DBFS / 20.0) * 1e4).round() / 1e4),
    )
}

/// Where `alimiter` holds sample peaks. The resampling after it, inter-sample peaks and AAC add
/// up to 1.6 dB over it (measured: −0.4 dBTP on the default `shortline run` video with the
/// limiter at −2 dBFS), so it sits 3 dB under the ceiling.
const LIMITER_CEILING_DBFS: f64 = TRUE_PEAK_CEILING_DBTP - 3.0;

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::ClipInput;

    pub(crate) fn settings() -> RenderSettings {
        RenderSettings {
            width: 360,
            height: 640,
            fps: 15,
            x264_preset: "ultrafast".into(),
            crf: 30,
            font: crate::DEFAULT_FONT.to_owned(),
            music_volume: 0.3,
            thumbnail_at_seconds: 1.0,
            transition_seconds: 0.4,
            overlay_fade_seconds: 0.3,
        }
    }

    fn clip(seconds: f64, transition: Transition) -> ClipInput {
        ClipInput { path: PathBuf::from(format!("/clips/{seconds}.mp4")), duration_seconds: seconds, transition }
    }

    /// The graph of `tl` without overlays or captions, the mix raised by `gain_db`.
    fn graph_of(tl: &Timeline, s: &RenderSettings, voice: Option<usize>, music: Option<usize>, gain_db: f64) -> String {
        let spec =
            GraphSpec { timeline: tl, voice_input: voice, music_input: music, loudness_gain_db: gain_db, text: None };
        build_filtergraph(&spec, s)
    }

    fn graph(clips: &[ClipInput], voice: Option<usize>, music: Option<usize>) -> String {
        let s = settings();
        graph_of(&Timeline::new(clips, &s), &s, voice, music, 6.0)
    }

    #[test]
    fn cut_fade_dissolve_transitions_start_at_the_length_so_far_minus_the_overlap() {
        // 2 s = 30 frames each at 15 fps, transitions 0.4 s = 6 frames.
        let clips = [
            clip(2.0, Transition::Dissolve), // first: transition ignored
            clip(2.0, Transition::Cut),
            clip(2.0, Transition::Fade),
            clip(2.0, Transition::Dissolve),
        ];
        let s = settings();
        let tl = Timeline::new(&clips, &s);
        assert_eq!(tl.frames, [30, 30, 30, 30]);
        assert_eq!(tl.overlaps, [0, 0, 6, 6]);
        assert_eq!(
            tl.pieces(),
            [
                Piece::Body { clip: 0, start: 0, end: 30 },
                Piece::Body { clip: 1, start: 0, end: 24 },
                Piece::Transition { to: 2, frames: 6, kind: Transition::Fade },
                Piece::Body { clip: 2, start: 6, end: 24 },
                Piece::Transition { to: 3, frames: 6, kind: Transition::Dissolve },
                Piece::Body { clip: 3, start: 6, end: 30 },
            ]
        );
        assert_eq!(tl.total_frames(), 120 - 12);
        assert!((tl.total_seconds() - 7.2).abs() < 1e-9);
        // Where each transition starts on the output, from the pieces, and from the formula
        // Σ_{j<i} frames[j] − Σ_{j≤i} overlaps[j]: the fade at 60 − 6 = 54 (3.6 s), the dissolve at
        // 90 − 12 = 78 (5.2 s).
        let mut at = 0;
        let mut starts = Vec::new();
        for piece in tl.pieces() {
            if let Piece::Transition { to, .. } = piece {
                let formula = tl.frames[..to].iter().sum::<u64>() - tl.overlaps[..=to].iter().sum::<u64>();
                assert_eq!(at, formula);
                starts.push((to, at));
            }
            at += piece.frames();
        }
        assert_eq!(starts, [(2, 54), (3, 78)]);
        assert!((super::super::expected_duration(&clips, &s) - 7.2).abs() < 1e-9);

        let g = graph(&clips, None, None);
        // Clip 0 is only a body; clip 1 has a body and a 6-frame tail; clips 2 and 3 have heads.
        assert!(g.contains("[c0]null[b0];"), "{g}");
        assert!(g.contains("[c1]split=2[c1b][c1t];"), "{g}");
        assert!(g.contains("[c1b]trim=start_frame=0:end_frame=24,setpts=PTS-STARTPTS[b1];"), "{g}");
        assert!(g.contains("[c1t]trim=start_frame=24,setpts=PTS-STARTPTS[t1];"), "{g}");
        assert!(g.contains("[c2]split=3[c2h][c2b][c2t];"), "{g}");
        assert!(g.contains("[c2h]trim=end_frame=6[h2];"), "{g}");
        assert!(g.contains("[c2b]trim=start_frame=6:end_frame=24,setpts=PTS-STARTPTS[b2];"), "{g}");
        assert!(g.contains("[c3]split=2[c3h][c3b];"), "{g}");
        assert!(g.contains("[t1][h2]xfade=transition=fadeblack:duration=0.4:offset=0,format=yuv420p[x2];"), "{g}");
        assert!(g.contains("[t2][h3]xfade=transition=dissolve:duration=0.4:offset=0,format=yuv420p[x3];"), "{g}");
        // 30 + 24 + 6 + 18 + 6 + 24 = 108 frames = 7.2 s.
        assert!(g.contains("[b0][b1][x2][b2][x3][b3]concat=n=6:v=1:a=0[joined];"), "{g}");
        assert!(g.contains("[joined]split=3[vout][vt][vq];"), "{g}");
        assert!(g.contains("[vt]trim=start_frame=15:end_frame=16,setpts=PTS-STARTPTS[vthumb];"), "{g}");
        assert!(g.contains("anullsrc=r=48000:cl=stereo,atrim=duration=7.2[aout]"), "{g}");
    }

    #[test]
    fn every_clip_is_scaled_cropped_and_trimmed_to_whole_frames() {
        let g = graph(&[clip(1.5, Transition::Cut), clip(2.25, Transition::Cut)], None, None);
        // 1.5 s × 15 = 22.5 → 23 frames; 2.25 × 15 = 33.75 → 34 frames.
        assert!(g.contains(
            "[0:v]setpts=PTS-STARTPTS,fps=15,scale=360:640:force_original_aspect_ratio=increase,crop=360:640,setsar=1,\
             format=yuv420p,tpad=stop_mode=clone:stop_duration=1.533333,trim=end_frame=23,setpts=PTS-STARTPTS[c0];"
        ));
        assert!(g.contains("trim=end_frame=34,setpts=PTS-STARTPTS[c1];"));
        assert!(g.contains("[b0][b1]concat=n=2:v=1:a=0[joined];"));
        assert!(!g.contains("xfade"));
        assert!(g.contains("atrim=duration=3.8[aout]"), "57 frames / 15 fps: {g}");
    }

    #[test]
    fn transitions_never_eat_more_than_half_a_clip_and_a_single_clip_needs_no_join() {
        let s = RenderSettings { transition_seconds: 5.0, ..settings() };
        let tl = Timeline::new(
            &[clip(1.0, Transition::Cut), clip(2.0, Transition::Fade), clip(0.4, Transition::Dissolve)],
            &s,
        );
        assert_eq!(tl.frames, [15, 30, 6]);
        assert_eq!(tl.overlaps, [0, 7, 3]);
        assert_eq!(tl.total_frames(), 51 - 10);

        // A clip consumed entirely by its two transitions has no body piece.
        let clips = [clip(1.0, Transition::Cut), clip(14.0 / 15.0, Transition::Fade), clip(1.0, Transition::Dissolve)];
        let tl = Timeline::new(&clips, &s);
        assert_eq!(tl.overlaps, [0, 7, 7]);
        assert!(!tl.pieces().iter().any(|p| matches!(p, Piece::Body { clip: 1, .. })), "{:?}", tl.pieces());
        let g = graph_of(&tl, &s, None, None, 0.0);
        assert!(g.contains("[c1]split=2[c1h][c1t];"), "{g}");
        assert!(g.contains("[b0][x1][x2][b2]concat=n=4:v=1:a=0[joined];"), "{g}");

        // Whatever the durations and transitions, the pieces tile the timeline exactly.
        let kinds = [Transition::Cut, Transition::Fade, Transition::Dissolve];
        for transition_seconds in [0.0, 0.1, 0.5, 3.0] {
            let s = RenderSettings { transition_seconds, ..settings() };
            for seed in 0..200_usize {
                let clips: Vec<ClipInput> = (0..1 + seed % 6)
                    .map(|i| clip(0.05 + ((seed * 7 + i * 13) % 40) as f64 / 10.0, kinds[(seed + i) % 3]))
                    .collect();
                let tl = Timeline::new(&clips, &s);
                let pieces = tl.pieces();
                assert!(pieces.iter().all(|p| p.frames() > 0), "{pieces:?}");
                assert_eq!(pieces.iter().map(Piece::frames).sum::<u64>(), tl.total_frames(), "{clips:?}");
            }
        }

        let s = RenderSettings { transition_seconds: 0.0, ..settings() };
        let tl = Timeline::new(&[clip(1.0, Transition::Cut), clip(1.0, Transition::Fade)], &s);
        assert_eq!(tl.overlaps, [0, 0], "a zero-length transition is a cut");
        assert_eq!(tl.pieces().len(), 2);

        let g = graph(&[clip(2.0, Transition::Fade)], None, None);
        assert!(!g.contains("concat") && !g.contains("xfade"));
        assert!(g.contains("[c0]null[b0];\n[b0]split=3[vout][vt][vq];"), "{g}");
    }

    #[test]
    fn the_thumbnail_frame_is_clamped_into_the_video() {
        let s = RenderSettings { thumbnail_at_seconds: 60.0, ..settings() };
        let tl = Timeline::new(&[clip(1.0, Transition::Cut)], &s);
        let g = graph_of(&tl, &s, None, None, 0.0);
        assert!(g.contains("trim=start_frame=14:end_frame=15,"), "{g}");
    }

    #[test]
    fn audio_chains_for_every_combination_of_voice_and_music() {
        let clips = [clip(2.0, Transition::Cut)];
        let both = graph(&clips, Some(1), Some(2));
        assert!(both.contains("[1:a]aresample=48000,"), "{both}");
        assert!(both.contains("apad,atrim=duration=2,asetpts=PTS-STARTPTS,asplit=2[voice][key];"), "{both}");
        assert!(both.contains("[2:a]aresample=48000,"), "{both}");
        assert!(
            both.contains("volume=0.3,atrim=duration=2,asetpts=PTS-STARTPTS,afade=t=out:st=1.5:d=0.5[music];"),
            "{both}"
        );
        assert!(both.contains("[music][key]sidechaincompress="), "{both}");
        assert!(
            both.contains(
                "[voice][ducked]amix=inputs=2:duration=first:dropout_transition=0:normalize=0,volume=6dB,alimiter=limit=0.631:level=disabled:attack=5:release=50,aresample=48000[aout]"
            ),
            "{both}"
        );

        let voice = graph(&clips, Some(1), None);
        assert!(voice.contains("apad,atrim=duration=2,asetpts=PTS-STARTPTS,volume=6dB,alimiter=limit=0.631:level=disabled:attack=5:release=50,aresample=48000[aout]"), "{voice}");
        assert!(!voice.contains("sidechaincompress"));

        let music = graph(&clips, None, Some(1));
        assert!(music.contains("[1:a]") && music.contains("afade=t=out:st=1.5:d=0.5,volume=6dB,alimiter="), "{music}");

        let none = graph(&clips, None, None);
        assert!(none.contains("anullsrc=r=48000:cl=stereo,atrim=duration=2[aout]"));
        assert!(!none.contains("volume="), "silence cannot be normalised: {none}");

        let measured = audio_graph(Some(0), Some(1), 2.0, &settings(), AudioEnd::Measure { gain_db: -3.0 });
        assert!(measured.contains("normalize=0,volume=-3dB,alimiter="), "{measured}");
        assert!(measured.contains(",ebur128=framelog=verbose[aout]"), "{measured}");
        assert!(measured.contains("[0:a]") && measured.contains("[1:a]"), "{measured}");
        assert!(!none.contains(":a]"));
    }
}
