//! The plan's hashtags: the product and the theme, the report's tags for the target platform, the
//! platform's reach tag and general ones, normalised to `#lowercase`.

use shortline_domain::plan::{normalize_hashtag, HASHTAGS};

use super::draft::Draft;

impl Draft<'_> {
    /// 5–8 hashtags: the product and the theme, the report's top topical tags for this platform,
    /// the platform's reach tag, words of the theme, then general ones if still short.
    pub(super) fn hashtags(&self) -> Vec<String> {
        let c = &self.theme.config;
        let mut candidates: Vec<String> = Vec::new();
        if let Some(product) = &c.product_name {
            candidates.push(product.clone());
        }
        // Words as tags: "Self-heating" → "selfheating"; short and filler words are left out.
        let theme_words: Vec<String> = c
            .theme
            .split_whitespace()
            .map(|w| w.chars().filter(|ch| ch.is_alphanumeric()).collect::<String>())
            .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(&w.to_lowercase().as_str()))
            .collect();
        // The last two words usually name the niche: "smart coffee mug" → #coffeemug.
        let niche = (theme_words.len() >= 2).then(|| theme_words[theme_words.len() - 2..].concat());
        let compact_theme: String = c.theme.chars().filter(|ch| ch.is_alphanumeric()).collect();
        if compact_theme.chars().count() <= 24 {
            candidates.push(compact_theme);
        }
        candidates.extend(niche.clone());
        let platform_tag = match c.target_platform.as_str() {
            "youtube_shorts" => "#shorts",
            "instagram_reels" => "#reels",
            _ => "#fyp",
        };
        if let Some(report) = self.report {
            candidates.extend(
                report
                    .top_hashtags
                    .iter()
                    .map(|h| h.tag.clone())
                    .filter(|t| {
                        let t = normalize_hashtag(t).unwrap_or_default();
                        !PLATFORM_TAGS.contains(&t.as_str()) || t == platform_tag
                    })
                    .take(3),
            );
        }
        candidates.push(platform_tag.to_string());
        candidates.extend(theme_words.iter().rev().cloned());
        let general = if self.product.is_some() { "#musthave" } else { "#howto" };
        candidates.extend([general, "#tips", "#trending", "#viral", "#explore"].map(String::from));

        let mut tags: Vec<String> = Vec::new();
        for tag in candidates.iter().filter_map(|t| normalize_hashtag(t)) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags.truncate(*HASHTAGS.end());
        tags
    }
}

/// Tags that only make sense on one platform; the report's ones are kept only for their platform.
const PLATFORM_TAGS: [&str; 9] =
    ["#fyp", "#foryou", "#foryoupage", "#tiktok", "#shorts", "#youtubeshorts", "#youtube", "#reels", "#instagram"];

const STOPWORDS: [&str; 18] = [
    "with", "from", "that", "this", "your", "their", "about", "into", "for", "and", "the", "best", "more", "most",
    "very", "just", "how", "you",
];
