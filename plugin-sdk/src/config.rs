//! Typed plugin configuration.
//!
//! The operator writes `[plugin.<name>]` in `vigil.toml`; the host hands it to the plugin
//! as JSON. [`parse_config`] deserializes it into your `Config` type and turns serde's
//! error into a [`ConfigError`] naming the key, so the host can point at the TOML line.
//! Declare your config with `#[serde(deny_unknown_fields, default)]`: a typo such as
//! `min_peer = 3` is then refused as "unknown key `min_peer`" instead of being ignored.

use crate::ConfigError;
use serde::de::DeserializeOwned;

/// Parse a plugin's JSON configuration. An empty string means "no table": defaults.
pub fn parse_config<T: DeserializeOwned>(json: &str) -> Result<T, ConfigError> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde_json appends " at line L column C" of the JSON, which the operator never
        // wrote: drop it.
        let message = match inner.rfind(" at line ") {
            Some(cut) => inner[..cut].to_string(),
            None => inner,
        };
        // The path already ends at the offending key, unknown ones included; at the
        // root, serde's message names it.
        // serde names list items `rules[0].value`; the contract dots them: `rules.0.value`.
        let path = path.replace('[', ".").replace(']', "");
        let key = if path != "." {
            Some(path)
        } else {
            unknown_field(&message).map(str::to_string)
        };
        ConfigError { key, message }
    })
}

/// serde's "unknown field `x`, expected ..." names the key before the path reaches it.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

impl ConfigError {
    /// An error about one key.
    pub fn key(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// Check that `value` of `key` lies within `min..=max`.
    pub fn check_range<T: PartialOrd + std::fmt::Display>(
        key: &str,
        value: T,
        min: T,
        max: T,
    ) -> Result<(), ConfigError> {
        if value < min || value > max {
            return Err(ConfigError::key(
                key,
                format!("{key} = {value} is out of range: use {min} to {max}"),
            ));
        }
        Ok(())
    }
}

/// A one-line rendering for messages: "key `k`: message". (The generated `Display`
/// prints the record's fields.)
pub fn describe(e: &ConfigError) -> String {
    match &e.key {
        Some(k) => format!("key `{k}`: {}", e.message),
        None => e.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Default, Debug)]
    #[serde(deny_unknown_fields, default)]
    struct Cfg {
        min_peers: u64,
        nested: Nested,
    }
    #[derive(Deserialize, Default, Debug)]
    #[serde(deny_unknown_fields, default)]
    struct Nested {
        limit: f64,
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse_config::<Cfg>(r#"{"min_peer": 3}"#).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("min_peer"));
        assert!(
            e.message.contains("unknown field `min_peer`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn nested_unknown_and_wrong_type_are_named_by_path() {
        let e = parse_config::<Cfg>(r#"{"nested": {"limt": 1}}"#).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("nested.limt"));
        let e = parse_config::<Cfg>(r#"{"min_peers": "many"}"#).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("min_peers"));
        assert!(e.message.contains("invalid type"), "{}", e.message);
        assert!(!e.message.contains("at line"), "{}", e.message);
    }

    #[test]
    fn empty_means_defaults() {
        let c = parse_config::<Cfg>("").unwrap();
        assert_eq!(c.min_peers, 0);
    }

    #[test]
    fn range_check_names_key_and_bounds() {
        let e = ConfigError::check_range("ratio", 1.5, 0.0, 1.0).unwrap_err();
        assert_eq!(
            describe(&e),
            "key `ratio`: ratio = 1.5 is out of range: use 0 to 1"
        );
    }
}
