//! Captions: the voiceover's words on its timeline, grouped into cues, written as SRT and WebVTT
//! sidecars and read back by the composer.
//!
//! - **Words** ([`WordTiming`]) come from the voice engine where it can give them (espeak-ng
//!   phrase by phrase, ElevenLabs' character alignment through [`words_from_alignment`]);
//!   otherwise [`distribute`] spreads a text's words over the speech it measured.
//! - **Cues** ([`Cue`]) follow [`phrases`]: a cue ends at a sentence or clause, and never holds
//!   more than [`MAX_LINES`] lines of [`MAX_LINE_CHARS`] characters ([`wrap`]).
//! - **Files**: SRT (one cue per phrase) for uploads, and WebVTT with a timestamp tag before
//!   every word after the first (`<00:00:01.200>word`, the format's karaoke timing), so the
//!   composer highlights the spoken word from the file alone ([`parse_vtt`]).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Characters per caption line (platform guidance is 32–42 on a phone held upright).
pub const MAX_LINE_CHARS: usize = 32;
/// Lines per caption.
pub const MAX_LINES: usize = 2;

/// One spoken word and when it is heard, in seconds from the start of the voiceover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordTiming {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

/// One caption: the words of a phrase.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub words: Vec<WordTiming>,
}

impl Cue {
    /// The cue's text wrapped to its lines.
    pub fn lines(&self) -> Vec<String> {
        wrap(self.words.iter().map(|w| w.text.as_str()))
    }
}

