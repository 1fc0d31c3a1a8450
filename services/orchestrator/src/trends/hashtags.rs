//! Hashtag normalisation shared by every parser and the analyst.

/// Longest normalised hashtag kept, in bytes including the leading `#` (a plan's hashtag limit).
const MAX_TAG_BYTES: usize = 60;

/// Normalises one hashtag: a leading `#`, lowercase, only letters, digits and `_` (spaces and
/// punctuation are dropped, so a YouTube tag `"Knife Sharpening"` becomes `#knifesharpening`).
/// `None` when nothing is left or the result is longer than 60 bytes.
pub fn normalize_hashtag(raw: &str) -> Option<String> {
    let body: String = raw
        .trim()
        .trim_start_matches('#')
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .flat_map(char::to_lowercase)
        .collect();
    if body.is_empty() || body.len() + 1 > MAX_TAG_BYTES {
        return None;
    }
    Some(format!("#{body}"))
}

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
    fn tags_are_lowercase_with_one_leading_hash_and_no_spaces() {
        assert_eq!(normalize_hashtag("#FoodTok").as_deref(), Some("#foodtok"));
        assert_eq!(normalize_hashtag("Knife Sharpening").as_deref(), Some("#knifesharpening"));
        assert_eq!(normalize_hashtag("##75Hard").as_deref(), Some("#75hard"));
        assert_eq!(normalize_hashtag("what_i_eat").as_deref(), Some("#what_i_eat"));
        assert_eq!(normalize_hashtag("  #  "), None);
        assert_eq!(normalize_hashtag(&"x".repeat(60)), None);
    }

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
