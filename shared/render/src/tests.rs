//! Real renders, kept small (360x640, 15 fps, `ultrafast`, clips of about a second) so the suite
//! stays quick on two cores. The inputs are made by the tests themselves with ffmpeg's lavfi
//! sources (and espeak-ng for the voice when it is installed).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shortline_domain::{OverlayPosition, OverlayStyle, TextOverlay, Transition};
use tokio_util::sync::CancellationToken;

use super::ffmpeg::run;
use super::*;

fn settings() -> RenderSettings {
    RenderSettings {
        width: 360,
        height: 640,
        fps: 15,
        x264_preset: "ultrafast".to_owned(),
        crf: 30,
        font: DEFAULT_FONT.to_owned(),
        music_volume: 0.3,
        thumbnail_at_seconds: 0.5,
        transition_seconds: 0.4,
        overlay_fade_seconds: 0.2,
    }
}

async fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let mut all: Vec<OsString> = ["-nostdin", "-y", "-hide_banner", "-loglevel", "error"].map(OsString::from).to_vec();
    all.extend(args.iter().map(OsString::from));
    match run(FFMPEG, &all, None).await {
        Ok(stdout) => stdout,
        Err(e) => panic!("ffmpeg {args:?}: {e}"),
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A clip at a different size, aspect and rate than the output, so scale/crop/fps are exercised.
async fn make_clip(dir: &Path, name: &str, seconds: f64, source: &str) -> PathBuf {
    let path = dir.join(name);
    let sep = if source.contains('=') { ':' } else { '=' };
    let src = format!("{source}{sep}size=320x240:rate=25:duration={seconds}");
    ffmpeg(&["-f", "lavfi", "-i", &src, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", s(&path)])
        .await;
    path
}

/// A spoken line with espeak-ng when it is installed, else a tone.
async fn make_voice(dir: &Path) -> PathBuf {
    let path = dir.join("voice.wav");
    let spoken = tokio::process::Command::new("espeak-ng")
        .args(["-w", s(&path), "Hello from shortline."])
        .status()
        .await
        .is_ok_and(|status| status.success());
    if !spoken {
        ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=330:duration=1.5", s(&path)]).await;
    }
    path
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One frame as 8-bit gray, `width*height` bytes.
async fn gray_frame(video: &Path, at_seconds: f64) -> Vec<u8> {
    let at = at_seconds.to_string();
    ffmpeg(&["-ss", &at, "-i", s(video), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"]).await
}

fn mean(frame: &[u8]) -> f64 {
    frame.iter().map(|&b| f64::from(b)).sum::<f64>() / frame.len() as f64
}

/// Pixels in rows `rows` that differ by more than 40 levels between two frames.
fn differing(a: &[u8], b: &[u8], width: usize, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) -> usize {
    rows.flat_map(|y| cols.clone().map(move |x| y * width + x)).filter(|&i| a[i].abs_diff(b[i]) > 40).count()
}

fn overlay(text: &str, position: OverlayPosition, style: OverlayStyle) -> TextOverlay {
    TextOverlay { text: text.to_owned(), start_seconds: 0.2, end_seconds: 1.8, position, style }
}

#[tokio::test(flavor = "multi_thread")]
async fn cut_fade_and_dissolve_render_to_h264_aac_of_the_expected_length() {
    let inputs = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let mut clips = Vec::new();
    for (i, transition) in
        [Transition::Fade, Transition::Cut, Transition::Fade, Transition::Dissolve].into_iter().enumerate()
    {
        let path = make_clip(inputs.path(), &format!("clip{i}.mp4"), 1.2, "testsrc2").await;
        clips.push(ClipInput { path, duration_seconds: 1.2, transition });
    }
    let music = inputs.path().join("music/bed.wav");
    ensure_music_bed(&music, 4.0).await.expect("music bed");
    let job = RenderJob {
        clips,
        overlays: vec![overlay("Cut, fade & dissolve", OverlayPosition::Top, OverlayStyle::Bold)],
        voiceover: Some(make_voice(inputs.path()).await),
        music: Some(music),
        output: out.path().join("videos/final.mp4"),
        thumbnail: out.path().join("videos/final.jpg"),
        captions: None,
    };
    let settings = settings();
    // 4 × 18 frames − 2 overlaps × 6 frames (the first clip's transition is ignored) = 60 frames.
    let expected = expected_duration(&job.clips, &settings);
    assert!((expected - 4.0).abs() < 1e-9, "{expected}");

    let started = Instant::now();
    let rendered = render(&job, &settings, &CancellationToken::new()).await.expect("render");
    eprintln!("4-clip render with voice, music and an overlay: {:?}", started.elapsed());

    assert_eq!((rendered.video_codec.as_str(), rendered.audio_codec.as_str()), ("h264", "aac"));
    assert_eq!((rendered.width, rendered.height), (360, 640));
    assert!((rendered.duration_seconds - expected).abs() < 0.1, "{rendered:?}");
    let probed = probe(&job.output).await.expect("probe");
    let video = probed.stream("video").expect("video stream");
    let audio = probed.stream("audio").expect("audio stream");
    assert!((video.duration_seconds.expect("video duration") - expected).abs() < 1e-3, "{probed:?}");
    assert!(
        (audio.duration_seconds.expect("audio duration") - expected).abs() < 0.05,
        "audio ends with the picture: {probed:?}"
    );

    let bytes = std::fs::read(&job.output).expect("read video");
    assert_eq!(rendered.size_bytes, bytes.len() as u64);
    assert_eq!(rendered.sha256, hex::encode(Sha256::digest(&bytes)));
    let moov = bytes.windows(4).position(|w| w == b"moov").expect("moov");
    let mdat = bytes.windows(4).position(|w| w == b"mdat").expect("mdat");
    assert!(moov < mdat, "faststart puts the index first");
    let thumb = std::fs::read(&job.thumbnail).expect("read thumbnail");
    assert_eq!(rendered.thumbnail_size_bytes, thumb.len() as u64);
    assert_eq!(&thumb[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(names(&out.path().join("videos")), ["final.jpg", "final.mp4"], "no temp files left");

    // The fade really goes through black: clips 0+1 are cut together (36 frames), the fade into
    // clip 2 starts at frame 30 and is at its black midpoint at frame 33 (2.2 s).
    let before = mean(&gray_frame(&job.output, 1.0).await);
    let middle = mean(&gray_frame(&job.output, 2.2).await);
    assert!(middle < before * 0.35, "fadeblack midpoint {middle} vs {before}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_overlay_text_renders_and_is_drawn() {
    let inputs = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let clip = make_clip(inputs.path(), "flat.mp4", 2.0, "color=c=0x336699").await;
    let hostile = "It's \"50%\" off: a\\b, [x]; y=1 %{pts} 🚀\nsecond line";
    let overlays = vec![
        overlay(hostile, OverlayPosition::Top, OverlayStyle::Bold),
        overlay("semi;colon:comma,[brackets]'quote'\\", OverlayPosition::Center, OverlayStyle::Highlight),
        overlay(
            "This deliberately long caption wraps onto several lines, not off both edges: 100%",
            OverlayPosition::Bottom,
            OverlayStyle::Normal,
        ),
    ];
    let job = |overlays: Vec<TextOverlay>, name: &str| RenderJob {
        clips: vec![ClipInput { path: clip.clone(), duration_seconds: 2.0, transition: Transition::Cut }],
        overlays,
        voiceover: None,
        music: None,
        output: out.path().join(format!("{name}.mp4")),
        thumbnail: out.path().join(format!("{name}.jpg")),
        captions: None,
    };
    let settings = settings();
    let cancel = CancellationToken::new();
    let with = job(overlays, "with");
    let without = job(Vec::new(), "without");
    let started = Instant::now();
    let rendered = render(&with, &settings, &cancel).await.expect("hostile text renders");
    eprintln!("hostile-overlay render: {:?}", started.elapsed());
    render(&without, &settings, &cancel).await.expect("plain render");
    assert_eq!(rendered.audio_codec, "aac", "a silent track even without voice or music");

    let (w, h) = (360usize, 640usize);
    let text = gray_frame(&with.output, 1.0).await;
    let plain = gray_frame(&without.output, 1.0).await;
    assert_eq!((text.len(), plain.len()), (w * h, w * h));
    let top = (h * 12 / 100)..(h * 12 / 100 + 60);
    let centre = (h / 2 - 25)..(h / 2 + 25);
    let bottom = (h * 82 / 100 - 90)..(h * 82 / 100);
    for (name, rows) in [("top", top.clone()), ("centre", centre), ("bottom", bottom.clone())] {
        let plain_region: Vec<u8> = rows.clone().flat_map(|y| plain[y * w..(y + 1) * w].iter().copied()).collect();
        let spread = plain_region.iter().max().expect("pixels") - plain_region.iter().min().expect("pixels");
        assert!(spread < 12, "{name}: the background alone is flat ({spread})");
        let changed = differing(&text, &plain, w, rows, 0..w);
        assert!(changed > 300, "{name}: only {changed} pixels drawn");
    }
    // Wrapped: nothing drawn in the outer 4 % of either side.
    let margin = w * 4 / 100;
    for rows in [top.clone(), bottom.clone()] {
        let edges =
            differing(&text, &plain, w, rows.clone(), 0..margin) + differing(&text, &plain, w, rows, w - margin..w);
        assert_eq!(edges, 0, "text ran off the frame");
    }
    // Gone after its end time (1.8 s).
    let after = gray_frame(&with.output, 1.9).await;
    let leftover = differing(&after, &plain, w, 0..h, 0..w);
    assert!(leftover < 50, "{leftover} pixels still drawn after the overlay ended");
}

/// Starts a render that takes a few seconds and returns once ffmpeg has started writing into `dir`.
async fn slow_render_in_progress(inputs: &Path, dir: &Path) -> (RenderJob, RenderSettings) {
    let clip = make_clip(inputs, "long.mp4", 8.0, "testsrc2").await;
    let job = RenderJob {
        clips: vec![ClipInput { path: clip, duration_seconds: 8.0, transition: Transition::Cut }],
        overlays: vec![overlay("slow", OverlayPosition::Center, OverlayStyle::Bold)],
        voiceover: None,
        music: None,
        output: dir.join("slow.mp4"),
        thumbnail: dir.join("slow.jpg"),
        captions: None,
    };
    let settings = RenderSettings { width: 1080, height: 1920, fps: 30, x264_preset: "slow".to_owned(), ..settings() };
    (job, settings)
}

async fn wait_for_partial(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !names(dir).iter().any(|n| n.contains(".partial")) {
        assert!(Instant::now() < deadline, "ffmpeg never started writing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_mid_render_leaves_no_file_behind() {
    let inputs = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let (job, settings) = slow_render_in_progress(inputs.path(), out.path()).await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let dir = out.path().to_owned();
    let canceller = tokio::spawn(async move {
        wait_for_partial(&dir).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
        Instant::now()
    });
    let result = render(&job, &settings, &cancel).await;
    let cancelled_at = canceller.await.expect("canceller");
    eprintln!("render returned {:?} after cancellation", cancelled_at.elapsed());
    assert!(matches!(result, Err(RenderError::Cancelled)), "{result:?}");
    assert!(cancelled_at.elapsed() < Duration::from_secs(2), "the child is killed, not waited for");
    assert_eq!(names(out.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_render_kills_ffmpeg_and_removes_its_files() {
    let inputs = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let (job, settings) = slow_render_in_progress(inputs.path(), out.path()).await;
    let cancel = CancellationToken::new();
    tokio::select! {
        result = render(&job, &settings, &cancel) => panic!("the slow render finished first: {result:?}"),
        () = wait_for_partial(out.path()) => {}
    }
    // Dropped: the temp files go at once, and the killed ffmpeg writes nothing more.
    assert_eq!(names(out.path()), Vec::<String>::new());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(names(out.path()), Vec::<String>::new());
    assert!(!cancel.is_cancelled());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_render_reports_ffmpeg_stderr_and_leaves_nothing() {
    let inputs = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let broken = inputs.path().join("broken.mp4");
    std::fs::write(&broken, b"this is not a video").expect("write");
    let job = RenderJob {
        clips: vec![ClipInput { path: broken, duration_seconds: 1.0, transition: Transition::Cut }],
        overlays: Vec::new(),
        voiceover: None,
        music: None,
        output: out.path().join("x.mp4"),
        thumbnail: out.path().join("x.jpg"),
        captions: None,
    };
    let err = render(&job, &settings(), &CancellationToken::new()).await.expect_err("must fail");
    match &err {
        RenderError::Failed { program, stderr, .. } => {
            assert_eq!(*program, "ffmpeg");
            assert!(stderr.contains("broken.mp4"), "{stderr}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(names(out.path()), Vec::<String>::new());

    let missing =
        RenderJob { clips: vec![ClipInput { path: inputs.path().join("nope.mp4"), ..job.clips[0].clone() }], ..job };
    let err = render(&missing, &settings(), &CancellationToken::new()).await.expect_err("must fail");
    assert!(matches!(err, RenderError::InvalidJob { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_ffmpeg_says_how_to_install_it() {
    let err = run("shortline-test-no-such-ffmpeg", &[], None).await.expect_err("not installed");
    assert!(matches!(err, RenderError::FfmpegMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("apt-get install ffmpeg"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_audio_combination_yields_aac_as_long_as_the_picture() {
    let inputs = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let clip = make_clip(inputs.path(), "c.mp4", 1.0, "testsrc2").await;
    let still = inputs.path().join("still.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", s(&still)]).await;
    let voice = make_voice(inputs.path()).await;
    let music = inputs.path().join("bed.m4a");
    ensure_music_bed(&music, 1.0).await.expect("music bed");
    let settings = settings();
    // The silent one is a still image: one frame, held for the whole scene.
    for (name, path, voiceover, music) in
        [("silent", &still, None, None), ("voice", &clip, Some(voice), None), ("music", &clip, None, Some(music))]
    {
        let job = RenderJob {
            clips: vec![ClipInput { path: path.clone(), duration_seconds: 1.6, transition: Transition::Cut }],
            overlays: Vec::new(),
            voiceover,
            music,
            output: out.path().join(format!("{name}.mp4")),
            thumbnail: out.path().join(format!("{name}.jpg")),
            captions: None,
        };
        let rendered = render(&job, &settings, &CancellationToken::new()).await.expect(name);
        assert_eq!(rendered.audio_codec, "aac", "{name}");
        // The 1 s clip (and the still) holds its last frame to fill its 1.6 s scene.
        let probed = probe(&job.output).await.expect("probe");
        let video = probed.stream("video").and_then(|s| s.duration_seconds).expect("video duration");
        let audio = probed.stream("audio").and_then(|s| s.duration_seconds).expect("audio duration");
        assert!((video - 1.6).abs() < 1e-3, "{name}: {probed:?}");
        assert!((audio - 1.6).abs() < 0.05, "{name}: {probed:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_music_bed_is_generated_once_as_whole_loops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bed = dir.path().join("bed.wav");
    let started = Instant::now();
    ensure_music_bed(&bed, 5.0).await.expect("bed");
    eprintln!("music bed: {:?}", started.elapsed());
    let probed = probe(&bed).await.expect("probe");
    assert!((probed.duration_seconds - 8.0).abs() < 0.01, "rounded up to one 8 s loop: {probed:?}");
    assert_eq!(probed.stream("audio").map(|s| s.codec_name.as_str()), Some("pcm_s16le"));
    let samples = std::fs::read(&bed).expect("read");
    let loud = samples[44..].chunks_exact(2).filter(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > 1000).count();
    assert!(loud > 48_000, "audible: {loud}");
    let modified = std::fs::metadata(&bed).and_then(|m| m.modified()).expect("mtime");

    ensure_music_bed(&bed, 60.0).await.expect("again");
    assert_eq!(std::fs::metadata(&bed).and_then(|m| m.modified()).expect("mtime"), modified, "not rewritten");
    assert_eq!(names(dir.path()), ["bed.wav"]);
    assert!(matches!(ensure_music_bed(&dir.path().join("bed.ogg"), 8.0).await, Err(RenderError::InvalidJob { .. })));

    let long = dir.path().join("long.m4a");
    ensure_music_bed(&long, 20.0).await.expect("long bed");
    let probed = probe(&long).await.expect("probe");
    assert!((probed.duration_seconds - 24.0).abs() < 0.1, "three loops: {probed:?}");
    assert_eq!(probed.stream("audio").map(|s| s.codec_name.as_str()), Some("aac"));
}

#[test]
fn probe_json_is_parsed() {
    let json =
        br#"{"streams":[{"codec_type":"video","codec_name":"h264","width":360,"height":640,"duration":"4.000000"},
        {"codec_type":"audio","codec_name":"aac","duration":"4.010000"}],"format":{"duration":"4.010000"}}"#;
    let probe = ffmpeg::parse_probe(json).expect("parse");
    assert_eq!(probe.duration_seconds, 4.01);
    let video = probe.stream("video").expect("video");
    assert_eq!((video.width, video.height, video.duration_seconds), (Some(360), Some(640), Some(4.0)));
    assert_eq!(probe.stream("audio").map(|a| a.codec_name.as_str()), Some("aac"));
    assert!(ffmpeg::parse_probe(b"{}").is_err());
    assert!(check(&probe, &settings(), 4.0).is_ok());
    assert!(matches!(check(&probe, &settings(), 5.0), Err(RenderError::ProbeMismatch { .. })));
    assert!(matches!(
        check(&probe, &RenderSettings { width: 720, ..settings() }, 4.0),
        Err(RenderError::ProbeMismatch { .. })
    ));
}

#[test]
fn settings_follow_the_plan_aspect_ratio() {
    let size = |ratio| RenderSettings::for_aspect_ratio(ratio).map(|s| (s.width, s.height));
    assert_eq!(size("9:16"), Some((1080, 1920)));
    assert_eq!(size("1:1"), Some((1080, 1080)));
    assert_eq!(size("16:9"), Some((1920, 1080)));
    assert_eq!(size("4:3"), None);
    assert_eq!(RenderSettings::for_aspect_ratio("9:16"), Some(RenderSettings::default()));
}

/// `ebur128`'s integrated loudness and true peak of a file, measured here independently of the gate.
async fn loudness(path: &Path) -> (f64, f64) {
    let args: Vec<OsString> = [
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-i",
        s(path),
        "-af",
        "ebur128=peak=true:framelog=verbose",
        "-f",
        "null",
        "-",
    ]
    .map(OsString::from)
    .to_vec();
    let log = ffmpeg::run_with_stderr(FFMPEG, &args, None).await.expect("ebur128");
    let log = String::from_utf8_lossy(&log);
    let summary = &log[log.rfind("Summary:").expect("summary")..];
    let value = |key: &str| -> f64 {
        let line = summary.lines().find(|l| l.trim_start().starts_with(key)).expect(key);
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect(key)
    };
    (value("I:"), value("Peak:"))
}

async fn spoken_render(inputs: &Path, out: &Path, name: &str, music_volume: f64) -> (RenderJob, RenderOutput) {
    let voice = inputs.join("voice.wav");
    if !tokio::fs::try_exists(&voice).await.unwrap_or(false) {
        let status = tokio::process::Command::new("espeak-ng")
            .args(["-w", s(&voice), "Short videos are watched to the end when they are easy to hear and easy to read."])
            .status()
            .await
            .expect("espeak-ng is installed");
        assert!(status.success());
    }
    let music = inputs.join("bed.wav");
    ensure_music_bed(&music, 6.0).await.expect("music bed");
    let clip = make_clip(inputs, "clip.mp4", 1.0, "testsrc2").await;
    let job = RenderJob {
        clips: vec![ClipInput { path: clip, duration_seconds: 6.0, transition: Transition::Cut }],
        overlays: Vec::new(),
        voiceover: Some(voice),
        music: Some(music),
        output: out.join(format!("{name}.mp4")),
        thumbnail: out.join(format!("{name}.jpg")),
        captions: None,
    };
    let settings = RenderSettings { music_volume, ..settings() };
    let rendered = render(&job, &settings, &CancellationToken::new()).await.expect(name);
    (job, rendered)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mix_is_normalised_to_minus_14_lufs_even_with_music_at_full_volume() {
    let inputs = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let default_volume = shortline_config::MediaConfig::default().music_volume;
    for (name, volume) in [("default", default_volume), ("full", 1.0)] {
        let (job, rendered) = spoken_render(inputs.path(), out.path(), name, volume).await;
        let (lufs, peak) = loudness(&job.output).await;
        eprintln!("music volume {volume}: {lufs} LUFS, true peak {peak} dBTP");
        assert!((lufs - LOUDNESS_TARGET_LUFS).abs() <= 1.0, "{name}: {lufs} LUFS");
        assert!(peak <= TRUE_PEAK_CEILING_DBTP, "{name}: {peak} dBTP");
        let quality = rendered.quality.expect("measured");
        // The gate measures the mix as it goes to the AAC encoder, in the same pass; the file,
        // decoded again, differs by the encoder's rounding only.
        let gate = quality.integrated_lufs.expect("the gate measured a loudness");
        assert!((gate - lufs).abs() <= 0.2, "{name}: gate {gate} LUFS, file {lufs} LUFS");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scene_black_for_two_seconds_fails_the_quality_gate_and_leaves_nothing() {
    let inputs = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let lit = make_clip(inputs.path(), "lit.mp4", 1.0, "testsrc2").await;
    let black = make_clip(inputs.path(), "black.mp4", 2.0, "color=c=black").await;
    let cut = |path: &PathBuf, duration_seconds| ClipInput {
        path: path.clone(),
        duration_seconds,
        transition: Transition::Cut,
    };
    let music = inputs.path().join("bed.wav");
    ensure_music_bed(&music, 4.0).await.expect("music bed");
    let job = RenderJob {
        clips: vec![cut(&lit, 1.0), cut(&black, 2.0), cut(&lit, 1.0)],
        overlays: Vec::new(),
        voiceover: Some(make_voice(inputs.path()).await),
        music: Some(music),
        output: out.path().join("videos/final.mp4"),
        thumbnail: out.path().join("videos/final.jpg"),
        captions: None,
    };
    let err = render(&job, &settings(), &CancellationToken::new()).await.expect_err("black scene");
    let RenderError::QualityGate { reason } = &err else { panic!("not the gate: {err:?}") };
    assert!(reason.starts_with("blackdetect: black from 1.00 s to 3.00 s (2.00 s"), "{reason}");
    assert!(names(&out.path().join("videos")).is_empty(), "nothing is published");
}

/// One frame of `text` drawn by libass on grey, as luma, and ffmpeg's log: as a caption, or as
/// an overlay in `style`.
fn text_frame(dir: &Path, text: &str, overlay_style: Option<OverlayStyle>) -> (Vec<u8>, String) {
    use shortline_domain::captions::{Cue, WordTiming};
    use shortline_domain::CaptionStyle;
    // No fade: the frame at 0 s shows the overlay whole.
    let settings = RenderSettings { width: 640, height: 360, overlay_fade_seconds: 0.0, ..RenderSettings::default() };
    let script = match overlay_style {
        None => {
            let words: Vec<WordTiming> =
                text.split(' ').map(|w| WordTiming { text: w.to_owned(), start: 0.0, end: 1.0 }).collect();
            let track = CaptionTrack { cues: vec![Cue { start: 0.0, end: 1.0, words }], style: CaptionStyle::Phrase };
            subtitles::ass_document(Some(&track), &[], &settings, 1.0)
        }
        Some(style) => {
            let plan = [TextOverlay {
                text: text.to_owned(),
                start_seconds: 0.0,
                end_seconds: 1.0,
                position: OverlayPosition::Center,
                style,
            }];
            let overlays = prepare_overlays(&plan, &settings, 1.0);
            subtitles::ass_document(None, &overlays, &settings, 1.0)
        }
    };
    static SCRIPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = dir.join(format!("text-{}.ass", SCRIPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    std::fs::write(&path, script).expect("ass");
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "verbose", "-nostdin", "-f", "lavfi", "-i", "color=c=gray:s=640x360:d=0.2", "-vf"])
        .arg(format!("ass=filename={},format=gray", graph::filter_arg(s(&path))))
        .args(["-frames:v", "1", "-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Must-show (font fallback): a line mixing Latin, Greek, Arabic, CJK and emoji, as a caption and
/// as an overlay of each style, is drawn without an empty box: libass finds every glyph in some
/// installed font (no "failed to find any fallback"), and no character alone looks like the box
/// drawn for a character no font has.
#[test]
fn a_line_in_five_scripts_and_emoji_has_no_empty_boxes_in_captions_or_overlays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = "Hello Γειά σου مرحبا بكم 你好世界 😀 🎉 ☕";
    for kind in [None, Some(OverlayStyle::Bold), Some(OverlayStyle::Normal), Some(OverlayStyle::Highlight)] {
        let (drawn, log) = text_frame(dir.path(), line, kind);
        assert!(!log.contains("failed to find any fallback"), "{kind:?}: {log}");
        assert!(drawn.iter().any(|&y| y > 200) && drawn.iter().any(|&y| y < 40), "{kind:?}: the line is drawn");
        // U+E000 is private use: no installed font has it, so libass draws its empty box.
        let (tofu, _) = text_frame(dir.path(), "\u{E000}", kind);
        let (blank, _) = text_frame(dir.path(), " ", kind);
        assert_ne!(tofu, blank, "{kind:?}: the reference box is visible");
        for c in line.chars().filter(|c| !c.is_whitespace()) {
            let (glyph, _) = text_frame(dir.path(), &c.to_string(), kind);
            assert_ne!(glyph, tofu, "{kind:?}: {c:?} (U+{:04X}) is drawn as an empty box", c as u32);
        }
    }
}

/// Captions in `word` mode on a white picture (the worst background for white text): the box
/// gives white text at least 4.5:1 contrast as measured on the rendered frame, and the yellow
/// highlight moves from the first word to the second as they are spoken.
#[tokio::test(flavor = "multi_thread")]
async fn word_captions_are_legible_on_white_and_highlight_the_spoken_word() {
    use shortline_domain::captions::{Cue, WordTiming};
    use shortline_domain::CaptionStyle;
    let inputs = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let settings = RenderSettings { width: 720, height: 1280, ..settings() };
    let words = vec![
        WordTiming { text: "Hello".into(), start: 0.2, end: 0.8 },
        WordTiming { text: "shortline.".into(), start: 0.8, end: 1.6 },
    ];
    let job = RenderJob {
        clips: vec![ClipInput {
            path: make_clip(inputs.path(), "white.mp4", 2.0, "color=c=white").await,
            duration_seconds: 2.0,
            transition: Transition::Cut,
        }],
        overlays: vec![],
        voiceover: Some(make_voice(inputs.path()).await),
        music: None,
        output: out.path().join("captioned.mp4"),
        thumbnail: out.path().join("captioned.jpg"),
        captions: Some(CaptionTrack { cues: vec![Cue { start: 0.2, end: 1.6, words }], style: CaptionStyle::Word }),
    };
    let rendered = render(&job, &settings, &CancellationToken::new()).await.expect("render");
    let boxes = &rendered.quality.as_ref().expect("quality").text_boxes;
    assert_eq!(boxes.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(), ["caption"]);
    let (w, h) = (720usize, 1280usize);
    let (top, bottom) = layout::caption_band(&settings);
    let rows = top as usize..bottom.ceil() as usize;
    let mut centroids = Vec::new();
    for at in [0.5, 1.2] {
        let rgb = ffmpeg(&[
            "-ss",
            &at.to_string(),
            "-i",
            s(&job.output),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ])
        .await;
        assert_eq!(rgb.len(), w * h * 3);
        let pixel = |x: usize, y: usize| {
            let i = (y * w + x) * 3;
            [rgb[i], rgb[i + 1], rgb[i + 2]]
        };
        let band: Vec<(usize, [u8; 3])> =
            rows.clone().flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| (x, pixel(x, y))).collect();
        // The box: the dark pixels; the text: the near-white ones inside the box's columns.
        let dark: Vec<&(usize, [u8; 3])> = band.iter().filter(|(_, p)| layout::luminance(*p) < 0.2).collect();
        assert!(dark.len() > 500, "a box is drawn at {at} s");
        let (x0, x1) =
            (dark.iter().map(|(x, _)| *x).min().unwrap_or(0), dark.iter().map(|(x, _)| *x).max().unwrap_or(0));
        let mut box_l: Vec<f64> = dark.iter().map(|(_, p)| layout::luminance(*p)).collect();
        box_l.sort_by(f64::total_cmp);
        let box_luminance = box_l[box_l.len() / 2];
        let text_luminance = band
            .iter()
            .filter(|(x, p)| (x0..=x1).contains(x) && p.iter().all(|c| *c > 235))
            .map(|(_, p)| layout::luminance(*p))
            .fold(0.0, f64::max);
        let ratio = layout::contrast(text_luminance, box_luminance);
        assert!(ratio >= layout::MIN_CONTRAST, "white text on the box over white: {ratio:.2}:1 at {at} s");
        let yellow: Vec<usize> =
            band.iter().filter(|(_, [r, g, b])| *r > 180 && *g > 140 && *b < 100).map(|(x, _)| *x).collect();
        assert!(yellow.len() > 20, "the spoken word is highlighted at {at} s");
        centroids.push(yellow.iter().sum::<usize>() as f64 / yellow.len() as f64);
    }
    assert!(centroids[1] > centroids[0] + 20.0, "the highlight moves to the second word: {centroids:?}");
}
