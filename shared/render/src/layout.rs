//! Where text goes: the safe area of short-video apps, the caption band, the overlays' places,
//! and the check that every text box is inside the safe area and that no two boxes on screen at
//! the same time overlap (part of the quality gate).
//!
//! # The safe area (fractions of the frame)
//! TikTok, Reels and Shorts draw their interface over the video: the caption, sound and
//! account line over the bottom ~20 %, the like/comment/share column down the right ~16 %, the
//! tabs over the top ~10 %. Text stays in `x ∈ [6 %, 84 %]`, `y ∈ [10 %, 80 %]`, centred on the
//! safe area's middle (45 % of the width), not the frame's.
//!
//! # Legibility
//! Captions sit on a box whose opacity is computed ([`min_box_opacity`]) so that the worst case —
//! a white background under the box — still gives the text a WCAG contrast of at least 4.5:1;
//! overlays keep their outlines (at least a tenth of the font size) or their box.

use serde::Serialize;

use super::overlay::{shadow, text_em, PreparedOverlay};
use super::RenderSettings;
use shortline_domain::{OverlayPosition, OverlayStyle};

pub const SAFE_LEFT: f64 = 0.06;
pub const SAFE_RIGHT: f64 = 0.84;
pub const SAFE_TOP: f64 = 0.10;
pub const SAFE_BOTTOM: f64 = 0.80;
/// The horizontal centre of the safe area, as a fraction of the width.
pub const SAFE_CENTRE_X: f64 = (SAFE_LEFT + SAFE_RIGHT) / 2.0;
/// The contrast every caption keeps against its box on any background (WCAG AA, body text).
pub const MIN_CONTRAST: f64 = 4.5;
/// Space between the caption band and a bottom overlay, in font sizes.
const GAP_EMS: f64 = 0.5;

/// A rectangle in pixels, on screen from `start` to `end` seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextBox {
    /// What it holds: `caption`, `overlay 1`, …
    pub label: String,
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    pub start: f64,
    pub end: f64,
}

/// The safe area in pixels: `(x0, y0, x1, y1)`.
pub fn safe_area(settings: &RenderSettings) -> (f64, f64, f64, f64) {
    let (w, h) = (f64::from(settings.width), f64::from(settings.height));
    (w * SAFE_LEFT, h * SAFE_TOP, w * SAFE_RIGHT, h * SAFE_BOTTOM)
}

/// The widest a line of text may be, in pixels.
pub fn safe_width(settings: &RenderSettings) -> f64 {
    f64::from(settings.width) * (SAFE_RIGHT - SAFE_LEFT)
}

/// Caption font size: two lines of about 32 characters fit the safe width.
pub fn caption_font_size(settings: &RenderSettings) -> u32 {
    ((f64::from(settings.width.min(settings.height)) * 0.048).round() as u32).max(8)
}

/// libass draws Noto Sans Bold narrower than the DejaVu Sans Bold the width table measures; at
/// 0.7 px per em and pixel of font size the estimate stays on the wide side: measured at size
/// 100, drawn widths are 0.57–0.84 of it for prose in Latin, Greek and Arabic, 0.95 for runs of W
/// and M, 0.90 for CJK and at most 0.83 for emoji (docs/CAPTIONS.md).
const WIDTH_FACTOR: f64 = 0.7;

/// Pixels per em of the width table at ASS font size `font_size`.
pub fn px_per_em(font_size: u32) -> f64 {
    WIDTH_FACTOR * f64::from(font_size)
}

/// Estimated width of a line of text drawn by libass, in pixels, on the wide side.
pub fn line_width(line: &str, font_size: u32) -> f64 {
    text_em(line) * px_per_em(font_size)
}

/// The caption font size for `lines`: the usual one, smaller for a cue whose widest line would
/// not fit the safe width.
pub fn caption_size_for(lines: &[String], settings: &RenderSettings) -> u32 {
    let usual = caption_font_size(settings);
    let room = safe_width(settings) - 2.0 * f64::from(caption_padding(usual));
    let widest = lines.iter().map(|l| line_width(l, usual)).fold(0.0, f64::max);
    if widest <= room {
        usual
    } else {
        ((f64::from(usual) * room / widest).floor() as u32).max(8)
    }
}

