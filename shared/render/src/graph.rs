//! The pure half of the renderer: timeline arithmetic, overlay text layout, escaping and the
//! `-filter_complex_script` text. Nothing here touches the file system or spawns a process, so all
//! of it is unit-tested on strings.

use std::fmt::Write as _;
use std::path::Path;

use shortline_domain::{OverlayPosition, OverlayStyle, TextOverlay, Transition};

use super::{layout, ClipInput, RenderSettings, TRUE_PEAK_CEILING_DBTP};

/// Audio is mixed and encoded at this rate, in stereo.
pub(crate) const SAMPLE_RATE: u32 = 48_000;

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

fn to_frames(seconds: f64, fps: u32) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * f64::from(fps)).round() as u64
    } else {
        0
    }
}

/// Seconds as filter arguments want them: at most 6 decimals, no trailing zeros.
pub(crate) fn secs(value: f64) -> String {
    let s = format!("{value:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Escaping
// ---------------------------------------------------------------------------------------------

/// First layer: a value inside a filter's `key=value:key=value` option list
/// (`av_opt_set_from_string`): `\`, `'` and `:` are escaped with a backslash.
pub(crate) fn escape_option_value(value: &str) -> String {
    escape_chars(value, &['\\', '\'', ':'])
}

/// Second layer: a filter's whole argument string inside the filtergraph description
/// (`avfilter_graph_parse`): `\`, `'`, `[`, `]`, `,` and `;` are escaped with a backslash.
pub(crate) fn escape_filtergraph(value: &str) -> String {
    escape_chars(value, &['\\', '\'', '[', ']', ',', ';'])
}

/// A value as it must appear in the script: option layer first, then the filtergraph layer.
pub(crate) fn filter_arg(value: &str) -> String {
    escape_filtergraph(&escape_option_value(value))
}

fn escape_chars(value: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Overlays
// ---------------------------------------------------------------------------------------------

/// An overlay ready to draw: sanitised, wrapped text and its clamped time window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreparedOverlay {
    /// What goes into the overlay's text file (drawtext renders `\n` as a line break).
    pub text: String,
    pub start: f64,
    pub end: f64,
    pub position: OverlayPosition,
    pub style: OverlayStyle,
    pub font_size: u32,
    /// Whether captions are burnt in: a bottom overlay then ends above their band.
    pub above_captions: bool,
}

/// Font size in pixels per style, relative to the shorter side (so 16:9 does not get giant text).
pub(crate) fn font_size(style: OverlayStyle, settings: &RenderSettings) -> u32 {
    let base = f64::from(settings.width.min(settings.height));
    let factor = match style {
        OverlayStyle::Bold => 0.075,
        OverlayStyle::Highlight => 0.062,
        OverlayStyle::Normal => 0.056,
    };
    ((base * factor).round() as u32).max(8)
}

/// Sanitises, wraps and clamps the plan's overlays to the rendered timeline. Overlays with no
/// visible text or no time left on the timeline are dropped (drawtext refuses empty text).
pub(crate) fn prepare_overlays(
    overlays: &[TextOverlay],
    settings: &RenderSettings,
    total: f64,
) -> Vec<PreparedOverlay> {
    overlays
        .iter()
        .filter_map(|o| {
            let start = if o.start_seconds.is_finite() { o.start_seconds.max(0.0) } else { 0.0 };
            let end = if o.end_seconds.is_finite() { o.end_seconds.min(total) } else { total };
            if end - start < 1e-3 {
                return None;
            }
            let font_size = font_size(o.style, settings);
            // Inside the safe area, borders and boxes included.
            let edge = if o.style == OverlayStyle::Highlight {
                layout::overlay_box_padding(font_size)
            } else {
                layout::overlay_border(font_size)
            };
            let max_width = (layout::safe_width(settings) - f64::from(2 * edge)).max(f64::from(font_size));
            let text = wrap_text(&sanitize_text(&o.text), max_width / f64::from(font_size));
            if text.trim().is_empty() {
                return None;
            }
            Some(PreparedOverlay {
                text,
                start,
                end,
                position: o.position,
                style: o.style,
                font_size,
                above_captions: false,
            })
        })
        .collect()
}

/// Normalises line endings, turns tabs into spaces and drops other control characters.
pub(crate) fn sanitize_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' | '\r' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Approximate advance of a character in ems, on the wide side (measured on DejaVu Sans Bold), so
/// that wrapped lines do not overflow the frame.
fn char_em(c: char) -> f64 {
    match c {
        ' ' => 0.35,
        '.' | ',' | ':' | ';' | '\'' | '!' | '|' | 'i' | 'j' | 'l' | 'I' | 'J' => 0.42,
        'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '{' | '}' | '-' | '"' | '`' | '/' | '\\' => 0.55,
        'm' | 'w' | 'M' | 'W' | '%' | '@' => 1.05,
        c if c.is_ascii_lowercase() => 0.72,
        c if c.is_ascii_uppercase() || c.is_ascii_digit() => 0.8,
        c if c.is_ascii() => 0.85,
        c if c.is_alphabetic() && (c as u32) < 0x0250 => 0.8,
        _ => 1.1,
    }
}

pub(crate) fn text_em(text: &str) -> f64 {
    text.chars().map(char_em).sum()
}

/// Greedy word wrap to `max_em` ems per line; explicit newlines are kept, runs of spaces collapse,
/// and words longer than a line are broken.
pub(crate) fn wrap_text(text: &str, max_em: f64) -> String {
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let candidate = if line.is_empty() { text_em(word) } else { text_em(&line) + char_em(' ') + text_em(word) };
            if candidate <= max_em {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word alone: break it if it does not fit on a line of its own.
            for c in word.chars() {
                if !line.is_empty() && text_em(&line) + char_em(c) > max_em {
                    lines.push(std::mem::take(&mut line));
                }
                line.push(c);
            }
        }
        lines.push(line);
    }
    // Keep inner blank lines (the author asked for them) but not leading/trailing ones.
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    lines[first..].join("\n")
}

/// `gte(t,START)*lt(t,END)`: half-open, so back-to-back overlays never share a frame
/// (`between` includes both ends).
pub(crate) fn enable_expr(start: f64, end: f64) -> String {
    format!("gte(t,{})*lt(t,{})", secs(start), secs(end))
}

/// Fade in over `fade` seconds after `start` and out over the last `fade` seconds before `end`
/// (clamped to a third of the window). `None` when no fade applies.
pub(crate) fn alpha_expr(start: f64, end: f64, fade: f64) -> Option<String> {
    let fade = fade.min((end - start) / 3.0);
    if !(fade.is_finite() && fade >= 1e-3) {
        return None;
    }
    let (s, e, f) = (secs(start), secs(end), secs(fade));
    Some(format!("min(1,min((t-{s})/{f},({e}-t)/{f}))"))
}

/// One drawtext filter (without the leading `,`), its values escaped for the script.
pub(crate) fn drawtext(overlay: &PreparedOverlay, textfile: &Path, settings: &RenderSettings) -> String {
    let fs = overlay.font_size;
    // Inside the safe area (see `layout`): centred on its middle, clear of the action column.
    let y = match overlay.position {
        OverlayPosition::Top => format!("h*{}", secs(layout::SAFE_TOP + 0.02)),
        OverlayPosition::Center => "(h-text_h)/2".to_owned(),
        // Anchor the bottom edge so multi-line text grows upwards, clear of the platform's UI
        // and of the captions.
        OverlayPosition::Bottom => {
            format!("{}-text_h", secs(layout::overlay_bottom(fs, overlay.above_captions, settings).round()))
        }
    };
    let mut opts: Vec<(&str, String)> = vec![
        ("fontfile", settings.font_file.to_string_lossy().into_owned()),
        ("textfile", textfile.to_string_lossy().into_owned()),
        ("expansion", "none".to_owned()),
        ("fontsize", fs.to_string()),
        ("line_spacing", (fs / 4).to_string()),
        ("x", format!("w*{}-text_w/2", secs(layout::SAFE_CENTRE_X))),
        ("y", y),
    ];
    match overlay.style {
        OverlayStyle::Bold => opts.extend([
            ("fontcolor", "white".to_owned()),
            ("borderw", layout::overlay_border(fs).to_string()),
            ("bordercolor", "black".to_owned()),
            ("shadowcolor", "black@0.6".to_owned()),
            ("shadowx", (fs / 14).max(1).to_string()),
            ("shadowy", (fs / 14).max(1).to_string()),
        ]),
        OverlayStyle::Normal => opts.extend([
            ("fontcolor", "white".to_owned()),
            // As thick as bold's: a thin outline is lost on busy backgrounds.
            ("borderw", layout::overlay_border(fs).to_string()),
            ("bordercolor", "black".to_owned()),
        ]),
        OverlayStyle::Highlight => opts.extend([
            ("fontcolor", "black".to_owned()),
            ("box", "1".to_owned()),
            ("boxcolor", "0xFFD60A@0.92".to_owned()),
            ("boxborderw", layout::overlay_box_padding(fs).to_string()),
        ]),
    }
    opts.push(("enable", enable_expr(overlay.start, overlay.end)));
    if let Some(alpha) = alpha_expr(overlay.start, overlay.end, settings.overlay_fade_seconds) {
        opts.push(("alpha", alpha));
    }
    let args: Vec<String> = opts.into_iter().map(|(k, v)| format!("{k}={}", filter_arg(&v))).collect();
    format!("drawtext={}", args.join(":"))
}

// ---------------------------------------------------------------------------------------------
// The whole graph
// ---------------------------------------------------------------------------------------------

/// Everything the graph needs to know besides the settings.
pub(crate) struct GraphSpec<'a> {
    pub timeline: &'a Timeline,
    /// Overlays with the path of the file holding each one's text.
    pub overlays: &'a [(PreparedOverlay, &'a Path)],
    /// ffmpeg input index of the voiceover, if any (clips are inputs `0..n`).
    pub voice_input: Option<usize>,
    /// ffmpeg input index of the (endlessly looped) music, if any.
    pub music_input: Option<usize>,
    /// The gain that brings the mix to the loudness target ([`AudioEnd::Normalise`]).
    pub loudness_gain_db: f64,
    /// The ASS script of the captions to burn in, if any.
    pub captions: Option<&'a Path>,
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

    // 3. Overlays, then split off the thumbnail branch: just one frame, so the JPEG encoder's
    //    pixel format conversion runs once, not on every frame.
    let mut drawn: Vec<String> = spec.overlays.iter().map(|(o, path)| drawtext(o, path, settings)).collect();
    if let Some(script) = spec.captions {
        drawn.push(format!("ass=filename={}", filter_arg(&script.to_string_lossy())));
    }
    let thumb_frame = to_frames(settings.thumbnail_at_seconds, fps).min(tl.total_frames().saturating_sub(1));
    if drawn.is_empty() {
        let _ = writeln!(g, "{joined}split=3[vout][vt][vq];");
    } else {
        let _ = writeln!(g, "{joined}{},split=3[vout][vt][vq];", drawn.join(","));
    }
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

