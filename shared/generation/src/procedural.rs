//! `ProceduralClips`: the offline clip provider. One ffmpeg run per scene renders a moving
//! picture from lavfi sources, chosen and parameterised by the SHA-256 of the scene's visual
//! prompt, so different prompts look different and the same prompt always looks the same.
//!
//! A clip is: a pattern (`gradients`, `mandelbrot`, `life`, `cellauto`, `sierpinski`, or a
//! `geq` plasma / spiral field) with hash-chosen colours, rule, seed and speed, rendered at a
//! reduced "work" size where the pattern is costly and scaled to the target; then a slow
//! `zoompan` (zoom in or out towards a drifting focus point) and a `hue` drift so every clip
//! moves; H.264 yuv420p in MP4, no audio, `ceil(seconds * fps)` frames. The prompt never enters
//! the filtergraph — only numbers derived from its hash do — so no escaping is involved.
//!
//! Determinism: every random source gets an explicit seed, x264 runs with a fixed thread count
//! and the muxer in bitexact mode, so the same prompt and target give the same bytes with the
//! same ffmpeg build (a different ffmpeg/x264 build may encode differently, the picture stays
//! the same).
//!
//! One concept in one file (a little over ~700 lines): the patterns, their parameters and their
//! ffmpeg graphs belong together.

use std::ffi::OsString;
use std::fmt;

use sha2::{Digest, Sha256};
use shortline_domain::Scene;
use tokio_util::sync::CancellationToken;

use super::output::{commit, partial, size_and_sha256};
use super::probe::probe;
use super::process::Tool;
use super::{ClipProvider, ClipTarget, GeneratedFile, MediaError, MediaFuture};

/// Bumped whenever a prompt's picture changes; part of the hash input and of the model name.
pub const RECIPE_VERSION: &str = "procedural-v1";

/// The pattern family a prompt selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pattern {
    Gradients,
    Mandelbrot,
    Life,
    CellularAutomaton,
    Sierpinski,
    Plasma,
    Spiral,
}