/// Greedy wrap of `words` to lines of at most [`MAX_LINE_CHARS`] characters (a longer word
/// gets a line of its own).
pub fn wrap<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in words {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= MAX_LINE_CHARS => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// Whether a word closes a phrase: it ends a sentence or a clause (closing quotes and brackets
/// aside), or is a dash, where a voice pauses too.
pub fn closes_phrase(word: &str) -> bool {
    let bare = word.trim_end_matches(['"', '\'', ')', ']', '”', '’', '»']);
    bare.ends_with(['.', '!', '?', ';', ':', '…', '。', '！', '？', '—', '–'])
}

/// The caption phrases of `text`, as words (split at whitespace): a phrase ends after a
/// sentence or clause, after a comma once it has a few words, and before a word that would
/// need a third line.
pub fn phrases(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && wrap(current.iter().map(String::as_str).chain([word])).len() > MAX_LINES {
            out.push(std::mem::take(&mut current));
        }
        current.push(word.to_owned());
        let chars: usize = current.iter().map(|w| w.chars().count() + 1).sum();
        if closes_phrase(word) || (word.ends_with([',', '，', '、']) && chars >= MAX_LINE_CHARS / 2) {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// How long a word takes to say relative to others: its letters, a spelled-out number's digits
/// counting more (`28` is "twenty-eight"). Never 0, so every word gets some time.
pub fn word_weight(word: &str) -> f64 {
    let weight: f64 = word
        .chars()
        .map(|c| match c {
            c if c.is_ascii_digit() => 3.0,
            c if c.is_alphanumeric() => 1.0,
            _ => 0.0,
        })
        .sum();
    weight.max(1.0)
}

/// [`word_weight`] plus the pause after a comma or a sentence's end (and the drawn-out word
/// before it), for spreading words over a whole voice whose short pauses the level detector
/// cannot see: against libespeak-ng's word events it lowers the fallback's onset error from a
/// mean of 171 ms (max 620 ms) to 126 ms (max 495 ms). Inside one phrase, plain letters do
/// better (57 ms against 62 ms), so [`distribute`] keeps them.
pub fn pause_weight(word: &str) -> f64 {
    let pause = match word.trim_end_matches(['"', '\'', ')', ']', '”', '’']).chars().last() {
        Some(',' | ';' | ':' | '，') => 2.0,
        Some('.' | '!' | '?' | '…' | '—' | '–') => 3.0,
        _ => 0.0,
    };
    word_weight(word) + pause
}

/// Spreads `words` over the speech in `segments` (`(start, end)` in seconds, in order, with the
/// pauses between them left out) in proportion to [`word_weight`]: the fallback for engines that
/// give no timings, and the placement of words inside a phrase whose span was measured.
pub fn distribute(words: &[String], segments: &[(f64, f64)]) -> Vec<WordTiming> {
    spread(words, segments, word_weight)
}

/// [`distribute`] with the words weighed by `weight` (never 0).
pub fn spread(words: &[String], segments: &[(f64, f64)], weight: fn(&str) -> f64) -> Vec<WordTiming> {
    let segments: Vec<(f64, f64)> = segments.iter().copied().filter(|(s, e)| e > s).collect();
    let speech: f64 = segments.iter().map(|(s, e)| e - s).sum();
    let total: f64 = words.iter().map(|w| weight(w)).sum();
    // Speech time `p` (pauses excluded) to voice time.
    let at = |p: f64| -> f64 {
        let mut left = p;
        for (s, e) in &segments {
            if left <= e - s + 1e-9 {
                return s + left;
            }
            left -= e - s;
        }
        segments.last().map_or(0.0, |(_, e)| *e)
    };
    let mut cumulative = 0.0;
    words
        .iter()
        .map(|word| {
            let from = speech * cumulative / total;
            cumulative += weight(word);
            let to = speech * cumulative / total;
            // A word starting exactly at a segment's end starts at the next segment instead.
            let start = at(from + 1e-6).min(at(to));
            WordTiming { text: word.clone(), start: round_ms(start), end: round_ms(at(to)) }
        })
        .collect()
}

/// Words from a per-character alignment (ElevenLabs' `alignment`): a word starts with its
/// first character and ends with its last. `None` when the arrays disagree in length or the
/// words are not those of `text` (the caller then falls back to [`distribute`]).
pub fn words_from_alignment(
    text: &str,
    characters: &[String],
    starts: &[f64],
    ends: &[f64],
) -> Option<Vec<WordTiming>> {
    if characters.len() != starts.len() || characters.len() != ends.len() || characters.is_empty() {
        return None;
    }
    let mut words: Vec<WordTiming> = Vec::new();
    let mut current: Option<WordTiming> = None;
    for ((c, start), end) in characters.iter().zip(starts).zip(ends) {
        if !(start.is_finite() && end.is_finite()) {
            return None;
        }
        if c.chars().all(char::is_whitespace) {
            words.extend(current.take());
            continue;
        }
        let word = current.get_or_insert_with(|| WordTiming { text: String::new(), start: *start, end: *end });
        word.text.push_str(c);
        word.end = word.end.max(*end);
    }
    words.extend(current);
    let expected: Vec<&str> = text.split_whitespace().collect();
    let same = words.len() == expected.len() && words.iter().zip(&expected).all(|(w, e)| w.text == *e);
    same.then(|| {
        words
            .into_iter()
            .map(|w| WordTiming { start: round_ms(w.start), end: round_ms(w.end.max(w.start)), text: w.text })
            .collect()
    })
}

/// The words of `text`, timed by `words` (in the order of [`phrases`]), as cues; `None` when
/// the number of words differs.
pub fn cues(text: &str, words: &[WordTiming]) -> Option<Vec<Cue>> {
    let phrases = phrases(text);
    if phrases.iter().map(Vec::len).sum::<usize>() != words.len() {
        return None;
    }
    let mut rest = words;
    let mut out = Vec::with_capacity(phrases.len());
    for phrase in phrases {
        let (these, next) = rest.split_at(phrase.len());
        rest = next;
        let start = these.first().map_or(0.0, |w| w.start);
        let end = these.iter().map(|w| w.end).fold(start, f64::max);
        out.push(Cue { start, end, words: these.to_vec() });
    }
    Some(out)
}

fn round_ms(seconds: f64) -> f64 {
    (seconds.max(0.0) * 1000.0).round() / 1000.0
}

/// `HH:MM:SS{sep}mmm`.
fn timestamp(seconds: f64, separator: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}{separator}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Cue text cannot hold a blank line (it would end the cue) or, in WebVTT, a raw `<` or `&`.
fn vtt_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// SubRip: numbered cues, `00:00:01,200 --> 00:00:02,500`, the phrase on its lines.
pub fn to_srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (i, cue) in cues.iter().enumerate() {
        let _ = writeln!(out, "{}\n{} --> {}", i + 1, timestamp(cue.start, ','), timestamp(cue.end, ','));
        let _ = writeln!(out, "{}\n", cue.lines().join("\n"));
    }
    out
}

/// WebVTT with a timestamp tag before every word after the first.
pub fn to_vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (i, cue) in cues.iter().enumerate() {
        let _ = writeln!(out, "{}\n{} --> {}", i + 1, timestamp(cue.start, '.'), timestamp(cue.end, '.'));
        let mut index = 0;
        let mut lines = Vec::new();
        for line in cue.lines() {
            let mut tagged = Vec::new();
            for _ in line.split(' ') {
                let word = &cue.words[index];
                let text = vtt_escape(&word.text);
                tagged.push(if index == 0 { text } else { format!("<{}>{text}", timestamp(word.start, '.')) });
                index += 1;
            }
            lines.push(tagged.join(" "));
        }
        let _ = writeln!(out, "{}\n", lines.join("\n"));
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptionError {
    #[error("not a WebVTT file (no WEBVTT header)")]
    NotVtt,
    #[error("bad cue timing {0:?}")]
    BadTiming(String),
}

fn parse_timestamp(text: &str) -> Option<f64> {
    let (clock, ms) = text.trim().split_once(['.', ','])?;
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() > 3 || ms.len() != 3 {
        return None;
    }
    let mut seconds = 0.0;
    for part in parts {
        seconds = seconds * 60.0 + part.parse::<u32>().ok()? as f64;
    }
    Some(seconds + ms.parse::<u32>().ok()? as f64 / 1000.0)
}

fn vtt_unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Reads [`to_vtt`]'s files (and plain WebVTT: a cue without tags gets its words spread over
/// it): each word starts at the tag before it, or the cue's start, and ends where the next one
/// starts, or at the cue's end.
pub fn parse_vtt(text: &str) -> Result<Vec<Cue>, CaptionError> {
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    if !text.starts_with("WEBVTT") {
        return Err(CaptionError::NotVtt);
    }
    let mut cues = Vec::new();
    for block in text.split("\n\n").skip(1) {
        let mut lines = block.lines().skip_while(|l| !l.contains("-->"));
        let Some(timing) = lines.next() else { continue };
        let (from, to) = timing.split_once("-->").ok_or_else(|| CaptionError::BadTiming(timing.into()))?;
        let to = to.split_whitespace().next().unwrap_or_default();
        let (Some(start), Some(end)) = (parse_timestamp(from), parse_timestamp(to)) else {
            return Err(CaptionError::BadTiming(timing.into()));
        };
        let mut words: Vec<(String, Option<f64>)> = Vec::new();
        let mut tagged = false;
        for line in lines {
            let mut at: Option<f64> = None;
            for token in line.split_whitespace() {
                let mut rest = token;
                while let Some(tag) = rest.strip_prefix('<').and_then(|r| r.split_once('>')) {
                    if let Some(t) = parse_timestamp(tag.0) {
                        at = Some(t);
                        tagged = true;
                    }
                    rest = tag.1;
                }
                if !rest.is_empty() {
                    words.push((vtt_unescape(rest), at.take()));
                }
            }
        }
        let timed = if tagged {
            let starts: Vec<f64> = words
                .iter()
                .scan(start, |last, (_, at)| {
                    *last = at.unwrap_or(*last).clamp(start, end);
                    Some(*last)
                })
                .collect();
            words
                .iter()
                .enumerate()
                .map(|(i, (text, _))| WordTiming {
                    text: text.clone(),
                    start: starts[i],
                    end: starts.get(i + 1).copied().unwrap_or(end),
                })
                .collect()
        } else {
            let texts: Vec<String> = words.into_iter().map(|(t, _)| t).collect();
            distribute(&texts, &[(start, end)])
        };
        cues.push(Cue { start, end, words: timed });
    }
    Ok(cues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(words: &[(&str, f64, f64)]) -> Vec<WordTiming> {
        words.iter().map(|(t, s, e)| WordTiming { text: (*t).into(), start: *s, end: *e }).collect()
    }

    #[test]
    fn phrases_end_at_clauses_and_never_need_a_third_line() {
        let text = "Stop scrolling. This one trick, used by pros everywhere, changes everything you thought \
                    you knew about hydration and daily energy levels forever";
        let phrases = phrases(text);
        let joined: Vec<String> = phrases.iter().map(|p| p.join(" ")).collect();
        assert_eq!(joined[0], "Stop scrolling.");
        assert_eq!(joined[1..3], ["This one trick,", "used by pros everywhere,"]);
        let dashed: Vec<String> = super::phrases("Get it today — link in bio.").iter().map(|p| p.join(" ")).collect();
        assert_eq!(dashed, ["Get it today —", "link in bio."]);
        for phrase in &phrases {
            let lines = wrap(phrase.iter().map(String::as_str));
            assert!(lines.len() <= MAX_LINES, "{lines:?}");
            assert!(lines.iter().all(|l| l.chars().count() <= MAX_LINE_CHARS), "{lines:?}");
        }
        assert_eq!(phrases.concat().join(" "), text.split_whitespace().collect::<Vec<_>>().join(" "));
    }

    #[test]
    fn distribution_skips_pauses_and_follows_weights() {
        let words: Vec<String> = ["ab", "abcd", "xy"].map(String::from).to_vec();
        // 1 s of speech, a pause, 1 s more: "ab" + half of "abcd" fill the first second.
        let got = distribute(&words, &[(0.5, 1.5), (2.0, 3.0)]);
        assert_eq!(got, timed(&[("ab", 0.5, 1.0), ("abcd", 1.0, 2.5), ("xy", 2.5, 3.0)]));
        // A word whose share begins where a segment ends starts after the pause.
        let got = distribute(&["ab".into(), "cd".into()], &[(0.0, 1.0), (2.0, 3.0)]);
        assert_eq!(got, timed(&[("ab", 0.0, 1.0), ("cd", 2.0, 3.0)]));
    }

    #[test]
    fn alignment_characters_become_words() {
        let chars: Vec<String> = "Hi you".chars().map(String::from).collect();
        let starts = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5];
        let ends = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let words = words_from_alignment("Hi you", &chars, &starts, &ends).expect("words");
        assert_eq!(words, timed(&[("Hi", 0.0, 0.2), ("you", 0.3, 0.6)]));
        assert_eq!(words_from_alignment("Hi there", &chars, &starts, &ends), None, "other words");
        assert_eq!(words_from_alignment("Hi you", &chars, &starts[1..], &ends), None, "lengths differ");
    }

    #[test]
    fn srt_and_vtt_round_trip_the_word_times() {
        let text = "Stop scrolling. Drink <more> water & smile";
        let words = timed(&[
            ("Stop", 0.012, 0.4),
            ("scrolling.", 0.4, 0.908),
            ("Drink", 1.225, 1.5),
            ("<more>", 1.5, 1.8),
            ("water", 1.8, 2.1),
            ("&", 2.1, 2.2),
            ("smile", 2.2, 2.6),
        ]);
        let cues = cues(text, &words).expect("cues");
        assert_eq!(cues.len(), 2);
        let srt = to_srt(&cues);
        assert!(
            srt.starts_with("1\n00:00:00,012 --> 00:00:00,908\nStop scrolling.\n\n2\n00:00:01,225 --> 00:00:02,600\n")
        );
        let vtt = to_vtt(&cues);
        assert!(vtt.contains("Drink <00:00:01.500>&lt;more&gt; <00:00:01.800>water"), "{vtt}");
        let back = parse_vtt(&vtt).expect("parses");
        assert_eq!(back.len(), 2);
        assert_eq!(
            back[1].words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(),
            ["Drink", "<more>", "water", "&", "smile"]
        );
        for (got, want) in back.iter().flat_map(|c| &c.words).zip(&words) {
            assert!((got.start - want.start).abs() < 1e-9, "{got:?} vs {want:?}");
        }
        assert_eq!(parse_vtt("1\n00:00:00.000 --> 00:00:01.000\nx\n"), Err(CaptionError::NotVtt));
        assert!(matches!(parse_vtt("WEBVTT\n\n00:00:0x.000 --> 00:00:01.000\nx\n"), Err(CaptionError::BadTiming(_))));
    }

    #[test]
    fn a_cue_without_tags_spreads_its_words() {
        let cues = parse_vtt("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nab cd\n").expect("parses");
        assert_eq!(cues[0].words, timed(&[("ab", 1.0, 1.5), ("cd", 1.5, 2.0)]));
    }
}
