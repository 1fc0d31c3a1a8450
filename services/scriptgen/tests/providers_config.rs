//! The `[providers]` configuration of the real providers: lists, prices, keys.

#![allow(clippy::unwrap_used)]

mod providers_support;

use shortline_config::{ClipProviderName, Config, ProviderSet, VoiceProviderName};
use shortline_scriptgen::{MediaProviders, ScriptPlanner};
use shortline_testing::providers::{assert_no_key, KEY};

#[test]
fn the_offline_set_stays_the_default() {
    let config = Config::default();
    assert_eq!(config.providers.set, ProviderSet::Offline);
    assert!(config.providers.voice.is_empty() && config.providers.clips.is_empty());
    let providers = MediaProviders::from_config(&config.providers, &config.media).unwrap();
    assert_eq!((providers.voice.name(), providers.clips.name()), ("espeak-ng", "procedural"));
}

#[test]
fn lists_and_prices_load_from_toml() {
    let config = Config::from_toml_str(
        r#"
        [providers]
        voice = ["openai", "elevenlabs", "fish_audio"]
        clips = ["fal_kling", "fal_minimax", "pexels"]

        [providers.http]
        max_retries = 1

        [providers.elevenlabs]
        base_url = "http://127.0.0.1:9999"
        voice_id = "abc"

        [providers.prices."tts-1"]
        per_1k_characters = 15000
        [providers.prices.eleven_multilingual_v2]
        per_1k_characters = 300000
        [providers.prices.s1]
        per_1k_characters = 15000
        [providers.prices."fal-ai/kling-video/v2.5-turbo/pro/text-to-video"]
        per_second = 50000
        [providers.prices."fal-ai/minimax/hailuo-02/standard/text-to-video"]
        per_second = 45000
        "#,
    )
    .unwrap();
    let p = &config.providers;
    assert_eq!(p.voice, [VoiceProviderName::Openai, VoiceProviderName::Elevenlabs, VoiceProviderName::FishAudio]);
    assert_eq!(p.clips, [ClipProviderName::FalKling, ClipProviderName::FalMinimax, ClipProviderName::Pexels]);
    assert_eq!(p.http.max_retries, 1);
    assert_eq!(p.http.backoff_max_ms, 8000, "the rest of the section keeps its defaults");
    assert_eq!(p.elevenlabs.base_url, "http://127.0.0.1:9999");
    assert_eq!(p.price("tts-1").unwrap().per_1k_characters, 15_000);
    assert_eq!(p.price("fal-ai/kling-video/v2.5-turbo/pro/text-to-video").unwrap().per_second, 50_000);
}

#[test]
fn bad_provider_settings_are_reported_with_their_field() {
    let error = Config::from_toml_str("[providers]\nvoice = [\"espeak\"]\n").unwrap_err();
    assert!(error.field("providers.voice").is_some() || error.to_string().contains("espeak"), "{error}");

    let error = Config::from_toml_str(
        r#"
        [providers]
        voice = ["openai", "openai"]
        clips = ["fal_kling"]
        [providers.openai]
        base_url = "ftp://nope"
        timeout_ms = 0
        [providers.http]
        backoff_initial_ms = 10
        backoff_max_ms = 5
        "#,
    )
    .unwrap_err();
    let text = error.to_string();
    for field in
        ["providers.voice", "providers.openai.base_url", "providers.openai.timeout_ms", "providers.http.backoff_max_ms"]
    {
        assert!(error.field(field).is_some(), "no error for {field} in:\n{text}");
    }
    // The catalogue prices the default models: no price error for them.
    assert!(error.field("providers.prices").is_none(), "{text}");

    let error = Config::from_toml_str("[providers.prices.x]\nper_token = 3\n").unwrap_err();
    assert!(error.to_string().contains("per_token"), "{error}");

    // Pexels is free: it needs no price.
    Config::from_toml_str("[providers]\nclips = [\"pexels\"]\n").unwrap();
}

#[test]
fn a_listed_provider_without_a_key_fails_setup_naming_where_keys_come_from() {
    let mut config = Config::default();
    config.providers.voice = vec![VoiceProviderName::FishAudio];
    let error = MediaProviders::from_config(&config.providers, &config.media).err().unwrap();
    let text = error.to_string();
    assert!(text.contains("fish_audio"), "{text}");
    assert!(text.contains("SHORTLINE_FISH_AUDIO_API_KEY") && text.contains("FISH_API_KEY"), "{text}");

    // A key file that is configured but unreadable is an error, not a silent fall-through.
    config.providers.fish_audio.api_key_file = Some("/definitely/not/here".into());
    let error = MediaProviders::from_config(&config.providers, &config.media).err().unwrap();
    assert!(error.to_string().contains("secret file /definitely/not/here"), "{error}");

    // With a key file it sets up, and nothing about it prints the key.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fish.key");
    std::fs::write(&file, KEY).unwrap();
    config.providers.fish_audio.api_key_file = Some(file);
    let providers = MediaProviders::from_config(&config.providers, &config.media).unwrap();
    assert_eq!(providers.voice.name(), "fish_audio");
    assert_no_key("the config", &format!("{config:?} {}", serde_json::to_string(&config).unwrap()));
}