impl Pattern {
    pub const ALL: [Pattern; 7] = [
        Pattern::Gradients,
        Pattern::Mandelbrot,
        Pattern::Life,
        Pattern::CellularAutomaton,
        Pattern::Sierpinski,
        Pattern::Plasma,
        Pattern::Spiral,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Gradients => "gradients",
            Pattern::Mandelbrot => "mandelbrot",
            Pattern::Life => "life",
            Pattern::CellularAutomaton => "cellauto",
            Pattern::Sierpinski => "sierpinski",
            Pattern::Plasma => "plasma",
            Pattern::Spiral => "spiral",
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything ffmpeg is told for one clip; a pure function of (prompt, width, height, fps, seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipRecipe {
    pub pattern: Pattern,
    /// `ceil(seconds * fps)`: the clip is never shorter than asked, and at most one frame longer.
    pub frames: u32,
    /// The `-filter_complex` graph, ending in the `[v]` label.
    pub filtergraph: String,
}

/// Offline clip provider rendering procedural motion graphics with ffmpeg.
#[derive(Debug, Clone)]
pub struct ProceduralClips {
    ffmpeg: Tool,
    ffprobe: Tool,
    preset: String,
    crf: u8,
    threads: u32,
}

impl Default for ProceduralClips {
    fn default() -> Self {
        Self::new()
    }
}

impl ProceduralClips {
    /// `ffmpeg`/`ffprobe` from `PATH`, x264 `veryfast` CRF 23 on 2 threads.
    pub fn new() -> Self {
        Self { ffmpeg: Tool::ffmpeg(), ffprobe: Tool::ffprobe(), preset: "veryfast".into(), crf: 23, threads: 2 }
    }

    pub fn with_tools(mut self, ffmpeg: Tool, ffprobe: Tool) -> Self {
        self.ffmpeg = ffmpeg;
        self.ffprobe = ffprobe;
        self
    }

    /// x264 preset (`ultrafast` for tests, `veryfast` by default).
    pub fn with_preset(mut self, preset: impl Into<String>) -> Self {
        self.preset = preset.into();
        self
    }

    pub fn with_crf(mut self, crf: u8) -> Self {
        self.crf = crf.min(51);
        self
    }

    /// x264 threads. Fixed (not "auto") so the bytes do not depend on the machine's core count.
    pub fn with_threads(mut self, threads: u32) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The recipe a prompt gets at a target size; pure and deterministic.
    pub fn recipe(prompt: &str, target: &ClipTarget) -> Result<ClipRecipe, MediaError> {
        validate(target)?;
        Ok(build_recipe(prompt, target.width, target.height, target.fps, frame_count(target.seconds, target.fps)))
    }

    fn ffmpeg_args(&self, recipe: &ClipRecipe, out: &std::path::Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::with_capacity(40);
        let mut push = |s: &str| args.push(OsString::from(s));
        for a in ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-filter_complex"] {
            push(a);
        }
        push(&recipe.filtergraph);
        for a in ["-map", "[v]", "-frames:v"] {
            push(a);
        }
        push(&recipe.frames.to_string());
        for a in ["-an", "-c:v", "libx264", "-preset"] {
            push(a);
        }
        push(&self.preset);
        push("-crf");
        push(&self.crf.to_string());
        push("-threads");
        push(&self.threads.to_string());
        for a in
            ["-pix_fmt", "yuv420p", "-flags:v", "+bitexact", "-fflags", "+bitexact", "-map_metadata", "-1", "-f", "mp4"]
        {
            push(a);
        }
        args.push(out.as_os_str().to_owned());
        args
    }

    async fn render(
        &self,
        scene: &Scene,
        target: &ClipTarget,
        cancel: &CancellationToken,
    ) -> Result<GeneratedFile, MediaError> {
        let recipe = Self::recipe(&scene.visual_prompt, target)?;
        let partial = partial(&target.out_path)?;
        tracing::debug!(scene = scene.number, pattern = %recipe.pattern, frames = recipe.frames, "rendering procedural clip");
        self.ffmpeg.run(&self.ffmpeg_args(&recipe, partial.path()), cancel).await?;

        let probed = probe(&self.ffprobe, partial.path(), cancel).await?;
        let bad = |reason: String| MediaError::invalid_output(partial.dest(), reason);
        let video = probed.video.as_ref().ok_or_else(|| bad("no video stream".into()))?;
        if video.codec != "h264" || video.pix_fmt != "yuv420p" {
            return Err(bad(format!("{} {} instead of h264 yuv420p", video.codec, video.pix_fmt)));
        }
        if (video.width, video.height) != (target.width, target.height) {
            return Err(bad(format!("{}x{} instead of {}x{}", video.width, video.height, target.width, target.height)));
        }
        let expected = f64::from(recipe.frames) / f64::from(target.fps);
        if (probed.duration_seconds - expected).abs() > 0.5 / f64::from(target.fps) {
            return Err(bad(format!("{} s instead of {expected} s", probed.duration_seconds)));
        }
        let (size_bytes, sha256) = size_and_sha256(partial.path()).await?;
        if cancel.is_cancelled() {
            return Err(MediaError::Cancelled);
        }
        let path = commit(partial).await?;
        Ok(GeneratedFile {
            path,
            duration_seconds: probed.duration_seconds,
            size_bytes,
            sha256,
            provider: "procedural".into(),
            model: format!("{RECIPE_VERSION}/{}", recipe.pattern),
            cost_micros: 0,
            word_timings: None,
        })
    }
}

impl ClipProvider for ProceduralClips {
    fn name(&self) -> &str {
        "procedural"
    }

    fn render_clip<'a>(
        &'a self,
        scene: &'a Scene,
        target: &'a ClipTarget,
        cancel: &'a CancellationToken,
    ) -> MediaFuture<'a, GeneratedFile> {
        Box::pin(self.render(scene, target, cancel))
    }
}

pub fn validate(target: &ClipTarget) -> Result<(), MediaError> {
    let bad = |m: String| Err(MediaError::InvalidRequest(m));
    if !(16..=4096).contains(&target.width) || !(16..=4096).contains(&target.height) {
        return bad(format!("frame size {}x{} outside 16..=4096", target.width, target.height));
    }
    if !target.width.is_multiple_of(2) || !target.height.is_multiple_of(2) {
        return bad(format!("frame size {}x{} must be even for yuv420p", target.width, target.height));
    }
    if !(1..=120).contains(&target.fps) {
        return bad(format!("{} fps outside 1..=120", target.fps));
    }
    if !(target.seconds.is_finite() && target.seconds > 0.0 && target.seconds <= 600.0) {
        return bad(format!("{} s outside (0, 600]", target.seconds));
    }
    Ok(())
}

