//! Themes bundled with shortline, startable by name (`StartJob{theme_name}`, `shortline run`).

use shortline_domain::{Theme, ThemeError};

/// The theme `shortline run` uses when none is given.
pub const DEFAULT_THEME: &str = "product-demo";

const BUNDLED: [(&str, &str, &str); 3] = [
    ("product-demo", "yaml", include_str!("../../../themes/product-demo.yaml")),
    ("cooking-niche", "toml", include_str!("../../../themes/cooking-niche.toml")),
    ("fitness-auto", "toml", include_str!("../../../themes/fitness-auto.toml")),
];

pub fn names() -> impl Iterator<Item = &'static str> {
    BUNDLED.iter().map(|(name, _, _)| *name)
}

/// The bundled theme called `name`, if there is one.
pub fn bundled(name: &str) -> Option<Result<Theme, ThemeError>> {
    BUNDLED.iter().find(|(n, _, _)| *n == name).map(|(_, format, text)| parse(text, format))
}

/// A theme file's text in the given format ("yaml" or "toml"; empty means yaml).
pub fn parse(text: &str, format: &str) -> Result<Theme, ThemeError> {
    match format {
        "toml" => Theme::from_toml(text),
        _ => Theme::from_yaml(text),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_bundled_theme_is_valid() {
        for name in super::names() {
            super::bundled(name).expect("exists").expect("valid");
        }
    }
}
