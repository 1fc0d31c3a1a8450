//! Text helpers of the templates: whitespace, clipping to word and character limits, case and
//! sentence shape.

pub(super) fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The text up to its first comma, semicolon, colon, parenthesis or dash.
pub(super) fn first_clause(text: &str) -> &str {
    text.split([',', ';', ':', '(', '—', '–']).next().unwrap_or_default().trim()
}

pub(super) fn plural<'s>(n: usize, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// At most `max_chars` characters, cut at a word boundary when one is near, with `…` when cut.
pub(super) fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > cut.len() / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

/// At most `max_words` words and `max_chars` characters.
pub(super) fn clip_words(text: &str, max_words: usize, max_chars: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.iter().take(max_words).copied().collect::<Vec<_>>().join(" ");
    if words.len() > max_words {
        clip(&format!("{joined}…"), max_chars)
    } else {
        clip(&joined, max_chars)
    }
}

pub(super) fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Lower-cases the first letter so the text reads inside a sentence, unless it looks like a name.
pub(super) fn lower_first(text: &str) -> String {
    let first_word = text.split_whitespace().next().unwrap_or_default();
    if first_word == "I" || first_word.starts_with("I'") || first_word.starts_with("I’") {
        return text.to_string();
    }
    // Internal capitals ("iPhone", "AquaPure", "NYC") or a capitalised second word ("Gen Z",
    // "New York") mark a name.
    let second_capital = text.split_whitespace().nth(1).and_then(|w| w.chars().next()).is_some_and(char::is_uppercase);
    if second_capital || first_word.chars().skip(1).any(char::is_uppercase) {
        return text.to_string();
    }
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// Capitalised and ending in punctuation.
pub(super) fn sentence(text: &str) -> String {
    let text = upper_first(text.trim());
    if text.ends_with(['.', '!', '?', '…']) {
        text
    } else {
        format!("{text}.")
    }
}
