//! The TOML configuration: schema, loading and validation.
//!
//! Strict: an unknown key is an error naming the key and its line, so a typo never
//! silently leaves a default in force. Relative paths are relative to the config
//! file's folder, so the daemon behaves the same whatever its working directory.
//! A reload is parsed and validated whole, then applied atomically, or rejected whole
//! with the running configuration kept.

pub mod alerting;
mod load;
mod schema;
pub mod web;

pub use alerting::{AlertingConfig, ForSpec, InhibitConfig, ReceiverConfig, RouteConfig};
pub use load::{ConfigError, LoadedConfig, line_of, line_of_array, load, load_str, parse_duration};
pub use schema::*;
