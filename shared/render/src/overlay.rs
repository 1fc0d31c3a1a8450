//! The plan's text overlays (hook, CTA, …): sanitised, wrapped to the safe width and clamped to
//! the timeline ([`prepare_overlays`]), then drawn by libass as events of the same ASS script as
//! the captions ([`dialogue`]): positioned in the safe area, fading in and out within their
//! half-open time window. libass finds fonts through fontconfig and falls back glyph by glyph,
//! so an overlay in CJK or with emoji is drawn, where drawtext with one font file drew boxes.

use shortline_domain::{OverlayPosition, OverlayStyle, TextOverlay};

use crate::subtitles::{ass_colour, ass_text, ass_time};
use crate::{layout, RenderSettings};

/// An overlay ready to draw: sanitised, wrapped text and its clamped time window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreparedOverlay {
    /// The text, lines separated by `\n`.
    pub text: String,
    pub start: f64,
    pub end: f64,
    pub position: OverlayPosition,
    pub style: OverlayStyle,
    /// In ASS units (libass scales a font so that its ascent + descent is this many pixels).
    pub font_size: u32,
    /// Whether captions are burnt in: a bottom overlay then ends above their band.
    pub above_captions: bool,
}

/// Font size per style, relative to the shorter side (so 16:9 does not get giant text). In ASS
/// units: Noto Sans' ascent + descent is 1.36 em, so the bold hook's letters are 0.074 of the
/// short side high, as they were when drawtext drew them at 0.075 em.
pub(crate) fn font_size(style: OverlayStyle, settings: &RenderSettings) -> u32 {
    let base = f64::from(settings.width.min(settings.height));
    let factor = match style {
        OverlayStyle::Bold => 0.100,
        OverlayStyle::Highlight => 0.084,
        OverlayStyle::Normal => 0.076,
    };
    ((base * factor).round() as u32).max(8)
}

/// Sanitises, wraps and clamps the plan's overlays to the rendered timeline. Overlays with no
/// visible text or no time left on the timeline are dropped.
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
            // Inside the safe area, outlines, shadows and boxes included.
            let edge = layout::overlay_edge(o.style, font_size);
            let max_width = (layout::safe_width(settings) - 2.0 * edge).max(f64::from(font_size));
            let text = wrap_text(&sanitize_text(&o.text), max_width / layout::px_per_em(font_size));
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

/// Approximate advance of a character in ems of the width table, on the wide side (measured on
/// DejaVu Sans Bold, wider than the Noto Sans Bold libass draws; [`layout::px_per_em`] converts).
/// Emoji and other pictographs are wider still: Symbola's, as libass scales them, are 0.87 of
/// the font size against 0.67 for a CJK ideograph.
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
        c if is_pictograph(c) => 1.5,
        _ => 1.1,
    }
}

/// Emoji and symbol blocks: Miscellaneous Symbols and Dingbats, Miscellaneous Symbols and
/// Arrows, and everything from Mahjong tiles up to the Symbols and Pictographs Extended-A.
fn is_pictograph(c: char) -> bool {
    matches!(c as u32, 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x1F000..=0x1FAFF)
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

/// Fade in over `fade` seconds after `start` and out over the last `fade` seconds before `end`,
/// clamped to a third of the window: the milliseconds of ASS's `\fad`.
pub(crate) fn fade_ms(start: f64, end: f64, fade: f64) -> u32 {
    let fade = fade.min((end - start) / 3.0);
    if fade.is_finite() && fade > 0.0 {
        (fade * 1000.0).round() as u32
    } else {
        0
    }
}

/// The ASS style of each overlay style, at `settings`' sizes (the `[V4+ Styles]` lines).
pub(crate) fn styles(settings: &RenderSettings) -> String {
    let font = &settings.font;
    let white = ass_colour([255, 255, 255], 1.0);
    let black = ass_colour([0, 0, 0], 1.0);
    [OverlayStyle::Bold, OverlayStyle::Normal, OverlayStyle::Highlight]
        .into_iter()
        .map(|style| {
            let fs = font_size(style, settings);
            // Colours, border style (1: outline and shadow, 3: an opaque box), outline, shadow.
            let (text, edge, back, border_style, outline, shadow) = match style {
                // A thick outline (and a shadow for bold): a thin one is lost on busy backgrounds.
                OverlayStyle::Bold => (
                    white.clone(),
                    black.clone(),
                    ass_colour([0, 0, 0], 0.6),
                    1,
                    layout::overlay_border(fs),
                    shadow(fs),
                ),
                OverlayStyle::Normal => (white.clone(), black.clone(), black.clone(), 1, layout::overlay_border(fs), 0),
                OverlayStyle::Highlight => {
                    let yellow = ass_colour([0xFF, 0xD6, 0x0A], 0.92);
                    (black.clone(), yellow.clone(), yellow, 3, layout::overlay_box_padding(fs), 0)
                }
            };
            format!(
                "Style: {},{font},{fs},{text},{text},{edge},{back},-1,0,0,0,100,100,0,0,{border_style},{outline},\
                 {shadow},8,0,0,0,1\n",
                style_name(style)
            )
        })
        .collect()
}

/// Depth of the bold style's shadow, in pixels.
pub(crate) fn shadow(font_size: u32) -> u32 {
    (font_size / 18).max(1)
}

fn style_name(style: OverlayStyle) -> &'static str {
    match style {
        OverlayStyle::Bold => "Bold",
        OverlayStyle::Normal => "Normal",
        OverlayStyle::Highlight => "Highlight",
    }
}

