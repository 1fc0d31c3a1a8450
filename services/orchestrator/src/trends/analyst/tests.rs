use super::*;
use crate::trends::SampleTrendSource;
use shortline_domain::Platform;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2031-05-06T07:08:09Z").expect("valid").with_timezone(&Utc)
}

/// Both bundled samples as stored trends (ids 1..).
fn stored() -> Vec<(i64, TrendItem)> {
    SampleTrendSource::all()
        .into_iter()
        .flat_map(|s| s.items_at(now(), usize::MAX).expect("samples parse"))
        .enumerate()
        .map(|(i, item)| (i as i64 + 1, item))
        .collect()
}

fn item(title: &str, description: &str, tags: &[&str], sound: Option<&str>) -> TrendItem {
    TrendItem {
        platform: Platform::Tiktok,
        external_id: title.to_string(),
        title: title.to_string(),
        description: description.to_string(),
        hashtags: tags.iter().map(|t| t.to_string()).collect(),
        views: 1000,
        likes: 100,
        comments: 10,
        shares: 5,
        duration_seconds: 20,
        creator: "someone".into(),
        sound_name: sound.map(String::from),
        video_url: "https://example.com/v".into(),
        thumbnail_url: None,
        posted_at: now() - Duration::hours(2),
    }
}

#[test]
fn selection_keeps_the_window_and_orders_by_velocity() {
    let mut items = stored();
    let mut old = items[0].1.clone();
    old.external_id = "old".into();
    old.posted_at = now() - Duration::hours(25);
    old.likes = i64::MAX / 4;
    items.push((999, old));

    let selected = select_for_analysis(&items, now(), ANALYSIS_WINDOW_HOURS, ANALYSIS_MAX_ITEMS);
    assert_eq!(selected.len(), 37);
    assert!(selected.iter().all(|(id, _)| *id != 999), "the 25 h old item is outside the window");
    let velocities: Vec<f64> = selected.iter().map(|(_, i)| i.engagement_velocity(now())).collect();
    assert!(velocities.windows(2).all(|w| w[0] >= w[1]), "{velocities:?}");

    let top = select_for_analysis(&items, now(), 24, 5);
    assert_eq!(top, selected[..5].to_vec());
    assert!(select_for_analysis(&items, now(), 0, 100).is_empty());
}

#[test]
fn styles_hooks_and_audio_follow_the_keyword_rules() {
    let cases = [
        ("5 iPhone settings you need to turn off right now", StyleCategory::Listicle, HookType::Number),
        (
            "Before and after: 10 year old carpet deep clean wait for it",
            StyleCategory::Transformation,
            HookType::WaitForIt,
        ),
        ("How to make crispy garlic butter potatoes", StyleCategory::Tutorial, HookType::Statement),
        ("Is this $25 blender actually worth it? Honest review", StyleCategory::ProductReview, HookType::Question),
        ("POV: the group project partner shows up. #skit", StyleCategory::Comedy, HookType::Pov),
        ("Storytime: the day my landlord kept my deposit", StyleCategory::Storytime, HookType::Statement),
        ("What I eat in a day as a busy mom", StyleCategory::DayInTheLife, HookType::Statement),
        ("Stop wasting money on serums #dupes", StyleCategory::ProductReview, HookType::BoldClaim),
        ("Why do cats knock things off tables?", StyleCategory::Explainer, HookType::Question),
        ("Learned the #dancechallenge in one take", StyleCategory::TrendChallenge, HookType::Statement),
        ("A quiet walk by the sea", StyleCategory::Other, HookType::Statement),
    ];
    for (title, style, hook) in cases {
        let it = item(title, "", &[], None);
        assert_eq!((classify_style(&it), classify_hook(&it)), (style, hook), "{title}");
    }
    assert_eq!(classify_audio(Some("original sound - chef.mara"), StyleCategory::Tutorial), AudioType::Original);
    assert_eq!(classify_audio(Some("Voiceover - techwithjun"), StyleCategory::Comedy), AudioType::Voiceover);
    assert_eq!(classify_audio(Some("Moonwalk Shuffle - DJ Palo"), StyleCategory::Comedy), AudioType::TrendingSound);
    assert_eq!(classify_audio(None, StyleCategory::Tutorial), AudioType::Voiceover);
    assert_eq!(classify_audio(None, StyleCategory::Comedy), AudioType::Original);
    // Whole words only: "trending" is not "trend", "thesis" is not "tip".
    assert_eq!(classify_style(&item("Trending thesis topics", "", &[], None)), StyleCategory::Other);
}

#[test]
fn the_sample_report_is_complete_and_deterministic() {
    let items = select_for_analysis(&stored(), now(), 24, 100);
    let report = HeuristicAnalyst.report(&items, now()).expect("report");

    let counted: i32 = report.video_styles.iter().map(|s| s.count).sum();
    assert_eq!(counted, 37);
    assert!(report.video_styles.windows(2).all(|w| w[0].count >= w[1].count));
    assert_eq!(report.video_styles[0].category, "listicle");
    assert!(report.video_styles.len() >= 6, "a varied sample: {:?}", report.video_styles);
    let confidence: f64 = report.video_styles.iter().map(|s| s.confidence).sum();
    assert!((confidence - 1.0).abs() < 0.01);

    assert!((1..=MAX_PATTERNS).contains(&report.common_patterns.len()));
    assert_eq!(report.common_patterns[0].format, StyleCategory::Listicle.format());
    assert_eq!(report.common_patterns[0].hook_type, "number");
    for p in &report.common_patterns {
        assert!(p.avg_duration_seconds > 0.0 && p.avg_duration_seconds <= 60.0);
    }

    assert!(report.avg_engagement_velocity > 0.0);
    assert_eq!(report.top_hashtags.len(), 10);
    assert!(report.top_hashtags.windows(2).all(|w| w[0].count >= w[1].count));
    assert!(report.top_hashtags.iter().all(|h| h.tag.starts_with('#') && h.tag == h.tag.to_lowercase()));
    assert_eq!(report.top_hashtags[0], HashtagCount { tag: "#shorts".into(), count: 9 });

    assert!((3..=6).contains(&report.recommendations.len()), "{:?}", report.recommendations);
    assert!(report.recommendations[1].starts_with("Open with a number"), "{:?}", report.recommendations);

    // Same input, same output; the order of the input does not matter either.
    assert_eq!(HeuristicAnalyst.report(&items, now()).expect("report"), report);
    let mut reversed = items.clone();
    reversed.reverse();
    assert_eq!(HeuristicAnalyst.report(&reversed, now()).expect("report"), report);
}

#[tokio::test]
async fn the_analyst_is_object_safe_and_refuses_nothing_to_analyse() {
    let analyst: Box<dyn Analyst> = Box::new(HeuristicAnalyst);
    assert_eq!(analyst.name(), "heuristic");
    let items = stored();
    let report = analyst.analyze(&items, now()).await.expect("report");
    assert_eq!(report, Analysis::free(HeuristicAnalyst.report(&items, now()).expect("report")));
    assert!(matches!(analyst.analyze(&[], now()).await, Err(AnalysisError::NoTrends)));

    let one = [(7, item("Why is nobody talking about this?", "", &["#fyp"], Some("original sound")))];
    let report = analyst.analyze(&one, now()).await.expect("one item is enough").body;
    assert_eq!(report.video_styles.len(), 1);
    assert!((3..=6).contains(&report.recommendations.len()), "{:?}", report.recommendations);
}
