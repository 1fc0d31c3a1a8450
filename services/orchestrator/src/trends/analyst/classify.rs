//! The keyword rules that classify one trend item: its style ([`StyleCategory`]), how it opens
//! ([`HookType`]), what it sounds like ([`AudioType`]) and whether it likely shows on-screen text.

use shortline_domain::TrendItem;

/// Lowercase words separated by single spaces, with a space at both ends, so phrases match whole
/// words: `" here s how "` matches "Here's how", `" trend "` does not match "trending".
fn words(text: &str) -> String {
    let mut out = String::from(" ");
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        out.extend(word.chars().flat_map(char::to_lowercase));
        out.push(' ');
    }
    out
}

fn has_phrase(haystack: &str, phrase: &str) -> bool {
    haystack.contains(&format!(" {phrase} "))
}

/// The style of a video, in tie-break order (the first of equally strong matches wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StyleCategory {
    Listicle,
    Transformation,
    DayInTheLife,
    Storytime,
    ProductReview,
    Tutorial,
    Explainer,
    Comedy,
    TrendChallenge,
    Other,
}

impl StyleCategory {
    pub const ALL: [StyleCategory; 10] = [
        StyleCategory::Listicle,
        StyleCategory::Transformation,
        StyleCategory::DayInTheLife,
        StyleCategory::Storytime,
        StyleCategory::ProductReview,
        StyleCategory::Tutorial,
        StyleCategory::Explainer,
        StyleCategory::Comedy,
        StyleCategory::TrendChallenge,
        StyleCategory::Other,
    ];

    /// The category as written in reports (`VideoStyle::category`).
    pub fn key(self) -> &'static str {
        match self {
            StyleCategory::Listicle => "listicle",
            StyleCategory::Transformation => "transformation",
            StyleCategory::DayInTheLife => "day_in_the_life",
            StyleCategory::Storytime => "storytime",
            StyleCategory::ProductReview => "product_review",
            StyleCategory::Tutorial => "tutorial",
            StyleCategory::Explainer => "explainer",
            StyleCategory::Comedy => "comedy",
            StyleCategory::TrendChallenge => "trend_challenge",
            StyleCategory::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StyleCategory::Listicle => "listicle",
            StyleCategory::Transformation => "transformation / before-after",
            StyleCategory::DayInTheLife => "day in the life",
            StyleCategory::Storytime => "storytime",
            StyleCategory::ProductReview => "product showcase / review",
            StyleCategory::Tutorial => "tutorial / how-to",
            StyleCategory::Explainer => "explainer",
            StyleCategory::Comedy => "comedy / skit",
            StyleCategory::TrendChallenge => "trend / challenge",
            StyleCategory::Other => "general clip",
        }
    }

    /// The format written in the style's common pattern.
    pub fn format(self) -> &'static str {
        match self {
            StyleCategory::Listicle => "numbered list, one point per cut",
            StyleCategory::Transformation => "before/after reveal",
            StyleCategory::DayInTheLife => "day-in-the-life montage",
            StyleCategory::Storytime => "talking-head story told in parts",
            StyleCategory::ProductReview => "hands-on product showcase with a verdict",
            StyleCategory::Tutorial => "step-by-step demo with on-screen steps",
            StyleCategory::Explainer => "quick explainer answering one question",
            StyleCategory::Comedy => "relatable skit with a punchline",
            StyleCategory::TrendChallenge => "trend or challenge on a trending sound",
            StyleCategory::Other => "general short-form clip",
        }
    }

    /// Phrases (in [`words`] form) that point to the style; each distinct match scores one.
    fn keywords(self) -> &'static [&'static str] {
        match self {
            StyleCategory::Listicle => &["top 3", "top 5", "top 10", "ranking", "ranked", "tier list"],
            StyleCategory::Transformation => &[
                "before and after",
                "beforeandafter",
                "before after",
                "transformation",
                "glow up",
                "glowup",
                "makeover",
                "restoration",
                "restore",
                "thriftflip",
                "thrift flip",
                "furnitureflip",
                "turning",
                "deep clean",
                "detailing",
                "cardetailing",
                "satisfying",
            ],
            StyleCategory::DayInTheLife => &[
                "day in the life",
                "day in my life",
                "dayinthelife",
                "dayinmylife",
                "ditl",
                "what i eat in a day",
                "whatieatinaday",
                "routine",
                "vlog",
                "come with me",
                "spend the day",
            ],
            StyleCategory::Storytime => &[
                "storytime",
                "story time",
                "let me tell you",
                "the time i",
                "the day my",
                "part 1",
                "part 2",
                "part 3",
                "true story",
            ],
            StyleCategory::ProductReview => &[
                "review",
                "honest review",
                "unboxing",
                "unbox",
                "haul",
                "worth it",
                "worth the hype",
                "tiktokmademebuyit",
                "amazonfinds",
                "amazon finds",
                "gadget",
                "gadgets",
                "product",
                "dupe",
                "dupes",
                "tested",
                "test",
                "vs",
            ],
            StyleCategory::Tutorial => &[
                "how to",
                "howto",
                "how i",
                "tutorial",
                "step by step",
                "tips",
                "tip",
                "hack",
                "hacks",
                "lifehack",
                "learn",
                "guide",
                "here s how",
                "recipe",
                "fix",
                "template",
                "technique",
                "method",
            ],
            StyleCategory::Explainer => &[
                "why",
                "explained",
                "explainer",
                "did you know",
                "fact",
                "facts",
                "catfacts",
                "science",
                "nobody is talking about",
                "nobody talks about",
                "the truth about",
                "the answer",
            ],
            StyleCategory::Comedy => {
                &["comedy", "funny", "skit", "joke", "prank", "relatable", "lol", "meme", "reacts", "when your"]
            }
            StyleCategory::TrendChallenge => {
                &["challenge", "dancechallenge", "dance", "trend", "viral", "trying the", "75hard", "duet"]
            }
            StyleCategory::Other => &[],
        }
    }
}

