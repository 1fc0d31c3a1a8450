//! The plan's text overlays: sanitised, wrapped to the safe width and clamped to the timeline
//! ([`prepare_overlays`]), each drawn by one `drawtext` filter ([`drawtext`]) that fades in and
//! out within its half-open time window.

use std::path::Path;

use shortline_domain::{OverlayPosition, OverlayStyle, TextOverlay};

use super::{filter_arg, secs};
use crate::{layout, RenderSettings};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::settings;

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
}
