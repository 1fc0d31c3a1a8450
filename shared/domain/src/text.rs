//! Text from callers, as errors show it and as the edge accepts it.
//!
//! Errors quote a bad value through [`quote`] only: a short prefix, control characters escaped,
//! so a 4 MiB value (or one of accented characters, which percent-encoding triples) never makes a
//! status trailer larger than proxies and clients accept. [`shorten`] bounds whole messages that
//! may hold input (a parser's error). [`control_character`] is the one rule for stored text:
//! nothing below U+0020 except newline and tab, and no DEL or C1 controls.

use crate::Violation;

/// How many characters of a bad value an error quotes.
pub const QUOTE_CHARS: usize = 40;

/// The longest message an error built from input may have, in characters (a status message
/// is cut to it too, whatever built it).
pub const MESSAGE_CHARS: usize = 1_000;

/// `` `value` ``, or `` `first 40 characters…` (N bytes) `` for a longer value; control
/// characters are shown escaped (`\u{0}`), never sent raw.
pub fn quote(value: &str) -> String {
    let mut quoted = String::from("`");
    let mut chars = value.chars();
    for c in chars.by_ref().take(QUOTE_CHARS) {
        push_visible(&mut quoted, c);
    }
    if chars.next().is_some() {
        quoted.push_str(&format!("…` ({} bytes)", value.len()));
    } else {
        quoted.push('`');
    }
    quoted
}

/// `message` cut to at most `max_chars` characters (ending in `…` when cut), control
/// characters escaped.
pub fn shorten(message: &str, max_chars: usize) -> String {
    let mut short = String::with_capacity(message.len().min(max_chars * 4));
    let mut chars = message.chars();
    for c in chars.by_ref().take(max_chars) {
        push_visible(&mut short, c);
    }
    if chars.next().is_some() {
        short.push('…');
    }
    short
}

fn push_visible(out: &mut String, c: char) {
    if is_forbidden_control(c) {
        out.extend(c.escape_unicode());
    } else {
        out.push(c);
    }
}

fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// The first control character of `value` other than newline and tab, as the reason a field
/// refuses it: `contains the control character U+0000 at character 5`.
pub fn control_character(value: &str) -> Option<String> {
    value.chars().enumerate().find(|(_, c)| is_forbidden_control(*c)).map(|(position, c)| {
        format!(
            "contains the control character U+{:04X} at character {position} (only newline and tab are allowed)",
            c as u32
        )
    })
}

/// A request's text field that gets stored: at most `max_chars` characters, no control
/// characters but newline and tab.
pub fn stored_text(field: &str, value: &str, max_chars: usize) -> Result<(), Violation> {
    if value.chars().count() > max_chars {
        return Err(Violation::new(field, format!("longer than {max_chars} characters")));
    }
    match control_character(value) {
        Some(reason) => Err(Violation::new(field, reason)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole() {
        assert_eq!(quote("youtube"), "`youtube`");
        assert_eq!(quote(""), "``");
        assert_eq!(quote("a\u{0}b"), "`a\\u{0}b`");
    }

    #[test]
    fn long_values_are_cut_to_a_prefix_with_their_size() {
        let huge = "é".repeat(2_000_000);
        let quoted = quote(&huge);
        assert_eq!(quoted, format!("`{}…` (4000000 bytes)", "é".repeat(QUOTE_CHARS)));
        assert!(quoted.len() < 120, "{}", quoted.len());
    }

    #[test]
    fn messages_are_bounded_and_escaped() {
        assert_eq!(shorten("fine", 10), "fine");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("a\u{7}\nb", 10), "a\\u{7}\nb");
    }

    #[test]
    fn control_characters_are_found_except_newline_and_tab() {
        assert_eq!(control_character("two\nlines\tand a tab"), None);
        assert_eq!(control_character("Caf\u{e9}"), None);
        let reason = control_character("ab\u{0}").expect("NUL");
        assert!(reason.contains("U+0000 at character 2"), "{reason}");
        assert!(control_character("\u{1b}[31m").expect("ESC").contains("U+001B"));
        assert!(control_character("x\u{7f}").expect("DEL").contains("U+007F"));
        assert!(control_character("x\u{85}").expect("C1").contains("U+0085"));
    }
}
