//! Issue 18, must-show 1: the default video (the bundled theme `shortline run` uses) has
//! captions timed to its speech. The same job runs twice, with captions and with
//! `captions = "off"`; the caption box holds caption pixels at three word times, and the SRT
//! cues start where `silencedetect` hears the speech start.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use shortline_domain::captions;
use shortline_proto::v1::{self, start_job_request::Source};

use crate::helpers::TestDb;
use crate::pipeline::{path_of, wait_for};
use crate::processes::TestSystem;

/// How far an SRT cue may start from the speech onset it captions.
const ONSET_TOLERANCE_SECONDS: f64 = 0.15;

/// The frame at `t` seconds as 8-bit luma, `width * height` bytes.
fn luma_frame(video: &Path, t: f64, width: usize, height: usize) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{t:.3}"), "-i"])
        .arg(video)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.len(), width * height, "one {width}x{height} frame");
    out.stdout
}

/// The share of pixels in `(x0, y0)..(x1, y1)` whose luma differs by more than 48 between frames.
fn changed(a: &[u8], b: &[u8], width: usize, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> f64 {
    let mut n = 0usize;
    for y in y0..y1 {
        for x in x0..x1 {
            n += usize::from(a[y * width + x].abs_diff(b[y * width + x]) > 48);
        }
    }
    n as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

/// Where the voice starts speaking after each pause of at least `min_pause` seconds (and at its
/// very start), by ffmpeg's `silencedetect`.
fn speech_onsets(voice: &Path, min_pause: f64) -> Vec<f64> {
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-nostats", "-i"])
        .arg(voice)
        .args(["-af", &format!("silencedetect=n=-40dB:d={min_pause}"), "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let log = String::from_utf8_lossy(&out.stderr);
    let value =
        |line: &str, key: &str| -> Option<f64> { line.split(key).nth(1)?.split_whitespace().next()?.parse().ok() };
    let mut onsets = Vec::new();
    let mut leading_silence = false;
    for line in log.lines().filter(|l| l.contains("silencedetect")) {
        if value(line, "silence_start:") == Some(0.0) {
            leading_silence = true;
        }
        if let Some(end) = value(line, "silence_end:") {
            onsets.push(end);
        }
    }
    if !leading_silence {
        onsets.insert(0, 0.0);
    }
    onsets
}

/// SRT cue start times.
fn srt_starts(srt: &str) -> Vec<f64> {
    srt.lines()
        .filter_map(|l| l.split_once(" --> "))
        .map(|(start, _)| {
            let (clock, ms) = start.split_once(',').expect("HH:MM:SS,mmm");
            let parts: Vec<f64> = clock.split(':').map(|p| p.parse().expect("number")).collect();
            parts[0] * 3600.0 + parts[1] * 60.0 + parts[2] + ms.parse::<f64>().expect("ms") / 1000.0
        })
        .collect()
}

async fn the_default_video_has_captions_timed_to_the_speech(db: TestDb) {
    let system = TestSystem::start(db).await;
    let mut client = system.orchestrator_client().await;
    let default = v1::StartJobRequest {
        source: Some(Source::ThemeName("product-demo".into())),
        variants: 1,
        ..Default::default()
    };
    let with = client.start_job(default).await.expect("start").into_inner();
    // The same theme with the captions off, resolved as the first job runs it.
    let mut theme = client.get_job(v1::GetJobRequest { job_id: with.id }).await.expect("job").into_inner().theme;
    let config = theme.as_mut().and_then(|t| t.config.as_mut()).expect("the job's theme");
    assert_eq!(config.captions, v1::CaptionStyle::Phrase as i32, "captions are on by default");
    config.captions = v1::CaptionStyle::Off as i32;
    let without =
        v1::StartJobRequest { source: Some(Source::Theme(theme.expect("theme"))), variants: 1, ..Default::default() };
    let without = client.start_job(without).await.expect("start").into_inner();
    for id in [with.id, without.id] {
        wait_for(&mut client, id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(600)).await;
    }
    let lineage = |id| {
        let mut client = client.clone();
        async move { client.get_job_lineage(v1::GetJobLineageRequest { job_id: id }).await.expect("lineage").into_inner() }
    };
    let (captioned, plain) = (lineage(with.id).await, lineage(without.id).await);
    let asset = |kind: v1::AssetKind| {
        let found = captioned.assets.iter().find(|a| a.kind == kind as i32);
        path_of(&found.unwrap_or_else(|| panic!("a {kind:?} asset")).uri)
    };

    // GetVideo offers the sidecars, which are the script's caption assets.
    let video = &captioned.videos[0];
    let offered = system
        .composer_client()
        .await
        .get_video(v1::GetVideoRequest { job_id: with.id, video_id: video.id })
        .await
        .expect("video")
        .into_inner();
    assert_eq!(path_of(&offered.captions_srt_uri), asset(v1::AssetKind::CaptionsSrt));
    assert_eq!(path_of(&offered.captions_vtt_uri), asset(v1::AssetKind::CaptionsVtt));

    // The SRT cues start where the speech starts after every pause.
    let srt = std::fs::read_to_string(asset(v1::AssetKind::CaptionsSrt)).expect("srt");
    let starts = srt_starts(&srt);
    assert!(starts.len() >= 3, "{srt}");
    let voice = asset(v1::AssetKind::Voiceover);
    let voice_seconds = crate::pipeline::probe(&voice).2;
    // A silence running to the end ends with the file, not with speech.
    let onsets: Vec<f64> = speech_onsets(&voice, 0.2).into_iter().filter(|t| *t < voice_seconds - 0.05).collect();
    assert!(onsets.len() >= 3, "{onsets:?}");
    let mut worst: f64 = 0.0;
    for onset in &onsets {
        let nearest = starts.iter().map(|s| (s - onset).abs()).fold(f64::INFINITY, f64::min);
        worst = worst.max(nearest);
        assert!(nearest <= ONSET_TOLERANCE_SECONDS, "speech starts at {onset:.3} s, no cue within 150 ms: {starts:?} (onsets {onsets:?}, voice {voice_seconds} s)\n{srt}");
    }
    eprintln!("{} speech onsets, each within {worst:.3} s of an SRT cue start", onsets.len());

    // Caption pixels in the caption band at three word times, where no bottom overlay shows.
    let (w, h) = (360usize, 640usize);
    let plan = captioned.scripts[0].plan.clone().expect("plan");
    let bottom_overlay_at = |t: f64| {
        plan.text_overlays.iter().any(|o| {
            o.position == v1::OverlayPosition::Bottom as i32 && o.start_seconds - 0.5 <= t && t <= o.end_seconds + 0.5
        })
    };
    let vtt = std::fs::read_to_string(asset(v1::AssetKind::CaptionsVtt)).expect("vtt");
    let words: Vec<captions::WordTiming> =
        captions::parse_vtt(&vtt).expect("vtt").into_iter().flat_map(|c| c.words).collect();
    let times: Vec<f64> = words.iter().map(|w| (w.start + w.end) / 2.0).filter(|t| !bottom_overlay_at(*t)).collect();
    assert!(times.len() >= 3, "{times:?}");
    let picked = [times[0], times[times.len() / 2], times[times.len() - 1]];
    // The band: the safe area's width, its bottom two caption lines (15 px font at 360 wide).
    let band = ((w as f64 * 0.06) as usize, 460, (w as f64 * 0.84) as usize, 512);
    let top_half = (0, 0, w, h / 2);
    let (a, b) = (path_of(&video.uri), path_of(&plain.videos[0].uri));
    for t in picked {
        let (with, without) = (luma_frame(&a, t, w, h), luma_frame(&b, t, w, h));
        let in_band = changed(&with, &without, w, band);
        // A one-line cue of three short words ("link in bio.") changes 4 % of the band.
        assert!(in_band > 0.02, "at {t:.2} s only {:.1} % of the caption band differs", in_band * 100.0);
        let elsewhere = changed(&with, &without, w, top_half);
        assert!(elsewhere < 0.01, "at {t:.2} s the renders differ outside the captions: {:.1} %", elsewhere * 100.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_video_has_captions_timed_to_the_speech_sqlite() {
    the_default_video_has_captions_timed_to_the_speech(TestDb::sqlite().await).await
}
