use super::*;
use shortline_domain::{
    CommonPattern, ContentReference, HashtagCount, OverlayPosition, OverlayStyle, ThemeConfig, Transition, VideoStyle,
};

fn theme(duration: u32, with_references: bool) -> Theme {
    Theme {
        config: ThemeConfig {
            theme: "Eco-friendly water bottles".into(),
            target_platform: "tiktok".into(),
            video_duration_seconds: duration,
            style: "energetic".into(),
            auto_post: false,
            product_name: Some("AquaPure".into()),
            tagline: Some("Hydrate sustainably".into()),
            target_audience: Some("Gen Z".into()),
            tone: Some("fun".into()),
            budget_usd: None,
            avatar: None,
            captions: Default::default(),
            fresh_analysis: false,
        },
        content_references: if with_references {
            vec![
                ContentReference {
                    ref_id: "ref_001".into(),
                    kind: "product".into(),
                    title: "AquaPure bottle".into(),
                    description: "Keeps water cold for 24 hours".into(),
                    media_url: None,
                    talking_points: vec![
                        "Made from recycled steel".into(),
                        "Keeps water cold for 24 hours".into(),
                        "Fits every cup holder".into(),
                    ],
                },
                ContentReference {
                    ref_id: "ref_002".into(),
                    kind: "testimonial".into(),
                    title: "A happy hiker".into(),
                    description: "Best bottle I have owned. It survived a 3 m drop.".into(),
                    media_url: Some("https://example.com/hiker.jpg".into()),
                    talking_points: vec![],
                },
            ]
        } else {
            vec![]
        },
    }
}

fn report() -> TrendReportBody {
    TrendReportBody {
        video_styles: vec![
            VideoStyle { category: "listicle".into(), confidence: 0.4, count: 4 },
            VideoStyle { category: "comedy".into(), confidence: 0.3, count: 3 },
        ],
        common_patterns: vec![
            CommonPattern {
                format: "numbered list, one point per cut".into(),
                avg_duration_seconds: 24.0,
                hook_type: "number".into(),
                uses_text_overlay: true,
                audio_type: "voiceover".into(),
            },
            CommonPattern {
                format: "relatable skit with a punchline".into(),
                avg_duration_seconds: 14.0,
                hook_type: "pov".into(),
                uses_text_overlay: true,
                audio_type: "trending_sound".into(),
            },
        ],
        avg_engagement_velocity: 1234.5,
        top_hashtags: vec![
            HashtagCount { tag: "#shorts".into(), count: 9 },
            HashtagCount { tag: "#hydration".into(), count: 5 },
            HashtagCount { tag: "#fyp".into(), count: 4 },
            HashtagCount { tag: "#GymTok".into(), count: 3 },
            HashtagCount { tag: "#hiking".into(), count: 2 },
            HashtagCount { tag: "#camping".into(), count: 1 },
        ],
        recommendations: vec![
            "Open with a number (\"3 things…\") and count through them — 40% of top videos do.".into()
        ],
    }
}

/// Every structural promise beyond `violations()`.
fn check(plan: &ProductionPlan, theme: &Theme, context: &str) {
    assert_eq!(plan.violations(), vec![], "{context}");
    let d = f64::from(theme.config.video_duration_seconds);
    assert_eq!(plan.duration_seconds, d, "{context}");
    assert_eq!(plan.scenes.iter().map(|s| s.duration_seconds).sum::<f64>(), d, "{context}");
    assert!(plan.scenes.iter().all(|s| s.duration_seconds.fract() == 0.0), "{context}");
    assert_eq!(plan.aspect_ratio, "9:16");

    let prompts: std::collections::HashSet<_> = plan.scenes.iter().map(|s| &s.visual_prompt).collect();
    assert_eq!(prompts.len(), plan.scenes.len(), "distinct visual prompts: {context}");
    assert_eq!(plan.scenes.last().map(|s| s.transition), Some(Transition::Fade), "{context}");

    let target = d * WORDS_PER_SECOND;
    let words = plan.voiceover_script.split_whitespace().count() as f64;
    assert!(words >= target * 0.75 && words <= target * 1.3 + 2.0, "{words} words for {target}: {context}");

    let first = &plan.text_overlays[0];
    assert_eq!((first.start_seconds, first.position, first.style), (0.0, OverlayPosition::Top, OverlayStyle::Bold));
    assert_eq!(first.text, plan.hook_text);
    let last = plan.text_overlays.last().expect("overlays");
    assert_eq!((last.end_seconds, last.position, last.style), (d, OverlayPosition::Bottom, OverlayStyle::Highlight));
    assert_eq!(last.text, plan.cta_text);
    for (i, a) in plan.text_overlays.iter().enumerate() {
        for b in &plan.text_overlays[i + 1..] {
            let overlap = a.start_seconds < b.end_seconds && b.start_seconds < a.end_seconds;
            assert!(!(overlap && a.position == b.position), "{a:?} overlaps {b:?}: {context}");
        }
    }

    let unique: std::collections::HashSet<_> = plan.hashtags.iter().collect();
    assert_eq!(unique.len(), plan.hashtags.len(), "{context}");
    assert!(plan.hashtags.iter().all(|t| *t == t.to_lowercase()), "{context}");
}