/// Padding of the caption box around its text, in pixels.
pub fn caption_padding(font_size: u32) -> u32 {
    (font_size / 4).max(2)
}

/// Pitch of lines drawn by libass: it scales a font so that its ascent + descent is the font
/// size; measured 1.07 of it for Noto Sans Bold, so 1.1 is on the safe side.
pub fn line_height(font_size: u32) -> f64 {
    f64::from(font_size) * 1.1
}

/// Height of a caption box of `lines` lines (each line's box reaches `padding` beyond it).
pub fn caption_box_height(lines: usize, font_size: u32) -> f64 {
    lines as f64 * line_height(font_size) + 2.0 * f64::from(caption_padding(font_size))
}

/// The caption band: the bottom of the safe area, two lines high. `(top, bottom)` in pixels.
pub fn caption_band(settings: &RenderSettings) -> (f64, f64) {
    let bottom = f64::from(settings.height) * SAFE_BOTTOM;
    (bottom - caption_box_height(2, caption_font_size(settings)), bottom)
}

/// The box of a caption of `lines`, centred on the safe area, bottom at the band's bottom.
pub fn caption_box(lines: &[String], font_size: u32, settings: &RenderSettings, start: f64, end: f64) -> TextBox {
    let widest = lines.iter().map(|l| line_width(l, font_size)).fold(0.0, f64::max);
    let width = widest + 2.0 * f64::from(caption_padding(font_size));
    let centre = f64::from(settings.width) * SAFE_CENTRE_X;
    let (_, bottom) = caption_band(settings);
    TextBox {
        label: "caption".into(),
        x0: centre - width / 2.0,
        x1: centre + width / 2.0,
        y0: bottom - caption_box_height(lines.len(), font_size),
        y1: bottom,
        start,
        end,
    }
}

/// Where an overlay is anchored, in pixels from the top: its top edge at the top of the safe
/// area (plus 2 %), its middle at the frame's, or its bottom edge at the bottom — just above the
/// caption band when captions are shown.
pub fn overlay_anchor(position: OverlayPosition, font_size: u32, captions: bool, settings: &RenderSettings) -> f64 {
    let h = f64::from(settings.height);
    match position {
        OverlayPosition::Top => h * (SAFE_TOP + 0.02),
        OverlayPosition::Center => h / 2.0,
        OverlayPosition::Bottom => overlay_bottom(font_size, captions, settings),
    }
}

/// Where a bottom overlay's text ends, in pixels.
pub fn overlay_bottom(font_size: u32, captions: bool, settings: &RenderSettings) -> f64 {
    let h = f64::from(settings.height);
    if captions {
        caption_band(settings).0 - GAP_EMS * f64::from(font_size)
    } else {
        h * SAFE_BOTTOM - GAP_EMS * f64::from(font_size)
    }
}

/// How far an overlay's drawing reaches beyond its text: the box's padding, or the outline
/// (and the bold style's shadow).
pub fn overlay_edge(style: OverlayStyle, font_size: u32) -> f64 {
    f64::from(match style {
        OverlayStyle::Highlight => overlay_box_padding(font_size),
        OverlayStyle::Bold => overlay_border(font_size) + shadow(font_size),
        OverlayStyle::Normal => overlay_border(font_size),
    })
}

