//! `shortline bench compose`: the real ComposeVideo RPC against one plain ffmpeg command on the
//! same standard input, in the same run.
//!
//! The standard input (made once per run, outside every timing): a 30 s, 1080x1920, 30 fps
//! background clip from the offline clip provider (`ProceduralClips`, the same provider a
//! pipeline uses), an espeak-ng voiceover (`EspeakVoice`) with its captions (SRT and WebVTT, as
//! media generation makes them), the composer's offline music bed, and a plan with 6 text
//! overlays (one per style/position mix). `--small`: 6 s at 360x640.
//!
//! Each repetition seeds a fresh job (job, report, script and media rows; the files are shared)
//! and times:
//! - **ComposeVideo**: the RPC to the composer process, which reads the script and its assets
//!   from scriptgen (two RPCs), renders with its one-pass filtergraph, probes and hashes the
//!   result and stores the video row;
//! - **plain ffmpeg**: one ffmpeg command written by hand for the same output (see
//!   [`plain_graph`]): same inputs, same encoder settings, same overlays, same audio mix, the
//!   thumbnail from the same pass;
//! - **render()**: the composer's render engine called in this process (no RPC, no database), to
//!   split the difference between the service around the render and the render itself.
//!
//! The order rotates between repetitions so that neither side always runs first.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::json;
use shortline_config::MediaConfig;
use shortline_db::{self as db, AssetKind, DbPool, JobKind, NewJob, NewMediaAsset, NewScript, NewTrendReport};
use shortline_domain::captions;
use shortline_domain::{
    CaptionStyle, OverlayPosition, OverlayStyle, ProductionPlan, Scene, TextOverlay, Theme, Transition, TrendReportBody,
};
use shortline_generation::{ClipProvider, ClipTarget, EspeakVoice, ProceduralClips, VoiceProvider};
use shortline_media::MediaStore;
use shortline_proto::v1;
use shortline_render::layout::{self, caption_font_size, caption_padding};
use shortline_render::{self as render, filter_seconds as secs, CaptionTrack, ClipInput, RenderJob, RenderSettings};
use tokio_util::sync::CancellationToken;

use super::stats::percentile;
use super::system::{self, BenchDb, System, SystemSpec};

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// `sqlite` (a fresh file), `postgres` (the local server) or a `postgres://` server URL.
    #[arg(long, default_value = "sqlite", value_name = "URL")]
    pub database: String,
    /// A small input for CI: 6 s at 360x640 instead of 30 s at 1080x1920.
    #[arg(long)]
    pub small: bool,
    /// Repetitions of each render (the medians are reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Also time the composer's render engine in this process (no RPC, no database).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub engine: bool,
}

/// The input's geometry and length.
#[derive(Debug, Clone, Copy)]
struct Size {
    width: u32,
    height: u32,
    fps: u32,
    seconds: f64,
}

const PRESET: &str = "veryfast";
const CRF: u32 = 23;

pub async fn run(args: &ComposeArgs, json_out: bool) -> anyhow::Result<serde_json::Value> {
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    system::on_fresh_database(&args.database, async |db, dir| measure(args, db, dir, json_out).await).await
}