/// Nouns that make "<number> <noun>" a list ("5 settings", "3 travel hacks").
const LIST_NOUNS: [&str; 32] = [
    "things",
    "ways",
    "reasons",
    "tips",
    "tricks",
    "hacks",
    "exercises",
    "stretches",
    "moves",
    "settings",
    "habits",
    "mistakes",
    "signs",
    "places",
    "spots",
    "beaches",
    "foods",
    "products",
    "items",
    "ideas",
    "rules",
    "steps",
    "secrets",
    "apps",
    "books",
    "gadgets",
    "recipes",
    "outfits",
    "lessons",
    "facts",
    "myths",
    "questions",
];

fn is_number_word(word: &str) -> bool {
    (word.len() <= 3 && word.chars().all(|c| c.is_ascii_digit()))
        || ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"].contains(&word)
}

/// A numbered-list title: "<number> [word] <plural noun>" near the start, or "top <number>".
fn listicle_score(words: &str) -> usize {
    let tokens: Vec<&str> = words.split_whitespace().collect();
    let numbered = tokens
        .iter()
        .enumerate()
        .any(|(i, t)| is_number_word(t) && tokens.iter().skip(i + 1).take(2).any(|next| LIST_NOUNS.contains(next)));
    if numbered {
        2
    } else {
        0
    }
}

/// The style of one item, by keyword rules over its title, description and hashtags.
pub fn classify_style(item: &TrendItem) -> StyleCategory {
    let tags: Vec<&str> = item.hashtags.iter().map(|t| t.trim_start_matches('#')).collect();
    let text = words(&format!("{} {} {}", item.title, item.description, tags.join(" ")));
    let title = words(&item.title);
    let mut best = (0, StyleCategory::Other);
    for style in StyleCategory::ALL {
        let mut score = style.keywords().iter().filter(|k| has_phrase(&text, k)).count();
        if style == StyleCategory::Listicle {
            score += listicle_score(&title);
        }
        if score > best.0 {
            best = (score, style);
        }
    }
    best.1
}

/// How a video opens, judged from its title's first words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HookType {
    Question,
    BoldClaim,
    Pov,
    Number,
    WaitForIt,
    /// None of the above: a plain description of what is shown.
    Statement,
}

impl HookType {
    pub fn key(self) -> &'static str {
        match self {
            HookType::Question => "question",
            HookType::BoldClaim => "bold_claim",
            HookType::Pov => "pov",
            HookType::Number => "number",
            HookType::WaitForIt => "wait_for_it",
            HookType::Statement => "statement",
        }
    }

    pub(super) fn advice(self) -> &'static str {
        match self {
            HookType::Question => "Open with a question hook (\"Is this actually worth it?\")",
            HookType::BoldClaim => "Open with a bold claim (\"Stop doing X — do this instead\")",
            HookType::Pov => "Open with a \"POV:\" caption that puts the viewer in the scene",
            HookType::Number => "Open with a number (\"3 things…\") and count through them",
            HookType::WaitForIt => "Tease the payoff (\"wait for it\") and deliver it in the last seconds",
            HookType::Statement => "Open on the most striking shot with a one-line statement",
        }
    }
}

