//! The TOML configuration: schema, loading and validation.
//!
//! Strict: an unknown key is an error naming the key and its line, so a typo never
//! silently leaves a default in force. Relative paths are relative to the config
//! file's folder, so the daemon behaves the same whatever its working directory.
//! A reload is parsed and validated whole, then applied atomically, or rejected whole
//! with the running configuration kept.

pub mod alerting;
mod handle;
mod load;
mod sandbox;
mod schema;
/// Secrets (webhook tokens, passwords) named by environment variable or file, never inline.
pub mod secret;
pub mod validators;
pub mod web;

pub use alerting::{AlertingConfig, ForSpec, InhibitConfig, ReceiverConfig, RouteConfig};
pub use handle::ConfigHandle;
pub use load::{ConfigError, LoadedConfig, line_of, line_of_array, load, load_str, parse_duration};
pub use sandbox::Limits;
pub use schema::*;
pub use validators::WatchedValidators;