async fn measure(args: &ComposeArgs, db: &BenchDb, dir: &Path, json_out: bool) -> anyhow::Result<serde_json::Value> {
    let size = if args.small {
        Size { width: 360, height: 640, fps: 30, seconds: 6.0 }
    } else {
        Size { width: 1080, height: 1920, fps: 30, seconds: 30.0 }
    };
    let media = MediaConfig {
        width: size.width,
        height: size.height,
        fps: size.fps,
        x264_preset: PRESET.into(),
        crf: CRF,
        ..MediaConfig::default()
    };
    let store = MediaStore::local(&dir.join("media").display().to_string())?;
    if !json_out {
        eprintln!(
            "making the standard input ({}x{}, {} fps, {} s) ...",
            size.width, size.height, size.fps, size.seconds
        );
    }
    let input = make_input(&store, size).await?;

    let spec = SystemSpec::new(&db.url, dir, "offline")
        .env("SHORTLINE_MEDIA__WIDTH", size.width)
        .env("SHORTLINE_MEDIA__HEIGHT", size.height)
        .env("SHORTLINE_MEDIA__FPS", size.fps)
        .env("SHORTLINE_MEDIA__X264_PRESET", PRESET)
        .env("SHORTLINE_MEDIA__CRF", CRF);
    let spec = SystemSpec { orchestrator: false, ..spec };
    let services = System::start(&spec).await?;
    let pool = db.pool()?;
    let mut composer = services.composer_client().await?;
    let load_before = system::loadavg();

    let mut compose_s = Vec::new();
    let mut plain_s = Vec::new();
    let mut engine_s = Vec::new();
    let mut plain_command = String::new();
    let mut plain_graph_text = String::new();
    let mut video_json = serde_json::Value::Null;
    for round in 0..args.repeat {
        let (job_id, script_id) = seed(&pool, &store, &input, size).await?;
        let work = dir.join(format!("plain-{round}"));
        std::fs::create_dir_all(&work)?;
        let (args_plain, graph) = plain_command_args(&input, size, &media, &work)?;
        plain_command = format!(
            "ffmpeg {}",
            args_plain.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
        );
        plain_graph_text = graph;
        let order: Vec<usize> = if round % 2 == 0 { vec![0, 1, 2] } else { vec![1, 2, 0] };
        for step in order {
            match step {
                0 => {
                    if !json_out {
                        eprintln!("round {}: ComposeVideo ...", round + 1);
                    }
                    let started = Instant::now();
                    let mut request =
                        tonic::Request::new(v1::ComposeVideoRequest { job_id, script_id, ..Default::default() });
                    request.set_timeout(Duration::from_secs(1800));
                    let video = composer.compose_video(request).await.context("ComposeVideo")?.into_inner();
                    compose_s.push(started.elapsed().as_secs_f64());
                    video_json = json!({ "duration_seconds": video.duration_seconds, "width": video.width, "height": video.height, "size_bytes": video.size_bytes });
                }
                1 => {
                    if !json_out {
                        eprintln!("round {}: plain ffmpeg ...", round + 1);
                    }
                    let started = Instant::now();
                    run_ffmpeg(&args_plain).await?;
                    plain_s.push(started.elapsed().as_secs_f64());
                }
                _ if args.engine => {
                    if !json_out {
                        eprintln!("round {}: render() in process ...", round + 1);
                    }
                    let job = engine_job(&input, size, &work);
                    let settings = engine_settings(size, &media);
                    let started = Instant::now();
                    render::render(&job, &settings, &CancellationToken::new()).await?;
                    engine_s.push(started.elapsed().as_secs_f64());
                }
                _ => {}
            }
        }
        let _ = std::fs::remove_dir_all(&work);
    }
    drop(composer);
    services.stop().await;

    let median = |samples: &[f64]| {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, 50.0)
    };
    let ratios: Vec<f64> = compose_s.iter().zip(&plain_s).map(|(c, p)| c / p).collect();
    let compose_median = median(&compose_s);
    let plain_median = median(&plain_s);
    let report = json!({
        "bench": "compose",
        "input": {
            "width": size.width, "height": size.height, "fps": size.fps, "seconds": size.seconds,
            "background": "one ProceduralClips clip (the offline clip provider), H.264",
            "voiceover": "espeak-ng (EspeakVoice)", "music": "the composer's offline music bed, looped",
            "overlays": 6, "preset": PRESET, "crf": CRF,
        },
        "repeat": args.repeat,
        "machine": system::machine(),
        "loadavg_before": load_before,
        "loadavg_after": system::loadavg(),
        "compose_video_seconds": compose_s,
        "plain_ffmpeg_seconds": plain_s,
        "render_engine_seconds": engine_s,
        "compose_video_median_seconds": compose_median,
        "plain_ffmpeg_median_seconds": plain_median,
        "render_engine_median_seconds": if engine_s.is_empty() { serde_json::Value::Null } else { json!(median(&engine_s)) },
        "ratio_median": median(&ratios),
        "ratio_of_medians": compose_median / plain_median,
        "video": video_json,
        "plain_command": plain_command,
        "plain_graph": plain_graph_text,
    });
    if !json_out {
        println!(
            "shortline bench compose: {}x{} {} fps, {} s, 6 overlays, voiceover + music, x264 {PRESET} crf {CRF}; {} round(s); load average {} before, {} after",
            size.width, size.height, size.fps, size.seconds, args.repeat, load_before, report["loadavg_after"].as_str().unwrap_or_default()
        );
        let list = |s: &[f64]| s.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(", ");
        println!("  ComposeVideo (RPC)     median {compose_median:>7.2} s   [{}]", list(&compose_s));
        println!("  plain ffmpeg command   median {plain_median:>7.2} s   [{}]", list(&plain_s));
        if !engine_s.is_empty() {
            println!("  render() in process    median {:>7.2} s   [{}]", median(&engine_s), list(&engine_s));
        }
        println!("  ratio ComposeVideo / plain ffmpeg: {:.3} (median of the rounds' ratios)", median(&ratios));
        println!(
            "\nthe plain command:\n  {plain_command}\nits filtergraph:\n{}",
            plain_graph_text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
        );
    }
    Ok(report)
}

