//! The text burnt into the video, as one ASS script for libass (ffmpeg's `ass` filter, in the same
//! pass as everything else): the captions — the cues of the voiceover's WebVTT — and the plan's
//! overlays ([`crate::overlay`]). libass finds fonts through fontconfig and falls back glyph by
//! glyph, so Greek, Arabic (shaped), CJK and emoji are drawn from whichever installed font has
//! them (Noto, Noto CJK, Symbola), where drawtext with one font file draws empty boxes.
//!
//! Captions: bold [`RenderSettings::font`] on a black box ([`layout::min_box_opacity`]), centred on the safe area
//! with its bottom at the caption band's bottom; at most two lines (the cues are wrapped to 32
//! characters when they are made). `phrase` shows each cue while it is spoken and until the next
//! one starts (or [`HOLD_SECONDS`] after its last word); `word` shows the same cues with the
//! word being spoken in yellow.

use std::fmt::Write as _;

use shortline_domain::captions::Cue;
use shortline_domain::CaptionStyle;

use super::layout::{self, TextBox};
use super::overlay::{self, PreparedOverlay};
use super::RenderSettings;

/// How long a caption stays after its last word when no other follows at once.
pub const HOLD_SECONDS: f64 = 0.5;
/// The highlighted word's colour in `word` mode.
pub const HIGHLIGHT: [u8; 3] = [255, 214, 10];
const TEXT: [u8; 3] = [255, 255, 255];

/// Captions to burn in.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionTrack {
    pub cues: Vec<Cue>,
    pub style: CaptionStyle,
}

/// When each cue is on screen, clamped to the video: `(start, end)`.
fn shown(cues: &[Cue], total: f64) -> Vec<(f64, f64)> {
    cues.iter()
        .enumerate()
        .map(|(i, cue)| {
            let next = cues.get(i + 1).map_or(f64::INFINITY, |n| n.start);
            let end = (cue.end + HOLD_SECONDS).min(next).min(total);
            (cue.start.min(total), end.max(cue.start.min(total)))
        })
        .collect()
}

/// `H:MM:SS.cc`, ASS's time format.
pub(crate) fn ass_time(seconds: f64) -> String {
    let cs = (seconds.max(0.0) * 100.0).round() as u64;
    format!("{}:{:02}:{:02}.{:02}", cs / 360_000, cs / 6000 % 60, cs / 100 % 60, cs % 100)
}

/// `&HAABBGGRR` (alpha 0 is opaque).
pub(crate) fn ass_colour([r, g, b]: [u8; 3], opacity: f64) -> String {
    let alpha = (255.0 * (1.0 - opacity.clamp(0.0, 1.0))).round() as u8;
    format!("&H{alpha:02X}{b:02X}{g:02X}{r:02X}")
}

/// Text as libass shows it literally: `\`, `{` and `}` would start escapes and override blocks.
pub(crate) fn ass_text(text: &str) -> String {
    text.replace('\\', "\u{FF3C}").replace('{', "\u{FF5B}").replace('}', "\u{FF5D}")
}

/// The cue's lines, with word `highlight` (an index into its words) coloured, in a smaller size
/// when they would not fit the safe width at the usual one.
fn cue_text(cue: &Cue, highlight: Option<usize>, settings: &RenderSettings) -> String {
    let mut index = 0;
    let mut lines = Vec::new();
    let size = layout::caption_size_for(&cue.lines(), settings);
    if size != layout::caption_font_size(settings) {
        lines.push(format!("{{\\fs{size}}}"));
    }
    for line in cue.lines() {
        let mut words = Vec::new();
        for _ in line.split(' ') {
            let text = ass_text(&cue.words[index].text);
            words.push(if highlight == Some(index) {
                format!("{{\\c{}}}{text}{{\\c{}}}", ass_colour(HIGHLIGHT, 1.0), ass_colour(TEXT, 1.0))
            } else {
                text
            });
            index += 1;
        }
        lines.push(words.join(" "));
    }
    let resized = lines.first().is_some_and(|l| l.starts_with("{\\fs"));
    if resized {
        let size = lines.remove(0);
        return size + &lines.join("\\N");
    }
    lines.join("\\N")
}

