//! Building a [`Manifest`].

use crate::{ConfigKey, InputKind, Manifest};
use serde::Serialize;

impl Manifest {
    /// A manifest with a name (kebab-case, unique among loaded plugins) and a version.
    /// Use `env!("CARGO_PKG_VERSION")` for the version.
    pub fn new(name: &str, version: &str) -> Manifest {
        Manifest {
            name: name.to_string(),
            version: version.to_string(),
            description: String::new(),
            subscribes: Vec::new(),
            config_keys: Vec::new(),
        }
    }

    /// One line saying what the plugin judges.
    pub fn description(mut self, text: &str) -> Manifest {
        self.description = text.to_string();
        self
    }

    /// Receive inputs of this kind.
    pub fn subscribe(mut self, kind: InputKind) -> Manifest {
        if !self.subscribes.contains(&kind) {
            self.subscribes.push(kind);
        }
        self
    }

    /// List the keys of `C` with their defaults (from `C::default()`), so that
    /// `vigil plugins list` and the docs show them. Describe them with [`Manifest::key_doc`].
    pub fn config<C: Serialize + Default>(mut self) -> Manifest {
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(C::default()) {
            for (name, value) in map {
                let default_value = Some(json_to_toml_text(&value));
                match self.config_keys.iter_mut().find(|k| k.name == name) {
                    Some(k) => k.default_value = default_value,
                    None => self.config_keys.push(ConfigKey {
                        name,
                        description: String::new(),
                        default_value,
                    }),
                }
            }
        }
        self
    }

    /// Describe a configuration key (what it means, its unit).
    pub fn key_doc(mut self, name: &str, description: &str) -> Manifest {
        match self.config_keys.iter_mut().find(|k| k.name == name) {
            Some(k) => k.description = description.to_string(),
            None => self.config_keys.push(ConfigKey {
                name: name.to_string(),
                description: description.to_string(),
                default_value: None,
            }),
        }
        self
    }
}

/// Render a JSON default the way an operator would write it in TOML.
fn json_to_toml_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "(none)".to_string(),
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Cfg {
        min_peers: u64,
        window: String,
    }
    impl Default for Cfg {
        fn default() -> Self {
            Cfg {
                min_peers: 5,
                window: "1h".into(),
            }
        }
    }

    #[test]
    fn config_keys_come_from_defaults() {
        let m = Manifest::new("x", "1.0.0")
            .key_doc("min_peers", "fewest peers before raising")
            .config::<Cfg>()
            .subscribe(InputKind::Node)
            .subscribe(InputKind::Node);
        assert_eq!(m.subscribes.len(), 1);
        let k = m
            .config_keys
            .iter()
            .find(|k| k.name == "min_peers")
            .unwrap();
        assert_eq!(k.default_value.as_deref(), Some("5"));
        assert_eq!(k.description, "fewest peers before raising");
        let w = m.config_keys.iter().find(|k| k.name == "window").unwrap();
        assert_eq!(w.default_value.as_deref(), Some("\"1h\""));
    }
}