#[test]
fn every_duration_and_variant_gives_a_valid_plan() {
    let report = report();
    for duration in 6..=28 {
        for variant in 1..=3 {
            for with_references in [true, false] {
                for report in [None, Some(&report)] {
                    let theme = theme(duration, with_references);
                    let context =
                        format!("{duration} s, variant {variant}, refs {with_references}, report {}", report.is_some());
                    let plan = TemplatePlanner.plan(&theme, report, variant).expect(&context);
                    check(&plan, &theme, &context);
                }
            }
        }
    }
}

#[test]
fn durations_split_into_whole_seconds() {
    let split = |d: u32, variant: u32| -> Vec<f64> {
        let plan = TemplatePlanner.plan(&theme(d, true), None, variant).expect("plan");
        plan.scenes.iter().map(|s| s.duration_seconds).collect()
    };
    assert_eq!(split(6, 1), [2.0, 2.0, 2.0]);
    assert_eq!(split(28, 2), [4.0; 7]);
    assert_eq!(split(20, 1), [3.0, 4.0, 4.0, 3.0, 3.0, 3.0]);
    assert_eq!(split(20, 2).len(), 7);
    assert_eq!(split(20, 3).len(), 5);
}

#[test]
fn the_report_shapes_the_plan() {
    let theme = theme(20, true);
    let report = report();
    let plan = TemplatePlanner.plan(&theme, Some(&report), 1).expect("plan");
    // Top style "listicle" → numbered body, top hook "number" → a number hook.
    assert!(plan.hook_text.starts_with(|c: char| c.is_ascii_digit()), "{}", plan.hook_text);
    assert!(plan.text_overlays[1].text.starts_with("1. "), "{:?}", plan.text_overlays[1]);
    assert!(plan.scenes[1].visual_prompt.starts_with("Item 1 of"), "{}", plan.scenes[1].visual_prompt);
    assert!(plan.video_prompt.contains("Trend insight: Open with a number"), "{}", plan.video_prompt);
    // Topical report tags are used; other platforms' reach tags are not.
    assert!(plan.hashtags.contains(&"#hydration".to_string()), "{:?}", plan.hashtags);
    assert!(plan.hashtags.contains(&"#gymtok".to_string()), "{:?}", plan.hashtags);
    assert!(!plan.hashtags.contains(&"#shorts".to_string()), "{:?}", plan.hashtags);
    assert_eq!(plan.hashtags[..2], ["#aquapure".to_string(), "#ecofriendlywaterbottles".to_string()]);
    // The second variant follows the report's second hook.
    let second = TemplatePlanner.plan(&theme, Some(&report), 2).expect("plan");
    assert!(second.hook_text.starts_with("POV:"), "{}", second.hook_text);
    // Without a report, a product theme is a showcase.
    let plain = TemplatePlanner.plan(&theme, None, 1).expect("plan");
    assert!(plain.scenes[1].visual_prompt.starts_with("Shot 1"), "{}", plain.scenes[1].visual_prompt);
}