/// The files of the standard input, inside the (local) media store.
struct Input {
    background: PathBuf,
    background_seconds: f64,
    voiceover: PathBuf,
    voiceover_seconds: f64,
    music: PathBuf,
    plan: ProductionPlan,
    /// The voiceover's captions as scriptgen makes them: cues, and their SRT and WebVTT files.
    cues: Vec<captions::Cue>,
    srt: PathBuf,
    vtt: PathBuf,
}

const BACKGROUND_KEY: &str = "bench/input/background.mp4";
const VOICEOVER_KEY: &str = "bench/input/voiceover.wav";
const MUSIC_KEY: &str = "bench/input/music.wav";
const SRT_KEY: &str = "bench/input/captions.srt";
const VTT_KEY: &str = "bench/input/captions.vtt";

const VOICEOVER: &str = "Stop scrolling. This is the LoopCup, the reusable coffee cup you can return at any cafe in town. \
    It keeps your coffee hot for hours, it never leaks in your bag, and every cup you use saves a paper cup from the landfill. \
    Grab one with your next coffee, drop it off wherever you are, and we clean it for you. \
    Better coffee, less waste, no extra effort. Follow for more.";

async fn make_input(store: &MediaStore, size: Size) -> anyhow::Result<Input> {
    let cancel = CancellationToken::new();
    let background = store.local_path(BACKGROUND_KEY)?;
    let scene = Scene {
        number: 1,
        duration_seconds: size.seconds,
        visual_prompt: "a slow drift over a warm coffee shop counter".into(),
        transition: Transition::Cut,
    };
    let target = ClipTarget {
        width: size.width,
        height: size.height,
        fps: size.fps,
        seconds: size.seconds,
        out_path: background.clone(),
    };
    let clip =
        ProceduralClips::new().render_clip(&scene, &target, &cancel).await.context("rendering the background clip")?;
    let voiceover = store.local_path(VOICEOVER_KEY)?;
    let words = if size.seconds < 10.0 { "Stop scrolling. This is the LoopCup. Follow for more." } else { VOICEOVER };
    let voice = EspeakVoice::new().speak(words, 175, &voiceover, &cancel).await.context("speaking the voiceover")?;
    let music = store.local_path(MUSIC_KEY)?;
    render::ensure_music_bed(&music, size.seconds).await.context("making the music bed")?;
    let timings = voice.word_timings.as_deref().context("espeak-ng gave no word timings")?;
    let cues = captions::cues(words, timings).context("the timings are not of the voiceover's words")?;
    let (srt, vtt) = (store.local_path(SRT_KEY)?, store.local_path(VTT_KEY)?);
    std::fs::write(&srt, captions::to_srt(&cues))?;
    std::fs::write(&vtt, captions::to_vtt(&cues))?;

    let t = size.seconds;
    let overlay = |text: &str, a: f64, b: f64, position, style| TextOverlay {
        text: text.into(),
        start_seconds: a * t,
        end_seconds: b * t,
        position,
        style,
    };
    let plan = ProductionPlan {
        video_prompt: "A reusable coffee cup, returned at any cafe".into(),
        duration_seconds: t,
        aspect_ratio: "9:16".into(),
        scenes: vec![scene],
        voiceover_script: words.into(),
        hook_text: "STOP SCROLLING".into(),
        cta_text: "Follow for more".into(),
        text_overlays: vec![
            overlay("STOP SCROLLING", 0.0, 0.12, OverlayPosition::Top, OverlayStyle::Bold),
            overlay("Meet LoopCup", 0.12, 0.3, OverlayPosition::Center, OverlayStyle::Highlight),
            overlay("Return it anywhere", 0.3, 0.5, OverlayPosition::Bottom, OverlayStyle::Normal),
            overlay("Hot for hours", 0.5, 0.7, OverlayPosition::Top, OverlayStyle::Normal),
            overlay("Zero paper cups", 0.7, 0.85, OverlayPosition::Center, OverlayStyle::Bold),
            overlay("Follow for more", 0.85, 1.0, OverlayPosition::Bottom, OverlayStyle::Highlight),
        ],
        hashtags: ["coffee", "zerowaste", "reusable", "sustainability", "cafe"].map(String::from).to_vec(),
        title: "LoopCup".into(),
        description: "The cup you return anywhere.".into(),
    };
    Ok(Input {
        background: clip.path,
        background_seconds: clip.duration_seconds,
        voiceover: voice.path,
        voiceover_seconds: voice.duration_seconds,
        music,
        plan,
        cues,
        srt,
        vtt,
    })
}