/// The box an overlay is drawn in: its text's estimated extent as libass lays it out
/// ([`line_width`], [`line_height`]), plus its edge.
pub(crate) fn overlay_box(
    index: usize,
    overlay: &PreparedOverlay,
    captions: bool,
    settings: &RenderSettings,
) -> TextBox {
    let lines: Vec<&str> = overlay.text.split('\n').collect();
    let widest = lines.iter().map(|l| line_width(l, overlay.font_size)).fold(0.0, f64::max);
    let text_h = lines.len() as f64 * line_height(overlay.font_size);
    let edge = overlay_edge(overlay.style, overlay.font_size);
    let anchor = overlay_anchor(overlay.position, overlay.font_size, captions, settings);
    let top = match overlay.position {
        OverlayPosition::Top => anchor,
        OverlayPosition::Center => anchor - text_h / 2.0,
        OverlayPosition::Bottom => anchor - text_h,
    };
    let centre = f64::from(settings.width) * SAFE_CENTRE_X;
    TextBox {
        label: format!("overlay {}", index + 1),
        x0: centre - widest / 2.0 - edge,
        x1: centre + widest / 2.0 + edge,
        y0: top - edge,
        y1: top + text_h + edge,
        start: overlay.start,
        end: overlay.end,
    }
}

/// Overlays a plan puts in the same place at the same time would be drawn on top of each other:
/// each one gives way to the next (it ends when the next starts) instead; one left with no time
/// is dropped. A plan's order of start times is kept.
pub(crate) fn sequence_overlays(overlays: &mut Vec<PreparedOverlay>) {
    overlays.sort_by(|a, b| a.start.total_cmp(&b.start));
    for i in 0..overlays.len() {
        let next = overlays[i + 1..]
            .iter()
            .filter(|b| b.position == overlays[i].position && b.start < overlays[i].end)
            .map(|b| b.start)
            .fold(f64::INFINITY, f64::min);
        if next.is_finite() {
            overlays[i].end = next;
        }
    }
    overlays.retain(|o| o.end - o.start >= 1e-3);
}

/// Outline of bold and normal overlays: at least a tenth of the font size, so the letters keep
/// a dark edge on any background.
pub fn overlay_border(font_size: u32) -> u32 {
    (font_size / 10).max(2)
}

/// Box padding of the highlight overlay style, in pixels.
pub fn overlay_box_padding(font_size: u32) -> u32 {
    (font_size * 3).div_ceil(10)
}

/// The first box outside the safe area, or the first two on screen together that overlap.
pub fn check(boxes: &[TextBox], settings: &RenderSettings) -> Result<(), String> {
    let (x0, y0, x1, y1) = safe_area(settings);
    // Half a pixel of slack: box edges are rounded when drawn.
    for b in boxes {
        if b.x0 < x0 - 0.5 || b.y0 < y0 - 0.5 || b.x1 > x1 + 0.5 || b.y1 > y1 + 0.5 {
            return Err(format!(
                "layout: the {} box ({:.0},{:.0})-({:.0},{:.0}) at {:.2} s is outside the safe area \
                 ({x0:.0},{y0:.0})-({x1:.0},{y1:.0})",
                b.label, b.x0, b.y0, b.x1, b.y1, b.start
            ));
        }
    }
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let together = a.start < b.end && b.start < a.end;
            let overlap = a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
            if together && overlap {
                return Err(format!(
                    "layout: the {} and {} boxes overlap from {:.2} s",
                    a.label,
                    b.label,
                    a.start.max(b.start)
                ));
            }
        }
    }
    Ok(())
}

/// WCAG relative luminance of an sRGB colour.
pub fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