// ---------------------------------------------------------------------------------------------
// Music bed
// ---------------------------------------------------------------------------------------------

/// Seconds per chord of the default music bed; the loop is four chords long.
const CHORD_SECONDS: f64 = 2.0;
/// Seconds per loop of the default music bed.
pub(crate) const MUSIC_LOOP_SECONDS: f64 = CHORD_SECONDS * PROGRESSION.len() as f64;

/// I–V–vi–IV in C as (bass, three chord tones), in Hz.
const PROGRESSION: [[f64; 4]; 4] = [
    [130.81, 261.63, 329.63, 392.00], // C:  C3 | C4 E4 G4
    [98.00, 246.94, 293.66, 392.00],  // G:  G2 | B3 D4 G4
    [110.00, 261.63, 329.63, 440.00], // Am: A2 | C4 E4 A4
    [87.31, 261.63, 349.23, 440.00],  // F:  F2 | C4 F4 A4
];

/// The `aevalsrc` source of the default music bed: a soft I–V–vi–IV pad, each chord swelling in
/// and out over `CHORD_SECONDS` (silent at every chord boundary, so any whole number of loops
/// repeats without a click); the right channel is detuned a little for width. The chord index,
/// envelope and phases are computed once per sample with `st`/`ld` (aevalsrc is an interpreter).
pub(crate) fn music_bed_source(loops: u32) -> String {
    let loop_len = MUSIC_LOOP_SECONDS;
    let channel = |detune: f64| {
        let mut e = format!(
            "st(0,floor(mod(t,{})/{c}));st(1,0.16*sin(PI*mod(t,{c})/{c}));",
            secs(loop_len),
            c = secs(CHORD_SECONDS)
        );
        let mut sum = Vec::new();
        for v in 0..4 {
            let freq: Vec<String> = PROGRESSION
                .iter()
                .enumerate()
                .map(|(k, notes)| {
                    let f = if v == 0 { notes[v] } else { notes[v] * detune };
                    format!("{}*eq(ld(0),{k})", secs(f))
                })
                .collect();
            let var = v + 2;
            e.push_str(&format!("st({var},2*PI*t*({}));", freq.join("+")));
            // A touch of second harmonic makes the sine pad less glassy; the bass is louder.
            let gain = if v == 0 { "0.9" } else { "0.55" };
            sum.push(format!("{gain}*(sin(ld({var}))+0.25*sin(2*ld({var})))"));
        }
        e.push_str(&format!("ld(1)*({})", sum.join("+")));
        e
    };
    let exprs = format!("{}|{}", channel(1.0), channel(1.004));
    // One loop is computed; `aloop` repeats it from memory for the rest.
    format!(
        "aevalsrc=exprs={}:s={SAMPLE_RATE}:c=stereo:d={},lowpass=f=3200,aloop=loop={}:size={}",
        filter_arg(&exprs),
        secs(loop_len),
        loops.max(1) - 1,
        (loop_len * f64::from(SAMPLE_RATE)).round() as u64,
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn settings() -> RenderSettings {
        RenderSettings {
            width: 360,
            height: 640,
            fps: 15,
            x264_preset: "ultrafast".into(),
            crf: 30,
            font_file: PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
            music_volume: 0.3,
            thumbnail_at_seconds: 1.0,
            transition_seconds: 0.4,
            overlay_fade_seconds: 0.3,
        }
    }

    fn clip(seconds: f64, transition: Transition) -> ClipInput {
        ClipInput { path: PathBuf::from(format!("/clips/{seconds}.mp4")), duration_seconds: seconds, transition }
    }

    fn graph(clips: &[ClipInput], voice: Option<usize>, music: Option<usize>) -> String {
        let s = settings();
        let tl = Timeline::new(clips, &s);
        build_filtergraph(
            &GraphSpec {
                timeline: &tl,
                overlays: &[],
                voice_input: voice,
                music_input: music,
                loudness_gain_db: 6.0,
                captions: None,
            },
            &s,
        )
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
        let g = build_filtergraph(
            &GraphSpec {
                timeline: &tl,
                overlays: &[],
                voice_input: None,
                music_input: None,
                loudness_gain_db: 0.0,
                captions: None,
            },
            &s,
        );
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
        let g = build_filtergraph(
            &GraphSpec {
                timeline: &tl,
                overlays: &[],
                voice_input: None,
                music_input: None,
                loudness_gain_db: 0.0,
                captions: None,
            },
            &s,
        );
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

    #[test]
    fn escaping_covers_both_layers() {
        assert_eq!(escape_option_value(r"a\b'c:d,e"), r"a\\b\'c\:d,e");
        assert_eq!(escape_filtergraph(r"a\b'c[d]e,f;g:h"), r"a\\b\'c\[d\]e\,f\;g:h");
        // Option layer first, then the graph layer escapes the option layer's backslashes again.
        assert_eq!(filter_arg(r"it's: 50% [a,b]; c\d"), r"it\\\'s\\: 50% \[a\,b\]\; c\\\\d");
        assert_eq!(filter_arg("gte(t,1)*lt(t,2)"), r"gte(t\,1)*lt(t\,2)");
        assert_eq!(filter_arg("/tmp/plain/path.txt"), "/tmp/plain/path.txt");
    }

    #[test]
    fn enable_is_half_open_and_alpha_fades_in_and_out() {
        assert_eq!(enable_expr(1.5, 3.0), "gte(t,1.5)*lt(t,3)");
        assert_eq!(alpha_expr(1.5, 3.0, 0.3).as_deref(), Some("min(1,min((t-1.5)/0.3,(3-t)/0.3))"));
        assert_eq!(alpha_expr(0.0, 0.3, 0.3).as_deref(), Some("min(1,min((t-0)/0.1,(0.3-t)/0.1))"));
        assert_eq!(alpha_expr(0.0, 1.0, 0.0), None);
    }

    #[test]
    fn drawtext_reads_a_text_file_with_explicit_font_and_no_expansion() {
        let s = settings();
        let o = PreparedOverlay {
            text: "x".into(),
            start: 0.5,
            end: 2.0,
            position: OverlayPosition::Bottom,
            style: OverlayStyle::Highlight,
            font_size: 22,
            above_captions: false,
        };
        let d = drawtext(&o, Path::new("/tmp/we'ird: dir, [x]/overlay-0.txt"), &s);
        assert!(d.starts_with("drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf:"), "{d}");
        assert!(d.contains(r"textfile=/tmp/we\\\'ird\\: dir\, \[x\]/overlay-0.txt:"), "{d}");
        assert!(d.contains(":expansion=none:"), "{d}");
        assert!(d.contains(":box=1:boxcolor=0xFFD60A@0.92:"), "{d}");
        // The bottom of the safe area (80 % of 640) less half a font size.
        assert!(d.contains(r":y=501-text_h:"), "{d}");
        let above = drawtext(&PreparedOverlay { above_captions: true, ..o.clone() }, Path::new("/t"), &s);
        let band_top = layout::caption_band(&s).0;
        assert!(above.contains(&format!(":y={}-text_h:", (band_top - 11.0).round())), "{above}");
        assert!(d.contains(r":enable=gte(t\,0.5)*lt(t\,2):"), "{d}");
        assert!(d.contains(r":alpha=min(1\,min((t-0.5)/0.3\,(2-t)/0.3))"), "{d}");
        assert!(!d.contains("between"));

        let top = drawtext(
            &PreparedOverlay { position: OverlayPosition::Top, style: OverlayStyle::Bold, ..o.clone() },
            Path::new("/t"),
            &s,
        );
        assert!(top.contains(":y=h*0.12:") && top.contains(":borderw=") && !top.contains("box=1"), "{top}");
        let centre = drawtext(&PreparedOverlay { position: OverlayPosition::Center, ..o }, Path::new("/t"), &s);
        assert!(centre.contains(":y=(h-text_h)/2:") && centre.contains(":x=w*0.45-text_w/2:"), "{centre}");
    }

    #[test]
    fn overlays_are_sanitised_wrapped_and_clamped() {
        let s = settings();
        let overlay = |text: &str, start: f64, end: f64| TextOverlay {
            text: text.into(),
            start_seconds: start,
            end_seconds: end,
            position: OverlayPosition::Top,
            style: OverlayStyle::Normal,
        };
        let prepared = prepare_overlays(
            &[
                overlay("a\r\nb\tc\u{7}", 0.0, 1.0),
                overlay("  \n ", 0.0, 1.0),
                overlay("late", 5.0, 6.0),
                overlay("clamped", 3.0, 9.0),
            ],
            &s,
            4.0,
        );
        assert_eq!(prepared.len(), 2, "{prepared:?}");
        assert_eq!(prepared[0].text, "a\nb c");
        assert_eq!((prepared[1].start, prepared[1].end), (3.0, 4.0));
    }

    #[test]
    fn wrapping_keeps_lines_within_the_width() {
        let wrapped = wrap_text("the quick brown fox jumps over the lazy dog", 8.0);
        assert_eq!(wrapped, "the quick\nbrown fox\njumps over\nthe lazy dog");
        for line in wrapped.lines() {
            assert!(text_em(line) <= 8.0, "{line}");
        }
        assert_eq!(wrap_text("line one\n\nline three", 40.0), "line one\n\nline three");
        assert_eq!(wrap_text("\n\nx\n", 40.0), "x");
        // A word longer than a line is broken.
        let long = wrap_text("SUPERCALIFRAGILISTIC", 5.0);
        assert!(long.lines().count() > 1 && long.lines().all(|l| text_em(l) <= 5.0), "{long}");
        // The default 1080-wide bold overlay fits an all-caps hook on a few lines.
        let s = RenderSettings { width: 1080, height: 1920, ..settings() };
        let fs = font_size(OverlayStyle::Bold, &s);
        let max = layout::safe_width(&s) / f64::from(fs);
        let hook = wrap_text("STOP SCROLLING: THIS CHANGES EVERYTHING", max);
        assert!(hook.lines().all(|l| text_em(l) * f64::from(fs) <= layout::safe_width(&s)), "{hook}");
    }

    #[test]
    fn secs_prints_short_exact_numbers() {
        assert_eq!(secs(2.0), "2");
        assert_eq!(secs(0.4), "0.4");
        assert_eq!(secs(22.0 / 15.0), "1.466667");
        assert_eq!(secs(0.0), "0");
        assert_eq!(secs(-0.0000001), "0");
    }

    #[test]
    fn the_music_bed_source_is_one_escaped_filter_chain() {
        let src = music_bed_source(3);
        assert!(src.starts_with("aevalsrc=exprs="));
        assert!(src.ends_with(":s=48000:c=stereo:d=8,lowpass=f=3200,aloop=loop=2:size=384000"), "{src}");
        // Commas and semicolons inside the expressions are escaped; the only unescaped separators
        // join lowpass and aloop.
        let unescaped = src.match_indices([',', ';']).filter(|(i, _)| !src[..*i].ends_with('\\')).count();
        assert_eq!(unescaped, 2, "{src}");
        assert_eq!(src.matches('|').count(), 1, "two channels");
    }
}