/// A job of its own with a report, the plan as its script, and the input's files as its media.
async fn seed(pool: &DbPool, store: &MediaStore, input: &Input, size: Size) -> anyhow::Result<(i64, i64)> {
    let theme: Theme =
        serde_json::from_value(json!({ "config": { "theme": "Reusable coffee cups", "video_duration_seconds": 28 } }))?;
    let mut pooled = pool.get().await?;
    let conn = &mut pooled.conn();
    let job = db::jobs::insert(conn, &NewJob::queued(JobKind::Pipeline, "bench compose", Some(db::to_json(&theme)), 1))
        .await?;
    let body = TrendReportBody::default();
    let (report, _) =
        db::trend_reports::insert_or_get(conn, &NewTrendReport::new(job.id, "bench", 24, 0, &body), &[]).await?;
    let (script, _) = db::scripts::insert_or_get(
        conn,
        &NewScript::new(job.id, report.id, 1, &input.plan, &theme, "bench", "bench", 0),
    )
    .await?;
    let mut uris = Vec::new();
    for (key, path) in [
        (BACKGROUND_KEY, &input.background),
        (VOICEOVER_KEY, &input.voiceover),
        (MUSIC_KEY, &input.music),
        (SRT_KEY, &input.srt),
        (VTT_KEY, &input.vtt),
    ] {
        uris.push(store.publish(key, path).await?);
    }
    let asset = |kind: AssetKind, scene: i32, path: &Path, uri: &str, seconds: f64| NewMediaAsset {
        job_id: job.id,
        script_id: script.id,
        kind,
        scene_number: scene,
        uri: uri.to_owned(),
        duration_seconds: seconds,
        size_bytes: std::fs::metadata(path).map(|m| m.len() as i64).unwrap_or(0),
        sha256: String::new(),
        provider: "bench".into(),
        model: "bench".into(),
        usage: json!({}),
        cost_micros: 0,
        created_at: db::now(),
    };
    let assets = [
        asset(AssetKind::Clip, 1, &input.background, &uris[0], size.seconds.min(input.background_seconds)),
        asset(AssetKind::Voiceover, 0, &input.voiceover, &uris[1], input.voiceover_seconds),
        asset(AssetKind::Music, 0, &input.music, &uris[2], size.seconds),
        asset(AssetKind::CaptionsSrt, 0, &input.srt, &uris[3], input.voiceover_seconds),
        asset(AssetKind::CaptionsVtt, 0, &input.vtt, &uris[4], input.voiceover_seconds),
    ];
    db::media_assets::insert_all_or_get(conn, job.id, script.id, &assets).await?;
    Ok((job.id, script.id))
}