const QUESTION_WORDS: [&str; 22] = [
    "why", "what", "who", "which", "where", "when", "would", "should", "could", "can", "do", "does", "did", "is",
    "are", "was", "have", "has", "ever", "will", "how", "anyone",
];
const WAIT_PHRASES: [&str; 8] = [
    "wait for it",
    "wait till the end",
    "wait until the end",
    "wait for the end",
    "watch till the end",
    "watch until the end",
    "wait til the end",
    "keep watching",
];
const BOLD_WORDS: [&str; 21] = [
    "stop",
    "never",
    "always",
    "best",
    "worst",
    "only",
    "nobody",
    "no one",
    "everyone",
    "secret",
    "you need",
    "you ve been",
    "wrong",
    "game changer",
    "changed my life",
    "must",
    "beats",
    "the truth",
    "don t",
    "ultimate",
    "guaranteed",
];

/// The hook type of an item, from the opening of its title: POV, a number, a question, a
/// "wait for it" tease, a bold claim, or else a statement.
pub fn classify_hook(item: &TrendItem) -> HookType {
    let title = item.title.trim();
    let first_sentence = title
        .char_indices()
        .find(|(_, c)| matches!(c, '.' | '!' | '?' | '…'))
        .map_or(title, |(i, c)| &title[..i + c.len_utf8()]);
    let is_question = first_sentence.ends_with('?');
    let sentence_words = words(first_sentence);
    let first = sentence_words.split_whitespace().next().unwrap_or_default();
    let opening = words(&format!("{title} {}", item.description.chars().take(120).collect::<String>()));

    if first == "pov" {
        HookType::Pov
    } else if first == "top" || is_number_word(first) {
        HookType::Number
    } else if is_question && QUESTION_WORDS.contains(&first) {
        HookType::Question
    } else if WAIT_PHRASES.iter().any(|p| has_phrase(&opening, p)) {
        HookType::WaitForIt
    } else if BOLD_WORDS.iter().any(|p| has_phrase(&sentence_words, p)) || first_sentence.ends_with('!') {
        HookType::BoldClaim
    } else if is_question && sentence_words.split_whitespace().count() <= 8 {
        HookType::Question
    } else {
        HookType::Statement
    }
}

/// What a video's sound is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AudioType {
    TrendingSound,
    Original,
    Voiceover,
}

impl AudioType {
    pub fn key(self) -> &'static str {
        match self {
            AudioType::TrendingSound => "trending_sound",
            AudioType::Original => "original_audio",
            AudioType::Voiceover => "voiceover",
        }
    }

    pub(super) fn advice(self) -> &'static str {
        match self {
            AudioType::TrendingSound => "Cut to a trending sound and keep any voiceover short",
            AudioType::Original => "Record original audio (talk to camera, real sound)",
            AudioType::Voiceover => "Narrate with a clear voiceover that explains what is shown",
        }
    }
}

/// The audio type from the sound's name: a voiceover if the name says so, original audio for
/// "original sound" (in the languages TikTok uses), otherwise a named track: a trending sound.
/// Without a sound name (YouTube reports none) the style decides: styles that explain or tell
/// are narrated, the others carry their own sound.
pub fn classify_audio(sound_name: Option<&str>, style: StyleCategory) -> AudioType {
    match sound_name.map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => {
            let name = words(name);
            if ["voiceover", "voice over", "narration", "narrated", "text to speech", "tts"]
                .iter()
                .any(|p| has_phrase(&name, p))
            {
                AudioType::Voiceover
            } else if [
                "original sound",
                "original audio",
                "sonido original",
                "son original",
                "som original",
                "originalton",
                "suono originale",
            ]
            .iter()
            .any(|p| has_phrase(&name, p))
            {
                AudioType::Original
            } else {
                AudioType::TrendingSound
            }
        }
        None => match style {
            StyleCategory::Tutorial
            | StyleCategory::ProductReview
            | StyleCategory::Storytime
            | StyleCategory::Listicle
            | StyleCategory::Explainer
            | StyleCategory::DayInTheLife => AudioType::Voiceover,
            StyleCategory::Comedy
            | StyleCategory::Transformation
            | StyleCategory::TrendChallenge
            | StyleCategory::Other => AudioType::Original,
        },
    }
}

/// Whether the video probably carries on-screen text. Platforms do not report it, so: hooks that
/// are read rather than heard (POV, numbers, "wait for it"), formats built on captions (lists,
/// steps, before/after, day-in-the-life), videos set to a music track (nobody speaks, so text
/// carries the message), or captions that refer to on-screen text.
pub(super) fn likely_text_overlay(item: &TrendItem, style: StyleCategory, hook: HookType, audio: AudioType) -> bool {
    let text = words(&format!("{} {}", item.title, item.description));
    matches!(hook, HookType::Pov | HookType::Number | HookType::WaitForIt)
        || matches!(
            style,
            StyleCategory::Listicle
                | StyleCategory::Tutorial
                | StyleCategory::Transformation
                | StyleCategory::DayInTheLife
        )
        || audio == AudioType::TrendingSound
        || ["read the caption", "on screen", "text on screen", "read till the end"].iter().any(|p| has_phrase(&text, p))
}