#[test]
fn variants_differ_and_each_is_deterministic() {
    let report = report();
    for report in [None, Some(&report)] {
        for with_references in [true, false] {
            let theme = theme(18, with_references);
            let plans: Vec<_> = (1..=3).map(|v| TemplatePlanner.plan(&theme, report, v).expect("plan")).collect();
            for (i, a) in plans.iter().enumerate() {
                for b in &plans[i + 1..] {
                    assert_ne!(a.hook_text, b.hook_text);
                    assert_ne!(a.title, b.title);
                    assert_ne!(a.cta_text, b.cta_text);
                }
            }
            for (v, plan) in (1..=3).zip(&plans) {
                assert_eq!(&TemplatePlanner.plan(&theme, report, v).expect("plan"), plan);
            }
        }
    }
    // With references, variants also lead with different talking points.
    let theme = theme(18, true);
    let first_points: Vec<String> =
        (1..=3).map(|v| TemplatePlanner.plan(&theme, None, v).expect("plan").text_overlays[1].text.clone()).collect();
    assert_ne!(first_points[0], first_points[1]);
    assert_ne!(first_points[1], first_points[2]);
}

#[test]
fn extreme_but_valid_themes_still_plan() {
    let long = "word ".repeat(38) + "end";
    let mut theme = theme(6, true);
    theme.config.theme = long.clone() + " #@!";
    theme.config.product_name = Some("Ünïcode Prödüct — 2000 ✨".repeat(8));
    theme.config.tagline = Some("  ".into());
    theme.config.target_audience = Some(long.clone());
    theme.config.tone = Some(long.clone());
    theme.config.style = "x".into();
    theme.config.target_platform = "youtube_shorts".into();
    theme.content_references[0].talking_points = vec!["".into(), "p ".repeat(2000), "🔥".into(), "q".repeat(5000)];
    theme.content_references[1].description = "d".repeat(10_000);
    assert_eq!(theme.violations(), vec![]);
    for duration in [6, 17, 28] {
        theme.config.video_duration_seconds = duration;
        for variant in [0, 1, 2, 3, 7, u32::MAX] {
            let plan = TemplatePlanner.plan(&theme, Some(&report()), variant).expect("plan");
            check(&plan, &theme, &format!("{duration} s, variant {variant}"));
            assert!(plan.hashtags.contains(&"#shorts".to_string()), "{:?}", plan.hashtags);
        }
    }
    // A report that says nothing usable is ignored, not an error.
    let empty = TrendReportBody {
        video_styles: vec![VideoStyle { category: "???".into(), confidence: 1.0, count: 1 }],
        common_patterns: vec![],
        avg_engagement_velocity: 0.0,
        top_hashtags: vec![HashtagCount { tag: "# #".into(), count: 1 }],
        recommendations: vec![],
    };
    let plan = TemplatePlanner.plan(&theme, Some(&empty), 1).expect("plan");
    check(&plan, &theme, "empty report");
}

#[test]
fn an_invalid_theme_is_refused_with_its_violations() {
    let mut theme = theme(40, true);
    theme.config.target_platform = "myspace".into();
    let err = TemplatePlanner.plan(&theme, None, 1).expect_err("invalid");
    let PlanError::InvalidTheme(violations) = &err else { panic!("{err}") };
    let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["config.target_platform", "config.video_duration_seconds"]);
    assert!(err.to_string().starts_with("invalid theme: config.target_platform"), "{err}");
}

#[test]
fn every_theme_file_loads_and_plans() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../themes"));
    let mut paths: Vec<_> = std::fs::read_dir(dir).expect("themes/ exists").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    let names: Vec<_> = paths.iter().filter_map(|p| p.file_name()?.to_str().map(String::from)).collect();
    for expected in ["product-demo.yaml", "cooking-niche.toml", "fitness-auto.toml"] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    let planner: Box<dyn Planner> = Box::new(TemplatePlanner);
    assert_eq!(planner.name(), "template");
    for path in &paths {
        let theme = Theme::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for variant in 1..=3 {
            for report in [None, Some(report())] {
                let plan = planner.plan(&theme, report.as_ref(), variant).expect("plan");
                check(&plan, &theme, &format!("{} variant {variant}", path.display()));
            }
        }
    }
    let fitness = Theme::load(&dir.join("fitness-auto.toml")).expect("loads");
    assert!(fitness.config.auto_post);
    let demo = Theme::load(&dir.join("product-demo.yaml")).expect("loads");
    assert_eq!(demo.content_references.len(), 3);
}