/// The ASS script of the `captions` and `overlays` on a video of `total` seconds.
pub(crate) fn ass_document(
    captions: Option<&CaptionTrack>,
    overlays: &[PreparedOverlay],
    settings: &RenderSettings,
    total: f64,
) -> String {
    let (w, h) = (settings.width, settings.height);
    let fs = layout::caption_font_size(settings);
    let pad = layout::caption_padding(fs);
    let boxed = ass_colour([0, 0, 0], layout::min_box_opacity(&[TEXT, HIGHLIGHT]));
    let margin_l = (f64::from(w) * layout::SAFE_LEFT).round();
    let margin_r = (f64::from(w) * (1.0 - layout::SAFE_RIGHT)).round();
    // BorderStyle 3 draws the box `pad` beyond the text: the box's bottom sits on the band's.
    let margin_v = (f64::from(h) - layout::caption_band(settings).1).round() as u32 + pad;
    let mut doc = format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {w}\nPlayResY: {h}\nWrapStyle: 2\nScaledBorderAndShadow: yes\n\n\
         [V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
         Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, \
         MarginR, MarginV, Encoding\n\
         Style: Caption,{font},{fs},{text},{text},{boxed},{boxed},-1,0,0,0,100,100,0,0,3,{pad},0,2,{margin_l},\
         {margin_r},{margin_v},1\n{overlay_styles}\n\
         [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
        font = settings.font,
        text = ass_colour(TEXT, 1.0),
        overlay_styles = overlay::styles(settings),
    );
    if let Some(track) = captions.filter(|track| track.style != CaptionStyle::Off) {
        caption_events(&mut doc, track, settings, total);
    }
    for o in overlays {
        doc.push_str(&overlay::dialogue(o, settings));
    }
    doc
}

/// The captions' events (layer 0): one per cue, or one per word in `word` mode.
fn caption_events(doc: &mut String, track: &CaptionTrack, settings: &RenderSettings, total: f64) {
    for (cue, (start, end)) in track.cues.iter().zip(shown(&track.cues, total)) {
        if end - start < 0.01 {
            continue;
        }
        let mut dialogue = |from: f64, to: f64, text: String| {
            let _ = writeln!(doc, "Dialogue: 0,{},{},Caption,,0,0,0,,{text}", ass_time(from), ass_time(to));
        };
        match track.style {
            CaptionStyle::Word => {
                for (i, word) in cue.words.iter().enumerate() {
                    let from = if i == 0 { start } else { word.start.clamp(start, end) };
                    let to = cue.words.get(i + 1).map_or(end, |next| next.start.clamp(start, end));
                    if to - from >= 0.01 {
                        dialogue(from, to, cue_text(cue, Some(i), settings));
                    }
                }
            }
            _ => dialogue(start, end, cue_text(cue, None, settings)),
        }
    }
}

/// The boxes the captions occupy, for the layout check.
pub(crate) fn caption_boxes(track: &CaptionTrack, settings: &RenderSettings, total: f64) -> Vec<TextBox> {
    if track.style == CaptionStyle::Off {
        return Vec::new();
    }
    track
        .cues
        .iter()
        .zip(shown(&track.cues, total))
        .filter(|(_, (start, end))| end - start >= 0.01)
        .map(|(cue, (start, end))| {
            let lines = cue.lines();
            layout::caption_box(&lines, layout::caption_size_for(&lines, settings), settings, start, end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shortline_domain::captions::{cues, WordTiming};

    fn track(style: CaptionStyle) -> CaptionTrack {
        let words: Vec<WordTiming> =
            [("Stop", 0.1, 0.4), ("scrolling.", 0.4, 0.9), ("Drink{x}", 1.0, 1.4), ("water.", 1.4, 2.0)]
                .iter()
                .map(|(t, s, e)| WordTiming { text: (*t).into(), start: *s, end: *e })
                .collect();
        CaptionTrack { cues: cues("Stop scrolling. Drink{x} water.", &words).expect("cues"), style }
    }

    #[test]
    fn phrase_captions_hold_until_the_next_cue_and_escape_overrides() {
        let doc = ass_document(Some(&track(CaptionStyle::Phrase)), &[], &RenderSettings::default(), 10.0);
        assert!(doc.contains("Style: Caption,Noto Sans,52,&H00FFFFFF,&H00FFFFFF,"), "{doc}");
        assert!(doc.contains("Dialogue: 0,0:00:00.10,0:00:01.00,Caption,,0,0,0,,Stop scrolling.\n"), "{doc}");
        assert!(
            doc.contains("Dialogue: 0,0:00:01.00,0:00:02.50,Caption,,0,0,0,,Drink\u{FF5B}x\u{FF5D} water.\n"),
            "{doc}"
        );
        assert_eq!(doc.matches("Dialogue:").count(), 2);
    }

    #[test]
    fn word_captions_highlight_the_spoken_word() {
        let doc = ass_document(Some(&track(CaptionStyle::Word)), &[], &RenderSettings::default(), 2.2);
        assert_eq!(doc.matches("Dialogue:").count(), 4);
        assert!(
            doc.contains("0:00:00.40,0:00:01.00,Caption,,0,0,0,,Stop {\\c&H000AD6FF}scrolling.{\\c&H00FFFFFF}\n"),
            "{doc}"
        );
        // The last cue is cut at the video's end.
        assert!(doc.contains("0:00:01.40,0:00:02.20,"), "{doc}");
        assert_eq!(
            ass_document(Some(&track(CaptionStyle::Off)), &[], &RenderSettings::default(), 2.2)
                .matches("Dialogue:")
                .count(),
            0
        );
    }

    #[test]
    fn caption_boxes_lie_in_the_safe_area() {
        let s = RenderSettings::default();
        let boxes = caption_boxes(&track(CaptionStyle::Phrase), &s, 10.0);
        assert_eq!(boxes.len(), 2);
        assert!(layout::check(&boxes, &s).is_ok());
    }
}