/// `ceil(seconds * fps)`, tolerant of float noise (2.0 s at 30 fps is 60 frames, not 61).
pub fn frame_count(seconds: f64, fps: u32) -> u32 {
    let exact = seconds * f64::from(fps);
    ((exact - 1e-6).ceil().max(1.0)) as u32
}

/// A byte stream derived from the prompt: SHA-256 in counter mode over the prompt's digest.
struct PromptRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    pos: usize,
}

impl PromptRng {
    fn new(prompt: &str) -> Self {
        let mut h = Sha256::new();
        h.update(RECIPE_VERSION.as_bytes());
        h.update([0u8]);
        h.update(prompt.as_bytes());
        let seed: [u8; 32] = h.finalize().into();
        Self { seed, counter: 0, block: seed, pos: 0 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.pos + 4 > self.block.len() {
            self.counter += 1;
            let mut h = Sha256::new();
            h.update(self.seed);
            h.update(self.counter.to_le_bytes());
            self.block = h.finalize().into();
            self.pos = 0;
        }
        let b = &self.block[self.pos..self.pos + 4];
        self.pos += 4;
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        f64::from(self.next_u32()) / 4_294_967_296.0
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn index(&mut self, n: usize) -> usize {
        ((u64::from(self.next_u32()) * n as u64) >> 32) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    fn sign(&mut self) -> f64 {
        if self.next_u32() & 1 == 0 {
            1.0
        } else {
            -1.0
        }
    }
}

/// A number for an ffmpeg expression: fixed decimals (stable text), negatives parenthesised.
fn num(x: f64) -> String {
    let s = format!("{x:.5}");
    if x < 0.0 {
        format!("({s})")
    } else {
        s
    }
}

fn hsv(h: f64, s: f64, v: f64) -> [u8; 3] {
    let h = h.rem_euclid(360.0) / 60.0;
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r, g, b].map(|ch| ((ch + m) * 255.0).round().clamp(0.0, 255.0) as u8)
}

fn hex_colour(c: [u8; 3]) -> String {
    format!("0x{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// A small harmonious palette: `n` bright colours around a base hue and one dark background.
fn palette(rng: &mut PromptRng, n: usize) -> (Vec<[u8; 3]>, [u8; 3]) {
    palette_spread(rng, n, &[25.0, 40.0, 120.0, 150.0, 180.0])
}

/// [`palette`] with a choice of hue steps between the bright colours.
fn palette_spread(rng: &mut PromptRng, n: usize, spreads: &[f64]) -> (Vec<[u8; 3]>, [u8; 3]) {
    let base = rng.range(0.0, 360.0);
    let spread = rng.pick(spreads);
    let bright = (0..n)
        .map(|i| hsv(base + spread * i as f64 + rng.range(-12.0, 12.0), rng.range(0.55, 0.95), rng.range(0.7, 1.0)))
        .collect();
    let dark = hsv(base + rng.range(150.0, 210.0), rng.range(0.4, 0.9), rng.range(0.06, 0.22));
    (bright, dark)
}

/// An even size `divisor` times smaller than the target, at least 16x16 (the costly sources
/// render there; the result is scaled up).
fn work_size(width: u32, height: u32, divisor: u32) -> (u32, u32) {
    let even = |v: u32| ((v / divisor).max(16) + 1) & !1;
    (even(width), even(height))
}

/// `lutrgb` mapping a black-and-white picture to two colours.
fn two_tone(on: [u8; 3], off: [u8; 3]) -> String {
    let ch = |i: usize| format!("'if(gt(val,127),{},{})'", on[i], off[i]);
    format!("format=rgb24,lutrgb=r={}:g={}:b={}", ch(0), ch(1), ch(2))
}

fn build_recipe(prompt: &str, width: u32, height: u32, fps: u32, frames: u32) -> ClipRecipe {
    let mut rng = PromptRng::new(prompt);
    let pattern = rng.pick(&Pattern::ALL);
    let (w, h) = (width, height);
    let seed = rng.next_u32();
    let mut hue_base = 0.0;
    let source = match pattern {
        Pattern::Gradients => {
            let (ws, hs) = work_size(w, h, 4);
            let n = 2 + rng.index(3);
            let (colours, _) = palette_spread(&mut rng, n, &[70.0, 120.0, 150.0, 180.0]);
            let cs: String = colours.iter().enumerate().map(|(i, c)| format!(":c{i}={}", hex_colour(*c))).collect();
            let kind = rng.pick(&["linear", "radial", "circular", "spiral"]);
            let speed = rng.range(0.005, 0.03);
            format!(
                "gradients=s={ws}x{hs}:r={fps}{cs}:n={n}:seed={seed}:speed={speed:.4}:type={kind},scale={w}:{h}:flags=bicubic"
            )
        }
        Pattern::Mandelbrot => {
            const POINTS: [(f64, f64); 8] = [
                (-0.743_643_887, 0.131_825_904),
                (-0.75, 0.1),
                (-0.159_2, -1.031_7),
                (0.254_987, -0.000_568),
                (-1.768_778_833, -0.001_738_996),
                (0.001_643_721_97, -0.822_467_633),
                (-1.250_66, 0.020_12),
                (-0.235_125, 0.827_215),
            ];
            let (ws, hs) = work_size(w, h, 4);
            let (x, y) = rng.pick(&POINTS);
            let start_scale = rng.range(1.2, 3.0);
            let end_scale = start_scale / rng.range(1.5, 6.0);
            let maxiter = rng.pick(&[192, 256, 384]);
            let outer = rng.pick(&["iteration_count", "normalized_iteration_count"]);
            let inner = rng.pick(&["black", "period", "convergence", "mincol"]);
            hue_base = rng.range(0.0, 360.0);
            format!(
                "mandelbrot=s={ws}x{hs}:r={fps}:maxiter={maxiter}:start_x={x}:start_y={y}:start_scale={start_scale:.4}\
                 :end_scale={end_scale:.4}:end_pts={frames}:outer={outer}:inner={inner},scale={w}:{h}:flags=bicubic"
            )
        }
        Pattern::Life => {
            let cell = (f64::from(w) / rng.pick(&[180.0, 135.0, 108.0, 90.0, 72.0])).round().max(2.0);
            let (cw, ch) = ((f64::from(w) / cell).ceil() as u32, (f64::from(h) / cell).ceil() as u32);
            let rule = rng.pick(&["B3/S23", "B36/S23", "B3678/S34678", "B368/S245", "B3/S12345", "B37/S23", "B34/S34"]);
            let ratio = rng.range(0.2, 0.5);
            let gens = rng.pick(&[5u32, 8, 10, 15]).min(fps);
            let mold = rng.pick(&[0u32, 8, 16, 32]);
            let (colours, dark) = palette(&mut rng, 2);
            format!(
                "life=s={cw}x{ch}:r={gens}:rule={rule}:ratio={ratio:.4}:seed={seed}:stitch=1:mold={mold}\
                 :life_color={}:death_color={}:mold_color={},fps={fps},scale={w}:{h}:flags=neighbor",
                hex_colour(colours[0]),
                hex_colour(dark),
                hex_colour(colours[1]),
            )
        }
        Pattern::CellularAutomaton => {
            const RULES: [u32; 16] = [18, 22, 26, 30, 45, 57, 60, 73, 86, 89, 90, 105, 110, 126, 150, 182];
            let cell = (f64::from(w) / rng.pick(&[180.0, 135.0, 108.0, 90.0])).round().max(2.0);
            let (cw, ch) = ((f64::from(w) / cell).ceil() as u32, (f64::from(h) / cell).ceil() as u32);
            let rule = rng.pick(&RULES);
            let ratio = rng.range(0.3, 0.7);
            let rows = rng.pick(&[10u32, 15, 20, 30]).min(fps);
            let (colours, dark) = palette(&mut rng, 1);
            format!(
                "cellauto=s={cw}x{ch}:r={rows}:rule={rule}:ratio={ratio:.4}:seed={seed}:scroll=1:full=1:stitch=1,fps={fps},{},\
                 scale={w}:{h}:flags=neighbor",
                two_tone(colours[0], dark)
            )
        }
        Pattern::Sierpinski => {
            let (ws, hs) = work_size(w, h, 2);
            let kind = rng.pick(&["carpet", "triangle"]);
            let jump = rng.pick(&[20u32, 50, 100, 200]);
            let (colours, dark) = palette(&mut rng, 1);
            format!(
                "sierpinski=s={ws}x{hs}:r={fps}:seed={seed}:jump={jump}:type={kind},{},scale={w}:{h}:flags=bicubic",
                two_tone(colours[0], dark)
            )
        }
        Pattern::Plasma | Pattern::Spiral => {
            // A scalar field F(X, Y, T) evaluated once per pixel (`geq` on one gray plane, at a
            // small work size: it is the costliest source), then coloured by a cosine palette
            // through a lookup table and scaled up (the field is smooth).
            let (ws, hs) = work_size(w, h, 8);
            let (fw, fh) = (f64::from(ws), f64::from(hs));
            let tau = std::f64::consts::TAU;
            let (cx, cy) = (fw * rng.range(0.25, 0.75), fh * rng.range(0.25, 0.75));
            let field = if pattern == Pattern::Plasma {
                let k = |rng: &mut PromptRng| tau * rng.range(0.4, 2.5) / fw;
                let w_ = |rng: &mut PromptRng| rng.sign() * rng.range(0.4, 2.0);
                let angle = rng.range(0.0, std::f64::consts::PI);
                format!(
                    "(sin(X*{}+T*{}+{})+sin(Y*{}+T*{})+sin(hypot(X-{},Y-{})*{}+T*{})+sin((X*{}+Y*{})*{}+T*{}))*{}",
                    num(k(&mut rng)),
                    num(w_(&mut rng)),
                    num(rng.range(0.0, tau)),
                    num(k(&mut rng)),
                    num(w_(&mut rng)),
                    num(cx),
                    num(cy),
                    num(k(&mut rng)),
                    num(w_(&mut rng)),
                    num(angle.cos()),
                    num(angle.sin()),
                    num(k(&mut rng)),
                    num(w_(&mut rng)),
                    num(rng.range(0.5, 1.2)),
                )
            } else {
                let arms = rng.index(6) as f64;
                format!(
                    "hypot(X-{cx},Y-{cy})*{}+atan2(Y-{cy},X-{cx})*{}+T*{}+{}*sin(Y*{}+T*{})",
                    num(tau * rng.range(3.0, 9.0) / fw),
                    num(rng.sign() * arms),
                    num(rng.sign() * rng.range(1.5, 4.0)),
                    num(rng.range(0.0, 1.2)),
                    num(tau * rng.range(0.5, 2.0) / fh),
                    num(rng.range(0.3, 1.5)),
                    cx = num(cx),
                    cy = num(cy),
                )
            };
            // Cosine palette over the 0..=255 band: channel = 128 + 127 * cos(val * k + phase).
            let k = tau * rng.range(0.5, 1.5) / 255.0;
            let phase0 = rng.range(0.0, tau);
            let spread = rng.range(0.4, 2.1);
            let ch = |i: f64| format!("'128+127*cos(val*{}+{})'", num(k), num(phase0 + spread * i));
            format!(
                "nullsrc=s={ws}x{hs}:r={fps},format=gray,geq=lum='127.5+127.5*sin({field})',format=rgb24,\
                 lutrgb=r={}:g={}:b={},scale={w}:{h}:flags=bicubic",
                ch(0.0),
                ch(1.0),
                ch(2.0)
            )
        }
    };

    // Motion shared by every pattern: slow zoom in or out towards a drifting focus, hue drift.
    let amount = rng.range(0.06, 0.18);
    let (z0, z1) = if rng.next_u32() & 1 == 0 { (1.0, 1.0 + amount) } else { (1.0 + amount, 1.0) };
    let (fx0, fx1, fy0, fy1) = (rng.range(0.2, 0.8), rng.range(0.2, 0.8), rng.range(0.2, 0.8), rng.range(0.2, 0.8));
    let last = f64::from(frames.saturating_sub(1).max(1));
    let seconds = f64::from(frames) / f64::from(fps);
    let drift = rng.sign() * rng.range(10.0, 45.0);
    let saturation = rng.range(1.0, 1.25);
    let lerp = |a: f64, b: f64| format!("({}+{}*on/{last})", num(a), num(b - a));
    let filtergraph = format!(
        "{source},setsar=1,zoompan=z='{}':x='{}*(iw-iw/zoom)':y='{}*(ih-ih/zoom)':d=1:s={w}x{h}:fps={fps},\
         hue=h='{}+{}*t/{}':s={saturation:.3},format=yuv420p[v]",
        lerp(z0, z1),
        lerp(fx0, fx1),
        lerp(fy0, fy1),
        num(hue_base),
        num(drift),
        num(seconds),
    );
    ClipRecipe { pattern, frames, filtergraph }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use shortline_domain::Transition;

    use super::*;
    use crate::probe::ffprobe_duration;

    fn target(out: PathBuf, seconds: f64) -> ClipTarget {
        ClipTarget { width: 180, height: 320, fps: 10, seconds, out_path: out }
    }

    fn scene(prompt: &str) -> Scene {
        Scene { number: 1, duration_seconds: 1.0, visual_prompt: prompt.into(), transition: Transition::Cut }
    }

    fn clips() -> ProceduralClips {
        ProceduralClips::new().with_preset("ultrafast")
    }

    /// Frame `n` decoded to raw RGB.
    fn frame(path: &Path, n: u32) -> Vec<u8> {
        let out = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .expect("ffmpeg runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout.len(), 180 * 320 * 3);
        out.stdout
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn recipes_are_deterministic_and_distinct_per_prompt() {
        let t = target(PathBuf::from("x.mp4"), 2.0);
        let a = ProceduralClips::recipe("a neon city at night", &t).expect("recipe");
        assert_eq!(a, ProceduralClips::recipe("a neon city at night", &t).expect("recipe"));
        let prompts: Vec<String> = (0..200).map(|i| format!("scene {i}: product close-up")).collect();
        let recipes: Vec<ClipRecipe> =
            prompts.iter().map(|p| ProceduralClips::recipe(p, &t).expect("recipe")).collect();
        let graphs: HashSet<&str> = recipes.iter().map(|r| r.filtergraph.as_str()).collect();
        assert_eq!(graphs.len(), prompts.len(), "every prompt has its own picture");
        let patterns: HashSet<Pattern> = recipes.iter().map(|r| r.pattern).collect();
        assert_eq!(patterns.len(), Pattern::ALL.len(), "every pattern family is used");
        assert!(recipes.iter().all(|r| r.frames == 20 && r.filtergraph.ends_with("format=yuv420p[v]")));
    }

    #[test]
    fn frame_counts_round_up_but_not_on_float_noise() {
        assert_eq!(frame_count(2.0, 30), 60);
        assert_eq!(frame_count(0.1 * 3.0, 10), 3);
        assert_eq!(frame_count(2.37, 30), 72);
        assert_eq!(frame_count(0.001, 30), 1);
    }

    #[test]
    fn impossible_targets_are_refused() {
        for (w, h, fps, s) in
            [(181, 320, 10, 1.0), (180, 320, 0, 1.0), (180, 320, 10, 0.0), (8, 8, 10, 1.0), (180, 320, 10, f64::NAN)]
        {
            let t = ClipTarget { width: w, height: h, fps, seconds: s, out_path: PathBuf::from("x.mp4") };
            assert!(
                matches!(ProceduralClips::recipe("p", &t), Err(MediaError::InvalidRequest(_))),
                "{w}x{h} {fps} {s}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_pattern_renders_a_moving_clip_of_the_right_length() {
        // One prompt per pattern family, found by trying prompts.
        let dir = tempfile::tempdir().expect("tempdir");
        let t = target(dir.path().join("probe.mp4"), 1.0);
        let mut by_pattern = std::collections::BTreeMap::new();
        for i in 0.. {
            let prompt = format!("pattern search {i}");
            let pattern = ProceduralClips::recipe(&prompt, &t).expect("recipe").pattern;
            by_pattern.entry(pattern.as_str()).or_insert(prompt);
            if by_pattern.len() == Pattern::ALL.len() {
                break;
            }
        }
        let cancel = CancellationToken::new();
        for (pattern, prompt) in by_pattern {
            let t = target(dir.path().join(format!("{pattern}.mp4")), 1.5);
            let file = clips().render_clip(&scene(&prompt), &t, &cancel).await.expect("renders");
            assert_eq!(file.model, format!("{RECIPE_VERSION}/{pattern}"));
            assert!((file.duration_seconds - 1.5).abs() < 1e-3, "{pattern}: {}", file.duration_seconds);
            assert!((ffprobe_duration(&file.path) - 1.5).abs() < 1e-3, "{pattern}");
            let (first, last) = (frame(&file.path, 0), frame(&file.path, 14));
            assert_ne!(sha(&first), sha(&last), "{pattern} moves");
            let distinct: HashSet<&[u8]> = first.chunks(3).collect();
            assert!(distinct.len() > 8, "{pattern} is a picture, not a flat colour ({} colours)", distinct.len());
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn different_prompts_differ_and_the_same_prompt_gives_the_same_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cancel = CancellationToken::new();
        let provider = clips();
        let render = |name: &str, prompt: &str| {
            let t = target(dir.path().join(name), 2.0);
            let s = scene(prompt);
            let provider = provider.clone();
            let cancel = cancel.clone();
            async move { provider.render_clip(&s, &t, &cancel).await.expect("renders") }
        };
        let a1 = render("a1.mp4", "sunrise over a mountain lake").await;
        let a2 = render("a2.mp4", "sunrise over a mountain lake").await;
        let b = render("b.mp4", "close-up of a coffee cup on a desk").await;

        assert_eq!(a1.sha256, a2.sha256, "same prompt, same bytes");
        assert_eq!(a1.size_bytes, a2.size_bytes);
        assert_eq!(std::fs::read(&a1.path).expect("a1"), std::fs::read(&a2.path).expect("a2"));
        assert_ne!(a1.sha256, b.sha256);
        assert_ne!(sha(&frame(&a1.path, 10)), sha(&frame(&b.path, 10)), "different prompts, different pictures");

        assert_eq!(a1.sha256, sha(&std::fs::read(&a1.path).expect("a1")));
        assert_eq!(a1.size_bytes, std::fs::metadata(&a1.path).expect("meta").len());
        assert_eq!((a1.provider.as_str(), a1.cost_micros), ("procedural", 0));
        assert!((a1.duration_seconds - 2.0).abs() < 1e-3);
        assert!((ffprobe_duration(&b.path) - 2.0).abs() < 1e-3);
        let names: HashSet<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into())
            .collect();
        assert_eq!(names, ["a1.mp4", "a2.mp4", "b.mp4"].map(String::from).into(), "no temporary files left");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn cancelling_mid_render_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Big enough to take seconds.
        let t = ClipTarget { width: 720, height: 1280, fps: 30, seconds: 30.0, out_path: dir.path().join("long.mp4") };
        let cancel = CancellationToken::new();
        let provider = ProceduralClips::new();
        let s = scene("a long slow pan across a field");
        let canceller = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(700)).await;
                cancel.cancel();
            })
        };
        let started = std::time::Instant::now();
        let err = provider.render_clip(&s, &t, &cancel).await.expect_err("cancelled");
        canceller.await.expect("canceller");
        assert!(matches!(err, MediaError::Cancelled), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "cancelled promptly");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "no partial or final file");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn dropping_the_render_future_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = ClipTarget { width: 720, height: 1280, fps: 30, seconds: 30.0, out_path: dir.path().join("long.mp4") };
        let cancel = CancellationToken::new();
        let provider = ProceduralClips::new();
        let s = scene("a timed-out render");
        let timed_out = tokio::time::timeout(Duration::from_millis(700), provider.render_clip(&s, &t, &cancel)).await;
        assert!(timed_out.is_err(), "the render outlives the timeout");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "no partial or final file");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_ffmpeg_is_reported_with_an_install_hint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let provider = ProceduralClips::new().with_tools(
            Tool::new("/nonexistent/ffmpeg", "apt-get install ffmpeg"),
            Tool::new("/nonexistent/ffprobe", "apt-get install ffmpeg"),
        );
        let t = target(dir.path().join("x.mp4"), 1.0);
        let err = provider.render_clip(&scene("p"), &t, &CancellationToken::new()).await.expect_err("fails");
        assert!(err.to_string().contains("install it with `apt-get install ffmpeg`"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