/// The overlay's ASS event (layer 1, above the captions): centred on the safe area at the top
/// (plus 2 %), the middle, or the bottom — its bottom edge there, so that more lines grow
/// upwards, clear of the platform's interface and the captions.
pub(crate) fn dialogue(overlay: &PreparedOverlay, settings: &RenderSettings) -> String {
    let x = (f64::from(settings.width) * layout::SAFE_CENTRE_X).round();
    let alignment = match overlay.position {
        OverlayPosition::Top => 8,
        OverlayPosition::Center => 5,
        OverlayPosition::Bottom => 2,
    };
    let y = layout::overlay_anchor(overlay.position, overlay.font_size, overlay.above_captions, settings);
    let fade = fade_ms(overlay.start, overlay.end, settings.overlay_fade_seconds);
    let lines: Vec<String> = overlay.text.split('\n').map(ass_text).collect();
    format!(
        "Dialogue: 1,{},{},{},,0,0,0,,{{\\an{alignment}\\pos({x},{})\\fad({fade},{fade})}}{}\n",
        ass_time(overlay.start),
        ass_time(overlay.end),
        style_name(overlay.style),
        y.round(),
        lines.join("\\N"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::settings;

    #[test]
    fn fades_take_at_most_a_third_of_the_window() {
        assert_eq!(fade_ms(1.5, 3.0, 0.3), 300);
        assert_eq!(fade_ms(0.0, 0.3, 0.3), 100);
        assert_eq!(fade_ms(0.0, 1.0, 0.0), 0);
    }

    #[test]
    fn each_overlay_is_an_event_placed_in_the_safe_area_with_its_style() {
        let s = settings();
        let o = PreparedOverlay {
            text: "50% {\\b1}\nnext".into(),
            start: 0.5,
            end: 2.0,
            position: OverlayPosition::Bottom,
            style: OverlayStyle::Highlight,
            font_size: 30,
            above_captions: false,
        };
        // Centred on the safe area (45 % of 360), bottom edge half a font size above 80 % of 640;
        // override blocks in the text are shown literally, lines broken with \N.
        assert_eq!(
            dialogue(&o, &s),
            "Dialogue: 1,0:00:00.50,0:00:02.00,Highlight,,0,0,0,,{\\an2\\pos(162,497)\\fad(300,300)}\
             50% \u{FF5B}\u{FF3C}b1\u{FF5D}\\Nnext\n"
        );
        let above = dialogue(&PreparedOverlay { above_captions: true, ..o.clone() }, &s);
        let band_top = layout::caption_band(&s).0;
        assert!(above.contains(&format!("\\pos(162,{})", (band_top - 15.0).round())), "{above}");
        let top =
            dialogue(&PreparedOverlay { position: OverlayPosition::Top, style: OverlayStyle::Bold, ..o.clone() }, &s);
        assert!(top.contains(",Bold,,") && top.contains("{\\an8\\pos(162,77)"), "{top}");
        let centre = dialogue(&PreparedOverlay { position: OverlayPosition::Center, ..o }, &s);
        assert!(centre.contains("{\\an5\\pos(162,320)"), "{centre}");

        let styles = styles(&s);
        assert_eq!(styles.lines().count(), 3);
        // Bold: white on a black outline a tenth of the size thick, with a shadow; highlight:
        // black on a yellow box.
        assert!(
            styles.contains(
                "Style: Bold,Noto Sans,36,&H00FFFFFF,&H00FFFFFF,&H00000000,&H66000000,-1,0,0,0,100,100,0,0,1,3,2,8,"
            ),
            "{styles}"
        );
        assert!(styles.contains("Style: Highlight,Noto Sans,30,&H00000000,&H00000000,&H140AD6FF,&H140AD6FF,-1,0,0,0,100,100,0,0,3,9,0,8,"), "{styles}");
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
        let max = layout::safe_width(&s) / layout::px_per_em(fs);
        let hook = wrap_text("STOP SCROLLING: THIS CHANGES EVERYTHING", max);
        assert!(hook.lines().all(|l| layout::line_width(l, fs) <= layout::safe_width(&s)), "{hook}");
    }
}