/// WCAG contrast ratio of two luminances.
pub fn contrast(a: f64, b: f64) -> f64 {
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

/// The least opacity of a black box under which every colour of `texts` keeps
/// [`MIN_CONTRAST`] over the worst background, white (the box blends in sRGB, as libass does).
pub fn min_box_opacity(texts: &[[u8; 3]]) -> f64 {
    (0..=100)
        .map(|p| f64::from(p) / 100.0)
        .find(|a| {
            let grey = (255.0 * (1.0 - a)).round() as u8;
            let under = luminance([grey; 3]);
            texts.iter().all(|t| contrast(luminance(*t), under) >= MIN_CONTRAST)
        })
        .unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shortline_domain::{OverlayPosition, OverlayStyle};

    fn vertical() -> RenderSettings {
        RenderSettings::default()
    }

    #[test]
    fn the_safe_area_leaves_the_bottom_fifth_and_the_action_column_clear() {
        let (x0, y0, x1, y1) = safe_area(&vertical());
        assert_eq!((x0.round(), y0, x1.round(), y1), (65.0, 192.0, 907.0, 1536.0));
        // 32 characters of caption fit the safe width (with the box padding).
        let line = "Hydration shapes your energy and".to_owned();
        let lines = [line.clone(), line];
        let b = caption_box(&lines, caption_size_for(&lines, &vertical()), &vertical(), 0.0, 1.0);
        assert_eq!(caption_size_for(&lines, &vertical()), caption_font_size(&vertical()));
        assert!(check(&[b], &vertical()).is_ok());
        // A line of wide letters gets a smaller size and fits too.
        let wide = ["WWWWWWWWWWMMMMMMMMMMmmmmmmmmmmww".to_owned()];
        let size = caption_size_for(&wide, &vertical());
        assert!(size < caption_font_size(&vertical()));
        assert!(check(&[caption_box(&wide, size, &vertical(), 0.0, 1.0)], &vertical()).is_ok());
    }

    #[test]
    fn boxes_outside_or_overlapping_fail_naming_them() {
        let s = vertical();
        let caption = caption_box(&["Stop scrolling.".into()], caption_font_size(&s), &s, 1.0, 2.0);
        let low = TextBox { label: "overlay 1".into(), y0: 1500.0, y1: 1700.0, ..caption.clone() };
        let err = check(&[low], &s).expect_err("outside");
        assert!(err.starts_with("layout: the overlay 1 box") && err.contains("outside the safe area"), "{err}");
        let clash = TextBox { label: "overlay 2".into(), start: 1.5, end: 3.0, ..caption.clone() };
        let err = check(&[caption.clone(), clash.clone()], &s).expect_err("overlap");
        assert_eq!(err, "layout: the caption and overlay 2 boxes overlap from 1.50 s");
        // The same place at another time is fine.
        assert!(check(&[caption, TextBox { start: 2.0, ..clash }], &s).is_ok());
    }

    #[test]
    fn overlays_in_one_place_give_way_to_the_next() {
        let overlay = |start: f64, end: f64, position| PreparedOverlay {
            text: "x".into(),
            start,
            end,
            position,
            style: OverlayStyle::Bold,
            font_size: 40,
            above_captions: false,
        };
        let mut overlays = vec![
            overlay(2.0, 5.0, OverlayPosition::Top),
            overlay(0.0, 4.0, OverlayPosition::Top),
            overlay(1.0, 3.0, OverlayPosition::Bottom),
            overlay(2.0, 2.5, OverlayPosition::Top),
        ];
        sequence_overlays(&mut overlays);
        let windows: Vec<(f64, f64)> = overlays.iter().map(|o| (o.start, o.end)).collect();
        // Of the two top overlays starting at 2.0 s, the later in the plan shows; the other,
        // left no time, is dropped.
        assert_eq!(windows, [(0.0, 2.0), (1.0, 3.0), (2.0, 2.5)]);
        let boxes: Vec<TextBox> =
            overlays.iter().enumerate().map(|(i, o)| overlay_box(i, o, false, &vertical())).collect();
        assert!(check(&boxes, &vertical()).is_ok());
    }

    #[test]
    fn the_box_opacity_keeps_white_and_yellow_text_legible_on_white() {
        let opacity = min_box_opacity(&[[255, 255, 255], [255, 214, 10]]);
        assert!((0.5..0.8).contains(&opacity), "{opacity}");
        let grey = (255.0 * (1.0 - opacity)).round() as u8;
        assert!(contrast(luminance([255, 214, 10]), luminance([grey; 3])) >= MIN_CONTRAST);
        assert!((contrast(luminance([255; 3]), luminance([0; 3])) - 21.0).abs() < 1e-9);
    }
}
