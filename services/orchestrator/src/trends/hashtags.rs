//! Hashtags in trend items: found in free text and gathered without repeats, each normalised
//! by [`normalize_hashtag`] (the domain's, which the planner uses too).

pub use shortline_domain::plan::normalize_hashtag;

/// The `#words` written in free text, normalised, in order of appearance (duplicates kept; callers
/// deduplicate across all their sources). A `#` counts only at the start of a word or right after
/// another tag, so `#one#two` is two tags but `C#` and `a#b` are none.
pub fn extract_hashtags(text: &str) -> Vec<String> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut tags = Vec::new();
    // Whether the previous character continues a plain word (then a `#` is not a tag start).
    let mut in_word = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '#' && !in_word {
            let start = i + 1;
            let mut end = start;
            while let Some(&(j, d)) = chars.peek() {
                if !is_word(d) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            if let Some(tag) = normalize_hashtag(&text[start..end]) {
                tags.push(tag);
            }
            // `#one#two` are two tags: the next `#` may start another one.
            in_word = false;
        } else {
            in_word = is_word(c);
        }
    }
    tags
}

/// Appends the normalised form of each tag not already present.
pub(crate) fn push_unique<I, S>(into: &mut Vec<String>, tags: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    for tag in tags {
        if let Some(tag) = normalize_hashtag(tag.as_ref()) {
            if !into.contains(&tag) {
                into.push(tag);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_are_found_at_word_starts_only() {
        let text = "Try this 🥔#Cooking #recipe! C# is not a tag, a#b neither; #Easy_Recipe#fyp";
        assert_eq!(extract_hashtags(text), ["#cooking", "#recipe", "#easy_recipe", "#fyp"]);
        assert_eq!(extract_hashtags("#café time #"), ["#café"]);
    }

    #[test]
    fn push_unique_deduplicates_after_normalising() {
        let mut tags = vec!["#cats".to_string()];
        push_unique(&mut tags, ["Cats", "#CatFacts", "cat facts", "#shorts"]);
        assert_eq!(tags, ["#cats", "#catfacts", "#shorts"]);
    }
}