/// Settings as the composer derives them from `[media]` for a 9:16 plan.
fn engine_settings(size: Size, media: &MediaConfig) -> RenderSettings {
    RenderSettings {
        width: size.width,
        height: size.height,
        fps: size.fps,
        x264_preset: PRESET.into(),
        crf: CRF,
        font: media.font.clone(),
        music_volume: media.music_volume,
        thumbnail_at_seconds: media.thumbnail_at_seconds,
        ..RenderSettings::default()
    }
}

fn engine_job(input: &Input, size: Size, work: &Path) -> RenderJob {
    RenderJob {
        clips: vec![ClipInput {
            path: input.background.clone(),
            duration_seconds: size.seconds,
            transition: Transition::Cut,
        }],
        overlays: input.plan.text_overlays.clone(),
        voiceover: Some(input.voiceover.clone()),
        music: Some(input.music.clone()),
        output: work.join("engine.mp4"),
        thumbnail: work.join("engine.jpg"),
        captions: Some(CaptionTrack { cues: input.cues.clone(), style: CaptionStyle::Phrase }),
    }
}

/// The hand-written command: inputs, `-filter_complex_script`, the composer's encoder settings.
fn plain_command_args(
    input: &Input,
    size: Size,
    media: &MediaConfig,
    work: &Path,
) -> anyhow::Result<(Vec<OsString>, String)> {
    let graph = plain_graph(input, size, media, work)?;
    let graph_path = work.join("plain-graph.txt");
    std::fs::write(&graph_path, &graph)?;
    let mut args: Vec<OsString> =
        ["-nostdin", "-y", "-hide_banner", "-loglevel", "error", "-i"].map(OsString::from).to_vec();
    args.push(input.background.clone().into());
    args.push("-i".into());
    args.push(input.voiceover.clone().into());
    args.extend(["-stream_loop", "-1", "-i"].map(OsString::from));
    args.push(input.music.clone().into());
    args.push("-filter_complex_script".into());
    args.push(graph_path.into());
    args.extend(["-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", PRESET, "-crf"].map(OsString::from));
    args.push(CRF.to_string().into());
    args.extend(
        ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-movflags", "+faststart"]
            .map(OsString::from),
    );
    args.push(work.join("plain.mp4").into());
    args.extend(
        ["-map", "[thumb]", "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "3", "-update", "1"].map(OsString::from),
    );
    args.push(work.join("plain.jpg").into());
    Ok((args, graph))
}

/// The plain filtergraph: the background to the frame size and rate and cut to length; the six
/// overlays as a hand-written ASS script for the `ass` filter (libass: same font, sizes, colours,
/// boxes, safe-area positions, windows and fades as the composer's styles); the captions burnt in
/// from the SRT by the `subtitles` filter (libass, the composer's font, size, box and place); one
/// frame split off for the thumbnail; the voice padded to length, the looped music at the
/// configured volume ducked under it and mixed in, then normalised to −14 LUFS with a true-peak
/// ceiling (single-pass `loudnorm`: the one-command way to do the composer's loudness work; the
/// composer's measuring pre-passes and quality-gate pass count against it).
fn plain_graph(input: &Input, size: Size, media: &MediaConfig, work: &Path) -> anyhow::Result<String> {
    let (w, h, fps, t) = (size.width, size.height, size.fps, size.seconds);
    let short = f64::from(w.min(h));
    let font = &media.font;
    let cfs = caption_font_size(&RenderSettings { width: w, height: h, ..RenderSettings::default() });
    let size_of = |factor: f64| (short * factor).round() as u32;
    let (bold, normal, highlight) = (size_of(0.1), size_of(0.076), size_of(0.084));
    let mut script = format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {w}\nPlayResY: {h}\nWrapStyle: 2\nScaledBorderAndShadow: yes\n\n\
         [V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
         Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, \
         MarginL, MarginR, MarginV, Encoding\n\
         Style: Bold,{font},{bold},&H00FFFFFF,&H00FFFFFF,&H00000000,&H66000000,-1,0,0,0,100,100,0,0,1,{},{},8,0,0,0,1\n\
         Style: Normal,{font},{normal},&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,-1,0,0,0,100,100,0,0,1,{},0,8,0,0,0,1\n\
         Style: Highlight,{font},{highlight},&H00000000,&H00000000,&H140AD6FF,&H140AD6FF,-1,0,0,0,100,100,0,0,3,{},0,8,0,0,0,1\n\n\
         [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
        (bold / 10).max(2),
        (bold / 18).max(1),
        (normal / 10).max(2),
        (highlight * 3).div_ceil(10),
    );
    // The safe area: a bottom overlay ends above the captions' two lines.
    let caption_top = f64::from(h) * 0.8 - 2.2 * f64::from(cfs) - 2.0 * f64::from(caption_padding(cfs));
    let time = |s: f64| format!("0:{:02}:{:05.2}", (s / 60.0) as u32, s % 60.0);
    for o in &input.plan.text_overlays {
        let (style, fs) = match o.style {
            OverlayStyle::Bold => ("Bold", bold),
            OverlayStyle::Normal => ("Normal", normal),
            OverlayStyle::Highlight => ("Highlight", highlight),
        };
        let (an, y) = match o.position {
            OverlayPosition::Top => (8, f64::from(h) * 0.12),
            OverlayPosition::Center => (5, f64::from(h) / 2.0),
            OverlayPosition::Bottom => (2, caption_top - f64::from(fs) / 2.0),
        };
        let end = o.end_seconds.min(t);
        let fade = (1000.0 * 0.3_f64.min((end - o.start_seconds) / 3.0)).round();
        script.push_str(&format!(
            "Dialogue: 1,{},{},{style},,0,0,0,,{{\\an{an}\\pos({},{})\\fad({fade},{fade})}}{}\n",
            time(o.start_seconds),
            time(end),
            (f64::from(w) * 0.45).round(),
            y.round(),
            o.text,
        ));
    }
    let script_path = work.join("overlays.ass");
    std::fs::write(&script_path, script)?;
    let mut draws = vec![format!("ass=filename={}", script_path.display())];
    // The captions as one would burn in an SRT by hand: libass with the composer's look.
    let pad = caption_padding(cfs);
    let box_alpha = (255.0 * (1.0 - layout::min_box_opacity(&[[255; 3], [255, 214, 10]]))).round() as u8;
    draws.push(format!(
        "subtitles=filename={}:original_size={w}x{h}:force_style='Fontname=Noto Sans,Fontsize={cfs},Bold=1,\
         PrimaryColour=&H00FFFFFF,OutlineColour=&H{box_alpha:02X}000000,BackColour=&H{box_alpha:02X}000000,\
         BorderStyle=3,Outline={pad},Shadow=0,Alignment=2,MarginL={},MarginR={},MarginV={}'",
        input.srt.display(),
        (f64::from(w) * 0.06).round(),
        (f64::from(w) * 0.16).round(),
        (f64::from(h) * 0.2).round() as u32 + pad,
    ));
    let thumb = ((media.thumbnail_at_seconds * f64::from(fps)).round() as u64).min((t * f64::from(fps)) as u64 - 1);
    let fade_out = (t / 4.0).min(1.0);
    Ok(format!(
        "[0:v]fps={fps},scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,format=yuv420p,trim=duration={t},setpts=PTS-STARTPTS,\n\
         {},\n\
         split=2[v][vt];\n\
         [vt]trim=start_frame={thumb}:end_frame={},setpts=PTS-STARTPTS[thumb];\n\
         [1:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,apad,atrim=duration={t},asplit=2[voice][key];\n\
         [2:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,volume={},atrim=duration={t},afade=t=out:st={}:d={}[music];\n\
         [music][key]sidechaincompress=threshold=0.02:ratio=8:attack=20:release=400[ducked];\n\
         [voice][ducked]amix=inputs=2:duration=first:dropout_transition=0:normalize=0,\
         loudnorm=I=-14:TP=-1.5:LRA=11,aresample=48000[a]\n",
        draws.join(",\n"),
        thumb + 1,
        secs(media.music_volume),
        secs(t - fade_out),
        secs(fade_out),
    ))
}

async fn run_ffmpeg(args: &[OsString]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("ffmpeg")
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await?;
    if !output.status.success() {
        bail!("the plain ffmpeg command failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}