#[test]
fn the_planner_avatar_and_budget_settings_are_checked() {
    let error = Config::from_toml_str(
        "[providers]\nplanner = \"anthropic\"\navatar = \"heygen\"\n[pipeline]\njob_budget_usd = -1.0\n",
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(error.field("providers.prices").is_none(), "the catalogue prices the defaults: {text}");
    assert!(error.field("pipeline.job_budget_usd").unwrap().reason.contains("0 or more"), "{text}");

    // Without a key, the LLM planner (and the avatar provider) cannot be set up.
    let config = Config::from_toml_str(
        "[providers]\nplanner = \"anthropic\"\navatar = \"heygen\"\n[providers.prices.claude-sonnet-4-5]\n\
         per_1k_input_tokens = 3000\n[providers.prices.heygen-avatar]\nper_second = 100000\n",
    )
    .unwrap();
    let planner = ScriptPlanner::from_config(&config.providers).err().unwrap().to_string();
    assert!(planner.contains("anthropic") && planner.contains("SHORTLINE_ANTHROPIC_API_KEY"), "{planner}");
    let avatar = MediaProviders::from_config(&config.providers, &config.media).err().unwrap().to_string();
    assert!(avatar.contains("heygen") && avatar.contains("SHORTLINE_HEYGEN_API_KEY"), "{avatar}");
    // The template planner needs nothing.
    assert!(matches!(ScriptPlanner::from_config(&Config::default().providers), Ok(ScriptPlanner::Template)));
}

/// Point 9 and the catalogue: the default analyst model has a default price, so turning the
/// analyst on needs no price typed in; a `providers.prices` entry overrides it.
#[test]
fn the_default_analyst_model_is_priced_by_the_catalogue() {
    let config = Config::from_toml_str("[providers]\nanalyst = \"anthropic\"\n").unwrap();
    let price = config.providers.price("claude-sonnet-4-5").unwrap();
    assert_eq!((price.per_1k_input_tokens, price.per_1k_output_tokens), (3_000, 15_000));
    let config = Config::from_toml_str(
        "[providers]\nanalyst = \"anthropic\"\n[providers.prices.claude-sonnet-4-5]\nper_1k_input_tokens = 1\n",
    )
    .unwrap();
    assert_eq!(config.providers.price("claude-sonnet-4-5").unwrap().per_1k_input_tokens, 1);
}

/// The catalogue: a model id it does not know is refused unless its price is given; a frame
/// larger than any HeyGen plan renders is refused.
#[test]
fn unknown_models_without_a_price_and_sizes_above_the_limits_are_refused() {
    let error = Config::from_toml_str(
        "[providers]\nclips = [\"fal_kling\"]\n[providers.fal]\nkling_model = \"fal-ai/kling-video/v2.1/standard/text-to-video\"\n",
    )
    .unwrap_err();
    let reason = &error.field("providers.prices").unwrap().reason;
    assert!(
        reason.contains("`fal-ai/kling-video/v2.1/standard/text-to-video` (clip provider fal_kling) is not in the provider catalogue"),
        "{reason}"
    );
    Config::from_toml_str(
        "[providers]\nclips = [\"fal_kling\"]\n[providers.fal]\nkling_model = \"my-own/model\"\n\
         [providers.prices.\"my-own/model\"]\nper_second = 1000\n",
    )
    .unwrap();

    let error = Config::from_toml_str("[providers.heygen]\nmax_short_side = 4320\n").unwrap_err();
    assert!(error.field("providers.heygen.max_short_side").unwrap().reason.contains("2160"), "{error}");
    Config::from_toml_str("[providers.heygen]\nmax_short_side = 1080\n").unwrap();
}

/// Point 4: the prices README's example gives are the catalogue's (ElevenLabs at its API rate,
/// $0.10 per 1k characters, not $0.30).
#[test]
fn the_readme_example_prices_are_the_catalogues() {
    let readme = include_str!("../../../README.md");
    let start = readme.find("voice = [\"openai\", \"elevenlabs\"]").expect("the example");
    let block = &readme[readme[..start].rfind("```toml").unwrap() + 7..];
    let block = &block[..block.find("```").unwrap()];
    let config = Config::from_toml_str(block).unwrap();
    assert!(!config.providers.prices.is_empty());
    for (model, price) in &config.providers.prices {
        let listed = shortline_config::catalogue::default_price(model);
        assert_eq!(listed, Some(price), "README's price of {model}");
    }
}
